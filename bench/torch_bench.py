"""PyTorch's training throughput on the seed networks, for bench/run.sh.

    /usr/bin/python3 bench/torch_bench.py NET --batch-size B --size S --threads T
                                          [--warmup W] [--steps N] [--set name=value]

Builds the seed's module (tools/seed_models.py, the same network as
nets/NET.net), and times N training steps (forward, cross-entropy, backward,
SGD step with lr 0.01) on a fixed random batch after W warm-up steps, with
torch.set_num_threads(T). Prints one line: `torch NET B S T images_per_sec`.
"""
import argparse
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tools'))
import seed_models  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('net')
    ap.add_argument('--batch-size', type=int, required=True)
    ap.add_argument('--size', type=int, required=True)
    ap.add_argument('--threads', type=int, required=True)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--set', action='append', default=[], help='builder argument name=value')
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    kwargs = {}
    for kv in a.set:
        k, v = kv.split('=', 1)
        kwargs[k] = int(v)
    builder = seed_models.NETS[a.net][0]
    if a.net not in ('lenet', 'lenet_bn'):
        kwargs.setdefault('size', a.size)
    model = builder(**kwargs)
    model.train()
    x = torch.rand(a.batch_size, 1, a.size, a.size)
    y = torch.randint(0, 10, (a.batch_size,))
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    print('torch %s %d %d %d %.2f' % (a.net, a.batch_size, a.size, a.threads,
                                     a.steps * a.batch_size / dt))


if __name__ == '__main__':
    main()
