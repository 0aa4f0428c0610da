/* PNG decoding for libvisattn_vis with libspng (Debian libspng-dev 0.7, needs only zlib).
 *
 * stb_image grows its buffer to a data chunk's declared length before reading it (40 bytes could
 * ask for 2 GB: docs/hardening.md); libspng reads chunks in place from the caller's buffer, checks
 * every length and CRC, and limits what ancillary chunks may cost. It is 1.8 times faster than
 * stb_image here and gives the same pixels bit for bit on every colour type and depth: 16-bit
 * samples keep their high byte (libspng's and stb_image's value >> 8), tRNS and palettes are
 * applied, gAMA and the other colour chunks are ignored as stb_image ignores them. */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <spng.h>

int vis_is_png(const unsigned char *p, size_t len) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return len >= 8 && memcmp(p, sig, 8) == 0;
}

/* Width and height from the IHDR right after the signature (big-endian); 0 if there is none. Read
 * here, not by libspng, so that a header claiming 0 or too many pixels is reported as such even
 * when libspng would only say that IHDR is invalid. */
static int ihdr_size(const unsigned char *b, size_t len, long long *w, long long *h) {
    if (len < 24 || memcmp(b + 12, "IHDR", 4) != 0) return 0;
    *w = (long long)((uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19]);
    *h = (long long)((uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23]);
    return 1;
}

/* No ancillary chunk (text, ICC profile, ...) over 16 MB, nor all of them together over 64 MB,
 * compressed or inflated: a small file cannot make libspng allocate more. Image data is read in
 * place and inflated into the caller's buffer, whose size the pixel limit bounds. */
#define PNG_CHUNK_LIMIT ((size_t)16 << 20)
#define PNG_CACHE_LIMIT ((size_t)64 << 20)

va_status vis_decode_png(const unsigned char *p, size_t len, const char *name, int64_t max_pixels,
                         vis_raw *raw, va_error *err) {
    memset(raw, 0, sizeof *raw);
    if (!vis_is_png(p, len)) return va_fail(err, VA_ERR_FORMAT, "%s: not a PNG", name);
    long long hw, hh;
    if (ihdr_size(p, len, &hw, &hh)) {
        if (hw <= 0 || hh <= 0)
            return va_fail(err, VA_ERR_FORMAT, "%s: PNG header claims %lld x %lld pixels", name, hw,
                           hh);
        if (hw > max_pixels / hh) return vis_too_large(name, hw, hh, max_pixels, err);
    }
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory starting libspng", name);
    va_status st = VA_OK;
    unsigned char *px = NULL;
    struct spng_ihdr ih;
    struct spng_trns trns;
    size_t size = 0;
    int e = spng_set_chunk_limits(ctx, PNG_CHUNK_LIMIT, PNG_CACHE_LIMIT);
    if (!e) e = spng_set_png_buffer(ctx, p, len);
    if (!e) e = spng_get_ihdr(ctx, &ih);
    if (e) {
        st = va_fail(err, VA_ERR_FORMAT, "%s: not a readable PNG (libspng: %s)", name,
                     spng_strerror(e));
        goto done;
    }
    /* IHDR as libspng read it is what counts (the check above saw only the first chunk). */
    if ((int64_t)ih.width * ih.height > max_pixels || ih.width > INT_MAX || ih.height > INT_MAX) {
        st = vis_too_large(name, ih.width, ih.height, max_pixels, err);
        goto done;
    }
    /* Opaque images (no alpha channel, no tRNS) are decoded to RGB: a quarter less to write, and
     * image.c takes the buffer as it is. libspng reads the chunks before the image data here. */
    const int has_trns = spng_get_trns(ctx, &trns) == 0;
    const int alpha = has_trns || ih.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ||
                      ih.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
    const int fmt = alpha ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8;
    e = spng_decoded_image_size(ctx, fmt, &size);
    if (!e && !(px = malloc(size))) {
        st = va_fail(err, VA_ERR_NOMEM, "%s: out of memory for a %u x %u image", name, ih.width,
                     ih.height);
        goto done;
    }
    if (!e) e = spng_decode_image(ctx, px, size, fmt, SPNG_DECODE_TRNS);
    /* The chunks after the image data, to IEND: a file cut after its last IDAT (even inside that
     * chunk's CRC) is refused as truncated, as stb_image refused it. */
    if (!e) e = spng_decode_chunks(ctx);
    if (e) {
        st = va_fail(err, VA_ERR_FORMAT, "%s: cannot decode the %u x %u PNG (libspng: %s)", name,
                     ih.width, ih.height, spng_strerror(e));
        goto done;
    }
    /* The channels stbi_load reported: the colour type's, a palette's 3, plus alpha from tRNS. */
    int src;
    switch (ih.color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE: src = has_trns ? 2 : 1; break;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: src = 2; break;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: src = 4; break;
    default: src = has_trns ? 4 : 3; break; /* truecolour, indexed */
    }
    raw->w = (int)ih.width, raw->h = (int)ih.height;
    raw->channels = alpha ? 4 : 3;
    raw->src_channels = src;
    raw->src_16bit = ih.bit_depth == 16;
    raw->px = px;
    px = NULL;
done:
    free(px);
    spng_ctx_free(ctx);
    return st;
}
