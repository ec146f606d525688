#!/usr/bin/env bash
# Installs the Debian 12 packages netc needs to build, test and train.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build  # toolchain
  flex bison                                    # the .net front end
  libopenblas-dev zlib1g-dev                    # the runtime
  check valgrind                                # tests
  libopenmpi-dev openmpi-bin                    # data-parallel trainers (netc build --mpi)
  dataset-fashion-mnist                         # the training data
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
