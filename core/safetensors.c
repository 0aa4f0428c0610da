/* safetensors reader and writer.
 *
 * Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N, N
 * bytes of JSON mapping tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data section that follows the header) plus an optional "__metadata__" object of
 * strings.
 *
 * The reader maps the file read-only and trusts nothing in it: every size, offset and shape is
 * checked against the file before anything is allocated or dereferenced, so a hostile or truncated
 * file yields one error line naming the file and the offending key. */
#include "arg_check.h"
#include "io_util.h"
#include "visattn/io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct va_safetensors {
    char *path;                /* file path, or the caller's name for an in-memory file */
    void *map;                 /* our mapping of the file, or NULL for an in-memory file */
    const unsigned char *base; /* the whole file: map, or the caller's buffer */
    size_t len;
    const unsigned char *data; /* start of the data section, inside map */
    size_t data_len;
    cJSON *root;          /* parsed header; owns entry names and metadata strings */
    const cJSON *meta;    /* "__metadata__" object, or NULL */
    va_st_entry *entries; /* header order */
    size_t count;
    const va_st_entry **by_name; /* sorted by name, for va_st_find and duplicate detection */
};

/* ---- Small helpers ------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static size_t dtype_size(va_dtype d) {
    switch (d) {
    case VA_DTYPE_F32: return 4;
    case VA_DTYPE_F16: return 2;
    case VA_DTYPE_BF16: return 2;
    case VA_DTYPE_I64: return 8;
    }
    return 0;
}

static const char *dtype_name(va_dtype d) {
    switch (d) {
    case VA_DTYPE_F32: return "F32";
    case VA_DTYPE_F16: return "F16";
    case VA_DTYPE_BF16: return "BF16";
    case VA_DTYPE_I64: return "I64";
    }
    return "?";
}

/* JSON numbers are doubles: integers are exact only up to 2^53, far beyond any real file size. */
#define JSON_INT_MAX 9007199254740992.0

enum { JSON_UINT_OK = 0, JSON_UINT_NOT_INT, JSON_UINT_NEGATIVE, JSON_UINT_TOO_BIG };

static int json_uint(const cJSON *x, uint64_t *out) {
    if (!cJSON_IsNumber(x)) return JSON_UINT_NOT_INT;
    double d = x->valuedouble;
    if (d != d) return JSON_UINT_NOT_INT;
    if (d < 0)
        return d > -JSON_INT_MAX && d == (double)(int64_t)d ? JSON_UINT_NEGATIVE
                                                            : JSON_UINT_NOT_INT;
    if (d > JSON_INT_MAX) return JSON_UINT_TOO_BIG;
    if (d != (double)(uint64_t)d) return JSON_UINT_NOT_INT;
    *out = (uint64_t)d;
    return JSON_UINT_OK;
}

