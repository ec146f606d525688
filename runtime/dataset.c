/* dataset.c - datasets of either format (NumPy .npy arrays or MNIST-format
 * IDX files, idx.c) and the way examples become a batch: resize, random
 * crop with zero padding and horizontal flip, ToTensor, Normalize.
 *
 * Everything read is validated before use (dtype, shape, counts, label
 * range, finite floats). Augmentation is deterministic: the decisions for an
 * example come from a counter-based hash of the batch key and its position,
 * so a run is reproducible for a seed and any thread count. It does not
 * shuffle or train (trainer.c). */
#include "nt_data.h"
#include "nt_io.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Below this many pixels per batch, converting is not worth a fork. */
#define FEED_PAR_MIN ((size_t)1 << 16)

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- NumPy datasets ---------------------------------------------------------- */

static int load_npy_images(nt_dataset *ds, const char *path, int in_c, nt_layout layout,
                           nt_error *err)
{
    nt_npy_array a;
    if (nt_npy_read(path, &a, err) != 0)
        return -1;
    int rc = -1;
    const int is_u8 = strcmp(a.dtype, "|u1") == 0, is_f32 = strcmp(a.dtype, "<f4") == 0;
    int64_t n = a.ndim >= 1 ? a.shape[0] : 0, c = 1, h = 0, w = 0;
    int nhwc = 0;
    if (!is_u8 && !is_f32) {
        nt_fail(err, "%s: images must be uint8 or float32, the array is '%s'", path, a.dtype);
        goto out;
    }
    if (a.ndim == 3) {
        h = a.shape[1], w = a.shape[2];
    } else if (a.ndim == 4) {
        const int first = a.shape[1] == in_c, last = a.shape[3] == in_c;
        nhwc = layout == NT_LAYOUT_NHWC || (layout == NT_LAYOUT_AUTO && last && !first);
        c = nhwc ? a.shape[3] : a.shape[1];
        h = nhwc ? a.shape[1] : a.shape[2];
        w = nhwc ? a.shape[2] : a.shape[3];
    } else {
        nt_fail(err, "%s: images must be an array N x H x W, N x C x H x W or N x H x W x C; "
                "this one has %d dims", path, a.ndim);
        goto out;
    }
    if (n < 1 || n > NT_IDX_MAX_ITEMS || c < 1 || c > NT_DATA_MAX_CHANNELS || h < 1 ||
        h > NT_IDX_MAX_SIDE || w < 1 || w > NT_IDX_MAX_SIDE) {
        nt_fail(err, "%s: %lld images of %lldx%lldx%lld: outside the limits (1 to %d images, "
                "1 to %d channels, sides 1 to %d)", path, (long long)n, (long long)c,
                (long long)h, (long long)w, NT_IDX_MAX_ITEMS, NT_DATA_MAX_CHANNELS,
                NT_IDX_MAX_SIDE);
        goto out;
    }
    const size_t hw = (size_t)h * w, per = (size_t)c * hw, total = (size_t)n * per;
    if (is_f32) {
        const unsigned char *raw = a.data;
        for (size_t i = 0; i < total; i++) {
            float v;
            uint32_t bits = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                            (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
            memcpy(&v, &bits, 4);
            if (!isfinite(v)) {
                nt_fail(err, "%s: image %zu holds %s (float images must be finite)", path,
                        i / per, isnan(v) ? "NaN" : "an infinity");
                goto out;
            }
        }
    }
    void *dst = malloc(total * (size_t)a.elem);
    if (!dst) {
        nt_fail(err, "%s: out of memory", path);
        goto out;
    }
    if (!nhwc) {
        memcpy(dst, a.data, total * (size_t)a.elem);
    } else {
        /* N x H x W x C to N x C x H x W */
        const size_t e = (size_t)a.elem;
        for (size_t i = 0; i < (size_t)n; i++)
            for (size_t p = 0; p < hw; p++)
                for (size_t ch = 0; ch < (size_t)c; ch++)
                    memcpy((char *)dst + (i * per + ch * hw + p) * e,
                           (const char *)a.data + (i * per + p * (size_t)c + ch) * e, e);
    }
    if (is_f32) {
        float *x = dst;
        for (size_t i = 0; i < total; i++) { /* little-endian bytes to floats */
            const unsigned char *q = (const unsigned char *)&x[i];
            uint32_t bits = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                            (uint32_t)q[3] << 24;
            memcpy(&x[i], &bits, 4);
        }
        ds->fimages = x;
    } else {
        ds->images = dst;
    }
    ds->n = (int)n;
    ds->c = (int)c;
    ds->h = (int)h;
    ds->w = (int)w;
    rc = 0;
out:
    free(a.data);
    return rc;
}

static int load_npy_labels(nt_dataset *ds, const char *path, const char *ipath, int classes,
                           nt_error *err)
{
    nt_npy_array a;
    if (nt_npy_read(path, &a, err) != 0)
        return -1;
    int rc = -1;
    if (strcmp(a.dtype, "<f4") == 0) {
        nt_fail(err, "%s: labels must be integers (uint8, int32, int64, ...), the array is "
                "float32", path);
        goto out;
    }
    if (a.ndim != 1) {
        nt_fail(err, "%s: labels must be a 1-d array, this one has %d dims", path, a.ndim);
        goto out;
    }
    if (a.shape[0] != ds->n) {
        nt_fail(err, "%s holds %lld labels but %s holds %d images", path,
                (long long)a.shape[0], ipath, ds->n);
        goto out;
    }
    if (!(ds->labels = malloc((size_t)ds->n * sizeof *ds->labels))) {
        nt_fail(err, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0; i < ds->n; i++) {
        const int64_t v = nt_npy_int(&a, (size_t)i);
        if (v < 0 || v >= classes) {
            nt_fail(err, "%s: label %lld of example %d is not a class number from 0 to %d",
                    path, (long long)v, i, classes - 1);
            goto out;
        }
        ds->labels[i] = (int32_t)v;
    }
    rc = 0;
out:
    free(a.data);
    return rc;
}

/* A copy of old[0, bytes) in nt_alloc_big's memory, old freed; NULL (old
 * kept) when out of memory. */
static void *moved_big(void *old, size_t bytes)
{
    void *p = nt_alloc_big(bytes);
    if (p) {
        memcpy(p, old, bytes);
        free(old);
    }
    return p;
}

/* The images into huge pages (nt_alloc_big): batches gather shuffled
 * examples from all over them. */
static int move_big(nt_dataset *ds)
{
    const size_t n = (size_t)ds->n * ds->c * ds->h * ds->w;
    if (n == 0)
        return 0;
    if (ds->fimages) {
        float *p = moved_big(ds->fimages, n * sizeof(float));
        if (!p)
            return -1;
        ds->fimages = p;
    } else if (ds->images) {
        uint8_t *p = moved_big(ds->images, n);
        if (!p)
            return -1;
        ds->images = p;
    }
    return 0;
}

int nt_data_load(nt_dataset *ds, const char *dir, int train, int classes, int in_c,
                 nt_layout layout, nt_error *err)
{
    memset(ds, 0, sizeof *ds);
    const size_t cap = strlen(dir) + 32;
    char *probe = malloc(cap), *ipath = malloc(cap), *lpath = malloc(cap);
    int rc = -1;
    if (!probe || !ipath || !lpath) {
        nt_fail(err, "out of memory");
        goto out;
    }
    if (strchr(dir, ',')) {
        /* explicit paths: TRAIN_IMAGES,TRAIN_LABELS,TEST_IMAGES,TEST_LABELS */
        const char *p = dir;
        int field = 0;
        for (int k = 0; k < 4; k++) {
            const size_t len = strcspn(p, ",");
            if (k == (train ? 0 : 2))
                snprintf(ipath, cap, "%.*s", (int)len, p);
            if (k == (train ? 1 : 3))
                snprintf(lpath, cap, "%.*s", (int)len, p);
            field += len > 0;
            p += len + (p[len] == ',');
        }
        if (field != 4 || *p) {
            nt_fail(err, "--data %s: explicit paths are four .npy files separated by commas: "
                    "TRAIN_IMAGES,TRAIN_LABELS,TEST_IMAGES,TEST_LABELS", dir);
            goto out;
        }
    } else {
        snprintf(probe, cap, "%s/train_images.npy", dir);
        if (!file_exists(probe)) {
            rc = nt_dataset_load(ds, dir, train ? "train" : "t10k", classes, err);
            goto out;
        }
        const char *split = train ? "train" : "test";
        snprintf(ipath, cap, "%s/%s_images.npy", dir, split);
        snprintf(lpath, cap, "%s/%s_labels.npy", dir, split);
    }
    if (load_npy_images(ds, ipath, in_c, layout, err) != 0 ||
        load_npy_labels(ds, lpath, ipath, classes, err) != 0) {
        nt_dataset_free(ds);
        goto out;
    }
    rc = 0;
out:
    free(probe);
    free(ipath);
    free(lpath);
    if (rc == 0 && move_big(ds) != 0) {
        nt_dataset_free(ds);
        rc = nt_fail(err, "out of memory for the images of %s", dir);
    }
    return rc;
}

/* ---- feeding batches --------------------------------------------------------- */

int nt_feeder_init(nt_feeder *f, const nt_dataset *ds, int in_c, int in_h, int in_w,
                   const double *mean, const double *std, int crop_padding, int flip,
                   const char *net, const char *where, nt_error *err)
{
    memset(f, 0, sizeof *f);
    f->in_c = in_c;
    f->in_h = in_h;
    f->in_w = in_w;
    f->in_size = (size_t)in_c * in_h * in_w;
    f->threads = nt_num_threads();
    if (in_h == 1 && in_w == 1) {
        if ((size_t)in_c != (size_t)ds->c * ds->h * ds->w)
            return nt_fail(err, "net %s takes a flat input of %d features, but the images "
                           "in %s have %dx%dx%d = %d values", net, in_c, where, ds->c, ds->h,
                           ds->w, ds->c * ds->h * ds->w);
        f->in_c = ds->c;
        f->in_h = ds->h;
        f->in_w = ds->w;
        return 0;
    }
    if (ds->c != in_c)
        return nt_fail(err, "net %s takes %d input channel%s, but the images in %s have %d%s",
                       net, in_c, in_c == 1 ? "" : "s", where, ds->c,
                       ds->c == 1 ? " (grey)" : ds->c == 3 ? " (colour)" : "");
    f->resize = ds->h != in_h || ds->w != in_w;
    if (f->resize && ds->fimages)
        return nt_fail(err, "the images in %s are %dx%d float32, but net %s takes %dx%d: "
                       "float images are used as given (uint8 images would be resized)",
                       where, ds->h, ds->w, net, in_h, in_w);
    if (mean)
        for (int c = 0; c < in_c; c++) {
            f->mean[c] = (float)mean[c];
            f->std[c] = (float)std[c];
        }
    f->normalize = mean != NULL;
    f->crop_padding = crop_padding;
    f->flip = flip;
    const size_t hw = (size_t)in_h * in_w;
    if (f->resize && !(f->tmp8 = malloc((size_t)f->threads * hw)))
        return nt_fail(err, "out of memory for the resize buffers");
    if ((crop_padding || flip) &&
        !(f->tmpf = malloc((size_t)f->threads * f->in_size * sizeof(float)))) {
        nt_feeder_free(f);
        return nt_fail(err, "out of memory for the augmentation buffers");
    }
    return 0;
}

void nt_feeder_free(nt_feeder *f)
{
    free(f->tmp8);
    free(f->tmpf);
    f->tmp8 = NULL;
    f->tmpf = NULL;
}

nt_augment_choice nt_augment_choose(const nt_feeder *f, uint64_t key, int i)
{
    nt_rng rng;
    nt_rng_seed(&rng, nt_hash64(key, (uint64_t)i));
    nt_augment_choice c = {0, 0, 0};
    const uint64_t span = 2 * (uint64_t)f->crop_padding + 1;
    c.top = (int)nt_rng_below(&rng, span);
    c.left = (int)nt_rng_below(&rng, span);
    c.flip = f->flip ? (int)nt_rng_below(&rng, 2) : 0;
    if (!f->crop_padding)
        c.top = c.left = 0;
    return c;
}

/* ToTensor of one example at the net's size into dst. */
static void to_tensor(const nt_feeder *f, float *dst, const nt_dataset *ds, int k, int slot)
{
    const size_t src_hw = (size_t)ds->h * ds->w, hw = (size_t)f->in_h * f->in_w;
    const size_t src_per = (size_t)ds->c * src_hw;
    if (ds->fimages) {
        memcpy(dst, ds->fimages + (size_t)k * src_per, src_per * sizeof(float));
        return;
    }
    const uint8_t *src = ds->images + (size_t)k * src_per;
    if (!f->resize) {
        nt_u8_to_float(dst, src, src_per);
        return;
    }
    uint8_t *t = f->tmp8 + (size_t)slot * hw;
    for (int c = 0; c < ds->c; c++) {
        nt_resize_bilinear_u8(t, f->in_h, f->in_w, src + (size_t)c * src_hw, ds->h, ds->w);
        nt_u8_to_float(dst + (size_t)c * hw, t, hw);
    }
}

void nt_feed_example(const nt_feeder *f, float *dst, const nt_dataset *ds, int k,
                     const nt_augment_choice *choice, int slot)
{
    const int H = f->in_h, W = f->in_w, P = f->crop_padding;
    const size_t hw = (size_t)H * W;
    if (!choice) {
        to_tensor(f, dst, ds, k, slot);
    } else {
        float *src = f->tmpf + (size_t)slot * f->in_size;
        to_tensor(f, src, ds, k, slot);
        /* pad with zeros, crop at (top, left), then flip */
        for (int c = 0; c < f->in_c; c++)
            for (int y = 0; y < H; y++) {
                const int sy = y + choice->top - P;
                float *row = dst + (size_t)c * hw + (size_t)y * W;
                for (int x = 0; x < W; x++) {
                    const int cx = choice->flip ? W - 1 - x : x;
                    const int sx = cx + choice->left - P;
                    row[x] = sy >= 0 && sy < H && sx >= 0 && sx < W
                                 ? src[(size_t)c * hw + (size_t)sy * W + sx] : 0.0f;
                }
            }
    }
    if (f->normalize)
        for (int c = 0; c < f->in_c; c++) {
            const float m = f->mean[c], s = f->std[c];
            float *p = dst + (size_t)c * hw;
            for (size_t i = 0; i < hw; i++)
                p[i] = (p[i] - m) / s;    /* tensor.sub_(mean).div_(std) */
        }
}

void nt_feed_batch(const nt_feeder *f, float *input, int32_t *labels,
                   const nt_dataset *ds, const int32_t *idx, int first, int n,
                   uint64_t key)
{
    const int augment = key != 0 && (f->crop_padding || f->flip);
    const int nth = f->resize || augment || (size_t)n * f->in_size >= FEED_PAR_MIN
                        ? f->threads : 1;
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int i = 0; i < n; i++) {
        const int k = idx ? idx[i] : first + i;
        nt_augment_choice c;
        if (augment)
            c = nt_augment_choose(f, key, i);
        nt_feed_example(f, input + (size_t)i * f->in_size, ds, k, augment ? &c : NULL,
                        omp_get_thread_num());
        labels[i] = ds->labels[k];
    }
}
