/* NumPy .npy reader and writer.
 *
 * Format (numpy.lib.format): magic "\x93NUMPY", major/minor version, header length (2 bytes LE in
 * 1.0, 4 bytes in 2.0 and 3.0), then a Python dict literal with 'descr', 'fortran_order' and
 * 'shape', padded with spaces and ending in '\n', then the raw data.
 *
 * The reader parses the dict itself instead of trusting a fixed layout (key order and spacing vary
 * between writers) and checks the data size against the file size before allocating, so a header
 * claiming an absurd shape fails cleanly. */
#include "arg_check.h"
#include "io_util.h"
#include "visattn/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* numpy itself refuses headers over 10000 bytes by default; allow more, but not unbounded. */
#define NPY_MAX_HEADER ((size_t)1 << 20)
#define NPY_ALIGN 64

/* ---- Header dict parser ---------------------------------------------------------------------
 * Accepts the subset of Python literal syntax numpy writes: {'key': value, ...} with string keys,
 * values that are strings, True/False, or tuples of integers, in any order, any spacing, an
 * optional trailing comma. */

typedef struct npy_header {
    char descr[32];
    int descr_structured; /* descr was a list: a structured dtype */
    int fortran;
    int ndim; /* may exceed VA_MAX_DIM; only the first dims are stored */
    int64_t shape[VA_MAX_DIM];
    int have_descr, have_fortran, have_shape;
} npy_header;

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int accept(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string into out (truncated to cap - 1; *truncated set). 0 on success. */
static int parse_string(cursor *c, char *out, size_t cap, int *truncated) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    char q = *c->p++;
    size_t n = 0;
    *truncated = 0;
    while (c->p < c->end && *c->p != q) {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p >= c->end) return -1;
            ch = *c->p++;
        }
        if (n + 1 < cap)
            out[n++] = ch;
        else
            *truncated = 1;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    out[n] = '\0';
    return 0;
}