static int cmp_entry_name(const void *a, const void *b) {
    const va_st_entry *x = *(const va_st_entry *const *)a, *y = *(const va_st_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_entry_offset(const void *a, const void *b) {
    const va_st_entry *x = *(const va_st_entry *const *)a, *y = *(const va_st_entry *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- Reader -------------------------------------------------------------------------------- */

static va_status map_file(va_safetensors *st, va_error *err) {
    VA_TRY(va_map_file(st->path, &st->map, &st->len, err));
    st->base = st->map;
    return VA_OK;
}

/* Parse the JSON header into a cJSON tree (st->root). The header is copied into a NUL-terminated
 * buffer first: it gives cJSON a proper C string and lets us reject embedded NUL bytes. */
static va_status parse_json(va_safetensors *st, va_error *err) {
    const char *path = st->path;
    const unsigned char *base = st->base;
    if (st->len == 0)
        return va_fail(err, VA_ERR_FORMAT, "%s: file is empty (0 bytes), not a safetensors file",
                       path);
    if (st->len < 8)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: file is only %zu bytes, shorter than the 8-byte header length field; "
                       "not a safetensors file",
                       path, st->len);
    uint64_t hlen = load_le64(base);
    size_t avail = st->len - 8;
    if (hlen > VA_ST_MAX_HEADER_BYTES)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: header length %llu bytes exceeds the %u-byte limit; not a safetensors "
                       "file or corrupt",
                       path, (unsigned long long)hlen, (unsigned)VA_ST_MAX_HEADER_BYTES);
    if (hlen > avail)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: header length %llu bytes exceeds the %zu bytes after the length field; "
                       "file truncated or not a safetensors file",
                       path, (unsigned long long)hlen, avail);
    if (hlen == 0) return va_fail(err, VA_ERR_FORMAT, "%s: header is empty (length 0)", path);
    size_t n = (size_t)hlen;
    if (memchr(base + 8, '\0', n))
        return va_fail(err, VA_ERR_FORMAT, "%s: header contains a NUL byte; not valid JSON", path);
    if (va_json_has_nul_escape((const char *)base + 8, n))
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: header contains the escape \\u0000 (a NUL character), which no name or "
                       "value may hold",
                       path);
    char *text = malloc(n + 1);
    if (!text) return va_fail(err, VA_ERR_NOMEM, "%s: cannot allocate %zu header bytes", path, n);
    memcpy(text, base + 8, n);
    text[n] = '\0';
    const char *end = NULL;
    st->root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    va_status s = VA_OK;
    if (!st->root) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        s = va_fail(err, VA_ERR_FORMAT, "%s: header is not valid JSON (error near byte %zu of %zu)",
                    path, at, n);
    } else {
        /* The format allows trailing spaces as padding; anything else means a corrupt header. */
        for (const char *p = end; p && p < text + n; p++) {
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                s = va_fail(err, VA_ERR_FORMAT,
                            "%s: header has data after the JSON value (byte %zu of %zu)", path,
                            (size_t)(p - text), n);
                break;
            }
        }
        if (s == VA_OK && !cJSON_IsObject(st->root))
            s = va_fail(err, VA_ERR_FORMAT, "%s: header is JSON but not an object", path);
    }
    free(text);
    st->data = base + 8 + n;
    st->data_len = avail - n;
    return s;
}

static va_status parse_dtype(const char *path, const char *key, const cJSON *d, va_dtype *out,
                             va_error *err) {
    if (!cJSON_IsString(d))
        return va_fail(err, VA_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"", path,
                       key);
    const char *s = d->valuestring;
    if (!strcmp(s, "F32"))
        *out = VA_DTYPE_F32;
    else if (!strcmp(s, "F16"))
        *out = VA_DTYPE_F16;
    else if (!strcmp(s, "BF16"))
        *out = VA_DTYPE_BF16;
    else if (!strcmp(s, "I64")) {
        /* PyTorch BatchNorm's step counter: listed, never used (see CLARIFICATIONS). */
        if (!ends_with(key, "num_batches_tracked"))
            return va_fail(err, VA_ERR_UNSUPPORTED,
                           "%s: tensor '%s': unsupported dtype 'I64' (only num_batches_tracked may "
                           "be I64; weights must be F32, F16 or BF16)",
                           path, key);
        *out = VA_DTYPE_I64;
    } else {
        static const char *const known[] = {"BOOL", "U8",  "I8",  "I16",     "U16",    "I32",
                                            "U32",  "U64", "F64", "F8_E5M2", "F8_E4M3"};
        int is_known = 0;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (!strcmp(s, known[i])) is_known = 1;
        return va_fail(err, is_known ? VA_ERR_UNSUPPORTED : VA_ERR_FORMAT,
                       "%s: tensor '%s': %s dtype '%.32s' (visattn reads F32, F16 and BF16)", path,
                       key, is_known ? "unsupported" : "unknown", s);
    }
    return VA_OK;
}

