/* model.c - one network instance: its arenas, parameter initialisation, one
 * SGD step, eval-mode accuracy of a batch, dropout keys, and checkpoints
 * (safetensors save and a strict, validating load).
 *
 * It does not parse command lines, read datasets or print anything: the
 * trainer driver (trainer.c) does that. Loading validates the whole file
 * against the net before it changes the model, so a refused checkpoint
 * leaves the model as it was. */
#include "nt_trainer.h"
#include "nt_dist.h"
#include "nt_io.h"
#include "hardening.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Salts that keep the counter-based random streams of the run apart. */
#define STREAM_DROPOUT 0x64726f706f757400ULL /* "dropout" */
#define STREAM_RANK 0x72616e6b00000000ULL    /* "rank" */

#define MOMENTUM_PREFIX "momentum."
#define ADAM_M_PREFIX "adam.m."
#define ADAM_V_PREFIX "adam.v."
#define BN_COUNTER_SUFFIX ".num_batches_tracked"

/* ---- arenas ---------------------------------------------------------------- */

/* n floats (at least one), 64-byte aligned, zeroed unless !zero. */
static float *alloc_floats(size_t n, const char *what, int zero, nt_error *err)
{
    if (n > (SIZE_MAX - 63) / sizeof(float)) {
        nt_fail(err, "the %s would need more memory than can be addressed",
                what);
        return NULL;
    }
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    void *p = nt_alloc_big(bytes);
    if (!p) {
        nt_fail(err, "out of memory: the %s need %.1f MiB", what,
                (double)bytes / (1024.0 * 1024.0));
        return NULL;
    }
    if (zero)
        memset(p, 0, bytes);
    return p;
}

/* The arenas of a training model, or (inference) of an inference model. */
static int model_alloc(nt_model *m, const nt_net_desc *net, int batch_max,
                       int inference, nt_error *err)
{
    memset(m, 0, sizeof *m);
    if (batch_max < 1)
        return nt_fail(err, "batch capacity %d: must be at least 1",
                       batch_max);
    if (nt_net_desc_check(net, err) != 0)
        return -1;
    const size_t B = (size_t)batch_max;
    const size_t act = inference ? net->infer_floats : net->act_floats;
    if (act > SIZE_MAX / B)
        return nt_fail(err, "the activations of %d examples would need more "
                       "memory than can be addressed", batch_max);
    const int threads = nt_num_threads();
    size_t scratch = net->scratch_floats ? net->scratch_floats(threads) : 0;
    /* a sample-parallel net: one share of the batch per thread, each with
     * the scratch of one thread and (but the first) its gradient arena */
    const int parts = net->sample_parallel && threads > 1 ? threads : 1;
    const size_t part_scratch = net->scratch_floats ? net->scratch_floats(1) : 0;
    const size_t part_grads = inference ? 0 : (size_t)(parts - 1) * net->param_floats;
    if (scratch < parts * part_scratch)
        scratch = parts * part_scratch;
    /* Refuse up front what cannot fit in the machine's memory: with Linux's
     * overcommit the allocations could succeed and zeroing them would then
     * summon the OOM killer. */
    const double need = ((double)act * (double)B + (inference ? 1.0 : 3.0) * net->param_floats +
                         (double)part_grads +
                         (double)net->state_floats + (double)scratch) * sizeof(float);
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    const double have = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    if (have > 0 && need > have)
        return nt_fail(err, "a batch capacity of %d needs %.1f GiB of memory, more than the "
                       "%.1f GiB this machine has; use a smaller --batch-size", batch_max,
                       need / 1073741824.0, have / 1073741824.0);
    m->net = net;
    m->batch_max = batch_max;
    m->dropout_enabled = 1;
    m->inference = inference;
    m->parts = parts;
    m->part_scratch = part_scratch;
    if (!(m->params = alloc_floats(net->param_floats, "parameters", 1, err)) ||
        (!inference &&
         (!(m->grads = alloc_floats(net->param_floats, "gradients", 1, err)) ||
          !(m->momentum = alloc_floats(net->param_floats, "momentum buffers", 1, err)))) ||
        /* an eval-mode forward writes every buffer before it reads it: the
         * inference arena's pages are touched only when first used */
        !(m->act = alloc_floats(act * B, "activations", !inference, err)) ||
        !(m->state = alloc_floats(net->state_floats, "saved statistics", 1,
                                  err)) ||
        !(m->scratch = alloc_floats(scratch, "kernel scratch buffers", 1, err)) ||
        (part_grads &&
         !(m->part_grads = alloc_floats(part_grads, "per-thread gradients", 1, err)))) {
        nt_model_free(m);
        return -1;
    }
    if (net->sample_parallel && net->team_doubles &&
        !(m->team = calloc((size_t)(parts + 1) * net->team_doubles, sizeof(double)))) {
        nt_fail(err, "out of memory: the batch-norm sums of %d threads", parts);
        nt_model_free(m);
        return -1;
    }
    if (inference) {
        m->input = m->act + net->infer_input_offset * B;
        m->logits = m->act + net->infer_logits_offset * B;
    } else {
        m->input = m->act + net->input_offset * B;
        m->logits = m->act + net->logits_offset * B;
        m->dlogits = m->act + net->dlogits_offset * B;
    }
    return 0;
}

