#!/bin/sh
# small_data.sh DIR: the first 300 training and 100 test examples of the
# real Fashion-MNIST as raw IDX files in DIR, so that a trainer starts in
# milliseconds (tests/e2e/test_hardening.c).
set -eu
src=/usr/share/datasets/fashion-mnist
mkdir -p "$1"
for split in train t10k; do
  if [ $split = train ]; then n=300 count='\000\000\001\054'; else n=100 count='\000\000\000\144'; fi
  { printf '\000\000\010\003'; printf "$count"; printf '\000\000\000\034\000\000\000\034'
    gzip -dc "$src/$split-images-idx3-ubyte.gz" | tail -c +17 | head -c $((n * 784)); } \
    >"$1/$split-images-idx3-ubyte"
  { printf '\000\000\010\001'; printf "$count"
    gzip -dc "$src/$split-labels-idx1-ubyte.gz" | tail -c +9 | head -c $n; } \
    >"$1/$split-labels-idx1-ubyte"
done
