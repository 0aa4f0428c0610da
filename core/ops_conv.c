/* Convolution and GEMM glue: nn.Conv2d, nn.Linear and torch.bmm on top of OpenBLAS cblas_sgemm.
 *
 * va_conv2d picks one of three paths:
 *   - depthwise (groups == in_channels, any channel multiplier): a direct loop per output plane
 *     whose inner loop runs along the output row, so it vectorises;
 *   - pointwise (1x1, stride 1, no padding, any groups): the input plane already is the GEMM's
 *     B matrix, Y[n, g] (Cout/g x HW) = W[g] (Cout/g x Cin/g) * X[n, g] (Cin/g x HW);
 *   - everything else: im2col + GEMM per group.
 * The GEMM paths work on tiles of output pixels sized so that a tile's im2col matrix and output
 * block stay in L2; bias and activation are applied to each block right after its GEMM, while it
 * is still in cache. Threads either run whole (image, group, tile) tasks, each calling a
 * single-threaded sgemm (OpenBLAS's OpenMP build does not fork inside a parallel region), or, for
 * small planes, share each tile and split its output channels (see gemm_plan). Measured with
 * bench/bench_conv.c against a bare sgemm of the same shape. */
#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "ops_internal.h"
#include "visattn/ops.h"

/* Bytes of im2col tile plus output tile per thread: half the 2 MB L2 of the target machine,
 * leaving room for the packed weights sgemm streams through at the same time. */
#define CONV_CACHE_BUDGET ((int64_t)1 << 20)
/* Narrower tiles make sgemm lose efficiency faster than they gain cache locality. */
#define CONV_MIN_TILE 128
/* Batched matmuls up to this many MACs per matrix run one sgemm per thread (see va_bmm). */
#define BMM_SMALL_MACS ((int64_t)1 << 21)

/* ---- Checked int64 arithmetic ---------------------------------------------------------------- */

/* *out = a * b for a, b >= 0; returns -1 on overflow. */
static int mul64(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return -1;
    if (a != 0 && b > INT64_MAX / a) return -1;
    *out = a * b;
    return 0;
}

