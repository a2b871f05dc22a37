#!/usr/bin/env bash
# decode_bench.sh — decoding throughput of the mmr output plugin against
# PostgreSQL's pgoutput, on the same WAL.
#
# What it measures: how many changed rows per second a walsender turns into a
# replication stream.  For each workload it
#   1. creates, BEFORE the load, BENCH_RUNS logical slots for each variant
#        mmr      -o proto_version=1 -o binary=on
#        mmr      -o proto_version=1 -o binary=off
#        pgoutput -o proto_version=1 -o publication_names=bench_pub
#                 (publication FOR ALL TABLES)
#      so that every slot starts at the same point and sees the same WAL;
#   2. runs the load and records the end LSN (pg_current_wal_insert_lsn());
#   3. decodes every slot up to that LSN through the walsender, i.e.
#        pg_recvlogical --start --endpos=<lsn> --no-loop -f /dev/null
#      timed with wall-clock (date +%s.%N) — connection, decoding, reorder
#      buffer, output plugin and network included; runs go round-robin over
#      the variants so drift hits all of them alike;
#   4. prints, per variant, the median time and rows/s (rows changed by the
#      workload / median seconds), then "ratio mmr/pgoutput = X.XX" (rows/s of
#      mmr binary=on over pgoutput; above 1 means mmr is faster).
# When perf can count task-clock, the walsender's CPU time of each run is
# measured too (perf stat -p <walsender pid>): rows per walsender CPU-second
# is steadier than wall clock on a busy machine.
# Each run is checked: pg_recvlogical must succeed and the slot's
# pg_stat_replication_slots.total_txns must cover every transaction of the
# load.  The ratio is reported, never asserted.
#
# Workloads (BENCH_WORKLOADS, default "inserts tpcb"):
#   inserts  BENCH_ROWS (1000000) single-row INSERT transactions into
#            bench_rows (int PK, text, numeric, timestamptz), by pgbench with
#            insert_row.sql, BENCH_CLIENTS (2) clients;
#   tpcb     pgbench -i -s BENCH_SCALE (10) before the slots, then the built-in
#            TPC-B-like script for BENCH_TPCB_SECS (45) seconds (or exactly
#            BENCH_TPCB_TXNS transactions if set); 4 rows per transaction
#            (3 UPDATEs, 1 INSERT).
# BENCH_RUNS (3): decodes per variant; the median is reported.
# BENCH_PERF=1: also decode one extra slot per variant under
#   `perf record -g -p <walsender>` and print the top functions; the perf data
#   stay in BENCH_PERF_DIR (default a new /tmp/mmr-bench-perf.* directory).
#
# The server is a throw-away one: initdb in a new /tmp directory, 127.0.0.1
# on a free port, tuned for the load (shared_buffers 1GB, large max_wal_size,
# synchronous_commit off, fsync off, no autovacuum); it is stopped and its
# directory removed at exit.  As root, the server and clients run as postgres.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

rows=${BENCH_ROWS:-1000000}
runs=${BENCH_RUNS:-3}
clients=${BENCH_CLIENTS:-2}
scale=${BENCH_SCALE:-10}
tpcb_secs=${BENCH_TPCB_SECS:-45}
tpcb_txns=${BENCH_TPCB_TXNS:-}
workloads=${BENCH_WORKLOADS:-inserts tpcb}
do_perf=${BENCH_PERF:-0}

die() { echo "decode_bench: $*" >&2; exit 1; }
is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
is_count "$rows" || die "BENCH_ROWS must be a positive integer"
is_count "$runs" || die "BENCH_RUNS must be a positive integer"
is_count "$clients" || die "BENCH_CLIENTS must be a positive integer"
is_count "$scale" || die "BENCH_SCALE must be a positive integer"
is_count "$tpcb_secs" || die "BENCH_TPCB_SECS must be a positive integer"
[ -z "$tpcb_txns" ] || is_count "$tpcb_txns" || die "BENCH_TPCB_TXNS must be a positive integer"
[ "$rows" -ge "$clients" ] || die "BENCH_ROWS must be at least BENCH_CLIENTS"
for w in $workloads; do
  case "$w" in inserts|tpcb) ;; *) die "unknown workload '$w' (inserts, tpcb)";; esac
