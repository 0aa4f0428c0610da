/* JPEG decoding for libvisattn_vis with libjpeg-turbo's libjpeg API (Debian libjpeg62-turbo-dev,
 * libjpeg-turbo 2.1).
 *
 * stb_image's JPEG decoder is not written for hostile input: fuzzing found a Huffman table that
 * writes past its arrays, a progressive scan that shifts a 32-bit value by 33, and a scan using a
 * Huffman table never defined that reads uninitialised memory (docs/hardening.md). libjpeg-turbo
 * checks all of these itself, is 2-3.6 times faster, and decodes arithmetic-coded files, so JPEGs
 * no longer reach stb_image. The libjpeg API is used rather than TurboJPEG's because only it tells
 * a fatal error (refused here) from a warning: TurboJPEG 2.1 reports a fatal error that follows a
 * warning as a warning. Warnings (a truncated file, stray bytes between markers: what viewers
 * show anyway) give the image decoded so far, as stb_image did. What stb_image did is kept where
 * it was a choice: 0xFF fill bytes before the start-of-image marker are skipped, and Adobe CMYK /
 * YCCK files are converted to RGB as stb_image converts them. */
#include "internal.h"

#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#define JPEG_MAX_SCANS 500 /* a progressive file of more scans is a CPU-time bomb of a few KB */

long vis_jpeg_start(const unsigned char *p, size_t len) {
    /* stb_image reads a marker as one 0xFF, any number of 0xFF fill bytes, then the code, and
     * does so for the start-of-image marker too; libjpeg wants the file to begin 0xFF 0xD8. Such
     * files are accepted, as before, by starting libjpeg at the last fill byte. */
    size_t i = 0;
    while (i < len && p[i] == 0xFF)
        i++;
    if (i == 0 || i >= len || p[i] != 0xD8) return -1;
    return (long)(i - 1);
}

/* The frame size of the first start-of-frame marker (SOF0..SOF15 except DHT, JPG and DAC) among
 * the header segments; 0 if there is none before the first scan. Only for a clear message about
 * absurd sizes before libjpeg is asked anything: libjpeg's header read is what decides. */
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

/* libjpeg's error manager, extended: a fatal error jumps back with its message; warnings are only
 * counted (libjpeg would print them on stderr: a library does not print). */
typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void on_error(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->mgr.format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0) cinfo->err->num_warnings++;
}

/* Called between scans and rows: refuse a progressive file of too many scans. */
static void on_progress(j_common_ptr cinfo) {
    const struct jpeg_decompress_struct *d = (const struct jpeg_decompress_struct *)cinfo;
    if (d->is_decompressor && d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_err *e = (jpeg_err *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

/* stb_image's rounded x * y / 255, with which it turns Adobe (inverted) CMYK into RGB. */
static unsigned char mul255(unsigned x, unsigned y) {
    const unsigned t = x * y + 128;
    return (unsigned char)((t + (t >> 8)) >> 8);
}

/* The state a longjmp must find intact: kept out of the setjmp frame's automatic variables. */
typedef struct jpeg_job {
    const unsigned char *p; /* the file from its start-of-image marker */
    size_t len;
    struct jpeg_decompress_struct d;
    jpeg_err e;
    struct jpeg_progress_mgr progress;
    unsigned char *px, *row; /* the image; one CMYK row */
} jpeg_job;

static va_status decode(jpeg_job *j, const char *name, int64_t max_pixels, vis_raw *raw,
                        va_error *err) {
    jpeg_mem_src(&j->d, j->p, (unsigned long)j->len);
    jpeg_read_header(&j->d, TRUE);
    const long w = (long)j->d.image_width, h = (long)j->d.image_height;
    if (w <= 0 || h <= 0)
        return va_fail(err, VA_ERR_FORMAT, "%s: not a readable JPEG (image of %ld x %ld)", name, w,
                       h);
    if ((int64_t)w * h > max_pixels) return vis_too_large(name, w, h, max_pixels, err);
    /* A 4-component file is CMYK, or YCCK with an Adobe marker saying so (libjpeg's reading, and
     * every viewer's built on it; stb_image took one without an Adobe marker for YCbCr). */
    const J_COLOR_SPACE cs = j->d.jpeg_color_space;
    const int cmyk = cs == JCS_CMYK || cs == JCS_YCCK, grey = cs == JCS_GRAYSCALE;
    j->d.out_color_space = cmyk ? JCS_CMYK : grey ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&j->d);
    const size_t n = (size_t)w * (size_t)h, ch = grey ? 1 : 3;
    /* Zeroed: rows a truncated file never reaches stay black, as stb_image left them. */
    j->px = calloc(n, ch);
    j->row = cmyk ? malloc((size_t)w * 4) : NULL;
    if (!j->px || (cmyk && !j->row))
        return va_fail(err, VA_ERR_NOMEM, "%s: out of memory for a %ld x %ld image", name, w, h);
    while (j->d.output_scanline < j->d.output_height) {
        unsigned char *out = j->px + (size_t)j->d.output_scanline * (size_t)w * ch;
        JSAMPROW rows[1] = {cmyk ? j->row : out};
        if (jpeg_read_scanlines(&j->d, rows, 1) != 1) break; /* suspended: data ran out */
        for (long x = 0; cmyk && x < w; x++) { /* Adobe's inverted CMYK: R = C * K / 255 */
            const unsigned char *s = j->row + 4 * x;
            out[3 * x] = mul255(s[0], s[3]);
            out[3 * x + 1] = mul255(s[1], s[3]);
            out[3 * x + 2] = mul255(s[2], s[3]);
        }
    }
    raw->w = (int)w, raw->h = (int)h;
    raw->channels = raw->src_channels = (int)ch;
    raw->px = j->px;
    j->px = NULL;
    return VA_OK;
}

va_status vis_decode_jpeg(const unsigned char *p, size_t len, const char *name, int64_t max_pixels,
                          vis_raw *raw, va_error *err) {
    memset(raw, 0, sizeof *raw);
    const long start = vis_jpeg_start(p, len);
    if (start < 0) return va_fail(err, VA_ERR_FORMAT, "%s: not a JPEG", name);
    if (len - (size_t)start >
        0xFFFFFFFFul) /* libjpeg takes an unsigned long; image.c caps at 2 GB */
        return va_fail(err, VA_ERR_UNSUPPORTED, "%s: file too large to decode", name);
    long sw = 0, sh = 0;
    if (sof_size(p + start, len - (size_t)start, &sw, &sh) && sw > 0 && sh > 0 &&
        (int64_t)sw * sh > max_pixels)
        return vis_too_large(name, sw, sh, max_pixels, err);
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", name);
    j->p = p + start, j->len = len - (size_t)start;
    j->d.err = jpeg_std_error(&j->e.mgr);
    j->e.mgr.error_exit = on_error;
    j->e.mgr.emit_message = on_message;
    j->progress.progress_monitor = on_progress;
    va_status st;
    if (setjmp(j->e.jump)) {
        st = va_fail(err, VA_ERR_FORMAT, "%s: not a readable JPEG (libjpeg: %s)", name, j->e.msg);
    } else {
        jpeg_create_decompress(&j->d);
        j->d.progress = &j->progress;
        st = decode(j, name, max_pixels, raw, err);
    }
    jpeg_destroy_decompress(&j->d);
    free(j->px);
    free(j->row);
    free(j);
    return st;
}
