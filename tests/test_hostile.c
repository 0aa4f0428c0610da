/* The hostile-input table: files a user might hand visattn, mangled every way we could think of,
 * run end to end through the calls a program makes (va_block_load_file, va_st_open, va_npy_read,
 * va_block_out_shape + va_block_forward, and libvisattn_vis's va_image_load + va_image_to_input).
 *
 * Every row starts from a small valid file made here with the library's own writers (va_st_write
 * with metadata, va_npy_write, va_image_write_png), applies one mutation, and states the outcome:
 *   - an error: non-OK status (the expected one where the API documents it), no object returned,
 *     a one-line message naming the file and containing a detail (the key, the dtype, ...);
 *   - or a result: the file loads and a forward pass on a valid input succeeds with the right
 *     output shape, and where we can say what the numbers must be (a double-precision reference
 *     written here for `se` and `conv_bn`; NaN/Inf patterns that follow from IEEE arithmetic),
 *     they are checked.
 * The sweeps truncate the small files at every byte and flip every byte (xor 0xFF and 0x01).
 *
 * Guards that hold for every row:
 *   - each row runs in its own process (Check's fork mode, forced in main) with a Check timeout,
 *     so a crash or a hang fails that row alone and names it;
 *   - every allocation made by libvisattn.a, libvisattn_vis.a and this file goes through the
 *     wrappers below (linked with -Wl,--wrap, tests/CMakeLists.txt). A request over ALLOC_CAP is
 *     refused (the call sees an out-of-memory) and fails the row: a file of a few KB must never
 *     make the library reach for gigabytes, whatever its config claims. */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "visattn/vis.h"
#include "visattn/visattn.h"

/* Check's assertions only work inside a test; the valid files are made in main, before the tests
 * run, so the code shared by both checks with this. */
static int g_in_main = 1;
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (g_in_main) {                                                                           \
            if (!(cond)) {                                                                         \
                fprintf(stderr, "test_hostile setup: " __VA_ARGS__);                               \
                fputc('\n', stderr);                                                               \
                exit(EXIT_FAILURE);                                                                \
            }                                                                                      \
        } else {                                                                                   \
            ck_assert_msg(cond, __VA_ARGS__);                                                      \
        }                                                                                          \
    } while (0)

/* ---- Allocation guard ------------------------------------------------------------------------ */

/* No row needs anywhere near this much in one piece: the valid files are a few KB, the inputs a
 * few hundred floats. */
#define ALLOC_CAP ((size_t)256 << 20)

static atomic_size_t g_biggest_request; /* largest single request of the current row */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);

/* Record the request; 1 if it is refused. */
static int too_big(size_t n) {
    size_t seen = atomic_load(&g_biggest_request);
    while (n > seen && !atomic_compare_exchange_weak(&g_biggest_request, &seen, n)) {
    }
    return n > ALLOC_CAP;
}

void *__wrap_malloc(size_t n) {
    return too_big(n) ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
    size_t total = (size && n > SIZE_MAX / size) ? SIZE_MAX : n * size;
    return too_big(total) ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
    return too_big(n) ? NULL : __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
    return too_big(n) ? NULL : __real_aligned_alloc(align, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n) {
    if (too_big(n)) return ENOMEM;
    return __real_posix_memalign(p, align, n);
}

static void alloc_reset(void) {
    atomic_store(&g_biggest_request, 0);
}

#define ck_assert_alloc_ok(row, file_len)                                                          \
    ck_assert_msg(atomic_load(&g_biggest_request) <= ALLOC_CAP,                                    \
                  "row '%s': the library asked for %zu bytes at once (cap %zu) for a file of %zu " \
                  "bytes",                                                                         \
                  (row), (size_t)atomic_load(&g_biggest_request), ALLOC_CAP, (size_t)(file_len))

/* ---- Files ----------------------------------------------------------------------------------- */

static char g_dir[64]; /* made in main, before any row runs (rows run in child processes) */

/* A path in the scratch directory (a ring, so a few can be live at once). */
static const char *tpath(const char *name) {
    static char ring[8][600];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", g_dir, name);
    return p;
}

static void put_file(const char *path, const void *p, size_t len) {
    /* A new file each time: ext4 flushes a file rewritten after truncation on close, which made
     * the sweeps 50x slower. */
    remove(path);
    REQUIRE(va_test_write_file(path, p, len) == 0, "cannot write %s", path);
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL, "cannot open %s", path);
    REQUIRE(fseek(f, 0, SEEK_END) == 0, "cannot seek %s", path);
    long n = ftell(f);
    REQUIRE(n >= 0, "ftell");
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    REQUIRE(b != NULL, "out of memory");
    REQUIRE(fread(b, 1, (size_t)n, f) == (size_t)n, "short read");
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (remove(p) != 0) remove_tree(p);
    }
    closedir(d);
    rmdir(dir);
}

static uint64_t get_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void set_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Messages: one line, naming the file (or, for errors about a tensor shape fed to a block, the
 * block), and containing `needle`: one or more alternatives separated by '|'. */
static int has_any(const char *msg, const char *needle) {
    if (!needle) return 1;
    char alt[256];
    const char *p = needle;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n >= sizeof alt) n = sizeof alt - 1;
        memcpy(alt, p, n);
        alt[n] = '\0';
        if (strstr(msg, alt)) return 1;
        if (!bar) return 0;
        p = bar + 1;
    }
}

static void ck_assert_message(const char *row, const char *msg, const char *names,
                              const char *needle) {
    ck_assert_msg(va_test_msg_ok(msg, NULL), "row '%s': message is empty or not one line: '%s'",
                  row, msg);
    ck_assert_msg(strstr(msg, names) != NULL, "row '%s': message does not name '%s': '%s'", row,
                  names, msg);
    ck_assert_msg(has_any(msg, needle), "row '%s': message lacks '%s': '%s'", row,
                  needle ? needle : "", msg);
}

/* ---- Numbers --------------------------------------------------------------------------------- */

static int all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* got (float) against a double reference: NaN where it is NaN, the same infinity, else close. */
static int close_to(float got, double want) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return isinf(got) && (got > 0) == (want > 0);
    return isfinite(got) && fabs((double)got - want) <= 1e-5 + 1e-4 * fabs(want);
}

/* IEEE binary16 and bfloat16 to double, written from the formats' definitions (not the library's
 * converters), for references computed from F16/BF16 files. */
static double half_value(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v;
    if (exp == 0)
        v = ldexp(mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexp(1024 + mant, exp - 25);
    return sign ? -v : v;
}

static double bf16_value(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float le_f32(const unsigned char *p) {
    uint32_t bits =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void put_le_f32(unsigned char *p, float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(bits >> (8 * i));
}

static float parse_value(const char *s) {
    char *end;
    float v = strtof(s, &end);
    ck_assert_msg(*s && !*end, "bad planted value '%s'", s);
    return v;
}

/* ---- The valid files every row starts from --------------------------------------------------- */

enum { SE, CBN, BB, IRMB, NBASES };

/* se: C = 4, S = 2. conv_bn: 2 -> 3 channels, 3x3, padding 1. backbone: 1 input channel, stem 4,
 * stages of widths 4 and 6 (strides 2 and 1) each with an se block, 3 classes. */
#define SE_C 4
#define SE_S 2
#define CBN_CI 2
#define CBN_CO 3

typedef struct tensor_spec {
    const char *name;
    int ndim;
    int64_t shape[4];
    int kind; /* 0: weights in [-1, 1); 1: BN running_var in [0.5, 1.5) */
} tensor_spec;

static const tensor_spec se_tensors[] = {
    {"fc1.weight", 4, {SE_S, SE_C, 1, 1}, 0},
    {"fc1.bias", 1, {SE_S}, 0},
    {"fc2.weight", 4, {SE_C, SE_S, 1, 1}, 0},
    {"fc2.bias", 1, {SE_C}, 0},
    {NULL, 0, {0}, 0},
};

static const tensor_spec cbn_tensors[] = {
    {"conv.weight", 4, {CBN_CO, CBN_CI, 3, 3}, 0},
    {"conv.bias", 1, {CBN_CO}, 0},
    {"bn.weight", 1, {CBN_CO}, 0},
    {"bn.bias", 1, {CBN_CO}, 0},
    {"bn.running_mean", 1, {CBN_CO}, 0},
    {"bn.running_var", 1, {CBN_CO}, 1},
    {NULL, 0, {0}, 0},
};

#define BN4(p, c)                                                                                  \
    {p "bn.weight", 1, {c}, 0}, {p "bn.bias", 1, {c}, 0}, {p "bn.running_mean", 1, {c}, 0}, {      \
        p "bn.running_var", 1, {c}, 1                                                              \
    }
static const tensor_spec bb_tensors[] = {
    {"stem.conv.weight", 4, {4, 1, 3, 3}, 0},
    BN4("stem.", 4),
    {"stages.0.layers.0.conv.weight", 4, {4, 4, 3, 3}, 0},
    BN4("stages.0.layers.0.", 4),
    {"stages.0.attn.fc1.weight", 4, {2, 4, 1, 1}, 0},
    {"stages.0.attn.fc1.bias", 1, {2}, 0},
    {"stages.0.attn.fc2.weight", 4, {4, 2, 1, 1}, 0},
    {"stages.0.attn.fc2.bias", 1, {4}, 0},
    {"stages.1.layers.0.conv.weight", 4, {6, 4, 3, 3}, 0},
    BN4("stages.1.layers.0.", 6),
    {"stages.1.attn.fc1.weight", 4, {3, 6, 1, 1}, 0},
    {"stages.1.attn.fc1.bias", 1, {3}, 0},
    {"stages.1.attn.fc2.weight", 4, {6, 3, 1, 1}, 0},
    {"stages.1.attn.fc2.bias", 1, {6}, 0},
    {"fc.weight", 2, {3, 6}, 0},
    {"fc.bias", 1, {3}, 0},
    {NULL, 0, {0}, 0},
};

/* irmb (docs/blocks/irmb.md): C = M = 4, 2 heads of 2 channels, 2 x 2 windows, residual. */
static const tensor_spec irmb_tensors[] = {
    {"norm.weight", 1, {4}, 0},
    {"norm.bias", 1, {4}, 0},
    {"norm.running_mean", 1, {4}, 0},
    {"norm.running_var", 1, {4}, 1},
    {"qk.conv.weight", 4, {8, 4, 1, 1}, 0},
    {"v.conv.weight", 4, {4, 4, 1, 1}, 0},
    {"conv_local.conv.weight", 4, {4, 1, 3, 3}, 0},
    {"conv_local.norm.weight", 1, {4}, 0},
    {"conv_local.norm.bias", 1, {4}, 0},
    {"conv_local.norm.running_mean", 1, {4}, 0},
    {"conv_local.norm.running_var", 1, {4}, 1},
    {"proj.conv.weight", 4, {4, 4, 1, 1}, 0},
    {NULL, 0, {0}, 0},
};

static const char *const se_config = "{\"input_channels\": 4, \"squeeze_channels\": 2}";
static const char *const cbn_config =
    "{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"padding\": 1}";
static const char *const irmb_config =
    "{\"dim_in\": 4, \"dim_out\": 4, \"dim_head\": 2, \"window_size\": 2}";
static const char *const bb_config =
    "{\"in_channels\": 1, \"num_classes\": 3, \"stem_width\": 4, \"widths\": [4, 6], "
    "\"depths\": [1, 1], \"strides\": [2, 1], \"attention\": \"se\", \"attention_reduction\": 2, "
    "\"input_size\": [8, 8], \"mean\": [0.5], \"std\": [0.25]}";

typedef struct base_file {
    const char *what; /* "se", "conv_bn", "backbone" */
    const char *path;
    unsigned char *bytes;
    size_t len;
    size_t data_start; /* 8 + header length */
    int64_t in[4], out[4];
    float *x; /* a valid input */
} base_file;

static base_file g_base[NBASES];

static void make_base(int which, const char *kind_key, const char *what, const char *config,
                      const tensor_spec *spec, const int64_t in[4], const int64_t out[4],
                      uint32_t seed) {
    base_file *b = &g_base[which];
    va_error err = {0};
    va_st_tensor_in t[32];
    float *data[32];
    size_t n = 0;
    for (; spec[n].name; n++) {
        int64_t numel = 1;
        for (int d = 0; d < spec[n].ndim; d++)
            numel *= spec[n].shape[d];
        data[n] = malloc((size_t)numel * sizeof(float));
        REQUIRE(data[n] != NULL, "out of memory");
        va_test_fill_random(data[n], numel, seed + (uint32_t)n * 7919u);
        if (spec[n].kind == 1)
            for (int64_t i = 0; i < numel; i++)
                data[n][i] = 1.0f + 0.5f * data[n][i];
        t[n] = (va_st_tensor_in){spec[n].name, spec[n].ndim, spec[n].shape, data[n]};
    }
    char name[64];
    snprintf(name, sizeof name, "base_%s.safetensors", what);
    b->what = what;
    b->path = strdup(tpath(name));
    const char *mk[] = {kind_key, "visattn.config"}, *mv[] = {what, config};
    REQUIRE(va_st_write(b->path, t, n, mk, mv, 2, &err) == VA_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        free(data[i]);
    b->bytes = slurp(b->path, &b->len);
    b->data_start = 8 + (size_t)get_le64(b->bytes);
    memcpy(b->in, in, sizeof b->in);
    memcpy(b->out, out, sizeof b->out);
    int64_t m = in[0] * in[1] * in[2] * in[3];
    b->x = malloc((size_t)m * sizeof(float));
    REQUIRE(b->x != NULL, "out of memory");
    va_test_fill_random(b->x, m, seed ^ 0xABCDu);
}

static void make_bases(void) {
    const int64_t se_in[4] = {2, SE_C, 5, 3}, cbn_in[4] = {2, CBN_CI, 5, 6},
                  cbn_out[4] = {2, CBN_CO, 5, 6}, bb_in[4] = {2, 1, 8, 8}, bb_out[4] = {2, 3, 1, 1};
    make_base(SE, "visattn.block", "se", se_config, se_tensors, se_in, se_in, 11);
    make_base(CBN, "visattn.model", "conv_bn", cbn_config, cbn_tensors, cbn_in, cbn_out, 22);
    make_base(BB, "visattn.model", "backbone", bb_config, bb_tensors, bb_in, bb_out, 33);
    make_base(IRMB, "visattn.block", "irmb", irmb_config, irmb_tensors, se_in, se_in, 44);
}

/* ---- A safetensors file as header tree + data, for surgery ----------------------------------- */

typedef struct stfile {
    cJSON *hdr;
    unsigned char *data;
    size_t dlen;
} stfile;

static void st_split(const unsigned char *p, size_t len, stfile *f) {
    ck_assert_uint_ge(len, 8);
    uint64_t h = get_le64(p);
    ck_assert_uint_le(h, len - 8);
    f->hdr = cJSON_ParseWithLength((const char *)p + 8, (size_t)h);
    ck_assert_ptr_nonnull(f->hdr);
    f->dlen = len - 8 - (size_t)h;
    f->data = malloc(f->dlen + 1);
    ck_assert_ptr_nonnull(f->data);
    memcpy(f->data, p + 8 + h, f->dlen);
}

static void st_free(stfile *f) {
    cJSON_Delete(f->hdr);
    free(f->data);
}

/* The [begin, end) of a tensor in the data section, as the (possibly edited) header says. */
static int st_range(const stfile *f, const char *name, size_t *begin, size_t *end) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(f->hdr, name);
    const cJSON *o = e ? cJSON_GetObjectItemCaseSensitive(e, "data_offsets") : NULL;
    if (!cJSON_IsArray(o) || cJSON_GetArraySize(o) != 2) return -1;
    double a = cJSON_GetArrayItem(o, 0)->valuedouble, b = cJSON_GetArrayItem(o, 1)->valuedouble;
    if (!(a >= 0 && a <= b && b <= (double)f->dlen)) return -1;
    *begin = (size_t)a, *end = (size_t)b;
    return 0;
}

/* A tensor's values as doubles, decoded here from the raw bytes (F32, F16 or BF16). */
static int st_values(const stfile *f, const char *name, double *out, size_t n) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(f->hdr, name);
    const cJSON *dt = e ? cJSON_GetObjectItemCaseSensitive(e, "dtype") : NULL;
    size_t begin, end;
    if (!cJSON_IsString(dt) || st_range(f, name, &begin, &end)) return -1;
    const unsigned char *p = f->data + begin;
    if (!strcmp(dt->valuestring, "F32") && end - begin == 4 * n) {
        for (size_t i = 0; i < n; i++)
            out[i] = le_f32(p + 4 * i);
    } else if ((!strcmp(dt->valuestring, "F16") || !strcmp(dt->valuestring, "BF16")) &&
               end - begin == 2 * n) {
        int half = !strcmp(dt->valuestring, "F16");
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            out[i] = half ? half_value(h) : bf16_value(h);
        }
    } else {
        return -1;
    }
    return 0;
}

/* ---- Edits ----------------------------------------------------------------------------------- */

typedef enum edit_op {
    E_END = 0,
    E_SET,          /* entry[.field] = raw JSON `value` (created if absent) */
    E_SET_STR,      /* entry[.field] = the JSON string `value` */
    E_DEL,          /* delete entry[.field] */
    E_ADD,          /* append entry[.field] = raw JSON `value`, even if the name exists */
    E_POKE,         /* F32 element `num` of tensor `entry` = value ("nan", "inf", "-1.5") */
    E_DROP_TENSORS, /* every tensor entry and the data go; metadata stays */
    E_MANY_EMPTY,   /* append `num` empty tensors "extra.<i>" of shape [0] */
    E_HLEN,         /* the length field says `num` */
    E_HLEN_PLUS,    /* the length field says the real length + `num` */
    E_PAD_TO,       /* the header is padded with spaces to `num` bytes */
    E_DATA_CUT,     /* the data section loses its last `num` bytes */
    E_DATA_ADD,     /* the data section gains `num` zero bytes */
    E_GROW_TO,      /* the file is extended (sparse) to `num` bytes */
    E_CFG_SET,      /* in the visattn.config JSON: key `entry` = raw JSON `value` */
} edit_op;

typedef struct edit {
    edit_op op;
    const char *entry, *field, *value;
    long long num;
    char *(*gen)(void); /* makes `value` (malloc'ed) when it is too big to write down */
} edit;

// clang-format off
#define SET(e, f, v) {E_SET, e, f, v, 0, NULL}
#define SETS(e, f, v) {E_SET_STR, e, f, v, 0, NULL}
#define DEL(e, f) {E_DEL, e, f, NULL, 0, NULL}
#define ADD(e, f, v) {E_ADD, e, f, v, 0, NULL}
#define POKE(e, i, v) {E_POKE, e, NULL, v, i, NULL}
#define OPN(op, n) {op, NULL, NULL, NULL, n, NULL}
#define GEN(op, e, f, g) {op, e, f, NULL, 0, g}
#define CKEY(k, v) {E_CFG_SET, k, NULL, v, 0, NULL}
// clang-format on
#define META(k, v) SETS("__metadata__", k, v)
#define CFG(v) META("visattn.config", v)
#define SHAPE(e, v) SET(e, "shape", v)
#define OFFS(e, v) SET(e, "data_offsets", v)
#define DTYPE(e, v) SETS(e, "dtype", v)

typedef struct layout {
    int set_len;
    unsigned long long len;
    long long len_plus;
    size_t pad_to, cut, add, grow_to;
} layout;

static void apply_edit(stfile *f, const edit *e, layout *lay) {
    char *made = e->gen ? e->gen() : NULL;
    const char *value = made ? made : e->value;
    cJSON *root = f->hdr;
    switch (e->op) {
    case E_END: break;
    case E_SET:
    case E_SET_STR: {
        cJSON *item = e->op == E_SET ? cJSON_CreateRaw(value) : cJSON_CreateString(value);
        ck_assert_ptr_nonnull(item);
        cJSON *obj = root;
        const char *key = e->entry;
        if (e->field) {
            obj = cJSON_GetObjectItemCaseSensitive(root, e->entry);
            if (!obj) {
                obj = cJSON_CreateObject();
                cJSON_AddItemToObject(root, e->entry, obj);
            }
            key = e->field;
        }
        if (cJSON_GetObjectItemCaseSensitive(obj, key))
            cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
        else
            cJSON_AddItemToObject(obj, key, item);
        break;
    }
    case E_DEL:
        if (e->field)
            cJSON_DeleteItemFromObjectCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(root, e->entry), e->field);
        else
            cJSON_DeleteItemFromObjectCaseSensitive(root, e->entry);
        break;
    case E_ADD: {
        cJSON *obj = e->field ? cJSON_GetObjectItemCaseSensitive(root, e->entry) : root;
        ck_assert_ptr_nonnull(obj);
        cJSON_AddItemToObject(obj, e->field ? e->field : e->entry, cJSON_CreateRaw(value));
        break;
    }
    case E_POKE: {
        size_t begin, end;
        ck_assert_int_eq(st_range(f, e->entry, &begin, &end), 0);
        ck_assert_uint_le(begin + 4 * (size_t)e->num + 4, end);
        put_le_f32(f->data + begin + 4 * (size_t)e->num, parse_value(value));
        break;
    }
    case E_DROP_TENSORS: {
        cJSON *it = root->child;
        while (it) {
            cJSON *next = it->next;
            if (strcmp(it->string, "__metadata__") != 0)
                cJSON_Delete(cJSON_DetachItemViaPointer(root, it));
            it = next;
        }
        f->dlen = 0;
        break;
    }
    case E_MANY_EMPTY:
        for (long long i = 0; i < e->num; i++) {
            char name[32];
            snprintf(name, sizeof name, "extra.%lld", i);
            cJSON_AddItemToObject(
                root, name,
                cJSON_CreateRaw("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}"));
        }
        break;
    case E_HLEN: lay->set_len = 1, lay->len = (unsigned long long)e->num; break;
    case E_HLEN_PLUS: lay->len_plus = e->num; break;
    case E_PAD_TO: lay->pad_to = (size_t)e->num; break;
    case E_DATA_CUT: lay->cut = (size_t)e->num; break;
    case E_DATA_ADD: lay->add = (size_t)e->num; break;
    case E_GROW_TO: lay->grow_to = (size_t)e->num; break;
    case E_CFG_SET: {
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
        cJSON *cs = cJSON_GetObjectItemCaseSensitive(meta, "visattn.config");
        ck_assert(cJSON_IsString(cs));
        cJSON *cfg = cJSON_Parse(cs->valuestring);
        ck_assert_ptr_nonnull(cfg);
        cJSON *item = cJSON_CreateRaw(value);
        if (cJSON_GetObjectItemCaseSensitive(cfg, e->entry))
            cJSON_ReplaceItemInObjectCaseSensitive(cfg, e->entry, item);
        else
            cJSON_AddItemToObject(cfg, e->entry, item);
        char *text = cJSON_PrintUnformatted(cfg);
        ck_assert_ptr_nonnull(text);
        cJSON_ReplaceItemInObjectCaseSensitive(meta, "visattn.config", cJSON_CreateString(text));
        free(text);
        cJSON_Delete(cfg);
        break;
    }
    }
    free(made);
}