done

bindir=$(pg_config --bindir)
pkglibdir=$(pg_config --pkglibdir)
[ -f "$pkglibdir/mmr.so" ] || die "mmr is not installed in $pkglibdir (run make install)"
if [ "$do_perf" = 1 ]; then
  command -v perf >/dev/null || die "BENCH_PERF=1 needs perf (apt-get install linux-perf)"
fi
# The walsender's CPU time is measured too when perf can count task-clock.
cpu_stat=0
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  cpu_stat=1
fi

work=$(mktemp -d /tmp/mmr-decode-bench.XXXXXX)
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$work"
  run_as=(runuser -u postgres --)
fi
data="$work/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
  local rc=$?
  if [ -f "$data/postmaster.pid" ]; then
    "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ $rc -ne 0 ] && [ -f "$work/server.log" ]; then
    echo "decode_bench: failed; last lines of the server log:" >&2
    tail -n 20 "$work/server.log" >&2 || true
  fi
  rm -rf "$work"
  exit $rc
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "== mmr decode benchmark: mmr vs pgoutput, same WAL, through the walsender"
echo "PostgreSQL: $("$bindir/postgres" --version)"
echo "machine:    $(uname -m), nproc=$(nproc), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
echo "settings:   BENCH_WORKLOADS='$workloads' BENCH_ROWS=$rows BENCH_RUNS=$runs BENCH_CLIENTS=$clients BENCH_SCALE=$scale $( [ -n "$tpcb_txns" ] && echo "BENCH_TPCB_TXNS=$tpcb_txns" || echo "BENCH_TPCB_SECS=$tpcb_secs")"

"${run_as[@]}" "$bindir/initdb" -D "$data" -A trust -U postgres >/dev/null
{
  "$here/../../scripts/server_conf.sh"
  cat <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
max_replication_slots = 64
max_wal_senders = 16
shared_buffers = 1GB
max_wal_size = 32GB
min_wal_size = 1GB
checkpoint_timeout = 1h
synchronous_commit = off
fsync = off
autovacuum = off
logging_collector = off
CONF
} | "${run_as[@]}" tee -a "$data/postgresql.conf" >/dev/null
"${run_as[@]}" "$bindir/pg_ctl" -D "$data" -l "$work/server.log" -w start >/dev/null

conn=(-h 127.0.0.1 -p "$port" -U postgres -d postgres)
sql() {
  "${run_as[@]}" "$bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 "${conn[@]}" "$@"
}

sql <<'SQL'
CREATE EXTENSION mmr;
CREATE TABLE bench_rows (
  id      integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name    text NOT NULL,
  amount  numeric NOT NULL,
  created timestamptz NOT NULL
);
CREATE PUBLICATION bench_pub FOR ALL TABLES;
SQL

variants=(mmr_bin mmr_txt pgoutput)
declare -A label=(
  [mmr_bin]="mmr binary=on"
  [mmr_txt]="mmr binary=off"
  [pgoutput]="pgoutput"
)
declare -A plugin=([mmr_bin]=mmr [mmr_txt]=mmr [pgoutput]=pgoutput)
declare -A opts=(
  [mmr_bin]="-o proto_version=1 -o binary=on"
  [mmr_txt]="-o proto_version=1 -o binary=off"
  [pgoutput]="-o proto_version=1 -o publication_names=bench_pub"
)

# create_slots WORKLOAD: BENCH_RUNS slots per variant (plus one for perf).
create_slots() {
  local w=$1 v i last=$runs
  [ "$do_perf" = 1 ] && last=$((runs + 1))
  for v in "${variants[@]}"; do
    for ((i = 1; i <= last; i++)); do
      echo "SELECT 1 FROM pg_create_logical_replication_slot('${w}_${v}_$i', '${plugin[$v]}');"
    done
  done | sql >/dev/null
}

