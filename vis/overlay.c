/* Heatmap overlays and contact sheets for libvisattn_vis (include/visattn/vis.h). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "font.h"
#include "internal.h"
#include "visattn/ops.h"

va_status va_overlay(const va_tensor *map, const va_image *img, va_colormap cm, float alpha,
                     va_image *out, va_error *err) {
    if (!out) return va_fail(err, VA_ERR_ARG, "va_overlay: out is NULL");
    /* Cleared below, so out == img would wipe the image before it is read. */
    if (out == img)
        return va_fail(err, VA_ERR_ARG, "va_overlay: out is img; in place is not supported");
    memset(out, 0, sizeof *out);
    VA_TRY(vis_check_image(img, "va_overlay", "img", err));
    if (!map) return va_fail(err, VA_ERR_ARG, "va_overlay: map is NULL");
    /* Sample 0, channel 0 must exist: an N = 0 or C = 0 map (valid in libvisattn) has no plane. */
    if (map->ndim != 4 || map->shape[0] < 1 || map->shape[1] < 1 || map->shape[2] < 1 ||
        map->shape[3] < 1)
        return va_fail(err, VA_ERR_SHAPE, "overlay: map must be 4-D with n, c, h, w >= 1");
    if (!map->data) return va_fail(err, VA_ERR_ARG, "va_overlay: map has no data (data is NULL)");
    unsigned char probe[3]; /* refuses a cm outside the enum once, not once per pixel */
    VA_TRY(va_colormap_apply(cm, 0.f, probe, err));
    if (!(alpha >= 0.f && alpha <= 1.f))
        return va_fail(err, VA_ERR_ARG, "overlay: alpha must be in [0, 1], got %g", (double)alpha);
    va_tensor src, up = {0};
    /* Sample 0, channel 0: a contiguous h x w plane at the start of the data. */
    va_tensor_view4(&src, map->data, 1, 1, map->shape[2], map->shape[3]);
    VA_TRY(va_tensor_alloc4(&up, 1, 1, img->h, img->w, err));
    va_status st = va_resize_bilinear(&src, &up, err);
    if (st == VA_OK) st = va_image_alloc(out, img->w, img->h, err);
    if (st != VA_OK) {
        va_tensor_free(&up);
        return st;
    }
    size_t n = (size_t)img->w * (size_t)img->h;
    /* Min and max of the finite values only, in double so that hi - lo cannot overflow. */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float v = up.data[i];
        if (!isfinite(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    /* A flat map has nothing to show; scaling its rounding noise up to full range would. */
    double range = hi - lo;
    double scale = (range > 1e-12 * (fabs(hi) + fabs(lo)) && range > 0.) ? 1. / range : 0.;
    for (size_t i = 0; i < n; i++) {
        float v = up.data[i], t;
        if (isfinite(v))
            t = (float)((v - lo) * scale); /* in [0, 1]: lo <= v <= hi */
        else
            t = v > 0.f ? 1.f : 0.f; /* +Inf at the top; -Inf and NaN at the bottom */
        unsigned char rgb[3];
        va_colormap_apply(cm, t, rgb, NULL); /* cannot fail: cm was checked above */
        const unsigned char *p = img->px + i * 3;
        unsigned char *d = out->px + i * 3;
        for (int c = 0; c < 3; c++)
            d[c] = (unsigned char)lrintf((1.f - alpha) * p[c] + alpha * rgb[c]);
    }
    va_tensor_free(&up);
    return VA_OK;
}

#define SHEET_GAP 6
#define SHEET_LABEL_SCALE 2

static void blit(va_image *dst, const va_image *src, int x0, int y0) {
    for (int y = 0; y < src->h; y++) {
        if (y0 + y < 0 || y0 + y >= dst->h) continue;
        for (int x = 0; x < src->w; x++) {
            if (x0 + x < 0 || x0 + x >= dst->w) continue;
            memcpy(dst->px + ((size_t)(y0 + y) * (size_t)dst->w + (size_t)(x0 + x)) * 3,
                   src->px + ((size_t)y * (size_t)src->w + (size_t)x) * 3, 3);
        }
    }
}

va_status va_contact_sheet(const va_sheet_cell *cells, int rows, int cols, int tile_px,
                           va_image *out, va_error *err) {
    if (!out) return va_fail(err, VA_ERR_ARG, "va_contact_sheet: out is NULL");
    if (!cells) return va_fail(err, VA_ERR_ARG, "va_contact_sheet: cells is NULL");
    if (rows < 1 || cols < 1 || rows > INT_MAX / cols)
        return va_fail(err, VA_ERR_ARG, "va_contact_sheet: bad grid of %d x %d cells", rows, cols);
    /* out is cleared before any cell is read, so it must not be one of them. */
    for (int i = 0; i < rows * cols; i++) {
        if (cells[i].img == out)
            return va_fail(err, VA_ERR_ARG, "va_contact_sheet: out is the image of cell %d", i);
        if (cells[i].img)
            VA_TRY(vis_check_image(cells[i].img, "va_contact_sheet", "a cell's img", err));
    }
    memset(out, 0, sizeof *out);
    const va_image *first = NULL;
    for (int i = 0; i < rows * cols && !first; i++)
        first = cells[i].img;
    if (!first || tile_px < 8) return va_fail(err, VA_ERR_ARG, "contact sheet: nothing to draw");
    double s = (double)tile_px / (first->w > first->h ? first->w : first->h);
    int tw = (int)lround(first->w * s), th = (int)lround(first->h * s);
    if (tw < 1) tw = 1;
    if (th < 1) th = 1;
    int label_h = VA_FONT_H * SHEET_LABEL_SCALE + 6;
    int cell_w = tw + SHEET_GAP, cell_h = th + label_h + SHEET_GAP;
    if ((int64_t)cols * cell_w + SHEET_GAP > INT_MAX ||
        (int64_t)rows * cell_h + SHEET_GAP > INT_MAX)
        return va_fail(err, VA_ERR_NOMEM, "contact sheet: %d x %d tiles of %d pixels is too large",
                       rows, cols, tile_px);
    VA_TRY(va_image_alloc(out, cols * cell_w + SHEET_GAP, rows * cell_h + SHEET_GAP, err));
    memset(out->px, 24, (size_t)out->w * (size_t)out->h * 3); /* dark grey background */
    static const unsigned char white[3] = {240, 240, 240};
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            const va_sheet_cell *cell = &cells[r * cols + c];
            int x0 = SHEET_GAP + c * cell_w, y0 = SHEET_GAP + r * cell_h;
            if (cell->label) {
                /* Long names drop to the 1x font rather than run into the next tile. */
                int scale = SHEET_LABEL_SCALE;
                if (va_font_text_width(cell->label, scale) > tw) scale = 1;
                va_font_draw(out->px, out->w, out->h, x0, y0 + (label_h - VA_FONT_H * scale) / 2,
                             cell->label, scale, white);
            }
            if (!cell->img) continue;
            if (cell->img->w != first->w || cell->img->h != first->h) {
                va_image_free(out);
                return va_fail(err, VA_ERR_SHAPE, "contact sheet: images differ in size");
            }
            va_image tile;
            va_status st = va_image_resize(cell->img, tw, th, &tile, err);
            if (st != VA_OK) {
                va_image_free(out);
                return st;
            }
            blit(out, &tile, x0, y0 + label_h);
            va_image_free(&tile);
        }
    return VA_OK;
}