static int match_word(cursor *c, const char *w) {
    size_t n = strlen(w);
    skip_ws(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* Skip a bracketed value (a structured dtype's list), honouring nesting and quoted strings. */
static int skip_bracketed(cursor *c) {
    int depth = 0;
    while (c->p < c->end) {
        char ch = *c->p++;
        if (ch == '\'' || ch == '"') {
            while (c->p < c->end && *c->p != ch)
                c->p++;
            if (c->p >= c->end) return -1;
            c->p++;
        } else if (ch == '[' || ch == '(') {
            depth++;
        } else if (ch == ']' || ch == ')') {
            if (--depth == 0) return 0;
        }
    }
    return -1;
}

typedef enum { SHAPE_OK, SHAPE_SYNTAX, SHAPE_NEGATIVE, SHAPE_TOO_BIG } shape_result;

static shape_result parse_shape(cursor *c, npy_header *h) {
    if (!accept(c, '(')) return SHAPE_SYNTAX;
    h->ndim = 0;
    for (;;) {
        if (accept(c, ')')) return SHAPE_OK;
        skip_ws(c);
        if (c->p < c->end && *c->p == '-') return SHAPE_NEGATIVE;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return SHAPE_SYNTAX;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            int digit = *c->p++ - '0';
            if (v > (INT64_MAX - digit) / 10) return SHAPE_TOO_BIG;
            v = v * 10 + digit;
        }
        if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++; /* Python 2 long literals */
        if (h->ndim < VA_MAX_DIM) h->shape[h->ndim] = v;
        if (h->ndim < 1000) h->ndim++;
        if (accept(c, ',')) continue;
        if (accept(c, ')')) return SHAPE_OK;
        return SHAPE_SYNTAX;
    }
}

static va_status parse_header(const char *path, const char *text, size_t len, npy_header *h,
                              va_error *err) {
    cursor c = {text, text + len};
    memset(h, 0, sizeof *h);
    if (!accept(&c, '{'))
        return va_fail(err, VA_ERR_FORMAT, "%s: .npy header is not a Python dict", path);
    for (;;) {
        if (accept(&c, '}')) break;
        char key[32];
        int trunc;
        if (parse_string(&c, key, sizeof key, &trunc) != 0 || !accept(&c, ':'))
            return va_fail(err, VA_ERR_FORMAT, "%s: .npy header dict is malformed near byte %zu",
                           path, (size_t)(c.p - text));
        if (!trunc && !strcmp(key, "descr")) {
            if (h->have_descr++)
                return va_fail(err, VA_ERR_FORMAT, "%s: .npy header repeats 'descr'", path);
            skip_ws(&c);
            if (c.p < c.end && *c.p == '[') {
                h->descr_structured = 1;
                if (skip_bracketed(&c) != 0)
                    return va_fail(err, VA_ERR_FORMAT, "%s: .npy header: bad 'descr'", path);
            } else if (parse_string(&c, h->descr, sizeof h->descr, &trunc) != 0) {
                return va_fail(err, VA_ERR_FORMAT, "%s: .npy header: 'descr' is not a string",
                               path);
            }
        } else if (!trunc && !strcmp(key, "fortran_order")) {
            if (h->have_fortran++)
                return va_fail(err, VA_ERR_FORMAT, "%s: .npy header repeats 'fortran_order'", path);
            if (match_word(&c, "True"))
                h->fortran = 1;
            else if (match_word(&c, "False"))
                h->fortran = 0;
            else
                return va_fail(err, VA_ERR_FORMAT,
                               "%s: .npy header: 'fortran_order' is not True or False", path);
        } else if (!trunc && !strcmp(key, "shape")) {
            if (h->have_shape++)
                return va_fail(err, VA_ERR_FORMAT, "%s: .npy header repeats 'shape'", path);
            switch (parse_shape(&c, h)) {
            case SHAPE_OK: break;
            case SHAPE_NEGATIVE:
                return va_fail(err, VA_ERR_FORMAT, "%s: .npy header: negative dimension in 'shape'",
                               path);
            case SHAPE_TOO_BIG:
                return va_fail(err, VA_ERR_FORMAT, "%s: .npy header: dimension too large", path);
            case SHAPE_SYNTAX:
                return va_fail(err, VA_ERR_FORMAT,
                               "%s: .npy header: 'shape' is not a tuple of integers", path);
            }
        } else {
            return va_fail(err, VA_ERR_FORMAT, "%s: .npy header: unexpected key '%s%s'", path, key,
                           trunc ? "..." : "");
        }
        if (accept(&c, ',')) continue;
        if (accept(&c, '}')) break;
        return va_fail(err, VA_ERR_FORMAT, "%s: .npy header dict is malformed near byte %zu", path,
                       (size_t)(c.p - text));
    }
    skip_ws(&c);
    if (c.p != c.end)
        return va_fail(err, VA_ERR_FORMAT, "%s: .npy header has data after the dict (byte %zu)",
                       path, (size_t)(c.p - text));
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return va_fail(err, VA_ERR_FORMAT, "%s: .npy header lacks '%s'", path,
                       !h->have_descr     ? "descr"
                       : !h->have_fortran ? "fortran_order"
                                          : "shape");
    return VA_OK;
}

/* Element size in bytes for the descrs we read (little-endian float16/32/64), 0 otherwise.
 * '|' ("byte order not applicable") is taken as little-endian as well. */
static size_t descr_size(const char *d) {
    if (d[0] != '<' && d[0] != '|') return 0;
    if (!strcmp(d + 1, "f2")) return 2;
    if (!strcmp(d + 1, "f4")) return 4;
    if (!strcmp(d + 1, "f8")) return 8;
    return 0;
}

/* " (int8)", " (float32 big-endian)", ... for an error message, or "" if not recognised. */
static void describe_descr(const char *d, char *out, size_t cap) {
    out[0] = '\0';
    if (!d[0]) return;
    const char *t = (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=') ? d + 1 : d;
    const char *kind = NULL;
    switch (t[0]) {
    case 'i': kind = "int"; break;
    case 'u': kind = "uint"; break;
    case 'f': kind = "float"; break;
    case 'c': kind = "complex"; break;
    case 'b': kind = "bool"; break;
    case 'O': kind = "object"; break;
    case 'U': kind = "unicode string"; break;
    case 'S': kind = "byte string"; break;
    case 'V': kind = "void"; break;
    case 'M': kind = "datetime"; break;
    case 'm': kind = "timedelta"; break;
    default: return;
    }
    long bytes = strtol(t + 1, NULL, 10);
    int sized =
        (t[0] == 'i' || t[0] == 'u' || t[0] == 'f' || t[0] == 'c') && bytes > 0 && bytes <= 64;
    const char *order = d[0] == '>' && bytes > 1 ? " big-endian" : "";
    if (sized)
        snprintf(out, cap, " (%s%ld%s)", kind, bytes * 8, order);
    else
        snprintf(out, cap, " (%s%s)", kind, order);
}

static va_status check_layout(const char *path, const npy_header *h, size_t *esize, va_error *err) {
    if (h->descr_structured)
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "%s: structured .npy dtype is not supported (visattn reads '<f2', '<f4' or "
                       "'<f8')",
                       path);
    *esize = descr_size(h->descr);
    if (!*esize) {
        char what[48];
        describe_descr(h->descr, what, sizeof what);
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "%s: .npy dtype '%s'%s is not supported (visattn reads little-endian "
                       "float16 '<f2', float32 '<f4' or float64 '<f8')",
                       path, h->descr, what);
    }
    /* With at most one dimension above 1, Fortran and C order are the same bytes (numpy flags
     * such arrays as both), so only a real Fortran layout is refused. */
    int big_dims = 0;
    for (int i = 0; i < h->ndim && i < VA_MAX_DIM; i++)
        big_dims += h->shape[i] > 1;
    if (h->fortran && big_dims > 1)
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "%s: Fortran-order .npy arrays are not supported (save a C-order array, "
                       "e.g. np.ascontiguousarray)",
                       path);
    if (h->ndim > VA_MAX_DIM)
        return va_fail(err, VA_ERR_UNSUPPORTED, "%s: .npy array has %d dimensions (at most %d)",
                       path, h->ndim, VA_MAX_DIM);
    return VA_OK;
}

