/* va_bench_block: the measurement behind `visattn bench` (docs/bench.md). */
#include "visattn/bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "visattn/ops.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (numpy's default percentile). */
static double quantile(const double *sorted, int n, double q) {
    double pos = q * (n - 1);
    int i = (int)pos;
    double f = pos - i;
    return i + 1 < n ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[n - 1];
}

#define MAX_PASSES 100000

va_status va_bench_block(const va_block *b, const int64_t shape[4], int threads,
                         const va_bench_opts *opts, va_bench_result *res, va_error *err) {
    if (!b || !shape || !opts || !res)
        return va_fail(err, VA_ERR_ARG, "va_bench_block: %s is NULL",
                       !b       ? "b"
                       : !shape ? "shape"
                       : !opts  ? "opts"
                                : "res");
    if (threads < 1 || opts->min_iters < 0 || !(opts->min_time_s >= 0))
        return va_fail(err, VA_ERR_ARG,
                       "va_bench_block: threads must be >= 1, min_iters and min_time_s >= 0");
    memset(res, 0, sizeof *res);
    va_run *r = NULL;
    va_tensor x = {0}, y = {0};
    double *t = NULL;
    int64_t out[4];
    va_status st = va_block_cost(b, shape, &res->cost, err);
    if (st == VA_OK) st = va_block_out_shape(b, shape, out, err);
    if (st == VA_OK) st = va_run_create(&r, err);
    /* The attention itself, not the copy-out of maps for heatmaps. */
    if (st == VA_OK) st = va_run_set_want_maps(r, 0, err);
    if (st == VA_OK) st = va_tensor_alloc(&x, 4, shape, err);
    if (st == VA_OK) st = va_tensor_alloc(&y, 4, out, err);
    if (st == VA_OK) {
        uint32_t s = 1;
        for (int64_t i = 0; i < va_numel(&x); i++) {
            s = s * 1664525u + 1013904223u;
            x.data[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
        }
    }
    va_set_num_threads(threads);
    /* At least one untimed pass: it sizes the arena (the only pass that allocates) and starts the
     * thread pool. */
    for (int i = 0; st == VA_OK && i < (opts->warmup > 0 ? opts->warmup : 1); i++)
        st = va_block_forward(b, r, &x, &y, err);
    int cap = 1024, n = 0;
    if (st == VA_OK && !(t = malloc((size_t)cap * sizeof *t)))
        st = va_fail(err, VA_ERR_NOMEM, "va_bench_block: out of memory");
    double start = now_s();
    while (st == VA_OK && n < MAX_PASSES &&
           (n < opts->min_iters || now_s() - start < opts->min_time_s || n == 0)) {
        if (n == cap) {
            double *nt = realloc(t, (size_t)(cap *= 2) * sizeof *t);
            if (!nt) {
                st = va_fail(err, VA_ERR_NOMEM, "va_bench_block: out of memory");
                break;
            }
            t = nt;
        }
        double t0 = now_s();
        st = va_block_forward(b, r, &x, &y, err);
        t[n++] = now_s() - t0;
    }
    if (st == VA_OK) {
        qsort(t, (size_t)n, sizeof *t, cmp_double);
        res->iters = n;
        res->median_ms = 1e3 * quantile(t, n, 0.5);
        res->p10_ms = 1e3 * quantile(t, n, 0.1);
        res->p90_ms = 1e3 * quantile(t, n, 0.9);
        res->images_per_s = (double)shape[0] / (res->median_ms / 1e3);
        res->workspace_bytes = va_run_workspace_bytes(r);
    }
    free(t);
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_run_destroy(r);
    return st;
}
