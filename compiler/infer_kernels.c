/* infer_kernels.c - the support code of an inference library written by
 * `netc emit --inference` (emit_infer.c copies this file, verbatim, into
 * every NAME.c it writes, so the library needs nothing but libm).
 *
 * It holds the forward kernels of eval mode for one image at a time (conv
 * as im2col + a portable blocked matmul that compilers vectorise at -O3,
 * pooling, batch norm with running statistics, activations, linear, add),
 * a safetensors reader that checks everything it reads, and the
 * preparation of the weights (batch norm folded into the preceding conv or
 * linear). netc itself compiles this file too (infer_support.c) to fold
 * weights it compiles into a library, so both variants get the same bits.
 *
 * It does not know any network: the generated code passes every size. No
 * threads, no global state, no allocation outside nti_read_checkpoint.
 * Every function is static inline so that a library that does not use one
 * compiles without a warning. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- matmul ----------------------------------------------------------------------- */

#define NTI_MR 4   /* rows of A per block */
#define NTI_NC 256 /* columns of B per block: 4 x 256 accumulators stay in L1 */

/* C[M][N] = bias[m] + sum_k A[M][K] B[K][N], all row-major. Each C element
 * sums over k in order, after the bias. */
static inline void nti_matmul(float *c, const float *a, const float *b, const float *bias,
                              int M, int N, int K)
{
    float acc[NTI_MR][NTI_NC];
    for (int i0 = 0; i0 < M; i0 += NTI_MR) {
        const int mr = M - i0 < NTI_MR ? M - i0 : NTI_MR;
        for (int j0 = 0; j0 < N; j0 += NTI_NC) {
            const int nc = N - j0 < NTI_NC ? N - j0 : NTI_NC;
            for (int r = 0; r < mr; r++) {
                const float b0 = bias ? bias[i0 + r] : 0.0f;
                for (int j = 0; j < nc; j++)
                    acc[r][j] = b0;
            }
            for (int k = 0; k < K; k++) {
                const float *brow = b + (size_t)k * N + j0;
                for (int r = 0; r < mr; r++) {
                    const float ark = a[(size_t)(i0 + r) * K + k];
                    float *ar = acc[r];
                    for (int j = 0; j < nc; j++)
                        ar[j] += ark * brow[j];
                }
            }
            for (int r = 0; r < mr; r++)
                memcpy(c + (size_t)(i0 + r) * N + j0, acc[r], (size_t)nc * sizeof(float));
        }
    }
}

/* ---- layers (one image; NCHW without the N) ------------------------------------------- */

typedef struct nti_conv {
    int C, H, W, OC, KH, KW, SH, SW, PH, PW, OH, OW;
} nti_conv;

/* Floats of scratch nti_conv2d needs (0 for a 1x1 conv without stride or
 * padding, which multiplies the input directly). */
static inline size_t nti_conv2d_scratch(const nti_conv *d)
{
    if (d->KH == 1 && d->KW == 1 && d->SH == 1 && d->SW == 1 && d->PH == 0 && d->PW == 0)
        return 0;
    return (size_t)d->C * d->KH * d->KW * d->OH * d->OW;
}

/* out[OC][OH][OW] = b + w[OC][C][KH][KW] * in[C][H][W] (zero padding);
 * b may be NULL. */
static inline void nti_conv2d(float *out, const float *in, const float *w, const float *b,
                              const nti_conv *d, float *scratch)
{
    const int K = d->C * d->KH * d->KW, N = d->OH * d->OW;
    if (nti_conv2d_scratch(d) == 0) {
        nti_matmul(out, w, in, b, d->OC, N, K);
        return;
    }
    /* im2col: row (c, kh, kw) holds the input under that tap for every output */
    float *col = scratch;
    for (int c = 0; c < d->C; c++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                const float *x = in + (size_t)c * d->H * d->W;
                for (int oh = 0; oh < d->OH; oh++) {
                    const int h = oh * d->SH - d->PH + kh;
                    for (int ow = 0; ow < d->OW; ow++) {
                        const int ww = ow * d->SW - d->PW + kw;
                        *col++ = h >= 0 && h < d->H && ww >= 0 && ww < d->W
                                     ? x[(size_t)h * d->W + ww] : 0.0f;
                    }
                }
            }
    nti_matmul(out, w, scratch, b, d->OC, N, K);
}

