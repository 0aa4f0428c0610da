/* Colour maps for heatmaps: a value in [0, 1] to an RGB triple. */
#ifndef VISATTN_DEMOS_COLORMAP_H
#define VISATTN_DEMOS_COLORMAP_H

typedef enum va_colormap {
    VA_CMAP_TURBO = 0,
    VA_CMAP_JET,
    VA_CMAP_VIRIDIS,
    VA_CMAP_INFERNO,
    VA_CMAP_GRAY
} va_colormap;

/* "turbo", "jet", "viridis", "inferno", "gray" (also "grey"); -1 if unknown. */
int va_colormap_from_name(const char *name);
const char *va_colormap_name(va_colormap cm);
/* Any v: clamped to [0, 1], NaN counts as 0 (so -Inf gives 0, +Inf 1); rgb gets 0..255. */
void va_colormap_apply(va_colormap cm, float v, unsigned char rgb[3]);

#endif
