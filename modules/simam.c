/* "simam": SimAM, the parameter-free attention of Yang et al. (ICML 2021), as simam_module in
 * ZjjConan/SimAM networks/attentions/simam_module.py: simam_module(channels=None, e_lambda=1e-4).
 *
 * For each (n, c) plane of M = H * W values: d = (x - mean)^2, v = sum(d) / (M - 1) (the
 * reference's n = w * h - 1), e_inv = d / (4 * (v + e_lambda)) + 0.5, y = x * sigmoid(e_inv).
 * e_inv is the inverse of the paper's minimal energy e_t*: the more a neuron stands out from its
 * plane, the larger. `channels` is accepted and unused, as in the reference.
 * A 1 x 1 plane (M - 1 = 0) gives NaN in the reference; here it is a shape error.
 * No weights. Maps: "element" N x C x H x W, sigmoid(e_inv), the weight of each element;
 * "spatial" N x 1 x H x W, e_inv averaged over the channels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_mathf.h" /* va_sigmoidf: inline, so the per-plane loop vectorises */
#include "visattn/block.h"
#include "visattn/ops.h"

/* Positions per task of the channel-mean map. */
#define MAP_TILE 256

typedef struct simam_block {
    float lambda;
} simam_block;

static va_status simam_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"channels", "e_lambda", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    simam_block *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "simam: out of memory");
    b->self = m;
    if (va_cfg_has(cfg, "channels") && !va_cfg_is_null(cfg, "channels")) {
        int channels; /* unused, as in the reference: read to type-check it */
        VA_TRY(va_cfg_int(cfg, "channels", 0, &channels, err));
        if (channels < 1)
            return va_fail(err, VA_ERR_CONFIG,
                           "simam config: 'channels' must be null or >= 1, got %d", channels);
    }
    double lambda;
    VA_TRY(va_cfg_float(cfg, "e_lambda", 1e-4, &lambda, err));
    /* A negative lambda can make 4 * (v + e_lambda) zero or negative. */
    if (!(lambda >= 0.0) || !isfinite(lambda) || lambda > 3.0e38)
        return va_fail(err, VA_ERR_CONFIG,
                       "simam config: 'e_lambda' must be finite and >= 0, got %g", lambda);
    m->lambda = (float)lambda;
    return VA_OK;
}

static va_status simam_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    (void)b, (void)w, (void)prefix, (void)err; /* no parameters */
    return VA_OK;
}

static va_status simam_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                                 va_error *err) {
    (void)b;
    if (in[2] * in[3] < 2)
        return va_fail(err, VA_ERR_SHAPE,
                       "simam: input planes are %lldx%lld: the variance divides by H * W - 1, so "
                       "H * W must be >= 2 (the reference gives NaN)",
                       (long long)in[2], (long long)in[3]);
    memcpy(out, in, 4 * sizeof *in);
    return VA_OK;
}

/* One plane: its mean and 1 / (4 * (v + lambda)), the sums in double (two passes, as the
 * reference subtracts the mean before squaring); then y and, if wanted, the element weights. */
static void simam_plane(const float *x, int64_t hw, float lambda, float *y, float *weight,
                        float *mean_out, float *scale_out) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < hw; i++)
        s += x[i];
    const float mean = (float)(s / (double)hw);
    double q = 0.0;
#pragma omp simd reduction(+ : q)
    for (int64_t i = 0; i < hw; i++) {
        const double d = (double)(x[i] - mean);
        q += d * d;
    }
    const float scale = (float)(1.0 / (4.0 * (q / (double)(hw - 1) + (double)lambda)));
    if (weight) {
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < hw; i++) {
            const float d = x[i] - mean;
            const float g = va_sigmoidf(d * d * scale + 0.5f);
            weight[i] = g;
            y[i] = x[i] * g;
        }
    } else {
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < hw; i++) {
            const float d = x[i] - mean;
            y[i] = x[i] * va_sigmoidf(d * d * scale + 0.5f);
        }
    }
    *mean_out = mean;
    *scale_out = scale;
}

static va_status simam_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                               va_error *err) {
    va_arena *ws = va_run_arena(r);
    const simam_block *m = b->self;
    const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3], hw = h * w;
    va_tensor stats, *element = NULL, *spatial = NULL; /* stats: mean and scale per plane */
    VA_TRY(va_arena_tensor4(ws, &stats, n, c, 2, 1, err));
    if (va_run_want_maps(r)) {
        VA_TRY(va_run_map_prepare(r, 0, "element", n, c, h, w, &element, err));
        VA_TRY(va_run_map_prepare(r, 1, "spatial", n, 1, h, w, &spatial, err));
    }
    const float *xd = x->data;
    float *yd = y->data, *st = stats.data, *ed = element ? element->data : NULL;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < n * c; p++)
        simam_plane(xd + p * hw, hw, m->lambda, yd + p * hw, ed ? ed + p * hw : NULL, &st[2 * p],
                    &st[2 * p + 1]);
    if (!spatial) return VA_OK;
    /* The map: e_inv = (x - mean)^2 * scale + 0.5 summed over the channels, then / C. */
    const int64_t tiles = (hw + MAP_TILE - 1) / MAP_TILE;
    float *sd = spatial->data;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < n * tiles; t++) {
        const int64_t b0 = t / tiles, p0 = (t % tiles) * MAP_TILE;
        const int64_t len = hw - p0 < MAP_TILE ? hw - p0 : MAP_TILE;
        float *out = sd + b0 * hw + p0;
        for (int64_t i = 0; i < len; i++)
            out[i] = 0.0f;
        for (int64_t ch = 0; ch < c; ch++) {
            const float *xr = xd + (b0 * c + ch) * hw + p0;
            const float mean = st[2 * (b0 * c + ch)], scale = st[2 * (b0 * c + ch) + 1];
            for (int64_t i = 0; i < len; i++) {
                const float d = xr[i] - mean;
                out[i] += d * d * scale + 0.5f;
            }
        }
        for (int64_t i = 0; i < len; i++)
            out[i] /= (float)c;
    }
    return VA_OK;
}

static va_status simam_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    (void)b, (void)err;
    const int64_t planes = in[0] * in[1], count = planes * in[2] * in[3];
    /* mean; subtract, square; sum; divide, + 0.5; sigmoid; x * weight */
    va_cost_elementwise(cost, count,
                        VA_FLOPS_POOL + 2 * VA_FLOPS_ADDMUL + VA_FLOPS_POOL + 2 * VA_FLOPS_ADDMUL +
                            VA_FLOPS_ACT + VA_FLOPS_ADDMUL);
    va_cost_elementwise(cost, planes, 3 * VA_FLOPS_ADDMUL); /* / (M - 1), + e_lambda, * 4 */
    return VA_OK;
}

static void simam_destroy(va_block *b) {
    free(b->self);
}

const va_block_ops va_simam_ops = {
    .name = "simam",
    .kind = VA_KIND_BLOCK,
    .summary = "SimAM: parameter-free, x * sigmoid(inverse energy of each neuron in its plane)",
    .create = simam_create,
    .load = simam_load,
    .out_shape = simam_out_shape,
    .forward = simam_forward,
    .cost = simam_cost,
    .destroy = simam_destroy,
};
