#!/usr/bin/env bash
# Runs every test of mmr: core unit tests (CTest), a bounded fuzz run of the
# decoder, pg_regress against a throw-away server, and the TAP multi-node tests.
# Sets the machine up first (scripts/setup.sh), so it works on a fresh Debian 12.
#
# Environment: MMR_FUZZ_SECONDS (default 60), MMR_TESTS="unit fuzz regress tap"
# to run a subset, PROVE_TESTS="test/t/001_x.pl" to run some TAP files.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

"$top/scripts/setup.sh" || { echo "setup failed"; exit 1; }

bindir=$(pg_config --bindir)
pgxs_dir=$(dirname "$(dirname "$(pg_config --pgxs)")")
suites=${MMR_TESTS:-unit fuzz regress tap}
passed=0
failed=0
failed_suites=()

record() {		# record SUITE PASSED FAILED
  passed=$((passed + $2)); failed=$((failed + $3))
  if [ "$3" -gt 0 ]; then failed_suites+=("$1"); fi
  echo "== $1: $2 passed, $3 failed"
}

# Servers refuse to run as root: when root, tests run as the postgres user in
# a scratch copy of the test files that it owns.
scratch=$(mktemp -d /tmp/mmr-test.XXXXXX)
cp -r sql expected test scripts "$scratch"/
mkdir -p "$scratch/tap"
scripts/server_conf.sh > "$scratch/server.conf"
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  chown -R postgres: "$scratch"
  run_as=(runuser -u postgres --)
fi
test_env=(env "PATH=$bindir:$PATH" "PG_REGRESS=$pgxs_dir/test/regress/pg_regress"
          "PERL5LIB=$pgxs_dir/test/perl:$scratch/test/perl"
          "MMR_SERVER_CONF=$scratch/server.conf" "TESTDIR=$scratch/tap")

run_unit() {
  cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DMMR_BUILD_TESTS=ON >/dev/null &&
    cmake --build build/test -j"$(nproc)" >/dev/null || { record unit 0 1; return; }
  local out; out=$(ctest --test-dir build/test --output-on-failure 2>&1); local rc=$?
  echo "$out" | tail -n 30
  local total; total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' <<<"$out" | tail -n1)
  local nfail; nfail=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' <<<"$out" | tail -n1)
  total=${total:-0}; nfail=${nfail:-0}
  if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then nfail=1; fi
  record unit $((total - nfail)) "$nfail"
}

run_fuzz() {
  CXX=clang++ CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DMMR_BUILD_FUZZ=ON -DMMR_BUILD_TESTS=OFF >/dev/null &&
    cmake --build build/fuzz --target mmr_fuzz_decoder -j"$(nproc)" >/dev/null ||
    { record fuzz 0 1; return; }
  # Building the target wrote the seed corpus into build/fuzz/corpus.
  if build/fuzz/mmr_fuzz_decoder -max_total_time="${MMR_FUZZ_SECONDS:-60}" \
       -print_final_stats=1 -artifact_prefix=build/fuzz/ build/fuzz/corpus \
       > build/fuzz/fuzz.log 2>&1; then
    grep -E 'stat::number_of_executed_units|Done' build/fuzz/fuzz.log | tail -n 2
    record fuzz 1 0
  else
    tail -n 40 build/fuzz/fuzz.log
    record fuzz 0 1
  fi
}

run_regress() {
  local tests; tests=$(cd sql && ls *.sql | sed 's/\.sql$//' | sort)
  local out
  out=$(cd "$scratch" && "${run_as[@]}" "${test_env[@]}" \
        "$pgxs_dir/test/regress/pg_regress" --temp-instance="$scratch/tmp_regress" \
        --temp-config="$scratch/server.conf" --inputdir="$scratch" \
        --outputdir="$scratch/regress" --bindir="$bindir" \
        --dbname=contrib_regression $tests 2>&1)
  local rc=$?
  echo "$out" | grep -E '^(ok|not ok|test |     |All|=+|.*tests (passed|failed))' | tail -n 60
  local total; total=$(echo "$tests" | wc -w)
  local nfail; nfail=$(grep -cE '^not ok|\.\.\. FAILED' <<<"$out")
  if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then nfail=$total; echo "$out" | tail -n 20; fi
  if [ -f "$scratch/regress/regression.diffs" ]; then
    rm -rf build/regress && mkdir -p build/regress
    cp -r "$scratch/regress/regression.diffs" "$scratch/regress/results" build/regress/
    head -n 200 build/regress/regression.diffs
    echo "(diffs and results copied to build/regress)"
  fi
  record regress $((total - nfail)) "$nfail"
}

run_tap() {
  local files=${PROVE_TESTS:-test/t/*.pl}
  local out
  out=$(cd "$scratch" && "${run_as[@]}" "${test_env[@]}" prove --timer $files 2>&1)
  local rc=$?
  echo "$out" | tail -n 40
  local total; total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' <<<"$out")
  local nfail; nfail=$(sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' <<<"$out" |
                       awk '{s+=$1} END {print s+0}')
  total=${total:-0}
  if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then nfail=1; fi
  if [ "$rc" -ne 0 ]; then
    mkdir -p build/tap-logs && cp -r "$scratch"/tap/tmp_check/log/* build/tap-logs/ 2>/dev/null
    echo "TAP logs copied to build/tap-logs"
  fi
  record tap $((total - nfail)) "$nfail"
}

for suite in $suites; do
  echo "== running $suite"
  "run_$suite"
done

rm -rf "$scratch"
[ ${#failed_suites[@]} -eq 0 ] || echo "failed suites: ${failed_suites[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
