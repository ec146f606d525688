/* nt_data.h - the training data: MNIST-format IDX files (gzip or raw), and
 * the bilinear resize that torchvision's Resize applies to these images.
 *
 * Everything here takes data from outside the process, so every entry point
 * validates what it reads and returns 0, or -1 with a message in err.
 */
#ifndef NT_DATA_H
#define NT_DATA_H

#include "nt_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits that keep a corrupt header from asking for absurd memory. */
#define NT_IDX_MAX_ITEMS 10000000
#define NT_IDX_MAX_SIDE 4096
#define NT_DATA_MAX_CHANNELS 64

/* Reads an IDX file of unsigned bytes (magic 0x00000801 labels,
 * 0x00000803 images or 0x00000804 images N x C x H x W), gzip-compressed or
 * raw (detected from the content, not the name). For a 1-d file *h = *w = 1;
 * for a 4-d file *h and *w are H and W (its channels are nt_dataset_load's
 * business). The file must hold exactly the
 * number of bytes its header announces: a truncated or over-long file is
 * refused. *data is malloc'ed; the caller frees it. */
int nt_idx_read(const char *path, uint8_t **data, int *n, int *h, int *w,
                nt_error *err);

/* One split of a dataset: IDX (uint8) or NumPy (uint8 or float32). */
typedef struct nt_dataset {
    int n;             /* number of examples */
    int c, h, w;       /* channels and image size (1 x 28 x 28 for Fashion-MNIST) */
    uint8_t *images;   /* [n, c, h, w], row-major; NULL for float images */
    float *fimages;    /* [n, c, h, w] float32 images (NumPy), else NULL */
    int32_t *labels;   /* [n], each in [0, classes) */
} nt_dataset;

/* Loads split "train" or "t10k" from dir, looking for
 * <split>-images-idx3-ubyte[.gz] and <split>-labels-idx1-ubyte[.gz] (also the
 * <split>-images.idx3-ubyte spelling; the images may be 4-d, N x C x H x W). Checks that images and labels agree on
 * the count and that every label is < num_classes. A missing file is an
 * error that names the paths tried. */
int nt_dataset_load(nt_dataset *ds, const char *dir, const char *split,
                    int num_classes, nt_error *err);
void nt_dataset_free(nt_dataset *ds);

/* Bilinear resize of one 8-bit grey image, bit-exact with what
 * torchvision.transforms.Resize((oh, ow)) does to a PIL 'L' image (Pillow's
 * two-pass resample, horizontal pass first, fixed-point coefficients,
 * rounding to 8 bits after each pass; antialiasing when shrinking). */
void nt_resize_bilinear_u8(uint8_t *out, int oh, int ow,
                           const uint8_t *in, int ih, int iw);

/* out[i] = in[i] / 255 (torchvision's ToTensor). */
void nt_u8_to_float(float *out, const uint8_t *in, size_t n);

#ifdef __cplusplus
}
#endif

#endif
