"""Numerical parity between netc's generated trainers and PyTorch.

    /usr/bin/python3 tools/parity.py fixtures [--netc build/compiler/netc]
        Writes the CI fixtures under tests/e2e/parity/ (tests/e2e/test_parity.c
        reads them; it never needs PyTorch).
    /usr/bin/python3 tools/parity.py compare [--netc ...] [--full] [case ...]
        Runs the same comparison now, printing the max abs and rel error of
        every tensor; --full uses every network at its full seed size.

A case is a network of nets/ (with -D values that shrink it where the full
size would make the fixtures too large: every layer kind and branch stays).
For each case:

  1. netc builds the trainer; `--epochs 0 --save` gives the checkpoint's
     tensor names and shapes in network order.
  2. The seed's PyTorch module (tools/seed_models.py, same parameters) gets
     random weights, including batch-norm gamma, beta and running
     statistics, so that no term hides behind a 1 or a 0. Its state_dict
     (without num_batches_tracked) must line up with netc's tensors one by
     one, shape by shape: the weights are written under netc's names.
  3. A batch x [N, 1, H, W] in [0, 1) and labels y.
  4. PyTorch computes eval-mode logits, then one training step with dropout
     disabled (dropout modules in eval mode, batch norm in training mode):
     logits, loss, every gradient, and every tensor after SGD (lr, momentum,
     weight decay of the case).
  5. The trainer does the same: `--load --infer` and
     `--load --train-step --no-dropout --dump`.

Two more cases train for many steps (BN-LeNet on real Fashion-MNIST
batches, and a ResNet-18 of width 16 on ones resized to 32x32) and compare
the loss curves; with each curve goes its envelope, how much PyTorch's own
curve moves when its initial weights change by a relative 1e-7.
"""
import argparse
import copy
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import seed_models  # noqa: E402

FIXTURES = os.path.join(ROOT, 'tests', 'e2e', 'parity')
DATA = '/usr/share/datasets/fashion-mnist'

# name: (net, -D values, batch N, lr, momentum, weight decay)
CASES = {
    'lenet': ('lenet', {}, 4, 0.9, 0.9, 5e-4),
    'lenet_bn': ('lenet_bn', {}, 4, 1.0, 0.9, 5e-4),
    'alexnet': ('alexnet', {'size': 67, 'ratio': 8, 'hidden': 64}, 4, 0.01, 0.9, 5e-4),
    'vgg': ('vgg', {'size': 32, 'ratio': 16, 'hidden': 64}, 4, 0.05, 0.9, 5e-4),
    'nin': ('nin', {'size': 67, 'ratio': 8}, 4, 0.1, 0.9, 5e-4),
    'googlenet': ('googlenet', {'size': 32, 'ratio': 8}, 4, 0.1, 0.9, 5e-4),
    'resnet18': ('resnet18', {'size': 32, 'width': 8}, 4, 0.05, 0.9, 5e-4),
    'mobilenet': ('mobilenet', {'size': 16, 'width': 4}, 4, 0.1, 0.9, 5e-4),
    'resnext': ('resnext', {'size': 16, 'width': 16, 'groups': 4}, 4, 0.05, 0.9, 5e-4),
    'kinds': ('kinds', {}, 4, 0.1, 0.9, 5e-4),
    'linked': ('linked', {}, 96, 0.1, 0.9, 5e-4),
}
FULL = {
    'lenet': ('lenet', {}, 4, 0.9, 0.9, 5e-4),
    'lenet_bn': ('lenet_bn', {}, 4, 1.0, 0.9, 5e-4),
    'alexnet': ('alexnet', {}, 2, 0.01, 0.9, 5e-4),
    'vgg': ('vgg', {}, 2, 0.05, 0.9, 5e-4),
    'vgg11': ('vgg', {'ratio': 1}, 2, 0.05, 0.9, 5e-4),
    'nin': ('nin', {}, 2, 0.1, 0.9, 5e-4),
    'googlenet': ('googlenet', {}, 2, 0.1, 0.9, 5e-4),
    'resnet18': ('resnet18', {}, 4, 0.05, 0.9, 5e-4),
    'mobilenet': ('mobilenet', {}, 4, 0.1, 0.9, 5e-4),
    'resnext': ('resnext', {}, 4, 0.05, 0.9, 5e-4),
    'kinds': ('kinds', {}, 4, 0.1, 0.9, 5e-4),
}
# name: (net, -D values, steps, batch, lr, first training image)
CURVES = {
    'curve_lenet_bn': ('lenet_bn', {}, 20, 32, 1.0, 0),
    'curve_resnet18': ('resnet18', {'size': 32, 'width': 16}, 10, 32, 0.05, 0),
}