/* Write the edited file; returns its length. */
static size_t st_write_edited(const stfile *f, const layout *lay, const char *path) {
    char *text = cJSON_PrintUnformatted(f->hdr);
    ck_assert_ptr_nonnull(text);
    size_t hlen = strlen(text), total_h = hlen > lay->pad_to ? hlen : lay->pad_to;
    ck_assert_uint_le(lay->cut, f->dlen);
    size_t dlen = f->dlen - lay->cut + lay->add;
    size_t len = 8 + total_h + dlen;
    unsigned char *out = calloc(len, 1);
    ck_assert_ptr_nonnull(out);
    uint64_t field = lay->set_len ? lay->len : (uint64_t)((long long)total_h + lay->len_plus);
    set_le64(out, field);
    memcpy(out + 8, text, hlen);
    memset(out + 8 + hlen, ' ', total_h - hlen);
    memcpy(out + 8 + total_h, f->data, f->dlen - lay->cut);
    put_file(path, out, len);
    free(out);
    free(text);
    if (lay->grow_to > len) {
        ck_assert_int_eq(truncate(path, (off_t)lay->grow_to), 0);
        len = lay->grow_to;
    }
    return len;
}

/* ---- Running a block on an input ------------------------------------------------------------- */

/* out_shape then forward; on success *y holds the output (free with va_tensor_free). */
static va_status run_block(va_block *b, const va_tensor *x, va_tensor *y, int64_t out[4],
                           va_error *err) {
    memset(y, 0, sizeof *y);
    if (x->ndim != 4) {
        /* What a caller gets who passes a tensor of the wrong rank straight to forward. */
        va_tensor dummy;
        va_status s = va_tensor_alloc4(&dummy, 1, 1, 1, 1, err);
        if (s != VA_OK) return s;
        va_run *r;
        s = va_run_create(&r, err);
        if (s == VA_OK) s = va_block_forward(b, r, x, &dummy, err);
        va_run_destroy(r);
        va_tensor_free(&dummy);
        ck_assert_msg(s != VA_OK, "forward accepted a %d-D input", x->ndim);
        return s;
    }
    VA_TRY(va_block_out_shape(b, x->shape, out, err));
    for (int i = 0; i < 4; i++)
        ck_assert_msg(out[i] >= 0, "out_shape gave a negative dimension %lld", (long long)out[i]);
    VA_TRY(va_tensor_alloc(y, 4, out, err));
    va_run *r;
    va_status s = va_run_create(&r, err);
    if (s == VA_OK) s = va_block_forward(b, r, x, y, err);
    if (s != VA_OK) {
        va_run_destroy(r);
        va_tensor_free(y);
        return s;
    }
    /* Maps and cost must be readable after any successful forward. */
    volatile float sink = 0.0f;
    for (int i = 0; i < va_run_num_maps(r); i++) {
        const va_map *m = va_run_map(r, i);
        int64_t n = va_numel(&m->t);
        for (int64_t k = 0; k < n; k++)
            sink += m->t.data[k];
    }
    (void)sink;
    va_run_destroy(r);
    va_cost cost;
    ck_assert_msg(va_block_cost(b, x->shape, &cost, err) == VA_OK, "cost after forward: %s",
                  err->msg);
    ck_assert(cost.params > 0 && (cost.flops > 0 || x->shape[0] == 0)); /* N = 0: no work */
    return VA_OK;
}

static void view_input(va_tensor *x, const base_file *b, float *data) {
    memset(x, 0, sizeof *x);
    va_tensor_view4(x, data, b->in[0], b->in[1], b->in[2], b->in[3]);
}

/* The base model's output on its base input, from its unmodified file. */
static float *clean_output(int which) {
    const base_file *bf = &g_base[which];
    va_error err = {0};
    va_block *b;
    ck_assert_msg(va_block_load_file(bf->path, &b, &err) == VA_OK, "%s", err.msg);
    va_tensor x, y;
    int64_t out[4];
    view_input(&x, bf, bf->x);
    ck_assert_msg(run_block(b, &x, &y, out, &err) == VA_OK, "%s", err.msg);
    va_block_destroy(b);
    return y.data; /* va_tensor_alloc storage: release with va_aligned_free */
}

/* ---- References in double precision, from the bytes of the file under test ------------------- */

/* torchvision SqueezeExcitation with the default ReLU and sigmoid (docs/blocks/se.md). ReLU keeps
 * NaN, as torch.relu does. */
static void se_reference(const stfile *f, const float *x, const int64_t in[4], double *y) {
    double w1[SE_S * SE_C], b1[SE_S], w2[SE_C * SE_S], b2[SE_C];
    ck_assert_int_eq(st_values(f, "fc1.weight", w1, SE_S * SE_C), 0);
    ck_assert_int_eq(st_values(f, "fc1.bias", b1, SE_S), 0);
    ck_assert_int_eq(st_values(f, "fc2.weight", w2, SE_C * SE_S), 0);
    ck_assert_int_eq(st_values(f, "fc2.bias", b2, SE_C), 0);
    const int64_t n = in[0], c = in[1], hw = in[2] * in[3];
    ck_assert_int_eq(c, SE_C);
    for (int64_t s = 0; s < n; s++) {
        double p[SE_C], h[SE_S];
        for (int64_t k = 0; k < c; k++) {
            double sum = 0;
            for (int64_t i = 0; i < hw; i++)
                sum += x[(s * c + k) * hw + i];
            p[k] = sum / (double)hw;
        }
        for (int j = 0; j < SE_S; j++) {
            double v = b1[j];
            for (int k = 0; k < SE_C; k++)
                v += w1[j * SE_C + k] * p[k];
            h[j] = v < 0 ? 0 : v;
        }
        for (int k = 0; k < SE_C; k++) {
            double z = b2[k];
            for (int j = 0; j < SE_S; j++)
                z += w2[k * SE_S + j] * h[j];
            double scale = 1.0 / (1.0 + exp(-z));
            for (int64_t i = 0; i < hw; i++)
                y[(s * c + k) * hw + i] = x[(s * c + k) * hw + i] * scale;
        }
    }
}

/* nn.Conv2d(2, 3, 3, padding=1) then nn.BatchNorm2d(3) in eval mode, unfused; eps from the
 * file's config (default 1e-5). Padding taps are skipped (they add 0 * w). */
static void cbn_reference(const stfile *f, const float *x, const int64_t in[4], double *y) {
    double w[CBN_CO * CBN_CI * 9], b[CBN_CO], g[CBN_CO], beta[CBN_CO], mean[CBN_CO], var[CBN_CO];
    ck_assert_int_eq(st_values(f, "conv.weight", w, CBN_CO * CBN_CI * 9), 0);
    ck_assert_int_eq(st_values(f, "conv.bias", b, CBN_CO), 0);
    ck_assert_int_eq(st_values(f, "bn.weight", g, CBN_CO), 0);
    ck_assert_int_eq(st_values(f, "bn.bias", beta, CBN_CO), 0);
    ck_assert_int_eq(st_values(f, "bn.running_mean", mean, CBN_CO), 0);
    ck_assert_int_eq(st_values(f, "bn.running_var", var, CBN_CO), 0);
    double eps = 1e-5;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->hdr, "__metadata__");
    const cJSON *cfgs = cJSON_GetObjectItemCaseSensitive(meta, "visattn.config");
    cJSON *cfg = cJSON_IsString(cfgs) ? cJSON_Parse(cfgs->valuestring) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cfg, "eps");
    if (cJSON_IsNumber(e)) eps = e->valuedouble;
    cJSON_Delete(cfg);
    const int64_t n = in[0], h = in[2], wd = in[3];
    ck_assert_int_eq(in[1], CBN_CI);
    for (int64_t s = 0; s < n; s++)
        for (int o = 0; o < CBN_CO; o++)
            for (int64_t r = 0; r < h; r++)
                for (int64_t q = 0; q < wd; q++) {
                    double v = b[o];
                    for (int i = 0; i < CBN_CI; i++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int64_t yy = r + ky - 1, xx = q + kx - 1;
                                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                                v += w[((o * CBN_CI + i) * 3 + ky) * 3 + kx] *
                                     x[((s * CBN_CI + i) * h + yy) * wd + xx];
                            }
                    y[((s * CBN_CO + o) * h + r) * wd + q] =
                        (v - mean[o]) / sqrt(var[o] + eps) * g[o] + beta[o];
                }
}

enum {
    REF_NONE = 0,
    REF_SE,     /* compare with se_reference */
    REF_CBN,    /* compare with cbn_reference */
    NF_FINITE,  /* no reference; every output finite */
    NF_ALL_NAN, /* every output NaN */
    NF_COL,     /* channel `col` all non-finite, every other output finite */
    NF_SAMPLE0, /* sample 0 all NaN, sample 1 as on the clean input */
    NF_ANY,     /* no check on the numbers */
};

static void check_numbers(const char *row, int check, int col, int base, const stfile *f,
                          const float *x, const va_tensor *y) {
    const int64_t n = va_numel(y);
    if (check == REF_SE || check == REF_CBN) {
        double *want = malloc((size_t)n * sizeof *want);
        ck_assert_ptr_nonnull(want);
        if (check == REF_SE)
            se_reference(f, x, g_base[base].in, want);
        else
            cbn_reference(f, x, g_base[base].in, want);
        for (int64_t i = 0; i < n; i++)
            ck_assert_msg(close_to(y->data[i], want[i]), "row '%s': output[%lld] = %g, want %g",
                          row, (long long)i, (double)y->data[i], want[i]);
        free(want);
    } else if (check == NF_FINITE) {
        ck_assert_msg(all_finite(y->data, n), "row '%s': non-finite output", row);
    } else if (check == NF_ALL_NAN) {
        for (int64_t i = 0; i < n; i++)
            ck_assert_msg(isnan(y->data[i]), "row '%s': output[%lld] = %g, want NaN", row,
                          (long long)i, (double)y->data[i]);
    } else if (check == NF_COL) {
        const int64_t c = y->shape[1], hw = y->shape[2] * y->shape[3];
        for (int64_t i = 0; i < n; i++) {
            int in_col = (i / hw) % c == col;
            ck_assert_msg(in_col ? !isfinite(y->data[i]) : isfinite(y->data[i]),
                          "row '%s': output[%lld] = %g (channel %lld; want non-finite exactly in "
                          "channel %d)",
                          row, (long long)i, (double)y->data[i], (long long)((i / hw) % c), col);
        }
    } else if (check == NF_SAMPLE0) {
        float *clean = clean_output(base);
        const int64_t per = n / y->shape[0];
        for (int64_t i = 0; i < per; i++)
            ck_assert_msg(isnan(y->data[i]), "row '%s': sample 0 output[%lld] = %g, want NaN", row,
                          (long long)i, (double)y->data[i]);
        for (int64_t i = per; i < 2 * per; i++)
            ck_assert_msg(close_to(y->data[i], clean[i]),
                          "row '%s': sample 1 output[%lld] = %g, the clean input gives %g", row,
                          (long long)i, (double)y->data[i], (double)clean[i]);
        va_aligned_free(clean);
    }
}