/* out[OUT] = b + w[OUT][IN] x in[IN]; b may be NULL. Eight partial sums
 * per row, so the loop vectorises without reassociation flags. */
static inline void nti_linear(float *out, const float *in, const float *w, const float *b,
                              int IN, int OUT)
{
    for (int o = 0; o < OUT; o++) {
        const float *wr = w + (size_t)o * IN;
        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int i = 0;
        for (; i + 8 <= IN; i += 8)
            for (int l = 0; l < 8; l++)
                s[l] += wr[i + l] * in[i + l];
        float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        for (; i < IN; i++)
            t += wr[i] * in[i];
        out[o] = (b ? b[o] : 0.0f) + t;
    }
}

typedef struct nti_pool {
    int C, H, W, KH, KW, SH, SW, PH, PW, OH, OW;
} nti_pool;

/* Max pooling (avg = 0: padding is -inf, never chosen; NaN wins, as in
 * PyTorch) or average pooling (avg = 1: zero padding counts in the
 * average, count_include_pad). */
static inline void nti_pool2d(float *out, const float *in, const nti_pool *d, int avg)
{
    const float area = (float)(d->KH * d->KW);
    for (int c = 0; c < d->C; c++) {
        const float *x = in + (size_t)c * d->H * d->W;
        for (int oh = 0; oh < d->OH; oh++) {
            const int h0 = oh * d->SH - d->PH;
            const int ha = h0 < 0 ? 0 : h0, hb = h0 + d->KH < d->H ? h0 + d->KH : d->H;
            for (int ow = 0; ow < d->OW; ow++) {
                const int w0 = ow * d->SW - d->PW;
                const int wa = w0 < 0 ? 0 : w0, wb = w0 + d->KW < d->W ? w0 + d->KW : d->W;
                float best = x[(size_t)ha * d->W + wa], sum = 0.0f;
                for (int h = ha; h < hb; h++)
                    for (int ww = wa; ww < wb; ww++) {
                        const float v = x[(size_t)h * d->W + ww];
                        sum += v;
                        if (v > best || isnan(v))
                            best = v;
                    }
                *out++ = avg ? sum / area : best;
            }
        }
    }
}

static inline void nti_maxpool2d(float *out, const float *in, const nti_pool *d)
{
    nti_pool2d(out, in, d, 0);
}

static inline void nti_avgpool2d(float *out, const float *in, const nti_pool *d)
{
    nti_pool2d(out, in, d, 1);
}

/* out[c] = mean of in[c][HW] */
static inline void nti_global_avgpool(float *out, const float *in, int C, int HW)
{
    for (int c = 0; c < C; c++) {
        float sum = 0.0f;
        for (int i = 0; i < HW; i++)
            sum += in[(size_t)c * HW + i];
        out[c] = sum / (float)HW;
    }
}

/* Eval-mode batch norm: bn holds mean[C], scale[C] (gamma / sqrt(var + eps))
 * and beta[C]; out = (in - mean) * scale + beta. */
static inline void nti_batchnorm(float *out, const float *in, const float *bn, int C, int HW)
{
    for (int c = 0; c < C; c++) {
        const float m = bn[c], s = bn[C + c], b = bn[2 * C + c];
        for (int i = 0; i < HW; i++)
            out[(size_t)c * HW + i] = (in[(size_t)c * HW + i] - m) * s + b;
    }
}

static inline void nti_relu(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

/* 1 / (1 + e) or e / (1 + e) with e = exp(-|x|): nothing overflows. */
static inline void nti_sigmoid(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float e = expf(-fabsf(in[i]));
        out[i] = (in[i] >= 0.0f ? 1.0f : e) / (1.0f + e);
    }
}

static inline void nti_tanh(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = tanhf(in[i]);
}