# ---- files ------------------------------------------------------------------

def read_safetensors(path):
    """{name: np.ndarray} in file order, and the metadata."""
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop('__metadata__', {})
    out = {}
    for name, t in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
        assert t['dtype'] == 'F32', (path, name, t['dtype'])
        b, e = t['data_offsets']
        out[name] = np.frombuffer(data[b:e], dtype='<f4').reshape(t['shape'])
    return out, meta


def write_safetensors(path, tensors):
    """tensors: list of (name, np.ndarray), written F32 in that order."""
    header, offset, blobs = {}, 0, []
    for name, a in tensors:
        b = np.ascontiguousarray(a, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(a.shape),
                        'data_offsets': [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def defines(kv):
    return [a for k, v in kv.items() for a in ('-D', '%s=%s' % (k, v))]


def net_file(net):
    """nets/NET.net, or tests/e2e/nets/NET.net for the test-only networks."""
    path = os.path.join(ROOT, 'nets', net + '.net')
    return path if os.path.exists(path) else os.path.join(ROOT, 'tests', 'e2e', 'nets',
                                                          net + '.net')


def build(netc, net, kv, out):
    subprocess.run([netc, 'build', *defines(kv), '-o', out, net_file(net)],
                   check=True, stdout=subprocess.DEVNULL)


def netc_tensors(trainer, work):
    path = os.path.join(work, 'init.safetensors')
    subprocess.run([trainer, '--epochs', '0', '--save', path, '--quiet'], check=True)
    return read_safetensors(path)[0]


# ---- the PyTorch side ----------------------------------------------------------

def torch_model(net, kv, seed):
    torch.manual_seed(seed)
    model = seed_models.NETS[net][0](**kv)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model


def state_items(model):
    return [(k, v) for k, v in model.state_dict().items()
            if not k.endswith('num_batches_tracked')]


def line_up(model, ours):
    """netc name -> PyTorch state_dict key, checking order and shapes."""
    theirs = state_items(model)
    names = list(ours)
    if len(names) != len(theirs):
        raise SystemExit('netc has %d tensors, PyTorch %d' % (len(names), len(theirs)))
    mapping = {}
    for name, (key, v) in zip(names, theirs):
        if tuple(ours[name].shape) != tuple(v.shape):
            raise SystemExit('%s %s vs %s %s' % (name, ours[name].shape, key, tuple(v.shape)))
        mapping[name] = key
    return mapping


def dropout_off(model):
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()


def torch_step(model, x, y, lr, momentum, wd):
    """One SGD step; returns logits, loss, {param key: grad}."""
    dropout_off(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    opt.step()
    return logits.detach(), loss.detach(), grads


# ---- one case ------------------------------------------------------------------

def make_case(netc, name, spec, work, seed=0, exact=False):
    """Fixtures of one case; with exact, also the same step in float64."""
    net, kv, N, lr, momentum, wd = spec
    trainer = os.path.join(work, net)
    build(netc, net, kv, trainer)
    ours = netc_tensors(trainer, work)
    model = torch_model(net, kv, seed)
    mapping = line_up(model, ours)
    sd = model.state_dict()
    weights = [(n, sd[mapping[n]].numpy().copy()) for n in ours]  # before any step

    size = kv.get('size', seed_models.NETS[net][1])
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(N, 1, size, size, generator=g)
    y = torch.randint(0, 10, (N,), generator=g)

    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    logits, loss, grads = torch_step(model, x, y, lr, momentum, wd)
    after = model.state_dict()
    expected = [('eval_logits', eval_logits.numpy()), ('logits', logits.numpy()),
                ('loss', loss.reshape(1).numpy())]
    for n in ours:
        key = mapping[n]
        if key in grads:
            expected.append(('grad.' + n, grads[key].numpy()))
    for n in ours:
        expected.append((n, after[mapping[n]].numpy().copy()))
    reference = None
    if exact:
        m64 = torch_model(net, kv, seed).double()
        m64.eval()
        with torch.no_grad():
            e64 = m64(x.double())
        l64, loss64, g64 = torch_step(m64, x.double(), y, lr, momentum, wd)
        a64 = m64.state_dict()
        reference = [('eval_logits', e64.numpy()), ('logits', l64.numpy()),
                     ('loss', loss64.reshape(1).numpy())]
        reference += [('grad.' + n, g64[mapping[n]].numpy()) for n in ours if mapping[n] in g64]
        reference += [(n, a64[mapping[n]].numpy()) for n in ours]
    return trainer, weights, x.numpy(), y.numpy().astype(np.float32), expected, reference


def fashion_mnist(first, count, size):
    import gzip
    with gzip.open(os.path.join(DATA, 'train-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(DATA, 'train-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    images, labels = images[first:first + count], labels[first:first + count]
    if size != 28:  # as torchvision's Resize does, on PIL images
        from PIL import Image
        images = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
                           for im in images])
    return images.astype(np.float32)[:, None] / 255.0, labels.astype(np.int64)


def torch_curve(model, xs, ys, lr):
    losses = []
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    dropout_off(model)
    for s in range(xs.shape[0]):
        opt.zero_grad()
        loss = F.cross_entropy(model(xs[s]), ys[s])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def make_curve(netc, name, spec, work, seed=0):
    """Loss curve of `steps` SGD steps on consecutive real training batches,
    plus its envelope: how far PyTorch's own curve moves when the initial
    weights change by a relative 1e-7 (three tries, the largest deviation
    per step). Training with batch norm and max pooling on small batches is
    chaotic, so a curve can only be expected to follow PyTorch's as closely
    as PyTorch follows itself."""
    net, kv, steps, B, lr, first = spec
    trainer = os.path.join(work, net)
    build(netc, net, kv, trainer)
    ours = netc_tensors(trainer, work)
    torch.manual_seed(seed)
    model = seed_models.NETS[net][0](**kv)  # PyTorch's own initialisation
    mapping = line_up(model, ours)
    sd = model.state_dict()
    weights = [(n, sd[mapping[n]].numpy().copy()) for n in ours]
    size = kv.get('size', seed_models.NETS[net][1])
    x, y = fashion_mnist(first, steps * B, size)
    xs = torch.from_numpy(x).reshape(steps, B, 1, size, size)
    ys = torch.from_numpy(y).reshape(steps, B)
    initial = copy.deepcopy(model.state_dict())
    losses = torch_curve(model, xs, ys, lr)
    envelope = np.zeros(steps)
    for k in range(3):
        model.load_state_dict(initial)
        g = torch.Generator().manual_seed(100 + k)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + 1e-7 * torch.randn(p.shape, generator=g))
        envelope = np.maximum(envelope, np.abs(torch_curve(model, xs, ys, lr) - losses))
    return (trainer, weights, xs.numpy(), ys.numpy().astype(np.float32),
            [('losses', losses.astype(np.float32)), ('envelope', envelope.astype(np.float32))])


# ---- running the trainer and comparing -------------------------------------------

def run_trainer(trainer, work, spec_lr_m_wd, multi=False):
    lr, momentum, wd = spec_lr_m_wd
    w = os.path.join(work, 'weights.safetensors')
    x, y = os.path.join(work, 'x.npy'), os.path.join(work, 'y.npy')
    dump = os.path.join(work, 'dump.safetensors')
    subprocess.run([trainer, '--load', w, '--train-step', x, '--labels', y, '--dump', dump,
                    '--no-dropout', '--lr', repr(lr), '--momentum', repr(momentum),
                    '--weight-decay', repr(wd), '--quiet'], check=True)
    got, _ = read_safetensors(dump)
    if not multi:
        out = os.path.join(work, 'eval.npy')
        subprocess.run([trainer, '--load', w, '--infer', x, '--out', out, '--quiet'],
                       check=True)
        got['eval_logits'] = np.load(out)
    return got


def scales(expected):
    """The scale each tensor's error is measured against, as
    tests/e2e/test_parity.c does: its largest |value|, except that a
    gradient is measured against the largest gradient of its layer (a bias
    that feeds batch norm has an exact gradient of 0: both sides return
    rounding noise there)."""
    layer = {}
    for name, v in expected:
        if name.startswith('grad.'):
            key = name[5:].rsplit('.', 1)[0]
            layer[key] = max(layer.get(key, 0.0), float(np.abs(v).max()))
    out = {}
    for name, v in expected:
        if name.startswith('grad.'):
            out[name] = layer[name[5:].rsplit('.', 1)[0]]
        else:
            out[name] = float(np.abs(v).max())
    return out


def compare(expected, got, exact=None):
    """Prints each tensor's max abs error and its error relative to its scale
    (see scales()); with `exact` (PyTorch in float64) also how far netc and
    PyTorch's float32 each are from it. Returns the worst relative error."""
    sc = scales(expected)
    exact = dict(exact or [])
    worst = 0.0
    head = '  %-48s %11s %11s' % ('tensor', 'max abs err', 'relative')
    if exact:
        head += ' %13s %13s' % ('netc vs f64', 'torch vs f64')
    print(head)
    for name, want in expected:
        have = got[name].astype(np.float64).reshape(want.shape)
        want64 = want.astype(np.float64)
        err = np.abs(have - want64).max()
        rel = err / max(sc[name], 1e-30)
        worst = max(worst, rel)
        line = '  %-48s %11.3g %11.3g' % (name, err, rel)
        if name in exact:
            ex = exact[name].reshape(want.shape)
            line += ' %13.3g %13.3g' % (np.abs(have - ex).max() / max(sc[name], 1e-30),
                                        np.abs(want64 - ex).max() / max(sc[name], 1e-30))
        print(line)
    print('  worst relative error: %.3g' % worst)
    return worst


def compare_curve(expected, got):
    ref, env, ours = expected['losses'], expected['envelope'], got['losses']
    print('  %4s %12s %12s %12s %14s' % ('step', 'PyTorch', 'netc', 'difference',
                                        'PyTorch moves'))
    for s in range(len(ref)):
        print('  %4d %12.7f %12.7f %12.3g %14.3g' % (s + 1, ref[s], ours[s],
                                                   abs(ours[s] - ref[s]), env[s]))


def save_case(dirpath, weights, x, y, expected):
    os.makedirs(dirpath, exist_ok=True)
    write_safetensors(os.path.join(dirpath, 'weights.safetensors'), weights)
    np.save(os.path.join(dirpath, 'x.npy'), x.astype(np.float32))
    np.save(os.path.join(dirpath, 'y.npy'), y.astype(np.float32))
    write_safetensors(os.path.join(dirpath, 'expected.safetensors'), expected)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('mode', choices=['fixtures', 'compare'])
    ap.add_argument('cases', nargs='*')
    ap.add_argument('--netc', default=os.path.join(ROOT, 'build', 'compiler', 'netc'))
    ap.add_argument('--full', action='store_true', help='compare: full-size networks')
    a = ap.parse_intermixed_args()
    torch.set_num_threads(1)

    cases = FULL if a.full else CASES
    names = a.cases or list(cases) + ([] if a.full else list(CURVES))
    listing = []
    for name in names:
        work = tempfile.mkdtemp(prefix='netc-parity-')
        try:
            if name in CURVES:
                spec = CURVES[name]
                trainer, weights, x, y, expected = make_curve(a.netc, name, spec, work)
                reference = None
                net, kv, steps, B, lr, _ = spec
                sgd = (lr, 0.0, 0.0)
            else:
                spec = cases[name]
                trainer, weights, x, y, expected, reference = make_case(
                    a.netc, name, spec, work, exact=a.mode == 'compare')
                net, kv, _, lr, momentum, wd = spec
                sgd = (lr, momentum, wd)
            if a.mode == 'fixtures':
                save_case(os.path.join(FIXTURES, name), weights, x, y, expected)
                listing.append('%s %s %s %r %r %r' % (
                    name, net, ','.join('%s=%s' % kv_ for kv_ in kv.items()) or '-', *sgd))
                print('%-16s %s %s' % (name, net, kv))
            else:
                save_case(work, weights, x, y, expected)
                print('%s (%s %s)' % (name, net, ' '.join(defines(kv))))
                got = run_trainer(trainer, work, sgd, multi=name in CURVES)
                if name in CURVES:
                    compare_curve(dict(expected), got)
                else:
                    compare(expected, got, reference)
        finally:
            shutil.rmtree(work)
    if a.mode == 'fixtures':  # cases not made now keep their line
        path = os.path.join(FIXTURES, 'cases.txt')
        lines = {}
        if os.path.exists(path):
            with open(path) as f:
                lines = {l.split()[0]: l.rstrip('\n') for l in f if not l.startswith('#')}
        lines.update({l.split()[0]: l for l in listing})
        with open(path, 'w') as f:
            f.write('# name net defines lr momentum weight_decay '
                    '(written by tools/parity.py fixtures)\n')
            for name in list(CASES) + list(CURVES):
                if name in lines:
                    f.write(lines[name] + '\n')


if __name__ == '__main__':
    main()
