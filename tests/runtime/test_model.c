/* test_model.c - model.c on the hand-written tiny network: arenas,
 * initialisation, dropout keys, one SGD step (against finite differences of
 * the loss and the SGD formula) and checkpoints: round trips, the file's
 * layout, and every kind of mismatch refused with a message naming it. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nt_io.h"
#include "nt_trainer.h"
#include "testutil.h"
#include "tiny_net.h"

/* Check's 4 s default is too short under valgrind. */
#define TIMEOUT 120

/* ---- helpers ------------------------------------------------------------- */


static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void alloc_tiny(nt_model *m, int batch, uint64_t seed)
{
    nt_error err = {{0}};
    ck_assert_msg(nt_model_alloc(m, &tiny_net, batch, &err) == 0, "%s",
                  err.msg);
    nt_model_init(m, seed);
}

static const nt_tensor_desc *tensor(const nt_net_desc *net, const char *name)
{
    for (int i = 0; i < net->ntensors; i++)
        if (strcmp(net->tensors[i].name, name) == 0)
            return &net->tensors[i];
    ck_abort_msg("no tensor %s", name);
    return NULL;
}

/* Random inputs and labels for n examples of the tiny net. */
static void fill_batch(nt_model *m, int32_t *labels, int n, uint64_t seed)
{
    nt_rng rng;
    nt_rng_seed(&rng, seed);
    tu_fill(m->input, (size_t)n * 64, 0.0f, 1.0f, &rng);
    for (int i = 0; i < n; i++)
        labels[i] = (int32_t)nt_rng_below(&rng, 10);
}

/* ---- arenas ------------------------------------------------------------- */

START_TEST(test_alloc_layout)
{
    nt_model m;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_model_alloc(&m, &tiny_net, 5, &err), 0);
    const float *arenas[] = {m.params, m.grads, m.momentum, m.act, m.state,
                             m.scratch};
    for (int i = 0; i < 6; i++) {
        ck_assert_ptr_nonnull(arenas[i]);
        ck_assert_uint_eq((uintptr_t)arenas[i] % 64, 0);
    }
    ck_assert_ptr_eq(m.input, m.act + tiny_net.input_offset * 5);
    ck_assert_ptr_eq(m.logits, m.act + tiny_net.logits_offset * 5);
    ck_assert_ptr_eq(m.dlogits, m.act + tiny_net.dlogits_offset * 5);
    for (size_t i = 0; i < tiny_net.param_floats; i++)
        ck_assert(m.params[i] == 0.0f && m.grads[i] == 0.0f &&
                  m.momentum[i] == 0.0f);
    for (size_t i = 0; i < tiny_net.act_floats * 5; i++)
        ck_assert(m.act[i] == 0.0f);
    ck_assert_int_eq(m.batch_max, 5);
    ck_assert_int_eq(m.dropout_enabled, 1);
    ck_assert(m.step == 0 && m.seed == 0);
    nt_model_free(&m);
    ck_assert_ptr_null(m.params);
}
END_TEST

/* nt_alloc_big: 64-byte aligned below 2 MiB, 2 MiB aligned from there on,
 * the whole length writable; NULL for what cannot be addressed. */
