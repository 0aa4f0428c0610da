/* Images for libvisattn_vis: loading (JPEG with libjpeg-turbo and PNG with libspng, in
 * decode_jpeg.c and decode_png.c; the other formats with stb_image, checked before decoding), EXIF
 * orientation, writing PNGs with stb_image_write, display resizing, and turning an image into the
 * input tensor a model expects. The contracts are in include/visattn/vis.h. */
#include "internal.h"
#include "visattn/ops.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <threads.h>

/* Debian's libstb ships the compiled implementations (-lstb): headers only here. */
#include <stb_image.h>
#include <stb_image_write.h>

va_status vis_check_image(const va_image *img, const char *fn, const char *what, va_error *err) {
    if (!img) return va_fail(err, VA_ERR_ARG, "%s: %s is NULL", fn, what);
    if (img->w < 1 || img->h < 1)
        return va_fail(err, VA_ERR_ARG, "%s: %s is %d x %d pixels (an empty image)", fn, what,
                       img->w, img->h);
    if (!img->px) return va_fail(err, VA_ERR_ARG, "%s: %s has no pixels (px is NULL)", fn, what);
    return VA_OK;
}

va_status va_image_alloc(va_image *img, int w, int h, va_error *err) {
    if (!img) return va_fail(err, VA_ERR_ARG, "va_image_alloc: img is NULL");
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0)
        return va_fail(err, VA_ERR_ARG, "va_image_alloc: %d x %d pixels: both must be positive", w,
                       h);
    size_t n;
    if (va_mul_size((size_t)w, (size_t)h, &n) || va_mul_size(n, 3, &n))
        return va_fail(err, VA_ERR_NOMEM, "image of %d x %d pixels is too large", w, h);
    img->px = calloc(n, 1);
    if (!img->px) return va_fail(err, VA_ERR_NOMEM, "out of memory for a %d x %d image", w, h);
    img->w = w, img->h = h, img->src_channels = 3, img->orientation = 1;
    return VA_OK;
}

void va_image_free(va_image *img) {
    if (!img) return;
    free(img->px);
    memset(img, 0, sizeof *img);
}

va_status vis_too_large(const char *name, long long w, long long h, int64_t max_pixels,
                        va_error *err) {
    return va_fail(err, VA_ERR_UNSUPPORTED,
                   "%s: image is %lld x %lld pixels (%.1f megapixels), over the limit of %lld "
                   "pixels (raise it with --max-pixels)",
                   name, w, h, (double)w * (double)h / 1e6, (long long)max_pixels);
}

/* ---- The formats stb_image still decodes --------------------------------------------------
 * JPEG and PNG go to libjpeg-turbo and libspng (decode_jpeg.c, decode_png.c). stb_image reads the
 * rest: BMP, GIF and PNM by default; TGA, PSD, HDR and PIC only when the caller asks for all
 * formats, because their decoders have been fuzzed far less (docs/hardening.md). */

/* BMP, GIF or PNM by its signature. stb_image tries its formats in a fixed order, and none of the
 * ones off by default accepts a file starting so (TGA's test wants byte 1 to be 0 or 1), so these
 * files can only reach the decoder their signature names. */
static int default_stb_format(const unsigned char *p, size_t len) {
    if (len >= 2 && p[0] == 'B' && p[1] == 'M') return 1;
    if (len >= 4 && memcmp(p, "GIF8", 4) == 0) return 1;
    if (len >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6')) return 1;
    return 0;
}

/* The name of a format that is off by default, from its signature (TGA has none); NULL if none. */
static const char *extra_format(const unsigned char *p, size_t len) {
    static const unsigned char pic[4] = {0x53, 0x80, 0xF6, 0x34};
    if (len >= 4 && memcmp(p, "8BPS", 4) == 0) return "PSD";
    if ((len >= 11 && memcmp(p, "#?RADIANCE\n", 11) == 0) ||
        (len >= 7 && memcmp(p, "#?RGBE\n", 7) == 0))
        return "HDR";
    if (len >= 92 && memcmp(p, pic, 4) == 0 && memcmp(p + 88, "PICT", 4) == 0) return "PIC";
    return NULL;
}

/* PNM (P5/P6): stb_image reads the header numbers into an int without an overflow check, which
 * fuzzing found (undefined behaviour); such a header is refused before stb_image sees it. */
static int pnm_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static const char *pnm_check(const unsigned char *p, size_t len) {
    if (len < 2 || p[0] != 'P' || (p[1] != '5' && p[1] != '6')) return NULL;
    size_t i = 2;
    for (int field = 0; field < 3; field++) { /* width, height, maximum value */
        for (;;) { /* whitespace and # comments, as stb_image skips them */
            while (i < len && pnm_space(p[i]))
                i++;
            if (i >= len || p[i] != '#') break;
            while (i < len && p[i] != '\n' && p[i] != '\r')
                i++;
        }
        long long v = 0;
        for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
            v = v * 10 + (p[i] - '0');
            if (v > INT32_MAX) return "PNM header number is too large";
        }
    }
    return NULL;
}