int nt_model_alloc(nt_model *m, const nt_net_desc *net, int batch_max,
                   nt_error *err)
{
    return model_alloc(m, net, batch_max, 0, err);
}

int nt_model_alloc_inference(nt_model *m, const nt_net_desc *net,
                             int batch_max, nt_error *err)
{
    return model_alloc(m, net, batch_max, 1, err);
}

int nt_inference_batch(const nt_net_desc *net, int want)
{
    const size_t per = (net->infer_floats ? net->infer_floats : 1) * sizeof(float);
    const size_t fit = NT_INFER_ACT_BYTES / per;
    return want < 1 ? 1 : fit < 1 ? 1 : (size_t)want < fit ? want : (int)fit;
}

void nt_model_free(nt_model *m)
{
    nt_profile_free(m->prof);
    free(m->params);
    free(m->grads);
    free(m->part_grads);
    free(m->team);
    free(m->momentum);
    free(m->moment2);
    free(m->act);
    free(m->state);
    free(m->scratch);
    memset(m, 0, sizeof *m);
}

/* ---- initialisation and training -------------------------------------------- */

void nt_model_init(nt_model *m, uint64_t seed)
{
    const nt_net_desc *net = m->net;
    nt_rng rng;
    nt_rng_seed(&rng, seed);
    for (int i = 0; i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        float *w = m->params + t->offset;
        switch (t->init) {
        case NT_INIT_XAVIER:
            nt_init_xavier_uniform(w, t->count, t->fan_in, t->fan_out, &rng);
            break;
        case NT_INIT_BIAS:
            nt_init_uniform(w, t->count, (float)(1.0 / sqrt(t->fan_in)), &rng);
            break;
        case NT_INIT_ONES:
            nt_init_const(w, t->count, 1.0f);
            break;
        case NT_INIT_ZEROS:
            nt_init_const(w, t->count, 0.0f);
            break;
        }
    }
    if (!m->inference) {
        memset(m->grads, 0, net->param_floats * sizeof(float));
        memset(m->momentum, 0, net->param_floats * sizeof(float));
    }
    memset(m->state, 0, net->state_floats * sizeof(float));
    m->seed = seed;
    m->step = 0;
}

int nt_model_arenas(const nt_model *m, nt_arena *out, int max)
{
    const nt_arena all[] = {
        {m->params, m->net->param_floats, "parameters"},
        {m->momentum, m->net->param_floats, "momentum buffers"},
        {m->moment2, m->net->param_floats, "Adam's second moments"},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof all / sizeof *all && n < max; i++)
        if (all[i].data) /* moment2 exists for Adam only */
            out[n++] = all[i];
    return n;
}

size_t nt_model_trainable_floats(const nt_net_desc *net)
{
    size_t n = 0;
    for (int i = 0; i < net->ntensors; i++)
        if (net->tensors[i].trainable)
            n += net->tensors[i].count;
    return n;
}

uint64_t nt_dropout_key(const nt_model *m, int layer)
{
    const uint64_t key = nt_hash64(nt_hash64(m->seed ^ STREAM_DROPOUT, (uint64_t)layer),
                                   m->step);
    /* each process of a data-parallel run masks its own examples: keys of
     * their own (rank 0's is the single process's) */
    const int rank = nt_dist_rank();
    return rank ? nt_hash64(key ^ STREAM_RANK, (uint64_t)rank) : key;
}

