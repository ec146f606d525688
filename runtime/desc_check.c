/* desc_check.c - validation of the nt_net_desc a generated trainer hands to
 * the runtime, before the model points into arenas sized by it. A desc from
 * this netc always passes; the checks turn a desc from a buggy or older
 * generator (an offset of -1 for a buffer that does not exist, a net with
 * nothing to train) into a message instead of a heap overflow. It does not
 * check the forward and backward code itself. */
#include "nt_trainer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* "net NAME: its description is inconsistent (WHAT); rebuild ..." */
static int bad(nt_error *err, const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int bad(nt_error *err, const char *name, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nt_fail(err, "net %s: its description is inconsistent (%s); rebuild the trainer "
                   "with this netc", name, what);
}

/* offset + count <= limit, without overflow. */
static int inside(size_t offset, size_t count, size_t limit)
{
    return offset <= limit && count <= limit - offset;
}

int nt_net_desc_check(const nt_net_desc *net, nt_error *err)
{
    const char *name = net->name ? net->name : "?";
    if (net->in_c < 1 || net->in_h < 1 || net->in_w < 1 || net->classes < 1)
        return bad(err, name, "input %dx%dx%d, %d classes", net->in_c, net->in_h, net->in_w,
                   net->classes);
    if (!net->forward || !net->backward || net->ntensors < 0 ||
        (net->ntensors > 0 && !net->tensors))
        return bad(err, name, "no forward, backward or tensor table");
    const size_t in = (size_t)net->in_c * (size_t)net->in_h * (size_t)net->in_w;
    const size_t K = (size_t)net->classes;
    if (!inside(net->input_offset, in, net->act_floats))
        return bad(err, name, "the input at %zu is outside the %zu floats of activations",
                   net->input_offset, net->act_floats);
    if (!inside(net->logits_offset, K, net->act_floats))
        return bad(err, name, "the logits at %zu are outside the %zu floats of activations",
                   net->logits_offset, net->act_floats);
    if (!inside(net->dlogits_offset, K, net->act_floats))
        return bad(err, name, "the gradient of the logits at %zu is outside the %zu floats of "
                   "activations", net->dlogits_offset, net->act_floats);
    int trainable = 0;
    for (int i = 0; i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        size_t count = 1;
        int ok = t->name && t->ndim >= 0 && t->ndim <= 4;
        for (int d = 0; ok && d < t->ndim; d++) {
            ok = t->shape[d] >= 0 &&
                 (t->shape[d] == 0 || count <= SIZE_MAX / (size_t)t->shape[d]);
            count *= ok ? (size_t)t->shape[d] : 1;
        }
        if (!ok || count != t->count || !inside(t->offset, t->count, net->param_floats))
            return bad(err, name, "tensor '%s' does not fit its shape or the %zu floats of "
                       "parameters", t->name ? t->name : "?", net->param_floats);
        trainable |= t->trainable != 0;
    }
    for (int i = 0; i < net->nlayers; i++) {
        const nt_layer_desc *l = &net->layers[i];
        if (!l->path || !inside(l->out_offset, l->out_floats, net->act_floats))
            return bad(err, name, "layer %d's output is outside the activations", i);
    }
    if (!trainable)
        return nt_fail(err, "net %s has no learnable parameters: there is nothing to train",
                       name);
    return 0;
}

int nt_net_has_param(const nt_net_desc *net, const char *name)
{
    for (const char *const *p = net->net_params; p && *p; p++)
        if (strcmp(*p, name) == 0)
            return 1;
    return 0;
}
