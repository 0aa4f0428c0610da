/* Private to libvisattn_vis. A tiny 5x7 bitmap font for va_contact_sheet's labels: a-z (drawn as
 * capitals), 0-9 and " _.-:/()+". Unknown characters are drawn as a hollow box so a missing glyph is
 * visible rather than silent. */
#ifndef VISATTN_VIS_FONT_H
#define VISATTN_VIS_FONT_H

#define VA_FONT_W 5
#define VA_FONT_H 7
#define VA_FONT_ADVANCE 6 /* glyph width plus one column of spacing */

/* Width in pixels of `text` drawn at integer `scale`. */
int va_font_text_width(const char *text, int scale);
/* Draw `text` into an RGB image (w x h, 3 bytes per pixel, rows packed) with its top-left corner at
 * (x, y), each font pixel a scale x scale square of `rgb`. Pixels outside the image are clipped. */
void va_font_draw(unsigned char *img, int w, int h, int x, int y, const char *text, int scale,
                  const unsigned char rgb[3]);

#endif
