#!/usr/bin/env bash
# The mmr demo: starts three throw-away PostgreSQL 15 servers on 127.0.0.1,
# forms a group (group_create on the first; group_join on the others, which
# copies the schema and data), writes on every node, makes two nodes update
# the same row at the same time (a real conflict, resolved alike everywhere),
# and shows the rows, mmr.nodes, mmr.replication_status and mmr.conflict_log.
# Sets the machine up first (scripts/setup.sh).
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
  psql_on "$n" -c "CREATE EXTENSION mmr"
  echo "== $n listening on 127.0.0.1:${port[$n]}"
done

echo "== paris has the data: table accounts with one row"
psql_on paris -c "CREATE TABLE accounts (id integer PRIMARY KEY, owner text, balance numeric, node text)" \
  -c "INSERT INTO accounts VALUES (0, 'zoe', 10, 'paris')"
echo "== forming the group: group_create on paris; tokyo joins through paris, lima through tokyo (schema and data copied)"
psql_on paris -c "SELECT mmr.group_create('paris', '$(dsn_of paris)')"
psql_on tokyo -c "SELECT mmr.group_join('tokyo', '$(dsn_of tokyo)', '$(dsn_of paris)')" \
  -c "SELECT mmr.wait_for_join('120 s')"
psql_on lima -c "SELECT mmr.group_join('lima', '$(dsn_of lima)', '$(dsn_of tokyo)')" \
  -c "SELECT mmr.wait_for_join('120 s')"
psql_on lima -c "SELECT node_name, phase, tables_total, tables_done, bytes_copied FROM mmr.join_status"

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

echo "== a real conflict: paris and tokyo update account 1 at the same time (apply paused on both)"
psql_on paris -c "SELECT mmr.apply_pause()" >/dev/null
psql_on tokyo -c "SELECT mmr.apply_pause()" >/dev/null
psql_on paris -c "UPDATE accounts SET balance = 1000, node = 'paris' WHERE id = 1"
psql_on tokyo -c "UPDATE accounts SET balance = 2000, node = 'tokyo' WHERE id = 1"
psql_on paris -c "SELECT mmr.apply_resume()" >/dev/null
psql_on tokyo -c "SELECT mmr.apply_resume()" >/dev/null
for n in paris tokyo; do
  psql_on "$n" -c "SET statement_timeout = '60s'" -c "SELECT mmr.wait_slot_confirm_lsn()" >/dev/null
done

for n in "${nodes[@]}"; do
  echo "== $n: accounts"
  psql_on "$n" -c "SELECT * FROM accounts ORDER BY id"
done
echo "== lima: mmr.nodes"
psql_on lima -c "SELECT * FROM mmr.nodes"
echo "== paris: mmr.replication_status"
psql_on paris -x -c "SELECT * FROM mmr.replication_status"
for n in "${nodes[@]}"; do
  echo "== $n: mmr.conflict_log (last_update_wins: the later update wins on every node)"
  psql_on "$n" -c "SELECT relation, conflict_type, resolution, local_node, remote_node, key,
                          local_row->>'balance' AS local_balance, remote_row->>'balance' AS remote_balance
                     FROM mmr.conflict_log ORDER BY conflict_id"
done
echo "== demo finished"
