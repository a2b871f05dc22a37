#!/usr/bin/env bash
# apply_bench.sh — apply catch-up throughput and lag of mmr against
# PostgreSQL's native logical replication (publication/subscription), on
# the same machine, in the same run, with the same data.
#
# Four throw-away servers, identical settings (scripts/server_conf.sh plus
# the tuning below, so mmr is preloaded on all four):
#   pair M  a, b  mmr group (group_create on a, group_join b without data
#                 copy);
#   pair N  p, s  native: CREATE PUBLICATION pub FOR ALL TABLES on p,
#                 CREATE SUBSCRIPTION sub ... WITH (copy_data = false) on s.
# Every table exists, with the same rows, on all four before the group and
# the subscription are formed.
#
# Workloads (BENCH_WORKLOADS, default "inserts tpcb bigxact conflicts lag"):
#   inserts  apply paused on the receiver (mmr.apply_pause() on b; ALTER
#            SUBSCRIPTION sub DISABLE on s, until its worker is gone), then
#            BENCH_ROWS (200000) single-row INSERT transactions into
#            bench_rows on the origin (a, then p) by pgbench with
#            apply_insert_row.sql, BENCH_CLIENTS (2) clients; then apply
#            resumed (mmr.apply_resume() / ALTER SUBSCRIPTION sub ENABLE) and
#            timed until caught up (see below).
#   tpcb     the same around pgbench's built-in TPC-B-like script: on a
#            BENCH_TPCB_CLIENTS (2) clients for BENCH_TPCB_SECS (30) s, then
#            on p exactly as many transactions (so both receivers get the same
#            amount); the pgbench -i -s BENCH_SCALE (10) data is loaded on all
#            four servers beforehand, and pgbench_history gets a key (hid
#            bigserial PRIMARY KEY) everywhere.  4 row changes per transaction.
#   bigxact  the same around ONE transaction inserting BENCH_BIG_ROWS (500000)
#            rows into bench_rows (INSERT ... SELECT generate_series) on the
#            origin: the big-transaction case.  Also shows the apply worker's
#            minor page faults per applied row and its private memory
#            (RssAnon) at the end of the catch-up: both must stay near native's
#            whatever the size of a transaction.  With BENCH_PAUSE=pause the
#            native worker is started by ENABLE, so its count includes its
#            start-up; BENCH_PAUSE=lock counts both alike.
#   conflicts  mmr only (native logical replication cannot resolve a
#            conflict): apply paused on a AND b; b inserts a tenth of the keys
#            that a's next BENCH_ROWS single-row INSERT transactions will get
#            (so 10 % of a's changes meet an existing row on b: insert_exists);
#            then b's catch-up is timed as for inserts, and compared with the
#            inserts workload's mmr rate of the same invocation (the cost of
#            resolving and logging conflicts); finally a resumes too and both
#            must end identical.
#   lag      steady load, apply running: pgbench -c 1 -T BENCH_LAG_SECS (30)
#            with apply_lag.sql on a AND b at once (each node changes only
#            its own rows: no conflicts), then on p alone (native is
#            one-way); every 0.5 s each server is sampled (see "lag" below);
#            p50/p99 over the samples of all runs.  BENCH_LAG_RATE limits each
#            pgbench to that many transactions/s (default: unthrottled).
#
# Caught up (inserts, tpcb), timed from the resume command:
#   mmr     SELECT mmr.wait_slot_confirm_lsn(NULL, '<end lsn>') returned on a
#           AND b has the origin's row count;
#   native  confirmed_flush_lsn of slot sub on p >= <end lsn> (polled every
#           50 ms, like wait_slot_confirm_lsn) AND s has the origin's row
#           count;
# <end lsn> is the origin's pg_current_wal_insert_lsn() after the load.
# How apply is paused (BENCH_PAUSE):
#   pause  (default) as above: mmr.apply_pause() / ALTER SUBSCRIPTION DISABLE.
#          Not symmetric: the paused mmr worker stays connected and only
#          stops reading, so a's walsender keeps decoding during the load
#          until the TCP buffers are full (shown as "pre-sent": the share of
#          the load's WAL the walsender had sent at the resume); the disabled
#          native worker is gone, and ENABLE starts a worker and a walsender
#          that decode everything during the timed catch-up.
#   lock   symmetric: a session on the receiver holds LOCK TABLE ... IN SHARE
#          MODE on the workload's tables from before the load until the
#          "resume" (its COMMIT); both workers stay connected and block at
#          their first change, both walsenders decode until the buffers are
#          full.  (wal_sender_timeout is 10min on all servers for this.)
# The confirmation waits for the receiver's WAL flush and its next status
# report, so a second time is taken too, "applied": when the receiver's
# replication origin progress (pg_replication_origin_status) passes the
# origin's last commit record of the load (found with pg_walinspect).
# Pollers run one short query per poll in one session: a long-running
# statement (e.g. a DO loop) on the receiver would hold back its xmin
# horizon, stop pruning and slow the apply of updates by an order of
# magnitude.  Rates are transactions (rows) / seconds.
# Runs alternate which system catches up first; the table shows medians
# and the ratio mmr/native of the rates (above 1: mmr is faster).
# The CPU time of the apply worker and of the origin's walsender during the
# catch-up is shown too (/proc/PID/stat): they run at the same time, and one
# near 1 CPU-second per second of catch-up is the bottleneck.
#
# lag (samples every 0.5 s, from 1 s after the load starts):
#   apply delay  now() - origin commit time of the last transaction applied
#                on the receiver: mmr.apply_worker_status()
#                .last_applied_commit_time; native: pg_last_committed_xact()
#                on s (track_commit_timestamp is on and nothing else commits
#                there; apply commits carry the origin's commit time);
#   unconfirmed  on the origin, pg_wal_lsn_diff(pg_current_wal_lsn(),
#                confirmed_flush_lsn) of the receiver's slot, bytes;
#   mmr only     mmr.replication_status.lag (s) and .lag_bytes on the
#                receiver;
#   native only  now() - pg_stat_subscription.latest_end_time on s (time of
#                the last keepalive position the worker took in).
#
# Correctness: after each workload the receiver's tables must equal the
# origin's (counts, sums and an md5 of the ordered rows); any difference
# makes the script exit 1.  Ratios are reported, never asserted.
#
# Settings on all four servers: shared_buffers BENCH_SHARED_BUFFERS (1GB),
# max_wal_size 32GB, checkpoint_timeout 1h, fsync BENCH_FSYNC (off: the
# receivers commit asynchronously anyway and the origin's load is not timed),
# autovacuum off, synchronous_commit left at its default (on) — the apply
# side commits asynchronously in both systems (mmr always; native by the
# subscription's synchronous_commit, default off).  mmr streams binary
# values; the subscription uses binary = BENCH_NATIVE_BINARY (off, the
# default of CREATE SUBSCRIPTION).
#
# BENCH_TABLE_OWNER (unset): a role of that name is created on all four
# servers and made the owner of every benchmark table, so that mmr's apply
# runs as a non-superuser table owner (SPEC 7; the cost of switching user).
# Native apply of PostgreSQL 15 runs as the subscription owner whatever the
# table owner.
#
# BENCH_RUNS (2) runs per workload.  BENCH_TIMEOUT (600) seconds for any
# catch-up.  BENCH_PERF=1: one more catch-up per system for inserts and tpcb
# under `perf record -g -p <apply worker>`, top functions printed, the data
# kept in BENCH_PERF_DIR (default a new /tmp/mmr-apply-perf.* directory).
# As root, the servers and clients run as postgres; every server is stopped
# (by data directory) and removed at exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

