/* Normalisation (eval BatchNorm, BN folding, GroupNorm), pooling (global, windowed, across
 * channels) and softmax. Semantics follow PyTorch 1.13 on CPU in float32; where the order of
 * float operations matters, the comments name the PyTorch kernel that is mirrored. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "ops_internal.h"
#include "ops_mathf.h"
#include "visattn/ops.h"

/* Columns per task in the across-channel reductions: 4 KB of y stays in L1 while planes stream. */
#define CH_BLOCK 1024
/* Inner-dim block of the strided softmax: per-column max and sum live on the stack. */
#define SM_BLOCK 64
/* Softmax rows shorter than this are done SM_ROWS_BLOCK floats' worth of rows at a time. */
#define SM_SHORT 1024
#define SM_ROWS_BLOCK 4096

/* ---- Shared checks --------------------------------------------------------------------------- */

/* y must have x's shape; in_place says whether y may be x itself (never a partial overlap). */
static va_status check_same(const va_tensor *x, const va_tensor *y, int in_place, const char *op,
                            va_error *err) {
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    if (!va_same_shape(x, y))
        return va_fail(err, VA_ERR_SHAPE, "%s: x %s and y %s differ", op,
                       va_shape_str(x, sx, sizeof sx), va_shape_str(y, sy, sizeof sy));
    if (ranges_overlap(x->data, va_numel(x), y->data, va_numel(y)) &&
        !(in_place && x->data == y->data))
        return va_fail(err, VA_ERR_ARG, "%s: y overlaps x %s", op,
                       in_place ? "without being x itself" : "(this op is not in place)");
    return VA_OK;
}

/* The per-channel vectors of a norm are read while y is written: none may share y's memory
 * (in place means y == x, never y over a parameter). NULL vectors are skipped. */
static va_status check_params(const float *const *vec, const char *const *names, int count,
                              int64_t c, const va_tensor *y, const char *op, va_error *err) {
    for (int i = 0; i < count; i++)
        VA_TRY(check_disjoint_raw(vec[i], c, y->data, va_numel(y), op, names[i], err));
    return VA_OK;
}

/* max() that lets NaN through, as torch.max / max_pool2d do (`val > max || isnan(val)`). */
static inline float max_nan(float m, float v) {
    return (v > m || v != v) ? v : m;
}

/* ---- BatchNorm ------------------------------------------------------------------------------- */

va_status va_batchnorm2d(const va_tensor *x, const float *gamma, const float *beta,
                         const float *mean, const float *var, float eps, va_tensor *y,
                         va_error *err) {
    static const char *op = "va_batchnorm2d";
    VA_TRY(check_4d(x, op, "x", err));
    VA_TRY(check_4d(y, op, "y", err));
    VA_TRY(check_same(x, y, 1, op, err));
    VA_ARG_NONNULL(mean, "va_batchnorm2d");
    VA_ARG_NONNULL(var, "va_batchnorm2d");
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const float *const vec[] = {gamma, beta, mean, var};
    static const char *const names[] = {"gamma", "beta", "mean", "var"};
    VA_TRY(check_params(vec, names, 4, C, y, op, err));
    const int64_t total = va_numel(x);
    if (total == 0) return VA_OK;
    const float *px = x->data;
    float *py = y->data;
    /* PyTorch's inference path (batch_norm_cpu_collect_linear_and_constant_terms) folds the
     * statistics into y = x * alpha + shift, alpha = invstd * gamma, shift = beta - mean * alpha.
     */
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
    for (int64_t p = 0; p < N * C; p++) {
        const int64_t c = p % C;
        const float invstd = 1.0f / sqrtf(var[c] + eps);
        const float alpha = invstd * (gamma ? gamma[c] : 1.0f);
        const float shift = (beta ? beta[c] : 0.0f) - mean[c] * alpha;
        const float *xp = px + p * HW;
        float *yp = py + p * HW;
#pragma omp simd
        for (int64_t i = 0; i < HW; i++)
            yp[i] = xp[i] * alpha + shift;
    }
    return VA_OK;
}

