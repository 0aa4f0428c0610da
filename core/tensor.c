#include "visattn/tensor.h"

#include "arg_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int va_mul_size(size_t a, size_t b, size_t *out) {
    if (!out) return -1;
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int va_add_size(size_t a, size_t b, size_t *out) {
    if (!out) return -1;
    if (b > SIZE_MAX - a) return -1;
    *out = a + b;
    return 0;
}

void *va_aligned_alloc(size_t bytes) {
    size_t rounded;
    if (bytes == 0) bytes = VA_ALIGN;
    if (va_add_size(bytes, VA_ALIGN - 1, &rounded)) return NULL;
    rounded -= rounded % VA_ALIGN; /* aligned_alloc wants a multiple of the alignment */
    return aligned_alloc(VA_ALIGN, rounded);
}

void va_aligned_free(void *p) {
    free(p);
}

int64_t va_numel(const va_tensor *t) {
    if (!t) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

void va_tensor_view4(va_tensor *t, float *data, int64_t n, int64_t c, int64_t h, int64_t w) {
    if (!t) return;
    memset(t, 0, sizeof *t);
    t->ndim = 4;
    t->shape[0] = n;
    t->shape[1] = c;
    t->shape[2] = h;
    t->shape[3] = w;
    t->data = data;
}

/* Largest element count we accept: keeps numel * sizeof(float) representable in size_t and int64.
 */
#define VA_MAX_NUMEL ((int64_t)1 << 40)

/* The shape checks, with the public caller's name for a NULL shape. */
static va_status set_shape(va_tensor *t, int ndim, const int64_t *shape, const char *fn,
                           va_error *err) {
    if (ndim < 0 || ndim > VA_MAX_DIM)
        return va_fail(err, VA_ERR_SHAPE, "tensor: %d dims (at most %d)", ndim, VA_MAX_DIM);
    if (ndim > 0 && !shape) return va_fail(err, VA_ERR_ARG, "%s: shape is NULL", fn);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return va_fail(err, VA_ERR_SHAPE, "tensor: negative dimension %lld",
                           (long long)shape[i]);
        if (shape[i] > 0 && n > VA_MAX_NUMEL / shape[i])
            return va_fail(err, VA_ERR_NOMEM, "tensor: shape too large (over 2^40 elements)");
        n *= shape[i];
    }
    t->ndim = ndim;
    for (int i = 0; i < VA_MAX_DIM; i++)
        t->shape[i] = i < ndim ? shape[i] : 0;
    return VA_OK;
}

va_status va_tensor_set_shape(va_tensor *t, int ndim, const int64_t *shape, va_error *err) {
    VA_ARG_NONNULL(t, "va_tensor_set_shape");
    return set_shape(t, ndim, shape, "va_tensor_set_shape", err);
}

va_status va_tensor_alloc(va_tensor *t, int ndim, const int64_t *shape, va_error *err) {
    VA_ARG_NONNULL(t, "va_tensor_alloc");
    t->data = NULL;
    VA_TRY(set_shape(t, ndim, shape, "va_tensor_alloc", err));
    size_t bytes = (size_t)va_numel(t) * sizeof(float);
    t->data = va_aligned_alloc(bytes);
    if (!t->data) return va_fail(err, VA_ERR_NOMEM, "tensor: cannot allocate %zu bytes", bytes);
    memset(t->data, 0, bytes);
    return VA_OK;
}

va_status va_tensor_alloc4(va_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w,
                           va_error *err) {
    VA_ARG_NONNULL(t, "va_tensor_alloc4");
    const int64_t shape[4] = {n, c, h, w};
    return va_tensor_alloc(t, 4, shape, err);
}

void va_tensor_free(va_tensor *t) {
    if (!t) return;
    va_aligned_free(t->data);
    t->data = NULL;
}

int va_same_shape(const va_tensor *a, const va_tensor *b) {
    if (!a || !b) return 0;
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *va_shape_str(const va_tensor *t, char *buf, size_t len) {
    size_t used = 0;
    if (!buf) return "";
    if (len == 0) return buf;
    buf[0] = '\0';
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    if (t->ndim == 0) {
        snprintf(buf, len, "scalar");
        return buf;
    }
    for (int i = 0; i < t->ndim && used < len; i++) {
        int k = snprintf(buf + used, len - used, i ? "x%lld" : "%lld", (long long)t->shape[i]);
        if (k < 0) break;
        used += (size_t)k;
    }
    return buf;
}

const char *va_dims_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    va_tensor t = {0};
    t.ndim = ndim < 0 ? 0 : ndim > VA_MAX_DIM ? VA_MAX_DIM : ndim;
    if (t.ndim > 0 && !shape) return va_shape_str(NULL, buf, len);
    for (int i = 0; i < t.ndim; i++)
        t.shape[i] = shape[i];
    return va_shape_str(&t, buf, len);
}

/* ---- Arena ---------------------------------------------------------------------------------- */

struct va_arena_chunk {
    va_arena_chunk *next; /* older chunk */
    size_t base;          /* logical offset of this chunk's first byte */
    size_t cap;
    unsigned char *mem;
};

