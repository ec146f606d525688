#!/usr/bin/env python3
"""Converts CIFAR-10's python pickles (the cifar-10-python.tar.gz download,
unpacked: cifar-10-batches-py/data_batch_1..5 and test_batch) into the NumPy
files a netc trainer's --data DIR reads:

    train_images.npy  uint8 [50000, 3, 32, 32]   (N x C x H x W)
    train_labels.npy  uint8 [50000]
    test_images.npy   uint8 [10000, 3, 32, 32]
    test_labels.npy   uint8 [10000]

usage: tools/cifar10_to_npy.py SRC_DIR OUT_DIR
SRC_DIR is cifar-10-batches-py (or the .tar.gz itself). Needs only numpy.
"""
import os
import pickle
import sys
import tarfile

import numpy as np


def batches(src):
    """(name, dict) of every batch file, from a directory or the tarball."""
    names = ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]
    if os.path.isdir(src):
        for n in names:
            with open(os.path.join(src, n), "rb") as f:
                yield n, pickle.load(f, encoding="bytes")
    else:
        with tarfile.open(src) as tar:
            for n in names:
                f = tar.extractfile("cifar-10-batches-py/" + n)
                yield n, pickle.load(f, encoding="bytes")


def convert(src, out):
    train_x, train_y, test_x, test_y = [], [], None, None
    for name, d in batches(src):
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(d[b"labels"], dtype=np.uint8)
        if len(x) != len(y):
            sys.exit("%s: %d images but %d labels" % (name, len(x), len(y)))
        if name == "test_batch":
            test_x, test_y = x, y
        else:
            train_x.append(x)
            train_y.append(y)
    os.makedirs(out, exist_ok=True)
    arrays = {"train_images": np.concatenate(train_x), "train_labels": np.concatenate(train_y),
              "test_images": test_x, "test_labels": test_y}
    for k, v in arrays.items():
        np.save(os.path.join(out, k + ".npy"), v)
        print("wrote %s %s %s" % (os.path.join(out, k + ".npy"), v.dtype, list(v.shape)))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    convert(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