static inline void nti_add(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

/* ---- weights ---------------------------------------------------------------------- */

/* A tensor of the checkpoint: its name, PyTorch shape, and where it goes
 * in the buffer nti_read_checkpoint fills (offset in floats). */
typedef struct nti_tensor {
    const char *name;
    int ndim;
    long long shape[4];
    long long offset;
} nti_tensor;

static inline long long nti_count(const nti_tensor *t)
{
    long long n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* One step of turning checkpoint tensors (indices into the tensor table)
 * into the weights predict reads (offsets in floats):
 *   NTI_COPY   dst = src[0]
 *   NTI_FOLD   conv or linear src[0] (rows x cols), bias src[1] (-1: none),
 *              followed by a batch norm (weight, bias, running mean and
 *              variance in src[2..5], eps): dst = folded weight,
 *              dst2 = folded bias [rows]
 *   NTI_BN     batch norm src[2..5], eps: dst = mean, scale, beta [3][rows] */
enum { NTI_COPY, NTI_FOLD, NTI_BN };

typedef struct nti_step {
    int op;
    int src[6];
    long long dst, dst2;
    long long rows, cols;
    double eps;
} nti_step;

/* gamma / sqrt(var + eps) rounded once, as the trainer's eval batch norm. */
static inline float nti_bn_scale(float gamma, float var, double eps)
{
    return (float)(gamma / sqrt((double)var + eps));
}

static inline void nti_prepare(float *w, const float *raw, const nti_tensor *t,
                               const nti_step *s, int nsteps)
{
    for (int k = 0; k < nsteps; k++, s++) {
        const float *src = raw + t[s->src[0]].offset;
        if (s->op == NTI_COPY) {
            memcpy(w + s->dst, src, (size_t)nti_count(&t[s->src[0]]) * sizeof(float));
            continue;
        }
        const float *gamma = raw + t[s->src[2]].offset, *beta = raw + t[s->src[3]].offset;
        const float *mean = raw + t[s->src[4]].offset, *var = raw + t[s->src[5]].offset;
        for (long long r = 0; r < s->rows; r++) {
            const float sc = nti_bn_scale(gamma[r], var[r], s->eps);
            if (s->op == NTI_BN) {
                w[s->dst + r] = mean[r];
                w[s->dst + s->rows + r] = sc;
                w[s->dst + 2 * s->rows + r] = beta[r];
                continue;
            }
            for (long long c = 0; c < s->cols; c++)
                w[s->dst + r * s->cols + c] = src[r * s->cols + c] * sc;
            const float b = s->src[1] >= 0 ? raw[t[s->src[1]].offset + r] : 0.0f;
            w[s->dst2 + r] = (b - mean[r]) * sc + beta[r];
        }
    }
}

/* ---- safetensors ---------------------------------------------------------------------- */

typedef struct nti_cursor {
    const char *p, *end;
} nti_cursor;

static inline void nti_skip_space(nti_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static inline int nti_expect(nti_cursor *c, char ch)
{
    nti_skip_space(c);
    if (c->p >= c->end || *c->p != ch)
        return -1;
    c->p++;
    return 0;
}

/* A JSON string without escapes: [*s, *s + *n). */
static inline int nti_string(nti_cursor *c, const char **s, size_t *n)
{
    if (nti_expect(c, '"'))
        return -1;
    *s = c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\')
            return -1;
        c->p++;
    }
    if (c->p >= c->end)
        return -1;
    *n = (size_t)(c->p - *s);
    c->p++;
    return 0;
}

/* [n, n, ...] of non-negative integers below 2^53; at most max of them. */
static inline int nti_ints(nti_cursor *c, long long *v, int max, int *count)
{
    *count = 0;
    if (nti_expect(c, '['))
        return -1;
    nti_skip_space(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return 0;
    }
    for (;;) {
        nti_skip_space(c);
        long long x = 0;
        const char *start = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && x < (1LL << 53))
            x = x * 10 + (*c->p++ - '0');
        if (c->p == start || x >= (1LL << 53) || *count >= max)
            return -1;
        v[(*count)++] = x;
        nti_skip_space(c);
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            return 0;
        }
        if (nti_expect(c, ','))
            return -1;
    }
}

