/* Micro-benchmark: ns per element of the elementwise ops that attention blocks are made of
 * (activations, softmax, global and across-channel pools), on data that stays in cache.
 *
 * Each timing is the median over repeated batches of calls, after a warm-up; a batch runs enough
 * calls to last ~2 ms so that the clock's resolution does not matter for the small sizes.
 *
 * Usage: bench_ops [threads [min_seconds_per_case [filter]]]   (defaults: 1 thread, 0.2 s)
 * With a filter, only the cases whose printed name contains it are run ("softmax", "gelu"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "visattn/ops.h"

/* Uniform in [-scale, scale): activations see the whole interesting range (sigmoid saturates past
 * |x| ~ 17, hardswish bends at +-3). */
static void fill(float *p, int64_t n, float scale, unsigned seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = scale * (2.0f * ((float)(seed >> 8) / (float)(1u << 24)) - 1.0f);
    }
}

typedef enum { OP_ACT, OP_SOFTMAX, OP_GAVG, OP_GMAX, OP_CMEAN, OP_CMAX } op_kind;

typedef struct bench_case {
    op_kind kind;
    va_act act; /* OP_ACT */
    int axis;   /* OP_SOFTMAX */
    int ndim;
    int64_t shape[4];
} bench_case;

typedef struct run {
    const bench_case *c;
    va_tensor x, y;
} run;

