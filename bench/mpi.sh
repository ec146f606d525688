#!/usr/bin/env bash
# Data-parallel training on this machine (Open MPI, mpirun): for every
# network in nets/ (or those named), the MPI_Allreduce time of its gradient
# (the trainer reduces its whole gradient arena in one call), then the
# training step time of its MPI trainer (netc build --mpi, --benchmark N at
# the seed's batch size) with 1 process of 1 thread, 2 processes of 1
# thread each (every process computes half of each batch), and, for
# reference, 1 process of 2 threads.
#
#   bench/mpi.sh [--steps N] [--reps N] [--no-steps] [--build DIR] [net ...]
#
# Not a test: nothing is asserted. On a shared machine the times are noisy;
# the allreduce lines give the fastest and the median of --reps repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."

steps=3
reps=20
run_steps=1
build=build
nets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --no-steps) run_steps=0; shift ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) nets+=("$1"); shift ;;
  esac
done
[ ${#nets[@]} -gt 0 ] || nets=(lenet lenet_bn alexnet vgg nin googlenet resnet18)
command -v mpirun >/dev/null && command -v mpicc >/dev/null ||
  { echo "bench/mpi.sh: needs Open MPI (scripts/install-deps.sh installs it)" >&2; exit 1; }

[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
meson compile -C "$build" >/dev/null
netc="$build/compiler/netc"
out="$build/bench"
mkdir -p "$out"
mpicc -O2 -o "$out/allreduce" bench/allreduce.c
mpirun=(mpirun --oversubscribe)
[ "$(id -u)" -ne 0 ] || mpirun+=(--allow-run-as-root)

# floats of the gradient arena: every tensor of the checkpoint (running
# statistics included), as `netc shapes --json` counts them
floats() { "$netc" shapes --json "nets/$1.net" | grep -o '"params": [0-9]*' | head -1 | grep -o '[0-9]*$'; }

printf 'machine: %s, %s cores; %s\n' \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$(nproc)" \
  "$(mpirun --version | head -1)"
echo
echo "MPI_Allreduce of each net's gradient, 2 processes on this machine ($reps repetitions):"
sizes=()
for net in "${nets[@]}"; do sizes+=("$(floats "$net")"); done
paste <(printf '%s\n' "${nets[@]}") <("${mpirun[@]}" -np 2 "$out/allreduce" --reps "$reps" "${sizes[@]}" | tail -n +2) |
  awk 'BEGIN {printf "%-10s %12s %9s %10s %10s %11s\n", "net", "floats", "MiB", "best ms", "median ms", "busbw GB/s"}
       {printf "%-10s %12s %9s %10s %10s %11s\n", $1, $2, $3, $4, $5, $6}'
[ $run_steps = 1 ] || exit 0

echo
echo "training step (--benchmark $steps after 2 warm-up steps), seconds per step:"
printf '%-10s %6s %12s %12s %12s %12s %9s\n' net batch "1 proc x 1" "2 procs x 1" "of which MPI" \
  "1 proc x 2" "speedup"
for net in "${nets[@]}"; do
  "$netc" build --mpi -o "$out/${net}_mpi" "nets/$net.net" >/dev/null
  batch=$(grep -o 'batch_size = [0-9]*' "nets/$net.net" | grep -o '[0-9]*$')
  # "(0.123 s/step)" or "(0.123 s/step; collectives 0.045 s/step)" -> "0.123 0.045"
  # one process of 2 threads must not be bound to one core (mpirun's default)
  step() { "${mpirun[@]}" --bind-to "$([ "$2" -gt 1 ] && echo none || echo core)" -np "$1" \
             "$out/${net}_mpi" --benchmark "$steps" --threads "$2" |
             grep -o '([0-9.]* s/step[^)]*)' | tr -d '();' | awk '{print $1, ($4 == "" ? "-" : $4)}'; }
  read -r p1 _ < <(step 1 1); read -r p2 c2 < <(step 2 1); read -r t2 _ < <(step 1 2)
  printf '%-10s %6s %12s %12s %12s %12s %8.2fx\n' "$net" "$batch" "$p1" "$p2" "$c2" "$t2" \
    "$(awk -v a="$p1" -v b="$p2" 'BEGIN {print a / b}')"
done