rows=${BENCH_ROWS:-200000}
big_rows=${BENCH_BIG_ROWS:-500000}
runs=${BENCH_RUNS:-2}
clients=${BENCH_CLIENTS:-2}
scale=${BENCH_SCALE:-10}
tpcb_secs=${BENCH_TPCB_SECS:-30}
tpcb_clients=${BENCH_TPCB_CLIENTS:-2}
lag_secs=${BENCH_LAG_SECS:-30}
lag_rows=${BENCH_LAG_ROWS:-10000}
lag_rate=${BENCH_LAG_RATE:-}
workloads=${BENCH_WORKLOADS:-inserts tpcb bigxact conflicts lag}
fsync=${BENCH_FSYNC:-off}
shared_buffers=${BENCH_SHARED_BUFFERS:-1GB}
native_binary=${BENCH_NATIVE_BINARY:-off}
timeout=${BENCH_TIMEOUT:-600}
do_perf=${BENCH_PERF:-0}
pause_mode=${BENCH_PAUSE:-pause}
table_owner=${BENCH_TABLE_OWNER:-}

die() { echo "apply_bench: $*" >&2; exit 1; }
is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
is_count "$rows" || die "BENCH_ROWS must be a positive integer"
is_count "$big_rows" || die "BENCH_BIG_ROWS must be a positive integer"
is_count "$runs" || die "BENCH_RUNS must be a positive integer"
is_count "$clients" || die "BENCH_CLIENTS must be a positive integer"
is_count "$scale" || die "BENCH_SCALE must be a positive integer"
is_count "$tpcb_secs" || die "BENCH_TPCB_SECS must be a positive integer"
is_count "$tpcb_clients" || die "BENCH_TPCB_CLIENTS must be a positive integer"
is_count "$lag_secs" || die "BENCH_LAG_SECS must be a positive integer"
is_count "$lag_rows" || die "BENCH_LAG_ROWS must be a positive integer"
[ -z "$lag_rate" ] || is_count "$lag_rate" || die "BENCH_LAG_RATE must be a positive integer"
is_count "$timeout" || die "BENCH_TIMEOUT must be a positive integer"
[ "$lag_secs" -ge 3 ] || die "BENCH_LAG_SECS must be at least 3"
[ "$rows" -ge "$clients" ] || die "BENCH_ROWS must be at least BENCH_CLIENTS"
case "$fsync" in on|off) ;; *) die "BENCH_FSYNC must be on or off";; esac
case "$native_binary" in on|off) ;; *) die "BENCH_NATIVE_BINARY must be on or off";; esac
case "$pause_mode" in pause|lock) ;; *) die "BENCH_PAUSE must be pause or lock";; esac
[ -z "$table_owner" ] || [[ "$table_owner" =~ ^[a-z_][a-z0-9_]*$ ]] ||
  die "BENCH_TABLE_OWNER must be a lower-case SQL identifier"
for w in $workloads; do
  case "$w" in inserts|tpcb|bigxact|conflicts|lag) ;; *) die "unknown workload '$w' (inserts, tpcb, bigxact, conflicts, lag)";; esac
done

bindir=$(pg_config --bindir)
pkglibdir=$(pg_config --pkglibdir)
[ -f "$pkglibdir/mmr.so" ] || die "mmr is not installed in $pkglibdir (run make install)"
[ -f "$pkglibdir/pg_walinspect.so" ] || die "pg_walinspect is not installed in $pkglibdir"
if [ "$do_perf" = 1 ]; then
  command -v perf >/dev/null || die "BENCH_PERF=1 needs perf (apt-get install linux-perf)"
fi

work=$(mktemp -d /tmp/mmr-apply-bench.XXXXXX)
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$work"
  run_as=(runuser -u postgres --)
fi
servers=(a b p s)
declare -A port

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  local rc=$? n pid
  # Our background helpers still running (samplers, pollers, perf).
  for pid in $(jobs -p); do
    kill "$pid" 2>/dev/null || true
  done
  for n in "${servers[@]}"; do
    if [ -f "$work/$n/postmaster.pid" ]; then
      "${run_as[@]}" "$bindir/pg_ctl" -D "$work/$n" -m immediate stop >/dev/null 2>&1 || true
    fi
  done
  if [ $rc -ne 0 ]; then
    for n in "${servers[@]}"; do
      if [ -f "$work/$n.log" ]; then
        echo "apply_bench: failed; last lines of the log of $n:" >&2
        tail -n 15 "$work/$n.log" >&2 || true
      fi
    done
  fi
  rm -rf "$work"
  exit $rc
}
trap stop EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP

