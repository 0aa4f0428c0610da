/* visattn_vis: the picture side of visattn, a second library (libvisattn_vis) next to libvisattn.
 *
 * It loads images (JPEG with libjpeg-turbo, PNG with libspng, BMP, GIF and PNM with stb_image, with
 * checks before decoding that refuse absurd sizes and the inputs known to break stb_image), turns
 * an image into the normalised NCHW tensor a model expects, colour-maps an attention map and
 * blends it over the image at full resolution, lays overlays out in a labelled contact sheet, and
 * writes PNGs: everything `visattn heatmap` draws with, for C programs that want the same pictures.
 *
 * It needs stb (Debian libstb-dev: stb_image and stb_image_write, linked as -lstb), libjpeg-turbo
 * (libjpeg62-turbo-dev) and libspng (libspng-dev), and links against libvisattn (tensors, errors,
 * va_resize_bilinear). pkg-config: visattn-vis; CMake: find_package(visattn) and the target
 * visattn::visattn_vis. docs/vis.md has an example.
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
    int src_16bit;    /* the file had 16 bits per channel (reduced to 8: value >> 8) */
    unsigned char *px;
    /* The EXIF orientation (TIFF tag 0x0112, 1..8) the loader applied to the pixels: 1 = none
     * (every non-JPEG, a JPEG without EXIF or with a broken EXIF block, and every image
     * va_image_alloc makes); 2 mirrored, 3 rotated 180 degrees, 4 flipped upside down, 5
     * transposed, 6 rotated 90 degrees clockwise, 7 transversed, 8 rotated 90 degrees
     * counter-clockwise. w and h are those of the upright image (swapped from the file's for 5-8).
     * A zeroed image has 0 here, which means the same as 1. */
    int orientation;
} va_image;

/* The formats va_image_load reads by default: JPEG (libjpeg-turbo), PNG (libspng), BMP, GIF and PNM
 * (stb_image). */
#define VA_IMAGE_FORMATS "PNG, JPEG, BMP, GIF, PNM"
/* Formats stb_image also reads but whose decoders have been fuzzed far less: read only when
 * va_image_options.all_formats is set (`visattn heatmap --all-formats`; docs/hardening.md). */
#define VA_IMAGE_EXTRA_FORMATS "TGA, PSD, HDR, PIC"
/* How the "not a readable image" message lists them. */
#define VA_IMAGE_FORMATS_TEXT                                                                      \
    "the formats read are " VA_IMAGE_FORMATS " (and " VA_IMAGE_EXTRA_FORMATS " with "              \
                                                                             "--all-formats)"

/* How va_image_load_opts reads a file. A zeroed struct gives va_image_load's defaults. */
typedef struct va_image_options {
    int64_t max_pixels; /* refuse larger images; 0: VA_IMAGE_DEFAULT_MAX_PIXELS, else >= 1 */
    int all_formats;    /* nonzero: also read VA_IMAGE_EXTRA_FORMATS */
} va_image_options;

/* Load a PNG, JPEG, BMP, GIF or PNM image (VA_IMAGE_FORMATS). The header is read first and the
 * file refused before decoding if it claims 0 pixels or more than max_pixels (>= 1).
 * JPEGs are decoded by libjpeg-turbo: baseline, progressive and arithmetic-coded; grey, YCbCr, RGB,
 * CMYK and YCCK (CMYK and YCCK converted as Adobe writes them); 0xFF fill bytes before the
 * start-of-image marker are skipped; a truncated file gives what was decoded (the rest black).
 * PNGs are decoded by libspng: every colour type and depth, interlaced or not, tRNS applied; a
 * wrong CRC in a critical chunk is an error. 16-bit samples keep their high byte (value >> 8).
 * Alpha is composited over black (the background of the Fashion-MNIST images the models saw).
 * A JPEG's EXIF Orientation (APP1 "Exif\0\0", IFD0 tag 0x0112, either byte order) is applied
 * before anything else, as image viewers do, so a phone photo comes out upright; img->orientation
 * says which was applied. A missing, truncated or malformed EXIF block, or a value outside 1..8,
 * is ignored (orientation 1), never an error. A file of no known format is VA_ERR_FORMAT with a
 * message naming the file and listing VA_IMAGE_FORMATS; a TGA, PSD, HDR or PIC file is refused
 * (VA_ERR_UNSUPPORTED for PSD, HDR and PIC, which have signatures; TGA has none and is reported as
 * of no known format) unless all_formats is set in va_image_load_opts.
 * The file is opened read-only and never written. Errors name the file. */