static int64_t ceil_div64(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

/* ---- Descriptor ------------------------------------------------------------------------------ */

void va_conv2d_desc_init(va_conv2d_desc *d, int in_channels, int out_channels, int kernel) {
    if (!d) return;
    memset(d, 0, sizeof *d);
    d->in_channels = in_channels;
    d->out_channels = out_channels;
    d->kernel_h = d->kernel_w = kernel;
    d->stride_h = d->stride_w = 1;
    d->dilation_h = d->dilation_w = 1;
    d->groups = 1;
    d->act = VA_ACT_NONE; /* padding 0, no weight or bias yet: the memset */
}

va_status va_conv2d_check(const va_conv2d_desc *d, va_error *err) {
    VA_ARG_NONNULL(d, "va_conv2d_check");
    if (d->in_channels < 1 || d->out_channels < 1)
        return va_fail(err, VA_ERR_CONFIG,
                       "conv2d: in_channels=%d and out_channels=%d must be positive",
                       d->in_channels, d->out_channels);
    /* nn.Conv2d: "in_channels must be divisible by groups", same for out_channels. */
    if (d->groups < 1 || d->in_channels % d->groups || d->out_channels % d->groups)
        return va_fail(err, VA_ERR_CONFIG,
                       "conv2d: groups=%d must be positive and divide in_channels=%d and "
                       "out_channels=%d",
                       d->groups, d->in_channels, d->out_channels);
    if (d->kernel_h < 1 || d->kernel_w < 1)
        return va_fail(err, VA_ERR_CONFIG, "conv2d: kernel %dx%d must be positive", d->kernel_h,
                       d->kernel_w);
    if (d->stride_h < 1 || d->stride_w < 1)
        return va_fail(err, VA_ERR_CONFIG, "conv2d: stride %dx%d must be positive", d->stride_h,
                       d->stride_w);
    if (d->dilation_h < 1 || d->dilation_w < 1)
        return va_fail(err, VA_ERR_CONFIG, "conv2d: dilation %dx%d must be positive", d->dilation_h,
                       d->dilation_w);
    if (d->pad_h < 0 || d->pad_w < 0)
        return va_fail(err, VA_ERR_CONFIG, "conv2d: padding %dx%d must be non-negative", d->pad_h,
                       d->pad_w);
    if ((int)d->act < (int)VA_ACT_NONE || (int)d->act > (int)VA_ACT_HARDMISH)
        return va_fail(err, VA_ERR_CONFIG, "conv2d: unknown activation %d", (int)d->act);
    /* Callers size the weight buffer from these numbers; make sure the product exists, and that
     * one group's GEMM dimensions fit the int that cblas takes. */
    int64_t k, nw;
    if (mul64((int64_t)(d->in_channels / d->groups), d->kernel_h, &k) ||
        mul64(k, d->kernel_w, &k) || mul64(k, d->out_channels, &nw) || k > INT_MAX ||
        nw > INT64_MAX / (int64_t)sizeof(float))
        return va_fail(err, VA_ERR_CONFIG, "conv2d: weight %dx%dx%dx%d is too large",
                       d->out_channels, d->in_channels / d->groups, d->kernel_h, d->kernel_w);
    if (nw > VA_MAX_WEIGHT_ELEMS)
        return va_fail(err, VA_ERR_CONFIG,
                       "conv2d: weight %dx%dx%dx%d (out_channels x in_channels / groups x kernel) "
                       "has %lld elements, over the limit of %lld; check the config",
                       d->out_channels, d->in_channels / d->groups, d->kernel_h, d->kernel_w,
                       (long long)nw, (long long)VA_MAX_WEIGHT_ELEMS);
    return VA_OK;
}

/* One spatial dimension of nn.Conv2d's output formula:
 * out = floor((in + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1.
 * Returns -1 if the padded input is smaller than the dilated kernel, -2 if it overflows. */
static int conv_out_dim(int64_t in, int k, int stride, int pad, int dil, int64_t *out,
                        int64_t *span) {
    *span = (int64_t)dil * (k - 1) + 1;
    *out = 0;
    if (in > INT64_MAX - 2 * (int64_t)pad) return -2;
    int64_t padded = in + 2 * (int64_t)pad;
    if (padded < *span) return -1;
    *out = (padded - *span) / stride + 1;
    return 0;
}

va_status va_conv2d_out_hw(const va_conv2d_desc *d, int64_t h, int64_t w, int64_t *oh, int64_t *ow,
                           va_error *err) {
    VA_ARG_NONNULL(d, "va_conv2d_out_hw");
    VA_ARG_NONNULL(oh, "va_conv2d_out_hw");
    VA_ARG_NONNULL(ow, "va_conv2d_out_hw");
    VA_TRY(va_conv2d_check(d, err));
    /* PyTorch rejects empty spatial input even when the padding alone would fit the kernel. */
    if (h < 1 || w < 1)
        return va_fail(err, VA_ERR_SHAPE, "conv2d: input spatial size %lldx%lld is empty",
                       (long long)h, (long long)w);
    int64_t eh, ew;
    const int bad_h = conv_out_dim(h, d->kernel_h, d->stride_h, d->pad_h, d->dilation_h, oh, &eh);
    const int bad_w = conv_out_dim(w, d->kernel_w, d->stride_w, d->pad_w, d->dilation_w, ow, &ew);
    if (bad_h == -2 || bad_w == -2)
        return va_fail(err, VA_ERR_SHAPE, "conv2d: input spatial size %lldx%lld is too large",
                       (long long)h, (long long)w);
    if (bad_h || bad_w)
        return va_fail(err, VA_ERR_SHAPE,
                       "conv2d: input %lldx%lld with padding %dx%d is smaller than the dilated "
                       "kernel %lldx%lld",
                       (long long)h, (long long)w, d->pad_h, d->pad_w, (long long)eh,
                       (long long)ew);
    return VA_OK;
}

int64_t va_conv2d_macs(const va_conv2d_desc *d, int64_t n, int64_t oh, int64_t ow) {
    if (!d || d->groups < 1 || d->in_channels < 0 || d->out_channels < 0 || d->kernel_h < 0 ||
        d->kernel_w < 0)
        return -1;
    int64_t m;
    if (mul64(n, d->out_channels, &m) || mul64(m, oh, &m) || mul64(m, ow, &m) ||
        mul64(m, d->in_channels / d->groups, &m) || mul64(m, d->kernel_h, &m) ||
        mul64(m, d->kernel_w, &m))
        return -1;
    return m;
}

/* ---- Shared geometry ------------------------------------------------------------------------- */

typedef struct conv_geom {
    int64_t n, cin, h, w;     /* input */
    int64_t cout, oh, ow;     /* output */
    int64_t cin_g, cout_g, k; /* per group; k = cin_g * kh * kw, the GEMM depth */
    int kh, kw, sh, sw, ph, pw, dh, dw, groups;
} conv_geom;

/* For output columns j = 0..len-1 reading input column ix0 + j * stride of a row of width w:
 * the columns in [*lo, *hi) land inside the row, the rest read padding. */
static void valid_span(int64_t ix0, int64_t stride, int64_t w, int64_t len, int64_t *lo,
                       int64_t *hi) {
    int64_t a, b;
    if (stride == 1) { /* the common case, without the divisions */
        a = ix0 >= 0 ? 0 : -ix0;
        b = w - ix0;
    } else {
        a = ix0 >= 0 ? 0 : ceil_div64(-ix0, stride);
        b = ix0 >= w ? 0 : ceil_div64(w - ix0, stride);
    }
    if (a > len) a = len;
    if (b > len) b = len;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

/* ---- Depthwise ------------------------------------------------------------------------------- */

/* One output plane of a depthwise conv. The accumulation runs tap by tap along whole output rows
 * (contiguous for stride 1), which the compiler turns into vector FMAs. */
static void depthwise_plane(const conv_geom *g, const float *restrict x, const float *wk, float b,
                            float *restrict y) {
    for (int64_t oy = 0; oy < g->oh; oy++) {
        float *out = y + oy * g->ow;
        for (int64_t ox = 0; ox < g->ow; ox++)
            out[ox] = b;
        for (int ky = 0; ky < g->kh; ky++) {
            const int64_t iy = oy * g->sh - g->ph + (int64_t)ky * g->dh;
            if (iy < 0 || iy >= g->h) continue;
            const float *xrow = x + iy * g->w;
            for (int kx = 0; kx < g->kw; kx++) {
                const float wv = wk[ky * g->kw + kx];
                const int64_t ix0 = -(int64_t)g->pw + (int64_t)kx * g->dw;
                int64_t lo, hi;
                valid_span(ix0, g->sw, g->w, g->ow, &lo, &hi);
                if (g->sw == 1) {
                    for (int64_t ox = lo; ox < hi; ox++)
                        out[ox] += wv * xrow[ix0 + ox];
                } else {
                    const int64_t s = g->sw;
                    for (int64_t ox = lo; ox < hi; ox++)
                        out[ox] += wv * xrow[ix0 + ox * s];
                }
            }
        }
    }
}

/* Stride-1 depthwise plane through a zero-padded copy of the input (xp, hp x wp). Computing the
 * output at the padded row width wp turns every tap into one multiply-add over the whole plane,
 * acc[i] += w * xp[i + offset], which vectorises far better than short rows with border checks.
 * Columns ow..wp-1 of acc are scratch and dropped when the rows are copied out. Ending acc at the
 * last real output element keeps every read inside xp. */
static void depthwise_plane_s1(const conv_geom *g, const float *restrict x, const float *wk,
                               float b, float *restrict y, float *restrict xp,
                               float *restrict acc) {
    const int64_t wp = g->w + 2 * (int64_t)g->pw, hp = g->h + 2 * (int64_t)g->ph;
    memset(xp, 0, (size_t)(g->ph * wp) * sizeof(float));
    for (int64_t iy = 0; iy < g->h; iy++) {
        float *row = xp + (iy + g->ph) * wp;
        for (int64_t j = 0; j < g->pw; j++)
            row[j] = 0.0f;
        memcpy(row + g->pw, x + iy * g->w, (size_t)g->w * sizeof(float));
        for (int64_t j = g->pw + g->w; j < wp; j++)
            row[j] = 0.0f;
    }
    memset(xp + (g->ph + g->h) * wp, 0, (size_t)((hp - g->ph - g->h) * wp) * sizeof(float));
    const int64_t n = (g->oh - 1) * wp + g->ow;
    for (int64_t i = 0; i < n; i++)
        acc[i] = b;
    for (int ky = 0; ky < g->kh; ky++)
        for (int kx = 0; kx < g->kw; kx++) {
            const float wv = wk[ky * g->kw + kx];
            const float *xs = xp + (int64_t)ky * g->dh * wp + (int64_t)kx * g->dw;
            for (int64_t i = 0; i < n; i++)
                acc[i] += wv * xs[i];
        }
    for (int64_t oy = 0; oy < g->oh; oy++)
        memcpy(y + oy * g->ow, acc + oy * wp, (size_t)g->ow * sizeof(float));
}

static float *thread_slice(float *base, int64_t floats) {
    return base ? base + omp_get_thread_num() * floats : NULL;
}

static void conv_depthwise(const conv_geom *g, const va_conv2d_desc *d, const float *x, float *y,
                           float *scratch, int64_t scratch_floats, int nth) {
    const int64_t planes = g->n * g->cout, mult = g->cout / g->cin;
    const int64_t in_plane = g->h * g->w, out_plane = g->oh * g->ow;
    const int64_t taps = (int64_t)g->kh * g->kw;
    const int64_t pad_plane = (g->h + 2 * (int64_t)g->ph) * (g->w + 2 * (int64_t)g->pw);
    /* Output planes of consecutive channels are adjacent in y, so each thread takes a contiguous
     * run of planes and applies the activation to a cache-sized batch of them in one call:
     * va_act_apply has a fixed cost per call that would dominate on small planes. */
    int64_t batch = ((int64_t)1 << 14) / out_plane;
    if (batch < 1) batch = 1;
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        float *xp = thread_slice(scratch, scratch_floats);
        const int64_t chunk = ceil_div64(planes, omp_get_num_threads());
        const int64_t p_begin = omp_get_thread_num() * chunk;
        const int64_t p_end = p_begin + chunk < planes ? p_begin + chunk : planes;
        for (int64_t p0 = p_begin; p0 < p_end; p0 += batch) {
            const int64_t p1 = p0 + batch < p_end ? p0 + batch : p_end;
            for (int64_t p = p0; p < p1; p++) {
                const int64_t n = p / g->cout, co = p % g->cout, ci = co / mult;
                const float *xc = x + (n * g->cin + ci) * in_plane;
                const float bias = d->bias ? d->bias[co] : 0.0f;
                if (xp)
                    depthwise_plane_s1(g, xc, d->weight + co * taps, bias, y + p * out_plane, xp,
                                       xp + pad_plane);
                else
                    depthwise_plane(g, xc, d->weight + co * taps, bias, y + p * out_plane);
            }
            if (d->act != VA_ACT_NONE)
                va_act_apply(d->act, y + p0 * out_plane, y + p0 * out_plane, (p1 - p0) * out_plane);
        }
    }
}

/* Depthwise entry: picks the thread count and, for stride 1 with a workspace, the padded-plane
 * scratch (without one, the row-wise loop needs none). */
static va_status conv_depthwise_run(const conv_geom *g, const va_conv2d_desc *d, const float *x,
                                    float *y, va_arena *ws, va_error *err) {
    const int64_t planes = g->n * g->cout, out_plane = g->oh * g->ow;
    const int64_t taps = (int64_t)g->kh * g->kw;
    /* Threads only pay off once there is real work to split (planes * out_plane fits: it is
     * y's size; the product with taps might not). */
    const int64_t min_work = 32768;
    const int big = taps > min_work || planes * out_plane > min_work / taps;
    const int nth = big ? omp_get_max_threads() : 1;
    if (!ws || g->sh != 1 || g->sw != 1) {
        conv_depthwise(g, d, x, y, NULL, 0, nth);
        return VA_OK;
    }
    const int64_t wp = g->w + 2 * (int64_t)g->pw, hp = g->h + 2 * (int64_t)g->ph;
    int64_t per_thread, bytes;
    if (mul64(hp, wp, &per_thread) || mul64(per_thread, 2, &per_thread) ||
        mul64(per_thread, (int64_t)sizeof(float) * nth, &bytes) || (uint64_t)bytes > SIZE_MAX)
        return va_fail(err, VA_ERR_NOMEM, "conv2d: depthwise scratch size overflows");
    const size_t mark = va_arena_mark(ws);
    float *scratch = va_arena_alloc(ws, (size_t)bytes, err);
    if (!scratch) return err ? err->status : VA_ERR_NOMEM;
    conv_depthwise(g, d, x, y, scratch, per_thread, nth);
    va_arena_rewind(ws, mark);
    return VA_OK;
}

/* ---- im2col + GEMM --------------------------------------------------------------------------- */

/* Rows [r0, r1) of the im2col matrix for output pixels [p0, p0 + len) of one group: row
 * r = (ci, ky, kx) in weight order, column j = input pixel that tap (ky, kx) of output pixel p0 + j
 * reads from channel ci, or 0 where it falls in the zero padding. x points at the group's first
 * input channel; col has row stride len. This runs once per tap and output row, so everything
 * that does not depend on the row (the valid column range of tap kx) is worked out outside. */
static void im2col_rows(const conv_geom *g, const float *x, int64_t p0, int64_t len, int64_t r0,
                        int64_t r1, float *col) {
    const int64_t taps = (int64_t)g->kh * g->kw, sw = g->sw;
    const int64_t oy0 = p0 / g->ow, ox0 = p0 % g->ow;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t ci = r / taps, ky = (r % taps) / g->kw, kx = r % g->kw;
        const float *xc = x + ci * g->h * g->w;
        const int64_t ix_base = kx * g->dw - g->pw; /* input column of output column 0 */
        int64_t full_lo, full_hi;
        valid_span(ix_base, sw, g->w, g->ow, &full_lo, &full_hi);
        float *dst = col + r * len;
        int64_t oy = oy0, ox = ox0, done = 0;
        while (done < len) {
            /* Output columns [ox, end) of row oy go to dst[0 .. end - ox). */
            const int64_t end = len - done < g->ow - ox ? ox + (len - done) : g->ow;
            const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
            if (iy < 0 || iy >= g->h) {
                for (int64_t j = ox; j < end; j++)
                    dst[j - ox] = 0.0f;
            } else {
                const int64_t lo = full_lo > ox ? (full_lo < end ? full_lo : end) : ox;
                const int64_t hi = full_hi < end ? (full_hi > lo ? full_hi : lo) : end;
                const float *xrow = xc + iy * g->w;
                for (int64_t j = ox; j < lo; j++)
                    dst[j - ox] = 0.0f;
                if (sw == 1) {
                    for (int64_t j = lo; j < hi; j++)
                        dst[j - ox] = xrow[ix_base + j];
                } else {
                    for (int64_t j = lo; j < hi; j++)
                        dst[j - ox] = xrow[ix_base + j * sw];
                }
                for (int64_t j = hi; j < end; j++)
                    dst[j - ox] = 0.0f;
            }
            dst += end - ox;
            done += end - ox;
            ox = 0;
            oy++;
        }
    }
}