/* ---- Weight files: the table ----------------------------------------------------------------- */

enum {
    WANT_ERR = 1, /* va_block_load_file fails */
    WANT_OK,      /* loads; a forward on the base input succeeds with the base output shape */
    WANT_FWD_ERR, /* loads; out_shape or forward on the base input fails cleanly */
    WANT_SHAPE, /* loads; out_shape gives `out`, too big to allocate: va_tensor_alloc must refuse */
};

enum { OPEN_ANY = -1, OPEN_OK = 0, OPEN_FAILS = 1 };

typedef struct st_row {
    const char *name;
    int base;
    edit e[4];
    int want;
    int status;         /* expected status of the failing call; -1: any error */
    const char *needle; /* alternatives separated by '|' */
    int open;           /* what va_st_open alone must do: the file itself is malformed or not */
    int check;          /* REF_* / NF_* for WANT_OK */
    int col;            /* for NF_COL */
    int64_t out[4];     /* for WANT_SHAPE */
    const char *file;   /* file name instead of row<i>.safetensors */
    int max_ms;         /* if set: va_block_load_file must take at most this long */
} st_row;

/* Expected outcomes. ERR: the load fails with status st (-1: any) and a message containing
 * needle; the file is malformed as a safetensors file (va_st_open fails too: OPEN_FAILS), or only
 * as a block (OPEN_OK), or either (OPEN_ANY). */
#define ERR(st, n, o) .want = WANT_ERR, .status = st, .needle = n, .open = o
#define ERR_OPEN(st, n) ERR(st, n, OPEN_FAILS)
#define ERR_LOAD(st, n) ERR(st, n, OPEN_OK)
#define LOADS(c) .want = WANT_OK, .open = OPEN_OK, .check = c
#define LOADS_COL(c) .want = WANT_OK, .open = OPEN_OK, .check = NF_COL, .col = c
#define FWD_ERR(st, n) .want = WANT_FWD_ERR, .status = st, .needle = n, .open = OPEN_OK
#define SHAPE_ONLY(a, b, c, d) .want = WANT_SHAPE, .open = OPEN_OK, .out = {a, b, c, d}