static va_status parse_entry(va_safetensors *st, const cJSON *item, va_st_entry *e, va_error *err) {
    const char *path = st->path, *key = item->string;
    e->name = key;
    if (!cJSON_IsObject(item))
        return va_fail(err, VA_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", path,
                       key);
    VA_TRY(parse_dtype(path, key, cJSON_GetObjectItemCaseSensitive(item, "dtype"), &e->dtype, err));

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    if (!cJSON_IsArray(shape))
        return va_fail(err, VA_ERR_FORMAT, "%s: tensor '%s': missing or non-list \"shape\"", path,
                       key);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > VA_MAX_DIM)
        return va_fail(err, VA_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d)", path,
                       key, ndim, VA_MAX_DIM);
    e->ndim = ndim;
    /* Overflow is checked on the product of the non-zero dims too, so that no later code that
     * multiplies a prefix of the shape can overflow even when another dim is 0. */
    size_t prod = 1;
    int has_zero = 0, i = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t v;
        int r = json_uint(dim, &v);
        if (r == JSON_UINT_NEGATIVE)
            return va_fail(err, VA_ERR_FORMAT, "%s: tensor '%s': shape has negative dimension %.0f",
                           path, key, dim->valuedouble);
        if (r != JSON_UINT_OK || v > (uint64_t)INT64_MAX)
            return va_fail(err, VA_ERR_FORMAT,
                           "%s: tensor '%s': shape must be a list of non-negative integers", path,
                           key);
        e->shape[i++] = (int64_t)v;
        if (v == 0)
            has_zero = 1;
        else if (v > SIZE_MAX || va_mul_size(prod, (size_t)v, &prod) || prod > (size_t)INT64_MAX)
            return va_fail(err, VA_ERR_FORMAT,
                           "%s: tensor '%s': element count of the shape overflows", path, key);
    }
    size_t numel = has_zero ? 0 : prod, want;
    if (va_mul_size(numel, dtype_size(e->dtype), &want))
        return va_fail(err, VA_ERR_FORMAT, "%s: tensor '%s': byte size of the shape overflows",
                       path, key);

    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    uint64_t begin = 0, end = 0;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        json_uint(cJSON_GetArrayItem(offs, 0), &begin) != JSON_UINT_OK ||
        json_uint(cJSON_GetArrayItem(offs, 1), &end) != JSON_UINT_OK)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: tensor '%s': \"data_offsets\" must be [begin, end] with non-negative "
                       "integers",
                       path, key);
    if (begin > end)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] are reversed", path, key,
                       (unsigned long long)begin, (unsigned long long)end);
    if (end > st->data_len)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] exceed the data section (%zu "
                       "bytes)",
                       path, key, (unsigned long long)begin, (unsigned long long)end, st->data_len);
    if (end - begin != want) {
        char sb[96];
        return va_fail(
            err, VA_ERR_FORMAT,
            "%s: tensor '%s': %s shape %s needs %zu bytes but data_offsets [%llu, %llu] "
            "hold %llu",
            path, key, dtype_name(e->dtype), va_dims_str(e->ndim, e->shape, sb, sizeof sb), want,
            (unsigned long long)begin, (unsigned long long)end, (unsigned long long)(end - begin));
    }
    e->offset = (size_t)begin;
    e->nbytes = (size_t)(end - begin);
    return VA_OK;
}

static va_status check_metadata(const va_safetensors *st, va_error *err) {
    const char *path = st->path;
    if (!st->meta) return VA_OK;
    if (!cJSON_IsObject(st->meta))
        return va_fail(err, VA_ERR_FORMAT, "%s: \"__metadata__\" is not an object", path);
    const cJSON *m;
    cJSON_ArrayForEach(m, st->meta) {
        if (!cJSON_IsString(m))
            return va_fail(err, VA_ERR_FORMAT, "%s: metadata '%s': value is not a string", path,
                           m->string);
    }
    const char *dup = NULL;
    int d = va_json_object_duplicate(st->meta, &dup);
    if (d < 0) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", path);
    if (d > 0) return va_fail(err, VA_ERR_FORMAT, "%s: metadata '%s': duplicate key", path, dup);
    return VA_OK;
}

