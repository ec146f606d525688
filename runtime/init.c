/* init.c - parameter initialisers drawn from the sequential nt_rng, so the
 * same seed gives the same weights whatever the thread count. The values
 * follow PyTorch's distributions, not its random stream: weights are not
 * bit-identical to a PyTorch model initialised with the same seed. */
#include "nt_kernels.h"

#include <assert.h>
#include <math.h>

void nt_init_uniform(float *w, size_t n, float bound, nt_rng *rng)
{
    assert(bound >= 0.0f);
    /* uniform_(-bound, bound) is from + (to - from) * u, u in [0, 1) */
    const float width = 2.0f * bound;
    for (size_t i = 0; i < n; i++)
        w[i] = -bound + width * nt_rng_uniform(rng);
}

void nt_init_xavier_uniform(float *w, size_t n, int fan_in, int fan_out,
                            nt_rng *rng)
{
    assert(fan_in > 0 && fan_out > 0);
    /* gain 1 */
    const float a = (float)sqrt(6.0 / ((double)fan_in + (double)fan_out));
    nt_init_uniform(w, n, a, rng);
}

void nt_init_const(float *w, size_t n, float value)
{
    for (size_t i = 0; i < n; i++)
        w[i] = value;
}
