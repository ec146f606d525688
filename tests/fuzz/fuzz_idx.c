/* fuzz_idx.c - the IDX reader (raw or gzip) on arbitrary bytes. */
#include "fuzz.h"

#include <stdlib.h>

#include "nt_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *items = NULL;
    int n, h, w;
    nt_error err;
    if (nt_idx_read(fuzz_file(data, size), &items, &n, &h, &w, &err) == 0) {
        volatile uint8_t sum = 0; /* touch every byte: the count must be true */
        for (size_t i = 0; i < (size_t)n * h * w; i++)
            sum = (uint8_t)(sum + items[i]);
    }
    free(items);
    return 0;
}
