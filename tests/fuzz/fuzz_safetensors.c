/* fuzz_safetensors.c - the safetensors reader on arbitrary bytes, then, for a
 * file it accepts, every tensor copied out and the checkpoint loader's
 * validation against a small net. */
#include "fuzz.h"

#include <stdlib.h>

#include "nt_io.h"
#include "nt_trainer.h"
#include "tiny_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    nt_safetensors st;
    nt_error err;
    if (nt_st_read(&st, path, &err) == 0) {
        for (int i = 0; i < st.ntensors; i++) {
            const nt_st_tensor *t = &st.tensors[i];
            if (t->dtype[0] == 'F' && t->dtype[1] == '3' && t->end - t->begin <= 1 << 20) {
                float *x = malloc(t->end - t->begin + 4);
                nt_st_copy_f32(&st, t, x);
                free(x);
            }
            (void)nt_st_meta(&st, "epoch");
        }
        nt_st_free(&st);
        nt_model m;
        if (nt_model_alloc(&m, &tiny_net, 1, &err) == 0) {
            nt_checkpoint_info ci;
            if (nt_checkpoint_load(&m, path, 1, &ci, &err) == 0)
                free(ci.history);
            nt_model_free(&m);
        }
    }
    return 0;
}
