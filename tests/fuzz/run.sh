#!/usr/bin/env bash
# Fuzzes each reader of outside input with libFuzzer: the .net front end,
# IDX, safetensors and .npy. Builds the harnesses with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer in build-fuzz/ (installing Debian's clang and
# libclang-rt-14-dev if missing), then runs each for SECONDS (default 120) on
# one core, starting from tests/fuzz/corpus/NAME. New interesting inputs go to
# build-fuzz/corpus/NAME (merge the useful ones into the seed corpus by hand);
# a crash leaves build-fuzz/crash-NAME-* and makes the script exit 1.
#
#   tests/fuzz/run.sh [--seconds N] [net|idx|safetensors|npy ...]
#
# Not part of scripts/test.sh (it runs for minutes); the seed corpus itself is
# replayed by every test run (tests replay_NAME).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=120
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    net|idx|safetensors|npy) targets+=("$1"); shift ;;
    *) echo "usage: tests/fuzz/run.sh [--seconds N] [net|idx|safetensors|npy ...]" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(net idx safetensors npy)

missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "fuzz: installing ${missing[*]}"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -f build-fuzz/build.ninja ]; then  # coverage of every file, libFuzzer in the harnesses
  CC=clang meson setup build-fuzz -Dfuzz=true -Dbuildtype=debug \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
meson compile -C build-fuzz -j2 $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}") >/dev/null

status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  echo "fuzz: $t for $seconds s"
  log=build-fuzz/fuzz-$t.log
  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
     "build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
       -timeout=10 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="build-fuzz/crash-$t-" \
       "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" |
      sed "s/^/fuzz: $t: /"
    echo "fuzz: $t: $(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1); no crash"
  else
    echo "fuzz: $t: FAILED (see $log)"
    grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5 | sed "s/^/fuzz: $t: /"
    status=1
  fi
done
exit $status