float nt_model_train_step(nt_model *m, int n, const int32_t *labels,
                          float *probs, int *ncorrect, const nt_optim_config *c)
{
    const nt_net_desc *net = m->net;
    const int K = net->classes;
    assert(!m->inference);
    double tp = nt_prof_start(m);
    memset(m->grads, 0, net->param_floats * sizeof(float));
    nt_prof_phase(m, tp, NT_PROF_ZERO);
    net->forward(m, n, 1);
    tp = nt_prof_start(m);
    int ok = 0;
    float loss = nt_softmax_xent_forward(probs, &ok, m->logits, labels, n, K,
                                         c->label_smoothing);
    /* with several processes (nt_dist.h), this one's n examples are part of
     * a batch of `total`: loss and gradients are the whole batch's */
    const int total = nt_dist_batch_totals(n, &loss, &ok);
    if (ncorrect)
        *ncorrect = ok;
    memset(m->dlogits, 0, (size_t)n * K * sizeof(float));
    nt_softmax_xent_backward_part(m->dlogits, probs, labels, n, total, K, c->label_smoothing);
    nt_prof_phase(m, tp, NT_PROF_LOSS);
    net->backward(m, n);
    tp = nt_prof_start(m);
    nt_dist_sum_floats(m->grads, net->param_floats, "gradients");
    nt_optim_step(m, c);
    nt_prof_phase(m, tp, NT_PROF_OPTIMIZER);
    m->step++;
    return loss;
}

int nt_model_alloc_moment2(nt_model *m, nt_error *err)
{
    if (!m->moment2 &&
        !(m->moment2 = alloc_floats(m->net->param_floats, "second moments", 1, err)))
        return -1;
    return 0;
}

int nt_model_eval_batch(nt_model *m, int n, const int32_t *labels)
{
    const int K = m->net->classes;
    m->net->forward(m, n, 0);
    int correct = 0;
    for (int i = 0; i < n; i++) {
        const float *row = m->logits + (size_t)i * K;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[arg])
                arg = k;
        correct += arg == labels[i];
    }
    return correct;
}

/* ---- checkpoints: save ------------------------------------------------------ */

/* The optimizer-state buffers of a checkpoint of kind `state`
 * (NT_STATE_*): their name prefixes and (for m non-NULL) arenas. */
static int state_buffers(int state, const nt_model *m, const char **prefix, float **buf)
{
    static const char *const all[3] = {MOMENTUM_PREFIX, ADAM_M_PREFIX, ADAM_V_PREFIX};
    if (state == NT_STATE_MOMENTUM) {
        prefix[0] = all[0];
        buf[0] = m ? m->momentum : NULL;
        return 1;
    }
    if (state == NT_STATE_ADAM) {
        prefix[0] = all[1];
        prefix[1] = all[2];
        buf[0] = m ? m->momentum : NULL;
        buf[1] = m ? m->moment2 : NULL;
        return 2;
    }
    return 0;
}

/* Whether name starts with any optimizer-state prefix; its length, or 0. */
static size_t state_prefix_len(const char *name)
{
    static const char *const all[3] = {MOMENTUM_PREFIX, ADAM_M_PREFIX, ADAM_V_PREFIX};
    for (int k = 0; k < 3; k++)
        if (strncmp(name, all[k], strlen(all[k])) == 0)
            return strlen(all[k]);
    return 0;
}

int nt_checkpoint_save(const nt_model *m, const char *path, int epoch,
                       int state, const char *training,
                       nt_error *err)
{
    return nt_checkpoint_save_history(m, path, epoch, state, training, NULL, err);
}

