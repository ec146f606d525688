#!/usr/bin/env bash
# Training throughput of every network in nets/ at its seed settings (batch
# size, input size), netc's generated trainer beside PyTorch on the same
# module with the same thread count, measured in one run.
#
#   bench/run.sh [--steps N] [--threads T] [--build DIR] [net ...]
#
# Each trainer is built with `netc build` and timed with `--benchmark N`
# (2 warm-up steps, then N steps on real Fashion-MNIST batches, data
# preparation included). PyTorch (Debian's python3-torch, /usr/bin/python3)
# runs bench/torch_bench.py: the seed's module, N steps on a random batch after
# 2 warm-up steps, torch.set_num_threads(T). Not a test: nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

steps=5
threads=$(nproc)
build=build
nets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) nets+=("$1"); shift ;;
  esac
done
[ ${#nets[@]} -gt 0 ] || nets=(lenet lenet_bn alexnet vgg nin googlenet resnet18)

[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
meson compile -C "$build" >/dev/null
netc="$build/compiler/netc"
out="$build/bench"
mkdir -p "$out"

have_torch=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then have_torch=1; fi

# batch size and input size of the seed's run, from the net's train(...)
settings() {
  local file=nets/$1.net batch size
  batch=$(grep -o 'batch_size = [0-9]*' "$file" | grep -o '[0-9]*$')
  size=$("$netc" shapes --json "$file" | grep -o '"input": \[[0-9, ]*\]' | grep -o '[0-9]*\]$' | tr -d ']')
  echo "$batch $size"
}

printf 'machine: %s, %s cores; threads %s; %s timed steps\n' \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$(nproc)" "$threads" "$steps"
printf '%-10s %6s %5s %14s %14s %8s\n' net batch size "netc img/s" "torch img/s" ratio
for net in "${nets[@]}"; do
  read -r batch size < <(settings "$net")
  "$netc" build -o "$out/$net" "nets/$net.net" >/dev/null
  ours=$("$out/$net" --benchmark "$steps" --threads "$threads" | grep -o '[0-9.]* images/sec' | cut -d' ' -f1)
  theirs=-
  ratio=-
  if [ $have_torch = 1 ]; then
    theirs=$(/usr/bin/python3 bench/torch_bench.py "$net" --batch-size "$batch" --size "$size" \
               --threads "$threads" --steps "$steps" | awk '{print $6}')
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2fx", a / b}')
  fi
  printf '%-10s %6s %5s %14s %14s %8s\n' "$net" "$batch" "$size" "$ours" "$theirs" "$ratio"
done
