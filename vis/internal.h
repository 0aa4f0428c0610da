/* Private to libvisattn_vis: argument checks and the decoders shared by its files. */
#ifndef VISATTN_VIS_INTERNAL_H
#define VISATTN_VIS_INTERNAL_H

#include "visattn/vis.h"

/* VA_OK if img is an image a call can read: not NULL, w and h >= 1, pixels present. Else
 * VA_ERR_ARG, the message naming the call and the argument (`fn`: `what` ...): images are plain
 * structs that callers may fill themselves, so a zeroed or half-filled one must not be read. */
va_status vis_check_image(const va_image *img, const char *fn, const char *what, va_error *err);

/* ---- Decoders (vis/decode_jpeg.c, vis/decode_png.c; the other formats: stb_image in image.c) --
 * Each reads a whole file in memory, refuses it before decoding if its header claims 0 pixels or
 * more than max_pixels, and on success fills a vis_raw that image.c turns into a va_image (EXIF
 * orientation, grey -> RGB, alpha over black). Errors are one line naming the file (`name`);
 * nothing prints. On failure raw is empty. */

/* Pixels as decoded: w * h * channels bytes, rows packed, 8 bits a channel (free with free()). */
typedef struct vis_raw {
    int w, h;
    int channels;     /* of px: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
    int src_channels; /* what va_image reports: the file's channels, as stb_image counted them */
    int src_16bit;
    unsigned char *px;
} vis_raw;

/* The offset of a JPEG's start-of-image 0xFF 0xD8 if the file is one (it may be preceded by 0xFF
 * fill bytes, as stb_image allows: see decode_jpeg.c), else -1. */
long vis_jpeg_start(const unsigned char *p, size_t len);
/* Nonzero if the file starts with the PNG signature. */
int vis_is_png(const unsigned char *p, size_t len);

/* JPEG with libjpeg-turbo (libjpeg-turbo): baseline, progressive, arithmetic-coded; grey, YCbCr,
 * RGB, CMYK and YCCK. */
va_status vis_decode_jpeg(const unsigned char *p, size_t len, const char *name, int64_t max_pixels,
                          vis_raw *raw, va_error *err);
/* PNG with libspng: every colour type and bit depth, interlaced or not, tRNS applied. */
va_status vis_decode_png(const unsigned char *p, size_t len, const char *name, int64_t max_pixels,
                         vis_raw *raw, va_error *err);

/* "<name>: image is W x H pixels (.. megapixels), over the limit of N pixels (...)". */
va_status vis_too_large(const char *name, long long w, long long h, int64_t max_pixels,
                        va_error *err);

#endif