static char *gen_deep_array(void) { /* 10^5 nested lists: "[[[...]]]" */
    const size_t depth = 100000;
    char *s = malloc(2 * depth + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static char *gen_config_deep_value(void) { /* 500 levels: under cJSON's nesting limit */
    char *s = malloc(2000);
    ck_assert_ptr_nonnull(s);
    int n = sprintf(s, "{\"input_channels\": ");
    for (int i = 0; i < 500; i++)
        s[n++] = '[';
    for (int i = 0; i < 500; i++)
        s[n++] = ']';
    sprintf(s + n, ", \"squeeze_channels\": 2}");
    return s;
}

static char *gen_config_deep_unknown(void) {
    char *s = malloc(2000);
    ck_assert_ptr_nonnull(s);
    int n = sprintf(s, "{\"input_channels\": 4, \"squeeze_channels\": 2, \"deep\": ");
    for (int i = 0; i < 500; i++)
        s[n++] = '[';
    for (int i = 0; i < 500; i++)
        s[n++] = ']';
    sprintf(s + n, "}");
    return s;
}

static char *gen_long_name(void) {
    char *s = malloc(10003);
    ck_assert_ptr_nonnull(s);
    memset(s, 'x', 10002);
    s[0] = '"', s[10001] = '"', s[10002] = '\0';
    return s;
}

#define EMPTY_AT(o) "{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[" o "," o "]}"

/* One row a line or two: clang-format would put every field of a row on its own line. */
// clang-format off
static const st_row st_rows[] = {
    /* -- Huge, negative and malformed dimensions (se: fc1.weight is [2,4,1,1] at [0,32]). -- */
    {"shape dim 2^31", SE, {SHAPE("fc1.weight", "[2147483648,4,1,1]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.weight")},
    {"shape dim 2^40", SE, {SHAPE("fc1.weight", "[1099511627776,4,1,1]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.weight")},
    {"shape dim 2^53", SE, {SHAPE("fc1.weight", "[9007199254740992,1,1,1]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.weight")},
    {"shape dim 2^64-1", SE, {SHAPE("fc1.weight", "[18446744073709551615,1,1,1]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.weight")},
    {"shape dim 1e300", SE, {SHAPE("fc1.weight", "[1e300,4,1,1]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.weight")},
    {"shape dim negative", SE, {SHAPE("fc1.weight", "[-2,-4,1,1]")},
     ERR_OPEN(VA_ERR_FORMAT, "negative")},
    {"shape dim non-integer", SE, {SHAPE("fc1.weight", "[2.5,4,1,1]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.weight")},
    {"shape dim a string", SE, {SHAPE("fc1.weight", "[\"2\",4,1,1]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.weight")},
    {"shape null", SE, {SHAPE("fc1.weight", "null")}, ERR_OPEN(VA_ERR_FORMAT, "shape")},
    {"shape 10^5 nested lists", SE, {GEN(E_SET, "fc1.weight", "shape", gen_deep_array)},
     ERR_OPEN(VA_ERR_FORMAT, "JSON")},
    {"shape of 7 dims", SE, {SHAPE("fc1.weight", "[2,4,1,1,1,1,1]")},
     ERR_OPEN(VA_ERR_UNSUPPORTED, "7 dimensions")},
    {"shape product overflows size_t", SE,
     {SHAPE("fc1.weight", "[4294967296,4294967296,4294967296]")},
     ERR_OPEN(VA_ERR_FORMAT, "overflow")},
    {"shape 2^62 elements: bytes overflow", SE, {SHAPE("fc1.weight", "[4611686018427387904]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.weight")},
    /* Zero elements, but the other dims multiply past 2^64: refusing it or loading it (then the
     * shape is wrong for se) are both fine. */
    {"shape zero times overflow", SE,
     {SHAPE("fc1.weight", "[0,4294967296,4294967296,4294967296]"), OFFS("fc1.weight", "[0,0]")},
     ERR(-1, "fc1.weight", OPEN_ANY)},
    {"shape needs more bytes than the file", SE,
     {SHAPE("fc1.weight", "[2,4,1,100]"), OFFS("fc1.weight", "[0,3200]")},
     ERR_OPEN(VA_ERR_FORMAT, "exceed")},
    {"shape scalar for a matrix", SE, {SHAPE("fc1.weight", "[]"), OFFS("fc1.weight", "[0,4]")},
     ERR_LOAD(VA_ERR_KEY, "fc1.weight")},
    {"shape transposed, same bytes", SE, {SHAPE("fc1.weight", "[4,2,1,1]")},
     ERR_LOAD(VA_ERR_KEY, "4x2x1x1")},

    /* -- data_offsets (fc1.bias [32,40], fc2.weight [40,72], fc2.bias [72,88]) -- */
    {"offsets overlap", SE, {OFFS("fc1.bias", "[28,36]")}, ERR_OPEN(VA_ERR_FORMAT, "overlap")},
    {"offsets identical ranges", SE, {OFFS("fc2.weight", "[0,32]")},
     ERR_OPEN(VA_ERR_FORMAT, "overlap")},
    {"offsets past the end", SE, {OFFS("fc2.bias", "[4096,4112]")},
     ERR_OPEN(VA_ERR_FORMAT, "exceed")},
    {"offsets end past the end", SE, {OFFS("fc2.bias", "[72,100000000000]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc2.bias")},
    {"offsets near 2^53", SE, {OFFS("fc2.bias", "[9007199254740976,9007199254740992]")},
     ERR_OPEN(VA_ERR_FORMAT, "exceed")},
    {"offsets 2^64-1", SE, {OFFS("fc2.bias", "[18446744073709551599,18446744073709551615]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc2.bias")},
    {"offsets reversed", SE, {OFFS("fc2.bias", "[88,72]")}, ERR_OPEN(VA_ERR_FORMAT, "reversed")},
    {"offsets hold fewer bytes than the shape", SE, {OFFS("fc2.bias", "[72,84]")},
     ERR_OPEN(VA_ERR_FORMAT, "16 bytes")},
    {"offsets negative", SE, {OFFS("fc2.bias", "[-16,0]")},
     ERR_OPEN(VA_ERR_FORMAT, "data_offsets")},
    {"offsets one number", SE, {OFFS("fc2.bias", "[72]")},
     ERR_OPEN(VA_ERR_FORMAT, "data_offsets")},
    {"offsets strings", SE, {OFFS("fc2.bias", "[\"72\",\"88\"]")},
     ERR_OPEN(VA_ERR_FORMAT, "data_offsets")},
    {"offsets missing", SE, {DEL("fc2.bias", "data_offsets")},
     ERR_OPEN(VA_ERR_FORMAT, "data_offsets")},
    {"data section one byte short", SE, {OPN(E_DATA_CUT, 1)}, ERR_OPEN(VA_ERR_FORMAT, "exceed")},

    /* -- The 8-byte header length -- */
    {"header length past the end", SE, {OPN(E_HLEN_PLUS, 89)}, ERR_OPEN(VA_ERR_FORMAT, "exceeds")},
    {"header length one short", SE, {OPN(E_HLEN_PLUS, -1)}, ERR_OPEN(VA_ERR_FORMAT, "JSON")},
    {"header length 0", SE, {OPN(E_HLEN, 0)}, ERR_OPEN(VA_ERR_FORMAT, "empty")},
    {"header length 2^63", SE, {OPN(E_HLEN, INT64_MIN)}, ERR_OPEN(VA_ERR_FORMAT, "limit")},
    {"header length 2^64-1", SE, {OPN(E_HLEN, -1)}, ERR_OPEN(VA_ERR_FORMAT, "limit")},
    {"header over the 100 MB limit, file that big", SE,
     {OPN(E_HLEN, (long long)VA_ST_MAX_HEADER_BYTES + 1),
      OPN(E_GROW_TO, 8 + (long long)VA_ST_MAX_HEADER_BYTES + 1)},
     ERR_OPEN(VA_ERR_FORMAT, "limit")},
    {"header padded to exactly the 100 MB limit", SE,
     {OPN(E_PAD_TO, (long long)VA_ST_MAX_HEADER_BYTES)}, LOADS(REF_SE)},

    /* -- dtypes, on fc1.weight (32 bytes) -- */
    {"dtype I32", SE, {DTYPE("fc1.weight", "I32")}, ERR_OPEN(VA_ERR_UNSUPPORTED, "I32")},
    {"dtype F64", SE, {DTYPE("fc1.weight", "F64"), SHAPE("fc1.weight", "[1,4,1,1]")},
     ERR_OPEN(VA_ERR_UNSUPPORTED, "F64")},
    {"dtype U8", SE, {DTYPE("fc1.weight", "U8"), SHAPE("fc1.weight", "[8,4,1,1]")},
     ERR_OPEN(VA_ERR_UNSUPPORTED, "U8")},
    {"dtype BOOL", SE, {DTYPE("fc1.weight", "BOOL"), SHAPE("fc1.weight", "[8,4,1,1]")},
     ERR_OPEN(VA_ERR_UNSUPPORTED, "BOOL")},
    {"dtype F8_E4M3", SE, {DTYPE("fc1.weight", "F8_E4M3"), SHAPE("fc1.weight", "[8,4,1,1]")},
     ERR_OPEN(VA_ERR_UNSUPPORTED, "F8_E4M3")},
    {"dtype I64 on a weight", SE, {DTYPE("fc1.weight", "I64"), SHAPE("fc1.weight", "[1,4,1,1]")},
     ERR_OPEN(VA_ERR_UNSUPPORTED, "I64")},
    {"dtype unknown F99", SE, {DTYPE("fc1.weight", "F99")}, ERR_OPEN(VA_ERR_FORMAT, "F99")},
    {"dtype lowercase f32", SE, {DTYPE("fc1.weight", "f32")}, ERR_OPEN(VA_ERR_FORMAT, "f32")},
    {"dtype a number", SE, {SET("fc1.weight", "dtype", "32")}, ERR_OPEN(VA_ERR_FORMAT, "dtype")},
    {"dtype missing", SE, {DEL("fc1.weight", "dtype")}, ERR_OPEN(VA_ERR_FORMAT, "dtype")},
    {"dtype with a newline", SE, {DTYPE("fc1.weight", "F\n32")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.weight")},
    /* Valid conversions: the reference decodes the same bytes as halves / bfloat16s. */
    {"dtype F16, half the bytes", SE, {DTYPE("fc1.weight", "F16"), OFFS("fc1.weight", "[0,16]")},
     LOADS(REF_SE)},
    {"dtype BF16, half the bytes", SE,
     {DTYPE("fc1.weight", "BF16"), OFFS("fc1.weight", "[16,32]")}, LOADS(REF_SE)},
    {"I64 num_batches_tracked is ignored", SE,
     {ADD("fc1.num_batches_tracked", NULL,
          "{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[88,96]}"),
      OPN(E_DATA_ADD, 8)},
     LOADS(REF_SE)},

    /* -- Keys and zero-size tensors -- */
    {"weight key missing", SE, {DEL("fc2.bias", NULL)}, ERR_LOAD(VA_ERR_KEY, "fc2.bias")},
    {"no tensors at all, metadata only", SE, {OPN(E_DROP_TENSORS, 0)},
     ERR_LOAD(VA_ERR_KEY, "fc1.weight")},
    {"extra key of shape [0]", SE, {ADD("extra.weight", NULL, EMPTY_AT("88"))},
     ERR_LOAD(VA_ERR_KEY, "extra.weight")},
    {"extra key of shape [0,5] at offset 0", SE,
     {ADD("extra", NULL, "{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]}")},
     ERR_LOAD(VA_ERR_KEY, "extra")},
    {"empty tensor offsets past the end", SE, {ADD("extra", NULL, EMPTY_AT("4096"))},
     ERR_OPEN(VA_ERR_FORMAT, "exceed")},
    {"weight of shape [0]", SE, {SHAPE("fc1.bias", "[0]"), OFFS("fc1.bias", "[32,32]")},
     ERR_LOAD(VA_ERR_KEY, "fc1.bias")},
    {"duplicate tensor key", SE,
     {ADD("fc2.bias", NULL, "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[72,88]}")},
     ERR_OPEN(VA_ERR_FORMAT, "duplicate")},
    {"20000 extra empty tensors", SE, {OPN(E_MANY_EMPTY, 20000)},
     ERR_LOAD(VA_ERR_KEY, "19999 more")},
    {"extra key with a newline in its name", SE, {ADD("evil\nkey", NULL, EMPTY_AT("0"))},
     ERR_LOAD(VA_ERR_KEY, "evil")},
    {"tensor entry not an object", SE, {SET("fc1.bias", NULL, "[1,2]")},
     ERR_OPEN(VA_ERR_FORMAT, "fc1.bias")},
    {"header is an empty object", SE, {OPN(E_DROP_TENSORS, 0), DEL("__metadata__", NULL)},
     ERR(-1, "visattn.block", OPEN_OK)},

    /* -- NaN and Inf in weights: loads; the numbers follow IEEE arithmetic -- */
    {"NaN in fc1.weight", SE, {POKE("fc1.weight", 0, "nan")}, LOADS(REF_SE)},
    {"+Inf in fc2.bias[1]", SE, {POKE("fc2.bias", 1, "inf")}, LOADS(REF_SE)},
    {"-Inf in fc2.bias[1]", SE, {POKE("fc2.bias", 1, "-inf")}, LOADS(REF_SE)},
    {"+Inf in fc1.bias[0]", SE, {POKE("fc1.bias", 0, "inf")}, LOADS(REF_SE)},
    {"+Inf and -Inf in fc1.weight", SE,
     {POKE("fc1.weight", 0, "inf"), POKE("fc1.weight", 5, "-inf")},
     LOADS(REF_SE)},
    {"3e38 in fc2.weight", SE, {POKE("fc2.weight", 3, "3e38")}, LOADS(REF_SE)},
    /* conv_bn: the centre tap is used by every output position, padding never hides it. */
    {"conv_bn NaN in the centre tap of channel 0", CBN, {POKE("conv.weight", 4, "nan")},
     LOADS(REF_CBN)},
    {"conv_bn +Inf in the centre tap of channel 2", CBN, {POKE("conv.weight", 2 * 18 + 4, "inf")},
     LOADS(REF_CBN)},
    {"conv_bn NaN running_var", CBN, {POKE("bn.running_var", 0, "nan")}, LOADS(REF_CBN)},
    {"conv_bn +Inf running_var: channel = beta", CBN, {POKE("bn.running_var", 1, "inf")},
     LOADS(REF_CBN)},
    {"conv_bn NaN running_mean", CBN, {POKE("bn.running_mean", 2, "nan")}, LOADS(REF_CBN)},
    {"conv_bn -Inf bn.bias", CBN, {POKE("bn.bias", 1, "-inf")}, LOADS(REF_CBN)},
    {"conv_bn subnormal weights", CBN,
     {POKE("conv.weight", 0, "1e-45"), POKE("bn.weight", 0, "1e-40")},
     LOADS(REF_CBN)},
    {"backbone NaN in fc.bias[1]", BB, {POKE("fc.bias", 1, "nan")}, LOADS_COL(1)},
    {"backbone +Inf in fc.weight[0][0]", BB, {POKE("fc.weight", 0, "inf")}, LOADS_COL(0)},
    {"backbone NaN in stage 1's se fc2.bias", BB, {POKE("stages.0.attn.fc2.bias", 0, "nan")},
     LOADS(NF_ALL_NAN)},
    {"backbone NaN in the stem's BN running_var", BB, {POKE("stem.bn.running_var", 2, "nan")},
     LOADS(NF_ALL_NAN)},
    {"backbone +Inf in the stem conv", BB, {POKE("stem.conv.weight", 4, "inf")}, LOADS(NF_ANY)},

    /* -- Metadata -- */
    {"metadata missing", SE, {DEL("__metadata__", NULL)}, ERR(-1, "visattn.block", OPEN_OK)},
    {"metadata a list", SE, {SET("__metadata__", NULL, "[\"se\"]")},
     ERR_OPEN(VA_ERR_FORMAT, "__metadata__")},
    {"metadata a string", SE, {SET("__metadata__", NULL, "\"se\"")},
     ERR_OPEN(VA_ERR_FORMAT, "__metadata__")},
    {"metadata null", SE, {SET("__metadata__", NULL, "null")},
     ERR_OPEN(VA_ERR_FORMAT, "__metadata__")},
    {"metadata value a number", SE, {SET("__metadata__", "visattn.block", "5")},
     ERR_OPEN(VA_ERR_FORMAT, "visattn.block")},
    {"metadata value an object", SE, {SET("__metadata__", "visattn.config", "{\"a\":1}")},
     ERR_OPEN(VA_ERR_FORMAT, "visattn.config")},
    {"metadata duplicate key", SE, {ADD("__metadata__", "visattn.block", "\"cbam\"")},
     ERR_OPEN(VA_ERR_FORMAT, "duplicate")},
    {"metadata twice", SE, {ADD("__metadata__", NULL, "{}")}, ERR_OPEN(VA_ERR_FORMAT, "duplicate")},
    {"block name unknown", SE, {META("visattn.block", "nope")}, ERR_LOAD(VA_ERR_CONFIG, "'nope'")},
    {"block name empty", SE, {META("visattn.block", "")}, ERR(-1, NULL, OPEN_OK)},
    {"block name with a newline", SE, {META("visattn.block", "se\nx")},
     ERR(VA_ERR_CONFIG, "unknown", OPEN_OK)},
    /* "se\u0000x" is not "se": JSON strings may hold NUL, C strings stop there. */
    {"block name with an escaped NUL", SE, {SET("__metadata__", "visattn.block", "\"se\\u0000x\"")},
     ERR(-1, "visattn.block|NUL|se", OPEN_ANY)},
    {"block name of 10000 chars", SE, {GEN(E_SET, "__metadata__", "visattn.block",
                                          gen_long_name)},
     ERR(VA_ERR_CONFIG, "unknown block", OPEN_OK)},
    {"both block and model", SE, {META("visattn.model", "conv_bn")}, ERR(-1, "both", OPEN_OK)},
    {"a model named as a block", SE, {META("visattn.block", "backbone")},
     ERR_LOAD(VA_ERR_CONFIG, "backbone")},
    {"a block named as a model", SE, {DEL("__metadata__", "visattn.block"),
                                      META("visattn.model", "se")},
     ERR_LOAD(VA_ERR_CONFIG, "'se'")},
    {"config missing", SE, {DEL("__metadata__", "visattn.config")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"config empty string", SE, {CFG("")}, ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"config not JSON", SE, {CFG("{input_channels: 4}")}, ERR_LOAD(VA_ERR_CONFIG, "JSON")},
    {"config a list", SE, {CFG("[4, 2]")}, ERR_LOAD(VA_ERR_CONFIG, "object")},
    {"config 10^5 nested lists", SE, {GEN(E_SET_STR, "__metadata__", "visattn.config",
                                          gen_deep_array)},
     ERR_LOAD(VA_ERR_CONFIG, "JSON")},
    {"config value nested 500 deep", SE, {GEN(E_SET_STR, "__metadata__", "visattn.config",
                                              gen_config_deep_value)},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"config unknown key nested 500 deep", SE, {GEN(E_SET_STR, "__metadata__", "visattn.config",
                                                    gen_config_deep_unknown)},
     ERR_LOAD(VA_ERR_CONFIG, "deep")},
    {"config with data after the JSON", SE,
     {CFG("{\"input_channels\": 4, \"squeeze_channels\": 2} {\"input_channels\": 8}")},
     ERR_LOAD(VA_ERR_CONFIG, "JSON")},
    {"config duplicate key", SE,
     {CFG("{\"input_channels\": 4, \"squeeze_channels\": 2, \"input_channels\": 8}")},
     ERR_LOAD(VA_ERR_CONFIG, "duplicate")},
    {"config unknown key", SE,
     {CFG("{\"input_channels\": 4, \"squeeze_channels\": 2, \"foo\": 1}")},
     ERR_LOAD(VA_ERR_CONFIG, "'foo'")},
    {"config unknown key with a newline", SE,
     {CFG("{\"input_channels\": 4, \"squeeze_channels\": 2, \"fo\\no\": 1}")},
     ERR_LOAD(VA_ERR_CONFIG, "unknown key")},
    {"config string for an int", SE, {CFG("{\"input_channels\": \"4\", \"squeeze_channels\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"config float for an int", SE, {CFG("{\"input_channels\": 4.5, \"squeeze_channels\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"config null for an int", SE, {CFG("{\"input_channels\": null, \"squeeze_channels\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"config list for an int", SE, {CFG("{\"input_channels\": [4], \"squeeze_channels\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"config activation by class name", SE,
     {CFG("{\"input_channels\": 4, \"squeeze_channels\": 2, \"activation\": \"ReLU\"}")},
     LOADS(REF_SE)},
    {"config activation unknown", SE,
     {CFG("{\"input_channels\": 4, \"squeeze_channels\": 2, \"activation\": \"nope\"}")},
     ERR_LOAD(VA_ERR_CONFIG, "nope")},
    {"config activation a number", SE,
     {CFG("{\"input_channels\": 4, \"squeeze_channels\": 2, \"activation\": 5}")},
     ERR_LOAD(VA_ERR_CONFIG, "activation")},
    {"config activation 100 chars", SE,
     {CFG("{\"input_channels\": 4, \"squeeze_channels\": 2, \"activation\": \"reluuuuuuuuuuuuuuuuu"
          "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu\"}")},
     ERR_LOAD(VA_ERR_CONFIG, "activation")},
    {"config for another block's file", CBN, {CFG(se_config)}, ERR(-1, "in_channels", OPEN_OK)},

    /* -- Absurd sizes in configs: a clear error, and no giant allocation on the way -- */
    {"se input_channels 1e9", SE,
     {CFG("{\"input_channels\": 1000000000, \"squeeze_channels\": 2}")},
     ERR(-1, "1000000000|input_channels", OPEN_OK)},
    {"se input_channels 2^31-1", SE,
     {CFG("{\"input_channels\": 2147483647, \"squeeze_channels\": 2}")}, ERR(-1,
     "2147483647|input_channels", OPEN_OK)},
    {"se both 2^31-1", SE,
     {CFG("{\"input_channels\": 2147483647, \"squeeze_channels\": 2147483647}")}, ERR(-1,
     "2147483647|input_channels", OPEN_OK)},
    {"se input_channels 2^31", SE,
     {CFG("{\"input_channels\": 2147483648, \"squeeze_channels\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"se input_channels 2^62", SE,
     {CFG("{\"input_channels\": 4611686018427387904, \"squeeze_channels\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"se input_channels 1e300", SE, {CFG("{\"input_channels\": 1e300, \"squeeze_channels\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"se input_channels 0", SE, {CFG("{\"input_channels\": 0, \"squeeze_channels\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"se input_channels -4", SE, {CFG("{\"input_channels\": -4, \"squeeze_channels\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"se squeeze_channels 0", SE, {CFG("{\"input_channels\": 4, \"squeeze_channels\": 0}")},
     ERR_LOAD(VA_ERR_CONFIG, "squeeze_channels")},
    {"se squeeze_channels -1", SE, {CFG("{\"input_channels\": 4, \"squeeze_channels\": -1}")},
     ERR_LOAD(VA_ERR_CONFIG, "squeeze_channels")},
    {"conv_bn kernel_size 0", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 0}")},
     ERR_LOAD(VA_ERR_CONFIG, "kernel")},
    {"conv_bn kernel_size -3", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": -3}")},
     ERR_LOAD(VA_ERR_CONFIG, "kernel")},
    {"conv_bn kernel_size [3]", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": [3]}")},
     ERR_LOAD(VA_ERR_CONFIG, "kernel_size")},
    {"conv_bn kernel_size [3,3,3]", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": [3, 3, 3]}")},
     ERR_LOAD(VA_ERR_CONFIG, "kernel_size")},
    {"conv_bn kernel_size 2^31", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 2147483648}")},
     ERR_LOAD(VA_ERR_CONFIG, "kernel_size")},
    {"conv_bn kernel 46341x46341: im2col depth over INT_MAX", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 46341}")}, ERR(-1,
     "46341|kernel", OPEN_OK)},
    {"conv_bn kernel 30000x30000", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 30000}")}, ERR(-1,
     "30000|kernel", OPEN_OK)},
    {"conv_bn kernel_size 5, file has 3x3", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 5, \"padding\": 2}")},
     ERR_LOAD(VA_ERR_KEY, "conv.weight")},
    {"conv_bn groups 0", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"groups\": 0}")},
     ERR_LOAD(VA_ERR_CONFIG, "groups")},
    {"conv_bn groups -1", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"groups\": -1}")},
     ERR_LOAD(VA_ERR_CONFIG, "groups")},
    {"conv_bn groups not dividing", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"groups\": 2}")},
     ERR_LOAD(VA_ERR_CONFIG, "groups")},
    {"conv_bn groups 2^31-1", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"groups\": 2147483647}")},
     ERR_LOAD(VA_ERR_CONFIG, "groups")},
    {"conv_bn stride 0", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"stride\": [1, 0]}")},
     ERR_LOAD(VA_ERR_CONFIG, "stride")},
    {"conv_bn dilation 0", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"dilation\": 0}")},
     ERR_LOAD(VA_ERR_CONFIG, "dilation")},
    {"conv_bn padding -1", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"padding\": -1}")},
     ERR_LOAD(VA_ERR_CONFIG, "padding")},
    {"conv_bn padding_mode reflect", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"padding_mode\": "
          "\"reflect\"}")},
     ERR_LOAD(VA_ERR_UNSUPPORTED, "reflect")},
    {"conv_bn eps 0", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"eps\": 0}")},
     ERR_LOAD(VA_ERR_CONFIG, "eps")},
    {"conv_bn eps a string", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"eps\": \"1e-5\"}")},
     ERR_LOAD(VA_ERR_CONFIG, "eps")},
    {"conv_bn eps 1e300: output = beta", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"padding\": 1, "
          "\"eps\": 1e300}")},
     LOADS(REF_CBN)},
    {"conv_bn bias false, file has conv.bias", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"padding\": 1, "
          "\"bias\": false}")},
     ERR_LOAD(VA_ERR_KEY, "conv.bias")},
    {"conv_bn in_channels 1e9", CBN,
     {CFG("{\"in_channels\": 1000000000, \"out_channels\": 3, \"kernel_size\": 1}")}, ERR(-1,
     "1000000000|in_channels", OPEN_OK)},
    {"conv_bn out_channels 2^31-1", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 2147483647, \"kernel_size\": 1}")}, ERR(-1,
     "2147483647|out_channels", OPEN_OK)},
    /* Loads (the weights fit); the output shape follows nn.Conv2d's formula
     * (H + 2p - (k - 1) - 1) + 1 and is too big to allocate. */
    {"conv_bn padding 2^30: huge output shape", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, "
          "\"padding\": 1073741824}")},
     SHAPE_ONLY(2, 3, 2147483651LL, 2147483652LL)},
    {"conv_bn padding 2^31-1: output dims over 2^32", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, "
          "\"padding\": 2147483647}")},
     SHAPE_ONLY(2, 3, 4294967297LL, 4294967298LL)},
    {"conv_bn dilation 2^30: kernel larger than the input", CBN,
     {CFG("{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 3, \"padding\": 1, "
          "\"dilation\": 1073741824}")},
     FWD_ERR(VA_ERR_SHAPE, "conv")},

    /* -- backbone config (base: stem 4, widths [4, 6], depths [1, 1], strides [2, 1], se) -- */
    {"backbone widths [1e9, 6]", BB, {CKEY("widths", "[1000000000, 6]")},
     ERR(-1, "1000000000|widths", OPEN_OK)},
    {"backbone widths [2^31-1, 6]", BB, {CKEY("widths", "[2147483647, 6]")},
     ERR(-1, "2147483647|widths", OPEN_OK)},
    {"backbone widths [2^31, 6]", BB, {CKEY("widths", "[2147483648, 6]")},
     ERR_LOAD(VA_ERR_CONFIG, "widths")},
    {"backbone widths [0, 6]", BB, {CKEY("widths", "[0, 6]")}, ERR_LOAD(VA_ERR_CONFIG, "width")},
    {"backbone widths [-4, 6]", BB, {CKEY("widths", "[-4, 6]")}, ERR_LOAD(VA_ERR_CONFIG, "width")},
    {"backbone widths of 7 stages", BB, {CKEY("widths", "[4, 4, 4, 4, 4, 4, 4]")},
     ERR_LOAD(VA_ERR_CONFIG, "widths")},
    {"backbone widths empty", BB, {CKEY("widths", "[]")}, ERR_LOAD(VA_ERR_CONFIG, "widths")},
    {"backbone widths a string", BB, {CKEY("widths", "\"4, 6\"")},
     ERR_LOAD(VA_ERR_CONFIG, "widths")},
    {"backbone depths [17, 1]", BB, {CKEY("depths", "[17, 1]")}, ERR_LOAD(VA_ERR_CONFIG, "depth")},
    {"backbone depths [0, 1]", BB, {CKEY("depths", "[0, 1]")}, ERR_LOAD(VA_ERR_CONFIG, "depth")},
    {"backbone strides [3, 1]", BB, {CKEY("strides", "[3, 1]")}, ERR_LOAD(VA_ERR_CONFIG, "stride")},
    {"backbone strides [0, 1]", BB, {CKEY("strides", "[0, 1]")}, ERR_LOAD(VA_ERR_CONFIG, "stride")},
    {"backbone num_classes 0", BB, {CKEY("num_classes", "0")},
     ERR_LOAD(VA_ERR_CONFIG, "num_classes")},
    {"backbone num_classes 1e9", BB, {CKEY("num_classes", "1000000000")},
     ERR_LOAD(VA_ERR_CONFIG, "num_classes")},
    {"backbone num_classes 2^62", BB, {CKEY("num_classes", "4611686018427387904")},
     ERR_LOAD(VA_ERR_CONFIG, "num_classes")},
    {"backbone stem_width 2^31-1", BB, {CKEY("stem_width", "2147483647")},
     ERR(-1, "2147483647|stem_width", OPEN_OK)},
    {"backbone stem_width 0", BB, {CKEY("stem_width", "0")}, ERR_LOAD(VA_ERR_CONFIG, "stem_width")},
    {"backbone in_channels 1e6", BB, {CKEY("in_channels", "1000000")},
     ERR(-1, "in_channels|mean|1000000", OPEN_OK)},
    {"backbone attention_reduction 0", BB, {CKEY("attention_reduction", "0")},
     ERR_LOAD(VA_ERR_CONFIG, "attention_reduction")},
    {"backbone attention_reduction -2", BB, {CKEY("attention_reduction", "-2")},
     ERR_LOAD(VA_ERR_CONFIG, "attention_reduction")},
    {"backbone attention unknown", BB, {CKEY("attention", "\"nope\"")},
     ERR_LOAD(VA_ERR_CONFIG, "nope")},
    {"backbone attention a model", BB, {CKEY("attention", "\"backbone\"")},
     ERR_LOAD(VA_ERR_CONFIG, "backbone")},
    {"backbone attention a number", BB, {CKEY("attention", "5")},
     ERR_LOAD(VA_ERR_CONFIG, "attention")},
    {"backbone attention_args a list", BB, {CKEY("attention_args", "[1]")},
     ERR_LOAD(VA_ERR_CONFIG, "attention_args")},
    {"backbone attention_args sets a channel", BB,
     {CKEY("attention_args", "{\"input_channels\": 4}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels")},
    {"backbone attention_args unknown key", BB, {CKEY("attention_args", "{\"foo\": 1}")},
     ERR_LOAD(VA_ERR_CONFIG, "foo")},
    {"backbone attention_args 10^5 nested", BB, {GEN(E_CFG_SET, "attention_args", NULL,
                                                    gen_deep_array)},
     ERR_LOAD(VA_ERR_CONFIG, "JSON")},
    /* shuffle's groups is clamped to the stage width (docs/backbone.md); the file holds se
     * weights, so the load fails on the keys, after creating the blocks. */
    {"backbone shuffle groups 2^31-1", BB,
     {CKEY("attention", "\"shuffle\""), CKEY("attention_args", "{\"groups\": 2147483647}")},
     ERR(-1, "stages.0.attn", OPEN_OK), .max_ms = 2000},
    {"backbone shuffle groups 1e9", BB,
     {CKEY("attention", "\"shuffle\""), CKEY("attention_args", "{\"groups\": 1000000000}")},
     ERR(-1, "stages.0.attn", OPEN_OK), .max_ms = 2000},
    {"backbone shuffle groups a string", BB,
     {CKEY("attention", "\"shuffle\""), CKEY("attention_args", "{\"groups\": \"8\"}")},
     ERR_LOAD(VA_ERR_CONFIG, "groups")},
    {"backbone mean of 2 for 1 channel", BB, {CKEY("mean", "[0.5, 0.5]")},
     ERR_LOAD(VA_ERR_CONFIG, "mean")},
    {"backbone std 0", BB, {CKEY("std", "[0]")}, ERR_LOAD(VA_ERR_CONFIG, "std")},
    {"backbone class_names for 2 of 3 classes", BB, {CKEY("class_names", "[\"a\", \"b\"]")},
     ERR_LOAD(VA_ERR_CONFIG, "class_names")},
    {"backbone class_names entry 40 chars", BB,
     {CKEY("class_names", "[\"a\", \"b\", \"cccccccccccccccccccccccccccccccccccccccc\"]")},
     ERR_LOAD(VA_ERR_CONFIG, "class_names")},
    {"backbone input_size of 3", BB, {CKEY("input_size", "[8, 8, 8]")},
     ERR_LOAD(VA_ERR_CONFIG, "input_size")},
    {"backbone input_size 2^31", BB, {CKEY("input_size", "[2147483648, 8]")},
     ERR_LOAD(VA_ERR_CONFIG, "input_size")},
    {"backbone attention null: file has se keys", BB, {CKEY("attention", "null")},
     ERR_LOAD(VA_ERR_KEY, "stages.0.attn")},
    {"backbone residual on", BB, {CKEY("attention_residual", "true")}, LOADS(NF_FINITE)},

    /* -- Other blocks' configs, on the se file (so a config that passes fails on the keys) -- */
#define AS(block, cfg) {META("visattn.block", block), CFG(cfg)}
    {"spatial with an argument", SE, AS("spatial", "{\"kernel_size\": 7}"),
     ERR_LOAD(VA_ERR_CONFIG, "kernel_size")},
    {"cbam gate_channels 1e9", SE, AS("cbam", "{\"gate_channels\": 1000000000}"),
     ERR(-1, "1000000000|gate_channels", OPEN_OK)},
    {"cbam gate_channels 2^31-1, ratio 1", SE,
     AS("cbam", "{\"gate_channels\": 2147483647, \"reduction_ratio\": 1}"),
     ERR(-1, "2147483647|gate_channels", OPEN_OK)},
    {"cbam reduction_ratio 0", SE, AS("cbam", "{\"gate_channels\": 4, \"reduction_ratio\": 0}"),
     ERR_LOAD(VA_ERR_CONFIG, "reduction_ratio")},
    {"cbam reduction_ratio -1", SE, AS("cbam", "{\"gate_channels\": 4, \"reduction_ratio\": -1}"),
     ERR_LOAD(VA_ERR_CONFIG, "reduction_ratio")},
    {"cbam pool_types empty", SE, AS("cbam", "{\"gate_channels\": 4, \"pool_types\": []}"),
     ERR_LOAD(VA_ERR_CONFIG, "pool_types")},
    {"cbam pool_types unknown", SE,
     AS("cbam", "{\"gate_channels\": 4, \"pool_types\": [\"avg\", \"median\"]}"),
     ERR_LOAD(VA_ERR_CONFIG, "median")},
    {"cbam pool_types a string", SE, AS("cbam", "{\"gate_channels\": 4, \"pool_types\": \"avg\"}"),
     ERR_LOAD(VA_ERR_CONFIG, "pool_types")},
    {"cbam pool_types of 17", SE,
     AS("cbam", "{\"gate_channels\": 4, \"pool_types\": [\"avg\", \"avg\", \"avg\", \"avg\", "
                "\"avg\", \"avg\", \"avg\", \"avg\", \"avg\", \"avg\", \"avg\", \"avg\", "
                "\"avg\", \"avg\", \"avg\", \"avg\", \"avg\"]}"),
     ERR_LOAD(VA_ERR_CONFIG, "pool_types")},
    {"triplet gate_channels 1e9 (unused)", SE, AS("triplet", "{\"gate_channels\": 1000000000}"),
     ERR_LOAD(VA_ERR_KEY, "spatial.conv.weight")},
    {"triplet gate_channels a string", SE, AS("triplet", "{\"gate_channels\": \"64\"}"),
     ERR_LOAD(VA_ERR_CONFIG, "gate_channels")},
    {"shuffle channel 1e9, groups 1", SE, AS("shuffle", "{\"channel\": 1000000000, \"groups\": 1}"),
     ERR(-1, "1000000000|channel", OPEN_OK)},
    {"shuffle groups 0", SE, AS("shuffle", "{\"channel\": 4, \"groups\": 0}"),
     ERR_LOAD(VA_ERR_CONFIG, "groups")},
    {"shuffle groups 2^31-1", SE, AS("shuffle", "{\"channel\": 4, \"groups\": 2147483647}"),
     ERR_LOAD(VA_ERR_CONFIG, "groups")},
    {"shuffle channel 0", SE, AS("shuffle", "{\"channel\": 0, \"groups\": 1}"),
     ERR_LOAD(VA_ERR_CONFIG, "channel")},
    {"double_attention in_channels 1e9", SE,
     AS("double_attention", "{\"in_channels\": 1000000000, \"c_m\": 1, \"c_n\": 1}"),
     ERR(-1, "1000000000|in_channels", OPEN_OK)},
    {"double_attention c_m 1e9", SE,
     AS("double_attention", "{\"in_channels\": 4, \"c_m\": 1000000000, \"c_n\": 1}"),
     ERR(-1, "1000000000|c_m", OPEN_OK)},
    {"double_attention c_m + 2 c_n over 2^31", SE,
     AS("double_attention", "{\"in_channels\": 4, \"c_m\": 2147483647, \"c_n\": 2147483647}"),
     ERR_LOAD(VA_ERR_CONFIG, "c_m")},
    {"double_attention c_n 0", SE,
     AS("double_attention", "{\"in_channels\": 4, \"c_m\": 1, \"c_n\": 0}"),
     ERR_LOAD(VA_ERR_CONFIG, "c_n")},
    {"irmb dim_in 1e9", SE,
     AS("irmb", "{\"dim_in\": 1000000000, \"dim_out\": 1, \"dim_head\": 1000000000}"),
     ERR(-1, "1000000000|dim_in", OPEN_OK)},
    {"irmb dim_head 0 (no heads)", SE,
     AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"dim_head\": 0}"),
     ERR_LOAD(VA_ERR_CONFIG, "dim_head")},
    {"irmb dim_head -2", SE, AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"dim_head\": -2}"),
     ERR_LOAD(VA_ERR_CONFIG, "dim_head")},
    {"irmb exp_ratio 1e9", SE, AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"exp_ratio\": 1e9}"),
     ERR_LOAD(VA_ERR_CONFIG, "exp_ratio")},
    {"irmb exp_ratio -1", SE, AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"exp_ratio\": -1}"),
     ERR_LOAD(VA_ERR_CONFIG, "exp_ratio")},
    {"irmb dw_ks 0", SE,
     AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"dim_head\": 2, \"dw_ks\": 0}"),
     ERR_LOAD(VA_ERR_CONFIG, "dw_ks")},
    {"irmb dw_ks 40001", SE,
     AS("irmb", "{\"dim_in\": 1, \"dim_out\": 1, \"dim_head\": 1, \"dw_ks\": 40001}"),
     ERR(-1, "40001|dw_ks|conv_local", OPEN_OK)},
    {"irmb dw_ks 2^31-1", SE,
     AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"dim_head\": 2, \"dw_ks\": 2147483647}"),
     ERR(-1, "dw_ks|conv_local|2147483647", OPEN_OK)},
    {"irmb stride 0", SE,
     AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"dim_head\": 2, \"stride\": 0}"),
     ERR_LOAD(VA_ERR_CONFIG, "stride")},
    /* EMO models (a model named on the se file: a config that passes fails on the keys). */