START_TEST(test_alloc_big)
{
    const size_t sizes[] = {1, 1000, ((size_t)2 << 20) - 4, (size_t)2 << 20, (size_t)3 << 20};
    for (int i = 0; i < 5; i++) {
        unsigned char *p = nt_alloc_big(sizes[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % (sizes[i] < ((size_t)2 << 20) ? 64 : (size_t)2 << 20),
                          0);
        memset(p, 0xab, sizes[i]);
        ck_assert(p[0] == 0xab && p[sizes[i] - 1] == 0xab);
        free(p);
    }
    ck_assert_ptr_null(nt_alloc_big(SIZE_MAX - 100));
}
END_TEST

START_TEST(test_alloc_refuses)
{
    nt_model m;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_model_alloc(&m, &tiny_net, 0, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "at least 1"));
    ck_assert_ptr_null(m.params);

    /* sizes no machine has: refused before any allocation is tried */
    nt_net_desc huge = tiny_net;
    huge.act_floats = SIZE_MAX / 2;
    ck_assert_int_eq(nt_model_alloc(&m, &huge, 4, &err), -1);
    ck_assert_msg(strstr(err.msg, "activations of 4 examples") != NULL, "%s",
                  err.msg);
    /* more than the machine's memory: refused with the sizes, before the
     * allocations could succeed on overcommit and the zeroing meet the OOM
     * killer */
    huge = tiny_net;
    huge.param_floats = SIZE_MAX / 2;
    ck_assert_int_eq(nt_model_alloc(&m, &huge, 4, &err), -1);
    ck_assert_msg(strstr(err.msg, "GiB of memory, more than the") != NULL, "%s", err.msg);
    huge = tiny_net;
    huge.act_floats = (size_t)1 << 36; /* 256 GiB per example */
    ck_assert_int_eq(nt_model_alloc(&m, &huge, 1, &err), -1);
    ck_assert_msg(strstr(err.msg, "use a smaller --batch-size") != NULL, "%s", err.msg);
    ck_assert_ptr_null(m.params);
    ck_assert_ptr_null(m.act);
}
END_TEST

/* ---- initialisation ------------------------------------------------------- */

START_TEST(test_init_distributions)
{
    nt_model m;
    alloc_tiny(&m, 2, 7);
    ck_assert_uint_eq(nt_model_trainable_floats(&tiny_net), 698);
    for (int i = 0; i < tiny_net.ntensors; i++) {
        const nt_tensor_desc *t = &tiny_net.tensors[i];
        const float *w = m.params + t->offset;
        float lo = INFINITY, hi = -INFINITY;
        for (size_t k = 0; k < t->count; k++) {
            lo = fminf(lo, w[k]);
            hi = fmaxf(hi, w[k]);
        }
        switch (t->init) {
        case NT_INIT_XAVIER: {
            double a = sqrt(6.0 / (t->fan_in + t->fan_out));
            ck_assert_msg(lo >= -a && hi <= a && hi - lo > 0.5 * a,
                          "%s in [%g, %g], bound %g", t->name, lo, hi, a);
            break;
        }
        case NT_INIT_BIAS: {
            double a = 1.0 / sqrt(t->fan_in);
            ck_assert_msg(lo >= -a && hi <= a && hi > lo,
                          "%s in [%g, %g], bound %g", t->name, lo, hi, a);
            break;
        }
        case NT_INIT_ONES:
            ck_assert_msg(lo == 1.0f && hi == 1.0f, "%s", t->name);
            break;
        case NT_INIT_ZEROS:
            ck_assert_msg(lo == 0.0f && hi == 0.0f, "%s", t->name);
            break;
        }
    }
    ck_assert(m.seed == 7 && m.step == 0);
    nt_model_free(&m);
}
END_TEST

START_TEST(test_init_seeded)
{
    nt_model a, b;
    alloc_tiny(&a, 2, 11);
    alloc_tiny(&b, 3, 12);
    const size_t bytes = tiny_net.param_floats * sizeof(float);
    ck_assert(memcmp(a.params, b.params, bytes) != 0);
    /* re-initialising wipes gradients, momentum, state and the step */
    b.grads[3] = b.momentum[5] = b.state[1] = 1.0f;
    b.step = 9;
    nt_model_init(&b, 11);
    ck_assert(memcmp(a.params, b.params, bytes) == 0);
    ck_assert(b.grads[3] == 0.0f && b.momentum[5] == 0.0f &&
              b.state[1] == 0.0f && b.step == 0 && b.seed == 11);
    nt_model_free(&a);
    nt_model_free(&b);
}
END_TEST

START_TEST(test_dropout_keys)
{
    nt_model m;
    memset(&m, 0, sizeof m);
    enum { LAYERS = 8, STEPS = 100 };
    uint64_t keys[LAYERS * STEPS];
    m.seed = 1;
    for (int l = 0; l < LAYERS; l++)
        for (int s = 0; s < STEPS; s++) {
            m.step = (uint64_t)s;
            keys[l * STEPS + s] = nt_dropout_key(&m, l);
        }
    for (int i = 0; i < LAYERS * STEPS; i++)
        for (int j = 0; j < i; j++)
            ck_assert_msg(keys[i] != keys[j], "keys %d and %d collide", i, j);
    m.step = 42;
    ck_assert(nt_dropout_key(&m, 3) == keys[3 * STEPS + 42]);
    m.seed = 2;
    ck_assert(nt_dropout_key(&m, 3) != keys[3 * STEPS + 42]);
}
END_TEST

