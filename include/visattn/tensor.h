/* NCHW float32 tensors and the workspace arena.
 *
 * A va_tensor is a plain view: shape plus a data pointer. Memory comes from an arena (scratch for a
 * forward pass) or from va_tensor_alloc (owned; release with va_tensor_free). Storage is 64-byte
 * aligned. Most ops work on 4-D NCHW tensors; up to VA_MAX_DIM dims are allowed for weights. */
#ifndef VISATTN_TENSOR_H
#define VISATTN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "visattn/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VA_MAX_DIM 6
#define VA_ALIGN 64

typedef struct va_tensor {
    int ndim;
    int64_t shape[VA_MAX_DIM];
    float *data;
} va_tensor;

/* Number of elements (product of shape; 1 for ndim == 0; 0 for a NULL t). */
int64_t va_numel(const va_tensor *t);

/* Set t to a 4-D NCHW view over data (no allocation; data may be NULL). A NULL t: nothing. */
void va_tensor_view4(va_tensor *t, float *data, int64_t n, int64_t c, int64_t h, int64_t w);

/* Set shape without touching data. Fails on ndim out of range, negative dims or numel overflow.
 * shape may be NULL only when ndim == 0 (as in va_tensor_alloc and va_arena_tensor). */
va_status va_tensor_set_shape(va_tensor *t, int ndim, const int64_t *shape, va_error *err);

/* Allocate owned, aligned, zeroed storage for the given shape. */
va_status va_tensor_alloc(va_tensor *t, int ndim, const int64_t *shape, va_error *err);
va_status va_tensor_alloc4(va_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w, va_error *err);
void va_tensor_free(va_tensor *t); /* NULL t or NULL t->data: nothing to free */

/* 1 if a and b have the same ndim and shape; 0 if either is NULL. */
int va_same_shape(const va_tensor *a, const va_tensor *b);

/* "2x3x7x5" into buf; returns buf. A NULL t writes "(null)"; a NULL buf returns "". */
const char *va_shape_str(const va_tensor *t, char *buf, size_t len);
/* The same for a bare shape array (ndim clamped to VA_MAX_DIM; a NULL shape writes "(null)"). */
const char *va_dims_str(int ndim, const int64_t *shape, char *buf, size_t len);

/* Aligned allocation helpers (NULL on failure or overflow). */
/* Limit on one weight tensor: 2^26 elements (256 MB of float32). A block sizes its weights from its
 * config before any weight is read, so without a limit a config of a few bytes in a hostile file
 * could ask for any amount of memory. The largest tensor of a ResNet-50 has 2.4M elements. */
#define VA_MAX_WEIGHT_ELEMS ((int64_t)1 << 26)
/* VA_ERR_CONFIG unless 0 <= count <= VA_MAX_WEIGHT_ELEMS; `what` names the block and the config
 * keys behind the count, e.g. "se config: input_channels x squeeze_channels" (NULL: "weights"). */
va_status va_check_weight_count(const char *what, int64_t count, va_error *err);

void *va_aligned_alloc(size_t bytes);
void va_aligned_free(void *p); /* NULL: nothing */

/* Checked size arithmetic: return 0 and set *out on success, -1 on overflow or a NULL out. */
int va_mul_size(size_t a, size_t b, size_t *out);
int va_add_size(size_t a, size_t b, size_t *out);

/* ---- Arena ------------------------------------------------------------------------------------
 * Bump allocator for per-forward scratch. Memory grows in chunks while a forward pass runs at a new
 * shape; va_arena_reset() then merges the chunks into one block of the peak size, so every later
 * forward at that shape (or smaller) runs without calling malloc. */
typedef struct va_arena_chunk va_arena_chunk;

typedef struct va_arena {
    va_arena_chunk *chunks; /* newest first */
    size_t used;            /* bytes in use across all chunks (logical offset) */
    size_t peak;            /* high-water mark of used since creation */
    size_t reserved;        /* total bytes held by chunks */
    uint64_t grow_count;    /* number of mallocs the arena has made (for no-alloc checks) */
} va_arena;

/* Every arena call takes a non-NULL a: VA_ERR_ARG where a status is returned, NULL from
 * va_arena_alloc (err filled), 0 from va_arena_mark; init, free and rewind do nothing. */
void va_arena_init(va_arena *a);
void va_arena_free(va_arena *a);
/* Drop all allocations; if the arena grew in several chunks, replace them by one of peak size. */
va_status va_arena_reset(va_arena *a, va_error *err);
/* Aligned scratch; NULL only with err filled. Contents are uninitialised. */
void *va_arena_alloc(va_arena *a, size_t bytes, va_error *err);
/* Allocate a tensor of the given shape from the arena (data uninitialised). */
va_status va_arena_tensor(va_arena *a, va_tensor *t, int ndim, const int64_t *shape, va_error *err);
va_status va_arena_tensor4(va_arena *a, va_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w,
                           va_error *err);
/* Stack-like scratch release: everything allocated after the mark is given back. */
size_t va_arena_mark(const va_arena *a);
void va_arena_rewind(va_arena *a, size_t mark);

#ifdef __cplusplus
}
#endif
#endif
