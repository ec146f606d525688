#!/usr/bin/env bash
# Inference libraries (`netc emit --inference`): size of the compiled object
# and latency per image at batch 1 (best and median of R runs, one thread),
# with -O3 and with -O3 -march=native; PyTorch's eval-mode latency on the
# same module (torch.set_num_threads(1), best of R) when Debian's torch is
# installed. Weights: the trainer's initial ones (timing does not depend on
# them). Not a test: nothing is asserted.
#
#   bench/infer.sh [--runs R] [--build DIR] [net ...]     (default: lenet resnet18)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=50
build=build
nets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) nets+=("$1"); shift ;;
  esac
done
[ ${#nets[@]} -gt 0 ] || nets=(lenet resnet18)

[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
meson compile -C "$build" >/dev/null
netc="$PWD/$build/compiler/netc"
out="$build/bench/infer"
mkdir -p "$out"
cc=${CC:-cc}
have_torch=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then have_torch=1; fi

printf '%-10s %-20s %12s %14s %14s\n' net flags "object" "best us/img" "median us/img"
for net in "${nets[@]}"; do
  "$netc" build "nets/$net.net" -o "$out/trainer_$net" >/dev/null
  "$out/trainer_$net" --epochs 0 --save "$out/$net.safetensors" --quiet
  "$netc" emit --inference "nets/$net.net" -o "$out/$net.c" >/dev/null
  "$netc" emit --pytorch "nets/$net.net" -o "$out/$net.py"
  upper=$(echo "$net" | tr a-z A-Z)
  for flags in "-O3" "-O3 -march=native"; do
    # shellcheck disable=SC2086
    $cc -std=c11 $flags -c "$out/$net.c" -o "$out/$net.o"
    size=$(size "$out/$net.o" | awk 'NR == 2 { print $4 }')
    # shellcheck disable=SC2086
    $cc -std=c11 $flags -DNET="$net" -DNET_UPPER="$upper" -DNET_HEADER="\"$net.h\"" \
      -I"$out" "$out/$net.o" bench/infer_latency.c -lm -o "$out/latency_$net"
    read -r best median < <("$out/latency_$net" "$out/$net.safetensors" "$runs")
    printf '%-10s %-20s %12s %14s %14s\n' "$net" "$flags" "$size B" "$best" "$median"
  done
  if [ $have_torch = 1 ]; then
    read -r best median < <(/usr/bin/python3 - "$out/$net.py" "$net" "$runs" <<'PY'
import importlib.util, sys, time, torch
path, net, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = importlib.util.spec_from_file_location(net, path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
model = getattr(mod, net)().eval()
torch.set_num_threads(1)
x = torch.rand(1, *model.input_shape)
t = []
with torch.no_grad():
    for k in range(3 + runs):
        t0 = time.perf_counter()
        model(x)
        t.append(time.perf_counter() - t0)
t = sorted(t[3:])
print(f'{1e6 * t[0]:.1f} {1e6 * t[len(t) // 2]:.1f}')
PY
    )
    printf '%-10s %-20s %12s %14s %14s\n' "$net" "pytorch 1 thread" "-" "$best" "$median"
  fi
done