/* How the GEMM paths split the work. Output pixels of one (image, group) are cut into column tiles
 * whose im2col matrix and output block fit the cache budget. Then, with several threads:
 *   - COLS: (image, group, tile) tasks run in parallel, each thread with its own im2col buffer and
 *     a single-threaded sgemm; chosen when the tasks spread evenly over the threads in tiles that
 *     are still wide;
 *   - ROWS: tiles run one after another; the threads fill one shared im2col buffer together, then
 *     each runs sgemm + epilogue on its own block of output channels. Used for small planes, where
 *     narrow column tiles would make sgemm slow and threads write the same cache lines.
 * ROWS rather than one multi-threaded sgemm per tile keeps the bias/activation pass inside the
 * thread that wrote the block. */
typedef struct gemm_plan {
    int pointwise;  /* B is the input itself, no im2col */
    int rows;       /* ROWS mode (else COLS) */
    int nth;        /* threads */
    int64_t tile;   /* output pixels per tile */
    int64_t ntiles; /* tiles per (image, group) */
    int64_t steps;  /* n * groups * ntiles */
    int64_t mblk;   /* ROWS: output channels per thread block */
} gemm_plan;

static int64_t round_up64(int64_t a, int64_t m) {
    return ceil_div64(a, m) * m;
}

