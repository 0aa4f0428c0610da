/* Weight and array files: safetensors and .npy round trips, half-precision conversion, weights
 * lookup, and hostile input (malformed, truncated at every byte, randomly corrupted). Every failure
 * must be an error status with one line naming the file, never a crash or a leak. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "visattn/visattn.h"

/* ---- Per-test temporary directory ------------------------------------------------------------ */

static char g_dir[256];

static void tmp_setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/visattn-io-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void tmp_teardown(void) {
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            if (remove(p) != 0) rmdir(p);
        }
        closedir(d);
    }
    rmdir(g_dir);
}

/* Path of `name` inside the test directory (a small ring so several can be live at once). */
static const char *tpath(const char *name) {
    static char ring[4][512];
    static int next;
    char *p = ring[next++ % 4];
    snprintf(p, sizeof ring[0], "%s/%s", g_dir, name);
    return p;
}

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A safetensors file: the given length field, the header text, then data. */
static void write_st_len(const char *path, uint64_t len_field, const char *header, const void *data,
                         size_t dlen) {
    size_t hlen = strlen(header);
    unsigned char *buf = malloc(8 + hlen + dlen + 1);
    ck_assert_ptr_nonnull(buf);
    put_le64(buf, len_field);
    memcpy(buf + 8, header, hlen);
    if (dlen) memcpy(buf + 8 + hlen, data, dlen);
    ck_assert_int_eq(va_test_write_file(path, buf, 8 + hlen + dlen), 0);
    free(buf);
}