static va_status parse_entries(va_safetensors *st, va_error *err) {
    const char *path = st->path;
    const cJSON *item;
    size_t count = 0;
    cJSON_ArrayForEach(item, st->root) {
        if (!strcmp(item->string, "__metadata__")) {
            if (st->meta)
                return va_fail(err, VA_ERR_FORMAT, "%s: duplicate \"__metadata__\"", path);
            st->meta = item;
        } else {
            count++;
        }
    }
    VA_TRY(check_metadata(st, err));
    /* calloc(0) may return NULL; keep one slot so NULL always means failure. */
    st->entries = calloc(count ? count : 1, sizeof *st->entries);
    st->by_name = calloc(count ? count : 1, sizeof *st->by_name);
    if (!st->entries || !st->by_name)
        return va_fail(err, VA_ERR_NOMEM, "%s: cannot allocate %zu entries", path, count);
    cJSON_ArrayForEach(item, st->root) {
        if (item == st->meta) continue;
        VA_TRY(parse_entry(st, item, &st->entries[st->count], err));
        st->by_name[st->count] = &st->entries[st->count];
        st->count++;
    }
    qsort(st->by_name, st->count, sizeof *st->by_name, cmp_entry_name);
    for (size_t i = 1; i < st->count; i++)
        if (!strcmp(st->by_name[i - 1]->name, st->by_name[i]->name))
            return va_fail(err, VA_ERR_FORMAT, "%s: tensor '%s': duplicate key", path,
                           st->by_name[i]->name);

    /* Overlap check on byte ranges sorted by start; empty tensors occupy no bytes. */
    const va_st_entry **by_off = malloc((count ? count : 1) * sizeof *by_off);
    if (!by_off) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", path);
    size_t m = 0;
    for (size_t i = 0; i < st->count; i++)
        if (st->entries[i].nbytes) by_off[m++] = &st->entries[i];
    qsort(by_off, m, sizeof *by_off, cmp_entry_offset);
    va_status s = VA_OK;
    for (size_t i = 1; i < m && s == VA_OK; i++) {
        const va_st_entry *a = by_off[i - 1], *b = by_off[i];
        if (a->offset + a->nbytes > b->offset)
            s = va_fail(err, VA_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s' [%zu, %zu]",
                        path, b->name, b->offset, b->offset + b->nbytes, a->name, a->offset,
                        a->offset + a->nbytes);
    }
    free(by_off);
    return s;
}

/* Shared by both ways of opening: st->base and st->len are set (or st->len is 0). */
static va_status open_common(va_safetensors *st, va_safetensors **out, va_error *err) {
    va_status s = parse_json(st, err);
    if (s == VA_OK) s = parse_entries(st, err);
    if (s != VA_OK) {
        va_st_close(st);
        return s;
    }
    *out = st;
    return VA_OK;
}

static va_safetensors *new_file(const char *name) {
    va_safetensors *st = calloc(1, sizeof *st);
    if (st && !(st->path = strdup(name))) {
        free(st);
        st = NULL;
    }
    return st;
}

va_status va_st_open(const char *path, va_safetensors **out, va_error *err) {
    VA_ARG_NONNULL(out, "va_st_open");
    *out = NULL;
    VA_ARG_NONNULL(path, "va_st_open");
    va_safetensors *st = new_file(path);
    if (!st) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", path);
    va_status s = map_file(st, err);
    if (s != VA_OK) {
        va_st_close(st);
        return s;
    }
    return open_common(st, out, err);
}

va_status va_st_open_memory(const void *data, size_t len, const char *name, va_safetensors **out,
                            va_error *err) {
    VA_ARG_NONNULL(out, "va_st_open_memory");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && len > 0)
        return va_fail(err, VA_ERR_ARG, "va_st_open_memory: %s: data is NULL (len %zu)", name, len);
    va_safetensors *st = new_file(name);
    if (!st) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", name);
    st->base = data;
    st->len = data ? len : 0;
    return open_common(st, out, err);
}

void va_st_close(va_safetensors *st) {
    if (!st) return;
    va_unmap_file(st->map, st->len);
    cJSON_Delete(st->root);
    free(st->entries);
    free(st->by_name);
    free(st->path);
    free(st);
}

const char *va_st_path(const va_safetensors *st) {
    return st ? st->path : ""; /* a name, printed in messages: "" rather than NULL */
}

size_t va_st_count(const va_safetensors *st) {
    return st ? st->count : 0;
}

const va_st_entry *va_st_entry_at(const va_safetensors *st, size_t i) {
    return st && i < st->count ? &st->entries[i] : NULL;
}

static int cmp_name_key(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(const va_st_entry *const *)elem)->name);
}

const va_st_entry *va_st_find(const va_safetensors *st, const char *name) {
    if (!st || !name || st->count == 0) return NULL;
    const va_st_entry **hit =
        bsearch(name, st->by_name, st->count, sizeof *st->by_name, cmp_name_key);
    return hit ? *hit : NULL;
}