static gemm_plan plan_gemm(const conv_geom *g, int pointwise, int nth) {
    gemm_plan p = {.pointwise = pointwise, .nth = nth};
    const int64_t hw = g->oh * g->ow, per_plane = g->n * g->groups;
    /* The im2col tile and the output block it produces share the budget. A 1x1 conv has no
     * im2col: budgeting only its input panel gives wider tiles, which measured faster (fewer
     * staging copies, see gemm_block). */
    const int64_t per_pixel = pointwise ? g->k : g->k + g->cout_g;
    int64_t target = CONV_CACHE_BUDGET / ((int64_t)sizeof(float) * per_pixel);
    if (target < CONV_MIN_TILE) target = CONV_MIN_TILE;
    int64_t nt = hw / target > 1 ? hw / target : 1; /* tiles at least `target` wide */
    p.rows = 0;
    if (nth > 1) {
        /* A multiple of the thread count in tasks, so no thread idles at the end... */
        int64_t even = 0;
        for (int64_t cand = nt; cand <= nt + nth && !even; cand++)
            if ((per_plane * cand) % nth == 0 && (cand == nt || hw / cand >= CONV_MIN_TILE))
                even = cand;
        if (even) nt = even;
        /* ...or so many tasks that the last round hardly matters. */
        else if (per_plane * nt < 4 * (int64_t)nth)
            p.rows = 1;
    }
    p.tile = ceil_div64(hw, nt);
    /* Whole cache lines per tile where the plane allows it, so threads writing neighbouring
     * tiles of one output row do not share lines. */
    const int64_t aligned = round_up64(p.tile, 16);
    if (aligned < hw && ceil_div64(hw, aligned) == nt) p.tile = aligned;
    p.ntiles = ceil_div64(hw, p.tile);
    p.steps = per_plane * p.ntiles;
    p.mblk = round_up64(ceil_div64(g->cout_g, nth), 8);
    return p;
}

