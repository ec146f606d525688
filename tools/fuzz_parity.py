"""Differential testing of netc against PyTorch on random networks.

    /usr/bin/python3 tools/fuzz_parity.py [--netc build/compiler/netc] [--count N] [--seed S]

Generates random networks (conv with odd kernels, strides, paddings, groups
(depthwise too) and dilations, max pooling in floor and ceil mode, average
pooling, adaptive average and max pooling, batch, layer and group norm, every
activation, channel slices, dropout, concat and add joins with empty branches, flatten,
linear), writes each as a .net file and as the
equivalent PyTorch module, builds the trainer with netc and compares one
training step (dropout off) and the eval-mode logits with PyTorch in float64:
a network fails when netc is further than 1e-3 of a tensor's scale from the
float64 result, beyond 10 times PyTorch's own float32 error (a wrong kernel,
wiring or buffer plan shows as errors of order 1; below 1e-3 sit the layers
whose exact gradient is 0 by invariance, batch norm after batch norm, where
both sides return rounding noise).
Prints one line per network and keeps the failing ones (.net and weights)
in the current directory. A developer tool: it needs PyTorch.
"""
import argparse
import copy
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import parity  # noqa: E402


class Net(nn.Module):
    """Runs a list of ops; each op reads the current tensor or joins branches.
    Modules are registered in execution order, as netc orders its tensors."""

    def __init__(self, program):
        super().__init__()
        self.program = program
        self.mods = nn.ModuleList()
        self._register(program)

    def _register(self, ops):
        for op in ops:
            if op[0] in ('concat', 'add'):
                for branch in op[1]:
                    self._register(branch)
            elif isinstance(op[1], nn.Module):
                self.mods.append(op[1])

    def _run(self, ops, x):
        for op in ops:
            kind = op[0]
            if kind in ('concat', 'add'):
                outs = [self._run(b, x) for b in op[1]]
                if kind == 'concat':
                    x = torch.cat(outs, 1)
                else:
                    y = outs[0]
                    for o in outs[1:]:
                        y = y + o
                    x = y
            else:
                x = op[1](x)
        return x

    def forward(self, x):
        return self._run(self.program, x)


def activation(rng, ops):
    """A random activation appended to ops; returns its .net text."""
    a = rng.choice(['relu', 'sigmoid', 'tanh', 'leaky_relu', 'elu', 'silu', 'gelu',
                    'hardswish', 'softplus'])
    if a == 'leaky_relu':
        slope = rng.choice([0.01, 0.2, -0.1])
        ops.append(('m', nn.LeakyReLU(slope)))
        return 'leaky_relu(slope = %r)' % slope
    if a == 'elu':
        alpha = rng.choice([1.0, 0.5])
        ops.append(('m', nn.ELU(alpha)))
        return 'elu(alpha = %r)' % alpha
    if a == 'softplus':
        beta, threshold = rng.choice([(1, 20), (2, 1)])
        ops.append(('m', nn.Softplus(beta, threshold)))
        return 'softplus(beta = %d, threshold = %d)' % (beta, threshold)
    ops.append(('m', {'relu': nn.ReLU(), 'sigmoid': nn.Sigmoid(), 'tanh': nn.Tanh(),
                      'silu': nn.SiLU(), 'gelu': nn.GELU(), 'hardswish': nn.Hardswish()}[a]))
    return a