/* Preamble and header dict of the file in [p, p + len); on success *data_start is the byte offset
 * of the data. */
static va_status parse_preamble(const char *path, const unsigned char *p, size_t len, npy_header *h,
                                size_t *data_start, va_error *err) {
    size_t pre_len = 10, hlen;
    if (len < NPY_MAGIC_LEN || memcmp(p, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return va_fail(err, VA_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    if (len < 10)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: .npy file truncated inside its preamble (%zu bytes)", path, len);
    if (p[6] == 1 && p[7] == 0) {
        hlen = (size_t)p[8] | ((size_t)p[9] << 8);
    } else if ((p[6] == 2 || p[6] == 3) && p[7] == 0) {
        /* 2.0 widened the length to 4 bytes; 3.0 only changed the header's encoding to UTF-8. */
        pre_len = 12;
        if (len < 12)
            return va_fail(err, VA_ERR_FORMAT, "%s: .npy file truncated inside its preamble", path);
        hlen = (size_t)p[8] | ((size_t)p[9] << 8) | ((size_t)p[10] << 16) | ((size_t)p[11] << 24);
    } else {
        return va_fail(err, VA_ERR_UNSUPPORTED, "%s: .npy format version %u.%u is not supported",
                       path, p[6], p[7]);
    }
    if (hlen > NPY_MAX_HEADER)
        return va_fail(err, VA_ERR_FORMAT, "%s: .npy header length %zu is implausible (limit %zu)",
                       path, hlen, NPY_MAX_HEADER);
    if (hlen > len - pre_len)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: .npy file truncated: header of %zu bytes but only %zu bytes follow",
                       path, hlen, len - pre_len);
    /* parse_header wants a NUL-terminated string. */
    char *text = malloc(hlen + 1);
    if (!text) return va_fail(err, VA_ERR_NOMEM, "%s: cannot allocate the .npy header", path);
    memcpy(text, p + pre_len, hlen);
    text[hlen] = '\0';
    va_status s = parse_header(path, text, hlen, h, err);
    free(text);
    *data_start = pre_len + hlen;
    return s;
}

/* Convert byte order and width; the data may sit at any byte offset. */
static void convert_data(const unsigned char *src, size_t esize, float *dst, size_t numel) {
    if (esize == 2)
        for (size_t i = 0; i < numel; i++)
            dst[i] = f16_to_f32(load_le16(src + 2 * i));
    else if (esize == 4)
        for (size_t i = 0; i < numel; i++)
            dst[i] = load_le_f32(src + 4 * i);
    else
        for (size_t i = 0; i < numel; i++)
            dst[i] = (float)load_le_f64(src + 8 * i);
}

static va_status parse_npy(const char *path, const unsigned char *p, size_t len, va_tensor *t,
                           va_error *err) {
    if (len == 0)
        return va_fail(err, VA_ERR_FORMAT, "%s: file is empty (0 bytes), not a .npy file", path);
    npy_header h;
    size_t data_start = 0, esize = 0;
    VA_TRY(parse_preamble(path, p, len, &h, &data_start, err));
    VA_TRY(check_layout(path, &h, &esize, err));

    /* Overflow is checked on the product of the non-zero dims so that later prefix products of the
     * shape cannot overflow either. */
    size_t numel = 1, need;
    int has_zero = 0;
    for (int i = 0; i < h.ndim; i++) {
        if (h.shape[i] == 0)
            has_zero = 1;
        else if ((uint64_t)h.shape[i] > SIZE_MAX ||
                 va_mul_size(numel, (size_t)h.shape[i], &numel) || numel > (size_t)INT64_MAX)
            return va_fail(err, VA_ERR_FORMAT, "%s: .npy shape element count overflows", path);
    }
    if (has_zero) numel = 0;
    char shape_buf[96];
    va_tensor shape_only = {0};
    shape_only.ndim = h.ndim;
    memcpy(shape_only.shape, h.shape, sizeof h.shape);
    if (va_mul_size(numel, esize, &need))
        return va_fail(err, VA_ERR_FORMAT, "%s: .npy shape %s is too large", path,
                       va_shape_str(&shape_only, shape_buf, sizeof shape_buf));
    /* Checked before allocating: a header may claim any shape. Trailing bytes are tolerated, as
     * numpy does. */
    size_t avail = len - data_start;
    if (need > avail)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: .npy data truncated: shape %s of '%s' needs %zu bytes but the file "
                       "holds %zu",
                       path, va_shape_str(&shape_only, shape_buf, sizeof shape_buf), h.descr, need,
                       avail);
    if (va_tensor_alloc(t, h.ndim, h.shape, err) != VA_OK) return va_error_prefix(err, path);
    convert_data(p + data_start, esize, t->data, numel);
    return VA_OK;
}

va_status va_npy_read_memory(const void *data, size_t len, const char *name, va_tensor *t,
                             va_error *err) {
    VA_ARG_NONNULL(t, "va_npy_read_memory");
    memset(t, 0, sizeof *t);
    if (!name) name = "<memory>";
    if (!data && len > 0)
        return va_fail(err, VA_ERR_ARG, "va_npy_read_memory: %s: data is NULL (len %zu)", name,
                       len);
    va_status s = parse_npy(name, data, data ? len : 0, t, err);
    if (s != VA_OK) memset(t, 0, sizeof *t);
    return s;
}

va_status va_npy_read(const char *path, va_tensor *t, va_error *err) {
    VA_ARG_NONNULL(t, "va_npy_read");
    memset(t, 0, sizeof *t); /* an empty tensor on every failure, as below */
    VA_ARG_NONNULL(path, "va_npy_read");
    memset(t, 0, sizeof *t);
    void *map;
    size_t len;
    va_status s = va_map_file(path, &map, &len, err);
    if (s == VA_OK) s = parse_npy(path, map, map ? len : 0, t, err);
    va_unmap_file(map, len);
    if (s != VA_OK) memset(t, 0, sizeof *t);
    return s;
}

va_status va_npy_write(const char *path, const va_tensor *t, va_error *err) {
    VA_ARG_NONNULL(path, "va_npy_write");
    VA_ARG_NONNULL(t, "va_npy_write");
    if (t->ndim < 0 || t->ndim > VA_MAX_DIM)
        return va_fail(err, VA_ERR_ARG, "%s: tensor has %d dimensions (at most %d)", path, t->ndim,
                       VA_MAX_DIM);
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0)
            return va_fail(err, VA_ERR_ARG, "%s: negative dimension %lld", path,
                           (long long)t->shape[i]);
        if (va_mul_size(numel, (size_t)t->shape[i], &numel) || numel > SIZE_MAX / 4)
            return va_fail(err, VA_ERR_ARG, "%s: shape too large", path);
    }
    if (numel && !t->data) return va_fail(err, VA_ERR_ARG, "%s: tensor data is NULL", path);

    /* Version 1.0 header exactly as numpy writes it: dict, spaces, '\n', total a multiple of 64
     * so the data is aligned for memory mapping. */
    char header[256];
    int n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < t->ndim; i++)
        n += snprintf(header + n, sizeof header - (size_t)n, i ? ", %lld" : "%lld",
                      (long long)t->shape[i]);
    n += snprintf(header + n, sizeof header - (size_t)n, "%s), }", t->ndim == 1 ? "," : "");
    size_t hlen = (size_t)n + 1; /* + '\n' */
    hlen += (NPY_ALIGN - (10 + hlen) % NPY_ALIGN) % NPY_ALIGN;
    if (hlen >= sizeof header) return va_fail(err, VA_ERR_ARG, "%s: .npy header too long", path);
    memset(header + n, ' ', hlen - 1 - (size_t)n);
    header[hlen - 1] = '\n';
    unsigned char pre[10];
    memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);

    FILE *f = fopen(path, "wb");
    if (!f) return va_fail(err, VA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre && fwrite(header, 1, hlen, f) == hlen;
    unsigned char buf[4 * 4096];
    for (size_t i = 0; ok && i < numel;) {
        size_t k = numel - i < 4096 ? numel - i : 4096;
        for (size_t j = 0; j < k; j++)
            store_le_f32(buf + 4 * j, t->data[i + j]);
        ok = fwrite(buf, 4, k, f) == k;
        i += k;
    }
    return va_finish_write(f, ok, errno, path, err);
}
