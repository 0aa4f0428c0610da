/* visattn_vis: the picture side of visattn, a second library (libvisattn_vis) next to libvisattn.
 *
 * It loads images (whatever stb_image reads, with checks before decoding that refuse absurd sizes
 * and the inputs known to break stb_image), turns an image into the normalised NCHW tensor a model
 * expects, colour-maps an attention map and blends it over the image at full resolution, lays
 * overlays out in a labelled contact sheet, and writes PNGs: everything `visattn heatmap` draws
 * with, for C programs that want the same pictures.
 *
 * It needs stb (Debian libstb-dev: stb_image and stb_image_write, linked as -lstb) and links
 * against libvisattn (tensors, errors, va_resize_bilinear). pkg-config: visattn-vis; CMake:
 * find_package(visattn) and the target visattn::visattn_vis. docs/vis.md has an example.
 *
 * The conventions are libvisattn's: every call that can fail returns a va_status and leaves a
 * one-line reason in err->msg (err may be NULL); a NULL pointer argument is VA_ERR_ARG with a
 * message, never a crash; nothing prints or exits. An image or tensor a call fills is allocated by
 * that call: pass an empty one (what it held is overwritten, not freed), free it with
 * va_image_free or va_tensor_free. On failure it is left empty. */
#ifndef VISATTN_VIS_H
#define VISATTN_VIS_H

#include <stddef.h>
#include <stdint.h>

#include "visattn/block.h"
#include "visattn/error.h"
#include "visattn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Images ---------------------------------------------------------------------------------- */

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
 * first and the file refused before decoding if it claims 0 pixels or more than max_pixels (>= 1).
 * Alpha is composited over black (the background of the Fashion-MNIST images the models saw).
 * The file is opened read-only and never written. Errors name the file. */
va_status va_image_load(const char *path, int64_t max_pixels, va_image *img, va_error *err);
/* The same for a file already in memory (data is only read); `name` stands for the path in error
 * messages and may be NULL ("<memory>"), as in va_st_open_memory. */
va_status va_image_load_memory(const unsigned char *data, size_t len, const char *name,
                               int64_t max_pixels, va_image *img, va_error *err);
/* Free the pixels and leave img empty. A destructor: NULL or an empty image is a no-op. */
void va_image_free(va_image *img);
/* Allocate a black w x h image (w, h >= 1). */
va_status va_image_alloc(va_image *img, int w, int h, va_error *err);

/* Write an RGB image as PNG; errors name the path and the system's reason. img is only read. */
va_status va_image_write_png(const char *path, const va_image *img, va_error *err);

/* Resize an RGB image to w x h for display: 2 x 2 box halving while it is over twice the target
 * size, then bilinear. dst is allocated; it must not be src (in place is refused: it would lose
 * src's pixels), and src is only read. */
va_status va_image_resize(const va_image *src, int w, int h, va_image *dst, va_error *err);

/* ---- Model input ----------------------------------------------------------------------------- */

/* How a model wants its input (for the backbone models: from the model file's visattn.config). */
typedef struct va_preprocess {
    int channels;          /* 1: grey (ITU-R BT.601 luma), 3: RGB */
    int height, width;     /* the model's input_size */
    float mean[3], std[3]; /* per channel, applied to pixel / 255; std > 0 */
} va_preprocess;

/* x = 1 x channels x height x width: pixels / 255 (grey = 0.299 R + 0.587 G + 0.114 B, exactly R
 * where R = G = B; a grey image gives the same value on every channel), resized with
 * va_resize_bilinear (PyTorch's F.interpolate(mode="bilinear", align_corners=False), no
 * antialiasing), then (v - mean) / std. x is allocated (free with va_tensor_free) and never shares
 * memory with img, which is only read.
 */
va_status va_image_to_input(const va_image *img, const va_preprocess *pp, va_tensor *x,
                            va_error *err);
/* The preprocessing a model declares (va_block_info: in_channels 1 or 3, input size, mean, std).
 * VA_ERR_CONFIG if it declares no input size or normalisation (a block, not a model), or an
 * input of other than 1 or 3 channels; VA_ERR_ARG for NULL. */
va_status va_preprocess_for_model(const va_block *model, va_preprocess *pp, va_error *err);

/* ---- Colour maps ----------------------------------------------------------------------------- */

typedef enum va_colormap {
    VA_CMAP_TURBO = 0,
    VA_CMAP_JET,
    VA_CMAP_VIRIDIS,
    VA_CMAP_INFERNO,
    VA_CMAP_GRAY
} va_colormap;

/* "turbo", "jet", "viridis", "inferno", "gray" (also "grey") into *cm; an unknown name is
 * VA_ERR_ARG with a message listing the names. */
va_status va_colormap_from_name(const char *name, va_colormap *cm, va_error *err);
/* The map's name; "?" for a value outside the enum. */
const char *va_colormap_name(va_colormap cm);
/* Any v: clamped to [0, 1], NaN counts as 0 (so -Inf gives 0, +Inf 1); rgb gets 0..255.
 * A value of cm outside the enum is VA_ERR_ARG. */
va_status va_colormap_apply(va_colormap cm, float v, unsigned char rgb[3], va_error *err);

/* ---- Overlays and contact sheets ------------------------------------------------------------- */

/* Upsample the first channel of sample 0 of map (N x C x h x w, all >= 1) bilinearly to the
 * image's size (F.interpolate(mode="bilinear", align_corners=False)), min-max normalise it to
 * [0, 1] (a constant map becomes 0), colour-map it and blend: out = (1 - alpha) * image +
 * alpha * colour, alpha in [0, 1]. Any float is accepted: min and max are those of the finite
 * values, +Inf shows as 1, -Inf and NaN as 0 (the CLI refuses such maps before it gets here; see
 * docs/heatmap.md). out is allocated at the image's full resolution; it must not be img (in place
 * is refused), and map and img are only read. */
va_status va_overlay(const va_tensor *map, const va_image *img, va_colormap cm, float alpha,
                     va_image *out, va_error *err);

/* One cell of a contact sheet: an image (NULL leaves the cell empty) and a label (NULL: none) under
 * 40 characters. The label font has A-Z (lower case is drawn as capitals), 0-9 and " _.-:/()";
 * other characters show as a hollow box. */
typedef struct va_sheet_cell {
    const va_image *img;
    const char *label;
} va_sheet_cell;

/* A rows x cols grid (cells: rows * cols of them, row-major), each image scaled so its longer side
 * is tile_px (>= 8), with its label drawn above it. At least one cell has an image and all images
 * have the same size. out is allocated; it must not be any cell's image (refused), and the cells
 * are only read. */
va_status va_contact_sheet(const va_sheet_cell *cells, int rows, int cols, int tile_px,
                           va_image *out, va_error *err);

#ifdef __cplusplus
}
#endif
#endif