void va_fold_batchnorm(float *weight, float *bias, int64_t cout, int64_t k, const float *gamma,
                       const float *beta, const float *mean, const float *var, float eps) {
    if (!weight || !bias || !mean || !var || cout <= 0) return;
    if (k > 0 && cout > INT64_MAX / k) return; /* no such array */
    /* weight and bias are rewritten while the BN vectors are read: with any overlap the result
     * would depend on the order of the writes, so do nothing (this call cannot report). */
    const float *const vec[] = {gamma, beta, mean, var};
    if (ranges_overlap(weight, cout * k, bias, cout)) return;
    for (int i = 0; i < 4; i++)
        if (ranges_overlap(vec[i], cout, weight, cout * k) ||
            ranges_overlap(vec[i], cout, bias, cout))
            return;
    for (int64_t o = 0; o < cout; o++) {
        /* Load time, not hot: compute the scale in double and round once. A NULL gamma/beta is
         * read as an affine=False BN (1 and 0) rather than crashing. */
        const double g = gamma ? gamma[o] : 1.0, b = beta ? beta[o] : 0.0;
        const double scale = g / sqrt((double)var[o] + (double)eps);
        float *w = weight + o * k;
        for (int64_t j = 0; j < k; j++)
            w[j] = (float)(w[j] * scale);
        bias[o] = (float)(((double)bias[o] - mean[o]) * scale + b);
    }
}

/* ---- GroupNorm ------------------------------------------------------------------------------- */

/* Sums for the GroupNorm statistics, in double over 16 lanes: independent add chains that the
 * compiler keeps in vector registers (one chain would stall on the add latency). */
#define GN_LANES 16
#define GN_BLOCK 4096

static double sum_block(const float *x, int64_t n) {
    double acc[GN_LANES] = {0};
    int64_t i = 0;
    for (; i + GN_LANES <= n; i += GN_LANES)
        for (int k = 0; k < GN_LANES; k++)
            acc[k] += x[i + k];
    double s = 0.0;
    for (; i < n; i++)
        s += x[i];
    for (int k = 0; k < GN_LANES; k++)
        s += acc[k];
    return s;
}

static double sqdev_block(const float *x, int64_t n, double mean) {
    double acc[GN_LANES] = {0};
    int64_t i = 0;
    for (; i + GN_LANES <= n; i += GN_LANES)
        for (int k = 0; k < GN_LANES; k++) {
            const double d = (double)x[i + k] - mean;
            acc[k] += d * d;
        }
    double s = 0.0;
    for (; i < n; i++)
        s += ((double)x[i] - mean) * ((double)x[i] - mean);
    for (int k = 0; k < GN_LANES; k++)
        s += acc[k];
    return s;
}

/* Mean and biased variance of n floats, two passes in double (nn.GroupNorm uses the biased
 * variance). The mean comes back split as hi + lo floats so that x - mean keeps double accuracy
 * in float arithmetic. `par` spreads the blocks over the thread pool (used when there are fewer
 * groups than threads, e.g. groups=1 at batch 1). */
static void moments(const float *x, int64_t n, int par, float *mean_hi, float *mean_lo,
                    double *var_out) {
    const int64_t nb = (n + GN_BLOCK - 1) / GN_BLOCK;
    double s = 0.0, q = 0.0;
#pragma omp parallel for reduction(+ : s) if (par) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        const int64_t i0 = b * GN_BLOCK;
        s += sum_block(x + i0, n - i0 < GN_BLOCK ? n - i0 : GN_BLOCK);
    }
    const double mean = s / (double)n;
#pragma omp parallel for reduction(+ : q) if (par) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        const int64_t i0 = b * GN_BLOCK;
        q += sqdev_block(x + i0, n - i0 < GN_BLOCK ? n - i0 : GN_BLOCK, mean);
    }
    *mean_hi = (float)mean;
    *mean_lo = (float)(mean - (double)*mean_hi);
    *var_out = q / (double)n;
}

/* Normalise one (sample, group) block of cpg channel planes: y = (x - mean) * scale + beta[c]
 * with scale = rstd * gamma[c]. PyTorch's kernel folds this into scale * x + (beta - scale *
 * mean), which cancels catastrophically when |mean| >> std (e.g. mean 50, std 0.03 loses ~1e-4);
 * subtracting the mean first agrees with it to float rounding on ordinary data and stays
 * accurate on such inputs. */
static void group_apply(const float *x, float *y, int64_t c0, int64_t cpg, int64_t HW,
                        float mean_hi, float mean_lo, float rstd, const float *gamma,
                        const float *beta, int par) {
#pragma omp parallel for if (par) schedule(static)
    for (int64_t j = 0; j < cpg; j++) {
        const int64_t c = c0 + j;
        const float scale = rstd * (gamma ? gamma[c] : 1.0f);
        const float shift = beta ? beta[c] : 0.0f;
        const float *xp = x + j * HW;
        float *yp = y + j * HW;
#pragma omp simd
        for (int64_t i = 0; i < HW; i++)
            yp[i] = ((xp[i] - mean_hi) - mean_lo) * scale + shift;
    }
}

