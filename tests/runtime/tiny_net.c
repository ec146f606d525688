/* tiny_net.c - three small networks written by hand in the form netc's
 * generator emits: every size a constant, tensors and activation buffers at
 * planned offsets (per example, multiples of 16 floats), forward and
 * backward calling the runtime kernels. They exist for the tests of model.c
 * and trainer.c; they are not an example of what a person should write.
 *
 * Activation gradients are zeroed by backward itself before the kernels
 * accumulate into them; the driver zeroes only the parameter gradients and
 * dlogits. */
#include "tiny_net.h"

#include <string.h>

/* ---- tiny: conv -> batchnorm -> relu -> maxpool -> dropout -> linear -------- */

/* parameters (floats into params / grads / momentum) */
enum {
    P_CONV1_W = 0,    /* [4, 1, 3, 3] */
    P_CONV1_B = 48,   /* [4] */
    P_BN1_W = 64,     /* [4] */
    P_BN1_B = 80,     /* [4] */
    P_BN1_RMEAN = 96, /* [4] */
    P_BN1_RVAR = 112, /* [4] */
    P_LIN1_W = 128,   /* [10, 64] */
    P_LIN1_B = 768,   /* [10] */
    P_TOTAL = 784
};

/* activations (floats per example) */
enum {
    A_INPUT = 0,         /* 1x8x8 */
    A_CONV1 = 64,        /* 4x8x8 */
    A_BN1 = 320,         /* 4x8x8 */
    A_RELU1 = 576,       /* 4x8x8 */
    A_POOL1 = 832,       /* 4x4x4 */
    A_POOL1_ARG = 896,   /* 64 int32 */
    A_DROP1 = 960,       /* 64 */
    A_DROP1_MASK = 1024, /* 64 bytes */
    A_LOGITS = 1040,     /* 10 */
    A_DLOGITS = 1056,    /* 10 */
    A_DDROP1 = 1072,     /* 64: gradient of dropout1's output */
    A_DPOOL1 = 1136,     /* 64 */
    A_DRELU1 = 1200,     /* 4x8x8 */
    A_DBN1 = 1456,       /* 4x8x8 */
    A_DCONV1 = 1712,     /* 4x8x8 */
    A_TOTAL = 1968
};

/* saved state: batchnorm1's batch mean and inverse std */
enum { S_BN1_MEAN = 0, S_BN1_INVSTD = 4, S_TOTAL = 8 };

static const float DROPOUT1_P = 0.5f;

static nt_conv2d_dims conv1_dims(int n)
{
    return (nt_conv2d_dims){n, 1, 8, 8, 4, 3, 3, 1, 1, 1, 1, 8, 8, NT_ACT_NONE, NULL, NULL, 0, 0};
}

static const nt_bn_dims bn1_base = {0, 4, 64, 1e-5f, 0.1f, NT_ACT_NONE, NULL, 0};
static const nt_pool2d_dims pool1_base = {0, 4, 8, 8, 2, 2, 2, 2, 0, 0, 4, 4, 0, NT_ACT_NONE, NULL};

static size_t tiny_scratch_floats(int nthreads)
{
    nt_conv2d_dims d = conv1_dims(1);
    return nt_conv2d_scratch_floats(&d, nthreads);
}

static void tiny_forward(nt_model *m, int n, int train)
{
    const size_t B = (size_t)m->batch_max;
    float *a = m->act, *p = m->params;
    nt_conv2d_dims conv1 = conv1_dims(n);
    nt_bn_dims bn1 = bn1_base;
    nt_pool2d_dims pool1 = pool1_base;
    bn1.N = pool1.N = n;

    /* conv1 */
    nt_conv2d_forward(a + A_CONV1 * B, a + A_INPUT * B, p + P_CONV1_W,
                      p + P_CONV1_B, &conv1, m->scratch);
    /* batchnorm1 */
    if (train)
        nt_batchnorm_forward_train(a + A_BN1 * B, m->state + S_BN1_MEAN,
                                   m->state + S_BN1_INVSTD, p + P_BN1_RMEAN,
                                   p + P_BN1_RVAR, a + A_CONV1 * B,
                                   p + P_BN1_W, p + P_BN1_B, &bn1);
    else
        nt_batchnorm_forward_eval(a + A_BN1 * B, a + A_CONV1 * B, p + P_BN1_W,
                                  p + P_BN1_B, p + P_BN1_RMEAN, p + P_BN1_RVAR,
                                  &bn1);
    /* relu1 */
    nt_relu_forward(a + A_RELU1 * B, a + A_BN1 * B, (size_t)n * 256);
    /* maxpool1 */
    nt_maxpool2d_forward(a + A_POOL1 * B, (int32_t *)(a + A_POOL1_ARG * B),
                         a + A_RELU1 * B, &pool1);
    /* flatten1: a view; dropout1: identity in eval mode */
    const float *lin1_in = a + A_POOL1 * B;
    if (train) {
        nt_dropout_forward(a + A_DROP1 * B, (uint8_t *)(a + A_DROP1_MASK * B),
                           a + A_POOL1 * B, (size_t)n * 64,
                           m->dropout_enabled ? DROPOUT1_P : 0.0f,
                           nt_dropout_key(m, 0));
        lin1_in = a + A_DROP1 * B;
    }
    /* linear1 */
    nt_linear_forward(m->logits, lin1_in, p + P_LIN1_W, p + P_LIN1_B, n, 64,
                      10);
}

