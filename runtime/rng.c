/* rng.c - seeded random numbers: xoshiro256** for sequential use
 * (initialisation, shuffling) and a counter-based hash for dropout. */
#include "nt_base.h"

/* splitmix64's output function: a bijective 64-bit mixer */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t splitmix64(uint64_t *x)
{
    return mix64(*x += 0x9e3779b97f4a7c15ULL);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void nt_rng_seed(nt_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t nt_rng_u64(nt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float nt_rng_uniform(nt_rng *r)
{
    return (float)(nt_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

uint64_t nt_rng_below(nt_rng *r, uint64_t n)
{
    /* rejection sampling: drop the top partial range */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = nt_rng_u64(r);
    while (x >= limit);
    return x % n;
}

uint64_t nt_hash64(uint64_t key, uint64_t counter)
{
    return mix64(mix64(key + 0x9e3779b97f4a7c15ULL) ^
                 (counter * 0xd1b54a32d192ed03ULL));
}

float nt_hash_uniform(uint64_t key, uint64_t counter)
{
    return (float)(nt_hash64(key, counter) >> 40) * (1.0f / 16777216.0f);
}
