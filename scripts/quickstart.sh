#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build
# netc, compile a network and print its shapes.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

net=nets/lenet_bn.net
echo
echo "== netc shapes $net"
build/compiler/netc shapes "$net"