#define VA_ARENA_MIN_CHUNK ((size_t)1 << 20)

void va_arena_init(va_arena *a) {
    if (a) memset(a, 0, sizeof *a);
}

static void free_chunks(va_arena_chunk *c) {
    while (c) {
        va_arena_chunk *next = c->next;
        va_aligned_free(c->mem);
        free(c);
        c = next;
    }
}

void va_arena_free(va_arena *a) {
    if (!a) return;
    free_chunks(a->chunks);
    memset(a, 0, sizeof *a);
}

static va_arena_chunk *new_chunk(va_arena *a, size_t base, size_t cap) {
    va_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->mem = va_aligned_alloc(cap);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    c->base = base;
    c->cap = cap;
    c->next = a->chunks;
    a->chunks = c;
    a->reserved += cap;
    a->grow_count++;
    return c;
}

va_status va_arena_reset(va_arena *a, va_error *err) {
    VA_ARG_NONNULL(a, "va_arena_reset");
    a->used = 0;
    if (!a->chunks || !a->chunks->next) return VA_OK;
    /* Several chunks: the pass outgrew the first one. Replace them all by one block of the peak
     * size so the next pass at this shape allocates nothing. */
    free_chunks(a->chunks);
    a->chunks = NULL;
    a->reserved = 0;
    if (!new_chunk(a, 0, a->peak))
        return va_fail(err, VA_ERR_NOMEM, "arena: cannot allocate %zu bytes", a->peak);
    return VA_OK;
}

/* Chunks tile the logical offset space [0, reserved) in order of creation. `used` may point into
 * an older chunk after a rewind; a request that does not fit in the chunk holding `used` moves on
 * to the next newer chunk (skipping the tail), or opens a new chunk at the end. */
static va_arena_chunk *chunk_holding(const va_arena *a, size_t off) {
    for (va_arena_chunk *c = a->chunks; c; c = c->next)
        if (off >= c->base && off < c->base + c->cap) return c;
    return NULL;
}

static va_arena_chunk *chunk_after(const va_arena *a, const va_arena_chunk *c) {
    for (va_arena_chunk *k = a->chunks; k; k = k->next)
        if (k->next == c) return k;
    return NULL;
}

void *va_arena_alloc(va_arena *a, size_t bytes, va_error *err) {
    if (!a) {
        va_fail(err, VA_ERR_ARG, "va_arena_alloc: a is NULL");
        return NULL;
    }
    size_t need;
    if (va_add_size(bytes, VA_ALIGN - 1, &need)) {
        va_fail(err, VA_ERR_NOMEM, "arena: request of %zu bytes overflows", bytes);
        return NULL;
    }
    need -= need % VA_ALIGN;
    if (need == 0) need = VA_ALIGN;
    va_arena_chunk *c = chunk_holding(a, a->used);
    while (c && a->used + need > c->base + c->cap) {
        c = chunk_after(a, c);
        if (c) a->used = c->base;
    }
    if (!c) {
        size_t cap = need > VA_ARENA_MIN_CHUNK ? need : VA_ARENA_MIN_CHUNK;
        if (a->reserved > cap) cap = a->reserved; /* geometric growth keeps the chunk count low */
        c = new_chunk(a, a->reserved, cap);
        if (!c) {
            va_fail(err, VA_ERR_NOMEM, "arena: cannot allocate %zu bytes", cap);
            return NULL;
        }
        a->used = c->base;
    }
    void *p = c->mem + (a->used - c->base);
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

va_status va_arena_tensor(va_arena *a, va_tensor *t, int ndim, const int64_t *shape,
                          va_error *err) {
    VA_ARG_NONNULL(a, "va_arena_tensor");
    VA_ARG_NONNULL(t, "va_arena_tensor");
    VA_TRY(set_shape(t, ndim, shape, "va_arena_tensor", err));
    t->data = va_arena_alloc(a, (size_t)va_numel(t) * sizeof(float), err);
    return t->data ? VA_OK : VA_ERR_NOMEM;
}

va_status va_arena_tensor4(va_arena *a, va_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w,
                           va_error *err) {
    VA_ARG_NONNULL(a, "va_arena_tensor4");
    VA_ARG_NONNULL(t, "va_arena_tensor4");
    const int64_t shape[4] = {n, c, h, w};
    return va_arena_tensor(a, t, 4, shape, err);
}

size_t va_arena_mark(const va_arena *a) {
    return a ? a->used : 0;
}

void va_arena_rewind(va_arena *a, size_t mark) {
    if (a && mark <= a->used) a->used = mark;
}

va_status va_check_weight_count(const char *what, int64_t count, va_error *err) {
    if (count < 0 || count > VA_MAX_WEIGHT_ELEMS)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s: asks for a weight tensor of %lld elements, over the limit of %lld; "
                       "check the config",
                       what ? what : "weights", (long long)count, (long long)VA_MAX_WEIGHT_ELEMS);
    return VA_OK;
}