/* Where step s = (image, group, tile) reads and writes. */
typedef struct gemm_step {
    const float *x; /* the group's first input channel */
    float *y;       /* output tile origin: first channel of the group, first pixel of the tile */
    int64_t grp, p0, len;
} gemm_step;

static gemm_step locate_step(const conv_geom *g, const gemm_plan *p, const float *x, float *y,
                             int64_t s) {
    gemm_step st;
    const int64_t hw = g->oh * g->ow, tile = s % p->ntiles, ng = s / p->ntiles;
    const int64_t n = ng / g->groups;
    st.grp = ng % g->groups;
    st.p0 = tile * p->tile;
    st.len = hw - st.p0 < p->tile ? hw - st.p0 : p->tile;
    st.x = x + (n * g->cin + st.grp * g->cin_g) * g->h * g->w;
    st.y = y + (n * g->cout + st.grp * g->cout_g) * hw + st.p0;
    return st;
}

/* Per-thread scratch from the arena: an im2col tile and a staging block for the output. */
typedef struct gemm_scratch {
    float *cols, *stage; /* thread t uses cols + t * col_floats, same for stage */
    int64_t col_floats, stage_floats;
} gemm_scratch;

/* Output channels [m0, m1) of one step: sgemm into the tile, then the activation while the block
 * is still in cache. b is the step's B matrix (im2col tile or the input itself). A narrow tile's
 * rows are strided in y; with an activation the block is computed in the contiguous `stage`
 * buffer (if given) so that one va_act_apply call covers it, then copied out: a call per row
 * costs more than the copy. */
static void gemm_block(const conv_geom *g, const va_conv2d_desc *d, const gemm_step *st,
                       const float *b, int64_t ldb, int64_t m0, int64_t m1, float *stage) {
    const int64_t hw = g->oh * g->ow, co = st->grp * g->cout_g + m0, rows = m1 - m0;
    const int64_t len = st->len;
    float *out = st->y + m0 * hw;
    const int staged = stage && d->act != VA_ACT_NONE && len != hw;
    float *c = staged ? stage : out;
    const int64_t ldc = staged ? len : hw;
    float beta = 0.0f;
    if (d->bias) {
        /* Start C at the bias and let sgemm accumulate onto it: one pass over the block instead
         * of sgemm's zeroing pass (beta = 0) plus a bias pass. */
        for (int64_t r = 0; r < rows; r++) {
            float *row = c + r * ldc;
            const float bv = d->bias[co + r];
            for (int64_t j = 0; j < len; j++)
                row[j] = bv;
        }
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)len, (int)g->k, 1.0f,
                d->weight + co * g->k, (int)g->k, b, (int)ldb, beta, c, (int)ldc);
    if (d->act == VA_ACT_NONE) return;
    if (ldc == len) {
        va_act_apply(d->act, c, c, rows * len);
    } else {
        for (int64_t r = 0; r < rows; r++)
            va_act_apply(d->act, c + r * ldc, c + r * ldc, len);
    }
    if (staged)
        for (int64_t r = 0; r < rows; r++)
            memcpy(out + r * hw, c + r * len, (size_t)len * sizeof(float));
}

