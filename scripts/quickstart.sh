#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build
# netc, print the shapes of BN-LeNet, build its trainer and train it for two
# epochs on the real Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

net=nets/lenet_bn.net
netc=build/compiler/netc
echo
echo "== $netc shapes $net"
"$netc" shapes "$net"
echo
echo "== $netc build $net -o build/lenet_bn"
"$netc" build "$net" -o build/lenet_bn
echo
echo "== build/lenet_bn --epochs 2 (Fashion-MNIST from /usr/share/datasets/fashion-mnist)"
build/lenet_bn --epochs 2 --plot build/lenet_bn.svg --log build/lenet_bn.jsonl \
  --save build/lenet_bn.safetensors