/* One (sample, group): statistics then normalisation. rstd = 1 / sqrt(var + eps) as PyTorch. */
static void group_norm_one(const float *x, float *y, int64_t c0, int64_t cpg, int64_t HW, float eps,
                           const float *gamma, const float *beta, int par) {
    float mean_hi, mean_lo;
    double var;
    moments(x, cpg * HW, par, &mean_hi, &mean_lo, &var);
    const float rstd = (float)(1.0 / sqrt(var + (double)eps));
    group_apply(x, y, c0, cpg, HW, mean_hi, mean_lo, rstd, gamma, beta, par && cpg > 1);
}

va_status va_group_norm(const va_tensor *x, int num_groups, const float *gamma, const float *beta,
                        float eps, va_tensor *y, va_error *err) {
    static const char *op = "va_group_norm";
    VA_TRY(check_4d(x, op, "x", err));
    VA_TRY(check_4d(y, op, "y", err));
    VA_TRY(check_same(x, y, 1, op, err));
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    char sx[SHAPE_BUF];
    if (num_groups <= 0 || C % num_groups != 0)
        return va_fail(err, VA_ERR_ARG,
                       "%s: num_groups=%d does not divide the %lld channels of x %s", op,
                       num_groups, (long long)C, va_shape_str(x, sx, sizeof sx));
    const float *const vec[] = {gamma, beta};
    static const char *const names[] = {"gamma", "beta"};
    VA_TRY(check_params(vec, names, 2, C, y, op, err));
    const int64_t total = va_numel(x);
    if (total == 0) return VA_OK;
    const int64_t G = num_groups, cpg = C / G, gsize = cpg * HW;
    const float *px = x->data;
    float *py = y->data;
    const int big = total >= PAR_MIN;
    if (!big || N * G >= omp_get_max_threads()) {
        /* Enough groups to keep every thread busy: one group per task. */
#pragma omp parallel for if (big) schedule(static)
        for (int64_t t = 0; t < N * G; t++)
            group_norm_one(px + t * gsize, py + t * gsize, (t % G) * cpg, cpg, HW, eps, gamma, beta,
                           0);
    } else {
        for (int64_t t = 0; t < N * G; t++)
            group_norm_one(px + t * gsize, py + t * gsize, (t % G) * cpg, cpg, HW, eps, gamma, beta,
                           1);
    }
    return VA_OK;
}

/* LayerNorm over the channels of each pixel (EMO's LayerNorm2d, ConvNeXt's): for each (n, h, w),
 * mean and biased variance over C, y = (x - mean) / sqrt(var + eps) * gamma + beta. The
 * statistics are summed in double and the centred values squared, so neither a long channel
 * vector nor a large mean costs accuracy; per pixel the channels are read with stride HW. */
va_status va_layer_norm2d(const va_tensor *x, const float *gamma, const float *beta, float eps,
                          va_tensor *y, va_error *err) {
    static const char *op = "va_layer_norm2d";
    VA_TRY(check_4d(x, op, "x", err));
    VA_TRY(check_4d(y, op, "y", err));
    VA_TRY(check_same(x, y, 1, op, err));
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const float *const vec[] = {gamma, beta};
    static const char *const names[] = {"gamma", "beta"};
    VA_TRY(check_params(vec, names, 2, C, y, op, err));
    if (va_numel(x) == 0) return VA_OK;
    const float *px = x->data;
    float *py = y->data;
#pragma omp parallel for if (va_numel(x) >= PAR_MIN) schedule(static)
    for (int64_t t = 0; t < N * HW; t++) {
        const int64_t nn = t / HW, p = t % HW;
        const float *xs = px + nn * C * HW + p;
        float *ys = py + nn * C * HW + p;
        double sum = 0.0, sq = 0.0;
        for (int64_t c = 0; c < C; c++)
            sum += xs[c * HW];
        const double mean = sum / (double)C;
        for (int64_t c = 0; c < C; c++) {
            const double d = (double)xs[c * HW] - mean;
            sq += d * d;
        }
        const double rstd = 1.0 / sqrt(sq / (double)C + (double)eps);
        for (int64_t c = 0; c < C; c++) {
            double v = ((double)xs[c * HW] - mean) * rstd;
            if (gamma) v *= gamma[c];
            if (beta) v += beta[c];
            ys[c * HW] = (float)v;
        }
    }
    return VA_OK;
}

/* ---- Global pools ---------------------------------------------------------------------------- */