def gen_seq(rng, shape, depth, text, ops, keep_shape=False, keep_hw=False):
    """Appends a few random layers to text/ops; returns the new shape."""
    c, h, w = shape
    for _ in range(rng.randint(0, 3)):
        choice = rng.choice(['conv', 'conv', 'pool', 'bn', 'act', 'act', 'dropout', 'join',
                             'slice'])
        if choice == 'conv':
            k = rng.choice([1, 3, (1, 3), (3, 1)]) if (keep_shape or keep_hw) else rng.choice([1, 2, 3, 5, (1, 3), (3, 2)])
            kh, kw = (k, k) if isinstance(k, int) else k
            dil = rng.choice([1, 1, 1, 2])
            if keep_shape or keep_hw:  # odd kernels: 'same' padding
                s, p = 1, (dil * (kh - 1) // 2, dil * (kw - 1) // 2)
            else:
                s = rng.choice([1, 1, 2])
                p = (rng.randint(0, dil * (kh - 1) // 2 + (kh > 1)),
                     rng.randint(0, dil * (kw - 1) // 2 + (kw > 1)))
            groups = rng.choice([1, 1, 1] + [g for g in range(2, c + 1) if c % g == 0])
            oc = c if keep_shape else groups * rng.randint(1, max(1, 6 // groups))
            if oc % groups:
                groups = 1
            oh = (h + 2 * p[0] - dil * (kh - 1) - 1) // s + 1
            ow = (w + 2 * p[1] - dil * (kw - 1) - 1) // s + 1
            if oh < 1 or ow < 1:
                continue
            bias = rng.random() < 0.8
            text.append('conv(%d, %s, stride = %d, padding = (%d, %d), bias = %s%s%s)' % (
                oc, k if isinstance(k, int) else '(%d, %d)' % k, s, p[0], p[1],
                'true' if bias else 'false', ', groups = %d' % groups if groups > 1 else '',
                ', dilation = %d' % dil if dil > 1 else ''))
            ops.append(('m', nn.Conv2d(c, oc, (kh, kw), s, p, dilation=dil, groups=groups,
                                       bias=bias)))
            c, h, w = oc, oh, ow
        elif choice == 'pool':
            kind = rng.choice(['max', 'max', 'avg', 'adaptive_avg', 'adaptive_max'])
            if kind.startswith('adaptive'):
                oh, ow = (h, w) if keep_shape or keep_hw else (rng.randint(1, h + 1),
                                                                rng.randint(1, w + 1))
                text.append('%spool((%d, %d))' % (kind, oh, ow))
                ops.append(('m', (nn.AdaptiveAvgPool2d if kind == 'adaptive_avg'
                                  else nn.AdaptiveMaxPool2d)((oh, ow))))
                h, w = oh, ow
                continue
            ceil = False
            if keep_shape or keep_hw:
                k, s, p = 3, 1, 1
            else:
                k = rng.choice([2, 3])
                s = rng.choice([1, 2, 3])
                p = rng.randint(0, k // 2)
                ceil = kind == 'max' and rng.random() < 0.5

            def size(n):
                o = (-(-(n + 2 * p - k) // s) if ceil else (n + 2 * p - k) // s) + 1
                return o - 1 if ceil and (o - 1) * s >= n + p else o
            oh, ow = size(h), size(w)
            if h + 2 * p < k or w + 2 * p < k:
                continue
            text.append('%spool(%d, stride = %d, padding = %d%s)' % (
                kind, k, s, p, ', ceil_mode = true' if ceil else ''))
            ops.append(('m', nn.MaxPool2d(k, s, p, ceil_mode=ceil) if kind == 'max'
                        else nn.AvgPool2d(k, s, p)))
            h, w = oh, ow
        elif choice == 'bn':
            norm = rng.choice(['batchnorm', 'batchnorm', 'layernorm', 'groupnorm'])
            if norm == 'batchnorm':
                text.append('batchnorm')
                ops.append(('m', nn.BatchNorm2d(c)))
            elif norm == 'layernorm':
                text.append('layernorm')
                ops.append(('m', nn.LayerNorm([c, h, w])))
            else:
                g = rng.choice([g for g in range(1, c + 1) if c % g == 0])
                text.append('groupnorm(%d)' % g)
                ops.append(('m', nn.GroupNorm(g, c)))
        elif choice == 'act':
            text.append(activation(rng, ops))
        elif choice == 'slice':
            if keep_shape or c < 2:
                continue
            a = rng.randint(0, c - 1)
            b = rng.randint(a + 1, c)
            text.append('slice(%d, %d)' % (a, b))
            ops.append(('m', parity.seed_models.Slice(a, b)))
            c = b - a
        elif choice == 'dropout':
            text.append('dropout(0.3)')
            ops.append(('m', nn.Dropout(0.3)))
        elif choice == 'join' and depth < 2:
            # inside an add branch the shape must survive: no concat there
            kind = 'add' if keep_shape else rng.choice(['concat', 'add'])
            nb = rng.randint(2, 3)
            branches, btexts, shapes = [], [], []
            for _ in range(nb):
                bt, bo = [], []
                if kind == 'add' and rng.random() < 0.3:
                    s2 = (c, h, w)  # the identity
                else:
                    s2 = gen_seq(rng, (c, h, w), depth + 1, bt, bo,
                                 keep_shape=kind == 'add', keep_hw=kind == 'concat')
                branches.append(bo)
                btexts.append('branch { %s }' % ' '.join(bt))
                shapes.append(s2)
            text.append('%s { %s }' % (kind, ' '.join(btexts)))
            ops.append((kind, branches))
            if kind == 'concat':
                c = sum(s2[0] for s2 in shapes)
    return (c, h, w)


def gen_net(rng, name):
    c, h, w = rng.randint(1, 3), rng.randint(5, 12), rng.randint(5, 12)
    text, ops = [], []
    shape = gen_seq(rng, (c, h, w), 0, text, ops)
    shape = gen_seq(rng, shape, 0, text, ops)
    feats = shape[0] * shape[1] * shape[2]
    text.append('flatten')
    ops.append(('m', nn.Flatten()))
    if rng.random() < 0.5:
        hid = rng.randint(3, 12)
        norm = rng.choice(['batchnorm', 'layernorm'])
        ops += [('m', nn.Linear(feats, hid)),
                ('m', nn.BatchNorm1d(hid) if norm == 'batchnorm' else nn.LayerNorm(hid))]
        text.append('linear(%d) %s %s' % (hid, norm, activation(rng, ops)))
        feats = hid
    text.append('linear(10)')
    ops.append(('m', nn.Linear(feats, 10)))
    src = 'net %s {\n  input(%d, %d, %d)\n  %s\n}\n' % (name, c, h, w, '\n  '.join(text))
    return src, Net(ops), (c, h, w)


def check(netc, rng, k, work):
    name = 'fuzz%d' % k
    src, model, (c, h, w) = gen_net(rng, name)
    path = os.path.join(work, name + '.net')
    with open(path, 'w') as f:
        f.write(src)
    trainer = os.path.join(work, name)
    subprocess.run([netc, 'build', path, '-o', trainer], check=True, stdout=subprocess.DEVNULL)
    ours = parity.netc_tensors(trainer, work)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    mapping = parity.line_up(model, ours)
    sd = model.state_dict()
    weights = [(n, sd[mapping[n]].numpy().copy()) for n in ours]
    N = rng.randint(2, 5)
    x = torch.rand(N, c, h, w)
    y = torch.randint(0, 10, (N,))
    m64 = copy.deepcopy(model).double()
    model.eval()
    m64.eval()
    with torch.no_grad():
        eval_logits = model(x)
        eval64 = m64(x.double())
    logits, loss, grads = parity.torch_step(model, x, y, 0.1, 0.9, 1e-3)
    after = model.state_dict()
    l64, loss64, g64 = parity.torch_step(m64, x.double(), y, 0.1, 0.9, 1e-3)
    a64 = m64.state_dict()
    exact = {'eval_logits': eval64.numpy(), 'logits': l64.numpy(),
             'loss': loss64.reshape(1).numpy()}
    exact.update({'grad.' + n: g64[mapping[n]].numpy() for n in ours if mapping[n] in g64})
    exact.update({n: a64[mapping[n]].numpy() for n in ours})
    expected = [('eval_logits', eval_logits.numpy()), ('logits', logits.numpy()),
                ('loss', loss.reshape(1).numpy())]
    expected += [('grad.' + n, grads[mapping[n]].numpy()) for n in ours if mapping[n] in grads]
    expected += [(n, after[mapping[n]].numpy()) for n in ours]
    parity.save_case(work, weights, x.numpy(), y.numpy().astype(np.float32), expected)
    got = parity.run_trainer(trainer, work, (0.1, 0.9, 1e-3))
    sc = parity.scales(expected)
    # a layer can have an exact gradient of 0 by invariance (batch norm after
    # batch norm; a scale that a later batch norm removes): both sides return
    # rounding noise there, so gradients are measured against at least 1% of
    # the network's largest gradient
    gmax = max([np.abs(v).max() for n, v in expected if n.startswith('grad.')] or [0.0])
    # a difference counts when netc is further from PyTorch's float64 result
    # than 10x PyTorch's own float32 is (ill-conditioned cases, such as batch
    # norm on 2 examples, move float32 PyTorch too)
    worst, where = 0.0, ''
    for n, want in expected:
        scale = max(max(sc[n], 0.01 * gmax) if n.startswith('grad.') else sc[n], 1e-30)
        ours_err = np.abs(got[n].reshape(want.shape).astype(np.float64) - exact[n]).max()
        torch_err = np.abs(want.astype(np.float64) - exact[n]).max()
        err = max(ours_err - 10 * torch_err, 0.0) / scale
        if err > worst:
            worst, where = err, n
    return src, worst, where


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--netc', default=os.path.join(parity.ROOT, 'build', 'compiler', 'netc'))
    ap.add_argument('--count', type=int, default=50)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(a.seed)
    torch.manual_seed(a.seed)
    bad = 0
    for k in range(a.count):
        work = tempfile.mkdtemp(prefix='netc-fuzz-')
        try:
            src, worst, where = check(a.netc, rng, k, work)
            ok = worst <= 1e-3
            print('%3d %s worst %.3g (%s)' % (k, 'ok  ' if ok else 'FAIL', worst, where), flush=True)
            if not ok:
                bad += 1
                shutil.copy(os.path.join(work, 'fuzz%d.net' % k), 'fuzz_fail_%d.net' % k)
                print(src)
        except subprocess.CalledProcessError as e:
            bad += 1
            print('%3d FAIL: %s' % (k, e), flush=True)
            shutil.copy(os.path.join(work, 'fuzz%d.net' % k), 'fuzz_fail_%d.net' % k)
        finally:
            shutil.rmtree(work)
    print('%d of %d networks differ' % (bad, a.count))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
