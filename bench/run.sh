#!/usr/bin/env bash
# Training throughput of every network in nets/ at its seed settings (batch
# size, input size), netc's generated trainer beside PyTorch at its best
# setting on the same module, measured in one run.
#
#   bench/run.sh [--steps N] [--threads T] [--rounds R] [--build DIR] [net ...]
#
# Each trainer is built with `netc build` and timed with `--benchmark N`
# (2 warm-up steps, then N steps on real Fashion-MNIST batches, data
# preparation included; R runs, the fastest counts). PyTorch (Debian's
# python3-torch, /usr/bin/python3) runs bench/torch_bench.py: the seed's
# module, N steps on a random batch after 2 warm-up steps, OpenBLAS pinned to
# one thread before torch loads, at 1 and at T torch threads; the faster
# setting is PyTorch's figure. The R rounds alternate netc and PyTorch (one
# trainer run, then one torch_bench.py round at each setting), so a machine
# whose speed drifts slows both alike. Not a test: nothing is asserted.
#
# GFLOP/s is netc's training arithmetic rate: 3 x the forward FLOPs per image
# of `netc shapes --json` (a multiply-add counts 2; backward is counted as
# twice forward, the usual convention) x images/s. "roof" is that rate as a
# share of the machine's FMA peak measured by bench/roof (built by meson as
# DIR/bench/roof), which prints a table whose rows are `ISA THREADS GFLOPS
# WALL_GFLOPS`, e.g.
#     avx512          2        421.0         40.0
# (GFLOPS from each thread's CPU time, i.e. the peak of the cores when they
# run; WALL_GFLOPS is lower on a busy machine). The share is of the avx512
# row (avx2 if there is none) with THREADS = T (the largest THREADS <= T if
# there is no such row). Without bench/roof the column says "-" and the
# header "roof: not measured".
set -euo pipefail
cd "$(dirname "$0")/.."

steps=5
threads=$(nproc)
rounds=1
build=build
nets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
    *) nets+=("$1"); shift ;;
  esac
done
[ ${#nets[@]} -gt 0 ] || nets=(lenet lenet_bn alexnet vgg nin googlenet resnet18)

[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
meson compile -C "$build" -j2 >/dev/null
netc="$build/compiler/netc"
out="$build/bench"
mkdir -p "$out"

have_torch=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then have_torch=1; fi

# The FMA roof for this thread count, GFLOP/s, or empty.
roof=""
roof_what="roof: not measured (no $build/bench/roof)"
if [ -x "$build/bench/roof" ]; then
  lines=$("$build/bench/roof")
  for isa in avx512 avx2; do
    read -r at roof < <(awk -v i="$isa" -v t="$threads" \
      '$1 == i && $2 ~ /^[0-9]+$/ && $2 <= t && $2 > best {best = $2; g = $3}
       END {if (best) print best, g}' <<<"$lines") || true
    if [ -n "$roof" ]; then
      roof_what="roof: $isa FMA peak at $at thread(s) $roof GFLOP/s (bench/roof, CPU time)"
      break
    fi
  done
fi

# batch size, input size and forward FLOPs per example of the seed's run
settings() {
  local file=nets/$1.net json batch size flops
  json=$("$netc" shapes --json "$file")
  batch=$(grep -o 'batch_size = [0-9]*' "$file" | grep -o '[0-9]*$')
  size=$(grep -o '"input": \[[0-9, ]*\]' <<<"$json" | grep -o '[0-9]*\]$' | tr -d ']')
  flops=$(grep -o '"flops": [0-9]*' <<<"$json" | head -1 | grep -o '[0-9]*$')
  echo "$batch $size $flops"
}

printf 'machine: %s, %s cores; threads %s; %s timed steps, best of %s\n' \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$(nproc)" "$threads" \
  "$steps" "$rounds"
printf '%s\n' "$roof_what"
if [ $have_torch = 1 ]; then
  printf 'PyTorch %s: OpenBLAS 1 thread, best of torch threads 1 and %s (column "at")\n' \
    "$(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null)" "$threads"
else
  printf 'PyTorch: not installed (/usr/bin/python3 cannot import torch)\n'
fi
printf 'GFLOP/s: training FLOPs = 3 x forward FLOPs per image (multiply-add = 2)\n'
printf '%-10s %6s %5s %11s %11s %11s %3s %7s %8s %6s\n' net batch size "netc img/s" \
  "torch t=1" "torch t=$threads" at ratio GFLOP/s roof
for net in "${nets[@]}"; do
  read -r batch size flops < <(settings "$net")
  "$netc" build -o "$out/$net" "nets/$net.net" >/dev/null
  # rounds alternate netc and PyTorch, so that a machine whose speed drifts
  # (a shared VM) slows both sides alike; each side's best round counts
  ours=0 t1=- tn=- at=- ratio=-
  [ $have_torch = 0 ] || { t1=0; tn=0; }
  for _ in $(seq "$rounds"); do
    r=$("$out/$net" --benchmark "$steps" --threads "$threads" | grep -o '[0-9.]* images/sec' | cut -d' ' -f1)
    ours=$(awk -v a="$ours" -v b="$r" 'BEGIN {print (b > a ? b : a)}')
    if [ $have_torch = 1 ]; then
      read -r _ _ _ _ _ r1 _ rn _ _ _ < <(/usr/bin/python3 bench/torch_bench.py "$net" \
        --batch-size "$batch" --size "$size" --threads "$threads" --steps "$steps" --rounds 1)
      t1=$(awk -v a="$t1" -v b="$r1" 'BEGIN {print (b > a ? b : a)}')
      tn=$(awk -v a="$tn" -v b="$rn" 'BEGIN {print (b > a ? b : a)}')
    fi
  done
  if [ $have_torch = 1 ]; then
    read -r at best < <(awk -v a="$t1" -v b="$tn" -v t="$threads" \
      'BEGIN {if (b > a) print t, b; else print 1, a}')
    ratio=$(awk -v a="$ours" -v b="$best" 'BEGIN {printf "%.2fx", a / b}')
  fi
  gflops=$(awk -v r="$ours" -v f="$flops" 'BEGIN {printf "%.1f", 3 * f * r / 1e9}')
  share=-
  [ -z "$roof" ] || share=$(awk -v g="$gflops" -v p="$roof" 'BEGIN {printf "%.0f%%", 100 * g / p}')
  printf '%-10s %6s %5s %11s %11s %11s %3s %7s %8s %6s\n' "$net" "$batch" "$size" "$ours" \
    "$t1" "$tn" "$at" "$ratio" "$gflops" "$share"
done
