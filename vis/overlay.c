/* Heatmap overlays, colour bars and contact sheets for libvisattn_vis (include/visattn/vis.h). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "font.h"
#include "internal.h"
#include "visattn/ops.h"

va_status va_overlay_scaled(const va_tensor *map, const va_image *img, va_colormap cm, float alpha,
                            const va_map_scale *scale, va_image *out, float drawn_range[2],
                            va_error *err) {
    if (!out) return va_fail(err, VA_ERR_ARG, "va_overlay: out is NULL");
    /* Cleared below, so out == img would wipe the image before it is read. */
    if (out == img)
        return va_fail(err, VA_ERR_ARG, "va_overlay: out is img; in place is not supported");
    memset(out, 0, sizeof *out);
    VA_TRY(vis_check_image(img, "va_overlay", "img", err));
    if (!map) return va_fail(err, VA_ERR_ARG, "va_overlay: map is NULL");
    if (!scale) return va_fail(err, VA_ERR_ARG, "va_overlay_scaled: scale is NULL");
    if (scale->kind != VA_SCALE_STRETCH && scale->kind != VA_SCALE_FIXED)
        return va_fail(err, VA_ERR_ARG, "va_overlay_scaled: unknown scale kind %d",
                       (int)scale->kind);
    if (scale->kind == VA_SCALE_FIXED &&
        !(isfinite(scale->lo) && isfinite(scale->hi) && scale->lo < scale->hi))
        return va_fail(err, VA_ERR_ARG,
                       "va_overlay_scaled: fixed scale %g .. %g: lo and hi must be finite, lo < hi",
                       (double)scale->lo, (double)scale->hi);
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
    double lo, hi, k;
    if (scale->kind == VA_SCALE_FIXED) {
        lo = scale->lo, hi = scale->hi, k = 1. / (hi - lo);
    } else {
        /* Min and max of the finite values only, in double so that hi - lo cannot overflow. */
        lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            float v = up.data[i];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        /* A flat map has nothing to show; scaling its rounding noise up to full range would. */
        double range = hi - lo;
        k = (range > 1e-12 * (fabs(hi) + fabs(lo)) && range > 0.) ? 1. / range : 0.;
        if (!(lo <= hi)) lo = hi = NAN; /* no finite value */
    }
    if (drawn_range) drawn_range[0] = (float)lo, drawn_range[1] = (float)hi;
    for (size_t i = 0; i < n; i++) {
        float v = up.data[i], t;
        if (isfinite(v))
            t = (float)((v - lo) * k); /* stretch: in [0, 1]; fixed: clamped by the colour map */
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

va_status va_overlay(const va_tensor *map, const va_image *img, va_colormap cm, float alpha,
                     va_image *out, va_error *err) {
    const va_map_scale stretch = {VA_SCALE_STRETCH, 0.f, 0.f};
    return va_overlay_scaled(map, img, cm, alpha, &stretch, out, NULL, err);
}

/* ---- Text and colour bars -------------------------------------------------------------------- */

#define BG 24 /* the dark grey behind bars and sheets */
static const unsigned char INK[3] = {240, 240, 240};

/* How many characters fit in `width` pixels at `scale` (the last glyph needs no spacing). */
static int chars_fitting(int width, int scale) {
    int n = (width / scale + 1) / VA_FONT_ADVANCE;
    return n > 0 ? n : 0;
}

/* Draw at most `max_chars` characters of text. */
static void draw_text(va_image *dst, int x, int y, const char *text, int max_chars, int scale) {
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s", max_chars < 0 ? 0 : max_chars, text);
    va_font_draw(dst->px, dst->w, dst->h, x, y, buf, scale, INK);
}

/* A colour bar's geometry at one font scale: the gradient, then the numbers on one row (lo left,
 * hi right) or two, then the note beside them (centred) or on its own row. */
typedef struct bar_layout {
    char lo[32], hi[32];
    const char *note;
    int scale, pad, grad_h, line_h;
    int number_rows; /* 1: lo and hi on one row; 2: a row each */
    int note_row;    /* the note on a row of its own */
    int h;           /* the strip's height */
    int fits;        /* every text fits the width without cutting, the numbers on one row */
} bar_layout;

static void bar_layout_at(int width, int scale, float lo, float hi, const char *note,
                          bar_layout *L) {
    memset(L, 0, sizeof *L);
    snprintf(L->lo, sizeof L->lo, "%.3g", (double)lo);
    snprintf(L->hi, sizeof L->hi, "%.3g", (double)hi);
    L->note = note && *note ? note : NULL;
    L->scale = scale;
    L->pad = 2 * scale;
    L->grad_h = 8 * scale;
    L->line_h = (VA_FONT_H + 2) * scale;
    const int inner = width - 2 * L->pad, gap = 2 * VA_FONT_ADVANCE * scale;
    const int wl = va_font_text_width(L->lo, scale), wh = va_font_text_width(L->hi, scale);
    const int wn = L->note ? va_font_text_width(L->note, scale) : 0;
    L->number_rows = wl + gap + wh <= inner ? 1 : 2;
    /* Beside the numbers only if it stays clear of both when centred. */
    const int wide = wl > wh ? wl : wh;
    L->note_row = L->note && !(L->number_rows == 1 && 2 * wide + 2 * gap + wn <= inner);
    L->fits = L->number_rows == 1 && wn <= inner;
    const int rows = L->number_rows + L->note_row;
    L->h = L->pad + L->grad_h + 2 * scale + rows * L->line_h + L->pad;
}

/* The width a bar needs at scale 1 to show its texts uncut with the numbers on one row. */
static int bar_min_width(float lo, float hi, const char *note) {
    bar_layout L;
    bar_layout_at(0, 1, lo, hi, note, &L);
    const int wl = va_font_text_width(L.lo, 1), wh = va_font_text_width(L.hi, 1);
    const int wn = L.note ? va_font_text_width(L.note, 1) : 0;
    const int numbers = wl + 2 * VA_FONT_ADVANCE + wh;
    return (numbers > wn ? numbers : wn) + 2 * L.pad;
}

/* Draw the bar of layout L with its top-left corner at (x0, y0), `width` pixels wide, into dst
 * (already filled with the background). cm has been checked. */
static void bar_draw(va_image *dst, int x0, int y0, int width, const bar_layout *L,
                     va_colormap cm) {
    const int s = L->scale, gx0 = x0 + L->pad, gw = width - 2 * L->pad;
    for (int x = 0; x < gw; x++) {
        unsigned char rgb[3];
        va_colormap_apply(cm, gw > 1 ? (float)x / (float)(gw - 1) : 0.f, rgb, NULL);
        for (int y = y0 + L->pad; y < y0 + L->pad + L->grad_h; y++) {
            if (y < 0 || y >= dst->h || gx0 + x < 0 || gx0 + x >= dst->w) continue;
            memcpy(dst->px + ((size_t)y * (size_t)dst->w + (size_t)(gx0 + x)) * 3, rgb, 3);
        }
    }
    const int maxc = chars_fitting(gw, s);
    int y = y0 + L->pad + L->grad_h + 2 * s;
    const int wh = va_font_text_width(L->hi, s);
    draw_text(dst, gx0, y, L->lo, maxc, s);
    if (L->number_rows == 2) y += L->line_h;
    draw_text(dst, wh <= gw ? gx0 + gw - wh : gx0, y, L->hi, maxc, s);
    if (L->note) {
        if (L->note_row) y += L->line_h;
        int wn = va_font_text_width(L->note, s);
        if (wn > gw) wn = gw;
        draw_text(dst, gx0 + (gw - wn) / 2, y, L->note, maxc, s);
    }
}

va_status va_colorbar_append(const va_image *img, va_colormap cm, float lo, float hi,
                             const char *note, va_image *out, va_error *err) {
    if (!out) return va_fail(err, VA_ERR_ARG, "va_colorbar_append: out is NULL");
    if (out == img)
        return va_fail(err, VA_ERR_ARG,
                       "va_colorbar_append: out is img; in place is not supported");
    memset(out, 0, sizeof *out);
    VA_TRY(vis_check_image(img, "va_colorbar_append", "img", err));
    unsigned char probe[3];
    VA_TRY(va_colormap_apply(cm, 0.f, probe, err));
    /* The font grows with the image so that the numbers read at the size the image is viewed. */
    int scale = 1 + img->w / 160;
    bar_layout L;
    for (;; scale--) {
        bar_layout_at(img->w, scale, lo, hi, note, &L);
        if (L.fits || scale == 1) break;
    }
    int w = img->w;
    if (!L.fits) { /* narrower than the text at scale 1: widen rather than print unreadably */
        w = bar_min_width(lo, hi, note);
        bar_layout_at(w, 1, lo, hi, note, &L);
    }
    if ((int64_t)img->h + L.h > INT_MAX)
        return va_fail(err, VA_ERR_NOMEM, "va_colorbar_append: image of %d rows is too tall",
                       img->h);
    VA_TRY(va_image_alloc(out, w, img->h + L.h, err));
    memset(out->px, BG, (size_t)out->w * (size_t)out->h * 3);
    for (int y = 0; y < img->h; y++)
        memcpy(out->px + (size_t)y * (size_t)w * 3, img->px + (size_t)y * (size_t)img->w * 3,
               (size_t)img->w * 3);
    bar_draw(out, 0, img->h, w, &L, cm);
    return VA_OK;
}

/* ---- Contact sheets -------------------------------------------------------------------------- */

#define SHEET_GAP 6
#define LABEL_MAX 128

/* `label` on at most two lines of at most max_chars characters. 1 if it fits with breaks at spaces
 * only; 0 if a word had to be broken or the end cut (the second line then ends in '.'). */
static int wrap_label(const char *label, int max_chars, char l1[LABEL_MAX], char l2[LABEL_MAX]) {
    char text[LABEL_MAX];
    snprintf(text, sizeof text, "%s", label);
    l1[0] = l2[0] = '\0';
    const int c = max_chars < LABEL_MAX - 1 ? max_chars : LABEL_MAX - 1;
    const int n = (int)strlen(text);
    if (n <= c) {
        snprintf(l1, LABEL_MAX, "%s", text);
        return n == (int)strlen(label);
    }
    if (c < 1) return 0;
    int brk = -1; /* the last space at which the first line can end */
    for (int i = c; i > 0; i--)
        if (text[i] == ' ') {
            brk = i;
            break;
        }
    int clean = brk > 0;
    const char *rest;
    if (clean) {
        snprintf(l1, LABEL_MAX, "%.*s", brk, text);
        rest = text + brk;
        while (*rest == ' ')
            rest++;
    } else {
        snprintf(l1, LABEL_MAX, "%.*s", c, text);
        rest = text + c;
    }
    if ((int)strlen(rest) <= c) {
        snprintf(l2, LABEL_MAX, "%s", rest);
        return clean && n == (int)strlen(label);
    }
    snprintf(l2, LABEL_MAX, "%.*s.", c - 1, rest);
    return 0;
}

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

static void fill_rect(va_image *dst, int x0, int y0, int w, int h, unsigned char v) {
    for (int y = y0; y < y0 + h && y < dst->h; y++)
        if (y >= 0 && x0 >= 0 && x0 + w <= dst->w)
            memset(dst->px + ((size_t)y * (size_t)dst->w + (size_t)x0) * 3, v, (size_t)w * 3);
}

va_status va_contact_sheet(const va_sheet_cell *cells, int rows, int cols, int tile_px,
                           va_image *out, va_error *err) {
    if (!out) return va_fail(err, VA_ERR_ARG, "va_contact_sheet: out is NULL");
    if (!cells) return va_fail(err, VA_ERR_ARG, "va_contact_sheet: cells is NULL");
    if (rows < 1 || cols < 1 || rows > INT_MAX / cols)
        return va_fail(err, VA_ERR_ARG, "va_contact_sheet: bad grid of %d x %d cells", rows, cols);
    const int ncells = rows * cols;
    /* out is cleared before any cell is read, so it must not be one of them. */
    for (int i = 0; i < ncells; i++) {
        if (cells[i].img == out)
            return va_fail(err, VA_ERR_ARG, "va_contact_sheet: out is the image of cell %d", i);
        if (cells[i].img)
            VA_TRY(vis_check_image(cells[i].img, "va_contact_sheet", "a cell's img", err));
        if (cells[i].colorbar) {
            unsigned char probe[3];
            if (va_colormap_apply(cells[i].cmap, 0.f, probe, err) != VA_OK)
                return va_error_prefix(err, "va_contact_sheet: a cell's bar");
        }
    }
    memset(out, 0, sizeof *out);
    const va_image *first = NULL;
    for (int i = 0; i < ncells && !first; i++)
        first = cells[i].img;
    if (!first || tile_px < 8)
        return va_fail(
            err, VA_ERR_ARG,
            "va_contact_sheet: nothing to draw (no cell has an image, or tile_px %d < 8)", tile_px);
    /* The box: the first image's aspect ratio, kept between 1:2 and 2:1 so that a sliver of an
     * image still gets a tile its label and bar fit in. */
    double aspect = (double)first->w / first->h;
    aspect = aspect < 0.5 ? 0.5 : aspect > 2. ? 2. : aspect;
    int bw = tile_px, bh = tile_px;
    if (aspect >= 1.)
        bh = (int)lround(tile_px / aspect);
    else
        bw = (int)lround(tile_px * aspect);
    /* Labels: the largest scale at which every label wraps cleanly into two lines. */
    int scale = bw / 100 > 1 ? bw / 100 : 1, lines = 0;
    char l1[LABEL_MAX], l2[LABEL_MAX];
    for (;; scale--) {
        int clean = 1;
        lines = 0;
        for (int i = 0; i < ncells; i++) {
            if (!cells[i].label || !cells[i].label[0]) continue;
            clean &= wrap_label(cells[i].label, chars_fitting(bw, scale), l1, l2);
            int n = l2[0] ? 2 : 1;
            if (n > lines) lines = n;
        }
        if (clean || scale == 1) break;
    }
    const int line_h = (VA_FONT_H + 3) * scale;
    const int label_h = lines * line_h + 2;
    /* Bars: at the label scale, smaller until every bar's numbers fit one row. */
    int bar_scale = scale, bar_h = 0;
    for (;; bar_scale--) {
        int fits = 1;
        bar_h = 0;
        for (int i = 0; i < ncells; i++) {
            if (!cells[i].colorbar) continue;
            bar_layout L;
            bar_layout_at(bw, bar_scale, cells[i].bar_lo, cells[i].bar_hi, cells[i].bar_note, &L);
            fits &= L.fits;
            if (L.h > bar_h) bar_h = L.h;
        }
        if (fits || bar_scale == 1) break;
    }
    const int64_t cell_w = (int64_t)bw + SHEET_GAP,
                  cell_h = (int64_t)label_h + bh + bar_h + SHEET_GAP;
    if ((int64_t)cols * cell_w + SHEET_GAP > INT_MAX ||
        (int64_t)rows * cell_h + SHEET_GAP > INT_MAX ||
        ((int64_t)cols * cell_w + SHEET_GAP) * ((int64_t)rows * cell_h + SHEET_GAP) > INT_MAX)
        return va_fail(err, VA_ERR_NOMEM, "contact sheet: %d x %d tiles of %d pixels is too large",
                       rows, cols, tile_px);
    VA_TRY(va_image_alloc(out, (int)(cols * cell_w + SHEET_GAP), (int)(rows * cell_h + SHEET_GAP),
                          err));
    memset(out->px, BG, (size_t)out->w * (size_t)out->h * 3);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            const va_sheet_cell *cell = &cells[r * cols + c];
            const int x0 = SHEET_GAP + c * (int)cell_w, y0 = SHEET_GAP + r * (int)cell_h;
            if (cell->label && cell->label[0]) {
                wrap_label(cell->label, chars_fitting(bw, scale), l1, l2);
                draw_text(out, x0, y0 + 1, l1, LABEL_MAX, scale);
                if (l2[0]) draw_text(out, x0, y0 + 1 + line_h, l2, LABEL_MAX, scale);
            }
            if (!cell->img) continue;
            const int by = y0 + label_h;
            fill_rect(out, x0, by, bw, bh, 0); /* the letterbox */
            const double f = fmin((double)bw / cell->img->w, (double)bh / cell->img->h);
            int iw = (int)lround(cell->img->w * f), ih = (int)lround(cell->img->h * f);
            iw = iw < 1 ? 1 : iw > bw ? bw : iw;
            ih = ih < 1 ? 1 : ih > bh ? bh : ih;
            if (iw == cell->img->w && ih == cell->img->h) {
                blit(out, cell->img, x0 + (bw - iw) / 2, by + (bh - ih) / 2);
            } else {
                va_image tile;
                va_status st = va_image_resize(cell->img, iw, ih, &tile, err);
                if (st != VA_OK) {
                    va_image_free(out);
                    return st;
                }
                blit(out, &tile, x0 + (bw - iw) / 2, by + (bh - ih) / 2);
                va_image_free(&tile);
            }
            if (cell->colorbar) {
                bar_layout L;
                bar_layout_at(bw, bar_scale, cell->bar_lo, cell->bar_hi, cell->bar_note, &L);
                bar_draw(out, x0, by + bh, bw, &L, cell->cmap);
            }
        }
    return VA_OK;
}
