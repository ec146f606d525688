#!/usr/bin/env python3
"""Scaling model of data-parallel training for the seed networks (README,
"Data-parallel training"): how a step of N nodes splits into compute and
communication, and the batch per node above which scaling stays over 80%.

One step on N nodes, each computing b examples, without overlap (the
trainers reduce the gradient after backward):

  compute   T_c  = b * t_ex                      t_ex: seconds per example on one node
  gradient  T_ar = 2 (N-1)/N * S / B + 2 (N-1) a  ring allreduce of S bytes
  BN sync   T_bn = 3 L * 2 log2(N) a              3 small allreduces per batch-norm
                                                  layer (recursive doubling)
  efficiency E = T_c / (T_c + T_ar + T_bn)

E >= 0.8 needs T_c >= 4 (T_ar + T_bn), so b >= 4 (T_ar + T_bn) / t_ex.

Inputs measured on this project's machine (a 2-core AMD EPYC; a node is one
such machine): t_ex from the throughputs of bench/run.sh in the README
(2 threads), S = 4 bytes per parameter (`netc shapes --json`), L batch-norm
layers. B = 10 or 100 Gbit/s; a = per-message latency, 25 us at 10 Gbit/s
(TCP) and 5 us at 100 Gbit/s (RDMA), assumed, not measured here.

  bench/scaling.py [--img-per-s NET=X ...]   (override a measured throughput)
"""
import math
import sys

# net: (parameters, batch-norm layers, seed batch, measured images/s with 2 threads)
NETS = {
    "lenet": (61706, 0, 256, 14571.7),
    "lenet_bn": (44878, 4, 256, 16454.7),
    "alexnet": (46764746, 0, 128, 29.7),
    "vgg": (43093322, 0, 128, 42.4),
    "nin": (1992166, 0, 128, 35.3),
    "googlenet": (5977530, 0, 128, 75.0),
    "resnet18": (11178378, 17, 256, 72.9),
}
LINKS = {"10 Gbit/s": (10e9 / 8, 25e-6), "100 Gbit/s": (100e9 / 8, 5e-6)}
NODES = (8, 16, 32, 64)


def comm_seconds(params, bn_layers, nodes, bandwidth, latency):
    size = 4.0 * params
    ring = 2.0 * (nodes - 1) / nodes * size / bandwidth + 2 * (nodes - 1) * latency
    bn = 3 * bn_layers * 2 * math.log2(nodes) * latency
    return ring + bn


def main(argv):
    for arg in argv:
        name, _, value = arg.partition("=")
        name = name.removeprefix("--img-per-s").lstrip(" ")
        if not value or name not in NETS:
            sys.exit(f"scaling.py: expected --img-per-s NET=X, got {arg!r}")
        p, l, b, _ = NETS[name]
        NETS[name] = (p, l, b, float(value))
    for link, (bandwidth, latency) in LINKS.items():
        print(f"{link}, latency {latency * 1e6:.0f} us")
        print(f"{'net':<10} {'grad MiB':>8} {'ms/img':>7}  " +
              "  ".join(f"{f'N={n}: comm ms, E@seed, b80':>27}" for n in NODES))
        for net, (params, bn_layers, batch, img_s) in NETS.items():
            t_ex = 1.0 / img_s
            cells = []
            for n in NODES:
                comm = comm_seconds(params, bn_layers, n, bandwidth, latency)
                per_node = batch / n  # the seed's global batch spread over n nodes
                eff = per_node * t_ex / (per_node * t_ex + comm)
                b80 = math.ceil(4 * comm / t_ex)
                cells.append(f"{comm * 1e3:9.1f} {eff * 100:5.0f}% {b80:5d} ({b80 * n:>6})")
            print(f"{net:<10} {4 * params / 2**20:8.1f} {t_ex * 1e3:7.2f}  " + "  ".join(cells))
        print()
    print("comm ms: T_ar + T_bn per step; E@seed: efficiency with the seed's global batch\n"
          "split over the N nodes; b80: examples per node for 80% (global batch in parentheses)")


if __name__ == "__main__":
    main(sys.argv[1:])