# sql NODE [psql args...]: unaligned, tuples only, stops at the first error.
sql() {
  local n=$1
  shift
  "${run_as[@]}" "$bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "${port[$n]}" -U postgres -d bench "$@"
}
dsn_of() { echo "host=127.0.0.1 port=${port[$1]} dbname=bench user=postgres"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# pgb NODE [pgbench args...]
pgb() {
  local n=$1
  shift
  "${run_as[@]}" "$bindir/pgbench" -h 127.0.0.1 -p "${port[$n]}" -U postgres "$@" bench
}

# wait_for NODE QUERY WHAT: polls QUERY (true/false) every 0.1 s.
wait_for() {
  local n=$1 q=$2 what=$3 i
  for ((i = 0; i < timeout * 10; i++)); do
    [ "$(sql "$n" -c "$q")" = t ] && return 0
    sleep 0.1
  done
  die "timed out waiting for $what"
}

echo "== mmr apply benchmark: mmr vs native logical replication, same machine, same data"
echo "PostgreSQL: $("$bindir/postgres" --version)"
echo "machine:    $(uname -m), nproc=$(nproc), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
echo "settings:   BENCH_WORKLOADS='$workloads' BENCH_RUNS=$runs BENCH_ROWS=$rows BENCH_CLIENTS=$clients" \
  "BENCH_SCALE=$scale BENCH_TPCB_SECS=$tpcb_secs BENCH_TPCB_CLIENTS=$tpcb_clients" \
  "BENCH_LAG_SECS=$lag_secs BENCH_LAG_RATE=${lag_rate:-unthrottled} BENCH_PAUSE=$pause_mode BENCH_TABLE_OWNER=${table_owner:-unset}"
echo "servers:    4 (mmr a,b; native p,s), each shared_buffers=$shared_buffers fsync=$fsync autovacuum=off," \
  "synchronous_commit=on (origin); apply commits asynchronously in both;" \
  "mmr binary=on, native binary=$native_binary"

# --- servers -----------------------------------------------------------------
for n in "${servers[@]}"; do
  port[$n]=$(free_port)
  "${run_as[@]}" "$bindir/initdb" -D "$work/$n" -A trust -U postgres >/dev/null
  {
    "$here/../../scripts/server_conf.sh"
    cat <<CONF
listen_addresses = '127.0.0.1'
port = ${port[$n]}
unix_socket_directories = '$work'
cluster_name = 'mmr-apply-bench-$n'
shared_buffers = $shared_buffers
max_wal_size = 32GB
min_wal_size = 1GB
checkpoint_timeout = 1h
fsync = $fsync
autovacuum = off
wal_sender_timeout = 10min
logging_collector = off
CONF
  } | "${run_as[@]}" tee -a "$work/$n/postgresql.conf" >/dev/null
  "${run_as[@]}" "$bindir/pg_ctl" -D "$work/$n" -l "$work/$n.log" -w start >/dev/null
  "${run_as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "${port[$n]}" -U postgres bench
done

# --- identical schema and data on all four ------------------------------------
for n in "${servers[@]}"; do
  sql "$n" <<SQL
CREATE EXTENSION pg_walinspect;
CREATE TABLE bench_rows (
  id      integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name    text NOT NULL,
  amount  numeric NOT NULL,
  created timestamptz NOT NULL
);
CREATE TABLE lag_accounts (
  node    integer NOT NULL,
  id      integer NOT NULL,
  balance bigint NOT NULL,
  mtime   timestamptz,
  PRIMARY KEY (node, id)
);
INSERT INTO lag_accounts SELECT node, id, 0, NULL
  FROM generate_series(1, 3) node, generate_series(1, $lag_rows) id;
CREATE TABLE lag_history (
  node    integer NOT NULL,
  hid     bigserial,
  id      integer NOT NULL,
  delta   integer NOT NULL,
  mtime   timestamptz NOT NULL,
  PRIMARY KEY (node, hid)
);
SQL
done
if [[ " $workloads " == *" tpcb "* ]]; then
  echo "-- pgbench -i -s $scale on all four servers"
  pids=()
  for n in "${servers[@]}"; do
    pgb "$n" -i -q -s "$scale" >"$work/init.$n.out" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || { cat "$work"/init.*.out >&2; die "pgbench -i failed"; }
  done
  for n in "${servers[@]}"; do
    sql "$n" -c "ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY"
  done
fi
if [ -n "$table_owner" ]; then
  echo "-- every table owned by $table_owner on all four servers"
  for n in "${servers[@]}"; do
    sql "$n" -c "CREATE ROLE $table_owner" -c "DO \$\$
      DECLARE t text;
      BEGIN
        FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
          EXECUTE format('ALTER TABLE %I OWNER TO $table_owner', t);
        END LOOP;
      END \$\$" >/dev/null
  done
fi
for n in "${servers[@]}"; do
  sql "$n" -c "VACUUM ANALYZE" -c "CHECKPOINT"
done

# --- pair M: mmr group a, b -----------------------------------------------------
sql a -c "CREATE EXTENSION mmr"
sql b -c "CREATE EXTENSION mmr"
sql a -c "SELECT mmr.group_create('a', '$(dsn_of a)')" >/dev/null
sql b -c "SELECT mmr.group_join('b', '$(dsn_of b)', '$(dsn_of a)', synchronize_data => false)" \
  -c "SELECT mmr.wait_for_join('60 s')" >/dev/null
for n in a b; do
  wait_for "$n" "SELECT count(*) = 1 FROM mmr.replication_status WHERE state = 'streaming'" \
    "mmr node $n to stream from its peer"
done

# --- pair N: publication on p, subscription on s -------------------------------
sql p -c "CREATE PUBLICATION pub FOR ALL TABLES"
sql s -c "CREATE SUBSCRIPTION sub CONNECTION '$(dsn_of p)' PUBLICATION pub
          WITH (copy_data = false, binary = $native_binary)" 2>/dev/null
wait_for p "SELECT count(*) = 1 FROM pg_stat_replication WHERE application_name = 'sub' AND state = 'streaming'" \
  "the subscription to stream"
echo "-- mmr group a+b and subscription p->s streaming"

# --- helpers ------------------------------------------------------------------
median() {
  tr ' ' '\n' <<<"$*" | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) print "-";
    else if (NR % 2) printf "%.3f\n", a[(NR + 1) / 2];
    else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# lock_tables WORKLOAD: the tables the workload's transactions write.
lock_tables() {
  if [ "$1" != tpcb ]; then echo bench_rows
  else echo pgbench_accounts, pgbench_tellers, pgbench_branches, pgbench_history; fi
}

# pause SYSTEM WORKLOAD: stops applying on the receiver and waits until it
# stopped.  BENCH_PAUSE=pause: mmr.apply_pause() on b / ALTER SUBSCRIPTION
# sub DISABLE on s; BENCH_PAUSE=lock: a session on the receiver holds a
# SHARE lock on the workload's tables (both apply workers then block at
# their first change, connected, their walsenders still sending).
declare -A lock_fd=() lock_holder=()
pause() {
  local sys=$1 w=$2 r fd
  r=$(receiver_of "$sys")
  if [ "$pause_mode" = lock ]; then
    rm -f "$work/lock.$sys"
    mkfifo "$work/lock.$sys"
    [ -z "${run_as[*]}" ] || chown postgres: "$work/lock.$sys"
    sql "$r" <"$work/lock.$sys" >/dev/null &
    lock_holder[$sys]=$!
    exec {fd}>"$work/lock.$sys"
    lock_fd[$sys]=$fd
    echo "BEGIN; LOCK TABLE $(lock_tables "$w") IN SHARE MODE;" >&"$fd"
    wait_for "$r" "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'relation' AND mode = 'ShareLock'
                     AND granted AND relation = '$(lock_tables "$w" | cut -d, -f1)'::regclass" \
      "the lock on $r"
  elif [ "$sys" = mmr ]; then
    sql b -c "SELECT mmr.apply_pause()" >/dev/null
    wait_for b "SELECT state = 'paused' FROM mmr.replication_status WHERE peer_name = 'a'" \
      "the apply worker on b to pause"
  else
    sql s -c "ALTER SUBSCRIPTION sub DISABLE"
    wait_for s "SELECT pid IS NULL FROM pg_stat_subscription WHERE subname = 'sub'" \
      "the apply worker of sub to stop"
    wait_for p "SELECT NOT active FROM pg_replication_slots WHERE slot_name = 'sub'" \
      "slot sub on p to become inactive"
  fi
}

# resume SYSTEM: undoes pause.
resume() {
  local sys=$1 fd
  if [ "$pause_mode" = lock ]; then
    fd=${lock_fd[$sys]}
    # \q, not EOF, ends the session: other children inherited the fifo.
    printf 'COMMIT;\n\\q\n' >&"$fd"
    exec {fd}>&-
  elif [ "$sys" = mmr ]; then
    sql b -c "SELECT mmr.apply_resume()" >/dev/null
  else
    sql s -c "ALTER SUBSCRIPTION sub ENABLE"
  fi
}

apply_pid() {
  if [ "$1" = mmr ]; then
    sql b -c "SELECT worker_pid FROM mmr.replication_status WHERE peer_name = 'a'"
  else
    sql s -c "SELECT pid FROM pg_stat_subscription WHERE subname = 'sub' AND pid IS NOT NULL"
  fi
}
walsender_pid() {
  if [ "$1" = mmr ]; then
    sql a -c "SELECT active_pid FROM pg_replication_slots
               WHERE slot_type = 'logical' AND database = current_database() AND active"
  else
    sql p -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'sub' AND active"
  fi
}

origin_of() { [ "$1" = mmr ] && echo a || echo p; }
receiver_of() { [ "$1" = mmr ] && echo b || echo s; }

# last_commit NODE START END TABLE: start LSN of the last commit record in
# [START, END] of NODE's WAL of a transaction that wrote into TABLE (so
# that no unrelated commit counts as the load's last).
last_commit() {
  local pat
  pat=$(sql "$1" -c "SELECT '% rel %/' || d.oid || '/' || pg_relation_filenode('$4') || ' %'
                       FROM pg_database d WHERE d.datname = current_database()")
  sql "$1" -c "SELECT max(commit_lsn) FROM (
                 SELECT max(start_lsn) FILTER (WHERE resource_manager = 'Transaction'
                                                 AND record_type LIKE 'COMMIT%') AS commit_lsn,
                        bool_or(resource_manager = 'Heap' AND block_ref LIKE '$pat') AS wrote
                   FROM pg_get_wal_records_info('$2', least('$3'::pg_lsn, pg_current_wal_flush_lsn()))
                  GROUP BY xid) x
                WHERE wrote"
}

# cpu_ticks PID: user + system CPU time of PID so far, in clock ticks
# (/proc/PID/stat); empty when PID is unknown or gone.
clk_tck=$(getconf CLK_TCK)
cpu_ticks() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 0
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
# minflt PID: minor page faults of PID so far (/proc/PID/stat field 10).
minflt() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 0
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $8 }'
}
# rss_anon_kb PID: private anonymous memory of PID now, in kB.
rss_anon_kb() {
  [ -n "$1" ] && [ -r "/proc/$1/status" ] || { echo -; return 0; }
  awk '/^RssAnon:/ { print $2; found = 1 } END { if (!found) print "-" }' "/proc/$1/status"
}
# cpu_secs BEFORE AFTER: CPU seconds between two cpu_ticks ("-" if unknown).
cpu_secs() {
  if [ -n "$1" ] && [ -n "$2" ]; then
    awk -v a="$1" -v b="$2" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }'
  else
    echo -
  fi
}