/* ---- one step ------------------------------------------------------------- */

START_TEST(test_step_is_sgd)
{
    enum { N = 6 };
    nt_model m;
    alloc_tiny(&m, N, 3);
    int32_t labels[N];
    float probs[N * 10];
    fill_batch(&m, labels, N, 99);
    float *before = malloc(tiny_net.param_floats * sizeof(float));
    memcpy(before, m.params, tiny_net.param_floats * sizeof(float));
    const nt_optim_config c = nt_optim_sgd(0.25f, 0.0f, 0.0f);
    int ok = -1;
    float loss = nt_model_train_step(&m, N, labels, probs, &ok, &c);
    ck_assert(isfinite(loss) && loss > 0.0f);
    ck_assert(ok >= 0 && ok <= N);
    ck_assert(m.step == 1);
    for (int i = 0; i < tiny_net.ntensors; i++) {
        const nt_tensor_desc *t = &tiny_net.tensors[i];
        float *want = malloc(t->count * sizeof(float));
        double gnorm = 0;
        for (size_t k = 0; k < t->count; k++) {
            const float g = m.grads[t->offset + k];
            gnorm += fabs(g);
            want[k] = t->trainable ? before[t->offset + k] + -c.lr * g
                                   : before[t->offset + k];
        }
        if (t->trainable) {
            /* the same float operations as torch.optim.SGD: exact */
            TU_ASSERT_CLOSE(t->name, m.params + t->offset, want, t->count,
                            0.0, 0.0);
            ck_assert_msg(gnorm > 0, "%s has no gradient", t->name);
        } else {
            /* running statistics move with the batch, not with SGD */
            ck_assert_msg(memcmp(m.params + t->offset, want,
                                 t->count * sizeof(float)) != 0,
                          "%s did not change", t->name);
            ck_assert_msg(gnorm == 0, "%s has a gradient", t->name);
        }
        free(want);
    }
    free(before);
    nt_model_free(&m);
}
END_TEST

START_TEST(test_step_momentum_and_decay)
{
    enum { N = 4 };
    nt_model m;
    alloc_tiny(&m, N, 3);
    int32_t labels[N];
    float probs[N * 10];
    fill_batch(&m, labels, N, 5);
    const size_t P = tiny_net.param_floats;
    float *p0 = malloc(P * sizeof(float)), *buf = malloc(P * sizeof(float));
    memcpy(p0, m.params, P * sizeof(float));
    const nt_optim_config c = nt_optim_sgd(0.1f, 0.9f, 0.01f);
    nt_model_train_step(&m, N, labels, probs, NULL, &c);
    /* first step: the buffer is the decayed gradient itself */
    const nt_tensor_desc *w = tensor(&tiny_net, "linear1.weight");
    for (size_t k = 0; k < w->count; k++) {
        size_t i = w->offset + k;
        buf[k] = m.grads[i] + c.weight_decay * p0[i];
    }
    TU_ASSERT_CLOSE("momentum after step 1", m.momentum + w->offset, buf,
                    w->count, 0.0, 0.0);
    /* second step: buf = momentum * buf + g */
    memcpy(p0, m.params, P * sizeof(float));
    nt_model_train_step(&m, N, labels, probs, NULL, &c);
    for (size_t k = 0; k < w->count; k++) {
        size_t i = w->offset + k;
        buf[k] = buf[k] * c.momentum + (m.grads[i] + c.weight_decay * p0[i]);
    }
    TU_ASSERT_CLOSE("momentum after step 2", m.momentum + w->offset, buf,
                    w->count, 0.0, 0.0);
    ck_assert(m.step == 2);
    free(p0);
    free(buf);
    nt_model_free(&m);
}
END_TEST

typedef struct loss_ctx {
    nt_model *m;
    const int32_t *labels;
    float *probs;
    int n;
} loss_ctx;