/* COLS mode (and the single-thread case): each thread runs whole steps. */
static void run_cols(const conv_geom *g, const gemm_plan *p, const va_conv2d_desc *d,
                     const float *x, float *y, const gemm_scratch *sc) {
    const int64_t in_plane = g->h * g->w;
#pragma omp parallel num_threads(p->nth) if (p->nth > 1)
    {
        float *col = thread_slice(sc->cols, sc->col_floats);
        float *stage = thread_slice(sc->stage, sc->stage_floats);
#pragma omp for schedule(static)
        for (int64_t s = 0; s < p->steps; s++) {
            const gemm_step st = locate_step(g, p, x, y, s);
            if (p->pointwise) {
                gemm_block(g, d, &st, st.x + st.p0, in_plane, 0, g->cout_g, stage);
            } else {
                im2col_rows(g, st.x, st.p0, st.len, 0, g->k, col);
                gemm_block(g, d, &st, col, st.len, 0, g->cout_g, stage);
            }
        }
    }
}

/* ROWS mode: steps in sequence, threads share the im2col and split the output channels. */
static void run_rows(const conv_geom *g, const gemm_plan *p, const va_conv2d_desc *d,
                     const float *x, float *y, const gemm_scratch *sc) {
    const int64_t in_plane = g->h * g->w, nblk = ceil_div64(g->cout_g, p->mblk);
    float *col = sc->cols;
#pragma omp parallel num_threads(p->nth)
    {
        float *stage = thread_slice(sc->stage, sc->stage_floats);
        for (int64_t s = 0; s < p->steps; s++) {
            const gemm_step st = locate_step(g, p, x, y, s);
            const float *b = st.x + st.p0;
            int64_t ldb = in_plane;
            if (!p->pointwise) {
                /* The implicit barrier after this loop publishes the buffer to every thread. */
#pragma omp for schedule(static)
                for (int64_t r = 0; r < g->k; r++)
                    im2col_rows(g, st.x, st.p0, st.len, r, r + 1, col);
                b = col;
                ldb = st.len;
            }
            /* The implicit barrier here keeps the next step's im2col from overwriting col. */
#pragma omp for schedule(static)
            for (int64_t blk = 0; blk < nblk; blk++) {
                const int64_t m0 = blk * p->mblk;
                const int64_t m1 = m0 + p->mblk < g->cout_g ? m0 + p->mblk : g->cout_g;
                gemm_block(g, d, &st, b, ldb, m0, m1, stage);
            }
        }
    }
}

/* count buffers of `floats` floats each from the arena; NULL with err set on failure. */
static float *arena_floats(va_arena *ws, int64_t floats, int64_t count, va_error *err) {
    int64_t total;
    if (mul64(floats, count, &total) || total > INT64_MAX / (int64_t)sizeof(float) ||
        (uint64_t)total * sizeof(float) > SIZE_MAX) {
        va_fail(err, VA_ERR_NOMEM, "conv2d: scratch size overflows");
        return NULL;
    }
    return va_arena_alloc(ws, (size_t)total * sizeof(float), err);
}

static va_status conv_gemm(const conv_geom *g, const va_conv2d_desc *d, int pointwise,
                           const float *x, float *y, va_arena *ws, va_error *err) {
    const int64_t hw = g->oh * g->ow;
    /* cblas takes int dimensions and leading dimensions. */
    if (hw > INT_MAX || (pointwise && g->h * g->w > INT_MAX) || g->cout_g > INT_MAX)
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "conv2d: %lldx%lld output plane is too large for a BLAS GEMM",
                       (long long)g->oh, (long long)g->ow);
    const gemm_plan p = plan_gemm(g, pointwise, omp_get_max_threads());
    if (!pointwise && !ws)
        return va_fail(err, VA_ERR_ARG, "va_conv2d: ws is NULL, and a %dx%d conv needs a workspace",
                       g->kh, g->kw);
    gemm_scratch sc = {0};
    const size_t mark = ws ? va_arena_mark(ws) : 0;
    if (!pointwise) {
        sc.col_floats = g->k * p.tile;
        sc.cols = arena_floats(ws, sc.col_floats, p.rows ? 1 : p.nth, err);
        if (!sc.cols) return err ? err->status : VA_ERR_NOMEM;
    }
    /* Staging only matters for split planes with an activation; the direct 1x1 path without a
     * workspace still works, with one activation call per row. */
    if (ws && d->act != VA_ACT_NONE && p.ntiles > 1) {
        sc.stage_floats = (p.rows ? p.mblk : g->cout_g) * p.tile;
        sc.stage = arena_floats(ws, sc.stage_floats, p.nth, err);
        if (!sc.stage) {
            va_arena_rewind(ws, mark);
            return err ? err->status : VA_ERR_NOMEM;
        }
    }
    if (p.rows)
        run_rows(g, &p, d, x, y, &sc);
    else
        run_cols(g, &p, d, x, y, &sc);
    if (ws) va_arena_rewind(ws, mark);
    return VA_OK;
}

/* ---- Entry point ----------------------------------------------------------------------------- */