# poll_until NODE QUERY OUTFILE: runs QUERY (true/false) every 50 ms in one
# session, each poll its own short transaction (a long DO loop would hold a
# snapshot and keep the receiver from pruning dead rows while it applies),
# until true; then writes the time into OUTFILE.  Gives up after
# BENCH_TIMEOUT seconds (OUTFILE then does not exist).
poll_until() {
  local n=$1 q=$2 out=$3 line t0
  rm -f "$out"
  t0=$SECONDS
  { while [ $((SECONDS - t0)) -le "$timeout" ]; do echo "$q;"; sleep 0.05; done; } 2>/dev/null \
    | sql "$n" 2>/dev/null | while read -r line; do
        if [ "$line" = t ]; then now >"$out"; break; fi
      done || true
}

# start_perf PID FILE: perf record -g of PID into FILE, in the background.
perfpid=""
start_perf() {
  perfpid=""
  [ -n "$2" ] && [ -n "$1" ] || return 0
  perf record -q -g -o "$2" -p "$1" >/dev/null 2>&1 &
  perfpid=$!
  sleep 0.3		# let perf attach before the work starts
}

# catchup SYSTEM STARTLSN ENDLSN COMMITLSN COUNTQ EXPECTED [PERFOUT]: resumes
# apply and waits until caught up; sets CAUGHT to "<confirmed s> <applied s>
# <apply CPU s> <walsender CPU s> <pre-sent %>" (CPU from /proc, "-" when
# unknown; pre-sent: how much of the load's WAL the origin's walsender had
# already decoded and sent at the resume, pg_stat_replication.sent_lsn).
# With PERFOUT, the apply worker runs under perf record.
catchup() {
  local sys=$1 startlsn=$2 endlsn=$3 commitlsn=$4 countq=$5 expected=$6 perfout=${7:-}
  local o r apid="" wpid="" a0="" w0="" a1 w1 t0 t1 ta waiter i got pre=0 f0="" f1 rss
  o=$(origin_of "$sys")
  r=$(receiver_of "$sys")
  rm -f "$work/applied.t"
  if [ "$sys" = mmr ] || [ "$pause_mode" = lock ]; then
    # The worker and the walsender are there while paused.
    apid=$(apply_pid "$sys")
    wpid=$(walsender_pid "$sys")
    [ -n "$apid" ] && [ -n "$wpid" ] || die "$sys: no apply worker or walsender while paused"
    start_perf "$apid" "$perfout"
    a0=$(cpu_ticks "$apid")
    f0=$(minflt "$apid")
    w0=$(cpu_ticks "$wpid")
    pre=$(sql "$o" -c "SELECT round(100 * greatest(0, least(1, pg_wal_lsn_diff(sent_lsn, '$startlsn')
                                                    / greatest(1, pg_wal_lsn_diff('$endlsn', '$startlsn')))))
                        FROM pg_stat_replication WHERE pid = $wpid")
  fi
  # "applied": the receiver's origin progress passes the last commit.
  poll_until "$r" "SELECT coalesce(max(remote_lsn) > '$commitlsn', false) FROM pg_replication_origin_status" \
    "$work/applied.t" &
  waiter=$!
  t0=$(now)
  resume "$sys"
  if [ -z "$apid" ]; then
    # ENABLE starts new processes: all their CPU time is the catch-up's.
    for ((i = 0; i < 500; i++)); do
      apid=$(apply_pid "$sys")
      [ -n "$apid" ] && break
      sleep 0.01
    done
    start_perf "$apid" "$perfout"
    a0=0
    f0=0
    for ((i = 0; i < 500; i++)); do
      wpid=$(walsender_pid "$sys")
      [ -n "$wpid" ] && break
      sleep 0.01
    done
    w0=0
  fi
  if [ "$sys" = mmr ]; then
    sql a -c "SET statement_timeout = '${timeout}s'" \
      -c "SELECT mmr.wait_slot_confirm_lsn(NULL, '$endlsn')" >/dev/null \
      || die "mmr did not catch up within ${timeout}s"
  else
    poll_until p "SELECT coalesce((SELECT confirmed_flush_lsn >= '$endlsn' FROM pg_replication_slots
                                   WHERE slot_name = 'sub'), false)" "$work/confirmed.t"
    [ -f "$work/confirmed.t" ] || die "native did not catch up within ${timeout}s"
  fi
  for ((i = 0; i < 200; i++)); do
    got=$(sql "$r" -c "$countq")
    [ "$got" = "$expected" ] && break
    sleep 0.05
  done
  t1=$(now)
  a1=$(cpu_ticks "$apid")
  f1=$(minflt "$apid")
  rss=$(rss_anon_kb "$apid")
  w1=$(cpu_ticks "$wpid")
  [ "$got" = "$expected" ] || die "$sys: $r has $got rows after catching up, $o has $expected"
  wait "$waiter" || true
  [ -f "$work/applied.t" ] || die "$sys: the origin progress on $r did not pass the last commit"
  ta=$(cat "$work/applied.t")
  if [ -n "${lock_holder[$sys]:-}" ]; then
    wait "${lock_holder[$sys]}" || die "the lock session on $r failed"
    unset "lock_holder[$sys]"
  fi
  if [ -n "$perfpid" ]; then
    kill -INT "$perfpid" 2>/dev/null || true
    wait "$perfpid" || true
    perfpid=""
  fi
  local faults=-
  [ -z "$f0" ] || [ -z "$f1" ] || faults=$((f1 - f0))
  CAUGHT="$(elapsed "$t0" "$t1") $(elapsed "$t0" "$ta") $(cpu_secs "$a0" "$a1") $(cpu_secs "$w0" "$w1") $pre $faults $rss"
}

