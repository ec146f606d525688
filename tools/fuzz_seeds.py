#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz harnesses (tests/fuzz/corpus/): small
valid files of each format and a few of the corrupt kinds the readers must
refuse. Needs only the Python standard library. Run from the top directory:

    python3 tools/fuzz_seeds.py
"""
import gzip
import json
import math
import os
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(kind, name, data):
    d = os.path.join(CORPUS, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx_seeds():
    images = struct.pack(">IIII", 0x803, 3, 4, 4) + bytes(range(48))
    labels = struct.pack(">II", 0x801, 3) + bytes([0, 7, 9])
    put("idx", "images.idx3", images)
    put("idx", "labels.idx1", labels)
    put("idx", "images.idx3.gz", gzip.compress(images, mtime=0))
    put("idx", "labels.idx1.gz", gzip.compress(labels, mtime=0))
    put("idx", "truncated.idx3", images[:30])
    put("idx", "overlong.idx1", labels + b"\0")
    put("idx", "huge_count.idx3", struct.pack(">IIII", 0x803, 0xFFFFFFFF, 4096, 4096))
    put("idx", "bad_magic", struct.pack(">II", 0x802, 1) + b"\1")
    put("idx", "truncated.gz", gzip.compress(images, mtime=0)[:25])


# The tensors of tests/runtime/tiny_net.c, the net the harness loads into.
TINY = [("conv1.weight", [4, 1, 3, 3]), ("conv1.bias", [4]),
        ("batchnorm1.weight", [4]), ("batchnorm1.bias", [4]),
        ("batchnorm1.running_mean", [4]), ("batchnorm1.running_var", [4]),
        ("linear1.weight", [10, 64]), ("linear1.bias", [10])]


def safetensors(tensors, meta=None):
    header, data = {}, b""
    for name, shape, values in tensors:
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        header["__metadata__"] = meta
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def tiny(change=None):
    out = []
    for name, shape in TINY:
        n = math.prod(shape)
        values = [((i * 7919) % 13 - 6) / 10.0 for i in range(n)]
        if name.endswith("running_var"):
            values = [1.0] * n
        if change and change[0] == name:
            values[0] = change[1]
        out.append((name, shape, values))
    return out


def safetensors_seeds():
    meta = {"net": "tiny", "netc_hash": "74696e792d6e6574", "epoch": "2", "step": "8",
            "seed": "3", "format": "netc-checkpoint-1",
            "history": "train 0.5,2.1,0.3 1,1.9,0.4; test 1,0.45"}
    put("safetensors", "tiny.safetensors", safetensors(tiny(), meta))
    put("safetensors", "tiny_nometa.safetensors", safetensors(tiny()))
    put("safetensors", "tiny_nan.safetensors", safetensors(tiny(("conv1.bias", math.nan))))
    put("safetensors", "tiny_negvar.safetensors",
        safetensors(tiny(("batchnorm1.running_var", -1.0))))
    put("safetensors", "empty.safetensors", safetensors([]))
    good = safetensors(tiny(), meta)
    put("safetensors", "truncated.safetensors", good[:200])
    put("safetensors", "huge_header", struct.pack("<Q", 1 << 62) + b"{}")
    put("safetensors", "bad_json", struct.pack("<Q", 8) + b'{"a":[1,')


def npy(descr, shape, payload, version=1, fortran=False):
    text = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False",
        "(%s)" % "".join("%d, " % d for d in shape) if len(shape) != 1 else "(%d,)" % shape[0])
    pre = 10 if version == 1 else 12
    pad = -(pre + len(text) + 1) % 64
    text = (text + " " * pad + "\n").encode()
    head = b"\x93NUMPY" + bytes([version, 0])
    head += struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return head + text + payload


def npy_seeds():
    floats = struct.pack("<6f", 0, 1, 2, 3, 4, 5)
    put("npy", "f4_2x3.npy", npy("<f4", [2, 3], floats))
    put("npy", "f4_6.npy", npy("<f4", [6], floats))
    put("npy", "v2.npy", npy("<f4", [1, 1, 2, 3], floats, version=2))
    put("npy", "f8.npy", npy("<f8", [3], floats))
    put("npy", "fortran.npy", npy("<f4", [2, 3], floats, fortran=True))
    put("npy", "short.npy", npy("<f4", [2, 4], floats))
    put("npy", "scalar.npy", npy("<f4", [], floats[:4]))
    put("npy", "nul.npy", npy("<f4\0xx", [6], floats))


def net_seeds():
    for sub in ["nets", "nets/lib", "tests/compiler/bad"]:
        d = os.path.join(ROOT, sub)
        for name in sorted(os.listdir(d)):
            if name.endswith(".net"):
                prefix = sub.replace("/", "_") + "_"
                shutil.copy(os.path.join(d, name), os.path.join(CORPUS, "net", prefix + name))
    put("net", "nothing_to_train.net", b"net z() { input(1, 28, 28) flatten }\n")
    put("net", "relu_only.net", b"net r() { input(784) relu }\n")
    put("net", "mlp.net", b"net m(h = 64) {\n  input(1, 28, 28)\n  flatten\n"
        b"  linear(h) relu dropout(0.5)\n  linear(10)\n}\n")


if __name__ == "__main__":
    os.makedirs(os.path.join(CORPUS, "net"), exist_ok=True)
    idx_seeds()
    safetensors_seeds()
    npy_seeds()
    net_seeds()
