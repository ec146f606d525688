/* fuzz_npy.c - the .npy reader on arbitrary bytes. */
#include "fuzz.h"

#include <stdlib.h>

#include "nt_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    float *x = NULL;
    int64_t shape[8];
    int ndim;
    nt_error err;
    if (nt_npy_read_f32(fuzz_file(data, size), &x, shape, &ndim, &err) == 0) {
        size_t count = 1;
        for (int d = 0; d < ndim; d++)
            count *= (size_t)shape[d];
        volatile float sum = 0; /* touch every element */
        for (size_t i = 0; i < count; i++)
            sum += x[i];
    }
    free(x);
    return 0;
}
