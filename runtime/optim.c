/* optim.c - the optimizer step over a model: gradient-norm clipping
 * (torch.nn.utils.clip_grad_norm_), then SGD (sgd.c, with or without
 * Nesterov momentum), Adam or AdamW on every trainable tensor. The
 * learning rate of the step comes from the caller (nt_recipe_lr); this file
 * keeps no state besides the model's buffers and its step counter. */
#include "nt_trainer.h"
#include "nt_recipe.h"

#include <math.h>

/* Memory bound: fork only for large parameter tensors. */
#define ADAM_PAR_MIN ((size_t)1 << 16)

void nt_adam_step(float *param, const float *grad, float *m, float *v, size_t n,
                  const nt_adam_config *c, uint64_t step)
{
    /* the scalars as torch computes them: Python floats (double), passed to
     * float kernels */
    const double bc1 = 1.0 - pow(c->beta1, (double)step);
    const double bc2 = 1.0 - pow(c->beta2, (double)step);
    const float step_size = (float)((double)c->lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float a1 = (float)(1.0 - c->beta1), a2 = (float)(1.0 - c->beta2);
    const float decay = (float)(1.0 - (double)c->lr * (double)c->weight_decay);
    const float wd = c->weight_decay, eps = c->eps;
    const int nth = n >= ADAM_PAR_MIN ? nt_num_threads() : 1;

#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float p = param[i], g = grad[i];
        if (c->decoupled)
            p = p * decay;                      /* param.mul_(1 - lr * wd) */
        else if (wd != 0.0f)
            g = g + wd * p;                     /* grad.add(param, alpha=wd) */
        const float mi = m[i] * b1 + a1 * g;    /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
        const float vi = v[i] * b2 + (a2 * g) * g; /* exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2) */
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = p + (-step_size * mi) / denom; /* param.addcdiv_(m, denom, value=-step_size) */
    }
}

nt_optim_config nt_optim_sgd(float lr, float momentum, float weight_decay)
{
    nt_optim_config c = {0};
    c.optimizer = NT_OPTIM_SGD;
    c.lr = lr;
    c.momentum = momentum;
    c.weight_decay = weight_decay;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8f;
    return c;
}

float nt_clip_grad_norm(nt_model *m, float max_norm)
{
    const nt_net_desc *net = m->net;
    /* torch: the norm of the per-tensor norms, each in float */
    double total_sq = 0;
    for (int i = 0; i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        if (!t->trainable)
            continue;
        const float *g = m->grads + t->offset;
        double s = 0;
        for (size_t k = 0; k < t->count; k++)
            s += (double)g[k] * g[k];
        const float norm = (float)sqrt(s);
        total_sq += (double)norm * norm;
    }
    const float total = (float)sqrt(total_sq);
    const float coef = max_norm / (total + 1e-6f);
    if (coef < 1.0f)
        for (int i = 0; i < net->ntensors; i++) {
            const nt_tensor_desc *t = &net->tensors[i];
            if (!t->trainable)
                continue;
            float *g = m->grads + t->offset;
            for (size_t k = 0; k < t->count; k++)
                g[k] *= coef;
        }
    return total;
}

void nt_optim_step(nt_model *m, const nt_optim_config *c)
{
    const nt_net_desc *net = m->net;
    if (c->clip_grad_norm > 0.0f)
        nt_clip_grad_norm(m, c->clip_grad_norm);
    const nt_sgd_config sgd = {c->lr, c->momentum, c->weight_decay, c->nesterov};
    const nt_adam_config adam = {c->lr, c->weight_decay, c->beta1, c->beta2, c->eps,
                                 c->optimizer == NT_OPTIM_ADAMW};
    for (int i = 0; i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        if (!t->trainable)
            continue;
        float *p = m->params + t->offset;
        const float *g = m->grads + t->offset;
        if (c->optimizer == NT_OPTIM_SGD)
            nt_sgd_step(p, g, c->momentum != 0.0f ? m->momentum + t->offset : NULL,
                        t->count, &sgd, m->step == 0);
        else
            nt_adam_step(p, g, m->momentum + t->offset, m->moment2 + t->offset,
                         t->count, &adam, m->step + 1);
    }
}