# compare WHAT QUERY NODE NODE: the query's result must be the same on both.
failures=0
compare() {
  local what=$1 q=$2 x y
  x=$(sql "$3" -c "$q")
  y=$(sql "$4" -c "$q")
  if [ "$x" = "$y" ]; then
    echo "-- check $what: $3 = $4 ($(cut -c1-60 <<<"$x"))"
  else
    echo "-- CHECK FAILED $what: $3 has '$x', $4 has '$y'" >&2
    failures=$((failures + 1))
  fi
}

check_q_inserts="SELECT count(*), coalesce(sum(id), 0), coalesce(sum(amount), 0),
  md5(coalesce(string_agg(id || ',' || name || ',' || amount || ',' || created, ';' ORDER BY id), ''))
  FROM bench_rows"
check_q_tpcb="SELECT (SELECT count(*) FROM pgbench_history), (SELECT coalesce(sum(delta), 0) FROM pgbench_history),
  (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers),
  (SELECT sum(bbalance) FROM pgbench_branches),
  (SELECT md5(string_agg(aid || ':' || abalance, ',' ORDER BY aid)) FROM pgbench_accounts),
  (SELECT md5(string_agg(tid || ':' || tbalance, ',' ORDER BY tid)) FROM pgbench_tellers),
  (SELECT md5(string_agg(bid || ':' || bbalance, ',' ORDER BY bid)) FROM pgbench_branches),
  (SELECT md5(coalesce(string_agg(hid || ':' || tid || ':' || bid || ':' || aid || ':' || delta || ':' || mtime,
                                  ',' ORDER BY hid), '')) FROM pgbench_history)"
check_q_lag="SELECT (SELECT count(*) FROM lag_history), (SELECT sum(balance) FROM lag_accounts),
  (SELECT md5(string_agg(node || ':' || id || ':' || balance || ':' || coalesce(mtime::text, ''), ',' ORDER BY node, id))
     FROM lag_accounts),
  (SELECT md5(coalesce(string_agg(node || ':' || hid || ':' || id || ':' || delta || ':' || mtime,
                                  ',' ORDER BY node, hid), '')) FROM lag_history)"

perf_dir=""
perf_top() {
  local f=$1 n=$2
  shift 2
  perf report -i "$f" --no-children --stdio -g none "$@" 2>/dev/null \
    | awk -v n="$n" '!/^#/ && !/^$/ && ++k <= n { print "   " $0 }'
}

results=()

# --- catch-up workloads (inserts, tpcb) -----------------------------------------
# load SYSTEM WORKLOAD: runs the load on the origin; sets LOADED to
# "<transactions> <seconds> <start lsn> <end lsn> <last commit lsn>".
load() {
  local sys=$1 w=$2 txns=${3:-} o before after t0 t1 start end table script=()
  o=$(origin_of "$sys")
  table=bench_rows
  [ "$w" = tpcb ] && table=pgbench_history
  [ "$w" = inserts ] && script=(-f "$here/apply_insert_row.sql")
  sql "$o" -c "CHECKPOINT"
  sql "$(receiver_of "$sys")" -c "CHECKPOINT"
  start=$(sql "$o" -c "SELECT pg_current_wal_insert_lsn()")
  before=$(sql "$o" -c "SELECT count(*) FROM $table")
  t0=$(now)
  if [ "$w" = bigxact ]; then
    sql "$o" -c "INSERT INTO bench_rows (name, amount, created)
                 SELECT 'big ' || g, g * 1.5, '2026-01-01'::timestamptz + g * interval '1 s'
                   FROM generate_series(1, $big_rows) g" >/dev/null
  elif [ -n "$txns" ]; then
    run_txns "$o" "$txns" "$(if [ "$w" = inserts ]; then echo "$clients"; else echo "$tpcb_clients"; fi)" "${script[@]}"
  else
    pgb "$o" -n -M prepared -c "$tpcb_clients" -j "$tpcb_clients" -T "$tpcb_secs" \
      >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; die "pgbench load on $o failed"; }
  fi
  t1=$(now)
  after=$(sql "$o" -c "SELECT count(*) FROM $table")
  end=$(sql "$o" -c "SELECT pg_current_wal_insert_lsn()")
  local ntx=$((after - before))
  [ "$w" = bigxact ] && ntx=1
  LOADED="$ntx $(elapsed "$t0" "$t1") $start $end $(last_commit "$o" "$start" "$end" "$table")"
}

# run_txns NODE TRANSACTIONS CLIENTS [SCRIPT ARGS...]: exactly TRANSACTIONS
# pgbench transactions over CLIENTS clients.
run_txns() {
  local o=$1 n=$2 c=$3 per extra
  shift 3
  per=$((n / c))
  extra=$((n - per * c))
  if [ "$per" -gt 0 ]; then
    pgb "$o" -n -M prepared -c "$c" -j "$c" -t "$per" "$@" >"$work/pgbench.out" 2>&1 \
      || { cat "$work/pgbench.out" >&2; die "pgbench load on $o failed"; }
  fi
  if [ "$extra" -gt 0 ]; then
    pgb "$o" -n -M prepared -c 1 -t "$extra" "$@" >>"$work/pgbench.out" 2>&1 \
      || { cat "$work/pgbench.out" >&2; die "pgbench load on $o failed"; }
  fi
}

count_q() {
  if [ "$1" != tpcb ]; then echo "SELECT count(*) FROM bench_rows"
  else echo "SELECT count(*) FROM pgbench_history"; fi
}

