"""The seed's networks in PyTorch, written as ../shared/seed writes them (d2l,
"Modern CNNs"), for the reference scripts under tools/ and bench/.

Run with Debian's PyTorch: /usr/bin/python3. Every builder takes the same
parameters as the matching nets/*.net file (size, ratio, hidden, width; the
defaults are the chapter's), so a -D on the .net side has a twin here.
"""
import torch
from torch import nn
from torch.nn import functional as F


def lenet(classes=10):
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, classes))


def lenet_bn(classes=10):
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, classes))


def flat_features(body, size):
    with torch.no_grad():
        return body(torch.zeros(1, 1, size, size)).shape[1]


def alexnet(size=224, ratio=1, hidden=4096, classes=10):
    r = ratio
    body = nn.Sequential(
        nn.Conv2d(1, 96 // r, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96 // r, 256 // r, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256 // r, 384 // r, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384 // r, 384 // r, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384 // r, 256 // r, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten())
    n = flat_features(body, size)  # 6400 at 224
    return nn.Sequential(
        *body,
        nn.Linear(n, hidden), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(hidden, classes))


def vgg_block(num_convs, in_channels, out_channels):
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(ratio=4, size=224, hidden=4096, classes=10):
    conv_arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
    conv_arch = [(n, c // ratio) for (n, c) in conv_arch]
    conv_blks = []
    in_channels = 1
    for (num_convs, out_channels) in conv_arch:
        conv_blks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    n = out_channels * (size // 32) * (size // 32)
    return nn.Sequential(
        *conv_blks, nn.Flatten(),
        nn.Linear(n, hidden), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(hidden, classes))


def nin_block(in_channels, out_channels, kernel_size, strides, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin(size=224, ratio=1, classes=10):
    r = ratio
    return nn.Sequential(
        nin_block(1, 96 // r, kernel_size=11, strides=4, padding=0),
        nn.MaxPool2d(3, stride=2),
        nin_block(96 // r, 256 // r, kernel_size=5, strides=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(256 // r, 384 // r, kernel_size=3, strides=1, padding=1),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(384 // r, classes, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())


class Inception(nn.Module):
    def __init__(self, in_channels, c1, c2, c3, c4, ratio=1, **kwargs):
        super(Inception, self).__init__(**kwargs)
        r = ratio
        in_channels, c1, c4 = in_channels // r, c1 // r, c4 // r
        c2, c3 = (c2[0] // r, c2[1] // r), (c3[0] // r, c3[1] // r)
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


def googlenet(size=96, ratio=1, classes=10):
    r = ratio
    b1 = nn.Sequential(nn.Conv2d(1, 64 // r, kernel_size=7, stride=2, padding=3),
                       nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(nn.Conv2d(64 // r, 64 // r, kernel_size=1),
                       nn.ReLU(),
                       nn.Conv2d(64 // r, 192 // r, kernel_size=3, padding=1),
                       nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b3 = nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32, r),
                       Inception(256, 128, (128, 192), (32, 96), 64, r),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b4 = nn.Sequential(Inception(480, 192, (96, 208), (16, 48), 64, r),
                       Inception(512, 160, (112, 224), (24, 64), 64, r),
                       Inception(512, 128, (128, 256), (24, 64), 64, r),
                       Inception(512, 112, (144, 288), (32, 64), 64, r),
                       Inception(528, 256, (160, 320), (32, 128), 128, r),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b5 = nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128, r),
                       Inception(832, 384, (192, 384), (48, 128), 128, r),
                       nn.AdaptiveAvgPool2d((1, 1)),
                       nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024 // r, classes))


class Residual(nn.Module):
    """The seed's Residual, with its submodules registered in the order they
    run (conv1, bn1, conv2, bn2, conv3) so that the state_dict lines up with
    netc's checkpoint tensor by tensor; the computation is unchanged."""

    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels,
                               kernel_size=3, padding=1, stride=strides)
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.conv2 = nn.Conv2d(num_channels, num_channels,
                               kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(num_channels)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(input_channels, num_channels,
                                   kernel_size=1, stride=strides)
        else:
            self.conv3 = None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels,
                                use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return blk


def resnet18(size=96, width=64, classes=10):
    w = width
    b1 = nn.Sequential(nn.Conv2d(1, w, kernel_size=7, stride=2, padding=3),
                       nn.BatchNorm2d(w), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(*resnet_block(w, w, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(w, 2 * w, 2))
    b4 = nn.Sequential(*resnet_block(2 * w, 4 * w, 2))
    b5 = nn.Sequential(*resnet_block(4 * w, 8 * w, 2))
    return nn.Sequential(b1, b2, b3, b4, b5,
                         nn.AdaptiveAvgPool2d((1, 1)),
                         nn.Flatten(),
                         nn.Linear(8 * w, classes))


# ---- beyond the chapter's networks: nets/mobilenet.net, nets/resnext.net and
# tests/e2e/nets/kinds.net (every newer layer kind), in their .net order

def mobilenet(size=28, width=32, classes=10):
    def separable(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False),
                nn.BatchNorm2d(cin), nn.ReLU(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    layers = [nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    c = width
    for channels, stride in ((2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2), (16, 1)):
        layers += separable(c, channels * width, stride)
        c = channels * width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))


class ResNeXtBlock(nn.Module):
    """d2l's ResNeXtBlock (8.6.5) with `groups` the number of groups and the
    bottleneck at half the channels; submodules registered in the order they
    run, so the state_dict lines up with netc's checkpoint."""

    def __init__(self, cin, channels, groups, use_1x1conv=False, strides=1):
        super().__init__()
        bot = channels // 2
        self.conv1 = nn.Conv2d(cin, bot, 1)
        self.bn1 = nn.BatchNorm2d(bot)
        self.conv2 = nn.Conv2d(bot, bot, 3, stride=strides, padding=1, groups=groups)
        self.bn2 = nn.BatchNorm2d(bot)
        self.conv3 = nn.Conv2d(bot, channels, 1)
        self.bn3 = nn.BatchNorm2d(channels)
        if use_1x1conv:
            self.conv4 = nn.Conv2d(cin, channels, 1, stride=strides)
            self.bn4 = nn.BatchNorm2d(channels)
        else:
            self.conv4 = None

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = F.relu(self.bn2(self.conv2(Y)))
        Y = self.bn3(self.conv3(Y))
        if self.conv4:
            X = self.bn4(self.conv4(X))
        return F.relu(Y + X)


def resnext(size=28, width=64, groups=16, classes=10):
    w = width
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
        ResNeXtBlock(w, w, groups),
        ResNeXtBlock(w, 2 * w, groups, use_1x1conv=True, strides=2),
        ResNeXtBlock(2 * w, 2 * w, groups),
        ResNeXtBlock(2 * w, 4 * w, groups, use_1x1conv=True, strides=2),
        ResNeXtBlock(4 * w, 4 * w, groups),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(4 * w, classes))


class Concat(nn.Module):
    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class Slice(nn.Module):
    def __init__(self, start, end):
        super().__init__()
        self.start, self.end = start, end

    def forward(self, x):
        return x[:, self.start:self.end]


def kinds(size=16, classes=10):
    body = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.GroupNorm(4, 8), nn.LeakyReLU(0.1),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2), nn.ELU(alpha=0.7),
        nn.Conv2d(8, 16, (3, 5), stride=2, padding=(1, 2), groups=8), nn.SiLU(),
        nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.GELU(),
        nn.Conv2d(16, 16, 3, padding=2, dilation=(2, 1), groups=16, bias=False),
        nn.Hardswish())
    with torch.no_grad():
        shape = body(torch.zeros(1, 1, size, size)).shape[1:]
    return nn.Sequential(
        *body, nn.LayerNorm(list(shape)), nn.Softplus(beta=2, threshold=5),
        Concat(nn.AdaptiveAvgPool2d((3, 2)),
               nn.Sequential(nn.AdaptiveMaxPool2d(3), nn.Conv2d(16, 16, (1, 2)))),
        Slice(4, 28),
        nn.Flatten(),
        nn.Linear(24 * 3 * 2, 24), nn.LayerNorm(24, eps=1e-3), nn.GELU(),
        nn.Linear(24, classes))


def linked(size=12, classes=10):
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 96, 1), nn.ReLU(),
        nn.Conv2d(96, 64, 3, padding=1),
        nn.Conv2d(64, 64, 1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (size // 2) ** 2, classes))


# name -> (builder, input size of the seed run)
NETS = {
    'lenet': (lenet, 28),
    'lenet_bn': (lenet_bn, 28),
    'alexnet': (alexnet, 224),
    'vgg': (vgg, 224),
    'nin': (nin, 224),
    'googlenet': (googlenet, 96),
    'resnet18': (resnet18, 96),
    'mobilenet': (mobilenet, 28),
    'resnext': (resnext, 28),
    'kinds': (kinds, 16),
    'linked': (linked, 12),
}
