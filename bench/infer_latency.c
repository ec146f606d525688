/* infer_latency.c - latency of an inference library written by `netc emit
 * --inference` at batch 1: the best (minimum) of R runs of predict on one
 * image, after a warm-up, so that other processes on a shared machine
 * inflate the figure as little as possible. Built by bench/infer.sh:
 *   cc -O3 -DNET=lenet -DNET_UPPER=LENET -DNET_HEADER='"lenet.h"' lenet.c infer_latency.c -lm
 *   ./infer_latency WEIGHTS.safetensors [R]
 * Single thread. Prints: best, median (microseconds per image). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include NET_HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define API(x) CAT(NET, x)
#define CONST(x) CAT(NET_UPPER, x)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int runs = argc > 2 ? atoi(argv[2]) : 50;
    if (argc < 2 || runs < 1) {
        fprintf(stderr, "usage: infer_latency WEIGHTS.safetensors [RUNS]\n");
        return 2;
    }
    API(_model) m;
    if (API(_init)(&m, argv[1]) != 0) {
        fprintf(stderr, "%s\n", m.error);
        return 1;
    }
    float *x = malloc(CONST(_INPUT_FLOATS) * sizeof(float));
    float *ws = malloc(CONST(_WORKSPACE_FLOATS) * sizeof(float));
    double *t = malloc((size_t)runs * sizeof(double));
    float y[CONST(_CLASSES)];
    for (int i = 0; i < CONST(_INPUT_FLOATS); i++)
        x[i] = (float)((i * 7919) % 256) / 255.0f;
    for (int k = 0; k < 3; k++)
        API(_predict)(&m, x, 1, y, ws);
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        API(_predict)(&m, x, 1, y, ws);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp);
    printf("%.1f %.1f\n", 1e6 * t[0], 1e6 * t[runs / 2]);
    free(x);
    free(ws);
    free(t);
    API(_free)(&m);
    return 0;
}