const char *va_st_meta(const va_safetensors *st, const char *key) {
    if (!st || !st->meta || !key) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

va_status va_st_read_f32(const va_safetensors *st, const va_st_entry *e, float *dst, int64_t n,
                         va_error *err) {
    VA_ARG_NONNULL(st, "va_st_read_f32");
    VA_ARG_NONNULL(e, "va_st_read_f32");
    int64_t numel = 1;
    for (int i = 0; i < e->ndim; i++)
        numel *= e->shape[i]; /* bounded when the file was opened */
    if (n != numel)
        return va_fail(err, VA_ERR_SHAPE, "%s: tensor '%s': has %lld elements, caller expects %lld",
                       st->path, e->name, (long long)numel, (long long)n);
    if (n > 0 && !dst) return va_fail(err, VA_ERR_ARG, "va_st_read_f32: dst is NULL");
    const unsigned char *src = st->data + e->offset;
    switch (e->dtype) {
    case VA_DTYPE_F32:
        for (int64_t i = 0; i < n; i++)
            dst[i] = load_le_f32(src + 4 * i);
        break;
    case VA_DTYPE_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = f16_to_f32(load_le16(src + 2 * i));
        break;
    case VA_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = bf16_to_f32(load_le16(src + 2 * i));
        break;
    case VA_DTYPE_I64:
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "%s: tensor '%s': dtype I64 cannot be read as float32", st->path, e->name);
    }
    return VA_OK;
}

/* ---- Writer -------------------------------------------------------------------------------- */

static va_status check_write_args(const char *path, const va_st_tensor_in *tensors, size_t count,
                                  const char *const *meta_keys, const char *const *meta_values,
                                  size_t meta_count, va_error *err) {
    if (count && !tensors)
        return va_fail(err, VA_ERR_ARG, "va_st_write: %s: tensors is NULL (count %zu)", path,
                       count);
    if (meta_count && !meta_keys)
        return va_fail(err, VA_ERR_ARG, "va_st_write: %s: meta_keys is NULL (meta_count %zu)", path,
                       meta_count);
    if (meta_count && !meta_values)
        return va_fail(err, VA_ERR_ARG, "va_st_write: %s: meta_values is NULL (meta_count %zu)",
                       path, meta_count);
    for (size_t i = 0; i < count; i++) {
        const va_st_tensor_in *t = &tensors[i];
        if (!t->name || !strcmp(t->name, "__metadata__"))
            return va_fail(err, VA_ERR_ARG, "%s: tensor %zu: missing or reserved name", path, i);
        if (t->ndim < 0 || t->ndim > VA_MAX_DIM || (t->ndim > 0 && !t->shape))
            return va_fail(err, VA_ERR_ARG, "%s: tensor '%s': bad ndim %d or NULL shape", path,
                           t->name, t->ndim);
        size_t prod = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                return va_fail(err, VA_ERR_ARG, "%s: tensor '%s': negative dimension %lld", path,
                               t->name, (long long)t->shape[d]);
            if (va_mul_size(prod, (size_t)t->shape[d], &prod) || prod > SIZE_MAX / 4)
                return va_fail(err, VA_ERR_ARG, "%s: tensor '%s': shape too large", path, t->name);
        }
        if (prod && !t->data)
            return va_fail(err, VA_ERR_ARG, "%s: tensor '%s': data is NULL", path, t->name);
    }
    for (size_t i = 0; i < meta_count; i++)
        if (!meta_keys[i] || !meta_values[i])
            return va_fail(err, VA_ERR_ARG, "%s: metadata %zu: NULL key or value", path, i);

    /* Duplicate names would make a file that readers reject. */
    size_t n = count > meta_count ? count : meta_count;
    if (n < 2) return VA_OK;
    const char **names = malloc(n * sizeof *names);
    if (!names) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", path);
    va_status s = VA_OK;
    for (size_t i = 0; i < count; i++)
        names[i] = tensors[i].name;
    qsort(names, count, sizeof *names, cmp_str);
    for (size_t i = 1; i < count && s == VA_OK; i++)
        if (!strcmp(names[i - 1], names[i]))
            s = va_fail(err, VA_ERR_ARG, "%s: tensor '%s': duplicate name", path, names[i]);
    for (size_t i = 0; i < meta_count; i++)
        names[i] = meta_keys[i];
    qsort(names, meta_count, sizeof *names, cmp_str);
    for (size_t i = 1; i < meta_count && s == VA_OK; i++)
        if (!strcmp(names[i - 1], names[i]))
            s = va_fail(err, VA_ERR_ARG, "%s: metadata '%s': duplicate key", path, names[i]);
    free(names);
    return s;
}

