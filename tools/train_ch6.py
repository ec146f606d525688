"""d2l's train_ch6 in PyTorch, on the same data netc's trainers read, for
comparing a netc run with the reference implementation.

    /usr/bin/python3 tools/train_ch6.py NET [--epochs N] [--lr X] [--batch-size B]
        [--threads T] [--seed S] [--set name=value ...]

Fashion-MNIST from /usr/share/datasets/fashion-mnist (resized as
torchvision's Resize does when the net's input is not 28x28), the seed's
module (tools/seed_models.py), Xavier-uniform init of conv and linear
weights, minibatch SGD on cross-entropy, and per epoch what train_ch6
reports: train loss and accuracy over the epoch, test accuracy in eval mode.
Defaults are the seed's settings for NET.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity  # noqa: E402
import seed_models  # noqa: E402

SEED_SETTINGS = {  # lr, batch size (d2l "Modern CNNs"; LeNet from chapter 6)
    'lenet': (0.9, 256), 'lenet_bn': (1.0, 256), 'alexnet': (0.01, 128),
    'vgg': (0.05, 128), 'nin': (0.1, 128), 'googlenet': (0.1, 128), 'resnet18': (0.05, 256),
}


def load(split, size):
    import gzip
    prefix = 'train' if split == 'train' else 't10k'
    with gzip.open(os.path.join(parity.DATA, prefix + '-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(parity.DATA, prefix + '-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    if size != 28:
        from PIL import Image
        images = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
                           for im in images])
    x = torch.from_numpy(images.astype(np.float32)[:, None] / 255.0)
    return torch.utils.data.TensorDataset(x, torch.from_numpy(labels.astype(np.int64)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('net')
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--lr', type=float)
    ap.add_argument('--batch-size', type=int)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--set', action='append', default=[])
    a = ap.parse_args()
    lr, batch = SEED_SETTINGS[a.net]
    lr = a.lr or lr
    batch = a.batch_size or batch
    kwargs = {k: int(v) for k, v in (kv.split('=', 1) for kv in a.set)}
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    net = seed_models.NETS[a.net][0](**kwargs)
    size = kwargs.get('size', seed_models.NETS[a.net][1])

    def init_weights(m):  # as train_ch6 does
        if type(m) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
    net.apply(init_weights)
    train_iter = torch.utils.data.DataLoader(load('train', size), batch, shuffle=True)
    test_iter = torch.utils.data.DataLoader(load('test', size), batch)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    print('pytorch %s  lr %g  batch size %d  epochs %d  threads %d  seed %d' %
          (a.net, lr, batch, a.epochs, a.threads, a.seed))
    for epoch in range(a.epochs):
        net.train()
        total, correct, loss_sum, t0 = 0, 0, 0.0, time.time()
        for x, y in train_iter:
            opt.zero_grad()
            y_hat = net(x)
            loss = loss_fn(y_hat, y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * y.numel()
            correct += (y_hat.argmax(1) == y).sum().item()
            total += y.numel()
        dt = time.time() - t0
        net.eval()
        test_correct = 0
        with torch.no_grad():
            for x, y in test_iter:
                test_correct += (net(x).argmax(1) == y).sum().item()
        print('epoch %2d/%d  loss %.4f  train acc %.3f  test acc %.3f  %.0f examples/s' %
              (epoch + 1, a.epochs, loss_sum / total, correct / total,
               test_correct / len(test_iter.dataset), total / dt), flush=True)


if __name__ == '__main__':
    main()
