/* infer_api.c - a C program that uses an inference library written by
 * `netc emit --inference`, compiled with nothing but the library's two
 * files and libm (test_infer builds it with AddressSanitizer and UBSan):
 *
 *   cc -DNET=lenet_bn -DNET_UPPER=LENET_BN -DNET_HEADER='"lenet_bn.h"' \
 *      lenet_bn.c infer_api.c -lm -pthread -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
 *   ./infer_api X.f32 N OUT.f32 [WEIGHTS.safetensors]
 *
 * Reads N images (raw float32), runs predict, writes the logits (raw
 * float32) and checks the API's promises: init fails cleanly on a bad
 * path; no allocation in predict (none at all without WEIGHTS, where the
 * library must have its weights compiled in and the workspace is a static
 * array of the size the header states); two threads predicting at once on
 * separate workspaces get the serial result bit for bit. Exit 0, or 1 with
 * the broken promise on stderr. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include NET_HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define API(x) CAT(NET, x)
#define CONST(x) CAT(NET_UPPER, x)

#define MAX_IMAGES 64

/* ---- counting the library's allocations (-Wl,--wrap=...) ---- */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
static long allocations;
void *__wrap_malloc(size_t n) { allocations++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { allocations++; return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { allocations++; return __real_realloc(p, n); }

static float workspace[3][CONST(_WORKSPACE_FLOATS)];
static float images[MAX_IMAGES * CONST(_INPUT_FLOATS)];
static float serial[MAX_IMAGES * CONST(_CLASSES)];
static float parallel[2][MAX_IMAGES * CONST(_CLASSES)];

typedef struct job {
    const API(_model) *m;
    int n, k;
} job;

static void *run(void *arg)
{
    job *j = arg;
    API(_predict)(j->m, images, j->n, parallel[j->k], workspace[1 + j->k]);
    return NULL;
}

static int broken(const char *what)
{
    fprintf(stderr, "infer_api: %s\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5)
        return broken("usage: infer_api X.f32 N OUT.f32 [WEIGHTS]");
    const int n = atoi(argv[2]);
    const char *weights = argc == 5 ? argv[4] : NULL;
    if (n < 1 || n > MAX_IMAGES)
        return broken("N must be from 1 to 64");
    FILE *f = fopen(argv[1], "rb");
    size_t count = (size_t)n * CONST(_INPUT_FLOATS);
    if (!f || fread(images, sizeof(float), count, f) != count)
        return broken("cannot read the images");
    fclose(f);

    API(_model) m;
    if (API(_init)(&m, "/nonexistent/weights.safetensors") == 0 ||
        !strstr(m.error, "cannot open"))
        return broken("init accepted a missing file, or said nothing useful");
    if (!weights && !CONST(_BUILTIN_WEIGHTS))
        return broken("no WEIGHTS given, and the library has none compiled in");

    long before = allocations;
    if (API(_init)(&m, weights) != 0) {
        fprintf(stderr, "infer_api: init: %s\n", m.error);
        return 1;
    }
    const long init_allocations = allocations - before;
    if (!weights && init_allocations != 0)
        return broken("init allocated with compiled-in weights");

    before = allocations;
    API(_predict)(&m, images, n, serial, workspace[0]);
    if (allocations != before)
        return broken("predict allocated");

    pthread_t t[2];
    job jobs[2] = {{&m, n, 0}, {&m, n, 1}};
    for (int k = 0; k < 2; k++)
        if (pthread_create(&t[k], NULL, run, &jobs[k]) != 0)
            return broken("cannot start a thread");
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    size_t nl = (size_t)n * CONST(_CLASSES);
    for (int k = 0; k < 2; k++)
        if (memcmp(parallel[k], serial, nl * sizeof(float)) != 0)
            return broken("concurrent predict calls differ from the serial result");
    if (allocations != before)
        return broken("predict allocated (in threads)");

    f = fopen(argv[3], "wb");
    if (!f || fwrite(serial, sizeof(float), nl, f) != nl || fclose(f) != 0)
        return broken("cannot write the logits");
    API(_free)(&m);
    printf("ok: %d images, %ld allocations in init, none in predict\n", n, init_allocations);
    return 0;
}
