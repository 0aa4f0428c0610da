/* Weight and array files.
 *
 * safetensors (https://huggingface.co/docs/safetensors): 8-byte little-endian header length, a JSON
 * header mapping tensor names to {dtype, shape, data_offsets}, then the data. visattn reads F32,
 * F16 and BF16 (converted to float32 on load); I64 is accepted only for BatchNorm's
 * num_batches_tracked, which is ignored. The optional "__metadata__" object (string -> string) says
 * what the file holds: "visattn.block" or "visattn.model" (a registered name) and "visattn.config"
 * (a JSON object as a string).
 *
 * NumPy .npy: format 1.0/2.0/3.0, little-endian float32 (float64 converted), C order.
 *
 * NULL (see error.h): paths, output pointers, files, entries, weights and keys must not be NULL
 * (VA_ERR_ARG naming the function and argument). Where NULL is allowed or a query cannot report,
 * the function's comment says what happens. */
#ifndef VISATTN_IO_H
#define VISATTN_IO_H

#include <stddef.h>
#include <stdint.h>

#include "visattn/error.h"
#include "visattn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum va_dtype { VA_DTYPE_F32, VA_DTYPE_F16, VA_DTYPE_BF16, VA_DTYPE_I64 } va_dtype;

/* Limits on what a file may claim before any allocation is attempted. */
#define VA_ST_MAX_HEADER_BYTES (100u * 1024u * 1024u)

/* One tensor entry of an opened safetensors file. */
typedef struct va_st_entry {
    const char *name;
    va_dtype dtype;
    int ndim;
    int64_t shape[VA_MAX_DIM];
    size_t offset, nbytes; /* relative to the start of the data section */
} va_st_entry;

typedef struct va_safetensors va_safetensors;

/* Open and validate (memory-mapped): header size within the file and under the limit, valid JSON,
 * known dtypes, shape x dtype size == byte size, offsets inside the data section and not
 * overlapping. Errors name the file and the key. */
va_status va_st_open(const char *path, va_safetensors **out, va_error *err);
/* The same for a file already in memory (e.g. embedded in a program): `name` stands for the path in
 * error messages (NULL: "<memory>"). The buffer is borrowed, not copied: it must outlive the
 * va_safetensors. data may be NULL only with len 0 (an empty file, VA_ERR_FORMAT). */
va_status va_st_open_memory(const void *data, size_t len, const char *name, va_safetensors **out,
                            va_error *err);
void va_st_close(va_safetensors *st); /* NULL: nothing */
/* The path (or name) given to open; "" for a NULL st. */
const char *va_st_path(const va_safetensors *st);

/* Queries: 0 or NULL for a NULL st, name or key. */
size_t va_st_count(const va_safetensors *st);
const va_st_entry *va_st_entry_at(const va_safetensors *st, size_t i); /* NULL past the end */
const va_st_entry *va_st_find(const va_safetensors *st, const char *name);
/* Metadata value for key, or NULL. */
const char *va_st_meta(const va_safetensors *st, const char *key);

/* Copy a tensor into dst as float32 (converting F16/BF16); n must equal its element count. dst may
 * be NULL only when n == 0. */
va_status va_st_read_f32(const va_safetensors *st, const va_st_entry *e, float *dst, int64_t n,
                         va_error *err);

/* Writer: F32 tensors plus string metadata. */
typedef struct va_st_tensor_in {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;
} va_st_tensor_in;

/* tensors may be NULL only when count == 0, meta_keys and meta_values only when meta_count == 0. */
va_status va_st_write(const char *path, const va_st_tensor_in *tensors, size_t count,
                      const char *const *meta_keys, const char *const *meta_values,
                      size_t meta_count, va_error *err);

/* .npy: read allocates t (free with va_tensor_free); ndim 0..VA_MAX_DIM. On failure t is left
 * empty (zeroed), safe to free. */
va_status va_npy_read(const char *path, va_tensor *t, va_error *err);
/* The same for a file already in memory; `name` stands for the path in error messages (NULL:
 * "<memory>"). data may be NULL only with len 0 (an empty file, VA_ERR_FORMAT). */
va_status va_npy_read_memory(const void *data, size_t len, const char *name, va_tensor *t,
                             va_error *err);
va_status va_npy_write(const char *path, const va_tensor *t, va_error *err);

/* ---- Weights as blocks see them --------------------------------------------------------------
 * A view of a safetensors file that records which keys were used, so a loader can report keys
 * that are missing, have the wrong shape, or are left over. */
typedef struct va_weights {
    const va_safetensors *st; /* NULL in random mode */
    unsigned char *used;      /* one flag per entry */
    int random;               /* 1: every key exists and is filled with random values */
    uint32_t seed;
} va_weights;

/* On failure w is left empty (va_weights_free is safe on it). */
va_status va_weights_init(va_weights *w, const va_safetensors *st, va_error *err);
/* Random mode, for benchmarks and tests that need a block with some weights: every requested key
 * is filled with deterministic pseudo-random values (scaled by 1/sqrt(fan-in); norm scales near 1;
 * BN running variances in [0.5, 1.5]) derived from the seed and the key. */
va_status va_weights_init_random(va_weights *w, uint32_t seed, va_error *err);
void va_weights_free(va_weights *w); /* NULL: nothing */
/* Copy tensor `prefix` + `key` (prefix may be "" or e.g. "stages.0.attn."; NULL reads as "") of
 * exactly the given shape into dst. Errors: missing key, wrong shape (names file, key, expected
 * and found shapes). shape may be NULL only when ndim == 0, dst only for an empty shape. */
va_status va_weights_get(va_weights *w, const char *prefix, const char *key, int ndim,
                         const int64_t *shape, float *dst, va_error *err);
/* 1 if prefix+key exists (prefix NULL reads as ""); 0 for a NULL w or key. */
int va_weights_has(const va_weights *w, const char *prefix, const char *key);
/* Error if any entry was not used (num_batches_tracked entries excepted). */
va_status va_weights_check_all_used(const va_weights *w, va_error *err);

#ifdef __cplusplus
}
#endif
#endif
