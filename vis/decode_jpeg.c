/* JPEG decoding for libvisattn_vis with TurboJPEG (Debian libturbojpeg0-dev, libjpeg-turbo 2.1).
 *
 * stb_image's JPEG decoder is not written for hostile input: fuzzing found a Huffman table that
 * writes past its arrays, a progressive scan that shifts a 32-bit value by 33, and a scan using a
 * Huffman table never defined that reads uninitialised memory (docs/hardening.md). libjpeg-turbo
 * checks all of these itself, is 2-3.6 times faster, and decodes arithmetic-coded files, so JPEGs
 * no longer reach stb_image. What stb_image did is kept where it was a choice: 0xFF fill bytes
 * before the start-of-image marker are skipped, warnings (a truncated file, stray bytes between
 * markers) give the image decoded so far, and Adobe CMYK / YCCK files are converted to RGB as
 * stb_image converts them. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

long vis_jpeg_start(const unsigned char *p, size_t len) {
    /* stb_image reads a marker as one 0xFF, any number of 0xFF fill bytes, then the code, and
     * does so for the start-of-image marker too; TurboJPEG wants the file to begin 0xFF 0xD8. Such
     * files are accepted, as before, by starting TurboJPEG at the last fill byte. */
    size_t i = 0;
    while (i < len && p[i] == 0xFF)
        i++;
    if (i == 0 || i >= len || p[i] != 0xD8) return -1;
    return (long)(i - 1);
}

/* The frame size of the first start-of-frame marker (SOF0..SOF15 except DHT, JPG and DAC) among
 * the header segments; 0 if there is none before the first scan. Only for a clear message about
 * absurd sizes before TurboJPEG is asked anything: TurboJPEG's header read is what decides. */
static int sof_size(const unsigned char *p, size_t len, long *w, long *h) {
    size_t i = 2; /* past 0xFF 0xD8 */
    for (;;) {
        if (i >= len || p[i] != 0xFF) return 0;
        while (i < len && p[i] == 0xFF)
            i++;
        if (i >= len) return 0;
        const unsigned m = p[i++];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue; /* no length */
        if (m == 0x00 || m == 0xD9 || m == 0xDA) return 0;
        if (len - i < 2) return 0;
        const size_t seg = (size_t)p[i] << 8 | p[i + 1];
        if (seg < 2 || seg > len - i) return 0;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (seg < 7) return 0;
            *h = (long)p[i + 3] << 8 | p[i + 4];
            *w = (long)p[i + 5] << 8 | p[i + 6];
            return 1;
        }
        i += seg;
    }
}

/* stb_image's rounded x * y / 255, with which it turns Adobe (inverted) CMYK into RGB. */
static unsigned char mul255(unsigned x, unsigned y) {
    const unsigned t = x * y + 128;
    return (unsigned char)((t + (t >> 8)) >> 8);
}

va_status vis_decode_jpeg(const unsigned char *p, size_t len, const char *name, int64_t max_pixels,
                          vis_raw *raw, va_error *err) {
    memset(raw, 0, sizeof *raw);
    const long start = vis_jpeg_start(p, len);
    if (start < 0) return va_fail(err, VA_ERR_FORMAT, "%s: not a JPEG", name);
    p += start, len -= (size_t)start;
    if (len > 0xFFFFFFFFul) /* TurboJPEG takes an unsigned long; image.c caps files at 2 GB */
        return va_fail(err, VA_ERR_UNSUPPORTED, "%s: file too large to decode", name);
    long sw = 0, sh = 0;
    if (sof_size(p, len, &sw, &sh) && sw > 0 && sh > 0 && (int64_t)sw * sh > max_pixels)
        return vis_too_large(name, sw, sh, max_pixels, err);

    tjhandle tj = tjInitDecompress();
    if (!tj)
        return va_fail(err, VA_ERR_NOMEM, "%s: cannot start TurboJPEG: %s", name,
                       tjGetErrorStr2(NULL));
    va_status st = VA_OK;
    unsigned char *px = NULL;
    int w = 0, h = 0, subsamp = -1, cs = -1;
    /* TurboJPEG 2.1 also returns -1 for a mere warning, and for sampling factors it has no TJSAMP_
     * name for though libjpeg decodes them: the header was read if the fields were filled in. It
     * can also return 0 for a file with no frame at all, leaving them 0. */
    const int hrc = tjDecompressHeader3(tj, p, (unsigned long)len, &w, &h, &subsamp, &cs);
    if (w <= 0 || h <= 0 || cs < 0) {
        st = va_fail(err, VA_ERR_FORMAT, "%s: not a readable JPEG (TurboJPEG: %s)", name,
                     hrc ? tjGetErrorStr2(tj) : "no frame header");
        goto done;
    }
    if ((int64_t)w * h > max_pixels) {
        st = vis_too_large(name, w, h, max_pixels, err);
        goto done;
    }
    /* A 4-component file is CMYK, or YCCK with an Adobe marker saying so (libjpeg's reading, and
     * every viewer's built on it; stb_image took one without an Adobe marker for YCbCr). */
    const int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK, grey = cs == TJCS_GRAY;
    const int pf = cmyk ? TJPF_CMYK : grey ? TJPF_GRAY : TJPF_RGB;
    const size_t n = (size_t)w * (size_t)h, ch = (size_t)tjPixelSize[pf];
    /* Zeroed: TurboJPEG 2.1 reports a warning also when a fatal error followed it (its error code
     * looks only at the warning flag), so rows it never wrote come out black, not uninitialised. */
    px = calloc(n, ch);
    if (!px) {
        st = va_fail(err, VA_ERR_NOMEM, "%s: out of memory for a %d x %d image", name, w, h);
        goto done;
    }
    /* LIMITSCANS: a progressive file of more than 500 scans is refused (a CPU-time bomb of a few
     * KB otherwise). */
    if (tjDecompress2(tj, p, (unsigned long)len, px, w, 0, h, pf, TJFLAG_LIMITSCANS) != 0 &&
        tjGetErrorCode(tj) != TJERR_WARNING) {
        st = va_fail(err, VA_ERR_FORMAT, "%s: cannot decode the %d x %d JPEG (TurboJPEG: %s)", name,
                     w, h, tjGetErrorStr2(tj));
        goto done;
    }
    if (cmyk) { /* Adobe's inverted CMYK, in place: R = C * K / 255 as stb_image computes it */
        for (size_t i = 0; i < n; i++) {
            const unsigned char *s = px + 4 * i;
            const unsigned char k = s[3];
            unsigned char *d = px + 3 * i;
            const unsigned char c = s[0], m = s[1], y = s[2];
            d[0] = mul255(c, k), d[1] = mul255(m, k), d[2] = mul255(y, k);
        }
        unsigned char *shrunk = realloc(px, n * 3);
        if (shrunk) px = shrunk;
    }
    raw->w = w, raw->h = h;
    raw->channels = grey ? 1 : 3;
    raw->src_channels = grey ? 1 : 3;
    raw->px = px;
    px = NULL;
done:
    free(px);
    tjDestroy(tj);
    return st;
}
