#!/usr/bin/env bash
# The mmr demo: starts a throw-away PostgreSQL 15 server on 127.0.0.1, installs
# mmr, writes some rows and shows exactly what the mmr output plugin streams
# to peers.  Sets the machine up first (scripts/setup.sh).
# Leaves nothing running: the server is stopped and its directory removed.
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

# A free port on loopback.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
  "${run_as[@]}" "$bindir/pg_ctl" -D "$work/node1" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop EXIT

"${run_as[@]}" "$bindir/initdb" -D "$work/node1" -A trust -U postgres >/dev/null
{
  "$top/scripts/server_conf.sh"
  echo "listen_addresses = '127.0.0.1'"
  echo "port = $port"
  echo "unix_socket_directories = '$work'"
} | "${run_as[@]}" tee -a "$work/node1/postgresql.conf" >/dev/null
"${run_as[@]}" "$bindir/pg_ctl" -D "$work/node1" -l "$work/node1.log" -w start >/dev/null
echo "== node1 listening on 127.0.0.1:$port"

psql_node() {
  "${run_as[@]}" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

psql_node <<'SQL'
\echo == CREATE EXTENSION mmr
CREATE EXTENSION mmr;
SELECT 'slot created' AS status FROM pg_create_logical_replication_slot('demo', 'mmr');
CREATE TABLE accounts (id integer PRIMARY KEY, owner text, balance numeric);
CREATE TABLE scratch (id integer PRIMARY KEY);
SELECT mmr.set_table_replicated('scratch', false);

\echo == writes: a transaction, an update, a delete, an excluded table
BEGIN;
INSERT INTO accounts VALUES (1, 'alice', 100), (2, 'bob', 50);
UPDATE accounts SET balance = balance - 10 WHERE id = 1;
COMMIT;
INSERT INTO scratch VALUES (1);
DELETE FROM accounts WHERE id = 2;

\echo == what the mmr output plugin streams to peers (mmr.decode_message)
SELECT lsn, mmr.decode_message(data) AS message
  FROM pg_logical_slot_get_binary_changes('demo', NULL, NULL, 'binary', 'off');
SELECT pg_drop_replication_slot('demo');
SQL
echo "== demo finished"
