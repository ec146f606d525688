/* sgd.c - one step of stochastic gradient descent with optional momentum and
 * weight decay, operation for operation as torch.optim.SGD (dampening 0,
 * Nesterov or not, no maximise). Learning-rate schedules are the trainer's job: it
 * passes the current lr in the config. */
#include "nt_kernels.h"

#include <assert.h>

/* Memory bound: fork only for large parameter tensors. */
#define SGD_PAR_MIN ((size_t)1 << 16)

void nt_sgd_step(float *param, const float *grad, float *momentum_buf, size_t n,
                 const nt_sgd_config *c, int first_step)
{
    const float lr = c->lr, mom = c->momentum, wd = c->weight_decay;
    assert(mom == 0.0f || momentum_buf);
    const int nth = n >= SGD_PAR_MIN ? nt_num_threads() : 1;

#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++) {
        /* d_p = grad.add(param, alpha=weight_decay) */
        float g = grad[i];
        if (wd != 0.0f)
            g = g + wd * param[i];
        if (mom != 0.0f) {
            /* buf = clone(d_p) on the first step, else
             * buf.mul_(momentum).add_(d_p) */
            float b = first_step ? g : momentum_buf[i] * mom + g;
            momentum_buf[i] = b;
            /* nesterov: d_p = d_p.add(buf, alpha=momentum) */
            g = c->nesterov ? g + mom * b : b;
        }
        /* param.add_(d_p, alpha=-lr) */
        param[i] = param[i] + -lr * g;
    }
}
