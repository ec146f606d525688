/* finite.c - NaN and infinity: in the tensors of a model (a checkpoint that
 * holds them, or a negative running variance, is refused when loaded, and
 * a diverged model is never saved), and in a diverging training step, where
 * it finds the first layer whose output, gradient or parameters went
 * non-finite, by its path and .net line. It does not decide what to do
 * about it: the driver stops the run. */
#include "hardening.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t nt_first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return n;
}

int nt_all_finite(const float *x, size_t n)
{
    /* x * 0 is 0 for every finite x and NaN otherwise: a sum without a
     * branch per element */
    float acc = 0.0f;
    for (size_t i = 0; i < n; i++)
        acc += x[i] * 0.0f;
    return acc == 0.0f;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int nt_tensor_check_finite(const nt_tensor_desc *t, const char *name, const float *x,
                           const char *what, nt_error *err)
{
    size_t k = nt_first_nonfinite(x, t->count);
    if (k < t->count)
        return nt_fail(err, "%stensor '%s' holds %g (element %zu): not a usable value", what,
                       name, (double)x[k], k);
    if (has_suffix(name, ".running_var"))
        for (k = 0; k < t->count; k++)
            if (x[k] < 0.0f)
                return nt_fail(err, "%stensor '%s' holds %g (element %zu): a variance "
                               "cannot be negative", what, name, (double)x[k], k);
    return 0;
}

int nt_model_check_finite(const nt_model *m, const char *what, nt_error *err)
{
    const nt_net_desc *net = m->net;
    for (int i = 0; i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        if (nt_tensor_check_finite(t, t->name, m->params + t->offset, what, err) != 0)
            return -1;
    }
    return 0;
}

/* The layer of tensor t ("conv1.weight" belongs to layer "conv1"). */
static const nt_layer_desc *layer_of(const nt_net_desc *net, const nt_tensor_desc *t)
{
    for (int i = 0; i < net->nlayers; i++) {
        size_t n = strlen(net->layers[i].path);
        if (strncmp(t->name, net->layers[i].path, n) == 0 && t->name[n] == '.')
            return &net->layers[i];
    }
    return NULL;
}

static void where(char *buf, size_t cap, const nt_net_desc *net, const nt_layer_desc *l)
{
    if (l)
        snprintf(buf, cap, " (%s, %s:%d)", l->op, net->source ? net->source : "?", l->line);
    else
        snprintf(buf, cap, "%s", "");
}

/* The first tensor holding a non-finite value in arena (params or grads):
 * in network order, or, if backward, the trainable ones in reverse order.
 * *k gets the element. */
static const nt_tensor_desc *first_nonfinite_tensor(const nt_net_desc *net,
                                                    const float *arena, int backward,
                                                    size_t *k)
{
    for (int j = 0; j < net->ntensors; j++) {
        const nt_tensor_desc *t = &net->tensors[backward ? net->ntensors - 1 - j : j];
        if (backward && !t->trainable)
            continue;
        if ((*k = nt_first_nonfinite(arena + t->offset, t->count)) < t->count)
            return t;
    }
    return NULL;
}

void nt_diagnose_divergence(const nt_model *m, int n, char *buf, size_t cap)
{
    const nt_net_desc *net = m->net;
    const size_t B = (size_t)m->batch_max;
    char at[300];
    /* forward outputs stay alive for the whole step */
    for (int i = 0; i < net->nlayers; i++) {
        const nt_layer_desc *l = &net->layers[i];
        const float *y = m->act + l->out_offset * B;
        size_t size = (size_t)n * l->out_floats, k = nt_first_nonfinite(y, size);
        if (k < size) {
            where(at, sizeof at, net, l);
            snprintf(buf, cap, "the output of layer %s%s went non-finite first (%g, "
                     "in the forward pass)", l->path, at, (double)y[k]);
            return;
        }
    }
    /* parameter gradients stay until the next step; backward runs from the
     * last layer to the first */
    size_t k;
    const nt_tensor_desc *t = first_nonfinite_tensor(net, m->grads, 1, &k);
    if (t) {
        where(at, sizeof at, net, layer_of(net, t));
        snprintf(buf, cap, "the gradient of %s%s went non-finite first (%g, in the "
                 "backward pass)", t->name, at, (double)m->grads[t->offset + k]);
        return;
    }
    if ((t = first_nonfinite_tensor(net, m->params, 0, &k)) != NULL) {
        where(at, sizeof at, net, layer_of(net, t));
        snprintf(buf, cap, "the update made %s%s non-finite (%g; its gradient was "
                 "finite)", t->name, at, (double)m->params[t->offset + k]);
        return;
    }
    snprintf(buf, cap, "%s", "the loss itself overflowed (every output, gradient and "
             "parameter is finite)");
}

int nt_is_plain_decimal(const char *s)
{
    int digits = 0;
    if (*s == '+' || *s == '-')
        s++;
    for (; *s >= '0' && *s <= '9'; s++)
        digits++;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            digits++;
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (*s < '0' || *s > '9')
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == 0;
}
