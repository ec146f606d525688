/* gemm_bench.c - GFLOP/s of nt_sgemm on the GEMMs that the convolutions of
 * AlexNet, VGG (ratio 4) and ResNet-18 and a few linear layers make, for
 * each ISA of the runtime's own SGEMM and for OpenBLAS, best of a few runs.
 * Compare with build/bench/roof. Not a test.
 *
 *   build/bench/gemm_bench [--threads T] [--reps N] [--generic] [--filter S]
 *                          [--shape M,N,K[,ta,tb]]...
 *
 * --shape replaces the list by the given products (repeatable, up to 16).
 * A conv layer's forward is C[OC, cols] = W[OC, CKK] * col[CKK, cols] with
 * cols the tile width conv.c picks (2^18 / CKK clamped to 256..4096), its
 * weight gradient dW[OC, CKK] = dout[OC, cols] * col^T (trans_b) and its
 * data gradient dcol[CKK, cols] = W^T * dout (trans_a). One thread is timed
 * by its CPU time (robust on a shared machine), more by wall time. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nt_kernels.h"

typedef struct shape {
    const char *name;
    int ta, tb, M, N, K;
} shape;

#define MAXSHAPES 96
static shape shapes[MAXSHAPES];
static int nshapes;

static int tile_cols(int ckk, int P)
{
    int t = (1 << 18) / ckk;
    t = t < 256 ? 256 : t > 4096 ? 4096 : t;
    return P < t ? t / P * P : t; /* whole images, or a band of an image */
}

/* forward, weight gradient and data gradient of one conv layer */
static void conv(const char *name, int C, int OC, int k, int OH, int OW)
{
    int ckk = C * k * k, cols = tile_cols(ckk, OH * OW);
    static char names[MAXSHAPES][48];
    const char *tag[3] = {"fwd", "dW", "dX"};
    shape s[3] = {{NULL, 0, 0, OC, cols, ckk},
                  {NULL, 0, 1, OC, ckk, cols},
                  {NULL, 1, 0, ckk, cols, OC}};
    for (int i = 0; i < 3 && nshapes < MAXSHAPES; i++) {
        snprintf(names[nshapes], sizeof names[0], "%s %s", name, tag[i]);
        s[i].name = names[nshapes];
        shapes[nshapes++] = s[i];
    }
}

static void add(const char *name, int ta, int tb, int M, int N, int K)
{
    shape s = {name, ta, tb, M, N, K};
    if (nshapes < MAXSHAPES)
        shapes[nshapes++] = s;
}

static void make_shapes(void)
{
    conv("alexnet.conv1", 1, 96, 11, 54, 54);
    conv("alexnet.conv2", 96, 256, 5, 26, 26);
    conv("alexnet.conv3", 256, 384, 3, 12, 12);
    conv("alexnet.conv4", 384, 384, 3, 12, 12);
    conv("vgg.conv2", 16, 32, 3, 112, 112);
    conv("vgg.conv4", 64, 64, 3, 56, 56);
    conv("vgg.conv6", 128, 128, 3, 28, 28);
    conv("resnet18.conv1", 1, 64, 7, 48, 48);
    conv("resnet18.b2", 64, 64, 3, 24, 24);
    conv("resnet18.b3", 128, 128, 3, 12, 12);
    conv("resnet18.b4", 256, 256, 3, 6, 6);
    conv("resnet18.b5", 512, 512, 3, 3, 3);
    conv("lenet.conv2", 6, 16, 5, 10, 10);
    add("alexnet.fc1 fwd", 0, 1, 128, 4096, 6400);
    add("alexnet.fc1 dW", 1, 0, 4096, 6400, 128);
    add("alexnet.fc1 dX", 0, 0, 128, 6400, 4096);
    add("lenet.fc1 fwd", 0, 1, 256, 120, 400);
}

/* With one thread the clock is the thread's CPU time, which other
 * processes on a shared machine do not inflate; with more, wall time. */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Best GFLOP/s of nt_sgemm on s over reps timings of at least 20 ms each. */