catchup_workload() {
  local w=$1 per=1 i sys order n secs slsn elsn clsn c ta acpu wcpu walmb expected tpcb_n=""
  [ "$w" = tpcb ] && per=4
  [ "$w" = bigxact ] && per=$big_rows
  declare -A conf=() appl=() acpus=() wcpus=() txns=() pres=() fpr=() rsss=()
  for sys in mmr native; do conf[$sys]=""; appl[$sys]=""; acpus[$sys]=""; wcpus[$sys]=""; txns[$sys]=""; pres[$sys]=""; fpr[$sys]=""; rsss[$sys]=""; done
  echo
  if [ "$w" = bigxact ]; then
    echo "== workload bigxact: one transaction of $big_rows inserted rows per run, apply paused, then timed catch-up"
  elif [ "$w" = inserts ]; then
    echo "== workload inserts: $rows single-row INSERT transactions per run ($clients clients), apply paused, then timed catch-up"
  else
    echo "== workload tpcb: pgbench TPC-B-like, $tpcb_clients clients, $tpcb_secs s per run, apply paused, then timed catch-up"
  fi
  for ((i = 1; i <= runs + (do_perf == 1 ? 1 : 0); i++)); do
    local profiling=0
    [ "$i" -gt "$runs" ] && profiling=1
    if [ $((i % 2)) = 1 ]; then order=(mmr native); else order=(native mmr); fi
    declare -A L=()
    for sys in mmr native; do
      pause "$sys" "$w"
      # inserts: BENCH_ROWS on both; tpcb: a runs for BENCH_TPCB_SECS, p
      # then runs exactly as many transactions.
      if [ "$w" = inserts ]; then
        load "$sys" "$w" "$rows"
      elif [ "$sys" = mmr ]; then
        load "$sys" "$w"
      else
        load "$sys" "$w" "$tpcb_n"
      fi
      read -r n secs slsn elsn clsn <<<"$LOADED"
      tpcb_n=$n
      [ "$n" -gt 0 ] || die "the load on $(origin_of "$sys") committed nothing"
      [ -n "$clsn" ] || die "no commit record found in the WAL of $(origin_of "$sys")"
      walmb=$(sql "$(origin_of "$sys")" -c "SELECT round(pg_wal_lsn_diff('$elsn', '$slsn') / 1048576.0, 1)")
      L[$sys]="$n $slsn $elsn $clsn"
      printf -- '-- run %d %-6s load on %s: %d transactions in %.1f s (%.0f tps), WAL %s MiB, end %s\n' \
        "$i" "$sys" "$(origin_of "$sys")" "$n" "$secs" "$(awk -v n="$n" -v s="$secs" 'BEGIN { print n / s }')" \
        "$walmb" "$elsn"
    done
    for sys in "${order[@]}"; do
      read -r n slsn elsn clsn <<<"${L[$sys]}"
      expected=$(sql "$(origin_of "$sys")" -c "$(count_q "$w")")
      if [ "$profiling" = 1 ]; then
        [ -n "$perf_dir" ] || { perf_dir=${BENCH_PERF_DIR:-$(mktemp -d /tmp/mmr-apply-perf.XXXXXX)}; mkdir -p "$perf_dir"; }
        catchup "$sys" "$slsn" "$elsn" "$clsn" "$(count_q "$w")" "$expected" "$perf_dir/$w.$sys.data"
        read -r c ta acpu wcpu pre faults rss <<<"$CAUGHT"
        printf -- '-- profiled %-6s caught up in %.3f s (applied %.3f s); not in the medians\n' "$sys" "$c" "$ta"
        continue
      fi
      catchup "$sys" "$slsn" "$elsn" "$clsn" "$(count_q "$w")" "$expected"
      read -r c ta acpu wcpu pre faults rss <<<"$CAUGHT"
      printf -- '-- run %d %-6s caught up in %7.3f s (applied %7.3f s): %6.0f tps, %7.0f rows/s; CPU apply %s s, walsender %s s; pre-sent %s%%\n' \
        "$i" "$sys" "$c" "$ta" "$(awk -v n="$n" -v s="$c" 'BEGIN { print n / s }')" \
        "$(awk -v n="$n" -v s="$c" -v p="$per" 'BEGIN { print n * p / s }')" "$acpu" "$wcpu" "$pre"
      pres[$sys]="${pres[$sys]} $pre"
      if [ "$faults" != - ]; then
        fpr[$sys]="${fpr[$sys]} $(awk -v f="$faults" -v n="$n" -v p="$per" 'BEGIN { printf "%.4f", f / (n * p) }')"
        echo "   apply worker: $faults minor page faults ($(awk -v f="$faults" -v n="$n" -v p="$per" 'BEGIN { printf "%.4f", f / (n * p) }') per row), RssAnon ${rss} kB at the end"
      fi
      [ "$rss" = - ] || rsss[$sys]="${rsss[$sys]} $rss"
      txns[$sys]="${txns[$sys]} $n"
      conf[$sys]="${conf[$sys]} $(awk -v n="$n" -v s="$c" 'BEGIN { printf "%.6g", n / s }')"
      appl[$sys]="${appl[$sys]} $(awk -v n="$n" -v s="$ta" 'BEGIN { printf "%.6g", n / s }')"
      [ "$acpu" = - ] || acpus[$sys]="${acpus[$sys]} $(awk -v n="$n" -v s="$acpu" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')"
      [ "$wcpu" = - ] || wcpus[$sys]="${wcpus[$sys]} $(awk -v n="$n" -v s="$wcpu" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')"
    done
    unset L
  done

  if [ "$w" != tpcb ]; then
    compare "$w mmr" "$check_q_inserts" a b
    compare "$w native" "$check_q_inserts" p s
  else
    compare "tpcb mmr" "$check_q_tpcb" a b
    compare "tpcb native" "$check_q_tpcb" p s
  fi

  printf '\n%-8s %-7s %9s %5s %10s %11s %10s %11s %14s %14s %9s\n' workload system "txns/run" "runs" "tps" "rows/s" \
    "tps appl." "rows/s appl" "txns/apply-cpu" "txns/wsnd-cpu" "pre-sent"
  declare -A rate=() arate=()
  for sys in mmr native; do
    # shellcheck disable=SC2086  # one value per run
    rate[$sys]=$(median ${conf[$sys]})
    # shellcheck disable=SC2086
    arate[$sys]=$(median ${appl[$sys]})
    # shellcheck disable=SC2086
    printf '%-8s %-7s %9.0f %5d %10.0f %11.0f %10.0f %11.0f %14s %14s %8.0f%%\n' "$w" "$sys" "$(median ${txns[$sys]})" \
      "$(wc -w <<<"${conf[$sys]}")" \
      "${rate[$sys]}" "$(awk -v r="${rate[$sys]}" -v p="$per" 'BEGIN { print r * p }')" \
      "${arate[$sys]}" "$(awk -v r="${arate[$sys]}" -v p="$per" 'BEGIN { print r * p }')" \
      "$(median ${acpus[$sys]} | sed 's/\..*//')" "$(median ${wcpus[$sys]} | sed 's/\..*//')" \
      "$(median ${pres[$sys]})"
  done
  local ratio aratio
  ratio=$(awk -v a="${rate[mmr]}" -v b="${rate[native]}" 'BEGIN { printf "%.2f", a / b }')
  aratio=$(awk -v a="${arate[mmr]}" -v b="${arate[native]}" 'BEGIN { printf "%.2f", a / b }')
  echo "ratio mmr/native = $ratio   ($w, caught up = confirmed on the origin; applied only: $aratio)"
  local pm pn
  pm=$(median ${pres[mmr]})
  pn=$(median ${pres[native]})
  if awk -v a="$pm" -v b="$pn" 'BEGIN { exit !(a - b > 10 || b - a > 10) }'; then
    printf 'note: unequal head start: at the resume the walsender had already sent %.0f%% of the load (mmr) vs %.0f%% (native)' "$pm" "$pn"
    [ "$pause_mode" = pause ] && printf '; BENCH_PAUSE=lock pauses both alike'
    echo
  fi
  echo "   per-run tps (confirmed): mmr${conf[mmr]}; native${conf[native]}"
  # shellcheck disable=SC2086
  echo "   apply worker minor page faults per row (median): mmr $(median ${fpr[mmr]}), native $(median ${fpr[native]});" \
    "RssAnon at the end (median kB): mmr $(median ${rsss[mmr]}), native $(median ${rsss[native]})"
  [ "$w" = inserts ] && inserts_mmr_rate=${rate[mmr]}
  [ "$w" = inserts ] && inserts_native_rate=${rate[native]}
  results+=("$w: ratio mmr/native = $ratio (applied only: $aratio); tps mmr $(printf %.0f "${rate[mmr]}"), native $(printf %.0f "${rate[native]}"); rows/s mmr $(awk -v r="${rate[mmr]}" -v p="$per" 'BEGIN { printf "%.0f", r * p }'), native $(awk -v r="${rate[native]}" -v p="$per" 'BEGIN { printf "%.0f", r * p }'); page faults/row mmr $(median ${fpr[mmr]}), native $(median ${fpr[native]})")

  if [ "$do_perf" = 1 ]; then
    for sys in mmr native; do
      local f="$perf_dir/$w.$sys.data"
      [ -f "$f" ] || continue
      echo
      echo "-- perf profile of the $sys apply worker during $w catch-up ($f)"
      echo "   by object:"
      perf_top "$f" 6 --sort dso
      echo "   hottest functions:"
      perf_top "$f" 25 --sort symbol,dso
      if [ "$sys" = mmr ]; then
        echo "   hottest functions in mmr.so:"
        perf_top "$f" 12 --sort symbol --dsos mmr.so
      fi
    done
  fi
}