static void tiny_backward(nt_model *m, int n)
{
    const size_t B = (size_t)m->batch_max;
    float *a = m->act, *p = m->params, *g = m->grads;
    nt_conv2d_dims conv1 = conv1_dims(n);
    nt_bn_dims bn1 = bn1_base;
    nt_pool2d_dims pool1 = pool1_base;
    bn1.N = pool1.N = n;

    memset(a + A_DDROP1 * B, 0, (size_t)n * 64 * sizeof(float));
    memset(a + A_DPOOL1 * B, 0, (size_t)n * 64 * sizeof(float));
    memset(a + A_DRELU1 * B, 0, (size_t)n * 256 * sizeof(float));
    memset(a + A_DBN1 * B, 0, (size_t)n * 256 * sizeof(float));
    memset(a + A_DCONV1 * B, 0, (size_t)n * 256 * sizeof(float));

    nt_linear_backward(a + A_DDROP1 * B, g + P_LIN1_W, g + P_LIN1_B,
                       m->dlogits, a + A_DROP1 * B, p + P_LIN1_W, n, 64, 10);
    nt_dropout_backward(a + A_DPOOL1 * B, a + A_DDROP1 * B,
                        (const uint8_t *)(a + A_DROP1_MASK * B),
                        (size_t)n * 64,
                        m->dropout_enabled ? DROPOUT1_P : 0.0f);
    nt_maxpool2d_backward(a + A_DRELU1 * B, a + A_DPOOL1 * B,
                          (const int32_t *)(a + A_POOL1_ARG * B), &pool1);
    nt_relu_backward(a + A_DBN1 * B, a + A_DRELU1 * B, a + A_RELU1 * B,
                     (size_t)n * 256);
    nt_batchnorm_backward(a + A_DCONV1 * B, g + P_BN1_W, g + P_BN1_B,
                          a + A_DBN1 * B, a + A_CONV1 * B, p + P_BN1_W,
                          m->state + S_BN1_MEAN, m->state + S_BN1_INVSTD,
                          &bn1);
    nt_conv2d_backward(NULL, g + P_CONV1_W, g + P_CONV1_B, a + A_DCONV1 * B,
                       a + A_INPUT * B, p + P_CONV1_W, &conv1, m->scratch);
}

static const nt_tensor_desc tiny_tensors[] = {
    {"conv1.weight", 4, {4, 1, 3, 3}, P_CONV1_W, 36, NT_INIT_XAVIER, 9, 36, 1},
    {"conv1.bias", 1, {4}, P_CONV1_B, 4, NT_INIT_BIAS, 9, 0, 1},
    {"batchnorm1.weight", 1, {4}, P_BN1_W, 4, NT_INIT_ONES, 0, 0, 1},
    {"batchnorm1.bias", 1, {4}, P_BN1_B, 4, NT_INIT_ZEROS, 0, 0, 1},
    {"batchnorm1.running_mean", 1, {4}, P_BN1_RMEAN, 4, NT_INIT_ZEROS, 0, 0, 0},
    {"batchnorm1.running_var", 1, {4}, P_BN1_RVAR, 4, NT_INIT_ONES, 0, 0, 0},
    {"linear1.weight", 2, {10, 64}, P_LIN1_W, 640, NT_INIT_XAVIER, 64, 10, 1},
    {"linear1.bias", 1, {10}, P_LIN1_B, 10, NT_INIT_BIAS, 64, 0, 1},
};

const nt_net_desc tiny_net = {
    .name = "tiny",
    .source = "tests/runtime/tiny_net.c",
    .netc_version = NT_VERSION,
    .hash = 0x74696e792d6e6574ULL,
    .in_c = 1, .in_h = 8, .in_w = 8,
    .classes = 10,
    .tensors = tiny_tensors,
    .ntensors = 8,
    .param_floats = P_TOTAL,
    .act_floats = A_TOTAL,
    .input_offset = A_INPUT,
    .logits_offset = A_LOGITS,
    .dlogits_offset = A_DLOGITS,
    /* the forward binds the training plan in either model */
    .infer_floats = A_TOTAL,
    .infer_input_offset = A_INPUT,
    .infer_logits_offset = A_LOGITS,
    .state_floats = S_TOTAL,
    .scratch_floats = tiny_scratch_floats,
    .forward = tiny_forward,
    .backward = tiny_backward,
    .layer_table = (const char *const[]){
        "net tiny (tests/runtime/tiny_net.c)  classes = 10\n",
        "input 1 x 1x8x8\n",
        "\n",
        "layer       op                  output                    params     FLOPs\n",
        "conv1       conv2d              1 x 4x8x8                     40     4.86K\n",
        "batchnorm1  batchnorm           1 x 4x8x8                      8       512\n",
        "relu1       relu                1 x 4x8x8                      0       256\n",
        "maxpool1    maxpool2d           1 x 4x4x4                      0       256\n",
        "flatten1    flatten             1 x 64                         0         0\n",
        "dropout1    dropout             1 x 64                         0        64\n",
        "linear1     linear              1 x 10                       650     1.29K\n",
        "\n",
        "total  698 parameters (2.7 KiB as float32)\n",
        NULL},
    .defaults = {0.1, 0.0, 0.0, 3, 32, 0},
};