static va_status check_global(const va_tensor *x, const va_tensor *y, const char *op,
                              va_error *err) {
    VA_TRY(check_4d(x, op, "x", err));
    VA_TRY(check_4d(y, op, "y", err));
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    if (y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1] || y->shape[2] != 1 ||
        y->shape[3] != 1)
        return va_fail(err, VA_ERR_SHAPE, "%s: x %s needs y %lldx%lldx1x1, got %s", op,
                       va_shape_str(x, sx, sizeof sx), (long long)x->shape[0],
                       (long long)x->shape[1], va_shape_str(y, sy, sizeof sy));
    if (x->shape[2] * x->shape[3] == 0 && va_numel(y) > 0)
        return va_fail(err, VA_ERR_SHAPE, "%s: x %s has an empty spatial size", op,
                       va_shape_str(x, sx, sizeof sx));
    return check_disjoint(x, y, op, "x", err);
}

/* A plane is summed in blocks of SUM_BLOCK floats: each block by a vectorised float reduction
 * (VA_SIMDLEN partial sums, so each adds at most 128 values), the block totals in double. The
 * float sums run at load speed; the blocking keeps a large plane's error at that of a
 * 2048-value float sum (PyTorch's mean sums in float too, in its own order). */
#define SUM_BLOCK 2048

static double sum_span(const float *restrict x, int64_t n) {
    double total = 0.0;
    for (int64_t b = 0; b < n; b += SUM_BLOCK) {
        const float *xb = x + b;
        const int64_t len = n - b < SUM_BLOCK ? n - b : SUM_BLOCK;
        float s = 0.0f;
#pragma omp simd simdlen(VA_SIMDLEN) reduction(+ : s)
        for (int64_t i = 0; i < len; i++)
            s += xb[i];
        total += s;
    }
    return total;
}

/* Lanes of the running max in max_span: two 512-bit registers' worth of independent chains
 * (OpenMP's max reduction cannot be used there: it need not let NaN win). */
#define LANES 32

/* Max of n > 0 floats, NaN-propagating: a running max per lane, folded at the end. */
static float max_span(const float *restrict x, int64_t n) {
    float lane[LANES];
    for (int k = 0; k < LANES; k++)
        lane[k] = -INFINITY;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
#pragma omp simd
        for (int k = 0; k < LANES; k++)
            lane[k] = max_nan(lane[k], x[i + k]);
    }
    for (int k = 0; i + k < n; k++)
        lane[k] = max_nan(lane[k], x[i + k]);
    /* Pairwise fold of the lanes. */
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++)
            lane[k] = max_nan(lane[k], lane[k + w]);
    return lane[0];
}

va_status va_global_avgpool(const va_tensor *x, va_tensor *y, va_error *err) {
    VA_TRY(check_global(x, y, "va_global_avgpool", err));
    const int64_t planes = x->shape[0] * x->shape[1], HW = x->shape[2] * x->shape[3];
    const float *px = x->data;
    float *py = y->data;
    /* nn.AdaptiveAvgPool2d(1) is x.mean((-1, -2)) in PyTorch: the plane's sum over H*W. */
    if (want_threads(planes * HW)) {
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < planes; p++)
            py[p] = (float)(sum_span(px + p * HW, HW) / (double)HW);
    } else {
        for (int64_t p = 0; p < planes; p++)
            py[p] = (float)(sum_span(px + p * HW, HW) / (double)HW);
    }
    return VA_OK;
}

va_status va_global_maxpool(const va_tensor *x, va_tensor *y, va_error *err) {
    VA_TRY(check_global(x, y, "va_global_maxpool", err));
    const int64_t planes = x->shape[0] * x->shape[1], HW = x->shape[2] * x->shape[3];
    const float *px = x->data;
    float *py = y->data;
    if (want_threads(planes * HW)) {
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < planes; p++)
            py[p] = max_span(px + p * HW, HW);
    } else {
        for (int64_t p = 0; p < planes; p++)
            py[p] = max_span(px + p * HW, HW);
    }
    return VA_OK;
}

/* ---- Windowed pools -------------------------------------------------------------------------- */