static double run(const shape *s, float *A, float *B, float *C, int reps)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double flops = 2.0 * s->M * s->N * s->K, best = 0.0;
    nt_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C,
             s->N); /* warm-up */
    for (int r = 0; r < reps; r++) {
        int n = 0;
        double t0 = now(), t;
        do {
            nt_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb,
                     0.0f, C, s->N);
            n++;
            t = now() - t0;
        } while (t < 0.02);
        double gf = flops * n / t * 1e-9;
        if (gf > best)
            best = gf;
    }
    return best;
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 5, generic = 0;
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--generic") == 0)
            generic = 1;
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
            static char label[16][48];
            shape s = {NULL, 0, 0, 0, 0, 0};
            if (sscanf(argv[++i], "%d,%d,%d,%d,%d", &s.M, &s.N, &s.K, &s.ta,
                       &s.tb) < 3 || s.M < 1 || s.N < 1 || s.K < 1) {
                fprintf(stderr, "--shape wants M,N,K[,ta,tb]\n");
                return 2;
            }
            snprintf(label[nshapes % 16], sizeof label[0], "%dx%dx%d", s.M,
                     s.N, s.K);
            s.name = label[nshapes % 16];
            if (nshapes < 16)
                shapes[nshapes++] = s;
        }
        else {
            fprintf(stderr,
                    "usage: %s [--threads T] [--reps N] [--generic] "
                    "[--filter S] [--shape M,N,K[,ta,tb]]...\n",
                    argv[0]);
            return 2;
        }
    }
    nt_set_num_threads(threads);
    if (nshapes == 0)
        make_shapes();

    /* the columns: own SGEMM per ISA this CPU has, then OpenBLAS */
    const char *col[5];
    nt_isa isa[5];
    int ncol = 0;
    for (int k = generic ? NT_ISA_GENERIC : NT_ISA_AVX2; k <= NT_ISA_AVX512; k++)
        if (nt_cpu_has((nt_isa)k)) {
            isa[ncol] = (nt_isa)k;
            col[ncol++] = nt_isa_name((nt_isa)k);
        }
    col[ncol++] = "openblas";

    size_t most = 0;
    for (int i = 0; i < nshapes; i++) {
        size_t m = (size_t)shapes[i].M * shapes[i].K;
        if ((size_t)shapes[i].K * shapes[i].N > m)
            m = (size_t)shapes[i].K * shapes[i].N;
        if ((size_t)shapes[i].M * shapes[i].N > m)
            m = (size_t)shapes[i].M * shapes[i].N;
        most = m > most ? m : most;
    }
    float *A = malloc(sizeof(float) * most), *B = malloc(sizeof(float) * most),
          *C = malloc(sizeof(float) * most);
    for (size_t i = 0; i < most; i++) {
        A[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        B[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
        C[i] = 0.0f;
    }

    if (nt_num_threads() == 1)
        clock_id = CLOCK_THREAD_CPUTIME_ID;
    printf("nt_sgemm GFLOP/s, %d thread(s), best of %d (%s)\n",
           nt_num_threads(), reps,
           nt_num_threads() == 1 ? "thread CPU time" : "wall time");
    printf("%-22s %2s %2s %5s %5s %5s", "gemm", "ta", "tb", "M", "N", "K");
    for (int c = 0; c < ncol; c++)
        printf(" %9s", col[c]);
    printf("\n");
    for (int i = 0; i < nshapes; i++) {
        const shape *s = &shapes[i];
        if (filter && !strstr(s->name, filter))
            continue;
        printf("%-22s %2d %2d %5d %5d %5d", s->name, s->ta, s->tb, s->M, s->N,
               s->K);
        for (int c = 0; c < ncol; c++) {
            if (c < ncol - 1) {
                nt_gemm_force(NT_GEMM_OWN);
                nt_cpu_force(isa[c]);
            } else {
                nt_gemm_force(NT_GEMM_OPENBLAS);
            }
            printf(" %9.1f", run(s, A, B, C, reps));
            fflush(stdout);
        }
        printf("\n");
    }
    free(A);
    free(B);
    free(C);
    return 0;
}
