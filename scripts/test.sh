#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors,
# runs all suites (compiler, runtime, e2e), then the compiler and runtime
# suites again under AddressSanitizer and UndefinedBehaviorSanitizer.
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

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
