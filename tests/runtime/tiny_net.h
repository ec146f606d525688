/* tiny_net.h - small networks written by hand the way netc's code generator
 * emits them (an nt_net_desc with forward and backward over planned arenas),
 * for the tests of the model and the trainer driver and for trying the
 * driver on real data before the generator exists. */
#ifndef TINY_NET_H
#define TINY_NET_H

#include "nt_trainer.h"

/* input(1, 8, 8)  conv(4, 3, padding = 1) batchnorm relu  maxpool(2)
 * flatten  dropout(0.5)  linear(10) */
extern const nt_net_desc tiny_net;

/* input(64)  linear(10): softmax regression on flat 8x8 images. */
extern const nt_net_desc tiny_flat_net;

/* input(1, 28, 28)  flatten  linear(10): softmax regression on MNIST-sized
 * images, d2l's chapter 3 model. */
extern const nt_net_desc softmax28_net;

#endif