static va_status pool_out_hw(const va_pool2d_desc *d, int64_t h, int64_t w, int64_t *oh,
                             int64_t *ow, const char *op, va_error *err) {
    if (!d) return va_fail(err, VA_ERR_ARG, "%s: d is NULL", op);
    if (d->kernel_h <= 0 || d->kernel_w <= 0 || d->stride_h <= 0 || d->stride_w <= 0 ||
        d->pad_h < 0 || d->pad_w < 0)
        return va_fail(err, VA_ERR_ARG,
                       "%s: kernel %dx%d stride %dx%d pad %dx%d: kernel and stride must be "
                       "positive, pad non-negative",
                       op, d->kernel_h, d->kernel_w, d->stride_h, d->stride_w, d->pad_h, d->pad_w);
    /* PyTorch refuses pads above half the kernel (a window could then lie entirely in padding). */
    if (d->pad_h > d->kernel_h / 2 || d->pad_w > d->kernel_w / 2)
        return va_fail(err, VA_ERR_ARG, "%s: pad %dx%d exceeds half of kernel %dx%d", op, d->pad_h,
                       d->pad_w, d->kernel_h, d->kernel_w);
    /* ceil_mode=False: floor((h + 2p - k) / s) + 1, and at least one output. */
    const int64_t eh = h + 2 * (int64_t)d->pad_h, ew = w + 2 * (int64_t)d->pad_w;
    if (h <= 0 || w <= 0 || eh < d->kernel_h || ew < d->kernel_w)
        return va_fail(err, VA_ERR_SHAPE,
                       "%s: input %lldx%lld (padded %lldx%lld) is smaller than kernel %dx%d", op,
                       (long long)h, (long long)w, (long long)eh, (long long)ew, d->kernel_h,
                       d->kernel_w);
    if (oh) *oh = (eh - d->kernel_h) / d->stride_h + 1;
    if (ow) *ow = (ew - d->kernel_w) / d->stride_w + 1;
    return VA_OK;
}

va_status va_pool2d_out_hw(const va_pool2d_desc *d, int64_t h, int64_t w, int64_t *oh, int64_t *ow,
                           va_error *err) {
    return pool_out_hw(d, h, w, oh, ow, "va_pool2d_out_hw", err);
}

static va_status check_pool(const va_pool2d_desc *d, const va_tensor *x, const va_tensor *y,
                            const char *op, va_error *err) {
    VA_TRY(check_4d(x, op, "x", err));
    VA_TRY(check_4d(y, op, "y", err));
    int64_t oh = 0, ow = 0;
    VA_TRY(pool_out_hw(d, x->shape[2], x->shape[3], &oh, &ow, op, err));
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    if (y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1] || y->shape[2] != oh ||
        y->shape[3] != ow)
        return va_fail(
            err, VA_ERR_SHAPE,
            "%s: x %s with kernel %dx%d stride %dx%d pad %dx%d needs y %lldx%lldx%lldx%lld, got %s",
            op, va_shape_str(x, sx, sizeof sx), d->kernel_h, d->kernel_w, d->stride_h, d->stride_w,
            d->pad_h, d->pad_w, (long long)x->shape[0], (long long)x->shape[1], (long long)oh,
            (long long)ow, va_shape_str(y, sy, sizeof sy));
    return check_disjoint(x, y, op, "x", err);
}

/* Range [lo, hi) of output columns whose input column ow * s + off lies inside [0, w). */
static inline void valid_cols(int64_t off, int64_t s, int64_t w, int64_t ow, int64_t *lo,
                              int64_t *hi) {
    *lo = off >= 0 ? 0 : (-off + s - 1) / s;
    *hi = w - 1 - off >= 0 ? (w - 1 - off) / s + 1 : 0;
    if (*hi > ow) *hi = ow;
    if (*lo > *hi) *lo = *hi;
}

/* One output row of a windowed pool. Each output accumulates the in-bounds window cells in
 * row-major window order (kh, then kw) -- the order of PyTorch's cpu_avg_pool loop -- but the
 * loop over outputs is innermost, so stride-1 pools vectorise. Padding cells are skipped: they
 * are zeros for avg (still counted in the divisor) and -inf for max, so neither changes y. */
static void pool_row(int is_max, const va_pool2d_desc *d, const float *restrict xp, int64_t H,
                     int64_t W, int64_t oh, float *restrict yr, int64_t OW) {
    const int64_t sw = d->stride_w;
    for (int64_t i = 0; i < OW; i++)
        yr[i] = is_max ? -INFINITY : 0.0f;
    const int64_t ih0 = oh * d->stride_h - d->pad_h;
    for (int kh = 0; kh < d->kernel_h; kh++) {
        const int64_t ih = ih0 + kh;
        if (ih < 0 || ih >= H) continue;
        const float *xr = xp + ih * W;
        for (int kw = 0; kw < d->kernel_w; kw++) {
            const int64_t off = kw - d->pad_w;
            int64_t lo, hi;
            valid_cols(off, sw, W, OW, &lo, &hi);
            if (lo >= hi) continue;
            /* Output lo reads input column lo * sw + off >= 0. Stride 1 gets its own loops so
             * they vectorise with plain loads. */
            const float *xs = xr + lo * sw + off;
            float *ys = yr + lo;
            const int64_t cnt = hi - lo;
            if (is_max && sw == 1) {
#pragma omp simd
                for (int64_t i = 0; i < cnt; i++)
                    ys[i] = max_nan(ys[i], xs[i]);
            } else if (is_max) {
                for (int64_t i = 0; i < cnt; i++)
                    ys[i] = max_nan(ys[i], xs[i * sw]);
            } else if (sw == 1) {
#pragma omp simd
                for (int64_t i = 0; i < cnt; i++)
                    ys[i] += xs[i];
            } else {
                for (int64_t i = 0; i < cnt; i++)
                    ys[i] += xs[i * sw];
            }
        }
    }
    if (!is_max) {
        /* count_include_pad=True with ceil_mode=False: the divisor is always kh * kw. */
        const float div = (float)(d->kernel_h * d->kernel_w);
        for (int64_t i = 0; i < OW; i++)
            yr[i] /= div;
    }
}