/* The training-mode loss at the current parameters. */
static double train_loss(void *p)
{
    loss_ctx *c = p;
    c->m->net->forward(c->m, c->n, 1);
    return nt_softmax_xent_forward(c->probs, NULL, c->m->logits, c->labels,
                                   c->n, 10, 0.0f);
}

START_TEST(test_step_gradients)
{
    enum { N = 6 };
    nt_model m;
    alloc_tiny(&m, N, 21);
    m.dropout_enabled = 0; /* finite differences need a fixed function */
    int32_t labels[N];
    float probs[N * 10];
    fill_batch(&m, labels, N, 77);
    /* lr 0: the step computes gradients and leaves the parameters alone */
    const nt_optim_config c = nt_optim_sgd(0.0f, 0.0f, 0.0f);
    nt_model_train_step(&m, N, labels, probs, NULL, &c);
    loss_ctx ctx = {&m, labels, probs, N};
    const char *names[] = {"conv1.weight", "conv1.bias", "batchnorm1.weight",
                           "batchnorm1.bias", "linear1.weight", "linear1.bias"};
    for (int i = 0; i < 6; i++) {
        const nt_tensor_desc *t = tensor(&tiny_net, names[i]);
        size_t n = t->count < 24 ? t->count : 24;
        double num[24];
        tu_numeric_grad(num, m.params + t->offset, n, 1e-4, train_loss, &ctx);
        /* eps 1e-4: batch norm magnifies weight changes, so relu and
         * maxpool kinks lie within 1e-3 of some weights (eps 1e-3 straddles
         * them, errors ~0.06); with eps 1e-4 the float loss (~2.3, rounding
         * ~2e-7) leaves up to ~2e-3 of noise in the quotient (measured 1.6e-3
         * at 1 and 2 threads); gradients are ~0.1-1, so 5e-3 still catches
         * any wrong term */
        TU_ASSERT_CLOSE_D(t->name, m.grads + t->offset, num, n, 5e-3, 1e-2);
    }
    nt_model_free(&m);
}
END_TEST

START_TEST(test_eval_batch)
{
    enum { N = 5 };
    nt_model m;
    alloc_tiny(&m, N, 4);
    int32_t labels[N];
    fill_batch(&m, labels, N, 8);
    int got = nt_model_eval_batch(&m, N, labels);
    int want = 0;
    for (int i = 0; i < N; i++) {
        const float *row = m.logits + i * 10;
        int arg = 0;
        for (int k = 1; k < 10; k++)
            if (row[k] > row[arg])
                arg = k;
        want += arg == labels[i];
        labels[i] = arg; /* now every one is right */
    }
    ck_assert_int_eq(got, want);
    ck_assert_int_eq(nt_model_eval_batch(&m, N, labels), N);
    nt_model_free(&m);
}
END_TEST

/* ---- checkpoints ------------------------------------------------------------- */

