#!/usr/bin/env bash
# join_bench.sh — seconds to join an mmr group with a data copy, against a
# plain "pg_dump | pg_restore" of the same database, on the same machine in
# the same run.
#
# Three throw-away servers with identical settings (scripts/server_conf.sh,
# so mmr is preloaded on all three):
#   a  pgbench -i -s BENCH_SCALE (default 70, about 1 GB) in database bench,
#      CREATE EXTENSION mmr, mmr.group_create;
#   b  empty database bench: mmr.group_join through a, timed from the call
#      until mmr.wait_for_join() returns (copy, slots, catch-up: everything);
#   c  empty database bench: pg_dump -Fc of a piped into pg_restore, timed.
# Runs BENCH_RUNS (default 1) rounds; b and c are emptied between rounds
# (b is parted first).  Prints one line per round and the ratio.
set -euo pipefail

scale=${BENCH_SCALE:-70}
runs=${BENCH_RUNS:-1}
fsync=${BENCH_FSYNC:-off}

die() { echo "join_bench: $*" >&2; exit 1; }
[[ "$scale" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALE must be a positive integer"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"

here=$(cd "$(dirname "$0")" && pwd)
bindir=$(pg_config --bindir)
[ -f "$(pg_config --pkglibdir)/mmr.so" ] || die "mmr is not installed (run make install)"

work=$(mktemp -d /tmp/mmr-join-bench.XXXXXX)
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$work"
  run_as=(runuser -u postgres --)
fi
servers=(a b c)
declare -A port

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  local rc=$? n
  for n in "${servers[@]}"; do
    if [ -f "$work/$n/postmaster.pid" ]; then
      "${run_as[@]}" "$bindir/pg_ctl" -D "$work/$n" -m immediate stop >/dev/null 2>&1 || true
    fi
  done
  if [ $rc -ne 0 ]; then
    for n in "${servers[@]}"; do
      [ -f "$work/$n.log" ] && { echo "join_bench: log of $n:" >&2; tail -n 15 "$work/$n.log" >&2; }
    done
  fi
  rm -rf "$work"
  exit $rc
}
trap stop EXIT
trap 'exit 130' INT TERM

sql() {
  local n=$1
  shift
  "${run_as[@]}" "$bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "${port[$n]}" -U postgres -d bench "$@"
}
dsn_of() { echo "host=127.0.0.1 port=${port[$1]} dbname=bench user=postgres"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

for n in "${servers[@]}"; do
  port[$n]=$(free_port)
  "${run_as[@]}" "$bindir/initdb" -D "$work/$n" -U postgres -A trust >/dev/null
  {
    "$here/../../scripts/server_conf.sh"
    echo "port = ${port[$n]}"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = ''"
    echo "fsync = $fsync"
    echo "shared_buffers = 512MB"
    echo "max_wal_size = 8GB"
  } >> "$work/$n/postgresql.conf"
  "${run_as[@]}" "$bindir/pg_ctl" -D "$work/$n" -l "$work/$n.log" -w start >/dev/null
  "${run_as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "${port[$n]}" -U postgres bench
done

echo "join_bench: loading pgbench scale $scale on a"
"${run_as[@]}" "$bindir/pgbench" -q -i -s "$scale" -h 127.0.0.1 -p "${port[a]}" -U postgres bench >/dev/null 2>&1
sql a -c "ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY"
sql a -c "CREATE EXTENSION mmr"
sql a -c "SELECT mmr.group_create('a', '$(dsn_of a)')"
echo "join_bench: a holds $(sql a -c "SELECT pg_size_pretty(pg_database_size('bench'))")"

total_join=0
total_dump=0
for r in $(seq 1 "$runs"); do
  sql b -c "CREATE EXTENSION IF NOT EXISTS mmr"
  t0=$(now)
  sql b -c "SELECT mmr.group_join('b', '$(dsn_of b)', '$(dsn_of a)')"
  sql b -c "SELECT mmr.wait_for_join()"
  t1=$(now)
  join_s=$(elapsed "$t0" "$t1")

  t0=$(now)
  "${run_as[@]}" bash -c "'$bindir/pg_dump' -Fc -h 127.0.0.1 -p ${port[a]} -U postgres bench \
    | '$bindir/pg_restore' -h 127.0.0.1 -p ${port[c]} -U postgres -d bench"
  t1=$(now)
  dump_s=$(elapsed "$t0" "$t1")
  echo "round $r: join ${join_s} s, pg_dump | pg_restore ${dump_s} s"
  total_join=$(awk -v a="$total_join" -v b="$join_s" 'BEGIN { print a + b }')
  total_dump=$(awk -v a="$total_dump" -v b="$dump_s" 'BEGIN { print a + b }')

  if [ "$r" -lt "$runs" ]; then
    sql b -c "SELECT mmr.part_node('b')" >/dev/null
    for n in b c; do
      sql "$n" -c "DROP TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history"
    done
    sql c -c "DROP EXTENSION IF EXISTS mmr CASCADE"
  fi
done
awk -v j="$total_join" -v d="$total_dump" -v s="$scale" \
  'BEGIN { printf "scale %d: join %.2f s, pg_dump | pg_restore %.2f s, ratio %.2f\n", s, j, d, j / d }'
