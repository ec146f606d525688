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

/* ---- datasets of either format, and batches (dataset.c) -------------------- */

/* How 4-d .npy images are laid out. */
typedef enum nt_layout { NT_LAYOUT_AUTO, NT_LAYOUT_NCHW, NT_LAYOUT_NHWC } nt_layout;

/* Loads the training (train != 0) or the test split from dir: NumPy arrays
 * if dir holds train_images.npy (and train_labels.npy, test_images.npy,
 * test_labels.npy), or the four .npy files dir names as
 * "TRAIN_IMAGES,TRAIN_LABELS,TEST_IMAGES,TEST_LABELS", else MNIST-format IDX
 * files (nt_dataset_load with "train" / "t10k"). NumPy images are uint8 or float32, N x H x W (grey),
 * N x C x H x W or N x H x W x C (layout; NT_LAYOUT_AUTO: the one whose
 * channel axis holds in_c, NCHW when both do); labels are any integer type.
 * Refused with a message naming the file: another dtype, a count that
 * differs between images and labels, a label outside [0, classes), a NaN or
 * infinity in float images, a truncated file. */
int nt_data_load(nt_dataset *ds, const char *dir, int train, int classes, int in_c,
                 nt_layout layout, nt_error *err);

/* What happens to each example on its way into a batch: resize (uint8 images
 * to the net's size, per channel, as torchvision's Resize on a PIL image),
 * RandomCrop(size, padding) with zeros and RandomHorizontalFlip (training
 * batches only), ToTensor (uint8 / 255; float images as given), then
 * Normalize(mean, std) -- torchvision's usual order. */
typedef struct nt_feeder {
    int in_c, in_h, in_w;     /* the net's input (a flat net: the image size) */
    size_t in_size;           /* floats per example */
    int resize;
    int normalize;
    float mean[NT_DATA_MAX_CHANNELS], std[NT_DATA_MAX_CHANNELS];
    int crop_padding, flip;   /* augmentation of training batches */
    int threads;
    uint8_t *tmp8;            /* [threads, in_h * in_w]: resized channels */
    float *tmpf;              /* [threads, in_size]: before augmentation */
} nt_feeder;

/* The feeder for dataset ds (as its images are) and the net's input; refuses
 * a channel count or an image size that cannot become the input (only uint8
 * images are resized). mean and std (NULL: no normalisation) have in_c
 * values. net and where name the net and the data in messages. */
int nt_feeder_init(nt_feeder *f, const nt_dataset *ds, int in_c, int in_h, int in_w,
                   const double *mean, const double *std, int crop_padding, int flip,
                   const char *net, const char *where, nt_error *err);
void nt_feeder_free(nt_feeder *f);

/* The random decisions for one example: the crop's top-left corner in the
 * padded image (0 .. 2 * padding) and whether to flip. */
typedef struct nt_augment_choice {
    int top, left, flip;
} nt_augment_choice;

/* The decisions for example i of the batch with key `key`. */
nt_augment_choice nt_augment_choose(const nt_feeder *f, uint64_t key, int i);

/* Example k of ds into dst (f->in_size floats), augmented with choice (NULL:
 * no augmentation), using thread slot `slot` of the feeder's buffers. */
void nt_feed_example(const nt_feeder *f, float *dst, const nt_dataset *ds, int k,
                     const nt_augment_choice *choice, int slot);

/* Examples idx[0..n) (or first..first+n when idx is NULL) into input and
 * labels, in parallel; augmented unless key is 0. */
void nt_feed_batch(const nt_feeder *f, float *input, int32_t *labels,
                   const nt_dataset *ds, const int32_t *idx, int first, int n,
                   uint64_t key);

#ifdef __cplusplus
}
#endif

#endif