static va_status pool2d(int is_max, const char *op, const va_pool2d_desc *d, const va_tensor *x,
                        va_tensor *y, va_error *err) {
    VA_TRY(check_pool(d, x, y, op, err));
    const int64_t H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    const int64_t rows = y->shape[0] * y->shape[1] * OH;
    const float *px = x->data;
    float *py = y->data;
    const int64_t work = rows * OW * d->kernel_h * d->kernel_w;
#pragma omp parallel for if (work >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t p = r / OH, oh = r % OH;
        pool_row(is_max, d, px + p * H * W, H, W, oh, py + r * OW, OW);
    }
    return VA_OK;
}

va_status va_avgpool2d(const va_pool2d_desc *d, const va_tensor *x, va_tensor *y, va_error *err) {
    return pool2d(0, "va_avgpool2d", d, x, y, err);
}

va_status va_maxpool2d(const va_pool2d_desc *d, const va_tensor *x, va_tensor *y, va_error *err) {
    return pool2d(1, "va_maxpool2d", d, x, y, err);
}

/* ---- Across channels ------------------------------------------------------------------------- */

static va_status check_channel(const va_tensor *x, const va_tensor *y, const char *op,
                               va_error *err) {
    VA_TRY(check_4d(x, op, "x", err));
    VA_TRY(check_4d(y, op, "y", err));
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    if (y->shape[0] != x->shape[0] || y->shape[1] != 1 || y->shape[2] != x->shape[2] ||
        y->shape[3] != x->shape[3])
        return va_fail(err, VA_ERR_SHAPE, "%s: x %s needs y %lldx1x%lldx%lld, got %s", op,
                       va_shape_str(x, sx, sizeof sx), (long long)x->shape[0],
                       (long long)x->shape[2], (long long)x->shape[3],
                       va_shape_str(y, sy, sizeof sy));
    if (x->shape[1] == 0 && va_numel(y) > 0)
        return va_fail(err, VA_ERR_SHAPE, "%s: x %s has no channels", op,
                       va_shape_str(x, sx, sizeof sx));
    return check_disjoint(x, y, op, "x", err);
}

/* y[n, 0, i] = reduce over c of x[n, c, i] for the CH_BLOCK columns of task t. The column block
 * is the innermost loop (vectorised), channels are visited in order: PyTorch's outer reduction
 * over dim 1 sums in the same order. */
static void channel_block(int is_max, const float *restrict px, float *restrict py, int64_t C,
                          int64_t HW, int64_t blocks, int64_t t) {
    const int64_t n = t / blocks, i0 = (t % blocks) * CH_BLOCK;
    const int64_t len = HW - i0 < CH_BLOCK ? HW - i0 : CH_BLOCK;
    const float *xb = px + n * C * HW + i0;
    float *yb = py + n * HW + i0;
    memcpy(yb, xb, (size_t)len * sizeof(float));
    /* Four channels per pass over y (a quarter of the y loads and stores), still folded in
     * channel order, so the result has the same bits as one channel at a time. */
    int64_t c = 1;
    for (; c + 4 <= C; c += 4) {
        const float *x0 = xb + c * HW, *x1 = x0 + HW, *x2 = x1 + HW, *x3 = x2 + HW;
        if (is_max) {
#pragma omp simd
            for (int64_t i = 0; i < len; i++)
                yb[i] = max_nan(max_nan(max_nan(max_nan(yb[i], x0[i]), x1[i]), x2[i]), x3[i]);
        } else {
#pragma omp simd
            for (int64_t i = 0; i < len; i++)
                yb[i] = (((yb[i] + x0[i]) + x1[i]) + x2[i]) + x3[i];
        }
    }
    for (; c < C; c++) {
        const float *xc = xb + c * HW;
        if (is_max) {
#pragma omp simd
            for (int64_t i = 0; i < len; i++)
                yb[i] = max_nan(yb[i], xc[i]);
        } else {
#pragma omp simd
            for (int64_t i = 0; i < len; i++)
                yb[i] += xc[i];
        }
    }
    if (!is_max) {
        /* torch.mean on CPU is sum(...).div_(C): divide, do not multiply by 1/C. */
        const float div = (float)C;
#pragma omp simd
        for (int64_t i = 0; i < len; i++)
            yb[i] /= div;
    }
}

