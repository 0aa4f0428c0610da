/* Weights as blocks see them: strict lookup by full state_dict key with an exact shape, and a
 * record of which keys were used so that leftovers (a file for a different block or config) are
 * reported instead of silently ignored. */
#include "visattn/io.h"

#include "arg_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PyTorch BatchNorm's step counter: present in every exported state_dict, meaningless for
 * inference (see CLARIFICATIONS, "Weight files"). */
static int is_ignored_key(const char *name) {
    static const char suffix[] = "num_batches_tracked";
    size_t n = strlen(name), m = sizeof suffix - 1;
    return n >= m && memcmp(name + n - m, suffix, m) == 0;
}

va_status va_weights_init(va_weights *w, const va_safetensors *st, va_error *err) {
    VA_ARG_NONNULL(w, "va_weights_init");
    memset(w, 0, sizeof *w); /* va_weights_free is safe on it after a failure */
    VA_ARG_NONNULL(st, "va_weights_init");
    size_t n = va_st_count(st);
    memset(w, 0, sizeof *w);
    w->st = st;
    w->used = calloc(n ? n : 1, 1);
    if (!w->used) {
        w->st = NULL;
        return va_fail(err, VA_ERR_NOMEM, "%s: cannot allocate %zu usage flags", va_st_path(st), n);
    }
    return VA_OK;
}

va_status va_weights_init_random(va_weights *w, uint32_t seed, va_error *err) {
    VA_ARG_NONNULL(w, "va_weights_init_random");
    memset(w, 0, sizeof *w);
    w->random = 1;
    w->seed = seed;
    return VA_OK;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void fill_random(uint32_t seed, const char *prefix, const char *key, int ndim,
                        const int64_t *shape, float *dst) {
    uint32_t h = 2166136261u ^ seed; /* FNV-1a of the full key: each tensor its own stream */
    for (const char *p = prefix; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    double scale = 0.1, offset = 0.0;
    if (ndim > 1 && shape[0] > 0)
        scale = 1.0 / sqrt((double)(n / shape[0] > 0 ? n / shape[0] : 1));
    else if (has_suffix(key, "running_var"))
        scale = 0.5, offset = 1.0;
    else if (ndim == 1 && has_suffix(key, "weight"))
        offset = 1.0;
    for (int64_t i = 0; i < n; i++) {
        h ^= h << 13, h ^= h >> 17, h ^= h << 5;
        dst[i] = (float)(offset + scale * ((double)h / 2147483648.0 - 1.0));
    }
}

void va_weights_free(va_weights *w) {
    if (!w) return;
    free(w->used);
    w->used = NULL;
    w->st = NULL;
}

/* prefix + key in a fresh string, or NULL when out of memory. */
static char *join_key(const char *prefix, const char *key) {
    size_t a = strlen(prefix), b = strlen(key);
    char *s = malloc(a + b + 1);
    if (!s) return NULL;
    memcpy(s, prefix, a);
    memcpy(s + a, key, b + 1);
    return s;
}

va_status va_weights_get(va_weights *w, const char *prefix, const char *key, int ndim,
                         const int64_t *shape, float *dst, va_error *err) {
    VA_ARG_NONNULL(w, "va_weights_get");
    VA_ARG_NONNULL(key, "va_weights_get");
    if (!w->random && (!w->st || !w->used))
        return va_fail(err, VA_ERR_ARG, "va_weights_get: w is not initialised");
    if (ndim < 0 || ndim > VA_MAX_DIM)
        return va_fail(err, VA_ERR_ARG, "va_weights_get: bad expected shape for '%s%s'",
                       prefix ? prefix : "", key);
    if (ndim > 0) VA_ARG_NONNULL(shape, "va_weights_get");
    int empty = 0; /* an empty tensor writes nothing, so it needs no dst */
    for (int i = 0; i < ndim; i++)
        empty |= shape[i] <= 0;
    if (!empty) VA_ARG_NONNULL(dst, "va_weights_get");
    if (w->random) {
        fill_random(w->seed, prefix ? prefix : "", key, ndim, shape, dst);
        return VA_OK;
    }
    const char *path = va_st_path(w->st);
    char *name = join_key(prefix ? prefix : "", key);
    if (!name) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", path);
    char want[96], have[96];
    va_dims_str(ndim, shape, want, sizeof want);
    const va_st_entry *e = va_st_find(w->st, name);
    va_status s = VA_OK;
    if (!e) {
        s = va_fail(err, VA_ERR_KEY, "%s: missing key '%s' (expected shape %s)", path, name, want);
    } else if (e->dtype == VA_DTYPE_I64) {
        s = va_fail(err, VA_ERR_KEY,
                    "%s: key '%s' has dtype I64, expected a float tensor of shape %s", path, name,
                    want);
    } else {
        int same = e->ndim == ndim;
        for (int i = 0; same && i < ndim; i++)
            same = e->shape[i] == shape[i];
        if (!same) {
            s = va_fail(err, VA_ERR_KEY, "%s: key '%s' has shape %s, expected %s", path, name,
                        va_dims_str(e->ndim, e->shape, have, sizeof have), want);
        } else {
            int64_t n = 1;
            for (int i = 0; i < ndim; i++)
                n *= shape[i]; /* equals the entry's, bounded on open */
            s = va_st_read_f32(w->st, e, dst, n, err);
            if (s == VA_OK) w->used[e - va_st_entry_at(w->st, 0)] = 1;
        }
    }
    free(name);
    return s;
}

int va_weights_has(const va_weights *w, const char *prefix, const char *key) {
    if (!w || !key) return 0;
    if (w->random) return 1;
    if (!w->st) return 0;
    char *name = join_key(prefix ? prefix : "", key);
    if (!name) return 0;
    int found = va_st_find(w->st, name) != NULL;
    free(name);
    return found;
}

va_status va_weights_check_all_used(const va_weights *w, va_error *err) {
    VA_ARG_NONNULL(w, "va_weights_check_all_used");
    if (w->random) return VA_OK;
    if (!w->st || !w->used)
        return va_fail(err, VA_ERR_ARG, "va_weights_check_all_used: w is not initialised");
    size_t n = va_st_count(w->st), unused = 0;
    const char *first = NULL;
    for (size_t i = 0; i < n; i++) {
        const va_st_entry *e = va_st_entry_at(w->st, i);
        if (w->used[i] || is_ignored_key(e->name)) continue;
        if (!first) first = e->name;
        unused++;
    }
    if (!first) return VA_OK;
    if (unused == 1)
        return va_fail(err, VA_ERR_KEY, "%s: unexpected key '%s'", va_st_path(w->st), first);
    return va_fail(err, VA_ERR_KEY, "%s: unexpected key '%s' (and %zu more unused keys)",
                   va_st_path(w->st), first, unused - 1);
}
