/* Images for `visattn heatmap`: loading with stb_image (validated before decoding), writing PNGs
 * with stb_image_write, and turning an image into the input tensor a model expects. */
#ifndef VISATTN_DEMOS_IMAGE_H
#define VISATTN_DEMOS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "visattn/visattn.h"

/* Default limit on an image's size: 100 megapixels (a 10000 x 10000 image). */
#define VA_IMAGE_DEFAULT_MAX_PIXELS 100000000LL

/* An 8-bit RGB image, rows packed: px[(y * w + x) * 3 + c]. */
typedef struct va_image {
    int w, h;
    int src_channels; /* channels in the file: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
    int src_16bit;    /* the file had 16 bits per channel (reduced to 8 by stb_image) */
    unsigned char *px;
} va_image;

/* Load any image stb_image reads (PNG, JPEG, BMP, GIF, PSD, TGA, HDR, PIC, PNM). The header is read
 * first and the file refused before decoding if it claims 0 pixels or more than max_pixels.
 * Alpha is composited over black (the background of the Fashion-MNIST images the models saw).
 * The file is opened read-only and never written. Errors name the file. */
va_status va_image_load(const char *path, int64_t max_pixels, va_image *img, va_error *err);
/* The same for a file already in memory; `name` stands for the path in error messages. */
va_status va_image_load_memory(const unsigned char *data, size_t len, const char *name,
                               int64_t max_pixels, va_image *img, va_error *err);
void va_image_free(va_image *img);
/* Allocate a black w x h image. */
va_status va_image_alloc(va_image *img, int w, int h, va_error *err);

/* Write an RGB image as PNG; errors name the path and the system's reason. */
va_status va_image_write_png(const char *path, const va_image *img, va_error *err);

/* How a model wants its input (from the model file's visattn.config). */
typedef struct va_preprocess {
    int channels;          /* 1: grey (ITU-R BT.601 luma), 3: RGB */
    int height, width;     /* the model's input_size */
    float mean[3], std[3]; /* per channel, applied to pixel / 255 */
} va_preprocess;

/* x = 1 x channels x height x width: pixels / 255 (grey = 0.299 R + 0.587 G + 0.114 B; a grey
 * image gives the same value on every channel), resized with va_resize_bilinear (PyTorch's
 * F.interpolate(mode="bilinear", align_corners=False), no antialiasing), then (v - mean) / std.
 * Allocates x (free with va_tensor_free). */
va_status va_image_to_input(const va_image *img, const va_preprocess *pp, va_tensor *x,
                            va_error *err);

/* Resize an RGB image to w x h for display (allocates dst): 2 x 2 box halving while it is over
 * twice the target size, then bilinear. */
va_status va_image_resize(const va_image *src, int w, int h, va_image *dst, va_error *err);

#endif
