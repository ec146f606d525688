"""PyTorch's training throughput on the seed networks, for bench/run.sh.

    /usr/bin/python3 bench/torch_bench.py NET --batch-size B --size S --threads T
                                          [--warmup W] [--steps N] [--rounds R]
                                          [--set name=value]

Builds the seed's module (tools/seed_models.py, the same network as
nets/NET.net), and times N training steps (forward, cross-entropy, backward,
SGD step with lr 0.01) on a fixed random batch after W warm-up steps.

PyTorch gets its best setting, not its default one: OpenBLAS (which Debian's
torch uses for linear layers) is pinned to one thread *before* torch is
imported, so its own thread pool never competes with torch's OpenMP team; then
the steps are timed with torch.set_num_threads(1) and with
torch.set_num_threads(T), R rounds each (alternating, the best round counts:
the machine is shared), and the faster setting is the result. Prints one line:

    torch NET B S t1 IMG_S_AT_1 tT IMG_S_AT_T best T_BEST IMG_S_BEST

(images per second; tT is e.g. t2).
"""
import os

# Before torch loads: OpenBLAS reads this once, at library load.
os.environ['OPENBLAS_NUM_THREADS'] = '1'
os.environ['MKL_NUM_THREADS'] = '1'

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

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
    ap.add_argument('--rounds', type=int, default=1)
    ap.add_argument('--set', action='append', default=[], help='builder argument name=value')
    a = ap.parse_args()

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

    def timed(threads):
        torch.set_num_threads(threads)
        for _ in range(a.warmup):
            step()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        return a.steps * a.batch_size / (time.perf_counter() - t0)

    settings = sorted({1, a.threads})
    best = {t: 0.0 for t in settings}
    for _ in range(a.rounds):
        for t in settings:
            best[t] = max(best[t], timed(t))
    top = max(settings, key=lambda t: best[t])
    print('torch %s %d %d t1 %.2f t%d %.2f best %d %.2f' % (
        a.net, a.batch_size, a.size, best[1], a.threads, best[a.threads], top, best[top]))


if __name__ == '__main__':
    main()