#define AS_MODEL(model, cfg) \
    {DEL("__metadata__", "visattn.block"), META("visattn.model", model), CFG(cfg)}
    {"EMO_1M embed_dims 1e5", SE, AS_MODEL("EMO_1M", "{\"embed_dims\": [100000, 8, 8, 8]}"),
     ERR_LOAD(VA_ERR_CONFIG, "over the limit")},
    {"emo stem_dim 2e9", SE, AS_MODEL("emo", "{\"stem_dim\": 2000000000}"),
     ERR_LOAD(VA_ERR_CONFIG, "stem")},
    {"emo 400 blocks", SE, AS_MODEL("emo", "{\"depths\": [100, 100, 100, 100]}"),
     ERR_LOAD(VA_ERR_UNSUPPORTED, "iRMBs")},
    {"EMO_6M num_classes 2e9", SE, AS_MODEL("EMO_6M", "{\"num_classes\": 2000000000}"),
     ERR_LOAD(VA_ERR_CONFIG, "num_classes")},
    {"EMO_2M norm gn", SE,
     AS_MODEL("EMO_2M", "{\"norm_layers\": [\"bn_2d\", \"gn\", \"ln_2d\", \"ln_2d\"]}"),
     ERR_LOAD(VA_ERR_CONFIG, "gn")},
    {"EMO_5M depths of 2", SE, AS_MODEL("EMO_5M", "{\"depths\": [1, 2]}"),
     ERR_LOAD(VA_ERR_CONFIG, "depths")},
    {"irmb se_ratio 1e9", SE,
     AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"dim_head\": 2, \"se_ratio\": 1e9}"),
     ERR_LOAD(VA_ERR_CONFIG, "se_ratio")},
    {"irmb drop 2", SE, AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"drop\": 2}"),
     ERR_LOAD(VA_ERR_CONFIG, "drop")},
    {"irmb norm_layer unknown", SE,
     AS("irmb", "{\"dim_in\": 4, \"dim_out\": 4, \"norm_layer\": \"xyz\"}"),
     ERR_LOAD(VA_ERR_CONFIG, "xyz")},
    /* Networks (docs/networks/): absurd stage tables, huge widths and depths, configs that do
     * not fit the weights (the se file's), and the metadata a network file carries. */
    {"resnet50 on se weights", SE, AS_MODEL("resnet50", "{}"),
     ERR_LOAD(VA_ERR_KEY, "conv1.weight")},
    {"resnet 4 x 64 Bottlenecks on se weights", SE,
     AS_MODEL("resnet", "{\"block\": \"Bottleneck\", \"layers\": [64, 64, 64, 64]}"),
     ERR_LOAD(VA_ERR_KEY, "conv1.weight"), .max_ms = 5000},
    {"resnet 65 blocks a stage", SE,
     AS_MODEL("resnet", "{\"block\": \"Bottleneck\", \"layers\": [65, 1, 1, 1]}"),
     ERR_LOAD(VA_ERR_CONFIG, "layers")},
    {"resnet layers of 5", SE,
     AS_MODEL("resnet", "{\"block\": \"BasicBlock\", \"layers\": [1, 1, 1, 1, 1]}"),
     ERR_LOAD(VA_ERR_CONFIG, "layers")},
    {"resnet without block", SE, AS_MODEL("resnet", "{\"layers\": [1, 1, 1, 1]}"),
     ERR_LOAD(VA_ERR_CONFIG, "block")},
    {"resnet50 width_per_group 2^17", SE, AS_MODEL("resnet50", "{\"width_per_group\": 131072}"),
     ERR_LOAD(VA_ERR_CONFIG, "over the limit")},
    {"resnet50 groups x width 2^20", SE,
     AS_MODEL("resnet50", "{\"groups\": 8, \"width_per_group\": 131072}"),
     ERR_LOAD(VA_ERR_CONFIG, "too large")},
    {"resnet50 num_classes 2e9", SE, AS_MODEL("resnet50", "{\"num_classes\": 2000000000}"),
     ERR_LOAD(VA_ERR_CONFIG, "over the limit")},
    {"resnet50 dilation list of 4", SE,
     AS_MODEL("resnet50", "{\"replace_stride_with_dilation\": [true, true, true, true]}"),
     ERR_LOAD(VA_ERR_CONFIG, "replace_stride_with_dilation")},
    {"resnet18 attention unknown", SE, AS_MODEL("resnet18", "{\"attention\": \"nope\"}"),
     ERR_LOAD(VA_ERR_CONFIG, "nope")},
    {"resnet18 attention a model", SE, AS_MODEL("resnet18", "{\"attention\": \"resnet18\"}"),
     ERR_LOAD(VA_ERR_CONFIG, "resnet18")},
    {"resnet18 shuffle groups 1e6", SE,
     AS_MODEL("resnet18", "{\"attention\": \"shuffle\", \"attention_args\": "
                          "{\"groups\": 1000000}}"),
     ERR(-1, NULL, OPEN_OK), .max_ms = 2000},
    {"resnet18 attention_reduction 1e9", SE,
     AS_MODEL("resnet18", "{\"attention\": \"se\", \"attention_reduction\": 1000000000}"),
     ERR_LOAD(VA_ERR_KEY, "conv1.weight")},
    {"mobilenet_v3_small width_mult 1e6", SE,
     AS_MODEL("mobilenet_v3_small", "{\"width_mult\": 1000000}"),
     ERR_LOAD(VA_ERR_CONFIG, "width_mult")},
    {"mobilenet_v3_large width_mult -1", SE,
     AS_MODEL("mobilenet_v3_large", "{\"width_mult\": -1}"),
     ERR_LOAD(VA_ERR_CONFIG, "width_mult")},
    {"efficientnet_b7 num_classes 0", SE, AS_MODEL("efficientnet_b7", "{\"num_classes\": 0}"),
     ERR_LOAD(VA_ERR_CONFIG, "num_classes")},
    {"efficientnet_b0 on se weights", SE, AS_MODEL("efficientnet_b0", "{}"),
     ERR_LOAD(VA_ERR_KEY, "features.0.0.weight")},
    {"network class_names of 2 for 1000", SE,
     {DEL("__metadata__", "visattn.block"), META("visattn.model", "resnet18"), CFG("{}"),
      META("visattn.class_names", "[\"a\", \"b\"]")},
     ERR_LOAD(VA_ERR_FORMAT, "visattn.class_names")},
    {"network resize below the crop", SE,
     {DEL("__metadata__", "visattn.block"), META("visattn.model", "resnet18"), CFG("{}"),
      META("visattn.resize", "100")},
     ERR_LOAD(VA_ERR_FORMAT, "visattn.resize")},
    {"network input_size 2^31", SE,
     {DEL("__metadata__", "visattn.block"), META("visattn.model", "resnet18"), CFG("{}"),
      META("visattn.input_size", "[2147483648, 224]")},
     ERR_LOAD(VA_ERR_FORMAT, "visattn.input_size")},
    {"network mean NaN", SE,
     {DEL("__metadata__", "visattn.block"), META("visattn.model", "resnet18"), CFG("{}"),
      META("visattn.mean", "[NaN, 0, 0]")},
     ERR_LOAD(VA_ERR_FORMAT, "visattn.mean")},
    {"block with a class_names metadata", SE, {META("visattn.class_names", "[\"a\"]")},
     ERR_LOAD(VA_ERR_FORMAT, "models")},
    /* issue 15's eca, simam, bam (docs/blocks/{eca,simam,bam}.md) */
    {"eca channel 0", SE, AS("eca", "{\"channel\": 0}"), ERR_LOAD(VA_ERR_CONFIG, "channel")},
    {"eca channel -8", SE, AS("eca", "{\"channel\": -8}"), ERR_LOAD(VA_ERR_CONFIG, "channel")},
    {"eca k_size 4 (even)", SE, AS("eca", "{\"channel\": 4, \"k_size\": 4}"),
     ERR_LOAD(VA_ERR_CONFIG, "k_size")},
    {"eca k_size 2^31-1", SE, AS("eca", "{\"channel\": 4, \"k_size\": 2147483647}"),
     ERR_LOAD(VA_ERR_CONFIG, "k_size")},
    {"simam channels 0", SE, AS("simam", "{\"channels\": 0}"),
     ERR_LOAD(VA_ERR_CONFIG, "channels")},
    {"simam e_lambda -1", SE, AS("simam", "{\"e_lambda\": -1}"),
     ERR_LOAD(VA_ERR_CONFIG, "e_lambda")},
    {"simam e_lambda 1e300", SE, AS("simam", "{\"e_lambda\": 1e300}"),
     ERR_LOAD(VA_ERR_CONFIG, "e_lambda")},
    {"bam gate_channel 15 (0 hidden)", SE, AS("bam", "{\"gate_channel\": 15}"),
     ERR_LOAD(VA_ERR_CONFIG, "gate_channel")},
    {"bam gate_channel -64", SE, AS("bam", "{\"gate_channel\": -64}"),
     ERR_LOAD(VA_ERR_CONFIG, "gate_channel")},
    {"bam gate_channel 2^31-1", SE, AS("bam", "{\"gate_channel\": 2147483647}"),
     ERR_LOAD(VA_ERR_CONFIG, "gate_channel")},

    /* -- irmb's window, at forward time (C = 4, input 5 x 3) -- */
    {"irmb window_size 0: global", IRMB, {CKEY("window_size", "0")}, LOADS(NF_FINITE)},
    {"irmb window_size -7: global", IRMB, {CKEY("window_size", "-7")}, LOADS(NF_FINITE)},
    {"irmb window_size 1", IRMB, {CKEY("window_size", "1")}, LOADS(NF_FINITE)},
    {"irmb window_size 16: mostly padding", IRMB, {CKEY("window_size", "16")}, LOADS(NF_FINITE)},
    {"irmb window_size 1024: 2^20 pixels a window", IRMB, {CKEY("window_size", "1024")},
     FWD_ERR(-1, "irmb")},
    {"irmb window_size 2^31-1", IRMB, {CKEY("window_size", "2147483647")}, FWD_ERR(-1, "irmb")},
    {"irmb NaN in qk.conv.weight", IRMB, {POKE("qk.conv.weight", 0, "nan")}, LOADS(NF_ANY)},

    /* -- File names -- */
    {"file name with a newline, config error", SE, {CFG("{}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels"), .file = "evil\nname.safetensors"},
    {"file name with a newline, format error", SE, {OPN(E_DATA_CUT, 1)},
     ERR_OPEN(VA_ERR_FORMAT, "exceed"), .file = "evil\nname2.safetensors"},
    {"file name with spaces and quotes", SE, {CFG("{}")},
     ERR_LOAD(VA_ERR_CONFIG, "input_channels"), .file = "a 'b' \"c\".safetensors"},
};
// clang-format on