static int run_once(run *r) {
    va_error err = {0};
    va_status st = VA_OK;
    switch (r->c->kind) {
    case OP_ACT: va_act_apply(r->c->act, r->x.data, r->y.data, va_numel(&r->x)); break;
    case OP_SOFTMAX: st = va_softmax(&r->x, r->c->axis, &r->y, &err); break;
    case OP_GAVG: st = va_global_avgpool(&r->x, &r->y, &err); break;
    case OP_GMAX: st = va_global_maxpool(&r->x, &r->y, &err); break;
    case OP_CMEAN: st = va_channel_mean(&r->x, &r->y, &err); break;
    case OP_CMAX: st = va_channel_max(&r->x, &r->y, &err); break;
    }
    if (st != VA_OK) {
        fprintf(stderr, "bench_ops: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Median ns per input element. Returns a negative value if the op failed. */
static double time_case(run *r, double min_seconds) {
    enum { MAX_BATCHES = 4096 };
    static double per[MAX_BATCHES];
    const int64_t n = va_numel(&r->x);
    /* Warm up and size a batch to ~2 ms. */
    int64_t calls = 1;
    for (;;) {
        const double t0 = now_s();
        for (int64_t i = 0; i < calls; i++)
            if (run_once(r)) return -1.0;
        if (now_s() - t0 > 2e-3 || calls > (1 << 20)) break;
        calls *= 2;
    }
    int nb = 0;
    const double start = now_s();
    while (nb < MAX_BATCHES && (nb < 20 || now_s() - start < min_seconds)) {
        const double t0 = now_s();
        for (int64_t i = 0; i < calls; i++)
            run_once(r);
        per[nb++] = (now_s() - t0) / (double)calls;
    }
    qsort(per, (size_t)nb, sizeof per[0], cmp_double);
    return per[nb / 2] * 1e9 / (double)n;
}

static void describe(const bench_case *c, char *buf, size_t len) {
    static const char *names[] = {"act",          "softmax",    "global_avgpool", "global_maxpool",
                                  "channel_mean", "channel_max"};
    int k;
    if (c->kind == OP_ACT)
        k = snprintf(buf, len, "%-12s", va_act_name(c->act));
    else if (c->kind == OP_SOFTMAX)
        k = snprintf(buf, len, "softmax axis=%d", c->axis);
    else
        k = snprintf(buf, len, "%s", names[c->kind]);
    for (int d = 0; d < c->ndim && k > 0 && (size_t)k < len; d++)
        k += snprintf(buf + k, len - (size_t)k, "%s%lld", d ? "x" : " ", (long long)c->shape[d]);
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    const double min_seconds = argc > 2 ? atof(argv[2]) : 0.2;
    const char *filter = argc > 3 ? argv[3] : NULL;
    va_set_num_threads(threads);

    static const va_act acts[] = {VA_ACT_RELU,    VA_ACT_RELU6,       VA_ACT_SILU,     VA_ACT_GELU,
                                  VA_ACT_SIGMOID, VA_ACT_HARDSIGMOID, VA_ACT_HARDSWISH};
    static const int64_t act_n[] = {3136, 12544, 50176, 200704};
    enum { MAX_CASES = 64 };
    bench_case cases[MAX_CASES];
    int nc = 0;
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
        for (size_t i = 0; i < sizeof act_n / sizeof act_n[0]; i++)
            cases[nc++] = (bench_case){OP_ACT, acts[a], 0, 1, {act_n[i]}};
    /* Softmax along the last axis (rows of 49: a 7x7 window; 196, 3136: 14x14, 56x56 maps), and
     * along a strided axis (double attention's distribute softmax over c_n, iRMB's over keys). */
    cases[nc++] = (bench_case){OP_SOFTMAX, 0, 1, 2, {1024, 49}};
    cases[nc++] = (bench_case){OP_SOFTMAX, 0, 1, 2, {256, 196}};
    cases[nc++] = (bench_case){OP_SOFTMAX, 0, 1, 2, {16, 3136}};
    cases[nc++] = (bench_case){OP_SOFTMAX, 0, 0, 2, {49, 49}};
    cases[nc++] = (bench_case){OP_SOFTMAX, 0, 0, 2, {64, 784}};
    cases[nc++] = (bench_case){OP_SOFTMAX, 0, 1, 3, {1, 32, 3136}};
    cases[nc++] = (bench_case){OP_GAVG, 0, 0, 4, {1, 64, 56, 56}};
    cases[nc++] = (bench_case){OP_GAVG, 0, 0, 4, {1, 256, 14, 14}};
    cases[nc++] = (bench_case){OP_GMAX, 0, 0, 4, {1, 64, 56, 56}};
    cases[nc++] = (bench_case){OP_GMAX, 0, 0, 4, {1, 256, 14, 14}};
    cases[nc++] = (bench_case){OP_CMEAN, 0, 0, 4, {1, 64, 56, 56}};
    cases[nc++] = (bench_case){OP_CMAX, 0, 0, 4, {1, 64, 56, 56}};

    printf("bench_ops: %d thread(s), median ns per input element\n", va_get_num_threads());
    int rc = 0;
    for (int i = 0; i < nc; i++) {
        const bench_case *c = &cases[i];
        char name[96];
        describe(c, name, sizeof name);
        if (filter && !strstr(name, filter)) continue;
        run r = {.c = c};
        r.x.ndim = c->ndim;
        for (int d = 0; d < c->ndim; d++)
            r.x.shape[d] = c->shape[d];
        r.y = r.x;
        if (c->kind == OP_GAVG || c->kind == OP_GMAX) r.y.shape[2] = r.y.shape[3] = 1;
        if (c->kind == OP_CMEAN || c->kind == OP_CMAX) r.y.shape[1] = 1;
        const int64_t nx = va_numel(&r.x), ny = va_numel(&r.y);
        r.x.data = malloc((size_t)nx * sizeof(float));
        r.y.data = malloc((size_t)ny * sizeof(float));
        if (!r.x.data || !r.y.data) {
            fprintf(stderr, "bench_ops: out of memory\n");
            return 1;
        }
        fill(r.x.data, nx, c->kind == OP_ACT ? 8.0f : 4.0f, 12345u + (unsigned)i);
        const double ns = time_case(&r, min_seconds);
        if (ns < 0.0)
            rc = 1;
        else
            printf("%-34s %8.3f ns/elem\n", name, ns);
        free(r.x.data);
        free(r.y.data);
    }
    return rc;
}