va_status va_image_load(const char *path, int64_t max_pixels, va_image *img, va_error *err);
/* The same for a file already in memory (data is only read); `name` stands for the path in error
 * messages and may be NULL ("<memory>"), as in va_st_open_memory. */
va_status va_image_load_memory(const unsigned char *data, size_t len, const char *name,
                               int64_t max_pixels, va_image *img, va_error *err);
/* va_image_load and va_image_load_memory with options (NULL: the defaults). */
va_status va_image_load_opts(const char *path, const va_image_options *opts, va_image *img,
                             va_error *err);
va_status va_image_load_memory_opts(const unsigned char *data, size_t len, const char *name,
                                    const va_image_options *opts, va_image *img, va_error *err);
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

/* A copy of the w x h region of src at (x, y), which must lie inside src. dst is allocated; it
 * must not be src, which is only read. */
va_status va_image_crop(const va_image *src, int x, int y, int w, int h, va_image *dst,
                        va_error *err);

/* ---- Model input ----------------------------------------------------------------------------- */

/* How a model wants its input (for the backbone models: from the model file's visattn.config). */
typedef struct va_preprocess {
    int channels;          /* 1: grey (ITU-R BT.601 luma), 3: RGB */
    int height, width;     /* the model's input_size */
    float mean[3], std[3]; /* per channel, applied to pixel / 255; std > 0 */
    int resize_shorter;    /* > 0: torchvision's eval transform, below; 0: resize to the input */
} va_preprocess;

/* x = 1 x channels x height x width: pixels / 255 (grey = 0.299 R + 0.587 G + 0.114 B, exactly R
 * where R = G = B; a grey image gives the same value on every channel), resized, then
 * (v - mean) / std. Resizing: with resize_shorter 0, to height x width with va_resize_bilinear
 * (PyTorch's F.interpolate(mode="bilinear", align_corners=False), no antialiasing); with
 * resize_shorter S, as torchvision's eval transform Resize(S) + CenterCrop((height, width)): the
 * shorter side to S and the longer to int(S * longer / shorter), bilinear with antialiasing
 * (F.interpolate(..., antialias=True), which PIL's BILINEAR resize matches up to its 8-bit
 * rounding), then the centre height x width (offsets int(round((size - crop) / 2)), ties to even
 * as Python rounds). x is allocated (free with va_tensor_free) and never shares memory with img,
 * which is only read.
 */
va_status va_image_to_input(const va_image *img, const va_preprocess *pp, va_tensor *x,
                            va_error *err);
/* The part of a w x h image that va_image_to_input puts in the input, in image pixels: the whole
 * image, or with resize_shorter the centre crop mapped back to the image (rounded to whole
 * pixels). box = {x, y, width, height}. */
va_status va_preprocess_region(const va_preprocess *pp, int w, int h, int box[4], va_error *err);
/* The preprocessing a model declares (va_block_info: in_channels 1 or 3, input size, mean, std,
 * resize_shorter).
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

/* ---- Overlays, colour bars and contact sheets --------------------------------------------------
 */

/* How map values become colours. A zeroed va_map_scale is VA_SCALE_STRETCH. */
typedef enum va_scale_kind {
    /* The smallest finite value of the (upsampled) map at colour 0, the largest at colour 1: every
     * map fills the colour map, whatever its range. */
    VA_SCALE_STRETCH = 0,
    /* lo at colour 0, hi at colour 1, values outside clamped to the end colours: maps drawn on one
     * scale compare (e.g. sigmoid or softmax outputs on [0, 1]). */
    VA_SCALE_FIXED
} va_scale_kind;

typedef struct va_map_scale {
    va_scale_kind kind;
    float lo, hi; /* VA_SCALE_FIXED only: finite, lo < hi */
} va_map_scale;