/* Decode with stb_image: the header first (the size checked before anything is allocated). */
static va_status decode_stb(const unsigned char *data, size_t len, const char *name,
                            int64_t max_pixels, vis_raw *raw, va_error *err) {
    memset(raw, 0, sizeof *raw);
    const char *bad = pnm_check(data, len);
    if (bad) return va_fail(err, VA_ERR_FORMAT, "%s: refused: %s", name, bad);
    const int n_in = (int)len; /* the caller capped len at INT32_MAX: stb_image takes an int */
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, n_in, &w, &h, &comp)) {
        const char *why = stbi_failure_reason();
        return va_fail(err, VA_ERR_FORMAT, "%s: not a readable image (stb_image: %s); %s", name,
                       why && *why ? why : "unknown error", VA_IMAGE_FORMATS_TEXT);
    }
    if (w <= 0 || h <= 0)
        return va_fail(err, VA_ERR_FORMAT, "%s: image header claims %d x %d pixels", name, w, h);
    if ((int64_t)w * h > max_pixels) return vis_too_large(name, w, h, max_pixels, err);
    const int is16 = stbi_is_16_bit_from_memory(data, n_in);
    int dw = 0, dh = 0, dc = 0;
    /* stbi_load reduces 16-bit files to 8 bits (value >> 8): all a display needs. */
    unsigned char *px = stbi_load_from_memory(data, n_in, &dw, &dh, &dc, 0);
    if (!px) {
        const char *why = stbi_failure_reason();
        return va_fail(err, VA_ERR_FORMAT, "%s: cannot decode the %d x %d image (stb_image: %s)",
                       name, w, h, why && *why ? why : "truncated or corrupt data");
    }
    if (dw != w || dh != h || dc < 1 || dc > 4) {
        stbi_image_free(px);
        return va_fail(err, VA_ERR_FORMAT, "%s: decoded size %d x %d x %d differs from the header",
                       name, dw, dh, dc);
    }
    /* Debian's libstb frees with the C library's free (no STBI_FREE override): one owner rule
     * for every decoder's pixels. */
    raw->w = w, raw->h = h, raw->channels = dc, raw->src_channels = dc, raw->src_16bit = !!is16;
    raw->px = px;
    return VA_OK;
}

/* ---- EXIF orientation -----------------------------------------------------------------------
 * A camera stores the sensor's rows as they came and records in EXIF how to turn them upright
 * (TIFF tag 0x0112 in IFD0 of the APP1 "Exif\0\0" segment; EXIF 2.3, section 4.6.4). stb_image
 * ignores it, so it is read here. The data may come from anywhere: every offset is checked against
 * the segment, and anything malformed means "no orientation", never an error. */