START_TEST(test_checkpoint_roundtrip)
{
    tu_tmpdir_make("model");
    nt_model a, b;
    alloc_tiny(&a, 2, 3);
    alloc_tiny(&b, 2, 4);
    for (size_t i = 0; i < tiny_net.param_floats; i++)
        a.momentum[i] = (float)i * 0.5f;
    a.step = 123;
    nt_error err = {{0}};
    const char *path = tu_tmp("a.safetensors");
    ck_assert_msg(nt_checkpoint_save(&a, path, 4, 1, NULL, &err) == 0, "%s",
                  err.msg);
    nt_checkpoint_info ci;
    ck_assert_msg(nt_checkpoint_load(&b, path, 1, &ci, &err) == 0, "%s",
                  err.msg);
    const size_t bytes = tiny_net.param_floats * sizeof(float);
    ck_assert(memcmp(a.params, b.params, bytes) == 0);
    for (int i = 0; i < tiny_net.ntensors; i++) {
        const nt_tensor_desc *t = &tiny_net.tensors[i];
        if (t->trainable)
            ck_assert(memcmp(a.momentum + t->offset, b.momentum + t->offset,
                             t->count * sizeof(float)) == 0);
    }
    ck_assert(ci.has_meta && ci.has_epoch && ci.has_step && ci.has_seed);
    ck_assert(ci.epoch == 4 && ci.step == 123 && ci.seed == 3);
    nt_model_free(&a);
    nt_model_free(&b);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_checkpoint_layout)
{
    tu_tmpdir_make("model");
    nt_model m;
    alloc_tiny(&m, 2, 3);
    m.step = 8;
    nt_error err = {{0}};
    const char *path = tu_tmp("m.safetensors");
    ck_assert_int_eq(nt_checkpoint_save(&m, path, 2, 1, NULL, &err), 0);
    nt_safetensors st;
    ck_assert_msg(nt_st_read(&st, path, &err) == 0, "%s", err.msg);
    /* the net's tensors in network order, then one momentum per trainable */
    ck_assert_int_eq(st.ntensors, tiny_net.ntensors + 6);
    for (int i = 0; i < tiny_net.ntensors; i++) {
        const nt_tensor_desc *t = &tiny_net.tensors[i];
        ck_assert_str_eq(st.tensors[i].name, t->name);
        ck_assert_str_eq(st.tensors[i].dtype, "F32");
        ck_assert_int_eq(st.tensors[i].ndim, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            ck_assert_int_eq(st.tensors[i].shape[d], t->shape[d]);
    }
    ck_assert_str_eq(st.tensors[tiny_net.ntensors].name,
                     "momentum.conv1.weight");
    ck_assert_str_eq(st.tensors[st.ntensors - 1].name, "momentum.linear1.bias");
    ck_assert_ptr_null(nt_st_find(&st, "momentum.batchnorm1.running_mean"));
    ck_assert_str_eq(nt_st_meta(&st, "net"), "tiny");
    ck_assert_str_eq(nt_st_meta(&st, "netc_hash"), "74696e792d6e6574");
    ck_assert_str_eq(nt_st_meta(&st, "epoch"), "2");
    ck_assert_str_eq(nt_st_meta(&st, "step"), "8");
    ck_assert_str_eq(nt_st_meta(&st, "seed"), "3");
    ck_assert_str_eq(nt_st_meta(&st, "netc_version"), NT_VERSION);
    ck_assert_str_eq(nt_st_meta(&st, "format"), "netc-checkpoint-1");
    nt_st_free(&st);

    /* without momentum: the net's tensors only */
    ck_assert_int_eq(nt_checkpoint_save(&m, path, 2, 0, NULL, &err), 0);
    ck_assert_int_eq(nt_st_read(&st, path, &err), 0);
    ck_assert_int_eq(st.ntensors, tiny_net.ntensors);
    nt_st_free(&st);
    nt_model_free(&m);
    tu_tmpdir_remove();
}
END_TEST

/* A checkpoint of m written with one change. */
typedef struct variant {
    const char *skip;            /* leave this tensor out */
    const char *extra;           /* add a tensor of this name */
    const char *reshape;         /* write this tensor with shape `shape` */
    int ndim;
    int64_t shape[4];
    int momentum;                /* add momentum.* tensors */
    const char *hash;            /* netc_hash in the metadata */
    const char *format;
    int no_meta;
} variant;

static void write_variant(const char *path, const nt_model *m,
                          const variant *v)
{
    const nt_net_desc *net = m->net;
    nt_st_entry e[32];
    char names[16][64];
    int n = 0, nm = 0;
    for (int i = 0; i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        if (v->skip && strcmp(v->skip, t->name) == 0)
            continue;
        e[n] = (nt_st_entry){t->name, t->ndim, t->shape, m->params + t->offset};
        if (v->reshape && strcmp(v->reshape, t->name) == 0) {
            e[n].ndim = v->ndim;
            e[n].shape = v->shape;
        }
        n++;
    }
    for (int i = 0; v->momentum && i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        if (!t->trainable)
            continue;
        snprintf(names[nm], sizeof names[nm], "momentum.%s", t->name);
        e[n++] = (nt_st_entry){names[nm++], t->ndim, t->shape,
                               m->momentum + t->offset};
    }
    static const int64_t four = 4;
    if (v->extra)
        e[n++] = (nt_st_entry){v->extra, 1, &four, m->params};
    const char *keys[] = {"net", "netc_hash", "epoch", "step", "seed",
                          "format"};
    const char *values[] = {"tiny", v->hash ? v->hash : "74696e792d6e6574",
                            "1", "5", "3",
                            v->format ? v->format : "netc-checkpoint-1"};
    nt_error err = {{0}};
    ck_assert_msg(nt_st_write(path, e, n, keys, values, v->no_meta ? 0 : 6,
                              &err) == 0, "%s", err.msg);
}

/* Loading path must fail with a message holding want, leaving m alone. */
static void assert_refused(nt_model *m, const char *path, int with_momentum,
                           const char *want)
{
    const size_t bytes = m->net->param_floats * sizeof(float);
    float *before = malloc(bytes);
    memcpy(before, m->params, bytes);
    nt_error err = {{0}};
    ck_assert_int_eq(nt_checkpoint_load(m, path, with_momentum, NULL, &err),
                     -1);
    ck_assert_msg(strstr(err.msg, want) != NULL,
                  "message \"%s\" lacks \"%s\"", err.msg, want);
    ck_assert_msg(memcmp(before, m->params, bytes) == 0,
                  "a refused checkpoint changed the model");
    free(before);
}

START_TEST(test_checkpoint_mismatches)
{
    tu_tmpdir_make("model");
    nt_model src, m;
    alloc_tiny(&src, 2, 3);
    alloc_tiny(&m, 2, 4);
    const char *path = tu_tmp("v.safetensors");

    write_variant(path, &src, &(variant){.skip = "linear1.bias"});
    assert_refused(&m, path, 0,
                   "the checkpoint lacks tensor 'linear1.bias' of net tiny");

    write_variant(path, &src, &(variant){.extra = "linear2.weight"});
    assert_refused(&m, path, 0, "the checkpoint has tensor 'linear2.weight', "
                   "which net tiny lacks");

    write_variant(path, &src, &(variant){.reshape = "conv1.weight", .ndim = 4,
                                         .shape = {4, 3, 3, 1}});
    assert_refused(&m, path, 0, "tensor 'conv1.weight' is [4,3,3,1] in the "
                   "checkpoint but [4,1,3,3] in net tiny");

    write_variant(path, &src, &(variant){.reshape = "linear1.bias", .ndim = 2,
                                         .shape = {10, 1}});
    assert_refused(&m, path, 0, "tensor 'linear1.bias' is [10,1] in the "
                   "checkpoint but [10] in net tiny");

    write_variant(path, &src, &(variant){.hash = "0123456789abcdef"});
    assert_refused(&m, path, 0, "netc_hash 0123456789abcdef, net tiny has "
                   "74696e792d6e6574");

    write_variant(path, &src, &(variant){.format = "netc-train-step-1"});
    assert_refused(&m, path, 0, "format 'netc-train-step-1' is not a netc "
                   "checkpoint");

    /* resuming with momentum needs the buffers */
    write_variant(path, &src, &(variant){0});
    assert_refused(&m, path, 1, "lacks tensor 'momentum.conv1.weight'");

    /* a momentum buffer of a tensor the net lacks */
    write_variant(path, &src, &(variant){.momentum = 1,
                                         .extra = "momentum.linear9.weight"});
    assert_refused(&m, path, 1, "has tensor 'momentum.linear9.weight'");
    nt_model_free(&src);
    nt_model_free(&m);
    tu_tmpdir_remove();
}
END_TEST

/* Replaces the first occurrence of from (same length as to) in a file. */
static void patch_file(const char *path, const char *from, const char *to)
{
    size_t n;
    unsigned char *b = read_bytes(path, &n);
    size_t k = strlen(from);
    ck_assert_uint_eq(k, strlen(to));
    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(b + i, from, k) == 0) {
            memcpy(b + i, to, k);
            write_bytes(path, b, n);
            free(b);
            return;
        }
    }
    ck_abort_msg("%s not found in %s", from, path);
}

