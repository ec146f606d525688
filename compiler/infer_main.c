/* infer_main.c - the command-line classifier `netc build --inference`
 * writes (emit_infer.c copies this text after the NET_* macros that name
 * the library's API). Reads images from a float32 .npy array [N, C, H, W]
 * (or [N, F]) or an IDX file of 8-bit images (gzip or raw, scaled by
 * 1/255 as the trainer does), prints one class per image, and writes the
 * logits with --logits. Needs the library, zlib and libm. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *usage =
    "usage: %s [--weights FILE.safetensors] [--logits OUT.npy] [--quiet] IMAGES\n"
    "  IMAGES   float32 .npy [N, C, H, W] (or [N, F]), or an IDX file of 8-bit\n"
    "           images (gzip or raw; pixels / 255)\n"
    "  prints the class of each image, one per line (--quiet: does not)\n";

#define MAX_IMAGES 100000000L

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s: ", NET_NAME);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return -1;
}

/* Reads all of a file, through zlib (which reads raw files as they are). */
static unsigned char *slurp(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    int got;
    while (b && (got = gzread(f, b + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)got;
        if (n == cap) {
            unsigned char *nb = cap < ((size_t)1 << 36) ? realloc(b, cap *= 2) : NULL;
            if (!nb)
                free(b);
            b = nb;
        }
    }
    int bad = 0;
    gzerror(f, &bad);
    gzclose(f);
    if (!b || bad < 0) {
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

static long dim_ok(long long v, long want) { return want < 0 || v == want; }

/* The readers return 1 with *x and *count set, 0 if the file is not in
 * their format, -1 after a message if it is but cannot be used. */

/* float32 little-endian C-order .npy (format 1, 2 or 3). */
static int read_npy(const unsigned char *b, size_t len, const char *path, float **x,
                    long *count)
{
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return 0;
    size_t hl = b[6] == 1 ? (size_t)(b[8] | b[9] << 8) : 0, start = 10;
    if (b[6] >= 2 && len >= 12) {
        hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        start = 12;
    }
    if (hl == 0 || hl > len - start)
        return fail("%s: malformed .npy header%s", path, "");
    char *h = malloc(hl + 1);
    memcpy(h, b + start, hl);
    h[hl] = 0;
    const char *d = strstr(h, "'descr'"), *fo = strstr(h, "'fortran_order'"),
               *sh = strstr(h, "'shape'");
    long long dims[4] = {0, 0, 0, 0};
    int nd = 0;
    int ok = d && fo && sh && strstr(d, "'<f4'") && strstr(fo, "False");
    if (ok && (sh = strchr(sh, '(')) != NULL) {
        for (sh++; nd < 4;) {
            char *end;
            long long v = strtoll(sh, &end, 10);
            if (end == sh)
                break;
            dims[nd++] = v;
            sh = end;
            while (*sh == ',' || *sh == ' ')
                sh++;
        }
        ok = *sh == ')';
    } else {
        ok = 0;
    }
    free(h);
    int flat = NET_INPUT_H == 1 && NET_INPUT_W == 1;
    if (!ok || !((nd == 4 && dims[1] == NET_INPUT_C && dim_ok(dims[2], NET_INPUT_H) &&
                  dim_ok(dims[3], NET_INPUT_W)) ||
                 (flat && nd == 2 && dims[1] == NET_INPUT_C)) ||
        dims[0] < 0 || dims[0] > MAX_IMAGES) {
        char want[96];
        snprintf(want, sizeof want, "float32 [N, %d, %d, %d]", NET_INPUT_C, NET_INPUT_H,
                 NET_INPUT_W);
        return fail("%s: not a C-order array %s", path, want);
    }
    size_t n = (size_t)dims[0] * NET_INPUT_FLOATS;
    if (len - start - hl != n * 4)
        return fail("%s: the data is not the size the header says%s", path, "");
    if (!(*x = malloc(n * sizeof(float) + 1)))
        return fail("%s: out of memory%s", path, "");
    const unsigned char *p = b + start + hl;
    for (size_t i = 0; i < n; i++, p += 4) {
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
        memcpy(&(*x)[i], &u, 4);
    }
    *count = (long)dims[0];
    return 1;
}

/* IDX images: magic 0x00000803, N, H, W, then N*H*W bytes. */
static int read_idx(const unsigned char *b, size_t len, const char *path, float **x,
                    long *count)
{
    if (len < 16 || b[0] || b[1] || b[2] != 8 || b[3] != 3)
        return 0;
    uint32_t v[3];
    for (int k = 0; k < 3; k++)
        v[k] = (uint32_t)b[4 + 4 * k] << 24 | (uint32_t)b[5 + 4 * k] << 16 |
               (uint32_t)b[6 + 4 * k] << 8 | b[7 + 4 * k];
    if (NET_INPUT_C != 1 || v[1] != NET_INPUT_H || v[2] != NET_INPUT_W) {
        char got[64];
        snprintf(got, sizeof got, "%ux%u", (unsigned)v[1], (unsigned)v[2]);
        return fail("%s: the images are %s, the net takes 1-channel images of its input size",
                    path, got);
    }
    if (v[0] > MAX_IMAGES || len - 16 != (size_t)v[0] * NET_INPUT_FLOATS)
        return fail("%s: the file does not hold the number of images its header says%s", path,
                    "");
    if (!(*x = malloc((size_t)v[0] * NET_INPUT_FLOATS * sizeof(float) + 1)))
        return fail("%s: out of memory%s", path, "");
    for (size_t i = 0; i < (size_t)v[0] * NET_INPUT_FLOATS; i++)
        (*x)[i] = b[16 + i] / 255.0f;
    *count = (long)v[0];
    return 1;
}

static int write_npy(const char *path, const float *y, long n)
{
    char h[128];
    int hl = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %d), }",
                      n, NET_CLASSES);
    while ((hl + 11) % 64 != 0)
        h[hl++] = ' ';
    h[hl++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f)
        return fail("cannot write %s: %s", path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hl & 255), (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(h, 1, (size_t)hl, f) == (size_t)hl;
    for (long i = 0; ok && i < n * NET_CLASSES; i++) {
        uint32_t u;
        memcpy(&u, &y[i], 4);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8),
                              (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
        ok = fwrite(b, 1, 4, f) == 4;
    }
    if (fclose(f) != 0 || !ok)
        return fail("cannot write %s%s", path, "");
    return 0;
}

int main(int argc, char **argv)
{
    const char *weights = NULL, *logits_path = NULL, *images = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc) {
            weights = argv[++i];
        } else if (strcmp(argv[i], "--logits") == 0 && i + 1 < argc) {
            logits_path = argv[++i];
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf(usage, argv[0]);
            return 0;
        } else if (argv[i][0] != '-' && !images) {
            images = argv[i];
        } else {
            fprintf(stderr, usage, argv[0]);
            return 2;
        }
    }
    if (!images || (!weights && !NET_BUILTIN_WEIGHTS)) {
        fprintf(stderr, "%s: %s\n", NET_NAME,
                images ? "no weights compiled in: give --weights FILE.safetensors"
                       : "give the IMAGES to classify");
        fprintf(stderr, usage, argv[0]);
        return 2;
    }
    NET_MODEL m;
    if (NET_INIT(&m, weights) != 0) {
        fprintf(stderr, "%s: %s\n", NET_NAME, m.error);
        return 1;
    }
    size_t len = 0;
    unsigned char *b = slurp(images, &len);
    if (!b) {
        fail("cannot read %s%s", images, "");
        NET_FREE(&m);
        return 1;
    }
    long n = 0;
    float *x = NULL;
    int got = read_npy(b, len, images, &x, &n);
    if (got == 0)
        got = read_idx(b, len, images, &x, &n);
    free(b);
    if (got == 0)
        fail("%s: neither a .npy array nor an IDX image file%s", images, "");
    if (got != 1) {
        NET_FREE(&m);
        return 1;
    }
    float *y = malloc((size_t)n * NET_CLASSES * sizeof(float) + 1);
    float *ws = malloc(NET_WORKSPACE_FLOATS * sizeof(float));
    int rc = 0;
    if (!y || !ws) {
        fail("out of memory%s%s", "", "");
        rc = 1;
    } else {
        NET_PREDICT(&m, x, (int)n, y, ws);
        for (long i = 0; i < n && !quiet; i++) {
            int best = 0;
            for (int k = 1; k < NET_CLASSES; k++)
                if (y[i * NET_CLASSES + k] > y[i * NET_CLASSES + best])
                    best = k;
            printf("%d\n", best);
        }
        if (logits_path && write_npy(logits_path, y, n) != 0)
            rc = 1;
    }
    free(x);
    free(y);
    free(ws);
    NET_FREE(&m);
    return rc;
}
