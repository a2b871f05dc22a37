#!/usr/bin/env bash
# Prints the postgresql.conf lines every mmr server needs (tests and demo).
# output_plugin_libraries exists only from 15.19 on; older servers reject it.
set -euo pipefail
bindir=$(pg_config --bindir)
cat <<CONF
shared_preload_libraries = 'mmr'
wal_level = logical
track_commit_timestamp = on
max_replication_slots = 16
max_wal_senders = 16
max_worker_processes = 24
CONF
settings=$("$bindir/postgres" --describe-config 2>/dev/null | cut -f1)
if grep -qx 'output_plugin_libraries' <<<"$settings"; then
  echo "output_plugin_libraries = 'pgoutput, test_decoding, mmr'"
fi
