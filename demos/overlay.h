/* Heatmap overlays and contact sheets for `visattn heatmap`. */
#ifndef VISATTN_DEMOS_OVERLAY_H
#define VISATTN_DEMOS_OVERLAY_H

#include "colormap.h"
#include "image.h"

/* Upsample the first channel of sample 0 of map (N x C x h x w) bilinearly to the image's size
 * (F.interpolate(mode="bilinear", align_corners=False)), min-max normalise it to [0, 1] (a constant
 * map becomes 0), colour-map it and blend: out = (1 - alpha) * image + alpha * colour, alpha in
 * [0, 1]. Any float is accepted: min and max are those of the finite values, +Inf shows as 1, -Inf
 * and NaN as 0 (the CLI refuses such maps before it gets here; see docs/heatmap.md).
 * Allocates out at the image's full resolution. */
va_status va_overlay(const va_tensor *map, const va_image *img, va_colormap cm, float alpha,
                     va_image *out, va_error *err);

/* One cell of a contact sheet: an image (NULL leaves the cell empty) and a label under 40 chars. */
typedef struct va_sheet_cell {
    const va_image *img;
    const char *label;
} va_sheet_cell;

/* A rows x cols grid (cells row-major), each image scaled so its longer side is tile_px, with its
 * label drawn above it in the bitmap font. All images must have the same size. */
va_status va_contact_sheet(const va_sheet_cell *cells, int rows, int cols, int tile_px,
                           va_image *out, va_error *err);

#endif
