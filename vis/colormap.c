/* The maps are piecewise-linear through a few control points, written for this project from the
 * published definitions (not from any implementation's code):
 *   turbo    Google's Turbo (Mikhailov, 2019): 17 points sampled from its published polynomial
 *            approximation, with the end points of its published 256-entry table;
 *   viridis  matplotlib's viridis (van der Walt & Smith, CC0) at 9 evenly spaced points;
 *   inferno  matplotlib's inferno (same authors, CC0) at 10 evenly spaced points;
 *   jet      MATLAB's jet, which is itself piecewise linear, so it is exact;
 *   gray     black to white.
 * Between control points the error against the 256-entry tables is a few levels out of 255, which
 * is invisible in an overlay and keeps the tables short enough to check by eye. */
#include <math.h>
#include <string.h>

#include "visattn/vis.h"

typedef struct cmap_points {
    int n;
    const float (*rgb)[3];
} cmap_points;

static const float TURBO[17][3] = {
    {0.1900f, 0.0718f, 0.2322f}, {0.2875f, 0.2441f, 0.6857f}, {0.2686f, 0.4148f, 0.9348f},
    {0.1970f, 0.5855f, 0.9699f}, {0.1483f, 0.7405f, 0.8807f}, {0.1624f, 0.8664f, 0.7332f},
    {0.2504f, 0.9528f, 0.5729f}, {0.4012f, 0.9925f, 0.4282f}, {0.5885f, 0.9819f, 0.3132f},
    {0.7775f, 0.9209f, 0.2310f}, {0.9316f, 0.8139f, 0.1771f}, {1.0000f, 0.6697f, 0.1418f},
    {1.0000f, 0.5017f, 0.1140f}, {0.9349f, 0.3288f, 0.0842f}, {0.7864f, 0.1749f, 0.0473f},
    {0.6315f, 0.0701f, 0.0062f}, {0.4796f, 0.0158f, 0.0106f},
};

/* Hex colours #440154, #472D7B, #3B528B, #2C728E, #21908C, #27AD81, #5DC863, #AADC32, #FDE725. */
static const float VIRIDIS[9][3] = {
    {0x44 / 255.f, 0x01 / 255.f, 0x54 / 255.f}, {0x47 / 255.f, 0x2D / 255.f, 0x7B / 255.f},
    {0x3B / 255.f, 0x52 / 255.f, 0x8B / 255.f}, {0x2C / 255.f, 0x72 / 255.f, 0x8E / 255.f},
    {0x21 / 255.f, 0x90 / 255.f, 0x8C / 255.f}, {0x27 / 255.f, 0xAD / 255.f, 0x81 / 255.f},
    {0x5D / 255.f, 0xC8 / 255.f, 0x63 / 255.f}, {0xAA / 255.f, 0xDC / 255.f, 0x32 / 255.f},
    {0xFD / 255.f, 0xE7 / 255.f, 0x25 / 255.f},
};

/* #000004, #1B0C42, #4B0C6B, #781C6D, #A52C60, #CF4446, #ED6925, #FB9A06, #F7D03C, #FCFFA4. */
static const float INFERNO[10][3] = {
    {0x00 / 255.f, 0x00 / 255.f, 0x04 / 255.f}, {0x1B / 255.f, 0x0C / 255.f, 0x42 / 255.f},
    {0x4B / 255.f, 0x0C / 255.f, 0x6B / 255.f}, {0x78 / 255.f, 0x1C / 255.f, 0x6D / 255.f},
    {0xA5 / 255.f, 0x2C / 255.f, 0x60 / 255.f}, {0xCF / 255.f, 0x44 / 255.f, 0x46 / 255.f},
    {0xED / 255.f, 0x69 / 255.f, 0x25 / 255.f}, {0xFB / 255.f, 0x9A / 255.f, 0x06 / 255.f},
    {0xF7 / 255.f, 0xD0 / 255.f, 0x3C / 255.f}, {0xFC / 255.f, 0xFF / 255.f, 0xA4 / 255.f},
};

static const char *const NAMES[] = {"turbo", "jet", "viridis", "inferno", "gray"};
#define N_NAMES ((int)(sizeof NAMES / sizeof NAMES[0]))

static int known(va_colormap cm) {
    return (int)cm >= 0 && (int)cm < N_NAMES;
}

va_status va_colormap_from_name(const char *name, va_colormap *cm, va_error *err) {
    if (!name || !cm)
        return va_fail(err, VA_ERR_ARG, "va_colormap_from_name: %s is NULL", name ? "cm" : "name");
    for (int i = 0; i < N_NAMES; i++)
        if (strcmp(name, NAMES[i]) == 0) {
            *cm = (va_colormap)i;
            return VA_OK;
        }
    if (strcmp(name, "grey") == 0) {
        *cm = VA_CMAP_GRAY;
        return VA_OK;
    }
    /* The CLI prints this after "heatmap: ", so the names are spelled out in full. */
    return va_fail(err, VA_ERR_ARG, "unknown colormap '%s' (turbo, jet, viridis, inferno, gray)",
                   name);
}

const char *va_colormap_name(va_colormap cm) {
    return known(cm) ? NAMES[cm] : "?";
}

/* NaN fails v > 0 and becomes 0: every float lands in [0, 1], so the float-to-integer conversions
 * below (which are undefined for NaN and out-of-range values) always see a value in range. */
static float clamp01(float v) {
    return v > 0.f ? (v < 1.f ? v : 1.f) : 0.f;
}

static unsigned char to_byte(float v) {
    return (unsigned char)lrintf(clamp01(v) * 255.f);
}

static void lerp_points(cmap_points p, float v, unsigned char rgb[3]) {
    float x = v * (float)(p.n - 1);
    int i = (int)x;
    if (i >= p.n - 1) i = p.n - 2;
    float t = x - (float)i;
    for (int c = 0; c < 3; c++)
        rgb[c] = to_byte(p.rgb[i][c] + (p.rgb[i + 1][c] - p.rgb[i][c]) * t);
}

va_status va_colormap_apply(va_colormap cm, float v, unsigned char rgb[3], va_error *err) {
    if (!rgb) return va_fail(err, VA_ERR_ARG, "va_colormap_apply: rgb is NULL");
    if (!known(cm))
        return va_fail(err, VA_ERR_ARG, "va_colormap_apply: unknown colormap %d", (int)cm);
    v = clamp01(v);
    switch (cm) {
    case VA_CMAP_TURBO: lerp_points((cmap_points){17, TURBO}, v, rgb); break;
    case VA_CMAP_VIRIDIS: lerp_points((cmap_points){9, VIRIDIS}, v, rgb); break;
    case VA_CMAP_INFERNO: lerp_points((cmap_points){10, INFERNO}, v, rgb); break;
    case VA_CMAP_JET:
        /* MATLAB jet: each channel a trapezoid of slope 4, red centred at 3/4, green at 1/2,
         * blue at 1/4, reaching 0.5 at the ends. */
        rgb[0] = to_byte(1.5f - fabsf(4.f * v - 3.f));
        rgb[1] = to_byte(1.5f - fabsf(4.f * v - 2.f));
        rgb[2] = to_byte(1.5f - fabsf(4.f * v - 1.f));
        break;
    case VA_CMAP_GRAY: rgb[0] = rgb[1] = rgb[2] = to_byte(v); break;
    }
    return VA_OK;
}
