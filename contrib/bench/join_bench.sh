#!/usr/bin/env bash
# join_bench.sh — seconds for mmr.group_join (with the data copy) of a
# pgbench database, against a plain single-stream "pg_dump -Fc | pg_restore"
# of the same database, on the same machine in the same run (issue 7: the
# join may take at most 1.2 times the dump and restore).
#
#   contrib/bench/join_bench.sh
#
# BENCH_SCALE   pgbench scale (default 70: about 1 GB)
# BENCH_RUNNER  what runs scripts/test.sh (default ./scripts/test.sh; on a
#               machine shared by several worktrees, /work/tools/mmr-test,
#               which holds the install lock)
#
# It runs test/bench/join_bench.pl through scripts/test.sh, which builds and
# installs mmr first: three throw-away test servers with mmr's settings
# (PostgreSQL::Test::Cluster: fsync off).  pgbench -i on a, group_create;
# b joins a (timed from mmr.group_join to mmr.wait_for_join returning); then
# pg_dump -Fc a | pg_restore into c (timed).  Prints both, the ratio, and the
# join worker's own timing of each step (its log line "Steps of this
# worker").
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
scale=${BENCH_SCALE:-70}
[[ "$scale" =~ ^[1-9][0-9]*$ ]] || { echo "join_bench: BENCH_SCALE must be a positive integer" >&2; exit 1; }
runner=${BENCH_RUNNER:-./scripts/test.sh}

if ! out=$(MMR_JOIN_BENCH_SCALE=$scale MMR_TESTS=tap \
           PROVE_TESTS=test/bench/join_bench.pl $runner 2>&1); then
  echo "$out" | tail -n 40 >&2
  echo "join_bench: the benchmark failed" >&2
  exit 1
fi
grep -E '^# ' <<<"$out" | sed 's/^# //' | grep -vE '^(Looks like|Tests were run)'