# --- conflicts: 10 % of the changes meet an existing row -----------------------------
inserts_mmr_rate=""
inserts_native_rate=""
conflict_workload() {
  local i n next conflicts0 conflicts1 t0 t1 endlsn rates="" logged=""
  echo
  echo "== workload conflicts: $rows single-row INSERTs on a, 10% of their keys inserted on b first; timed catch-up of b (mmr only)"
  for ((i = 1; i <= runs; i++)); do
    for n in a b; do
      sql "$n" -c "SELECT mmr.apply_pause()" >/dev/null
      wait_for "$n" "SELECT bool_and(state = 'paused') FROM mmr.replication_status" "the apply worker on $n to pause"
    done
    # a's identity hands out next+1, next+2, ...: b takes every tenth first.
    next=$(sql a -c "SELECT last_value FROM bench_rows_id_seq")
    sql b -c "INSERT INTO bench_rows (id, name, amount, created)
              SELECT $next + 10 * g, 'b-first ' || g, g, now() FROM generate_series(1, $((rows / 10))) g" >/dev/null
    conflicts0=$(sql b -c "SELECT count(*) FROM mmr.conflict_log WHERE conflict_type = 'insert_exists'")
    sql a -c "CHECKPOINT"
    sql b -c "CHECKPOINT"
    run_txns a "$rows" "$clients" -f "$here/apply_insert_row.sql"
    endlsn=$(sql a -c "SELECT pg_current_wal_insert_lsn()")
    t0=$(now)
    sql b -c "SELECT mmr.apply_resume()" >/dev/null
    sql a -c "SET statement_timeout = '${timeout}s'" \
      -c "SELECT mmr.wait_slot_confirm_lsn('b', '$endlsn')" >/dev/null || die "b did not catch up within ${timeout}s"
    t1=$(now)
    conflicts1=$(sql b -c "SELECT count(*) FROM mmr.conflict_log WHERE conflict_type = 'insert_exists'")
    sql a -c "SELECT mmr.apply_resume()" >/dev/null
    sql b -c "SET statement_timeout = '${timeout}s'" -c "SELECT mmr.wait_slot_confirm_lsn('a')" >/dev/null \
      || die "a did not catch up within ${timeout}s"
    printf -- '-- run %d mmr caught up in %7.3f s: %6.0f tps; insert_exists logged on b: %d\n' "$i" \
      "$(elapsed "$t0" "$t1")" "$(awk -v n="$rows" -v a="$t0" -v b="$t1" 'BEGIN { print n / (b - a) }')" \
      "$((conflicts1 - conflicts0))"
    rates="$rates $(awk -v n="$rows" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6g", n / (b - a) }')"
    logged="$logged $((conflicts1 - conflicts0))"
  done
  compare "conflicts mmr" "$check_q_inserts" a b
  local r
  # shellcheck disable=SC2086
  r=$(median $rates)
  local vs_inserts="-" vs_native="-"
  [ -z "$inserts_mmr_rate" ] || vs_inserts=$(awk -v a="$r" -v b="$inserts_mmr_rate" 'BEGIN { printf "%.2f", a / b }')
  [ -z "$inserts_native_rate" ] || vs_native=$(awk -v a="$r" -v b="$inserts_native_rate" 'BEGIN { printf "%.2f", a / b }')
  # shellcheck disable=SC2086
  echo "conflicts: mmr $(printf %.0f "$r") tps with 10% insert_exists (median of${logged} logged per run);" \
    "ratio to mmr without conflicts = $vs_inserts, to native without conflicts = $vs_native (inserts workload of this run; - if not run)"
  results+=("conflicts: mmr $(printf %.0f "$r") tps with 10% conflicts; vs mmr without conflicts $vs_inserts; vs native without conflicts $vs_native")
}

# --- lag under steady load --------------------------------------------------------
sample_q_mmr="SELECT
  coalesce((SELECT greatest(0, extract(epoch FROM clock_timestamp() - last_applied_commit_time))
              FROM mmr.apply_worker_status() LIMIT 1), -1),
  coalesce((SELECT greatest(0, extract(epoch FROM lag)) FROM mmr.replication_status LIMIT 1), -1),
  coalesce((SELECT lag_bytes FROM mmr.replication_status LIMIT 1), -1),
  coalesce((SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots
             WHERE slot_type = 'logical' AND database = current_database() LIMIT 1), -1)"
sample_q_p="SELECT coalesce((SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)
                             FROM pg_replication_slots WHERE slot_name = 'sub'), -1)"
sample_q_s="SELECT coalesce(greatest(0, extract(epoch FROM clock_timestamp() - (pg_last_committed_xact()).timestamp)), -1),
  coalesce((SELECT greatest(0, extract(epoch FROM clock_timestamp() - latest_end_time))
              FROM pg_stat_subscription WHERE subname = 'sub'), -1)"