static int numel_ok(const va_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        if (mul64(n, t->shape[i], &n)) return 0;
    return n <= INT64_MAX / (int64_t)sizeof(float);
}

va_status va_conv2d(const va_conv2d_desc *d, const va_tensor *x, va_tensor *y, va_arena *ws,
                    va_error *err) {
    VA_ARG_NONNULL(d, "va_conv2d");
    VA_ARG_NONNULL(x, "va_conv2d");
    VA_ARG_NONNULL(y, "va_conv2d");
    VA_TRY(va_conv2d_check(d, err));
    VA_ARG_NONNULL(d->weight, "va_conv2d");
    char xs[96], ys[96];
    if (x->ndim != 4)
        return va_fail(err, VA_ERR_SHAPE, "conv2d: input %s is not a 4-D NCHW tensor",
                       va_shape_str(x, xs, sizeof xs));
    if (!numel_ok(x))
        return va_fail(err, VA_ERR_SHAPE, "conv2d: input %s has an invalid size",
                       va_shape_str(x, xs, sizeof xs));
    if (x->shape[1] != d->in_channels)
        return va_fail(err, VA_ERR_SHAPE, "conv2d: input %s has %lld channels, expected %d",
                       va_shape_str(x, xs, sizeof xs), (long long)x->shape[1], d->in_channels);
    int64_t oh, ow;
    VA_TRY(va_conv2d_out_hw(d, x->shape[2], x->shape[3], &oh, &ow, err));
    if (y->ndim != 4 || y->shape[0] != x->shape[0] || y->shape[1] != d->out_channels ||
        y->shape[2] != oh || y->shape[3] != ow || !numel_ok(y))
        return va_fail(err, VA_ERR_SHAPE,
                       "conv2d: output %s, expected %lldx%dx%lldx%lld for input %s",
                       va_shape_str(y, ys, sizeof ys), (long long)x->shape[0], d->out_channels,
                       (long long)oh, (long long)ow, va_shape_str(x, xs, sizeof xs));
    if (x->shape[0] == 0) return VA_OK;
    if (!x->data || !y->data) return va_fail(err, VA_ERR_ARG, "conv2d: NULL tensor data");
    /* Every path writes y while it still reads x (and the weights): no in-place conv. Sizes are
     * bounded by the checks above. */
    const int64_t nw =
        (int64_t)d->out_channels * (d->in_channels / d->groups) * d->kernel_h * d->kernel_w;
    VA_TRY(check_disjoint(x, y, "va_conv2d", "x", err));
    VA_TRY(check_disjoint_raw(d->weight, nw, y->data, va_numel(y), "va_conv2d", "d->weight", err));
    VA_TRY(check_disjoint_raw(d->bias, d->out_channels, y->data, va_numel(y), "va_conv2d",
                              "d->bias", err));

    conv_geom g = {
        .n = x->shape[0],
        .cin = d->in_channels,
        .h = x->shape[2],
        .w = x->shape[3],
        .cout = d->out_channels,
        .oh = oh,
        .ow = ow,
        .cin_g = d->in_channels / d->groups,
        .cout_g = d->out_channels / d->groups,
        .kh = d->kernel_h,
        .kw = d->kernel_w,
        .sh = d->stride_h,
        .sw = d->stride_w,
        .ph = d->pad_h,
        .pw = d->pad_w,
        .dh = d->dilation_h,
        .dw = d->dilation_w,
        .groups = d->groups,
    };
    g.k = g.cin_g * g.kh * g.kw;

    /* groups == in_channels is PyTorch's depthwise conv (out_channels = multiplier * in). */
    if (g.cin_g == 1 && d->groups == d->in_channels)
        return conv_depthwise_run(&g, d, x->data, y->data, ws, err);
    const int pointwise =
        g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
    return conv_gemm(&g, d, pointwise, x->data, y->data, ws, err);
}

/* ---- Linear and batched matmul --------------------------------------------------------------- */

va_status va_linear(const float *x, int64_t rows, int64_t in, const float *w, const float *b,
                    int64_t out, float *y, va_error *err) {
    if (rows < 0 || in < 0 || out < 0)
        return va_fail(err, VA_ERR_ARG, "linear: negative size (rows=%lld in=%lld out=%lld)",
                       (long long)rows, (long long)in, (long long)out);
    if (rows > INT_MAX || in > INT_MAX || out > INT_MAX)
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "linear: %lldx%lld by %lldx%lld is too large for a BLAS GEMM",
                       (long long)rows, (long long)in, (long long)out, (long long)in);
    if (rows == 0 || out == 0) return VA_OK;
    /* x and w are not read when in == 0 (the output is the bias). */
    VA_ARG_NONNULL(y, "va_linear");
    if (in > 0) {
        VA_ARG_NONNULL(x, "va_linear");
        VA_ARG_NONNULL(w, "va_linear");
    }
    /* sgemm writes y while reading x and w; the bias is added after it. */
    VA_TRY(check_disjoint_raw(x, rows * in, y, rows * out, "va_linear", "x", err));
    VA_TRY(check_disjoint_raw(w, out * in, y, rows * out, "va_linear", "w", err));
    VA_TRY(check_disjoint_raw(b, out, y, rows * out, "va_linear", "b", err));
    if (in == 0) {
        /* An empty dot product: nn.Linear(0, out) returns the bias. */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < out; o++)
                y[r * out + o] = b ? b[o] : 0.0f;
        return VA_OK;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out, (int)in, 1.0f, x,
                (int)in, w, (int)in, 0.0f, y, (int)out);
    if (b) {
#pragma omp parallel for schedule(static) if (rows * out > 65536)
        for (int64_t r = 0; r < rows; r++) {
            float *yr = y + r * out;
            for (int64_t o = 0; o < out; o++)
                yr[o] += b[o];
        }
    }
    return VA_OK;
}