static uint32_t tiff_u16(const unsigned char *p, int big_endian) {
    return big_endian ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t tiff_u32(const unsigned char *p, int big_endian) {
    return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                      : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The Orientation of a TIFF structure of n bytes (the EXIF payload after "Exif\0\0"); 1 if none. */
static int tiff_orientation(const unsigned char *t, size_t n) {
    if (n < 8) return 1;
    int be;
    if (t[0] == 'I' && t[1] == 'I')
        be = 0;
    else if (t[0] == 'M' && t[1] == 'M')
        be = 1;
    else
        return 1;
    if (tiff_u16(t + 2, be) != 42) return 1;
    const uint32_t ifd0 = tiff_u32(t + 4, be);
    if (ifd0 > n || n - ifd0 < 2) return 1;
    const uint32_t count = tiff_u16(t + ifd0, be);
    size_t e = (size_t)ifd0 + 2; /* <= n, and stays so: each entry is checked before the step */
    for (uint32_t k = 0; k < count; k++, e += 12) {
        if (n - e < 12) return 1;
        if (tiff_u16(t + e, be) != 0x0112) continue;
        /* SHORT as the standard says; a LONG seen from some writers is read the same way. */
        const uint32_t type = tiff_u16(t + e + 2, be), num = tiff_u32(t + e + 4, be);
        uint32_t v;
        if (type == 3 && num == 1)
            v = tiff_u16(t + e + 8, be);
        else if (type == 4 && num == 1)
            v = tiff_u32(t + e + 8, be);
        else
            return 1;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* The EXIF Orientation of a JPEG (1..8); 1 for other files, no EXIF, or a broken one. Only the
 * header segments before the first scan are looked at; the first APP1 "Exif" segment counts. */
static int jpeg_orientation(const unsigned char *p, size_t len) {
    size_t i = 0;
    while (i < len && p[i] == 0xFF)
        i++;
    if (i == 0 || i >= len || p[i] != 0xD8) return 1;
    i++;
    for (;;) {
        if (i >= len || p[i] != 0xFF) return 1; /* header segments follow one another */
        while (i < len && p[i] == 0xFF)
            i++;
        if (i >= len) return 1;
        const unsigned m = p[i++];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue; /* no length */
        if (m == 0x00 || m == 0xD9 || m == 0xDA) return 1;   /* end, or the scan: no EXIF */
        if (len - i < 2) return 1;
        const size_t seg = (size_t)p[i] << 8 | p[i + 1]; /* counts its own two bytes */
        if (seg < 2 || seg > len - i) return 1;
        if (m == 0xE1 && seg >= 8 && memcmp(p + i + 2, "Exif\0\0", 6) == 0)
            return tiff_orientation(p + i + 8, seg - 8);
        i += seg;
    }
}

/* Where the stored pixel (x, y) of a w x h image goes in the upright one (EXIF's eight cases). */
static void orient_xy(int o, int w, int h, int x, int y, int *dx, int *dy) {
    switch (o) {
    case 2: *dx = w - 1 - x, *dy = y; break;         /* mirrored */
    case 3: *dx = w - 1 - x, *dy = h - 1 - y; break; /* rotated 180 */
    case 4: *dx = x, *dy = h - 1 - y; break;         /* upside down */
    case 5: *dx = y, *dy = x; break;                 /* transposed */
    case 6: *dx = h - 1 - y, *dy = x; break;         /* turned 90 clockwise to view */
    case 7: *dx = h - 1 - y, *dy = w - 1 - x; break; /* transversed */
    case 8: *dx = y, *dy = w - 1 - x; break;         /* turned 90 counter-clockwise */
    default: *dx = x, *dy = y; break;
    }
}

/* A pixel of colour v and alpha a composited over black, rounded (v when a is 255). */
static inline unsigned char over_black(unsigned v, unsigned a) {
    return (unsigned char)((v * a + 127u) / 255u);
}

va_status va_image_load_memory_opts(const unsigned char *data, size_t len, const char *name,
                                    const va_image_options *opts, va_image *img, va_error *err) {
    if (!img) return va_fail(err, VA_ERR_ARG, "va_image_load_memory: img is NULL");
    memset(img, 0, sizeof *img);
    if (!name) name = "<memory>";
    if (!data) return va_fail(err, VA_ERR_ARG, "%s: va_image_load_memory: data is NULL", name);
    const va_image_options defaults = {0};
    if (!opts) opts = &defaults;
    const int64_t max_pixels = opts->max_pixels ? opts->max_pixels : VA_IMAGE_DEFAULT_MAX_PIXELS;
    if (max_pixels < 1)
        return va_fail(err, VA_ERR_ARG, "%s: max_pixels must be at least 1, got %lld", name,
                       (long long)max_pixels);
    if (len == 0) return va_fail(err, VA_ERR_FORMAT, "%s: empty file", name);
    if (len > INT32_MAX)
        return va_fail(err, VA_ERR_UNSUPPORTED, "%s: file of %zu bytes is too large to decode",
                       name, len);
    vis_raw raw;
    va_status st;
    if (vis_jpeg_start(data, len) >= 0) {
        st = vis_decode_jpeg(data, len, name, max_pixels, &raw, err);
    } else if (vis_is_png(data, len)) {
        st = vis_decode_png(data, len, name, max_pixels, &raw, err);
    } else if (opts->all_formats || default_stb_format(data, len)) {
        st = decode_stb(data, len, name, max_pixels, &raw, err);
    } else {
        const char *fmt = extra_format(data, len);
        if (fmt)
            return va_fail(err, VA_ERR_UNSUPPORTED,
                           "%s: %s images are not read by default (their decoder is little "
                           "fuzzed); allow them with --all-formats",
                           name, fmt);
        return va_fail(err, VA_ERR_FORMAT, "%s: not a readable image; %s", name,
                       VA_IMAGE_FORMATS_TEXT);
    }
    if (st != VA_OK) return st;
    if (raw.w < 1 || raw.h < 1 || !raw.px) { /* every decoder refuses these; never pass one on */
        free(raw.px);
        return va_fail(err, VA_ERR_FORMAT, "%s: decoded to an empty image (%d x %d)", name, raw.w,
                       raw.h);
    }

    const int w = raw.w, h = raw.h, dc = raw.channels;
    const int orient = jpeg_orientation(data, len);
    const int ow = orient >= 5 ? h : w, oh = orient >= 5 ? w : h; /* 5..8 swap the axes */
    if (orient == 1 && dc == 3) { /* the decoded pixels are the image (every decoder mallocs) */
        img->w = w, img->h = h, img->px = raw.px, raw.px = NULL;
    } else if ((st = va_image_alloc(img, ow, oh, err)) != VA_OK) {
        free(raw.px);
        return va_error_prefix(err, name);
    }
    img->src_channels = raw.src_channels;
    img->src_16bit = raw.src_16bit;
    img->orientation = orient;
    if (raw.px) {
        for (int y = 0; y < h; y++) {
            const unsigned char *s = raw.px + (size_t)y * (size_t)w * (size_t)dc;
            for (int x = 0; x < w; x++, s += dc) {
                int dx = x, dy = y;
                if (orient != 1) orient_xy(orient, w, h, x, y, &dx, &dy);
                unsigned char *d = img->px + ((size_t)dy * (size_t)ow + (size_t)dx) * 3;
                switch (dc) {
                case 1: d[0] = d[1] = d[2] = s[0]; break;
                case 2: d[0] = d[1] = d[2] = over_black(s[0], s[1]); break;
                case 3: d[0] = s[0], d[1] = s[1], d[2] = s[2]; break;
                default:
                    if (s[3] == 255) {
                        d[0] = s[0], d[1] = s[1], d[2] = s[2];
                    } else {
                        d[0] = over_black(s[0], s[3]), d[1] = over_black(s[1], s[3]);
                        d[2] = over_black(s[2], s[3]);
                    }
                }
            }
        }
    }
    free(raw.px);
    return VA_OK;
}

va_status va_image_load_memory(const unsigned char *data, size_t len, const char *name,
                               int64_t max_pixels, va_image *img, va_error *err) {
    if (max_pixels < 1) { /* 0 means the default in the options, not here */
        if (img) memset(img, 0, sizeof *img);
        return va_fail(err, VA_ERR_ARG, "%s: max_pixels must be at least 1, got %lld",
                       name ? name : "<memory>", (long long)max_pixels);
    }
    const va_image_options o = {.max_pixels = max_pixels};
    return va_image_load_memory_opts(data, len, name, &o, img, err);
}

va_status va_image_load_opts(const char *path, const va_image_options *opts, va_image *img,
                             va_error *err) {
    if (!img) return va_fail(err, VA_ERR_ARG, "va_image_load: img is NULL");
    memset(img, 0, sizeof *img);
    if (!path) return va_fail(err, VA_ERR_ARG, "va_image_load: path is NULL");
    /* Checked here too so that a bad limit is reported before the file is read. */
    if (opts && opts->max_pixels < 0)
        return va_fail(err, VA_ERR_ARG, "%s: max_pixels must be at least 1, got %lld", path,
                       (long long)opts->max_pixels);
    FILE *f = fopen(path, "rb");
    if (!f) return va_fail(err, VA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    va_status s = VA_OK;
    unsigned char *buf = NULL;
    size_t len = 0;
    if (fstat(fileno(f), &sb) != 0) {
        s = va_fail(err, VA_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        s = va_fail(err, VA_ERR_FORMAT, "%s: is a directory, not an image", path);
    } else if (!S_ISREG(sb.st_mode)) {
        s = va_fail(err, VA_ERR_IO, "%s: not a regular file", path);
    } else if (sb.st_size == 0) {
        s = va_fail(err, VA_ERR_FORMAT, "%s: empty file", path);
    } else if (sb.st_size > INT32_MAX) {
        /* stb_image takes an int length; a 2 GB image file is far past the pixel limit anyway. */
        s = va_fail(err, VA_ERR_UNSUPPORTED, "%s: file of %lld bytes is too large to decode", path,
                    (long long)sb.st_size);
    } else if (!(buf = malloc((size_t)sb.st_size))) {
        s = va_fail(err, VA_ERR_NOMEM, "%s: out of memory reading %lld bytes", path,
                    (long long)sb.st_size);
    } else {
        len = fread(buf, 1, (size_t)sb.st_size, f);
        if (ferror(f)) s = va_fail(err, VA_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    }
    fclose(f);
    if (s == VA_OK) s = va_image_load_memory_opts(buf, len, path, opts, img, err);
    free(buf);
    return s;
}

va_status va_image_load(const char *path, int64_t max_pixels, va_image *img, va_error *err) {
    if (!img) return va_fail(err, VA_ERR_ARG, "va_image_load: img is NULL");
    memset(img, 0, sizeof *img);
    if (!path) return va_fail(err, VA_ERR_ARG, "va_image_load: path is NULL");
    if (max_pixels < 1)
        return va_fail(err, VA_ERR_ARG, "%s: max_pixels must be at least 1, got %lld", path,
                       (long long)max_pixels);
    const va_image_options o = {.max_pixels = max_pixels};
    return va_image_load_opts(path, &o, img, err);
}

/* stb's deflate dominates the run time on photos; level 5 instead of its default 8 measured 40%
 * faster on a 2400 x 1600 overlay for a file 2% larger. stb keeps the level in a global: it is set
 * once, so that threads writing PNGs at the same time do not race on it. */
static once_flag png_level_once = ONCE_FLAG_INIT;
static void png_level_set(void) {
    stbi_write_png_compression_level = 5;
}

va_status va_image_write_png(const char *path, const va_image *img, va_error *err) {
    if (!path) return va_fail(err, VA_ERR_ARG, "va_image_write_png: path is NULL");
    VA_TRY(vis_check_image(img, "va_image_write_png", "img", err));
    /* stb_image_write takes the row stride as an int. */
    if (img->w > INT_MAX / 3)
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "%s: image %d pixels wide is too wide for PNG output", path, img->w);
    call_once(&png_level_once, png_level_set);
    errno = 0;
    if (!stbi_write_png(path, img->w, img->h, 3, img->px, img->w * 3)) {
        int e = errno;
        return va_fail(err, VA_ERR_IO, "%s: cannot write PNG: %s", path,
                       e ? strerror(e) : "write failed");
    }
    return VA_OK;
}

/* The image as 1 x C x h x w floats in [0, 1] (C = 1: luma; C = 3: RGB). */
static va_status image_planes(const va_image *img, int channels, va_tensor *t, va_error *err) {
    VA_TRY(va_tensor_alloc4(t, 1, channels, img->h, img->w, err));
    size_t n = (size_t)img->w * (size_t)img->h;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = img->px + i * 3;
        if (channels == 1) {
            /* a grey pixel is its own luma, exactly (the weighted sum can be 1 ulp off) */
            float luma = p[0] == p[1] && p[1] == p[2]
                             ? (float)p[0]
                             : 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
            t->data[i] = luma / 255.f;
        } else {
            for (int c = 0; c < 3; c++)
                t->data[(size_t)c * n + i] = p[c] / 255.f;
        }
    }
    return VA_OK;
}

/* ---- torchvision's eval transform: Resize(S) with antialiasing, CenterCrop ----------------------
 */

/* The size Resize(S) gives a w x h image: the shorter side S, the longer int(S * longer / shorter)
 * in double precision, as torchvision computes it. 0 if it would exceed 65536 (refused). */
static void resized_size(int w, int h, int s, int *nw, int *nh) {
    const int w_short = w <= h;
    const double lng = (double)s * (w_short ? h : w) / (w_short ? w : h);
    const int l = lng > 65536.0 ? 0 : (int)lng;
    *nw = w_short ? s : l;
    *nh = w_short ? l : s;
}

/* int(round((size - crop) / 2.0)) with Python's ties-to-even. */
static int crop_offset(int size, int crop) {
    const int d = size - crop;
    if (d % 2 == 0) return d / 2;
    const int lo = (d - 1) / 2; /* d / 2 = lo + 0.5: round to the even one of lo, lo + 1 */
    return lo % 2 == 0 ? lo : lo + 1;
}

/* One axis of PyTorch's antialiased bilinear resize (aten upsample_bilinear2d_aa, PIL's scheme):
 * output i covers the input around centre (i + 0.5) * scale with a triangle filter of support
 * max(scale, 1), weights normalised. For each output index: the first input index and the number
 * of weights, then the weights (at most `taps` of them). */
typedef struct aa_axis {
    int taps;
    int *first, *count;
    float *w;
} aa_axis;

static void aa_axis_free(aa_axis *a) {
    free(a->first);
    free(a->count);
    free(a->w);
}

static va_status aa_axis_init(aa_axis *a, int in, int out, va_error *err) {
    const double scale = (double)in / out, support = scale >= 1.0 ? scale : 1.0;
    const double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    a->taps = (int)ceil(support) * 2 + 1;
    a->first = malloc((size_t)out * sizeof *a->first);
    a->count = malloc((size_t)out * sizeof *a->count);
    a->w = malloc((size_t)out * (size_t)a->taps * sizeof *a->w);
    if (!a->first || !a->count || !a->w) {
        aa_axis_free(a);
        return va_fail(err, VA_ERR_NOMEM, "va_image_to_input: out of memory");
    }
    for (int i = 0; i < out; i++) {
        const double centre = scale * (i + 0.5);
        int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        int n = hi - lo;
        if (n > a->taps) n = a->taps;
        float *wt = a->w + (size_t)i * (size_t)a->taps;
        double total = 0;
        for (int j = 0; j < n; j++) {
            const double t = fabs((j + lo - centre + 0.5) * inv);
            total += t < 1.0 ? 1.0 - t : 0.0;
        }
        for (int j = 0; j < n; j++) {
            const double t = fabs((j + lo - centre + 0.5) * inv);
            wt[j] = (float)(total > 0 ? (t < 1.0 ? 1.0 - t : 0.0) / total : 0.0);
        }
        a->first[i] = lo;
        a->count[i] = n;
    }
    return VA_OK;
}

/* dst (C x nh x nw, the crop of the resized image at rows top.., columns left..) from src
 * (C x h x w): columns first, then rows, as PyTorch does. */
static va_status resize_crop_aa(const va_tensor *src, int nh, int nw, int top, int left,
                                va_tensor *dst, va_error *err) {
    const int c = (int)src->shape[1], h = (int)src->shape[2], w = (int)src->shape[3];
    const int oh = (int)dst->shape[2], ow = (int)dst->shape[3];
    aa_axis ax = {0}, ay = {0};
    va_tensor tmp = {0};
    va_status s = aa_axis_init(&ax, w, nw, err);
    if (s == VA_OK) s = aa_axis_init(&ay, h, nh, err);
    if (s == VA_OK) s = va_tensor_alloc4(&tmp, 1, c, h, ow, err);
    for (int k = 0; s == VA_OK && k < c; k++) {
        const float *in = src->data + (size_t)k * (size_t)h * (size_t)w;
        float *t = tmp.data + (size_t)k * (size_t)h * (size_t)ow;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < ow; x++) {
                const int i = x + left;
                const float *wt = ax.w + (size_t)i * (size_t)ax.taps;
                const float *row = in + (size_t)y * (size_t)w + ax.first[i];
                float acc = 0.f;
                for (int j = 0; j < ax.count[i]; j++)
                    acc += wt[j] * row[j];
                t[(size_t)y * (size_t)ow + (size_t)x] = acc;
            }
        float *o = dst->data + (size_t)k * (size_t)oh * (size_t)ow;
        for (int y = 0; y < oh; y++) {
            const int i = y + top;
            const float *wt = ay.w + (size_t)i * (size_t)ay.taps;
            for (int x = 0; x < ow; x++) {
                float acc = 0.f;
                for (int j = 0; j < ay.count[i]; j++)
                    acc += wt[j] * t[(size_t)(ay.first[i] + j) * (size_t)ow + (size_t)x];
                o[(size_t)y * (size_t)ow + (size_t)x] = acc;
            }
        }
    }
    aa_axis_free(&ax);
    aa_axis_free(&ay);
    va_tensor_free(&tmp);
    return s;
}

va_status va_image_crop(const va_image *src, int x, int y, int w, int h, va_image *dst,
                        va_error *err) {
    if (!dst) return va_fail(err, VA_ERR_ARG, "va_image_crop: dst is NULL");
    if (dst == src) return va_fail(err, VA_ERR_ARG, "va_image_crop: dst is src");
    memset(dst, 0, sizeof *dst);
    VA_TRY(vis_check_image(src, "va_image_crop", "src", err));
    if (x < 0 || y < 0 || w < 1 || h < 1 || x > src->w - w || y > src->h - h)
        return va_fail(err, VA_ERR_ARG,
                       "va_image_crop: region %d x %d at (%d, %d) is not inside the %d x %d image",
                       w, h, x, y, src->w, src->h);
    VA_TRY(va_image_alloc(dst, w, h, err));
    for (int r = 0; r < h; r++)
        memcpy(dst->px + (size_t)r * (size_t)w * 3,
               src->px + ((size_t)(y + r) * (size_t)src->w + (size_t)x) * 3, (size_t)w * 3);
    return VA_OK;
}

va_status va_preprocess_region(const va_preprocess *pp, int w, int h, int box[4], va_error *err) {
    if (!pp || !box)
        return va_fail(err, VA_ERR_ARG, "va_preprocess_region: %s is NULL", pp ? "box" : "pp");
    if (w < 1 || h < 1)
        return va_fail(err, VA_ERR_ARG, "va_preprocess_region: image %d x %d", w, h);
    box[0] = box[1] = 0, box[2] = w, box[3] = h;
    if (pp->resize_shorter <= 0) return VA_OK;
    int nw, nh;
    resized_size(w, h, pp->resize_shorter, &nw, &nh);
    if (!nw || !nh || nw < pp->width || nh < pp->height)
        return va_fail(err, VA_ERR_CONFIG,
                       "va_preprocess_region: a %d x %d image resized to %d "
                       "on its shorter side does not fit the %d x %d crop",
                       w, h, pp->resize_shorter, pp->width, pp->height);
    const int left = crop_offset(nw, pp->width), top = crop_offset(nh, pp->height);
    const double sx = (double)w / nw, sy = (double)h / nh;
    const int x0 = (int)lround(left * sx), y0 = (int)lround(top * sy);
    int x1 = (int)lround((left + pp->width) * sx), y1 = (int)lround((top + pp->height) * sy);
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
    box[0] = x0, box[1] = y0, box[2] = (x1 < w ? x1 : w) - x0, box[3] = (y1 < h ? y1 : h) - y0;
    return VA_OK;
}

va_status va_image_to_input(const va_image *img, const va_preprocess *pp, va_tensor *x,
                            va_error *err) {
    if (!x) return va_fail(err, VA_ERR_ARG, "va_image_to_input: x is NULL");
    memset(x, 0, sizeof *x);
    VA_TRY(vis_check_image(img, "va_image_to_input", "img", err));
    if (!pp) return va_fail(err, VA_ERR_ARG, "va_image_to_input: pp is NULL");
    if (pp->channels != 1 && pp->channels != 3)
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "models with %d input channels are not supported "
                       "(1 or 3)",
                       pp->channels);
    if (pp->height <= 0 || pp->width <= 0)
        return va_fail(err, VA_ERR_CONFIG, "bad model input size %d x %d", pp->height, pp->width);
    for (int c = 0; c < pp->channels; c++)
        if (!(pp->std[c] > 0.f) || !isfinite(pp->std[c]) || !isfinite(pp->mean[c]))
            return va_fail(err, VA_ERR_CONFIG,
                           "bad normalisation for channel %d: mean %g, std %g (std must be "
                           "positive, both finite)",
                           c, (double)pp->mean[c], (double)pp->std[c]);
    int nw = 0, nh = 0;
    if (pp->resize_shorter > 0) {
        resized_size(img->w, img->h, pp->resize_shorter, &nw, &nh);
        if (!nw || !nh || nw < pp->width || nh < pp->height)
            return va_fail(err, VA_ERR_CONFIG,
                           "a %d x %d image resized to %d on its shorter side does not fit the "
                           "model's %d x %d crop",
                           img->w, img->h, pp->resize_shorter, pp->width, pp->height);
    }
    va_tensor full = {0};
    VA_TRY(image_planes(img, pp->channels, &full, err));
    va_status st = va_tensor_alloc4(x, 1, pp->channels, pp->height, pp->width, err);
    if (st == VA_OK && pp->resize_shorter > 0)
        st = resize_crop_aa(&full, nh, nw, crop_offset(nh, pp->height), crop_offset(nw, pp->width),
                            x, err);
    else if (st == VA_OK)
        st = va_resize_bilinear(&full, x, err);
    va_tensor_free(&full);
    if (st != VA_OK) {
        va_tensor_free(x);
        return st;
    }
    size_t hw = (size_t)pp->height * (size_t)pp->width;
    for (int c = 0; c < pp->channels; c++) {
        float m = pp->mean[c], s = pp->std[c];
        for (size_t i = 0; i < hw; i++)
            x->data[(size_t)c * hw + i] = (x->data[(size_t)c * hw + i] - m) / s;
    }
    return VA_OK;
}

/* Halve an image with a 2 x 2 box average (odd last rows/columns are averaged with themselves). */
static va_status halve(const va_image *src, va_image *dst, va_error *err) {
    VA_TRY(va_image_alloc(dst, (src->w + 1) / 2, (src->h + 1) / 2, err));
    for (int y = 0; y < dst->h; y++) {
        int y0 = 2 * y, y1 = 2 * y + 1 < src->h ? 2 * y + 1 : 2 * y;
        for (int x = 0; x < dst->w; x++) {
            int x0 = 2 * x, x1 = 2 * x + 1 < src->w ? 2 * x + 1 : 2 * x;
            for (int c = 0; c < 3; c++) {
                unsigned sum = src->px[((size_t)y0 * (size_t)src->w + (size_t)x0) * 3 + (size_t)c] +
                               src->px[((size_t)y0 * (size_t)src->w + (size_t)x1) * 3 + (size_t)c] +
                               src->px[((size_t)y1 * (size_t)src->w + (size_t)x0) * 3 + (size_t)c] +
                               src->px[((size_t)y1 * (size_t)src->w + (size_t)x1) * 3 + (size_t)c];
                dst->px[((size_t)y * (size_t)dst->w + (size_t)x) * 3 + (size_t)c] =
                    (unsigned char)((sum + 2) / 4);
            }
        }
    }
    return VA_OK;
}

va_status va_image_resize(const va_image *src, int w, int h, va_image *dst, va_error *err) {
    if (!dst) return va_fail(err, VA_ERR_ARG, "va_image_resize: dst is NULL");
    if (dst == src)
        return va_fail(err, VA_ERR_ARG,
                       "va_image_resize: dst is src (in place would lose its pixels)");
    memset(dst, 0, sizeof *dst);
    VA_TRY(vis_check_image(src, "va_image_resize", "src", err));
    if (w <= 0 || h <= 0)
        return va_fail(err, VA_ERR_ARG, "va_image_resize: target %d x %d: both must be positive", w,
                       h);
    /* Bilinear alone samples only 2 x 2 source pixels per output pixel, so a large photo shrunk
     * to a contact-sheet tile would alias; box-halve first while the image is over twice the
     * target size. (Model inputs do not go through here: see va_image_to_input.) */
    va_image cur = *src, next;
    int owned = 0;
    while (cur.w >= 2 * (int64_t)w && cur.h >= 2 * (int64_t)h) {
        va_status st = halve(&cur, &next, err);
        if (owned) va_image_free(&cur);
        if (st != VA_OK) return st;
        cur = next, owned = 1;
    }
    va_tensor a = {0}, b = {0};
    va_status st = va_image_alloc(dst, w, h, err);
    if (st == VA_OK) st = image_planes(&cur, 3, &a, err);
    if (st == VA_OK) st = va_tensor_alloc4(&b, 1, 3, h, w, err);
    if (st == VA_OK) st = va_resize_bilinear(&a, &b, err);
    if (st == VA_OK) {
        size_t n = (size_t)w * (size_t)h;
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) {
                float v = b.data[(size_t)c * n + i] * 255.f;
                v = v < 0.f ? 0.f : v > 255.f ? 255.f : v;
                dst->px[i * 3 + (size_t)c] = (unsigned char)lrintf(v);
            }
    } else {
        va_image_free(dst);
    }
    if (owned) va_image_free(&cur);
    va_tensor_free(&a);
    va_tensor_free(&b);
    return st;
}

va_status va_preprocess_for_model(const va_block *model, va_preprocess *pp, va_error *err) {
    if (!model || !pp)
        return va_fail(err, VA_ERR_ARG, "va_preprocess_for_model: %s is NULL",
                       model ? "pp" : "model");
    const va_model_info *info = va_block_info(model);
    const char *name = va_block_name(model);
    if (!info->input_h || !info->input_w || !info->num_norm)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s declares no input size and normalisation (a model file does, in its "
                       "config: docs/backbone.md)",
                       name);
    if (info->in_channels != 1 && info->in_channels != 3)
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "%s: in_channels %d: images are fed as 1 (grey) or 3 (RGB) channels", name,
                       info->in_channels);
    memset(pp, 0, sizeof *pp);
    pp->channels = info->in_channels;
    pp->height = info->input_h;
    pp->width = info->input_w;
    pp->resize_shorter = info->resize_shorter;
    for (int c = 0; c < 3; c++) {
        const int k = c < info->num_norm ? c : 0; /* a grey model: the same value for R, G, B */
        pp->mean[c] = info->mean[k];
        pp->std[c] = info->std[k];
    }
    return VA_OK;
}