/* Upsample the first channel of sample 0 of map (N x C x h x w, all >= 1) bilinearly to the
 * image's size (F.interpolate(mode="bilinear", align_corners=False)), scale it to [0, 1] as
 * *scale says, colour-map it and blend: out = (1 - alpha) * image + alpha * colour, alpha in
 * [0, 1]. Stretch: t = (v - min) / (max - min) over the finite values of the upsampled map (a
 * constant map becomes 0; its min and max can lie inside the original map's, as bilinear samples
 * need not hit its extreme pixels). Fixed: t = (v - lo) / (hi - lo) clamped to [0, 1]. Any float is
 * accepted: +Inf shows as colour 1, -Inf and NaN as colour 0. If drawn_range is not NULL it gets
 * the values drawn at colour 0 and 1: the upsampled map's finite min and max (equal for a constant
 * map, both NaN if no value is finite) or the fixed lo and hi; pass them to va_colorbar_append.
 * out is allocated at the image's full resolution; it must not be img (in place is refused), and
 * map, img and scale are only read. VA_ERR_ARG for NULL map, img, scale or out, an unknown kind,
 * or a fixed scale whose lo and hi are not finite with lo < hi. */
va_status va_overlay_scaled(const va_tensor *map, const va_image *img, va_colormap cm, float alpha,
                            const va_map_scale *scale, va_image *out, float drawn_range[2],
                            va_error *err);

/* va_overlay_scaled with VA_SCALE_STRETCH, without the range (what visattn drew before colour
 * bars). */
va_status va_overlay(const va_tensor *map, const va_image *img, va_colormap cm, float alpha,
                     va_image *out, va_error *err);

/* out = img with a colour bar strip appended below it: the colour map from colour 0 (left) to
 * colour 1 (right), lo printed under its left end and hi under its right end ("%.3g"; NaN prints
 * as NAN), and `note` (NULL: none; e.g. "min-max" or "fixed") between them, or on a row of its own
 * when they leave no room. The font (5 x 7 pixels, the characters va_sheet_cell lists) is
 * scaled with the image width: each font pixel is 1 + w / 160 image pixels (2 at w = 224, 3 at
 * 451), smaller only when the text would not fit, never under 1. The strip's height follows from
 * the scale (46 pixels at w = 224 with the note beside the numbers). Rows 0 .. img->h - 1 of out
 * are img's pixels, unchanged; if img is narrower than the text needs at scale 1, out is wider than
 * img and the rest of those rows is the strip's dark grey (24, 24, 24). lo and hi are only printed:
 * any float, in any order. out is allocated; it must not be img (refused), img is only read. */
va_status va_colorbar_append(const va_image *img, va_colormap cm, float lo, float hi,
                             const char *note, va_image *out, va_error *err);

/* One cell of a contact sheet: an image (NULL leaves the cell empty) and a label (NULL: none). The
 * label font has A-Z (lower case is drawn as capitals), 0-9 and " _.-:/()+"; other characters show
 * as a hollow box. With colorbar nonzero the cell also gets a colour bar under its image, drawn as
 * va_colorbar_append draws one (cmap from bar_lo to bar_hi, bar_note). A zero-initialised cell's
 * extra fields mean no bar, so {img, label} cells keep their old meaning. */
typedef struct va_sheet_cell {
    const va_image *img;
    const char *label;
    int colorbar;         /* nonzero: draw a colour bar under the image */
    va_colormap cmap;     /* the bar's colour map (checked like va_colormap_apply's) */
    float bar_lo, bar_hi; /* printed under its ends, e.g. va_overlay_scaled's drawn_range */
    const char *bar_note; /* NULL: none */
} va_sheet_cell;

/* A rows x cols grid (cells: rows * cols of them, row-major) of equal tiles; at least one cell has
 * an image. Images may differ in size and aspect ratio.
 * Tile: a box whose longer side is tile_px (>= 8) and whose aspect ratio is the first image's,
 * clamped to between 1:2 and 2:1 (so a 3 x 10000 or 10000 x 3 image gives a 112 x 224 or 224 x 112
 * box at tile_px 224, not a sliver). Each image is scaled to fit its box keeping its aspect ratio
 * (at least 1 pixel a side; va_image_resize) and centred in it (letterboxed).
 * Labels: above the box, all at one font scale: the largest (at most max(1, box width / 100)) at
 * which every label fits the box width on at most two lines, wrapped at spaces; at scale 1 a word
 * longer than the width is broken, and what does not fit on two lines is cut, ending in '.'. All
 * label areas have the height of the longest label's lines.
 * Colour bars: under the box of each cell with colorbar set, at the label scale, lowered until the
 * numbers of every bar fit on one row (at scale 1 they may take two); every tile reserves the
 * tallest bar's height if any cell has one.
 * out is allocated; it must not be any cell's image (refused), and the cells are only read. */
va_status va_contact_sheet(const va_sheet_cell *cells, int rows, int cols, int tile_px,
                           va_image *out, va_error *err);

#ifdef __cplusplus
}
#endif
#endif