va_status va_bmm(int64_t batch, int64_t m, int64_t n, int64_t k, const float *a, int trans_a,
                 const float *b, int trans_b, float *c, va_error *err) {
    if (batch < 0 || m < 0 || n < 0 || k < 0)
        return va_fail(err, VA_ERR_ARG, "bmm: negative size (batch=%lld m=%lld n=%lld k=%lld)",
                       (long long)batch, (long long)m, (long long)n, (long long)k);
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "bmm: %lldx%lld by %lldx%lld is too large for a BLAS GEMM", (long long)m,
                       (long long)k, (long long)k, (long long)n);
    if (batch == 0 || m == 0 || n == 0) return VA_OK;
    /* Per-matrix strides and the whole of C must be addressable. */
    int64_t sa, sb, sc, na, nb, total, macs;
    if (mul64(m, k, &sa) || mul64(k, n, &sb) || mul64(m, n, &sc) || mul64(sc, k, &macs) ||
        mul64(batch, sa, &na) || mul64(batch, sb, &nb) || mul64(batch, sc, &total) ||
        total > INT64_MAX / (int64_t)sizeof(float))
        return va_fail(err, VA_ERR_ARG, "bmm: batch=%lld of %lldx%lld by %lldx%lld overflows",
                       (long long)batch, (long long)m, (long long)k, (long long)k, (long long)n);
    /* a and b are not read when k == 0 (the product is zeros). */
    VA_ARG_NONNULL(c, "va_bmm");
    if (k > 0) {
        VA_ARG_NONNULL(a, "va_bmm");
        VA_ARG_NONNULL(b, "va_bmm");
    }
    VA_TRY(check_disjoint_raw(a, na, c, total, "va_bmm", "a", err));
    VA_TRY(check_disjoint_raw(b, nb, c, total, "va_bmm", "b", err));
    if (k == 0) {
        /* torch.bmm with an empty inner dimension gives zeros; sgemm would reject lda = 0. */
        memset(c, 0, (size_t)total * sizeof(float));
        return VA_OK;
    }
    const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    const int lda = (int)(trans_a ? m : k), ldb = (int)(trans_b ? k : n);
    const int nth = omp_get_max_threads();
    /* Small matrices (attention maps of one head/window) give a threaded sgemm too little work
     * per thread; one sgemm per thread over the batch keeps every core busy instead. */
    if (nth > 1 && batch >= nth && macs <= BMM_SMALL_MACS) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < batch; i++)
            cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, 1.0f, a + i * sa, lda,
                        b + i * sb, ldb, 0.0f, c + i * sc, (int)n);
    } else {
        for (int64_t i = 0; i < batch; i++)
            cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, 1.0f, a + i * sa, lda,
                        b + i * sb, ldb, 0.0f, c + i * sc, (int)n);
    }
    return VA_OK;
}

va_status va_class_activation_map(const va_tensor *features, const float *w, const float *logits,
                                  int64_t num_classes, va_tensor *cam, va_error *err) {
    static const char *op = "va_class_activation_map";
    VA_TRY(check_4d(features, op, "features", err));
    VA_TRY(check_4d(cam, op, "cam", err));
    const int64_t n = features->shape[0], c = features->shape[1];
    const int64_t hw = features->shape[2] * features->shape[3];
    if (!w || !logits) return va_fail(err, VA_ERR_ARG, "%s: %s is NULL", op, w ? "logits" : "w");
    if (num_classes < 1 || cam->shape[0] != n || cam->shape[1] != 1 ||
        cam->shape[2] != features->shape[2] || cam->shape[3] != features->shape[3]) {
        char sf[SHAPE_BUF], sc[SHAPE_BUF];
        return va_fail(err, VA_ERR_SHAPE, "%s: cam %s does not fit features %s (%lld classes)", op,
                       va_shape_str(cam, sc, sizeof sc), va_shape_str(features, sf, sizeof sf),
                       (long long)num_classes);
    }
    VA_TRY(check_disjoint(features, cam, op, "features", err));
    for (int64_t s = 0; s < n; s++) {
        const float *l = logits + s * num_classes;
        int64_t top = 0;
        for (int64_t k = 1; k < num_classes; k++)
            if (l[top] == l[top] && (l[k] > l[top] || l[k] != l[k])) top = k;
        /* cam = w_top^T F: a 1 x C by C x HW product. */
        VA_TRY(va_bmm(1, 1, hw, c, w + top * c, 0, features->data + s * c * hw, 0,
                      cam->data + s * hw, err));
    }
    return VA_OK;
}