/* The entry {"dtype": ..., "shape": [...], "data_offsets": [b, e]} at c. */
static inline int nti_entry(nti_cursor *c, int *f32, long long *shape, int *ndim,
                            long long *off)
{
    int have = 0, n;
    if (nti_expect(c, '{'))
        return -1;
    for (;;) {
        const char *k, *v;
        size_t kn, vn;
        if (nti_string(c, &k, &kn) || nti_expect(c, ':'))
            return -1;
        if (kn == 5 && memcmp(k, "dtype", 5) == 0) {
            if (nti_string(c, &v, &vn))
                return -1;
            *f32 = vn == 3 && memcmp(v, "F32", 3) == 0;
            have |= 1;
        } else if (kn == 5 && memcmp(k, "shape", 5) == 0) {
            if (nti_ints(c, shape, 8, ndim))
                return -1;
            have |= 2;
        } else if (kn == 12 && memcmp(k, "data_offsets", 12) == 0) {
            if (nti_ints(c, off, 2, &n) || n != 2)
                return -1;
            have |= 4;
        } else {
            return -1;
        }
        nti_skip_space(c);
        if (c->p < c->end && *c->p == '}')
            return have == 7 ? 0 : -1;
        if (nti_expect(c, ','))
            return -1;
    }
}

/* Finds "name": { in the header; c then points at the '{'. */
static inline int nti_find(nti_cursor *c, const char *hdr, size_t len, const char *name)
{
    const size_t n = strlen(name);
    for (const char *p = hdr; p + n + 2 <= hdr + len; p++) {
        if (*p != '"' || memcmp(p + 1, name, n) != 0 || p[n + 1] != '"')
            continue;
        c->p = p + n + 2;
        c->end = hdr + len;
        if (nti_expect(c, ':') == 0) {
            nti_skip_space(c);
            if (c->p < c->end && *c->p == '{')
                return 0;
        }
    }
    return -1;
}

#define NTI_FAIL(...) (snprintf(err, 256, __VA_ARGS__), free(file), -1)

/* Reads the tensors t[0..n) of a safetensors file into raw (each at its
 * offset, little-endian F32 with the expected shape). Other tensors in the
 * file are ignored. 0, or -1 with a message in err[256]. */
static inline int nti_read_checkpoint(const char *path, const nti_tensor *t, int n, float *raw,
                                      char *err)
{
    unsigned char *file = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NTI_FAIL("%s: cannot open", path);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 8 && fseek(f, 0, SEEK_SET) == 0 && (file = malloc((size_t)size)) != NULL &&
        fread(file, 1, (size_t)size, f) != (size_t)size) {
        free(file);
        file = NULL;
    }
    fclose(f);
    if (!file)
        return NTI_FAIL("%s: cannot read (or shorter than 8 bytes)", path);
    unsigned long long hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | file[i];
    if (hlen > (unsigned long long)size - 8)
        return NTI_FAIL("%s: not a safetensors file (header length %llu, file %ld bytes)", path,
                        hlen, size);
    const char *hdr = (const char *)file + 8;
    const unsigned char *data = file + 8 + hlen;
    const unsigned long long dsize = (unsigned long long)size - 8 - hlen;
    for (int i = 0; i < n; i++) {
        nti_cursor c;
        int f32 = 0, ndim = 0;
        long long shape[8], off[2];
        if (nti_find(&c, hdr, (size_t)hlen, t[i].name))
            return NTI_FAIL("%s: no tensor '%s'", path, t[i].name);
        if (nti_entry(&c, &f32, shape, &ndim, off))
            return NTI_FAIL("%s: tensor '%s': malformed header entry", path, t[i].name);
        int same = f32 && ndim == t[i].ndim;
        for (int d = 0; same && d < ndim; d++)
            same = shape[d] == t[i].shape[d];
        if (!same)
            return NTI_FAIL("%s: tensor '%s' is not F32 of the net's shape", path, t[i].name);
        const unsigned long long bytes = (unsigned long long)nti_count(&t[i]) * 4;
        if (off[0] > off[1] || (unsigned long long)off[1] > dsize ||
            (unsigned long long)(off[1] - off[0]) != bytes)
            return NTI_FAIL("%s: tensor '%s': data offsets [%lld, %lld] do not fit", path,
                            t[i].name, off[0], off[1]);
        float *dst = raw + t[i].offset;
        const unsigned char *src = data + off[0];
        for (unsigned long long k = 0; k < bytes / 4; k++, src += 4) {
            const unsigned long u = (unsigned long)src[0] | (unsigned long)src[1] << 8 |
                                    (unsigned long)src[2] << 16 | (unsigned long)src[3] << 24;
            float v;
            const unsigned int u32 = (unsigned int)u;
            memcpy(&v, &u32, 4);
            dst[k] = v;
        }
    }
    free(file);
    return 0;
}

#undef NTI_FAIL