static void write_st(const char *path, const char *header, const void *data, size_t dlen) {
    write_st_len(path, strlen(header), header, data, dlen);
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Base name of a path, the part every message must contain. */
static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Open must fail with status `want` (or any error if want < 0), one line naming the file and, if
 * given, containing `needle`. */
static void expect_st_fail(const char *path, int want, const char *needle) {
    va_error err = {0};
    va_safetensors *st = (va_safetensors *)&err; /* must be reset to NULL */
    va_status s = va_st_open(path, &st, &err);
    ck_assert_msg(s != VA_OK, "%s: opened a bad file", path);
    ck_assert_ptr_null(st);
    if (want >= 0) ck_assert_msg((int)s == want, "status %d, want %d: %s", s, want, err.msg);
    ck_assert_msg(va_test_msg_ok(err.msg, base_name(path)), "message: '%s'", err.msg);
    if (needle) ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
}

static void expect_npy_fail(const char *path, int want, const char *needle) {
    va_error err = {0};
    va_tensor t;
    va_status s = va_npy_read(path, &t, &err);
    ck_assert_msg(s != VA_OK, "%s: read a bad file", path);
    ck_assert_ptr_null(t.data);
    if (want >= 0) ck_assert_msg((int)s == want, "status %d, want %d: %s", s, want, err.msg);
    ck_assert_msg(va_test_msg_ok(err.msg, base_name(path)), "message: '%s'", err.msg);
    if (needle) ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
}

static int same_bits(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

/* ---- safetensors: round trip ----------------------------------------------------------------- */

START_TEST(test_st_round_trip) {
    va_error err = {0};
    const char *path = tpath("rt.safetensors");
    float w[2 * 3 * 1 * 2], b[5], s[1] = {-0.0f}, inf_nan[3] = {INFINITY, -INFINITY, NAN};
    va_test_fill_random(w, 12, 7);
    va_test_fill_random(b, 5, 8);
    const int64_t ws[4] = {2, 3, 1, 2}, bs[1] = {5}, zs[2] = {0, 3}, ns[1] = {3};
    const va_st_tensor_in t[] = {
        {"stages.0.conv.weight", 4, ws, w},
        {"b", 1, bs, b},
        {"scalar", 0, NULL, s},
        {"empty", 2, zs, NULL},
        {"special", 1, ns, inf_nan},
    };
    const char *mk[] = {"visattn.block", "visattn.config"};
    const char *mv[] = {"se", "{\"channels\": 16, \"note\": \"quote \\\" and\\nnewline\"}"};
    ck_assert_msg(va_st_write(path, t, 5, mk, mv, 2, &err) == VA_OK, "%s", err.msg);

    /* Header padded so the data section starts 8-byte aligned. */
    size_t len;
    unsigned char *raw = read_all(path, &len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | raw[i];
    ck_assert_uint_eq((8 + hlen) % 8, 0);
    ck_assert_uint_eq(len, 8 + hlen + (12 + 5 + 1 + 0 + 3) * 4);
    ck_assert_int_eq(raw[8], '{');
    free(raw);

    va_safetensors *st;
    ck_assert_msg(va_st_open(path, &st, &err) == VA_OK, "%s", err.msg);
    ck_assert_str_eq(va_st_path(st), path);
    ck_assert_uint_eq(va_st_count(st), 5);
    ck_assert_str_eq(va_st_meta(st, "visattn.block"), "se");
    ck_assert_str_eq(va_st_meta(st, "visattn.config"), mv[1]);
    ck_assert_ptr_null(va_st_meta(st, "nope"));
    for (size_t i = 0; i < 5; i++) {
        const va_st_entry *e = va_st_entry_at(st, i);
        ck_assert_str_eq(e->name, t[i].name); /* given order kept */
        ck_assert_int_eq(e->dtype, VA_DTYPE_F32);
        ck_assert_int_eq(e->ndim, t[i].ndim);
        for (int d = 0; d < e->ndim; d++)
            ck_assert_int_eq(e->shape[d], t[i].shape[d]);
        ck_assert_ptr_eq(va_st_find(st, t[i].name), e);
    }
    ck_assert_ptr_null(va_st_entry_at(st, 5));
    ck_assert_ptr_null(va_st_find(st, "stages.0.conv"));

    float got[12];
    ck_assert_int_eq(va_st_read_f32(st, va_st_find(st, "stages.0.conv.weight"), got, 12, &err),
                     VA_OK);
    for (int i = 0; i < 12; i++)
        ck_assert(same_bits(got[i], w[i]));
    ck_assert_int_eq(va_st_read_f32(st, va_st_find(st, "b"), got, 5, &err), VA_OK);
    for (int i = 0; i < 5; i++)
        ck_assert(same_bits(got[i], b[i]));
    ck_assert_int_eq(va_st_read_f32(st, va_st_find(st, "scalar"), got, 1, &err), VA_OK);
    ck_assert(same_bits(got[0], -0.0f));
    ck_assert_int_eq(va_st_read_f32(st, va_st_find(st, "empty"), NULL, 0, &err), VA_OK);
    ck_assert_int_eq(va_st_read_f32(st, va_st_find(st, "special"), got, 3, &err), VA_OK);
    ck_assert(isinf(got[0]) && got[0] > 0 && isinf(got[1]) && got[1] < 0 && isnan(got[2]));

    /* Wrong element count from the caller. */
    ck_assert_int_eq(va_st_read_f32(st, va_st_find(st, "b"), got, 4, &err), VA_ERR_SHAPE);
    ck_assert(va_test_msg_ok(err.msg, "rt.safetensors"));
    va_st_close(st);
}
END_TEST

START_TEST(test_st_write_empty_and_errors) {
    va_error err = {0};
    const char *path = tpath("none.safetensors");
    ck_assert_int_eq(va_st_write(path, NULL, 0, NULL, NULL, 0, &err), VA_OK);
    va_safetensors *st;
    ck_assert_msg(va_st_open(path, &st, &err) == VA_OK, "%s", err.msg);
    ck_assert_uint_eq(va_st_count(st), 0);
    ck_assert_ptr_null(va_st_meta(st, "x"));
    ck_assert_ptr_null(va_st_find(st, "x"));
    va_st_close(st);

    float x[2] = {1, 2};
    const int64_t sh[1] = {2}, neg[1] = {-2};
    const va_st_tensor_in dup[] = {{"a", 1, sh, x}, {"a", 1, sh, x}};
    ck_assert_int_eq(va_st_write(tpath("dup.safetensors"), dup, 2, NULL, NULL, 0, &err),
                     VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "dup.safetensors"));
    const va_st_tensor_in bad[] = {{"n", 1, neg, x}};
    ck_assert_int_eq(va_st_write(tpath("neg.safetensors"), bad, 1, NULL, NULL, 0, &err),
                     VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "neg.safetensors"));
    const char *mk[] = {"k", "k"}, *mv[] = {"1", "2"};
    ck_assert_int_eq(va_st_write(tpath("dupm.safetensors"), NULL, 0, mk, mv, 2, &err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "dupm.safetensors"));
    /* Unwritable location: an I/O error naming the path, and no file left behind. */
    const char *nodir = tpath("no/such/dir/x.safetensors");
    ck_assert_int_eq(va_st_write(nodir, dup, 1, NULL, NULL, 0, &err), VA_ERR_IO);
    ck_assert(va_test_msg_ok(err.msg, "x.safetensors"));
    ck_assert_int_eq(va_st_open(NULL, &st, &err), VA_ERR_ARG);
}
END_TEST

/* ---- safetensors: F16 / BF16 conversion ------------------------------------------------------ */

/* Hand-computed binary16 / bfloat16 bit patterns and their exact float32 values. */
typedef struct half_case {
    uint16_t bits;
    float value;
} half_case;

static const half_case f16_cases[] = {
    {0x3C00, 1.0f},
    {0xC000, -2.0f},
    {0x7BFF, 65504.0f},               /* largest finite half */
    {0x0001, 5.9604644775390625e-8f}, /* smallest subnormal, 2^-24 */
    {0x03FF, 6.0975551605224609e-5f}, /* largest subnormal, 1023 * 2^-24 */
    {0x0200, 3.0517578125e-5f},       /* 2^-15, subnormal */
    {0x0400, 6.103515625e-5f},        /* smallest normal, 2^-14 */
    {0x3555, 0.333251953125f},
    {0x3BFF, 0.99951171875f},
    {0x0000, 0.0f},
    {0x8000, -0.0f},
    {0x8001, -5.9604644775390625e-8f},
    {0x7C00, INFINITY},
    {0xFC00, -INFINITY},
};

static const half_case bf16_cases[] = {
    {0x3F80, 1.0f},
    {0xC000, -2.0f},
    {0x4049, 3.140625f},
    {0x7F7F, 3.3895313892515355e38f},  /* largest finite bfloat16 */
    {0x0080, 1.1754943508222875e-38f}, /* FLT_MIN */
    {0x0001, 9.1835496157991212e-41f}, /* subnormal, 2^-133 */
    {0x8000, -0.0f},
    {0x7F80, INFINITY},
    {0xFF80, -INFINITY},
};

static void check_half(const char *dtype, const char *file, const uint16_t *bits, size_t n,
                       const float *want, const uint16_t *nan_bits, size_t n_nan) {
    /* One tensor of all patterns plus nans; the header gets an odd length so the data section (and
     * every value) sits at an odd address, which the reader must handle. */
    size_t total = n + n_nan;
    unsigned char data[64];
    for (size_t i = 0; i < total; i++) {
        uint16_t v = i < n ? bits[i] : nan_bits[i - n];
        data[2 * i] = (unsigned char)v;
        data[2 * i + 1] = (unsigned char)(v >> 8);
    }
    char header[256];
    snprintf(header, sizeof header,
             "{\"h\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}", dtype, total,
             2 * total);
    if (strlen(header) % 2 == 0) strcat(header, " ");
    const char *path = tpath(file);
    write_st(path, header, data, 2 * total);
    va_error err = {0};
    va_safetensors *st;
    ck_assert_msg(va_st_open(path, &st, &err) == VA_OK, "%s", err.msg);
    const va_st_entry *e = va_st_find(st, "h");
    ck_assert_ptr_nonnull(e);
    float got[32];
    ck_assert_int_eq(va_st_read_f32(st, e, got, (int64_t)total, &err), VA_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(same_bits(got[i], want[i]), "%s 0x%04x -> %.9g, want %.9g", dtype, bits[i],
                      got[i], want[i]);
    for (size_t i = n; i < total; i++)
        ck_assert_msg(isnan(got[i]), "%s nan", dtype);
    /* Sign of nan preserved. */
    ck_assert(signbit(got[total - 1]));
    va_st_close(st);
}

START_TEST(test_st_f16_bf16_conversion) {
    uint16_t bits[32];
    float want[32];
    size_t n = sizeof f16_cases / sizeof *f16_cases;
    for (size_t i = 0; i < n; i++) {
        bits[i] = f16_cases[i].bits;
        want[i] = f16_cases[i].value;
    }
    const uint16_t f16_nan[] = {0x7E00, 0x7C01, 0xFE00};
    check_half("F16", "f16.safetensors", bits, n, want, f16_nan, 3);
    n = sizeof bf16_cases / sizeof *bf16_cases;
    for (size_t i = 0; i < n; i++) {
        bits[i] = bf16_cases[i].bits;
        want[i] = bf16_cases[i].value;
    }
    const uint16_t bf16_nan[] = {0x7FC0, 0x7F81, 0xFFC0};
    check_half("BF16", "bf16.safetensors", bits, n, want, bf16_nan, 3);
}
END_TEST

/* Every binary16 pattern against an independent conversion (ldexp on the fields). */
START_TEST(test_st_f16_exhaustive) {
    enum { N = 65536 };
    unsigned char *data = malloc(2 * N);
    ck_assert_ptr_nonnull(data);
    for (uint32_t i = 0; i < N; i++) {
        data[2 * i] = (unsigned char)i;
        data[2 * i + 1] = (unsigned char)(i >> 8);
    }
    const char *path = tpath("all16.safetensors");
    write_st(path, "{\"x\":{\"dtype\":\"F16\",\"shape\":[256,256],\"data_offsets\":[0,131072]}}",
             data, 2 * N);
    free(data);
    va_error err = {0};
    va_safetensors *st;
    ck_assert_msg(va_st_open(path, &st, &err) == VA_OK, "%s", err.msg);
    float *got = malloc(N * sizeof *got);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(va_st_read_f32(st, va_st_find(st, "x"), got, N, &err), VA_OK);
    for (uint32_t h = 0; h < N; h++) {
        int e = (h >> 10) & 31, m = h & 1023;
        double mag = e == 0    ? ldexp(m, -24)
                     : e == 31 ? (m ? NAN : INFINITY)
                               : ldexp(m + 1024, e - 25);
        float want = (float)((h & 0x8000) ? -mag : mag);
        if (isnan(want))
            ck_assert_msg(isnan(got[h]), "0x%04x", h);
        else
            ck_assert_msg(same_bits(got[h], want), "0x%04x -> %.9g, want %.9g", h, got[h], want);
    }
    free(got);
    va_st_close(st);
}
END_TEST

/* An F32 tensor at an odd offset in the data section. */
START_TEST(test_st_unaligned_f32) {
    unsigned char data[2 + 8];
    data[0] = 0x00;
    data[1] = 0x3C; /* F16 1.0 */
    const float v[2] = {3.5f, -1.25e-3f};
    memcpy(data + 2, v, 8); /* host is little-endian on every supported platform */
    const char *path = tpath("odd.safetensors");
    char header[160] = "{\"h\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]},"
                       "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}";
    if (strlen(header) % 2 == 0) strcat(header, " "); /* data section at an odd file offset */
    write_st(path, header, data, sizeof data);
    va_error err = {0};
    va_safetensors *st;
    ck_assert_msg(va_st_open(path, &st, &err) == VA_OK, "%s", err.msg);
    float got[2];
    ck_assert_int_eq(va_st_read_f32(st, va_st_find(st, "f"), got, 2, &err), VA_OK);
    ck_assert(same_bits(got[0], v[0]) && same_bits(got[1], v[1]));
    ck_assert_int_eq(va_st_read_f32(st, va_st_find(st, "h"), got, 1, &err), VA_OK);
    ck_assert(got[0] == 1.0f);
    va_st_close(st);
}
END_TEST

/* ---- safetensors: hostile files -------------------------------------------------------------- */

START_TEST(test_st_short_files) {
    const char *p = tpath("x.safetensors");
    ck_assert_int_eq(va_test_write_file(p, "", 0), 0);
    expect_st_fail(p, VA_ERR_FORMAT, "file is empty (0 bytes), not a safetensors file");
    va_error err = {0};
    va_safetensors *st;
    va_st_open(p, &st, &err);
    char want[600];
    snprintf(want, sizeof want, "%s: file is empty (0 bytes), not a safetensors file", p);
    ck_assert_str_eq(err.msg, want);

    p = tpath("seven.safetensors");
    ck_assert_int_eq(va_test_write_file(p, "\x02\0\0\0\0\0\0", 7), 0);
    expect_st_fail(p, VA_ERR_FORMAT, "7 bytes");

    expect_st_fail(tpath("missing.safetensors"), VA_ERR_IO, NULL);
    expect_st_fail(g_dir, VA_ERR_IO, NULL); /* a directory */
}
END_TEST

START_TEST(test_st_bad_header_length) {
    const char *p = tpath("huge.safetensors");
    write_st_len(p, 1000000000000000ull, "{}", NULL, 0); /* 10^15 */
    expect_st_fail(p, VA_ERR_FORMAT, "1000000000000000");
    p = tpath("limit.safetensors");
    write_st_len(p, (uint64_t)VA_ST_MAX_HEADER_BYTES + 1, "{}", NULL, 0);
    expect_st_fail(p, VA_ERR_FORMAT, "limit");
    p = tpath("u64max.safetensors");
    write_st_len(p, UINT64_MAX, "{}", NULL, 0);
    expect_st_fail(p, VA_ERR_FORMAT, NULL);
    p = tpath("beyond.safetensors");
    write_st_len(p, 100, "{\"__metadata__\":{}}", NULL, 0);
    expect_st_fail(p, VA_ERR_FORMAT, "exceeds");
    p = tpath("zero.safetensors");
    write_st_len(p, 0, "", NULL, 0);
    expect_st_fail(p, VA_ERR_FORMAT, "empty");
}
END_TEST

/* Header text that must be rejected, the status and a word the message must contain. */
static const struct {
    const char *file, *header;
    size_t data_len;
    int status;
    const char *needle;
} bad_headers[] = {
    {"json1.safetensors", "{\"a\":", 0, VA_ERR_FORMAT, "not valid JSON"},
    {"json2.safetensors", "not json at all", 0, VA_ERR_FORMAT, "not valid JSON"},
    {"json3.safetensors", "{} trailing", 0, VA_ERR_FORMAT, "after the JSON"},
    {"json4.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4,
     VA_ERR_FORMAT, "JSON"},
    {"array.safetensors", "[1,2,3]", 0, VA_ERR_FORMAT, "not an object"},
    {"string.safetensors", "\"x\"", 0, VA_ERR_FORMAT, "not an object"},
    {"entry.safetensors", "{\"fc.weight\":5}", 0, VA_ERR_FORMAT, "'fc.weight'"},
    {"nodtype.safetensors", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VA_ERR_FORMAT,
     "dtype"},
    {"xyz.safetensors", "{\"a\":{\"dtype\":\"XYZ\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     VA_ERR_FORMAT, "'XYZ'"},
    {"i8.safetensors", "{\"q.weight\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
     VA_ERR_UNSUPPORTED, "unsupported dtype 'I8'"},
    {"u8.safetensors", "{\"q.weight\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
     VA_ERR_UNSUPPORTED, "'q.weight'"},
    {"f64.safetensors", "{\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
     VA_ERR_UNSUPPORTED, "'F64'"},
    {"i64.safetensors", "{\"idx\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
     VA_ERR_UNSUPPORTED, "'idx'"},
    {"size.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12,
     VA_ERR_FORMAT, "needs 12 bytes"},
    {"size16.safetensors", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
     16, VA_ERR_FORMAT, "needs 8 bytes"},
    {"range.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 12,
     VA_ERR_FORMAT, "exceed the data section (12 bytes)"},
    {"reversed.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 12,
     VA_ERR_FORMAT, "reversed"},
    {"offs3.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
     VA_ERR_FORMAT, "data_offsets"},
    {"offsneg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8,
     VA_ERR_FORMAT, "data_offsets"},
    {"offsstr.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\"}}", 8,
     VA_ERR_FORMAT, "data_offsets"},
    {"overlap.safetensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, VA_ERR_FORMAT, "overlap"},
    {"overlap1.safetensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[7,9]}}",
     12, VA_ERR_FORMAT, "overlap tensor 'a' [0, 8]"},
    {"same.safetensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, VA_ERR_FORMAT, "overlap"},
    {"negdim.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1,2],\"data_offsets\":[0,8]}}", 8,
     VA_ERR_FORMAT, "negative dimension -1"},
    {"fracdim.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 8,
     VA_ERR_FORMAT, "non-negative integers"},
    {"strdim.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}",
     8, VA_ERR_FORMAT, "non-negative integers"},
    {"shapeobj.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 8,
     VA_ERR_FORMAT, "shape"},
    {"bigdim.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}",
     8, VA_ERR_FORMAT, "non-negative integers"},
    {"ndim7.safetensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     VA_ERR_UNSUPPORTED, "7 dimensions"},
    {"overflow.safetensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
     "\"data_offsets\":[0,4]}}",
     4, VA_ERR_FORMAT, "overflow"},
    {"overflow0.safetensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,9007199254740992,9007199254740992],"
     "\"data_offsets\":[0,0]}}",
     4, VA_ERR_FORMAT, "overflow"},
    {"bytes.safetensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4,
     VA_ERR_FORMAT, "'a'"},
    {"metaint.safetensors", "{\"__metadata__\":{\"visattn.block\":\"se\",\"n\":1}}", 0,
     VA_ERR_FORMAT, "'n'"},
    {"metaarr.safetensors", "{\"__metadata__\":[\"x\"]}", 0, VA_ERR_FORMAT, "__metadata__"},
    {"metanull.safetensors", "{\"__metadata__\":null}", 0, VA_ERR_FORMAT, "__metadata__"},
    {"metadup.safetensors", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, VA_ERR_FORMAT,
     "duplicate"},
    {"metatwice.safetensors", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, VA_ERR_FORMAT,
     "duplicate"},
    {"dupkey.safetensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, VA_ERR_FORMAT, "duplicate"},
};

START_TEST(test_st_bad_headers) {
    unsigned char data[64] = {0};
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        const char *p = tpath(bad_headers[i].file);
        write_st(p, bad_headers[i].header, data, bad_headers[i].data_len);
        expect_st_fail(p, bad_headers[i].status, bad_headers[i].needle);
    }
    /* The message the issue quotes, verbatim. */
    const char *p = tpath("model.safetensors");
    unsigned char big[256] = {0};
    write_st(p, "{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", big,
             256);
    va_error err = {0};
    va_safetensors *st;
    ck_assert_int_eq(va_st_open(p, &st, &err), VA_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want,
             "%s: tensor 'fc.weight': data_offsets [0, 400] exceed the data section (256 bytes)",
             p);
    ck_assert_str_eq(err.msg, want);

    /* An embedded NUL in the header. */
    p = tpath("nul.safetensors");
    unsigned char nul[8 + 4];
    put_le64(nul, 4);
    memcpy(nul + 8, "{}\0 ", 4);
    ck_assert_int_eq(va_test_write_file(p, nul, sizeof nul), 0);
    expect_st_fail(p, VA_ERR_FORMAT, "NUL");
}
END_TEST

/* Things that look odd but are valid. */
START_TEST(test_st_accepts_valid_oddities) {
    const char *ok[] = {
        "{}",
        "{}      ",
        "  {\"__metadata__\":{}}\n",
        "{\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
        "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", /* empty inside */
        "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", /* out of order */
        "{\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
        "\"x\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[8,12],\"extra\":1}}",
        "{\"__metadata__\":{\"format\":\"pt\",\"uni\":\"\\u00e9\\u4e2d\"}}",
    };
    unsigned char data[16] = {0};
    va_error err = {0};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        const char *p = tpath("ok.safetensors");
        write_st(p, ok[i], data, sizeof data);
        va_safetensors *st;
        ck_assert_msg(va_st_open(p, &st, &err) == VA_OK, "case %zu: %s", i, err.msg);
        va_st_close(st);
    }
    /* I64 num_batches_tracked: listed, but not readable as float. */
    const char *p = tpath("nbt.safetensors");
    write_st(p, ok[5], data, sizeof data);
    va_safetensors *st;
    ck_assert_int_eq(va_st_open(p, &st, &err), VA_OK);
    const va_st_entry *e = va_st_find(st, "bn.num_batches_tracked");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->dtype, VA_DTYPE_I64);
    ck_assert_int_eq(e->ndim, 0);
    float f;
    ck_assert_int_eq(va_st_read_f32(st, e, &f, 1, &err), VA_ERR_UNSUPPORTED);
    ck_assert(va_test_msg_ok(err.msg, "nbt.safetensors"));
    va_st_close(st);
    /* Metadata strings come back decoded. */
    write_st(p, ok[6], data, 0);
    ck_assert_int_eq(va_st_open(p, &st, &err), VA_OK);
    ck_assert_str_eq(va_st_meta(st, "uni"), "\xc3\xa9\xe4\xb8\xad");
    va_st_close(st);
}
END_TEST

/* A small valid file cut at every length must always fail cleanly. */
START_TEST(test_st_truncated_everywhere) {
    va_error err = {0};
    const char *full = tpath("full.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6}, b[2] = {7, 8};
    const int64_t as[2] = {2, 3}, bs[1] = {2};
    const va_st_tensor_in t[] = {{"a", 2, as, a}, {"b", 1, bs, b}};
    const char *mk[] = {"visattn.model"}, *mv[] = {"conv2d"};
    ck_assert_int_eq(va_st_write(full, t, 2, mk, mv, 1, &err), VA_OK);
    size_t len;
    unsigned char *bytes = read_all(full, &len);
    const char *p = tpath("cut.safetensors");
    for (size_t n = 0; n < len; n++) {
        ck_assert_int_eq(va_test_write_file(p, bytes, n), 0);
        expect_st_fail(p, VA_ERR_FORMAT, NULL);
    }
    ck_assert_int_eq(va_test_write_file(p, bytes, len), 0);
    va_safetensors *st;
    ck_assert_int_eq(va_st_open(p, &st, &err), VA_OK);
    va_st_close(st);
    free(bytes);
}
END_TEST

static uint32_t xorshift(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Random byte corruption: any outcome but a crash, a leak or a bad message is fine. */
START_TEST(test_st_random_corruption) {
    va_error err = {0};
    const char *full = tpath("fz.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6}, b[2] = {7, 8};
    const int64_t as[2] = {2, 3}, bs[1] = {2};
    const va_st_tensor_in t[] = {{"a", 2, as, a}, {"b", 1, bs, b}};
    const char *mk[] = {"k"}, *mv[] = {"v"};
    ck_assert_int_eq(va_st_write(full, t, 2, mk, mv, 1, &err), VA_OK);
    size_t len;
    unsigned char *orig = read_all(full, &len);
    unsigned char *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    /* Hand-made replacements hit the interesting bytes far more often than random ones. */
    static const char subst[] = "0123456789-.e[]{},:\" FIBU";
    uint32_t seed = 12345;
    const char *p = tpath("fzc.safetensors");
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, orig, len);
        int edits = 1 + (int)(xorshift(&seed) % 3);
        for (int k = 0; k < edits; k++) {
            size_t at = xorshift(&seed) % len;
            uint32_t r = xorshift(&seed);
            buf[at] = (r & 1) ? (unsigned char)subst[(r >> 1) % (sizeof subst - 1)]
                              : (unsigned char)(r >> 8);
        }
        ck_assert_int_eq(va_test_write_file(p, buf, len), 0);
        va_safetensors *st;
        if (va_st_open(p, &st, &err) != VA_OK) {
            ck_assert_msg(va_test_msg_ok(err.msg, "fzc.safetensors"), "'%s'", err.msg);
            continue;
        }
        for (size_t i = 0; i < va_st_count(st); i++) {
            const va_st_entry *e = va_st_entry_at(st, i);
            int64_t n = 1;
            for (int d = 0; d < e->ndim; d++)
                n *= e->shape[d];
            ck_assert(n >= 0 && (size_t)n <= len);
            float *dst = malloc((size_t)(n ? n : 1) * sizeof *dst);
            ck_assert_ptr_nonnull(dst);
            va_st_read_f32(st, e, dst, n, &err);
            free(dst);
        }
        va_st_close(st);
    }
    free(buf);
    free(orig);
}
END_TEST

/* ---- Weights --------------------------------------------------------------------------------- */

START_TEST(test_weights_lookup) {
    va_error err = {0};
    const char *path = tpath("w.safetensors");
    float cw[4 * 2], cb[4];
    va_test_fill_random(cw, 8, 1);
    va_test_fill_random(cb, 4, 2);
    const int64_t ws[4] = {4, 2, 1, 1}, bs[1] = {4};
    const va_st_tensor_in t[] = {{"stages.0.conv.weight", 4, ws, cw},
                                 {"stages.0.conv.bias", 1, bs, cb},
                                 {"foo.bar", 1, bs, cb}};
    ck_assert_int_eq(va_st_write(path, t, 3, NULL, NULL, 0, &err), VA_OK);
    va_safetensors *st;
    ck_assert_int_eq(va_st_open(path, &st, &err), VA_OK);
    va_weights w;
    ck_assert_int_eq(va_weights_init(&w, st, &err), VA_OK);
    ck_assert(va_weights_has(&w, "stages.0.", "conv.weight"));
    ck_assert(va_weights_has(&w, "", "foo.bar"));
    ck_assert(!va_weights_has(&w, "stages.1.", "conv.weight"));

    float got[8];
    ck_assert_int_eq(va_weights_get(&w, "stages.0.", "conv.weight", 4, ws, got, &err), VA_OK);
    for (int i = 0; i < 8; i++)
        ck_assert(same_bits(got[i], cw[i]));
    ck_assert_int_eq(va_weights_get(&w, "stages.0.conv.", "bias", 1, bs, got, &err), VA_OK);
    for (int i = 0; i < 4; i++)
        ck_assert(same_bits(got[i], cb[i]));

    char want[700];
    const int64_t exp[4] = {64, 16, 1, 1};
    ck_assert_int_eq(va_weights_get(&w, "stages.0.", "attn.weight", 4, exp, got, &err), VA_ERR_KEY);
    snprintf(want, sizeof want, "%s: missing key 'stages.0.attn.weight' (expected shape 64x16x1x1)",
             path);
    ck_assert_str_eq(err.msg, want);

    const int64_t wrong[4] = {4, 3, 1, 1};
    ck_assert_int_eq(va_weights_get(&w, "stages.0.", "conv.weight", 4, wrong, got, &err),
                     VA_ERR_KEY);
    snprintf(want, sizeof want,
             "%s: key 'stages.0.conv.weight' has shape 4x2x1x1, expected 4x3x1x1", path);
    ck_assert_str_eq(err.msg, want);
    const int64_t flat[2] = {4, 2};
    ck_assert_int_eq(va_weights_get(&w, "stages.0.", "conv.weight", 2, flat, got, &err),
                     VA_ERR_KEY);
    ck_assert(va_test_msg_ok(err.msg, "4x2x1x1"));

    ck_assert_int_eq(va_weights_check_all_used(&w, &err), VA_ERR_KEY);
    snprintf(want, sizeof want, "%s: unexpected key 'foo.bar'", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(va_weights_get(&w, NULL, "foo.bar", 1, bs, got, &err), VA_OK);
    ck_assert_int_eq(va_weights_check_all_used(&w, &err), VA_OK);
    va_weights_free(&w);
    va_weights_free(&w); /* idempotent */
    va_st_close(st);
}
END_TEST

START_TEST(test_weights_ignore_num_batches_tracked) {
    unsigned char data[8 + 8 + 4] = {0};
    const float one = 1.0f, two = 2.0f;
    memcpy(data + 8, &one, 4);
    memcpy(data + 12, &two, 4);
    const char *path = tpath("bn.safetensors");
    write_st(path,
             "{\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
             "\"bn.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
             "\"extra\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]}}",
             data, sizeof data);
    va_error err = {0};
    va_safetensors *st;
    ck_assert_msg(va_st_open(path, &st, &err) == VA_OK, "%s", err.msg);
    va_weights w;
    ck_assert_int_eq(va_weights_init(&w, st, &err), VA_OK);
    const int64_t s2[1] = {2};
    float got[2];
    ck_assert_int_eq(va_weights_get(&w, "bn.", "weight", 1, s2, got, &err), VA_OK);
    ck_assert(got[0] == 1.0f && got[1] == 2.0f);
    ck_assert_int_eq(va_weights_check_all_used(&w, &err), VA_ERR_KEY);
    ck_assert(va_test_msg_ok(err.msg, "unexpected key 'extra'"));
    ck_assert_int_eq(va_weights_get(&w, "", "extra", 1, s2, got, &err), VA_OK);
    ck_assert(got[0] == 0.0f && got[1] == 0.0f);
    ck_assert_int_eq(va_weights_check_all_used(&w, &err), VA_OK);
    /* Asking for the counter as a weight is an error, not a silent conversion. */
    ck_assert_int_eq(va_weights_get(&w, "bn.", "num_batches_tracked", 0, NULL, got, &err),
                     VA_ERR_KEY);
    ck_assert(va_test_msg_ok(err.msg, "bn.safetensors"));
    va_weights_free(&w);
    va_st_close(st);
}
END_TEST

/* ---- .npy ------------------------------------------------------------------------------------ */

START_TEST(test_npy_round_trip) {
    va_error err = {0};
    const int64_t shapes[][VA_MAX_DIM] = {
        {0}, {5}, {3, 4}, {2, 3, 5}, {1, 2, 3, 4}, {2, 1, 2, 1, 2, 3}, {0, 3}};
    const int ndims[] = {0, 1, 2, 3, 4, 6, 2};
    for (size_t c = 0; c < sizeof ndims / sizeof *ndims; c++) {
        va_tensor t, r;
        ck_assert_int_eq(va_tensor_alloc(&t, ndims[c], shapes[c], &err), VA_OK);
        int64_t n = va_numel(&t);
        va_test_fill_random(t.data, n, 10 + (uint32_t)c);
        const char *p = tpath("rt.npy");
        ck_assert_msg(va_npy_write(p, &t, &err) == VA_OK, "%s", err.msg);
        size_t len;
        unsigned char *raw = read_all(p, &len);
        size_t start = len - (size_t)n * 4;
        ck_assert_uint_eq(start % 64, 0);
        ck_assert_int_eq(raw[start - 1], '\n');
        ck_assert_int_eq(memcmp(raw, "\x93NUMPY\x01\x00", 8), 0);
        ck_assert_uint_eq(raw[8] | (raw[9] << 8), start - 10);
        free(raw);
        ck_assert_msg(va_npy_read(p, &r, &err) == VA_OK, "%s", err.msg);
        ck_assert_int_eq(r.ndim, ndims[c]);
        for (int d = 0; d < r.ndim; d++)
            ck_assert_int_eq(r.shape[d], shapes[c][d]);
        ck_assert_int_eq(va_numel(&r), n);
        for (int64_t i = 0; i < n; i++)
            ck_assert(same_bits(r.data[i], t.data[i]));
        va_tensor_free(&t);
        va_tensor_free(&r);
    }
}
END_TEST

/* Files written by numpy 1.24 (np.save, and format.write_array with version 2.0 and 3.0). */
static const unsigned char np_v1[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }     "
    "                                                     \x0a\x00\x00\x80\xbf\x00\x00\x00\xbf"
    "\x00\x00\x00\x00\x00\x00\x00\x3f\x00\x00\x80\x3f\x00\x00\xc0\x3f";
static const unsigned char np_v2_f8[] =
    "\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), "
    "}                                                          \x0a\x00\x00\x00\x00\x00\x00"
    "\xf8\x3f\x00\x00\x00\x00\x00\x00\x02\xc0Y\xf3\xf8\xc2\x1fn\xa5\x01";
static const unsigned char np_v3_scalar[] =
    "\x93NUMPY\x03\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), } "
    "                                                           \x0a\x00\x00@@";

START_TEST(test_npy_numpy_files) {
    va_error err = {0};
    va_tensor t;
    const char *p = tpath("v1.npy");
    ck_assert_int_eq(va_test_write_file(p, np_v1, sizeof np_v1 - 1), 0);
    ck_assert_msg(va_npy_read(p, &t, &err) == VA_OK, "%s", err.msg);
    ck_assert_int_eq(t.ndim, 2);
    ck_assert_int_eq(t.shape[0], 2);
    ck_assert_int_eq(t.shape[1], 3);
    for (int i = 0; i < 6; i++)
        ck_assert(t.data[i] == (float)i * 0.5f - 1.0f);
    va_tensor_free(&t);

    p = tpath("v2.npy");
    ck_assert_int_eq(va_test_write_file(p, np_v2_f8, sizeof np_v2_f8 - 1), 0);
    ck_assert_msg(va_npy_read(p, &t, &err) == VA_OK, "%s", err.msg);
    ck_assert_int_eq(t.ndim, 1);
    ck_assert_int_eq(t.shape[0], 3);
    ck_assert(t.data[0] == 1.5f && t.data[1] == -2.25f && t.data[2] == 0.0f); /* 1e-300 -> 0 */
    va_tensor_free(&t);

    p = tpath("v3.npy");
    ck_assert_int_eq(va_test_write_file(p, np_v3_scalar, sizeof np_v3_scalar - 1), 0);
    ck_assert_msg(va_npy_read(p, &t, &err) == VA_OK, "%s", err.msg);
    ck_assert_int_eq(t.ndim, 0);
    ck_assert(t.data[0] == 3.0f);
    va_tensor_free(&t);
}
END_TEST

/* A version 1.0 .npy with the given header dict (padded like numpy) and payload size. */
static void write_npy(const char *path, const char *dict, size_t payload) {
    char header[1024];
    size_t n = (size_t)snprintf(header, sizeof header, "%s", dict);
    while ((10 + n + 1) % 64)
        header[n++] = ' ';
    header[n++] = '\n';
    unsigned char *buf = calloc(1, 10 + n + payload + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)n;
    buf[9] = (unsigned char)(n >> 8);
    memcpy(buf + 10, header, n);
    for (size_t i = 0; i < payload / 4; i++) {
        const float v = (float)i;
        memcpy(buf + 10 + n + 4 * i, &v, 4);
    }
    ck_assert_int_eq(va_test_write_file(path, buf, 10 + n + payload), 0);
    free(buf);
}

/* float16 .npy (np.save of a float16 array) reads as safetensors F16 does: exactly, every pattern,
 * including subnormals, infinities and a NaN. */
START_TEST(test_npy_float16) {
    const size_t n = sizeof f16_cases / sizeof f16_cases[0];
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '<f2', 'fortran_order': False, 'shape': (%zu,), }",
             n + 1);
    unsigned char buf[256];
    size_t h = (size_t)snprintf((char *)buf + 10, sizeof buf - 10, "%s", dict);
    while ((10 + h + 1) % 64)
        buf[10 + h++] = ' ';
    buf[10 + h++] = '\n';
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)h;
    buf[9] = 0;
    for (size_t i = 0; i <= n; i++) {
        uint16_t v = i < n ? f16_cases[i].bits : 0x7E00; /* the last: a quiet NaN */
        buf[10 + h + 2 * i] = (unsigned char)v;
        buf[10 + h + 2 * i + 1] = (unsigned char)(v >> 8);
    }
    const char *p = tpath("f16.npy");
    ck_assert_int_eq(va_test_write_file(p, buf, 10 + h + 2 * (n + 1)), 0);
    va_tensor t;
    va_error err = {0};
    ck_assert_msg(va_npy_read(p, &t, &err) == VA_OK, "%s", err.msg);
    ck_assert_int_eq(t.ndim, 1);
    ck_assert_int_eq(t.shape[0], (int64_t)n + 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(memcmp(&t.data[i], &f16_cases[i].value, sizeof(float)) == 0,
                      "half 0x%04x read as %a, want %a", f16_cases[i].bits, (double)t.data[i],
                      (double)f16_cases[i].value);
    }
    ck_assert(isnan(t.data[n]));
    va_tensor_free(&t);
}
END_TEST

START_TEST(test_npy_header_variants) {
    /* Any key order, either quote style, odd spacing, trailing commas, Python 2 longs, '|f4'. */
    const char *ok[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}",
        "{ 'fortran_order' : False , 'shape' : ( 2 , 3L , ) , 'descr' : '|f4' }",
        "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 6)}", /* same bytes as C order */
    };
    va_error err = {0};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        const char *p = tpath("var.npy");
        write_npy(p, ok[i], 24);
        va_tensor t;
        ck_assert_msg(va_npy_read(p, &t, &err) == VA_OK, "case %zu: %s", i, err.msg);
        ck_assert_int_eq(va_numel(&t), 6);
        for (int k = 0; k < 6; k++)
            ck_assert(t.data[k] == (float)k);
        va_tensor_free(&t);
    }
    /* Trailing bytes after the data are tolerated, as numpy does. */
    const char *p = tpath("trail.npy");
    write_npy(p, ok[0], 40);
    va_tensor t;
    ck_assert_int_eq(va_npy_read(p, &t, &err), VA_OK);
    va_tensor_free(&t);
}
END_TEST

static const struct {
    const char *file, *dict;
    size_t payload;
    int status;
    const char *needle;
} bad_npy[] = {
    {"int8.npy", "{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), }", 6,
     VA_ERR_UNSUPPORTED, "'|i1' (int8)"},
    {"be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24,
     VA_ERR_UNSUPPORTED, "'>f4' (float32 big-endian)"},
    {"f16be.npy", "{'descr': '>f2', 'fortran_order': False, 'shape': (2, 3), }", 12,
     VA_ERR_UNSUPPORTED, "'>f2' (float16 big-endian)"},
    {"obj.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16, VA_ERR_UNSUPPORTED,
     "object"},
    {"struct.npy",
     "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (2,), }", 16,
     VA_ERR_UNSUPPORTED, "structured"},
    {"fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24,
     VA_ERR_UNSUPPORTED, "Fortran"},
    {"trunc.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20, VA_ERR_FORMAT,
     "needs 24 bytes"},
    {"short1.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 23, VA_ERR_FORMAT,
     "needs 24 bytes but the file holds 23"},
    {"absurd.npy",
     "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000, 100000), }", 0,
     VA_ERR_FORMAT, "truncated"},
    {"overflow.npy",
     "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 0,
     VA_ERR_FORMAT, "overflow"},
    {"overflow0.npy",
     "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4), }", 0,
     VA_ERR_FORMAT, "overflow"},
    {"bytes.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", 0,
     VA_ERR_FORMAT, "too large"},
    {"hugedim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
     0, VA_ERR_FORMAT, "too large"},
    {"negdim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", 0, VA_ERR_FORMAT,
     "negative"},
    {"ndim7.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1), }", 4,
     VA_ERR_UNSUPPORTED, "7 dimensions"},
    {"nokey.npy", "{'descr': '<f4', 'shape': (2, 3), }", 24, VA_ERR_FORMAT, "fortran_order"},
    {"extra.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 24,
     VA_ERR_FORMAT, "'x'"},
    {"twice.npy", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 24,
     VA_ERR_FORMAT, "repeats"},
    {"list.npy", "['descr', '<f4']", 24, VA_ERR_FORMAT, "not a Python dict"},
    {"shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", 24, VA_ERR_FORMAT,
     "shape"},
    {"unterm.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", 24, VA_ERR_FORMAT,
     "malformed"},
    {"fo.npy", "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", 24, VA_ERR_FORMAT,
     "True or False"},
    {"after.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} junk", 24,
     VA_ERR_FORMAT, "after the dict"},
};

START_TEST(test_npy_hostile) {
    for (size_t i = 0; i < sizeof bad_npy / sizeof *bad_npy; i++) {
        const char *p = tpath(bad_npy[i].file);
        write_npy(p, bad_npy[i].dict, bad_npy[i].payload);
        expect_npy_fail(p, bad_npy[i].status, bad_npy[i].needle);
    }
    const char *p = tpath("empty.npy");
    ck_assert_int_eq(va_test_write_file(p, "", 0), 0);
    expect_npy_fail(p, VA_ERR_FORMAT, "empty");
    p = tpath("magic.npy");
    ck_assert_int_eq(va_test_write_file(p, "\x93NUMPX\x01\x00\x00\x00", 10), 0);
    expect_npy_fail(p, VA_ERR_FORMAT, "magic");
    p = tpath("v4.npy");
    ck_assert_int_eq(va_test_write_file(p, "\x93NUMPY\x04\x00\x00\x00\x00\x00", 12), 0);
    expect_npy_fail(p, VA_ERR_UNSUPPORTED, "4.0");
    p = tpath("hlen.npy");
    ck_assert_int_eq(va_test_write_file(p, "\x93NUMPY\x01\x00\xff\xff{}", 12), 0);
    expect_npy_fail(p, VA_ERR_FORMAT, "65535");
    p = tpath("hlen2.npy");
    ck_assert_int_eq(va_test_write_file(p, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14), 0);
    expect_npy_fail(p, VA_ERR_FORMAT, "implausible");
    expect_npy_fail(tpath("missing.npy"), VA_ERR_IO, NULL);
}
END_TEST

START_TEST(test_npy_truncated_everywhere) {
    const struct {
        const unsigned char *bytes;
        size_t len;
    } files[] = {{np_v1, sizeof np_v1 - 1}, {np_v2_f8, sizeof np_v2_f8 - 1}};
    const char *p = tpath("cut.npy");
    for (size_t f = 0; f < 2; f++) {
        for (size_t n = 0; n < files[f].len; n++) {
            ck_assert_int_eq(va_test_write_file(p, files[f].bytes, n), 0);
            expect_npy_fail(p, VA_ERR_FORMAT, NULL);
        }
    }
}
END_TEST

START_TEST(test_npy_random_corruption) {
    uint32_t seed = 777;
    static const char subst[] = "0123456789-(),:' <>|fiTFL{}";
    unsigned char buf[sizeof np_v1];
    const char *p = tpath("fz.npy");
    va_error err = {0};
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, np_v1, sizeof np_v1 - 1);
        int edits = 1 + (int)(xorshift(&seed) % 3);
        for (int k = 0; k < edits; k++) {
            /* Mostly the header, where the parser lives. */
            size_t at = xorshift(&seed) % 128;
            uint32_t r = xorshift(&seed);
            buf[at] = (r & 1) ? (unsigned char)subst[(r >> 1) % (sizeof subst - 1)]
                              : (unsigned char)(r >> 8);
        }
        ck_assert_int_eq(va_test_write_file(p, buf, sizeof np_v1 - 1), 0);
        va_tensor t;
        if (va_npy_read(p, &t, &err) == VA_OK) {
            ck_assert(va_numel(&t) * 4 <= (int64_t)sizeof buf);
            va_tensor_free(&t);
        } else {
            ck_assert_msg(va_test_msg_ok(err.msg, "fz.npy"), "'%s'", err.msg);
        }
    }
}
END_TEST

