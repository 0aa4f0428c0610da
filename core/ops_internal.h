/* Argument checks and threading policy shared by the op files in core/ (not public API). */
#ifndef VISATTN_CORE_OPS_INTERNAL_H
#define VISATTN_CORE_OPS_INTERNAL_H

#include <omp.h>
#include <stdint.h>

#include "arg_check.h"
#include "visattn/ops.h"

/* Below this many elements a loop runs on one thread: forking the pool costs more than the work
 * (attention gates are often N x C x 1 x 1). */
#define PAR_MIN ((int64_t)1 << 15)

#define SHAPE_BUF 128

/* Whether an n-element loop should fork the thread pool: not below PAR_MIN, and not with one
 * thread or inside a parallel region, where entering an OpenMP region costs about a microsecond
 * for nothing. */
static inline int want_threads(int64_t n) {
    return n >= PAR_MIN && omp_get_max_threads() > 1 && !omp_in_parallel();
}

static inline int ranges_overlap(const float *a, int64_t na, const float *b, int64_t nb) {
    if (na <= 0 || nb <= 0 || !a || !b) return 0;
    uintptr_t a0 = (uintptr_t)a, a1 = (uintptr_t)(a + na);
    uintptr_t b0 = (uintptr_t)b, b1 = (uintptr_t)(b + nb);
    return a0 < b1 && b0 < a1;
}

/* A tensor argument must exist and have storage unless it is empty. */
static inline va_status check_tensor(const va_tensor *t, const char *op, const char *what,
                                     va_error *err) {
    if (!t) return va_fail(err, VA_ERR_ARG, "%s: %s is NULL", op, what);
    if (t->ndim < 0 || t->ndim > VA_MAX_DIM)
        return va_fail(err, VA_ERR_SHAPE, "%s: %s has %d dims", op, what, t->ndim);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0)
            return va_fail(err, VA_ERR_SHAPE, "%s: %s has a negative dimension", op, what);
    if (!t->data && va_numel(t) > 0)
        return va_fail(err, VA_ERR_ARG, "%s: %s has no data", op, what);
    return VA_OK;
}

static inline va_status check_4d(const va_tensor *t, const char *op, const char *what,
                                 va_error *err) {
    VA_TRY(check_tensor(t, op, what, err));
    if (t->ndim != 4) {
        char s[SHAPE_BUF];
        return va_fail(err, VA_ERR_SHAPE, "%s: %s must be 4-D NCHW, got %s", op, what,
                       va_shape_str(t, s, sizeof s));
    }
    return VA_OK;
}

/* For ops that do not allow in-place use: the output must not share memory with the input.
 * Overlap is a bad argument (VA_ERR_ARG), not a bad shape: the shapes may be fine. */
static inline va_status check_disjoint(const va_tensor *x, const va_tensor *y, const char *op,
                                       const char *what, va_error *err) {
    if (ranges_overlap(x->data, va_numel(x), y->data, va_numel(y)))
        return va_fail(err, VA_ERR_ARG, "%s: y overlaps %s (this op is not in place)", op, what);
    return VA_OK;
}

/* The same for raw float arrays: `out` (n_out floats) written, `in` (n_in floats) read. */
static inline va_status check_disjoint_raw(const float *in, int64_t n_in, const float *out,
                                           int64_t n_out, const char *op, const char *what,
                                           va_error *err) {
    if (ranges_overlap(in, n_in, out, n_out))
        return va_fail(err, VA_ERR_ARG, "%s: the output overlaps %s (this op is not in place)", op,
                       what);
    return VA_OK;
}

#endif