static size_t tensor_numel(const va_st_tensor_in *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d]; /* checked by check_write_args */
    return n;
}

/* Integers go in as raw JSON text: cJSON prints numbers of 1e15 and more in exponent notation,
 * which other readers would take for floats. */
static cJSON *int_list(const uint64_t *v, int n) {
    char buf[VA_MAX_DIM * 24 + 4];
    size_t used = 0;
    buf[used++] = '[';
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, i ? ",%llu" : "%llu",
                                 (unsigned long long)v[i]);
    snprintf(buf + used, sizeof buf - used, "]");
    return cJSON_CreateRaw(buf);
}

/* The JSON header text (unpadded), or NULL when out of memory. */
static char *build_header(const va_st_tensor_in *tensors, size_t count,
                          const char *const *meta_keys, const char *const *meta_values,
                          size_t meta_count) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    int ok = 1;
    if (meta_count) {
        cJSON *meta = cJSON_CreateObject();
        ok = meta && cJSON_AddItemToObject(root, "__metadata__", meta);
        if (!ok) cJSON_Delete(meta);
        for (size_t i = 0; ok && i < meta_count; i++)
            ok = cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]) != NULL;
    }
    uint64_t offset = 0;
    for (size_t i = 0; ok && i < count; i++) {
        const va_st_tensor_in *t = &tensors[i];
        cJSON *obj = cJSON_CreateObject();
        ok = obj && cJSON_AddItemToObject(root, t->name, obj);
        if (!ok) {
            cJSON_Delete(obj);
            break;
        }
        uint64_t shape[VA_MAX_DIM], offs[2];
        for (int d = 0; d < t->ndim; d++)
            shape[d] = (uint64_t)t->shape[d];
        offs[0] = offset;
        offset += (uint64_t)tensor_numel(t) * 4;
        offs[1] = offset;
        cJSON *sh = int_list(shape, t->ndim), *of = int_list(offs, 2);
        ok = cJSON_AddStringToObject(obj, "dtype", "F32") != NULL;
        if (ok && sh && cJSON_AddItemToObject(obj, "shape", sh))
            sh = NULL;
        else
            ok = 0;
        if (ok && of && cJSON_AddItemToObject(obj, "data_offsets", of))
            of = NULL;
        else
            ok = 0;
        cJSON_Delete(sh);
        cJSON_Delete(of);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static int write_le_f32(FILE *f, const float *x, size_t n) {
    unsigned char buf[4096 * 4];
    while (n) {
        size_t k = n < 4096 ? n : 4096;
        for (size_t i = 0; i < k; i++)
            store_le_f32(buf + 4 * i, x[i]);
        if (fwrite(buf, 4, k, f) != k) return -1;
        x += k;
        n -= k;
    }
    return 0;
}

va_status va_st_write(const char *path, const va_st_tensor_in *tensors, size_t count,
                      const char *const *meta_keys, const char *const *meta_values,
                      size_t meta_count, va_error *err) {
    VA_ARG_NONNULL(path, "va_st_write");
    VA_TRY(check_write_args(path, tensors, count, meta_keys, meta_values, meta_count, err));
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        if (va_add_size(total, tensor_numel(&tensors[i]) * 4, &total))
            return va_fail(err, VA_ERR_ARG, "%s: total data size overflows", path);
    char *header = build_header(tensors, count, meta_keys, meta_values, meta_count);
    if (!header) return va_fail(err, VA_ERR_NOMEM, "%s: cannot build the JSON header", path);
    size_t hlen = strlen(header);
    /* Pad with spaces so the data section starts 8-byte aligned, as the reference writer does. */
    size_t pad = (8 - hlen % 8) % 8;
    unsigned char lenbuf[8];
    uint64_t plen = (uint64_t)(hlen + pad);
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)(plen >> (8 * i));

    FILE *f = fopen(path, "wb");
    if (!f) {
        va_status s = va_fail(err, VA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(header);
        return s;
    }
    int ok = fwrite(lenbuf, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen &&
             fwrite("        ", 1, pad, f) == pad;
    free(header);
    for (size_t i = 0; ok && i < count; i++)
        ok = write_le_f32(f, tensors[i].data, tensor_numel(&tensors[i])) == 0;
    return va_finish_write(f, ok, errno, path, err);
}