#define N_ST_ROWS ((int)(sizeof st_rows / sizeof st_rows[0]))

/* Open with va_st_open alone and read every tensor as float32. */
static void check_open(const st_row *r, const char *path, const char *names, size_t file_len) {
    va_error err = {0};
    va_safetensors *st = (va_safetensors *)&err; /* must come back NULL on failure */
    va_status s = va_st_open(path, &st, &err);
    if (r->open == OPEN_FAILS) {
        ck_assert_msg(s != VA_OK, "row '%s': va_st_open accepted the file", r->name);
        ck_assert_ptr_null(st);
        if (r->status >= 0)
            ck_assert_msg((int)s == r->status, "row '%s': va_st_open status %d (%s), want %d: %s",
                          r->name, s, va_status_str(s), r->status, err.msg);
        ck_assert_message(r->name, err.msg, names, r->needle);
        return;
    }
    if (r->open == OPEN_OK)
        ck_assert_msg(s == VA_OK, "row '%s': va_st_open failed: %s", r->name, err.msg);
    if (s != VA_OK) {
        ck_assert_message(r->name, err.msg, names, NULL);
        return;
    }
    for (size_t i = 0; i < va_st_count(st); i++) {
        const va_st_entry *e = va_st_entry_at(st, i);
        int64_t n = 1;
        for (int d = 0; d < e->ndim; d++)
            n *= e->shape[d];
        ck_assert_msg(n >= 0 && (uint64_t)n <= file_len,
                      "row '%s': tensor '%s' of %lld elements in a file of %zu bytes", r->name,
                      e->name, (long long)n, file_len);
        float *dst = malloc((size_t)n * sizeof(float) + 1);
        ck_assert_ptr_nonnull(dst);
        s = va_st_read_f32(st, e, dst, n, &err);
        ck_assert_msg(s == VA_OK || e->dtype == VA_DTYPE_I64, "row '%s': reading '%s': %s", r->name,
                      e->name, err.msg);
        free(dst);
    }
    va_st_close(st);
}

/* Rows run with the caller's thread count (VISATTN_NUM_THREADS); the sweeps, thousands of tiny
 * forward passes, with one thread: on a loaded 2-core machine each 2-thread pass waited
 * milliseconds at OpenMP barriers, and threading is not what they test. Set in the row's own
 * process: the parent must not start OpenMP threads before forking. */
static void row_threads(int sweep) {
    va_error err = {0};
    if (sweep || va_threads_from_env(&err) != VA_OK) va_set_num_threads(1);
}