drop_slots() {
  sql -c "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name LIKE '$1\\_%'" >/dev/null
}

# walsender_pid SLOT CLIENT: the pid of the walsender streaming SLOT to the
# client process CLIENT; empty when CLIENT ended first.
walsender_pid() {
  local pid="" i
  for ((i = 0; i < 500; i++)); do
    kill -0 "$2" 2>/dev/null || break
    pid=$(sql -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$1' AND active")
    [ -n "$pid" ] && break
    sleep 0.01
  done
  echo "$pid"
}

# decode SLOT VARIANT ENDPOS: decodes the slot up to ENDPOS; prints the
# wall-clock seconds and the walsender's CPU seconds ("-" without perf).
decode() {
  local slot=$1 v=$2 endpos=$3 t0 t1 o recv pid statpid="" cpu="-" i
  read -ra o <<<"${opts[$v]}"
  t0=$(date +%s.%N)
  "${run_as[@]}" "$bindir/pg_recvlogical" "${conn[@]}" --slot="$slot" --start \
    --endpos="$endpos" --no-loop -f /dev/null "${o[@]}" &
  recv=$!
  if [ "$cpu_stat" = 1 ]; then
    pid=$(walsender_pid "$slot" "$recv")
    if [ -n "$pid" ]; then
      perf stat -x, -e task-clock -o "$work/stat.$slot" -p "$pid" >/dev/null 2>&1 &
      statpid=$!
    fi
  fi
  wait "$recv" || die "pg_recvlogical failed on slot $slot"
  t1=$(date +%s.%N)
  if [ -n "$statpid" ]; then
    # perf stat ends by itself when the walsender exits.
    for ((i = 0; i < 100; i++)); do
      kill -0 "$statpid" 2>/dev/null || break
      sleep 0.05
    done
    kill -INT "$statpid" 2>/dev/null || true
    wait "$statpid" || true
    cpu=$(awk -F, '$3 == "task-clock" { printf "%.3f", $1 / 1000 }' "$work/stat.$slot")
    [ -n "$cpu" ] || cpu="-"
  fi
  awk -v a="$t0" -v b="$t1" -v c="$cpu" 'BEGIN { printf "%.3f %s\n", b - a, c }'
}

# slot_txns SLOT: transactions the slot decoded (pg_stat_replication_slots).
slot_txns() {
  sql -c "SELECT coalesce((SELECT total_txns FROM pg_stat_replication_slots WHERE slot_name = '$1'), 0)"
}

median() {
  tr ' ' '\n' <<<"$*" | sort -g | awk '{ a[NR] = $1 } END {
    if (NR % 2) printf "%.3f\n", a[(NR + 1) / 2];
    else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# profile SLOT VARIANT ENDPOS: one decode under perf record of the walsender.
perf_dir=""
profile() {
  local slot=$1 v=$2 endpos=$3 pid recv perfpid out o
  out="$perf_dir/${slot}.data"
  read -ra o <<<"${opts[$v]}"
  "${run_as[@]}" "$bindir/pg_recvlogical" "${conn[@]}" --slot="$slot" --start \
    --endpos="$endpos" --no-loop -f /dev/null "${o[@]}" &
  recv=$!
  pid=$(walsender_pid "$slot" "$recv")
  if [ -z "$pid" ]; then
    wait "$recv" || die "pg_recvlogical failed on slot $slot (profiled run)"
    echo "-- ${label[$v]}: decoding ended before perf could attach; nothing to profile"
    return
  fi
  perf record -q -g -o "$out" -p "$pid" >/dev/null 2>&1 &
  perfpid=$!
  wait "$recv" || die "pg_recvlogical failed on slot $slot (profiled run)"
  kill -INT "$perfpid" 2>/dev/null || true
  wait "$perfpid" || true
  echo "-- perf profile of the walsender, ${label[$v]} ($out)"
  echo "   by object:"
  perf_top "$out" 6 --sort dso
  echo "   hottest functions:"
  perf_top "$out" 15 --sort symbol,dso
  echo "   hottest functions in ${plugin[$v]}.so:"
  perf_top "$out" 12 --sort symbol --dsos "${plugin[$v]}.so"
}

# perf_top FILE N REPORT-OPTIONS...: the first N lines of a perf report.
perf_top() {
  local f=$1 n=$2
  shift 2
  perf report -i "$f" --no-children --stdio -g none "$@" 2>/dev/null \
    | awk -v n="$n" '!/^#/ && !/^$/ && ++k <= n { print "   " $0 }'
}

results=()

for w in $workloads; do
  echo
  echo "== workload $w"
  if [ "$w" = tpcb ]; then
    echo "-- pgbench -i -s $scale"
    "${run_as[@]}" "$bindir/pgbench" -i -q -s "$scale" "${conn[@]}" >/dev/null 2>&1 \
      || die "pgbench -i failed"
    sql -c "VACUUM ANALYZE" -c "CHECKPOINT"
  else
    sql -c "CHECKPOINT"
  fi

  create_slots "$w"
  startpos=$(sql -c "SELECT min(confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name LIKE '$w\\_%'")

  t0=$(date +%s.%N)
  case "$w" in
    inserts)
      per_client=$((rows / clients))
      extra=$((rows - per_client * clients))
      echo "-- load: $rows single-row INSERT transactions, $clients clients"
      "${run_as[@]}" "$bindir/pgbench" -n -M prepared -c "$clients" -j "$clients" \
        -t "$per_client" -f "$here/insert_row.sql" "${conn[@]}" >"$work/pgbench.out" 2>&1 \
        || { cat "$work/pgbench.out" >&2; die "pgbench load failed"; }
      if [ "$extra" -gt 0 ]; then
        "${run_as[@]}" "$bindir/pgbench" -n -M prepared -c 1 -t "$extra" \
          -f "$here/insert_row.sql" "${conn[@]}" >>"$work/pgbench.out" 2>&1 \
          || { cat "$work/pgbench.out" >&2; die "pgbench load failed"; }
      fi
      txns=$(sql -c "SELECT count(*) FROM bench_rows")
      changed=$txns
      ;;
    tpcb)
      if [ -n "$tpcb_txns" ]; then
        dur=(-t "$(( (tpcb_txns + clients - 1) / clients ))")
        echo "-- load: pgbench TPC-B-like, ${dur[1]} transactions per client, $clients clients"
      else
        dur=(-T "$tpcb_secs")
        echo "-- load: pgbench TPC-B-like, $tpcb_secs s, $clients clients"
      fi
      "${run_as[@]}" "$bindir/pgbench" -n -M prepared -c "$clients" -j "$clients" \
        "${dur[@]}" "${conn[@]}" >"$work/pgbench.out" 2>&1 \
        || { cat "$work/pgbench.out" >&2; die "pgbench load failed"; }
      txns=$(sql -c "SELECT count(*) FROM pgbench_history")
      changed=$((txns * 4))
      ;;
  esac
  t1=$(date +%s.%N)
  endpos=$(sql -c "SELECT pg_current_wal_insert_lsn()")
  walbytes=$(sql -c "SELECT pg_wal_lsn_diff('$endpos', '$startpos')::bigint")
  awk -v t="$txns" -v r="$changed" -v a="$t0" -v b="$t1" -v wb="$walbytes" \
    -v s="$startpos" -v e="$endpos" 'BEGIN {
      printf "-- loaded %d transactions, %d rows changed in %.1f s; WAL %s..%s = %.1f MiB\n",
             t, r, b - a, s, e, wb / 1048576 }'
  [ "$txns" -gt 0 ] || die "the load wrote nothing"

  declare -A times=() cpus=()
  for v in "${variants[@]}"; do times[$v]=""; cpus[$v]=""; done
  for ((i = 1; i <= runs; i++)); do
    for v in "${variants[@]}"; do
      slot="${w}_${v}_$i"
      read -r s c < <(decode "$slot" "$v" "$endpos")
      [ -n "${s:-}" ] || die "decoding slot $slot failed"
      n=$(slot_txns "$slot")
      [ "$n" -ge "$txns" ] || die "slot $slot decoded $n transactions, the load committed $txns"
      printf -- '-- run %d  %-15s %8.3f s wall  %8s s walsender CPU  (%d transactions decoded)\n' \
        "$i" "${label[$v]}" "$s" "$c" "$n"
      times[$v]="${times[$v]} $s"
      cpus[$v]="${cpus[$v]} $c"
    done
  done

  printf '\n%-8s %-15s %9s %9s %9s %9s %12s   %s\n' workload variant rows \
    "wall s" "rows/s" "CPU s" "rows/CPU-s" "runs (wall s)"
  declare -A rate=() cpurate=()
  for v in "${variants[@]}"; do
    # shellcheck disable=SC2086  # one argument per time
    m=$(median ${times[$v]})
    rate[$v]=$(awk -v r="$changed" -v m="$m" 'BEGIN { printf "%.0f", (m > 0 ? r / m : 0) }')
    if [ "$cpu_stat" = 1 ] && ! grep -q -- - <<<"${cpus[$v]}"; then
      # shellcheck disable=SC2086
      mc=$(median ${cpus[$v]})
      cpurate[$v]=$(awk -v r="$changed" -v m="$mc" 'BEGIN { printf "%.0f", (m > 0 ? r / m : 0) }')
    else
      mc="-"
      cpurate[$v]="-"
    fi
    printf '%-8s %-15s %9d %9.3f %9d %9s %12s  %s\n' "$w" "${label[$v]}" "$changed" "$m" \
      "${rate[$v]}" "$mc" "${cpurate[$v]}" "${times[$v]}"
  done
  ratio=$(awk -v a="${rate[mmr_bin]}" -v b="${rate[pgoutput]}" 'BEGIN { printf "%.2f", a / b }')
  ratio_txt=$(awk -v a="${rate[mmr_txt]}" -v b="${rate[pgoutput]}" 'BEGIN { printf "%.2f", a / b }')
  echo "ratio mmr/pgoutput = $ratio   ($w, rows/s by wall clock, mmr binary=on; binary=off: $ratio_txt)"
  cpu_note=""
  if [ "${cpurate[pgoutput]}" != - ] && [ "${cpurate[mmr_bin]}" != - ] && [ "${cpurate[mmr_txt]}" != - ]; then
    cpu_ratio=$(awk -v a="${cpurate[mmr_bin]}" -v b="${cpurate[pgoutput]}" 'BEGIN { printf "%.2f", a / b }')
    cpu_ratio_txt=$(awk -v a="${cpurate[mmr_txt]}" -v b="${cpurate[pgoutput]}" 'BEGIN { printf "%.2f", a / b }')
    echo "walsender CPU: rows per CPU-second mmr/pgoutput = $cpu_ratio (binary=off: $cpu_ratio_txt)"
    cpu_note="; per walsender CPU-second $cpu_ratio (binary=off: $cpu_ratio_txt)"
  fi
  results+=("$w: ratio mmr/pgoutput = $ratio (binary=off: $ratio_txt)$cpu_note; rows/s mmr ${rate[mmr_bin]}, mmr binary=off ${rate[mmr_txt]}, pgoutput ${rate[pgoutput]}")

  if [ "$do_perf" = 1 ]; then
    if [ -z "$perf_dir" ]; then
      perf_dir=${BENCH_PERF_DIR:-$(mktemp -d /tmp/mmr-bench-perf.XXXXXX)}
      mkdir -p "$perf_dir"
    fi
    echo
    for v in "${variants[@]}"; do
      profile "${w}_${v}_$((runs + 1))" "$v" "$endpos"
    done
  fi

  drop_slots "$w"
  unset times cpus rate cpurate
done

echo
echo "== summary"
printf '%s\n' "${results[@]}"
[ -z "$perf_dir" ] || echo "perf data kept in $perf_dir"
