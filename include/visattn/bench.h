/* Timing a block or model the way `visattn bench` does (docs/bench.md), so that a program can
 * measure a block of its own (va_register_block) beside the built-in ones on equal terms. */
#ifndef VISATTN_BENCH_H
#define VISATTN_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "visattn/block.h"
#include "visattn/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct va_bench_opts {
    int warmup;        /* untimed passes first (at least 1: it sizes the run's arena) */
    int min_iters;     /* timed passes: at least this many ... */
    double min_time_s; /* ... and until this much time has passed (at most 100000 passes) */
} va_bench_opts;

typedef struct va_bench_result {
    va_cost cost;                     /* va_block_cost at the shape */
    int iters;                        /* timed passes */
    double median_ms, p10_ms, p90_ms; /* per forward pass; quantiles as numpy's percentile */
    double images_per_s;              /* N / median */
    size_t workspace_bytes;           /* the run context's arena at its peak */
} va_bench_result;

/* Time b's forward at an input shape on `threads` threads (va_set_num_threads, left set), with
 * maps off, on a fixed pseudo-random input in [-1, 1): each pass is timed alone with
 * CLOCK_MONOTONIC. Not thread-safe (it sets the thread count). */
va_status va_bench_block(const va_block *b, const int64_t shape[4], int threads,
                         const va_bench_opts *opts, va_bench_result *res, va_error *err);

#ifdef __cplusplus
}
#endif
#endif
