/* Timing helpers shared by the micro-benchmarks in bench/ (each .c file there is its own program). */
#ifndef VISATTN_BENCH_UTIL_H
#define VISATTN_BENCH_UTIL_H

#include <time.h>

static inline double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