START_TEST(test_npy_write_errors) {
    va_error err = {0};
    va_tensor t = {0};
    t.ndim = 2;
    t.shape[0] = -1;
    t.shape[1] = 2;
    ck_assert_int_eq(va_npy_write(tpath("neg.npy"), &t, &err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "neg.npy"));
    t.shape[0] = 2;
    ck_assert_int_eq(va_npy_write(tpath("null.npy"), &t, &err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "null.npy"));
    float x[4] = {0};
    t.data = x;
    ck_assert_int_eq(va_npy_write(tpath("no/dir/y.npy"), &t, &err), VA_ERR_IO);
    ck_assert(va_test_msg_ok(err.msg, "y.npy"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("io");
    TCase *st = tcase_create("safetensors");
    tcase_add_checked_fixture(st, tmp_setup, tmp_teardown);
    tcase_set_timeout(st, 120);
    tcase_add_test(st, test_st_round_trip);
    tcase_add_test(st, test_st_write_empty_and_errors);
    tcase_add_test(st, test_st_f16_bf16_conversion);
    tcase_add_test(st, test_st_f16_exhaustive);
    tcase_add_test(st, test_st_unaligned_f32);
    tcase_add_test(st, test_st_short_files);
    tcase_add_test(st, test_st_bad_header_length);
    tcase_add_test(st, test_st_bad_headers);
    tcase_add_test(st, test_st_accepts_valid_oddities);
    tcase_add_test(st, test_st_truncated_everywhere);
    tcase_add_test(st, test_st_random_corruption);
    suite_add_tcase(s, st);

    TCase *wt = tcase_create("weights");
    tcase_add_checked_fixture(wt, tmp_setup, tmp_teardown);
    tcase_add_test(wt, test_weights_lookup);
    tcase_add_test(wt, test_weights_ignore_num_batches_tracked);
    suite_add_tcase(s, wt);

    TCase *np = tcase_create("npy");
    tcase_add_checked_fixture(np, tmp_setup, tmp_teardown);
    tcase_set_timeout(np, 120);
    tcase_add_test(np, test_npy_round_trip);
    tcase_add_test(np, test_npy_numpy_files);
    tcase_add_test(np, test_npy_float16);
    tcase_add_test(np, test_npy_header_variants);
    tcase_add_test(np, test_npy_hostile);
    tcase_add_test(np, test_npy_truncated_everywhere);
    tcase_add_test(np, test_npy_random_corruption);
    tcase_add_test(np, test_npy_write_errors);
    suite_add_tcase(s, np);

    return va_test_run(s);
}