START_TEST(test_checkpoint_bad_files)
{
    tu_tmpdir_make("model");
    nt_model src, m;
    alloc_tiny(&src, 2, 3);
    alloc_tiny(&m, 2, 4);
    nt_error err = {{0}};
    const char *path = tu_tmp("c.safetensors");

    /* a 4-byte dtype other than F32 */
    write_variant(path, &src, &(variant){0});
    patch_file(path, "\"F32\"", "\"I32\"");
    assert_refused(&m, path, 0, "tensor 'conv1.weight' is I32 in the "
                   "checkpoint; netc reads F32 only");

    /* truncated: nt_st_read's message, naming the file */
    ck_assert_int_eq(nt_checkpoint_save(&src, path, 1, 0, NULL, &err), 0);
    size_t n;
    unsigned char *b = read_bytes(path, &n);
    write_bytes(path, b, n - 10);
    assert_refused(&m, path, 0, path);
    /* corrupt header */
    write_bytes(path, b, n);
    patch_file(path, "\"shape\"", "\"shap\"\"");
    assert_refused(&m, path, 0, path);
    free(b);
    /* not there */
    assert_refused(&m, tu_tmp("none.safetensors"), 0, "none.safetensors");
    /* bad numbers in the metadata */
    write_variant(path, &src, &(variant){0});
    patch_file(path, "\"step\":\"5\"", "\"step\":\"x\"");
    assert_refused(&m, path, 0, "metadata step = 'x' is not a count");
    nt_model_free(&src);
    nt_model_free(&m);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_checkpoint_accepted)
{
    tu_tmpdir_make("model");
    nt_model src, m;
    alloc_tiny(&src, 2, 3);
    alloc_tiny(&m, 2, 4);
    nt_error err = {{0}};
    nt_checkpoint_info ci;
    const char *path = tu_tmp("ok.safetensors");
    const size_t bytes = tiny_net.param_floats * sizeof(float);

    /* as PyTorch tooling writes it: no metadata */
    write_variant(path, &src, &(variant){.no_meta = 1});
    ck_assert_msg(nt_checkpoint_load(&m, path, 0, &ci, &err) == 0, "%s",
                  err.msg);
    ck_assert(!ci.has_meta && !ci.has_epoch && !ci.has_seed);
    ck_assert(memcmp(src.params, m.params, bytes) == 0);

    /* momentum buffers are ignored by a plain load */
    nt_model_init(&m, 4);
    write_variant(path, &src, &(variant){.momentum = 1});
    ck_assert_msg(nt_checkpoint_load(&m, path, 0, &ci, &err) == 0, "%s",
                  err.msg);
    ck_assert(memcmp(src.params, m.params, bytes) == 0);
    ck_assert(ci.epoch == 1 && ci.step == 5 && ci.seed == 3);

    /* PyTorch's batch-norm counter (I64) is ignored */
    nt_model_init(&m, 4);
    write_variant(path, &src,
                  &(variant){.extra = "batchnorm1.num_batches_tracked"});
    /* the extra tensor is F32 [4]; make it I64 [2] (same 16 bytes) */
    patch_file(path, "\"batchnorm1.num_batches_tracked\":{\"dtype\":\"F32\","
               "\"shape\":[4]",
               "\"batchnorm1.num_batches_tracked\":{\"dtype\":\"I64\","
               "\"shape\":[2]");
    ck_assert_msg(nt_checkpoint_load(&m, path, 0, NULL, &err) == 0, "%s",
                  err.msg);
    ck_assert(memcmp(src.params, m.params, bytes) == 0);
    nt_model_free(&src);
    nt_model_free(&m);
    tu_tmpdir_remove();
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_alloc_layout);
    tcase_add_test(tc, test_alloc_big);
    tcase_add_test(tc, test_alloc_refuses);
    suite_add_tcase(s, tc);
    tc = tcase_create("init");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_init_distributions);
    tcase_add_test(tc, test_init_seeded);
    tcase_add_test(tc, test_dropout_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("step");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_step_is_sgd);
    tcase_add_test(tc, test_step_momentum_and_decay);
    tcase_add_test(tc, test_step_gradients);
    tcase_add_test(tc, test_eval_batch);
    suite_add_tcase(s, tc);
    tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_checkpoint_roundtrip);
    tcase_add_test(tc, test_checkpoint_layout);
    tcase_add_test(tc, test_checkpoint_mismatches);
    tcase_add_test(tc, test_checkpoint_bad_files);
    tcase_add_test(tc, test_checkpoint_accepted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