START_TEST(test_weight_file_rows) {
    row_threads(0);
    const st_row *r = &st_rows[_i];
    const base_file *bf = &g_base[r->base];
    stfile f;
    st_split(bf->bytes, bf->len, &f);
    layout lay = {0};
    for (int k = 0; k < 4 && r->e[k].op != E_END; k++)
        apply_edit(&f, &r->e[k], &lay);
    char name[64];
    snprintf(name, sizeof name, "row%03d.safetensors", _i);
    const char *path = tpath(r->file ? r->file : name);
    size_t len = st_write_edited(&f, &lay, path);

    /* A newline in the path is folded like any other: the message names the file's tail. */
    const char *names = strchr(path, '\n') ? strchr(path, '\n') + 1 : path;
    alloc_reset();
    check_open(r, path, names, len);
    ck_assert_alloc_ok(r->name, len);

    va_error err = {0};
    va_block *b = (va_block *)&err; /* must come back NULL on failure */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    va_status s = va_block_load_file(path, &b, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    ck_assert_msg(!r->max_ms || ms <= r->max_ms, "row '%s': loading took %.0f ms (at most %d)",
                  r->name, ms, r->max_ms);
    ck_assert_alloc_ok(r->name, len);
    /* The same bytes from memory (va_block_load_memory) must fare the same. */
    if (!lay.grow_to && !lay.pad_to) {
        size_t mlen;
        unsigned char *mem = slurp(path, &mlen);
        va_error merr = {0};
        va_block *mb = (va_block *)&merr;
        va_status ms_ = va_block_load_memory(mem, mlen, "in-memory.safetensors", &mb, &merr);
        ck_assert_alloc_ok(r->name, len);
        ck_assert_msg(ms_ == s, "row '%s': from memory: status %d, from the file %d: %s", r->name,
                      ms_, s, merr.msg);
        if (ms_ != VA_OK) ck_assert_message(r->name, merr.msg, "in-memory.safetensors", r->needle);
        va_block_destroy(ms_ == VA_OK ? mb : NULL);
        free(mem);
    }
    if (r->want == WANT_ERR) {
        ck_assert_msg(s != VA_OK, "row '%s': the file loaded", r->name);
        ck_assert_ptr_null(b);
        ck_assert_alloc_ok(r->name, len);
        if (r->status >= 0)
            ck_assert_msg((int)s == r->status, "row '%s': status %d (%s), want %d (%s): %s",
                          r->name, s, va_status_str(s), r->status, va_status_str(r->status),
                          err.msg);
        ck_assert_message(r->name, err.msg, names, r->needle);
        st_free(&f);
        return;
    }
    ck_assert_msg(s == VA_OK, "row '%s': load failed: %s", r->name, err.msg);
    ck_assert_alloc_ok(r->name, len);
    /* The references read the file as written (edits were raw JSON text until then). */
    st_free(&f);
    if (!lay.pad_to) {
        size_t wlen;
        unsigned char *written = slurp(path, &wlen);
        st_split(written, wlen, &f);
        free(written);
    } else {
        st_split(bf->bytes, bf->len, &f); /* only padding was added */
    }

    va_tensor x, y;
    int64_t out[4];
    view_input(&x, bf, bf->x);
    if (r->want == WANT_SHAPE) {
        ck_assert_msg(va_block_out_shape(b, x.shape, out, &err) == VA_OK, "row '%s': %s", r->name,
                      err.msg);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(out[i] == r->out[i], "row '%s': out[%d] = %lld, want %lld", r->name, i,
                          (long long)out[i], (long long)r->out[i]);
        s = va_tensor_alloc(&y, 4, out, &err);
        ck_assert_msg(s != VA_OK, "row '%s': allocated an output of %lld x %lld x %lld x %lld",
                      r->name, (long long)out[0], (long long)out[1], (long long)out[2],
                      (long long)out[3]);
        ck_assert_message(r->name, err.msg, "", NULL);
    } else {
        s = run_block(b, &x, &y, out, &err);
        ck_assert_alloc_ok(r->name, len);
        if (r->want == WANT_FWD_ERR) {
            ck_assert_msg(s != VA_OK, "row '%s': the forward succeeded", r->name);
            if (r->status >= 0)
                ck_assert_msg((int)s == r->status, "row '%s': status %d, want %d: %s", r->name, s,
                              r->status, err.msg);
            ck_assert_message(r->name, err.msg, "", r->needle);
        } else {
            ck_assert_msg(s == VA_OK, "row '%s': forward failed: %s", r->name, err.msg);
            for (int i = 0; i < 4; i++)
                ck_assert_msg(out[i] == bf->out[i], "row '%s': out[%d] = %lld, want %lld", r->name,
                              i, (long long)out[i], (long long)bf->out[i]);
            check_numbers(r->name, r->check, r->col, r->base, &f, bf->x, &y);
            va_tensor_free(&y);
        }
    }
    ck_assert_alloc_ok(r->name, len);
    va_block_destroy(b);
    st_free(&f);
    if (lay.grow_to || lay.pad_to) remove(path); /* the 100 MB ones */
}
END_TEST

/* ---- Input arrays (.npy): the table ---------------------------------------------------------- */

enum {
    N_ERR = 1, /* va_npy_read fails */
    N_OK,      /* reads back exactly what was written; the forward succeeds (check applies) */
    N_FWD_ERR, /* reads; the forward fails cleanly */
    N_EMPTY,   /* a zero batch: an empty result */
};

enum { PL_F32 = 0, PL_F64, PL_NONE };

typedef struct npy_row {
    const char *name;
    int base;         /* the model the input goes through: SE or BB */
    const char *dict; /* header dict; NULL: the file va_npy_write makes */
    int payload;      /* PL_F32: the base input's floats; PL_F64: as doubles; PL_NONE: no data */
    long long nbytes; /* payload bytes written; -1: all of it */
    long long at[2];  /* planted values in the base input, at these flat indices */
    const char *val[2];
    int want, status;
    const char *needle;
    int check; /* for N_OK */
} npy_row;

// clang-format off
#define NPY_DICT(descr, shape) \
    "{'descr': '" descr "', 'fortran_order': False, 'shape': " shape ", }"
#define NOPLANT {-1, -1}, {NULL, NULL}
#define NOK(c) .want = N_OK, .check = c
#define NERR(st, n) .want = N_ERR, .status = st, .needle = n
#define NFWD(st, n) .want = N_FWD_ERR, .status = st, .needle = n

static const npy_row npy_rows[] = {
    {"valid input", SE, NULL, PL_F32, -1, NOPLANT, NOK(REF_SE)},
    {"float64 input", SE, NPY_DICT("<f8", "(2, 4, 5, 3)"), PL_F64, -1, NOPLANT, NOK(REF_SE)},
    {"trailing bytes after the data", SE, NPY_DICT("<f4", "(2, 4, 5, 3)"), PL_F32, 480 + 7,
     NOPLANT, NOK(REF_SE)},
    {"dtype <i4", SE, NPY_DICT("<i4", "(2, 4, 5, 3)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_UNSUPPORTED, "<i4")},
    {"dtype >f4 (big-endian)", SE, NPY_DICT(">f4", "(2, 4, 5, 3)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_UNSUPPORTED, ">f4")},
    {"dtype >f2 (big-endian float16)", SE, NPY_DICT(">f2", "(2, 4, 5, 3)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_UNSUPPORTED, ">f2")},
    {"dtype |b1", SE, NPY_DICT("|b1", "(2, 4, 5, 3)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_UNSUPPORTED, "b1")},
    {"dtype object", SE, NPY_DICT("|O", "(2, 4, 5, 3)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_UNSUPPORTED, "object|O'")},
    {"dtype unknown", SE, NPY_DICT("<q9", "(2, 4, 5, 3)"), PL_F32, -1, NOPLANT, NERR(-1, "q9")},
    {"fortran_order True", SE,
     "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 4, 5, 3), }", PL_F32, -1, NOPLANT,
     NERR(VA_ERR_UNSUPPORTED, "ortran")},
    {"shape (2**62,)", SE, NPY_DICT("<f4", "(4611686018427387904,)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_FORMAT, NULL)},
    {"shape (2**62, 4): overflow", SE, NPY_DICT("<f4", "(4611686018427387904, 4)"), PL_F32, -1,
     NOPLANT, NERR(VA_ERR_FORMAT, NULL)},
    {"shape (2**31, 4, 5, 3)", SE, NPY_DICT("<f4", "(2147483648, 4, 5, 3)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_FORMAT, NULL)},
    {"shape (2**64, 4, 5, 3)", SE, NPY_DICT("<f4", "(18446744073709551616, 4, 5, 3)"), PL_F32, -1,
     NOPLANT, NERR(VA_ERR_FORMAT, NULL)},
    {"shape negative", SE, NPY_DICT("<f4", "(-2, 4, 5, 3)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_FORMAT, "negative")},
    {"shape non-integer", SE, NPY_DICT("<f4", "(2.5, 4, 5, 3)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_FORMAT, NULL)},
    {"shape of 7 dims", SE, NPY_DICT("<f4", "(2, 4, 5, 3, 1, 1, 1)"), PL_F32, -1, NOPLANT,
     NERR(VA_ERR_UNSUPPORTED, "7 dimensions")},
    {"data one byte short", SE, NPY_DICT("<f4", "(2, 4, 5, 3)"), PL_F32, 479, NOPLANT,
     NERR(VA_ERR_FORMAT, "480")},
    {"header length past the end", SE, "", PL_NONE, -1, NOPLANT, NERR(VA_ERR_FORMAT, NULL)},
    {"batch 0", SE, NPY_DICT("<f4", "(0, 4, 5, 3)"), PL_NONE, -1, NOPLANT, .want = N_EMPTY},
    {"channels 0", SE, NPY_DICT("<f4", "(2, 0, 5, 3)"), PL_NONE, -1, NOPLANT,
     NFWD(VA_ERR_SHAPE, NULL)},
    {"height 0", SE, NPY_DICT("<f4", "(2, 4, 0, 3)"), PL_NONE, -1, NOPLANT,
     NFWD(VA_ERR_SHAPE, NULL)},
    {"width 0", SE, NPY_DICT("<f4", "(2, 4, 5, 0)"), PL_NONE, -1, NOPLANT,
     NFWD(VA_ERR_SHAPE, NULL)},
    {"3-D input", SE, NPY_DICT("<f4", "(8, 5, 3)"), PL_F32, -1, NOPLANT, NFWD(VA_ERR_SHAPE, "4-D")},
    {"5-D input", SE, NPY_DICT("<f4", "(2, 4, 5, 3, 1)"), PL_F32, -1, NOPLANT,
     NFWD(VA_ERR_SHAPE, "4-D")},
    {"scalar input", SE, NPY_DICT("<f4", "()"), PL_F32, 4, NOPLANT, NFWD(VA_ERR_SHAPE, "4-D")},
    {"wrong channel count", SE, NPY_DICT("<f4", "(2, 3, 5, 4)"), PL_F32, -1, NOPLANT,
     NFWD(VA_ERR_SHAPE, "channels")},
    /* NaN and Inf in the input (2 x 4 x 5 x 3; sample s, channel c starts at 60 s + 15 c). */
    {"NaN in sample 0", SE, NULL, PL_F32, -1, {15 + 7, -1}, {"nan", NULL}, NOK(REF_SE)},
    {"+Inf in sample 1", SE, NULL, PL_F32, -1, {60, -1}, {"inf", NULL}, NOK(REF_SE)},
    {"-Inf in sample 1", SE, NULL, PL_F32, -1, {60 + 30 + 14, -1}, {"-inf", NULL}, NOK(REF_SE)},
    {"+Inf and -Inf in one channel", SE, NULL, PL_F32, -1, {45, 46}, {"inf", "-inf"}, NOK(REF_SE)},
    {"3e38 in one channel", SE, NULL, PL_F32, -1, {3, -1}, {"3e38", NULL}, NOK(REF_SE)},
    {"subnormal input", SE, NULL, PL_F32, -1, {3, 4}, {"1e-45", "-1e-42"}, NOK(REF_SE)},
    {"backbone: NaN pixel in sample 0", BB, NULL, PL_F32, -1, {27, -1}, {"nan", NULL},
     NOK(NF_SAMPLE0)},
    {"backbone: 1 x 1 input", BB, NPY_DICT("<f4", "(2, 1, 1, 1)"), PL_F32, -1, NOPLANT,
     NOK(NF_FINITE)},
    {"backbone: 3 channels", BB, NPY_DICT("<f4", "(2, 3, 8, 8)"), PL_F32, 1536, NOPLANT,
     NFWD(VA_ERR_SHAPE, "channels")},
};
// clang-format on

#define N_NPY_ROWS ((int)(sizeof npy_rows / sizeof npy_rows[0]))

/* A version 1.0 .npy file with this header dict, padded as numpy pads it. */
static unsigned char *npy_bytes(const char *dict, const void *payload, size_t plen, size_t *len) {
    size_t dl = strlen(dict), hl = dl + 1;
    size_t total_h = (10 + hl + 63) / 64 * 64;
    *len = total_h + plen;
    unsigned char *b = calloc(*len + 1, 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    size_t field = total_h - 10;
    b[8] = (unsigned char)(field & 0xFF), b[9] = (unsigned char)(field >> 8);
    memcpy(b + 10, dict, dl);
    memset(b + 10 + dl, ' ', total_h - 10 - dl - 1);
    b[total_h - 1] = '\n';
    if (plen) memcpy(b + total_h, payload, plen);
    return b;
}

/* Run the base model on x; on success *y is the output. */
static va_status load_and_run(int base, const va_tensor *x, va_tensor *y, int64_t out[4],
                              va_error *err) {
    va_block *b;
    va_error lerr = {0};
    ck_assert_msg(va_block_load_file(g_base[base].path, &b, &lerr) == VA_OK, "%s", lerr.msg);
    va_status s = run_block(b, x, y, out, err);
    va_block_destroy(b);
    return s;
}

START_TEST(test_input_rows) {
    row_threads(0);
    const npy_row *r = &npy_rows[_i];
    const base_file *bf = &g_base[r->base];
    const int64_t m = bf->in[0] * bf->in[1] * bf->in[2] * bf->in[3];
    float *x0 = malloc((size_t)m * sizeof(float));
    ck_assert_ptr_nonnull(x0);
    memcpy(x0, bf->x, (size_t)m * sizeof(float));
    for (int k = 0; k < 2; k++)
        if (r->val[k]) x0[r->at[k]] = parse_value(r->val[k]);

    char name[64];
    snprintf(name, sizeof name, "in%03d.npy", _i);
    const char *path = tpath(name);
    va_error err = {0};
    if (!r->dict) {
        va_tensor t;
        view_input(&t, bf, x0);
        ck_assert_msg(va_npy_write(path, &t, &err) == VA_OK, "%s", err.msg);
    } else if (!r->dict[0]) { /* header length past the end of the file */
        put_file(path, "\x93NUMPY\x01\x00\x00\x10{'descr'", 18);
    } else {
        size_t plen = r->payload == PL_NONE ? 0 : (size_t)m * (r->payload == PL_F64 ? 8 : 4);
        if (r->nbytes >= 0) plen = (size_t)r->nbytes; /* zeros past the base input */
        unsigned char *pl = calloc(plen + (size_t)m * 8, 1);
        ck_assert_ptr_nonnull(pl);
        for (int64_t i = 0; r->payload != PL_NONE && i < m; i++) {
            if (r->payload == PL_F64) {
                double d = x0[i];
                uint64_t bits;
                memcpy(&bits, &d, 8);
                set_le64(pl + 8 * i, bits);
            } else {
                put_le_f32(pl + 4 * i, x0[i]);
            }
        }
        size_t len;
        unsigned char *bytes = npy_bytes(r->dict, pl, plen, &len);
        put_file(path, bytes, len);
        free(bytes);
        free(pl);
    }

    alloc_reset();
    va_tensor x;
    memset(&x, 0xAB, sizeof x);
    va_status s = va_npy_read(path, &x, &err);
    if (r->want == N_ERR) {
        ck_assert_msg(s != VA_OK, "row '%s': the file was read", r->name);
        ck_assert_ptr_null(x.data);
        if (r->status >= 0)
            ck_assert_msg((int)s == r->status, "row '%s': status %d (%s), want %d: %s", r->name, s,
                          va_status_str(s), r->status, err.msg);
        ck_assert_message(r->name, err.msg, path, r->needle);
        ck_assert_alloc_ok(r->name, 0);
        free(x0);
        return;
    }
    ck_assert_msg(s == VA_OK, "row '%s': read failed: %s", r->name, err.msg);
    va_tensor y;
    int64_t out[4];
    s = load_and_run(r->base, &x, &y, out, &err);
    if (r->want == N_OK) {
        ck_assert_msg(s == VA_OK, "row '%s': forward failed: %s", r->name, err.msg);
        if (x.ndim == 4 && x.shape[2] == bf->in[2]) {
            /* The reader gives back exactly the values written (NaN as NaN). */
            ck_assert_int_eq(va_numel(&x), m);
            for (int64_t i = 0; i < m; i++)
                ck_assert_msg(x.data[i] == x0[i] || (isnan(x.data[i]) && isnan(x0[i])),
                              "row '%s': x[%lld] read as %g, written %g", r->name, (long long)i,
                              (double)x.data[i], (double)x0[i]);
            for (int i = 0; i < 4; i++)
                ck_assert_int_eq(out[i], bf->out[i]);
        }
        stfile f;
        st_split(bf->bytes, bf->len, &f);
        check_numbers(r->name, r->check, 0, r->base, &f, x.data, &y);
        st_free(&f);
        va_tensor_free(&y);
    } else if (r->want == N_FWD_ERR) {
        ck_assert_msg(s != VA_OK, "row '%s': the forward succeeded", r->name);
        if (r->status >= 0)
            ck_assert_msg((int)s == r->status, "row '%s': status %d (%s), want %d: %s", r->name, s,
                          va_status_str(s), r->status, err.msg);
        ck_assert_message(r->name, err.msg, "", r->needle);
    } else { /* N_EMPTY: as in PyTorch, an empty output of the right shape */
        ck_assert_msg(s == VA_OK, "row '%s': status %d: %s", r->name, s, err.msg);
        ck_assert_int_eq(out[0], 0);
        va_tensor_free(&y);
    }
    ck_assert_alloc_ok(r->name, 0);
    va_tensor_free(&x);
    free(x0);
}
END_TEST

/* ---- Images (vis/image.c, libvisattn_vis's loader): the table ------------------------------- */

#define IMG_W 16
#define IMG_H 12

static const char *g_png_path; /* the valid PNG, written in main */
static va_image g_png_image;   /* what was written */

/* What the backbone expects: 1 channel, 8 x 8, (p / 255 - 0.5) / 0.25 (its config above). */
static const va_preprocess g_pp = {1, 8, 8, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}, 0};

enum {
    IMG_PNG = 1,  /* the valid PNG */
    IMG_PNG_IHDR, /* the valid PNG with IHDR claiming w x h (its CRC left stale) */
    IMG_PNG_CUT,  /* the valid PNG up to the end of IHDR and its CRC: no image data */
    IMG_PNG_IDAT, /* the valid PNG with the length of its first IDAT chunk set to w */
    IMG_BMP,      /* BITMAPINFOHEADER claiming w x h, 24 bits, no pixel data */
    IMG_GIF,      /* GIF89a logical screen w x h, nothing after */
    IMG_JPEG,     /* SOI + SOF0 claiming w x h, 3 components, nothing after */
    IMG_PNM,      /* "P6\nw h\n255\n", no pixel data */
    IMG_PNM_TEXT, /* P5 with the given header text */
    IMG_PSD,      /* PSD header, RGB, 8 bits, w x h */
    IMG_TGA,      /* uncompressed true-colour TGA header, w x h */
    IMG_HDR,      /* Radiance header, -Y h +X w */
    IMG_BYTES,    /* `text` as the file's bytes */
    IMG_DIR,      /* a directory */
    IMG_MISSING,  /* no such file */
};

typedef struct img_row {
    const char *name;
    int kind;
    long long w, h;
    const char *text;
    int64_t max_pixels; /* 0: VA_IMAGE_DEFAULT_MAX_PIXELS */
    int ok;             /* 1: loads, and runs through the backbone */
    const char *needle;
    int all_formats; /* load with va_image_options.all_formats (TGA, PSD, HDR, PIC) */
} img_row;

/* One row a line or two: clang-format would put every field of a row on its own line. */
// clang-format off
static const img_row img_rows[] = {
    {"valid PNG", IMG_PNG, 0, 0, NULL, 0, 1, NULL, 0},
    {"valid PNG at exactly the pixel limit", IMG_PNG, 0, 0, NULL, IMG_W * IMG_H, 1, NULL, 0},
    {"valid PNG one pixel over the limit", IMG_PNG, 0, 0, NULL, IMG_W * IMG_H - 1, 0, "limit", 0},
    {"PNG IHDR 100000 x 100000", IMG_PNG_IHDR, 100000, 100000, NULL, 0, 0, "100000", 0},
    {"PNG IHDR 10001 x 10000, just over 10^8", IMG_PNG_IHDR, 10001, 10000, NULL, 0, 0, "10001", 0},
    {"PNG IHDR 0 x 0", IMG_PNG_IHDR, 0, 0, NULL, 0, 0, "0 x 0", 0},
    {"PNG IHDR 0 x 12", IMG_PNG_IHDR, 0, 12, NULL, 0, 0, "0 x 12", 0},
    {"PNG IHDR 2^31-1 x 1", IMG_PNG_IHDR, 2147483647, 1, NULL, 0, 0, "2147483647", 0},
    {"PNG IHDR 2^32-1 x 2^32-1", IMG_PNG_IHDR, 4294967295LL, 4294967295LL, NULL, 0, 0, "limit", 0},
    {"PNG IHDR 17 x 12, data for 16 x 12", IMG_PNG_IHDR, 17, 12, NULL, 0, 0, NULL, 0},
    {"PNG without image data", IMG_PNG_CUT, 0, 0, NULL, 0, 0, NULL, 0},
    {"PNG IDAT length 2^31-1", IMG_PNG_IDAT, 2147483647, 0, NULL, 0, 0, NULL, 0},
    {"PNG IDAT length 10^8", IMG_PNG_IDAT, 100000000, 0, NULL, 0, 0, NULL, 0},
    {"PNG IDAT length 2^32-1", IMG_PNG_IDAT, 4294967295LL, 0, NULL, 0, 0, NULL, 0},
    {"BMP 100000 x 100000", IMG_BMP, 100000, 100000, NULL, 0, 0, "100000", 0},
    {"BMP 100000 x -100000 (top-down)", IMG_BMP, 100000, -100000, NULL, 0, 0, "100000", 0},
    {"BMP 0 x 0", IMG_BMP, 0, 0, NULL, 0, 0, NULL, 0},
    {"BMP 2^31-1 x 2^31-1", IMG_BMP, 2147483647, 2147483647, NULL, 0, 0, NULL, 0},
    {"GIF 65535 x 65535", IMG_GIF, 65535, 65535, NULL, 0, 0, "65535", 0},
    {"JPEG SOF 65535 x 65535", IMG_JPEG, 65535, 65535, NULL, 0, 0, "65535", 0},
    {"JPEG SOF height 0", IMG_JPEG, 64, 0, NULL, 0, 0, NULL, 0},
    {"PNM 100000 x 100000", IMG_PNM, 100000, 100000, NULL, 0, 0, "100000", 0},
    {"PNM width over 2^31", IMG_PNM_TEXT, 0, 0, "P5\n99999999999 1\n255\n", 0, 0, NULL, 0},
    {"PSD 100000 x 100000", IMG_PSD, 100000, 100000, NULL, 0, 0, "100000", 1},
    {"TGA 65535 x 65535", IMG_TGA, 65535, 65535, NULL, 0, 0, "65535", 1},
    {"HDR 100000 x 100000", IMG_HDR, 100000, 100000, NULL, 0, 0, "100000", 1},
    {"PSD, off by default", IMG_PSD, 16, 12, NULL, 0, 0, "--all-formats", 0},
    {"TGA, off by default", IMG_TGA, 16, 12, NULL, 0, 0, "--all-formats", 0},
    {"HDR, off by default", IMG_HDR, 16, 12, NULL, 0, 0, "--all-formats", 0},
    {"empty file", IMG_BYTES, 0, 0, "", 0, 0, "empty", 0},
    {"text file", IMG_BYTES, 0, 0, "hello, not an image\n", 0, 0, NULL, 0},
    {"a directory", IMG_DIR, 0, 0, NULL, 0, 0, NULL, 0},
    {"no such file", IMG_MISSING, 0, 0, NULL, 0, 0, NULL, 0},
};
// clang-format on

#define N_IMG_ROWS ((int)(sizeof img_rows / sizeof img_rows[0]))

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}

/* Load an image and, when it loads, feed it to the backbone. Returns the load status. */
static va_status image_through_model(const char *row, const char *path, int64_t max_pixels,
                                     int all_formats, va_image *img, va_error *err) {
    const va_image_options o = {.max_pixels = max_pixels, .all_formats = all_formats};
    va_status s = va_image_load_opts(path, &o, img, err);
    if (s != VA_OK) return s;
    ck_assert_msg(img->w > 0 && img->h > 0 && img->px, "row '%s': loaded an empty image", row);
    ck_assert_msg((int64_t)img->w * img->h <= max_pixels, "row '%s': %d x %d over the limit", row,
                  img->w, img->h);
    va_tensor x, y;
    va_error e2 = {0};
    ck_assert_msg(va_image_to_input(img, &g_pp, &x, &e2) == VA_OK, "row '%s': %s", row, e2.msg);
    ck_assert_int_eq(x.ndim, 4);
    ck_assert(x.shape[0] == 1 && x.shape[1] == 1 && x.shape[2] == 8 && x.shape[3] == 8);
    ck_assert_msg(all_finite(x.data, 64), "row '%s': non-finite model input", row);
    int64_t out[4];
    ck_assert_msg(load_and_run(BB, &x, &y, out, &e2) == VA_OK, "row '%s': forward: %s", row,
                  e2.msg);
    ck_assert(out[0] == 1 && out[1] == 3 && out[2] == 1 && out[3] == 1);
    ck_assert_msg(all_finite(y.data, 3), "row '%s': non-finite logits", row);
    va_tensor_free(&x);
    va_tensor_free(&y);
    return VA_OK;
}

START_TEST(test_image_rows) {
    row_threads(0);
    const img_row *r = &img_rows[_i];
    char name[64];
    snprintf(name, sizeof name, "img%03d", _i);
    const char *path = tpath(name);
    unsigned char b[256] = {0};
    size_t len = 0;
    uint32_t w = (uint32_t)r->w, h = (uint32_t)r->h;
    switch (r->kind) {
    case IMG_PNG: path = g_png_path; break;
    case IMG_PNG_IHDR:
    case IMG_PNG_IDAT:
    case IMG_PNG_CUT: {
        unsigned char *png = slurp(g_png_path, &len);
        if (r->kind == IMG_PNG_IHDR) {
            put_be32(png + 16, w);
            put_be32(png + 20, h);
        } else if (r->kind == IMG_PNG_IDAT) {
            /* stb_image_write puts IDAT right after IHDR (8 + 25 bytes in). */
            ck_assert(len > 41 && !memcmp(png + 37, "IDAT", 4));
            put_be32(png + 33, w);
        } else {
            len = 8 + 8 + 13 + 4; /* signature, IHDR length and type, IHDR data, CRC */
        }
        put_file(path, png, len);
        free(png);
        len = 0;
        break;
    }
    case IMG_BMP:
        memcpy(b, "BM", 2);
        put_le32(b + 2, 54 + 12), put_le32(b + 10, 54), put_le32(b + 14, 40);
        put_le32(b + 18, w), put_le32(b + 22, h);
        put_le16(b + 26, 1), put_le16(b + 28, 24);
        len = 54 + 12;
        break;
    case IMG_GIF:
        memcpy(b, "GIF89a", 6);
        put_le16(b + 6, w), put_le16(b + 8, h);
        len = 13;
        break;
    case IMG_JPEG: {
        static const unsigned char sof[] = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08,
                                            0,    0,    0,    0,    0x03, 0x01, 0x11,
                                            0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00};
        memcpy(b, sof, sizeof sof);
        b[7] = (unsigned char)(h >> 8), b[8] = (unsigned char)h;
        b[9] = (unsigned char)(w >> 8), b[10] = (unsigned char)w;
        len = sizeof sof;
        break;
    }
    case IMG_PNM: len = (size_t)sprintf((char *)b, "P6\n%u %u\n255\n", w, h); break;
    case IMG_PNM_TEXT:
    case IMG_BYTES: len = strlen(r->text), memcpy(b, r->text, len); break;
    case IMG_PSD:
        memcpy(b, "8BPS", 4);
        b[5] = 1;             /* version */
        b[13] = 3;            /* channels */
        put_be32(b + 14, h);  /* height */
        put_be32(b + 18, w);  /* width */
        b[23] = 8, b[25] = 3; /* depth, RGB mode */
        len = 26 + 4 * 3;
        break;
    case IMG_TGA:
        b[2] = 2; /* uncompressed true colour */
        put_le16(b + 12, w), put_le16(b + 14, h);
        b[16] = 24;
        len = 18;
        break;
    case IMG_HDR:
        len =
            (size_t)sprintf((char *)b, "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %u +X %u\n", h, w);
        break;
    case IMG_DIR: ck_assert_int_eq(mkdir(path, 0700), 0); break;
    case IMG_MISSING: break;
    }
    if (len || r->kind == IMG_BYTES) put_file(path, b, len);

    alloc_reset();
    va_error err = {0};
    va_image img;
    const int64_t maxp = r->max_pixels ? r->max_pixels : VA_IMAGE_DEFAULT_MAX_PIXELS;
    va_status s = image_through_model(r->name, path, maxp, r->all_formats, &img, &err);
    if (r->ok) {
        ck_assert_msg(s == VA_OK, "row '%s': %s", r->name, err.msg);
        ck_assert(img.w == IMG_W && img.h == IMG_H && img.src_channels == 3);
        ck_assert_msg(!memcmp(img.px, g_png_image.px, IMG_W * IMG_H * 3),
                      "row '%s': pixels differ from those written", r->name);
        va_image_free(&img);
    } else {
        ck_assert_msg(s != VA_OK, "row '%s': the image loaded (%d x %d)", r->name, img.w, img.h);
        ck_assert_ptr_null(img.px);
        ck_assert_message(r->name, err.msg, path, r->needle);
    }
    ck_assert_alloc_ok(r->name, len);
}
END_TEST

/* ---- Sweeps: every truncation and every flipped byte of the small files ---------------------- */

enum { SW_ST_CUT = 1, SW_ST_FLIP, SW_NPY_CUT, SW_NPY_FLIP, SW_PNG_CUT, SW_PNG_FLIP };

typedef struct sweep {
    const char *name;
    int kind, base;
    unsigned char mask;
} sweep;

static const sweep sweeps[] = {
    {"se block truncated at every byte", SW_ST_CUT, SE, 0},
    {"backbone truncated at every byte", SW_ST_CUT, BB, 0},
    {"se block: every byte xor 0xFF", SW_ST_FLIP, SE, 0xFF},
    {"se block: every byte xor 0x01", SW_ST_FLIP, SE, 0x01},
    {"conv_bn: every byte xor 0xFF", SW_ST_FLIP, CBN, 0xFF},
    {"irmb: every byte xor 0xFF", SW_ST_FLIP, IRMB, 0xFF},
    {"backbone: every byte xor 0xFF", SW_ST_FLIP, BB, 0xFF},
    {"backbone: every byte xor 0x01", SW_ST_FLIP, BB, 0x01},
    {"input .npy truncated at every byte", SW_NPY_CUT, SE, 0},
    {"input .npy: every byte xor 0xFF", SW_NPY_FLIP, SE, 0xFF},
    {"input .npy: every byte xor 0x01", SW_NPY_FLIP, SE, 0x01},
    {"PNG truncated at every byte", SW_PNG_CUT, BB, 0},
    {"PNG: every byte xor 0xFF", SW_PNG_FLIP, BB, 0xFF},
    {"PNG: every byte xor 0x01", SW_PNG_FLIP, BB, 0x01},
};

#define N_SWEEPS ((int)(sizeof sweeps / sizeof sweeps[0]))

static const char *g_npy_path; /* the base se input, written by va_npy_write in main */

/* One mangled weight file: a clean error, or a load and a forward that succeeds. Bytes in the
 * data section are arbitrary floats, so a change there must always load and run. */
static void st_case(const sweep *sw, const char *path, size_t at, int *errors, int *loads) {
    const base_file *bf = &g_base[sw->base];
    const int in_data = at >= bf->data_start;
    va_error err = {0};
    va_block *b = (va_block *)&err;
    va_status s = va_block_load_file(path, &b, &err);
    if (s != VA_OK) {
        ck_assert_ptr_null(b);
        ck_assert_msg(!in_data, "%s, byte %zu (data section): %s", sw->name, at, err.msg);
        ck_assert_message(sw->name, err.msg, path, NULL);
        (*errors)++;
        return;
    }
    (*loads)++;
    va_tensor x, y;
    int64_t out[4];
    view_input(&x, bf, bf->x);
    s = run_block(b, &x, &y, out, &err);
    if (s == VA_OK) {
        for (int i = 0; in_data && i < 4; i++)
            ck_assert_int_eq(out[i], bf->out[i]);
        va_tensor_free(&y);
    } else {
        /* A flip in the config may change what the block accepts: then out_shape says so. */
        ck_assert_msg(!in_data, "%s, byte %zu (data section): forward: %s", sw->name, at, err.msg);
        ck_assert_message(sw->name, err.msg, "", NULL);
    }
    va_block_destroy(b);
}

static void npy_case(const sweep *sw, const char *path, size_t at, size_t data_start, int *errors,
                     int *loads) {
    const base_file *bf = &g_base[SE];
    va_error err = {0};
    va_tensor x;
    va_status s = va_npy_read(path, &x, &err);
    if (s != VA_OK) {
        ck_assert_msg(at < data_start, "%s, byte %zu (data): %s", sw->name, at, err.msg);
        ck_assert_ptr_null(x.data);
        ck_assert_message(sw->name, err.msg, path, NULL);
        (*errors)++;
        return;
    }
    (*loads)++;
    int same = x.ndim == 4;
    for (int i = 0; same && i < 4; i++)
        same = x.shape[i] == bf->in[i];
    ck_assert_msg(same || at < data_start, "%s, byte %zu: shape changed", sw->name, at);
    va_tensor y;
    int64_t out[4];
    s = load_and_run(SE, &x, &y, out, &err);
    if (same) ck_assert_msg(s == VA_OK, "%s, byte %zu: forward: %s", sw->name, at, err.msg);
    if (s == VA_OK)
        va_tensor_free(&y);
    else
        ck_assert_message(sw->name, err.msg, "", NULL);
    va_tensor_free(&x);
}

START_TEST(test_sweeps) {
    row_threads(1);
    const sweep *sw = &sweeps[_i];
    const char *src = sw->kind == SW_ST_CUT || sw->kind == SW_ST_FLIP     ? g_base[sw->base].path
                      : sw->kind == SW_NPY_CUT || sw->kind == SW_NPY_FLIP ? g_npy_path
                                                                          : g_png_path;
    size_t len;
    unsigned char *orig = slurp(src, &len), *buf = malloc(len + 1);
    ck_assert_ptr_nonnull(buf);
    char name[64];
    snprintf(name, sizeof name, "sweep%02d", _i);
    const char *path = tpath(name);
    const int cut = sw->kind == SW_ST_CUT || sw->kind == SW_NPY_CUT || sw->kind == SW_PNG_CUT;
    /* .npy data starts after the 10-byte preamble and the header its length field gives. */
    const size_t npy_data = 10 + (size_t)(orig[8] | orig[9] << 8);
    int errors = 0, loads = 0;
    for (size_t at = 0; at < len; at++) {
        memcpy(buf, orig, len);
        size_t n = len;
        if (cut)
            n = at;
        else
            buf[at] ^= sw->mask;
        put_file(path, buf, n);
        alloc_reset();
        va_error err = {0};
        switch (sw->kind) {
        case SW_ST_CUT: {
            va_block *b = (va_block *)&err;
            va_status s = va_block_load_file(path, &b, &err);
            ck_assert_msg(s == VA_ERR_FORMAT, "%s at %zu bytes: status %d: %s", sw->name, n, s,
                          s ? err.msg : "loaded");
            ck_assert_ptr_null(b);
            ck_assert_message(sw->name, err.msg, path, NULL);
            errors++;
            break;
        }
        case SW_ST_FLIP: st_case(sw, path, at, &errors, &loads); break;
        case SW_NPY_CUT: {
            va_tensor x;
            va_status s = va_npy_read(path, &x, &err);
            ck_assert_msg(s == VA_ERR_FORMAT, "%s at %zu bytes: status %d: %s", sw->name, n, s,
                          s ? err.msg : "read");
            ck_assert_message(sw->name, err.msg, path, NULL);
            errors++;
            break;
        }
        case SW_NPY_FLIP: npy_case(sw, path, at, npy_data, &errors, &loads); break;
        case SW_PNG_CUT:
        case SW_PNG_FLIP: {
            va_image img;
            va_status s =
                image_through_model(sw->name, path, VA_IMAGE_DEFAULT_MAX_PIXELS, 0, &img, &err);
            if (s != VA_OK) {
                ck_assert_ptr_null(img.px);
                ck_assert_message(sw->name, err.msg, path, NULL);
                errors++;
            } else {
                /* Only the chunks after the image data may go missing unnoticed. */
                if (cut)
                    ck_assert_msg(img.w == IMG_W && img.h == IMG_H &&
                                      !memcmp(img.px, g_png_image.px, IMG_W * IMG_H * 3),
                                  "%s at %zu bytes: loaded different pixels", sw->name, n);
                va_image_free(&img);
                loads++;
            }
            break;
        }
        }
        ck_assert_alloc_ok(sw->name, n);
    }
    printf("sweep '%s': %zu cases, %d clean errors, %d loaded\n", sw->name, len, errors, loads);
    free(buf);
    free(orig);
}
END_TEST

/* ---- The guard itself ------------------------------------------------------------------------ */

/* The allocation cap must see the libraries' allocations, or every alloc check above is void.
 * libvisattn_vis's too: it is linked static for that (a shared one would escape --wrap). */
START_TEST(test_allocation_guard_sees_the_library) {
    va_error err = {0};
    va_tensor t;
    alloc_reset();
    ck_assert_int_eq(va_tensor_alloc4(&t, 1, 1, 1000, 1000, &err), VA_OK);
    ck_assert_uint_ge(atomic_load(&g_biggest_request), 4000000);
    va_tensor_free(&t);
    ck_assert_int_eq(va_tensor_alloc4(&t, 1, 1, 1 << 16, 1 << 15, &err), VA_ERR_NOMEM);
    ck_assert_uint_ge(atomic_load(&g_biggest_request), (size_t)1 << 33);
    ck_assert(va_test_msg_ok(err.msg, NULL));
    alloc_reset();
    va_image img;
    ck_assert_int_eq(va_image_alloc(&img, 10000, 10000, &err), VA_ERR_NOMEM); /* 300 MB */
    ck_assert_uint_ge(atomic_load(&g_biggest_request), (size_t)300000000);
    ck_assert(va_test_msg_ok(err.msg, "10000"));
    ck_assert_ptr_null(img.px);
    alloc_reset();
}
END_TEST

/* ---- Main ------------------------------------------------------------------------------------ */

static void make_image_and_input(void) {
    va_error err = {0};
    REQUIRE(va_image_alloc(&g_png_image, IMG_W, IMG_H, &err) == VA_OK, "image");
    for (int i = 0; i < IMG_W * IMG_H * 3; i++)
        g_png_image.px[i] = (unsigned char)(i * 37 + (i / 7) * 11);
    g_png_path = strdup(tpath("base.png"));
    REQUIRE(va_image_write_png(g_png_path, &g_png_image, &err) == VA_OK, "%s", err.msg);
    va_tensor t;
    view_input(&t, &g_base[SE], g_base[SE].x);
    g_npy_path = strdup(tpath("base_input.npy"));
    REQUIRE(va_npy_write(g_npy_path, &t, &err) == VA_OK, "%s", err.msg);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/visattn-hostile-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    /* The valid files, made once; every row reads them. No threads have run yet (forking after
     * OpenMP has started is not safe). */
    make_bases();
    make_image_and_input();
    g_in_main = 0;

    Suite *s = suite_create("hostile");
    TCase *guard = tcase_create("guard");
    tcase_add_test(guard, test_allocation_guard_sees_the_library);
    suite_add_tcase(s, guard);
    TCase *wf = tcase_create("weight files");
    tcase_set_timeout(wf, 30);
    tcase_add_loop_test(wf, test_weight_file_rows, 0, N_ST_ROWS);
    suite_add_tcase(s, wf);
    TCase *in = tcase_create("inputs");
    tcase_set_timeout(in, 30);
    tcase_add_loop_test(in, test_input_rows, 0, N_NPY_ROWS);
    suite_add_tcase(s, in);
    TCase *im = tcase_create("images");
    tcase_set_timeout(im, 30);
    tcase_add_loop_test(im, test_image_rows, 0, N_IMG_ROWS);
    suite_add_tcase(s, im);
    TCase *sw = tcase_create("sweeps");
    tcase_set_timeout(sw, 150);
    tcase_add_loop_test(sw, test_sweeps, 0, N_SWEEPS);
    suite_add_tcase(s, sw);

    printf("hostile-input table: %d weight-file rows, %d input rows, %d image rows, %d sweeps\n",
           N_ST_ROWS, N_NPY_ROWS, N_IMG_ROWS, N_SWEEPS);
    fflush(stdout);
    SRunner *sr = srunner_create(s);
    /* Each row in its own process: a crash or a hang (Check's timeout) fails that row only and
     * names it. VISATTN_HOSTILE_NOFORK=1 runs in-process, for a debugger. */
    const char *nofork = getenv("VISATTN_HOSTILE_NOFORK");
    srunner_set_fork_status(sr, nofork && *nofork == '1' ? CK_NOFORK : CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_tree(g_dir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
