/* Micro-benchmark: va_conv2d against a bare cblas_sgemm of the same GEMM shape
 * (M = Cout, N = batch*OH*OW, K = Cin/groups*kh*kw: the same FLOPs), at 1 and 2 threads.
 *
 * The conv runs with bias and a fused ReLU, as a BN-folded conv block does in a forward pass; the
 * sgemm is the floor it is measured against. Conv and sgemm run in alternating blocks of calls;
 * each timing is the median of at least 50 calls spread over at least 1 s (each), after a warm-up.
 *
 * Usage: bench_conv [min_seconds [n cin h w cout kernel stride pad groups]]
 * With a shape, that conv is measured instead of the two standard cases. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"
#include "visattn/ops.h"

typedef struct bench_case {
    const char *name;
    int n, cin, h, w, cout, k, stride, pad, groups;
} bench_case;

static void fill(float *p, int64_t n, unsigned seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / (float)(1u << 24) - 0.5f;
    }
}

typedef struct conv_run {
    const va_conv2d_desc *d;
    const va_tensor *x;
    va_tensor *y;
    va_arena *ws;
} conv_run;

typedef struct gemm_run {
    int m, n, k;
    const float *a, *b;
    float *c;
} gemm_run;

static int run_conv(conv_run *r) {
    va_error err = {0};
    if (va_conv2d(r->d, r->x, r->y, r->ws, &err) != VA_OK) {
        fprintf(stderr, "bench_conv: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void run_gemm(gemm_run *r) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r->m, r->n, r->k, 1.0f, r->a, r->k, r->b,
                r->n, 0.0f, r->c, r->n);
}

/* Median seconds per call of conv and of sgemm. They run in alternating blocks of BLOCK calls:
 * within a block each op finds its own data in cache, as in a plain timing loop (alternating
 * single calls makes the sgemm lose ~30% at 1 thread), while alternating blocks make clock-speed
 * drift and noise from other processes on a shared machine hit both alike.
 * Returns -1 if the conv failed. */
static int time_pair(conv_run *cr, gemm_run *gr, double min_seconds, double *t_conv,
                     double *t_gemm) {
    enum { WARMUP = 10, BLOCK = 10, MIN_ITERS = 50, MAX_ITERS = 20000 };
    static double tc[MAX_ITERS], tg[MAX_ITERS];
    for (int i = 0; i < WARMUP; i++) {
        if (run_conv(cr)) return -1;
        run_gemm(gr);
    }
    int n = 0;
    const double start = now_s();
    while (n + BLOCK <= MAX_ITERS && (n < MIN_ITERS || now_s() - start < 2.0 * min_seconds)) {
        for (int i = 0; i < BLOCK; i++) {
            const double t0 = now_s();
            if (run_conv(cr)) return -1;
            tc[n + i] = now_s() - t0;
        }
        for (int i = 0; i < BLOCK; i++) {
            const double t0 = now_s();
            run_gemm(gr);
            tg[n + i] = now_s() - t0;
        }
        n += BLOCK;
    }
    qsort(tc, (size_t)n, sizeof tc[0], cmp_double);
    qsort(tg, (size_t)n, sizeof tg[0], cmp_double);
    *t_conv = tc[n / 2];
    *t_gemm = tg[n / 2];
    return 0;
}

int main(int argc, char **argv) {
    const double min_seconds = argc > 1 ? atof(argv[1]) : 1.0;
    static bench_case cases[] = {
        {"3x3 64->64 pad1 1x64x56x56", 1, 64, 56, 56, 64, 3, 1, 1, 1},
        {"1x1 256->256 1x256x14x14", 1, 256, 14, 14, 256, 1, 1, 0, 1},
    };
    size_t ncases = sizeof cases / sizeof cases[0];
    if (argc == 11) {
        int v[9];
        for (int i = 0; i < 9; i++)
            v[i] = atoi(argv[2 + i]);
        cases[0] = (bench_case){"custom", v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
        ncases = 1;
    } else if (argc > 2) {
        fprintf(stderr,
                "usage: bench_conv [min_seconds [n cin h w cout kernel stride pad groups]]\n");
        return 2;
    }
    static const int threads[] = {1, 2};
    va_arena ws;
    va_arena_init(&ws);
    printf("va_conv2d (bias + fused relu) vs a bare cblas_sgemm of the same shape, median times;\n"
           "ratio = sgemm time / conv time (target >= 0.80)\n\n");
    printf("%-28s %3s %16s %8s %8s %8s %8s %6s\n", "case", "thr", "GEMM MxNxK", "conv ms",
           "GFLOP/s", "sgemm ms", "GFLOP/s", "ratio");
    int rc = 0;
    for (size_t ci = 0; ci < ncases; ci++) {
        const bench_case *bc = &cases[ci];
        va_error err = {0};
        va_conv2d_desc d;
        va_conv2d_desc_init(&d, bc->cin, bc->cout, bc->k);
        d.stride_h = d.stride_w = bc->stride;
        d.pad_h = d.pad_w = bc->pad;
        d.groups = bc->groups;
        d.act = VA_ACT_RELU;
        int64_t oh, ow;
        if (va_conv2d_out_hw(&d, bc->h, bc->w, &oh, &ow, &err) != VA_OK) {
            fprintf(stderr, "bench_conv: %s\n", err.msg);
            return 1;
        }
        const int m = bc->cout, n = (int)(bc->n * oh * ow),
                  k = bc->cin / bc->groups * bc->k * bc->k;
        va_tensor x, y;
        float *w = va_aligned_alloc((size_t)bc->cout * (size_t)k * sizeof(float));
        float *b = va_aligned_alloc((size_t)bc->cout * sizeof(float));
        float *gb = va_aligned_alloc((size_t)k * (size_t)n * sizeof(float));
        float *gc = va_aligned_alloc((size_t)m * (size_t)n * sizeof(float));
        if (!w || !b || !gb || !gc ||
            va_tensor_alloc4(&x, bc->n, bc->cin, bc->h, bc->w, &err) != VA_OK ||
            va_tensor_alloc4(&y, bc->n, bc->cout, oh, ow, &err) != VA_OK) {
            fprintf(stderr, "bench_conv: out of memory\n");
            return 1;
        }
        fill(w, (int64_t)bc->cout * k, 1);
        fill(b, bc->cout, 2);
        fill(x.data, va_numel(&x), 3);
        fill(gb, (int64_t)k * n, 4);
        d.weight = w;
        d.bias = b;
        const double flops = 2.0 * (double)va_conv2d_macs(&d, bc->n, oh, ow);
        for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
            va_set_num_threads(threads[ti]);
            conv_run cr = {&d, &x, &y, &ws};
            gemm_run gr = {m, n, k, w, gb, gc};
            double tc, tg;
            if (time_pair(&cr, &gr, min_seconds, &tc, &tg)) {
                rc = 1;
                continue;
            }
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%dx%d", m, n, k);
            printf("%-28s %3d %16s %8.3f %8.1f %8.3f %8.1f %6.2f\n", bc->name, threads[ti], shape,
                   tc * 1e3, flops / tc * 1e-9, tg * 1e3, flops / tg * 1e-9, tg / tc);
        }
        va_tensor_free(&x);
        va_tensor_free(&y);
        va_aligned_free(w);
        va_aligned_free(b);
        va_aligned_free(gb);
        va_aligned_free(gc);
    }
    va_arena_free(&ws);
    return rc;
}
