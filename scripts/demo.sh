#!/usr/bin/env bash
# The mmr demo: starts three throw-away PostgreSQL 15 servers on 127.0.0.1,
# forms a group (group_create on the first, group_join on the others), writes
# on every node, and shows the rows replicated everywhere, mmr.nodes and
# mmr.replication_status.  Sets the machine up first (scripts/setup.sh).
# Leaves nothing running: the servers it started are stopped and removed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"

bindir=$(pg_config --bindir)
work=$(mktemp -d /tmp/mmr-demo.XXXXXX)
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$work"
  run_as=(runuser -u postgres --)
fi
nodes=(paris tokyo lima)
declare -A port

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_all() {
  for n in "${nodes[@]}"; do
    [ -d "$work/$n" ] && "${run_as[@]}" "$bindir/pg_ctl" -D "$work/$n" -m fast stop >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap stop_all EXIT

psql_on() {		# psql_on NODE [psql args...]
  local n=$1; shift
  "${run_as[@]}" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port[$n]}" \
    -U postgres -d demo "$@"
}
dsn_of() { echo "host=127.0.0.1 port=${port[$1]} dbname=demo user=postgres"; }

for n in "${nodes[@]}"; do
  port[$n]=$(free_port)
  "${run_as[@]}" "$bindir/initdb" -D "$work/$n" -A trust -U postgres >/dev/null
  {
    "$top/scripts/server_conf.sh"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = ${port[$n]}"
    echo "unix_socket_directories = '$work'"
    echo "cluster_name = 'mmr-demo-$n'"
  } | "${run_as[@]}" tee -a "$work/$n/postgresql.conf" >/dev/null
  "${run_as[@]}" "$bindir/pg_ctl" -D "$work/$n" -l "$work/$n.log" -w start >/dev/null
  "${run_as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "${port[$n]}" -U postgres demo
  psql_on "$n" -c "CREATE EXTENSION mmr" \
    -c "CREATE TABLE accounts (id integer PRIMARY KEY, owner text, balance numeric, node text)"
  echo "== $n listening on 127.0.0.1:${port[$n]}"
done

echo "== forming the group: group_create on paris, group_join on tokyo and lima"
psql_on paris -c "SELECT mmr.group_create('paris', '$(dsn_of paris)')"
for n in tokyo lima; do
  psql_on "$n" -c "SELECT mmr.group_join('$n', '$(dsn_of "$n")', '$(dsn_of paris)', synchronize_data => false)" \
    -c "SELECT mmr.wait_for_join('60 s')"
done

wait_streaming() {		# every node streams from both peers
  for n in "${nodes[@]}"; do
    for _ in $(seq 1 300); do
      [ "$(psql_on "$n" -At -c "SELECT count(*) FROM mmr.replication_status WHERE state = 'streaming'")" = 2 ] && break
      psql_on "$n" -At -c "SELECT pg_sleep(0.1)" >/dev/null   # poll interval
    done
  done
}
wait_streaming

echo "== writes on every node"
psql_on paris -c "INSERT INTO accounts VALUES (1, 'alice', 100, 'paris')"
psql_on tokyo -c "INSERT INTO accounts VALUES (2, 'bob', 50, 'tokyo')"
psql_on lima -c "BEGIN" -c "INSERT INTO accounts VALUES (3, 'carol', 75, 'lima')" \
  -c "UPDATE accounts SET balance = balance + 25 WHERE id = 3" -c "COMMIT"
for n in "${nodes[@]}"; do
  psql_on "$n" -c "SET statement_timeout = '60s'" -c "SELECT mmr.wait_slot_confirm_lsn()" >/dev/null
done
psql_on tokyo -c "UPDATE accounts SET balance = balance - 10 WHERE id = 1"
psql_on tokyo -c "SET statement_timeout = '60s'" -c "SELECT mmr.wait_slot_confirm_lsn()" >/dev/null

for n in "${nodes[@]}"; do
  echo "== $n: accounts"
  psql_on "$n" -c "SELECT * FROM accounts ORDER BY id"
done
echo "== lima: mmr.nodes"
psql_on lima -c "SELECT * FROM mmr.nodes"
echo "== paris: mmr.replication_status"
psql_on paris -x -c "SELECT * FROM mmr.replication_status"
echo "== paris: mmr.conflict_log (conflict detection and resolution come with the conflicts work)"
psql_on paris -c "SELECT conflict_id, relation, conflict_type, resolution FROM mmr.conflict_log"
echo "== demo finished"
