#!/usr/bin/env bash
# The convolutions of a net against the machine's FMA roof, from --profile:
# each conv layer's forward and backward GFLOP/s as a share of bench/roof's
# AVX-512 figure (AVX2 if the CPU has no AVX-512) at the same thread count,
# and their FLOP-weighted means (the time-weighted rate: total conv FLOPs
# over total conv time). The issue-8 target is 60% for AlexNet, VGG and
# ResNet-18. Not a test: nothing is asserted.
#
#   bench/convs.sh [--steps N] [--threads T] [--build DIR] [net ...]
#
# Each trainer runs `--benchmark N --profile` (default 3 steps after 2
# warm-up, the seed's batch size). A conv's backward FLOPs count the input
# gradient only where one is computed (the first conv has none).
set -euo pipefail
cd "$(dirname "$0")/.."

steps=3
threads=$(nproc)
build=build
nets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
    *) nets+=("$1"); shift ;;
  esac
done
[ ${#nets[@]} -gt 0 ] || nets=(alexnet vgg resnet18)

[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
meson compile -C "$build" -j2 >/dev/null
out="$build/bench"
mkdir -p "$out"

roof=$("$build/bench/roof" | awk -v t="$threads" '
  ($1 == "avx512" || $1 == "avx2") && $2 ~ /^[0-9]+$/ && $2 <= t {
    if (!($1 in best) || $2 > bt[$1]) { bt[$1] = $2; best[$1] = $3 } }
  END { if ("avx512" in best) print "avx512", best["avx512"]; else if ("avx2" in best) print "avx2", best["avx2"] }')
read -r isa peak <<<"$roof"
printf 'roof: %s FMA peak %s GFLOP/s at %s thread(s) (bench/roof)\n' "$isa" "$peak" "$threads"

for net in "${nets[@]}"; do
  "$build/compiler/netc" build -o "$out/$net" "nets/$net.net" >/dev/null
  "$out/$net" --benchmark "$steps" --threads "$threads" --profile |
    awk -v net="$net" -v peak="$peak" '
      # rows: path op fwd_ms bwd_ms share fwd_gfs bwd_gfs
      $2 == "conv2d" && NF >= 7 {
        n++; f = $3; b = $4; gf = $6; gb = $7
        tf += f; tb += b; ff += f * gf; fb += b * gb
        pf = 100 * gf / peak; pb = 100 * gb / peak
        if (n == 1 || pf < minf) minf = pf
        if (n == 1 || pb < minb) minb = pb
        if (pf >= 60) okf++
        if (pb >= 60) okb++
      }
      END {
        if (!n) { printf "%-9s no conv layers\n", net; exit }
        printf "%-9s %2d convs  forward %5.1f%% of roof (worst %4.1f%%, %d at 60%%+)  " \
               "backward %5.1f%% (worst %4.1f%%, %d at 60%%+)\n", net, n,
               100 * ff / tf / peak, minf, okf, 100 * fb / tb / peak, minb, okb
      }'
done