static va_status channel_reduce(int is_max, const char *op, const va_tensor *x, va_tensor *y,
                                va_error *err) {
    VA_TRY(check_channel(x, y, op, err));
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    if (va_numel(y) == 0) return VA_OK;
    const int64_t blocks = (HW + CH_BLOCK - 1) / CH_BLOCK;
    if (want_threads(va_numel(x))) {
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < N * blocks; t++)
            channel_block(is_max, x->data, y->data, C, HW, blocks, t);
    } else {
        for (int64_t t = 0; t < N * blocks; t++)
            channel_block(is_max, x->data, y->data, C, HW, blocks, t);
    }
    return VA_OK;
}

va_status va_channel_mean(const va_tensor *x, va_tensor *y, va_error *err) {
    return channel_reduce(0, "va_channel_mean", x, y, err);
}

va_status va_channel_max(const va_tensor *x, va_tensor *y, va_error *err) {
    return channel_reduce(1, "va_channel_max", x, y, err);
}

/* ---- Softmax --------------------------------------------------------------------------------- */

/* Max of a softmax row. Unlike max_span it need not let NaN win: a NaN element makes its own
 * exp, the row's sum and so every output of the row NaN, which is what PyTorch gives (its max is
 * NaN, and so is every x - max). That lets the compiler use its vector max. */
static inline float row_max(const float *x, int64_t L) {
    float m = -INFINITY;
#pragma omp simd simdlen(VA_SIMDLEN) reduction(max : m)
    for (int64_t i = 0; i < L; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

/* n floats summed in 16 interleaved partial sums, folded pairwise, as PyTorch's vectorised
 * reductions keep 16 lanes: the same value whether or not the compiler vectorises the loop (a
 * Debug build does not), and a rounding error that grows with n / 16, not n. */
#define SUM_LANES 16
static float sum_lanes(const float *x, int64_t n) {
    float acc[SUM_LANES] = {0};
    int64_t i = 0;
    for (; i + SUM_LANES <= n; i += SUM_LANES)
        for (int k = 0; k < SUM_LANES; k++)
            acc[k] += x[i + k];
    for (int k = 0; i < n; i++, k++)
        acc[k] += x[i];
    for (int w = SUM_LANES / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; k++)
            acc[k] += acc[k + w];
    return acc[0];
}

/* Softmax of one contiguous row, as PyTorch's _vec_softmax_lastdim: subtract the max, exp, then
 * multiply by 1 / sum. x may equal y. */
static void softmax_row(const float *x, float *y, int64_t L) {
    const float m = row_max(x, L);
#pragma omp simd simdlen(VA_SIMDLEN)
    for (int64_t i = 0; i < L; i++)
        y[i] = va_expf(x[i] - m);
    const float inv = 1.0f / sum_lanes(y, L);
#pragma omp simd simdlen(VA_SIMDLEN)
    for (int64_t i = 0; i < L; i++)
        y[i] *= inv;
}

/* The same for `rows` short rows (L < SM_SHORT): loops of a few vectors per row spend more on
 * setup and reduction tails than on work, so the exp, the costly part, runs as one flat loop
 * over all the rows. x may equal y. */
static void softmax_short_rows(const float *x, float *y, int64_t L, int64_t rows) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * L;
        float *yr = y + r * L;
        const float m = row_max(xr, L);
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < L; i++)
            yr[i] = xr[i] - m;
    }
    const int64_t n = rows * L;
#pragma omp simd simdlen(VA_SIMDLEN)
    for (int64_t i = 0; i < n; i++)
        y[i] = va_expf(y[i]);
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * L;
        const float inv = 1.0f / sum_lanes(yr, L);
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < L; i++)
            yr[i] *= inv;
    }
}

/* Softmax over L rows of stride `inner` for columns [0, len), len <= SM_BLOCK, as PyTorch's
 * _vec_softmax (max, exp of the difference, then divide by the sum). x may equal y: each pass
 * reads an element before writing the same element. */
