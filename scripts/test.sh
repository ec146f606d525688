#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors,
# runs all suites (compiler, runtime, e2e), then the compiler and runtime
# suites again under AddressSanitizer and UndefinedBehaviorSanitizer, then
# checks that an installed netc builds a working trainer (and a data-parallel
# one that runs under mpirun).
# Ends with the line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

passed=0
failed=0
summary() {  # adds meson's "Ok:" and failure counts from a test log
  local log=$1 ok bad
  ok=$(grep -E '^Ok:' "$log" | awk '{s += $2} END {print s + 0}')
  bad=$(grep -E '^(Fail|Unexpected Pass|Timeout):' "$log" | awk '{s += $NF} END {print s + 0}')
  passed=$((passed + ok))
  failed=$((failed + bad))
  if grep -qE '^Skipped: *[1-9]' "$log"; then
    echo "test.sh: some tests were skipped; they are not counted as passed"
  fi
}

configure() {  # dir, options...
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@"
  fi
}

status=0
configure build-test -Dwerror=true
meson compile -C build-test
meson test -C build-test --print-errorlogs 2>&1 | tee build-test/test-summary.txt || status=1
summary build-test/test-summary.txt

configure build-asan -Dwerror=true -Dbuildtype=debug -Db_sanitize=address,undefined \
  -Db_lundef=false
meson compile -C build-asan
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --suite compiler --suite runtime 2>&1 |
  tee build-asan/test-summary.txt || status=1
summary build-asan/test-summary.txt

# netc build after meson install: the installed compiler finds the installed
# runtime and the trainer it builds trains (counted as one test)
prefix=$PWD/build-install/prefix
rm -rf build-install
if meson setup build-install --prefix="$prefix" -Dtests=false >/dev/null &&
   meson install -C build-install >/dev/null &&
   "$prefix/bin/netc" build "$prefix/share/netc/nets/lenet_bn.net" -o build-install/lenet_bn &&
   build-install/lenet_bn --epochs 1 --limit-train 1000 --limit-test 200 --quiet \
     --log build-install/lenet_bn.jsonl &&
   grep -q '"test_acc"' build-install/lenet_bn.jsonl; then
  echo "install: OK (installed netc built and ran a trainer)"
  passed=$((passed + 1))
else
  echo "install: FAIL"
  failed=$((failed + 1))
fi

# the same for a data-parallel trainer: installed netc build --mpi, then
# mpirun with 2 processes (counted as one test)
asroot=()
[ "$(id -u)" -ne 0 ] || asroot=(--allow-run-as-root)
if "$prefix/bin/netc" build --mpi "$prefix/share/netc/nets/lenet_bn.net" \
     -o build-install/lenet_bn_mpi >/dev/null &&
   timeout 300 mpirun "${asroot[@]}" --oversubscribe -np 2 build-install/lenet_bn_mpi --epochs 1 \
     --limit-train 1000 --limit-test 200 --threads 1 --log build-install/lenet_bn_mpi.jsonl \
     >/dev/null &&
   grep -q '"test_acc"' build-install/lenet_bn_mpi.jsonl; then
  echo "install: OK (installed netc built and ran a trainer under mpirun -np 2)"
  passed=$((passed + 1))
else
  echo "install: FAIL (netc build --mpi, mpirun -np 2)"
  failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