# sampler NODE QUERY OUT SECONDS: QUERY every 0.5 s for SECONDS, rows to OUT.
sampler() {
  local n=$1 q=$2 out=$3 secs=$4 t0 next i=0
  t0=$(now)
  while awk -v a="$t0" -v b="$(now)" -v s="$secs" 'BEGIN { exit !(b - a < s) }'; do
    sql "$n" -F ' ' -c "$q" >>"$out" || true
    i=$((i + 1))
    next=$(awk -v a="$t0" -v i="$i" -v b="$(now)" 'BEGIN { d = a + i * 0.5 - b; printf "%.3f", (d > 0 ? d : 0) }')
    sleep "$next"
  done
}

# pct FILE COLUMN: "p50 p99" of a column (nearest rank), "- -" when empty.
pct() {
  awk -v c="$2" '$c != "" && $c >= 0 { print $c }' "$1" 2>/dev/null | sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "- -"; exit }
    i50 = int(0.50 * NR + 0.999999); i99 = int(0.99 * NR + 0.999999);
    if (i50 < 1) i50 = 1; if (i99 > NR) i99 = NR;
    print a[i50], a[i99] }'
}
nsamples() { awk -v c="$2" '$c != "" && $c >= 0' "$1" 2>/dev/null | wc -l; }

lag_pgbench() {	# lag_pgbench NODE NODE_NUMBER OUT
  local ropt=()
  [ -z "$lag_rate" ] || ropt=(-R "$lag_rate")
  pgb "$1" -n -M prepared -c 1 -T "$lag_secs" "${ropt[@]}" -D node="$2" -D naccounts="$lag_rows" \
    -f "$here/apply_lag.sql" >"$3" 2>&1
}
tps_of() { awk '/^tps = / { printf "%.0f", $3; exit }' "$1"; }

lag_workload() {
  local i sys p1 p2 p3 pids ssecs=$((lag_secs - 2)) ta tb tp
  local tps_a="" tps_b="" tps_p=""
  echo
  echo "== workload lag: pgbench -c 1 -T $lag_secs (apply_lag.sql, ${lag_rate:-unthrottled} tps) on a AND b at once (mmr)," \
    "then on p only (native, one-way); samples every 0.5 s"
  rm -f "$work"/lag.*
  for ((i = 1; i <= runs; i++)); do
    # mmr: both nodes write their own rows.
    lag_pgbench a 1 "$work/pgb.a" & p1=$!
    lag_pgbench b 2 "$work/pgb.b" & p2=$!
    sleep 1
    sampler a "$sample_q_mmr" "$work/lag.a" "$ssecs" & pids=($!)
    sampler b "$sample_q_mmr" "$work/lag.b" "$ssecs" & pids+=($!)
    wait "$p1" || { cat "$work/pgb.a" >&2; die "pgbench on a failed"; }
    wait "$p2" || { cat "$work/pgb.b" >&2; die "pgbench on b failed"; }
    wait "${pids[@]}" || true
    ta=$(tps_of "$work/pgb.a"); tb=$(tps_of "$work/pgb.b")
    sql a -c "SET statement_timeout = '${timeout}s'" -c "SELECT mmr.wait_slot_confirm_lsn()" >/dev/null
    sql b -c "SET statement_timeout = '${timeout}s'" -c "SELECT mmr.wait_slot_confirm_lsn()" >/dev/null
    # native: p writes, s applies.
    lag_pgbench p 3 "$work/pgb.p" & p3=$!
    sleep 1
    sampler p "$sample_q_p" "$work/lag.p" "$ssecs" & pids=($!)
    sampler s "$sample_q_s" "$work/lag.s" "$ssecs" & pids+=($!)
    wait "$p3" || { cat "$work/pgb.p" >&2; die "pgbench on p failed"; }
    wait "${pids[@]}" || true
    tp=$(tps_of "$work/pgb.p")
    end=$(sql p -c "SELECT pg_current_wal_insert_lsn()")
    poll_until p "SELECT coalesce((SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots
                                   WHERE slot_name = 'sub'), false)" "$work/confirmed.t"
    [ -f "$work/confirmed.t" ] || die "native did not catch up within ${timeout}s"
    echo "-- run $i: tps a $ta, b $tb (mmr, at once); p $tp (native)"
    tps_a="$tps_a $ta"; tps_b="$tps_b $tb"; tps_p="$tps_p $tp"
  done
  compare "lag mmr" "$check_q_lag" a b
  compare "lag native" "$check_q_lag" p s

  # shellcheck disable=SC2086
  echo
  # shellcheck disable=SC2086
  printf 'load (median tps per run): mmr a %.0f, b %.0f at the same time; native p %.0f alone\n' \
    "$(median $tps_a)" "$(median $tps_b)" "$(median $tps_p)"
  printf '%-8s %-36s %8s %12s %12s\n' direction "series (on which server)" samples p50 p99
  row() {
    local q50 q99
    read -r q50 q99 <<<"$(pct "$3" "$4")"
    printf '%-8s %-36s %8d %12s %12s\n' "$1" "$2" "$(nsamples "$3" "$4")" "$q50" "$q99"
  }
  row "a->b" "apply delay s (b)" "$work/lag.b" 1
  row "a->b" "mmr.replication_status.lag s (b)" "$work/lag.b" 2
  row "a->b" "mmr.replication_status.lag_bytes (b)" "$work/lag.b" 3
  row "a->b" "unconfirmed WAL bytes (a)" "$work/lag.a" 4
  row "b->a" "apply delay s (a)" "$work/lag.a" 1
  row "b->a" "mmr.replication_status.lag s (a)" "$work/lag.a" 2
  row "b->a" "mmr.replication_status.lag_bytes (a)" "$work/lag.a" 3
  row "b->a" "unconfirmed WAL bytes (b)" "$work/lag.b" 4
  row "p->s" "apply delay s (s)" "$work/lag.s" 1
  row "p->s" "now()-latest_end_time s (s)" "$work/lag.s" 2
  row "p->s" "unconfirmed WAL bytes (p)" "$work/lag.p" 1
  echo "note: native is one-way (p writes, s applies) and p's load runs alone; mmr applies in both" \
    "directions while both nodes write, on the same $(nproc) cores: the pairs do not carry the same load."
  read -r d50 d99 <<<"$(pct "$work/lag.b" 1)"
  read -r n50 n99 <<<"$(pct "$work/lag.s" 1)"
  results+=("lag: apply delay p50/p99 s: mmr a->b $d50/$d99, b->a $(pct "$work/lag.a" 1 | tr ' ' /) (both writing); native p->s $n50/$n99 (one-way)")
}

for w in $workloads; do
  case "$w" in
    inserts|tpcb|bigxact) catchup_workload "$w" ;;
    conflicts) conflict_workload ;;
    lag) lag_workload ;;
  esac
done

echo
echo "== summary"
printf '%s\n' "${results[@]}"
[ -z "$perf_dir" ] || echo "perf data kept in $perf_dir"
if [ "$failures" -gt 0 ]; then
  echo "apply_bench: $failures correctness check(s) failed: the replicas differ from their origins" >&2
  exit 1
fi
echo "all correctness checks passed"