/* ---- softmax regression: linear(10) on a flat input of F features ---------- */

/* Layout for F features (a multiple of 16): input [0, F), logits at F,
 * dlogits at F + 16; weight [10, F] at 0, bias [10] at 10 * F. */
static void softmax_forward(nt_model *m, int n, int F)
{
    nt_linear_forward(m->logits, m->input, m->params, m->params + 10 * F, n,
                      F, 10);
}

static void softmax_backward(nt_model *m, int n, int F)
{
    nt_linear_backward(NULL, m->grads, m->grads + 10 * F, m->dlogits,
                       m->input, m->params, n, F, 10);
}

static size_t no_scratch(int nthreads)
{
    (void)nthreads;
    return 0;
}

static void flat_forward(nt_model *m, int n, int train)
{
    (void)train;
    softmax_forward(m, n, 64);
}

static void flat_backward(nt_model *m, int n) { softmax_backward(m, n, 64); }

static const nt_tensor_desc flat_tensors[] = {
    {"linear1.weight", 2, {10, 64}, 0, 640, NT_INIT_XAVIER, 64, 10, 1},
    {"linear1.bias", 1, {10}, 640, 10, NT_INIT_BIAS, 64, 0, 1},
};

const nt_net_desc tiny_flat_net = {
    .name = "tiny_flat",
    .source = "tests/runtime/tiny_net.c",
    .netc_version = NT_VERSION,
    .hash = 0x666c61742d6e6574ULL,
    .in_c = 64, .in_h = 1, .in_w = 1,
    .classes = 10,
    .tensors = flat_tensors,
    .ntensors = 2,
    .param_floats = 656,
    .act_floats = 96,
    .input_offset = 0,
    .logits_offset = 64,
    .dlogits_offset = 80,
    /* the forward binds the training plan in either model */
    .infer_floats = 96,
    .infer_input_offset = 0,
    .infer_logits_offset = 64,
    .state_floats = 0,
    .scratch_floats = no_scratch,
    .forward = flat_forward,
    .backward = flat_backward,
    .layer_table = (const char *const[]){
        "net tiny_flat (tests/runtime/tiny_net.c)  classes = 10\n",
        "input 1 x 64\n",
        "\n",
        "layer       op                  output                    params     FLOPs\n",
        "linear1     linear              1 x 10                       650     1.29K\n",
        "\n",
        "total  650 parameters (2.5 KiB as float32)\n",
        NULL},
    .defaults = {0.1, 0.0, 0.0, -1, 0, 0},
};

static void s28_forward(nt_model *m, int n, int train)
{
    (void)train;
    /* flatten1: a view */
    softmax_forward(m, n, 784);
}

static void s28_backward(nt_model *m, int n) { softmax_backward(m, n, 784); }

static const nt_tensor_desc s28_tensors[] = {
    {"linear1.weight", 2, {10, 784}, 0, 7840, NT_INIT_XAVIER, 784, 10, 1},
    {"linear1.bias", 1, {10}, 7840, 10, NT_INIT_BIAS, 784, 0, 1},
};

const nt_net_desc softmax28_net = {
    .name = "softmax28",
    .source = "tests/runtime/tiny_net.c",
    .netc_version = NT_VERSION,
    .hash = 0x736f66746d617828ULL,
    .in_c = 1, .in_h = 28, .in_w = 28,
    .classes = 10,
    .tensors = s28_tensors,
    .ntensors = 2,
    .param_floats = 7856,
    .act_floats = 816,
    .input_offset = 0,
    .logits_offset = 784,
    .dlogits_offset = 800,
    /* the forward binds the training plan in either model */
    .infer_floats = 816,
    .infer_input_offset = 0,
    .infer_logits_offset = 784,
    .state_floats = 0,
    .scratch_floats = no_scratch,
    .forward = s28_forward,
    .backward = s28_backward,
    .layer_table = (const char *const[]){
        "net softmax28 (tests/runtime/tiny_net.c)  classes = 10\n",
        "input 1 x 1x28x28\n",
        "\n",
        "layer       op                  output                    params     FLOPs\n",
        "flatten1    flatten             1 x 784                        0         0\n",
        "linear1     linear              1 x 10                      7,850     15.7K\n",
        "\n",
        "total  7,850 parameters (30.7 KiB as float32)\n",
        NULL},
    .defaults = {0.1, 0.0, 0.0, 10, 256, 0},
};