static void softmax_cols(const float *x, float *y, int64_t L, int64_t inner, int64_t len) {
    float m[SM_BLOCK], s[SM_BLOCK];
    for (int64_t j = 0; j < len; j++) {
        m[j] = -INFINITY;
        s[j] = 0.0f;
    }
    /* As in row_max, NaN need not win the max. */
    for (int64_t l = 0; l < L; l++) {
        const float *xr = x + l * inner;
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t j = 0; j < len; j++)
            m[j] = xr[j] > m[j] ? xr[j] : m[j];
    }
    /* Each column's sum in blocks of SUM_LANES rows, the block totals added up: a window of
     * hundreds of keys (iRMB with a window larger than its input) stays accurate. */
    float blk[SM_BLOCK];
    for (int64_t l0 = 0; l0 < L; l0 += SUM_LANES) {
        const int64_t l1 = L - l0 < SUM_LANES ? L : l0 + SUM_LANES;
        for (int64_t j = 0; j < len; j++)
            blk[j] = 0.0f;
        for (int64_t l = l0; l < l1; l++) {
            const float *xr = x + l * inner;
            float *yr = y + l * inner;
#pragma omp simd simdlen(VA_SIMDLEN)
            for (int64_t j = 0; j < len; j++) {
                const float e = va_expf(xr[j] - m[j]);
                yr[j] = e;
                blk[j] += e;
            }
        }
        for (int64_t j = 0; j < len; j++)
            s[j] += blk[j];
    }
    /* The division by the sum as a corrected product (va_div_recip: the same quotient, short
     * of a subnormal ulp below 1.2e-38), since a division per element costs as much as the
     * exp. */
    float inv[SM_BLOCK];
    for (int64_t j = 0; j < len; j++)
        inv[j] = 1.0f / s[j];
    for (int64_t l = 0; l < L; l++) {
        float *yr = y + l * inner;
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t j = 0; j < len; j++)
            yr[j] = va_div_recip(yr[j], s[j], inv[j]);
    }
}

/* Task t of va_softmax along the last axis: `per` rows from row t * per (fewer at the end). */
static void softmax_rows_task(const float *x, float *y, int64_t L, int64_t outer, int64_t per,
                              int64_t t) {
    const int64_t r0 = t * per, rows = outer - r0 < per ? outer - r0 : per;
    if (L >= SM_SHORT) {
        for (int64_t r = r0; r < r0 + rows; r++)
            softmax_row(x + r * L, y + r * L, L);
    } else {
        softmax_short_rows(x + r0 * L, y + r0 * L, L, rows);
    }
}

/* Task t of va_softmax along a strided axis: one SM_BLOCK-column block of one outer index. */
static void softmax_cols_task(const float *x, float *y, int64_t L, int64_t inner, int64_t blocks,
                              int64_t t) {
    const int64_t o = t / blocks, j0 = (t % blocks) * SM_BLOCK;
    const int64_t len = inner - j0 < SM_BLOCK ? inner - j0 : SM_BLOCK;
    const int64_t off = o * L * inner + j0;
    softmax_cols(x + off, y + off, L, inner, len);
}

va_status va_softmax(const va_tensor *x, int axis, va_tensor *y, va_error *err) {
    static const char *op = "va_softmax";
    VA_TRY(check_tensor(x, op, "x", err));
    VA_TRY(check_tensor(y, op, "y", err));
    const int nd = x->ndim;
    char sx[SHAPE_BUF];
    if (nd == 0) return va_fail(err, VA_ERR_SHAPE, "%s: x is a scalar", op);
    if (axis < -nd || axis >= nd)
        return va_fail(err, VA_ERR_ARG, "%s: axis %d out of range for x %s", op, axis,
                       va_shape_str(x, sx, sizeof sx));
    VA_TRY(check_same(x, y, 1, op, err));
    const int ax = axis < 0 ? axis + nd : axis;
    const int64_t total = va_numel(x);
    if (total == 0) return VA_OK;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; i++)
        outer *= x->shape[i];
    for (int i = ax + 1; i < nd; i++)
        inner *= x->shape[i];
    const int64_t L = x->shape[ax];
    const float *px = x->data;
    float *py = y->data;
    const int par = want_threads(total);
    if (inner == 1) {
        const int64_t per = L >= SM_SHORT ? 1 : (SM_ROWS_BLOCK + L - 1) / L;
        const int64_t tasks = (outer + per - 1) / per;
        if (par) {
#pragma omp parallel for schedule(static)
            for (int64_t t = 0; t < tasks; t++)
                softmax_rows_task(px, py, L, outer, per, t);
        } else {
            for (int64_t t = 0; t < tasks; t++)
                softmax_rows_task(px, py, L, outer, per, t);
        }
        return VA_OK;
    }
    const int64_t blocks = (inner + SM_BLOCK - 1) / SM_BLOCK;
    if (par) {
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < outer * blocks; t++)
            softmax_cols_task(px, py, L, inner, blocks, t);
    } else {
        for (int64_t t = 0; t < outer * blocks; t++)
            softmax_cols_task(px, py, L, inner, blocks, t);
    }
    return VA_OK;
}