int nt_checkpoint_save_history(const nt_model *m, const char *path, int epoch,
                               int state, const char *training,
                               const char *history, nt_error *err)
{
    const nt_net_desc *net = m->net;
    int ntrain = 0;
    for (int i = 0; i < net->ntensors; i++)
        ntrain += net->tensors[i].trainable != 0;
    const char *prefix[2];
    float *buf[2];
    const int nbuf = state_buffers(state, m, prefix, buf);
    const int nmom = nbuf * ntrain;
    const int n = net->ntensors + nmom;
    nt_st_entry *e = calloc((size_t)n + 1, sizeof *e);
    char **names = calloc((size_t)nmom + 1, sizeof *names);
    int rc = -1;
    if (!e || !names) {
        nt_fail(err, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0; i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        e[i] = (nt_st_entry){t->name, t->ndim, t->shape, m->params + t->offset};
    }
    int k = 0;
    for (int b = 0; b < nbuf; b++)
        for (int i = 0; i < net->ntensors; i++) {
            const nt_tensor_desc *t = &net->tensors[i];
            if (!t->trainable)
                continue;
            size_t len = strlen(prefix[b]) + strlen(t->name) + 1;
            if (!(names[k] = malloc(len))) {
                nt_fail(err, "%s: out of memory", path);
                goto out;
            }
            snprintf(names[k], len, "%s%s", prefix[b], t->name);
            e[net->ntensors + k] = (nt_st_entry){names[k], t->ndim, t->shape,
                                                 buf[b] + t->offset};
            k++;
        }

    char hash[24], ep[24], step[24], seed[24];
    snprintf(hash, sizeof hash, "%016" PRIx64, net->hash);
    snprintf(ep, sizeof ep, "%d", epoch);
    snprintf(step, sizeof step, "%" PRIu64, m->step);
    snprintf(seed, sizeof seed, "%" PRIu64, m->seed);
    char arch[24], input[64];
    snprintf(arch, sizeof arch, "%016" PRIx64, net->arch_hash);
    snprintf(input, sizeof input, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
    const char *keys[11] = {"net", "netc_hash", "netc_arch_hash", "input", "epoch", "step",
                            "seed", "netc_version", "format"};
    const char *values[11] = {net->name, hash, arch, input, ep, step, seed,
                              net->netc_version ? net->netc_version : "",
                              NT_CHECKPOINT_FORMAT};
    int nmeta = 9;
    if (training) {
        keys[nmeta] = "training";
        values[nmeta++] = training;
    }
    if (history) {
        keys[nmeta] = "history";
        values[nmeta++] = history;
    }
    rc = nt_st_write(path, e, n, keys, values, nmeta, err);
out:
    if (names)
        for (int k = 0; k < nmom; k++)
            free(names[k]);
    free(names);
    free(e);
    return rc;
}

/* ---- checkpoints: load ------------------------------------------------------ */

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64,
                                d ? "," : "", shape[d]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const nt_tensor_desc *net_tensor(const nt_net_desc *net,
                                        const char *name)
{
    for (int i = 0; i < net->ntensors; i++)
        if (strcmp(net->tensors[i].name, name) == 0)
            return &net->tensors[i];
    return NULL;
}

/* The checkpoint tensor `name` that must stand for t: present, F32, shaped
 * like t. */
static const nt_st_tensor *match(const nt_safetensors *st, const char *name,
                                 const nt_tensor_desc *t,
                                 const nt_net_desc *net, const char *path,
                                 const char *missing_note, nt_error *err)
{
    const nt_st_tensor *s = nt_st_find(st, name);
    if (!s) {
        nt_fail(err, "%s: the checkpoint lacks tensor '%s' of net %s%s", path,
                name, net->name, missing_note);
        return NULL;
    }
    int same = s->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++)
        same = s->shape[d] == t->shape[d];
    if (!same) {
        char have[128], want[128];
        format_shape(have, sizeof have, s->ndim, s->shape);
        format_shape(want, sizeof want, t->ndim, t->shape);
        nt_fail(err, "%s: tensor '%s' is %s in the checkpoint but %s in net "
                "%s", path, name, have, want, net->name);
        return NULL;
    }
    if (strcmp(s->dtype, "F32") != 0) {
        nt_fail(err, "%s: tensor '%s' is %s in the checkpoint; netc reads F32 "
                "only", path, name, s->dtype);
        return NULL;
    }
    return s;
}

/* A tensor of the file that the net (with the optimizer state of kind
 * `state`) does not have, or NULL. State buffers of other kinds are
 * ignored. */
static const char *extra_tensor(const nt_safetensors *st,
                                const nt_net_desc *net, int state)
{
    const char *prefix[2];
    float *buf[2];
    const int nbuf = state_buffers(state, NULL, prefix, buf);
    for (int i = 0; i < st->ntensors; i++) {
        const char *name = st->tensors[i].name;
        if (has_suffix(name, BN_COUNTER_SUFFIX))
            continue;
        const size_t plen = state_prefix_len(name);
        if (plen) {
            int ours = 0;
            for (int b = 0; b < nbuf; b++)
                ours |= strncmp(name, prefix[b], strlen(prefix[b])) == 0;
            if (!ours)
                continue;
            const nt_tensor_desc *t = net_tensor(net, name + plen);
            if (!t || !t->trainable)
                return name;
            continue;
        }
        if (!net_tensor(net, name))
            return name;
    }
    return NULL;
}

/* Parses an unsigned decimal metadata value. */
static int meta_u64(const char *v, uint64_t *out)
{
    if (!v || *v < '0' || *v > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

/* The checkpoint's netc_hash differs from the net's although its tensors
 * fit: accepted with a note when only the input size differs (the
 * architecture hashes agree), refused otherwise with what differs. */
static int same_but_input(const nt_safetensors *st, const nt_net_desc *net,
                          const char *path, nt_checkpoint_info *ci, nt_error *err)
{
    const char *name = nt_st_meta(st, "net"), *arch = nt_st_meta(st, "netc_arch_hash");
    const char *input = nt_st_meta(st, "input");
    char want_arch[24], want_input[64];
    snprintf(want_arch, sizeof want_arch, "%016" PRIx64, net->arch_hash);
    snprintf(want_input, sizeof want_input, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
    const int input_differs = input && strcmp(input, want_input) != 0;
    if (arch && net->arch_hash && strcmp(arch, want_arch) == 0 && input_differs) {
        snprintf(ci->note, sizeof ci->note, "%s was trained on %s input, net %s takes %s; "
                 "only the input size differs and the tensors fit, so they are used",
                 path, input, net->name, want_input);
        return 0;
    }
    if (input_differs)
        return nt_fail(err, "%s: written by%s%s for input %s (net %s takes %s), and "
                       "besides the input size its layers differ too (netc_arch_hash %s, "
                       "net %s has %s), such as a stride, a padding or a pooling window",
                       path, name ? " net " : " another net", name ? name : "", input,
                       net->name, want_input, arch ? arch : "absent", net->name, want_arch);
    return nt_fail(err, "%s: written by a different net%s%s: the tensors and the input "
                   "size match, but a layer differs, such as a stride, a padding or a "
                   "pooling window (netc_hash %s, net %s has %016" PRIx64 ")", path,
                   name ? " " : "", name ? name : "", nt_st_meta(st, "netc_hash"),
                   net->name, net->hash);
}

static int read_info(const nt_safetensors *st, const nt_net_desc *net,
                     const char *path, nt_checkpoint_info *ci, nt_error *err)
{
    memset(ci, 0, sizeof *ci);
    ci->has_meta = st->nmeta > 0;
    const char *format = nt_st_meta(st, "format");
    if (format && strcmp(format, NT_CHECKPOINT_FORMAT) != 0)
        return nt_fail(err, "%s: format '%s' is not a netc checkpoint (%s)",
                       path, format, NT_CHECKPOINT_FORMAT);
    const char *hash = nt_st_meta(st, "netc_hash");
    if (hash) {
        char want[24];
        snprintf(want, sizeof want, "%016" PRIx64, net->hash);
        if (strcmp(hash, want) != 0 &&
            same_but_input(st, net, path, ci, err) != 0)
            return -1;
    }
    static const char *const keys[3] = {"epoch", "step", "seed"};
    uint64_t v[3] = {0, 0, 0};
    int has[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        const char *s = nt_st_meta(st, keys[k]);
        if (!s)
            continue;
        if (meta_u64(s, &v[k]) != 0 || (k == 0 && v[k] > INT32_MAX))
            return nt_fail(err, "%s: metadata %s = '%s' is not a count", path,
                           keys[k], s);
        has[k] = 1;
    }
    ci->has_epoch = has[0];
    ci->has_step = has[1];
    ci->has_seed = has[2];
    ci->epoch = (int)v[0];
    ci->step = v[1];
    ci->seed = v[2];
    const char *training = nt_st_meta(st, "training");
    if (training)
        snprintf(ci->training, sizeof ci->training, "%s", training);
    return 0;
}

/* Checks every tensor and the metadata; fills src[i] (and msrc[b][i] for
 * state buffer b of trainable tensor i) with the file's tensors. */
static int validate(const nt_safetensors *st, const nt_net_desc *net,
                    const char *path, int state,
                    const nt_st_tensor **src, const nt_st_tensor **msrc[2],
                    nt_checkpoint_info *ci, nt_error *err)
{
    for (int i = 0; i < net->ntensors; i++)
        if (!(src[i] = match(st, net->tensors[i].name, &net->tensors[i], net,
                             path, "", err)))
            return -1;
    const char *prefix[2];
    float *buf[2];
    const int nbuf = state_buffers(state, NULL, prefix, buf);
    for (int b = 0; b < nbuf; b++)
        for (int i = 0; i < net->ntensors; i++) {
            const nt_tensor_desc *t = &net->tensors[i];
            if (!t->trainable)
                continue;
            char name[512];
            if ((size_t)snprintf(name, sizeof name, "%s%s", prefix[b],
                                 t->name) >= sizeof name)
                return nt_fail(err, "%s: tensor name '%s' is too long", path,
                               t->name);
            if (!(msrc[b][i] = match(st, name, t, net, path,
                                     state == NT_STATE_ADAM
                                         ? " (Adam's moments are needed to resume Adam)"
                                         : " (momentum buffers are needed to resume with "
                                           "momentum)", err)))
                return -1;
        }
    const char *extra = extra_tensor(st, net, state);
    if (extra)
        return nt_fail(err, "%s: the checkpoint has tensor '%s', which net %s "
                       "lacks", path, extra, net->name);
    return read_info(st, net, path, ci, err);
}

/* Refuses NaN, infinity and a negative running_var in the tensors (and
 * optimizer-state buffers) the load would copy, before anything is copied. */
static int check_values(const nt_safetensors *st, const nt_net_desc *net, const char *path,
                        const nt_st_tensor **src, const nt_st_tensor **const msrc[2],
                        const char *const prefix[2], int nbuf, nt_error *err)
{
    size_t most = 1;
    for (int i = 0; i < net->ntensors; i++)
        most = net->tensors[i].count > most ? net->tensors[i].count : most;
    float *x = malloc(most * sizeof *x);
    if (!x)
        return nt_fail(err, "%s: out of memory", path);
    char what[600], name[512];
    snprintf(what, sizeof what, "%s: ", path);
    int rc = 0;
    for (int i = 0; rc == 0 && i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        nt_st_copy_f32(st, src[i], x);
        rc = nt_tensor_check_finite(t, t->name, x, what, err);
        for (int b = 0; rc == 0 && b < nbuf; b++)
            if (msrc[b][i]) {
                nt_st_copy_f32(st, msrc[b][i], x);
                snprintf(name, sizeof name, "%s%s", prefix[b], t->name);
                rc = nt_tensor_check_finite(t, name, x, what, err);
            }
    }
    free(x);
    return rc;
}

int nt_checkpoint_load(nt_model *m, const char *path, int state,
                       nt_checkpoint_info *info, nt_error *err)
{
    const nt_net_desc *net = m->net;
    nt_safetensors st;
    if (state == NT_STATE_ADAM && nt_model_alloc_moment2(m, err) != 0)
        return -1;
    if (nt_st_read(&st, path, err) != 0)
        return -1;
    size_t n = (size_t)(net->ntensors ? net->ntensors : 1);
    const nt_st_tensor **src = calloc(n, sizeof *src);
    const nt_st_tensor **msrc[2] = {calloc(n, sizeof **msrc), calloc(n, sizeof **msrc)};
    const char *prefix[2];
    float *buf[2];
    const int nbuf = state_buffers(state, m, prefix, buf);
    nt_checkpoint_info ci;
    int rc = -1;
    if (!src || !msrc[0] || !msrc[1])
        nt_fail(err, "%s: out of memory", path);
    else if (validate(&st, net, path, state, src, msrc, &ci, err) == 0)
        rc = 0;
    if (rc == 0 && check_values(&st, net, path, src, (const nt_st_tensor **const *)msrc,
                                prefix, nbuf, err) != 0)
        rc = -1;
    if (rc == 0) {
        for (int i = 0; i < net->ntensors; i++) {
            const nt_tensor_desc *t = &net->tensors[i];
            nt_st_copy_f32(&st, src[i], m->params + t->offset);
            for (int b = 0; b < nbuf; b++)
                if (msrc[b][i])
                    nt_st_copy_f32(&st, msrc[b][i], buf[b] + t->offset);
        }
        if (info) {
            *info = ci;
            const char *h = nt_st_meta(&st, "history");
            info->history = h ? strdup(h) : NULL;
        }
    }
    free(src);
    free(msrc[0]);
    free(msrc[1]);
    nt_st_free(&st);
    return rc;
}
