/* "spatial": CBAM's spatial attention gate on its own, as SpatialGate in Jongchan/attention-module
 * MODELS/cbam.py. No constructor arguments.
 *
 * The reference pools x over channels into [max, mean] (ChannelPool, in that order), runs
 * BasicConv(2, 1, 7, padding=3, relu=False): conv without bias, BatchNorm2d(eps=1e-5,
 * momentum=0.01, affine), no ReLU; then gate = sigmoid, y = x * gate.
 * State dict: spatial.conv.weight [1, 2, 7, 7], spatial.bn.{weight, bias, running_mean,
 * running_var} [1]. Map "spatial": N x 1 x H x W, the sigmoid gate.
 *
 * This file also defines the va_spatial_gate_* functions that cbam.c uses (spatial_gate.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spatial_gate.h"
#include "visattn/block.h"
#include "visattn/ops.h"

#define K VA_SPATIAL_GATE_K
/* Output pixels per task of the channel pool: enough to split a 14x14 map over a few threads
 * while each channel row of a tile still spans whole cache lines. */
#define POOL_TILE 256

/* ---- The gate, shared with cbam.c ------------------------------------------------------------ */

va_status va_spatial_gate_load(va_spatial_gate *g, va_weights *w, const char *prefix,
                               va_error *err) {
    char p[512];
    if (snprintf(p, sizeof p, "%sspatial.", prefix) >= (int)sizeof p)
        return va_fail(err, VA_ERR_ARG, "spatial gate: weight prefix too long");
    const int64_t wshape[4] = {1, 2, K, K}, one[1] = {1};
    float gamma, beta, mean, var;
    VA_TRY(va_weights_get(w, p, "conv.weight", 4, wshape, g->weight, err));
    VA_TRY(va_weights_get(w, p, "bn.weight", 1, one, &gamma, err));
    VA_TRY(va_weights_get(w, p, "bn.bias", 1, one, &beta, err));
    VA_TRY(va_weights_get(w, p, "bn.running_mean", 1, one, &mean, err));
    VA_TRY(va_weights_get(w, p, "bn.running_var", 1, one, &var, err));
    g->bias[0] = 0.0f; /* BasicConv's conv has bias=False */
    va_fold_batchnorm(g->weight, g->bias, 1, 2 * K * K, &gamma, &beta, &mean, &var, 1e-5f);
    return VA_OK;
}

/* ChannelPool: out[n, 0] = max over channels, out[n, 1] = mean over channels, of x * chscale.
 * Written out (rather than va_channel_max + va_channel_mean) so that x is read once for both and
 * CBAM's channel gate is applied on the fly instead of materialising the gated tensor. Tiles of
 * pixels let a batch of one use every thread; within a tile the loop over channels runs along
 * contiguous rows, so it vectorises. */
static void channel_pool(const float *x, const float *chscale, int64_t n, int64_t c, int64_t hw,
                         float *out) {
    const int64_t tiles = (hw + POOL_TILE - 1) / POOL_TILE;
    const float count = (float)c;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < n * tiles; t++) {
        const int64_t b = t / tiles, p0 = (t % tiles) * POOL_TILE;
        const int64_t len = hw - p0 < POOL_TILE ? hw - p0 : POOL_TILE;
        const float *xb = x + b * c * hw + p0;
        const float *s = chscale ? chscale + b * c : NULL;
        float *mx = out + b * 2 * hw + p0, *sm = mx + hw;
        /* x * 1.0f is exact, so the ungated case shares the loop. */
        const float first = s ? s[0] : 1.0f;
        for (int64_t i = 0; i < len; i++) {
            const float v = xb[i] * first;
            mx[i] = v;
            sm[i] = v;
        }
        int64_t ch = 1;
        /* Four channels per sweep of the tile: a quarter of the loads and stores of mx and sm.
         * The sum still adds the channels one at a time in order, as a plain loop would. */
        for (; ch + 4 <= c; ch += 4) {
            const float *x0 = xb + ch * hw, *x1 = x0 + hw, *x2 = x1 + hw, *x3 = x2 + hw;
            const float s0 = s ? s[ch] : 1.0f, s1 = s ? s[ch + 1] : 1.0f;
            const float s2 = s ? s[ch + 2] : 1.0f, s3 = s ? s[ch + 3] : 1.0f;
            for (int64_t i = 0; i < len; i++) {
                const float v0 = x0[i] * s0, v1 = x1[i] * s1, v2 = x2[i] * s2, v3 = x3[i] * s3;
                const float m01 = v0 > v1 ? v0 : v1, m23 = v2 > v3 ? v2 : v3;
                const float m = m01 > m23 ? m01 : m23;
                mx[i] = m > mx[i] ? m : mx[i];
                sm[i] = sm[i] + v0 + v1 + v2 + v3;
            }
        }
        for (; ch < c; ch++) {
            const float *xr = xb + ch * hw;
            const float sc = s ? s[ch] : 1.0f;
            for (int64_t i = 0; i < len; i++) {
                const float v = xr[i] * sc;
                mx[i] = v > mx[i] ? v : mx[i];
                sm[i] += v;
            }
        }
        /* torch.mean divides the sum by the count. */
        for (int64_t i = 0; i < len; i++)
            sm[i] /= count;
    }
}

/* y = (x * chscale) * gate, in the reference's order of multiplication (x_out = x * channel
 * scale first, then x_out * spatial scale). One pass instead of two va_mul calls. */
static void apply_gates(const float *x, const float *chscale, const float *gate, int64_t n,
                        int64_t c, int64_t hw, float *y) {
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < n * c; plane++) {
        const float *xp = x + plane * hw;
        const float *g = gate + (plane / c) * hw;
        float *yp = y + plane * hw;
        const float s = chscale ? chscale[plane] : 1.0f;
        for (int64_t i = 0; i < hw; i++)
            yp[i] = (xp[i] * s) * g[i];
    }
}

/* Output pixels a conv7x7 step computes at once: one AVX-512 register, or two AVX2 ones. */
#define CONV_BLOCK 16

/* Row stride of the zero-padded pooled map: room for the padding on both sides and for a whole
 * CONV_BLOCK past the last output column, so the conv's loads need no bounds checks. */
static int64_t padded_stride(int64_t w) {
    return (w + CONV_BLOCK - 1) / CONV_BLOCK * CONV_BLOCK + (K - 1);
}

/* Copy the pooled map (N x 2 x H x W) into a zeroed N x 2 x (H + 6) x stride buffer: the conv's
 * padding=3. */
static void pad_pooled(const float *pooled, int64_t n, int64_t h, int64_t w, float *padded) {
    const int64_t stride = padded_stride(w), pad = (K - 1) / 2;
    memset(padded, 0, (size_t)(n * 2 * (h + K - 1) * stride) * sizeof(float));
    for (int64_t plane = 0; plane < n * 2; plane++)
        for (int64_t y = 0; y < h; y++)
            memcpy(padded + (plane * (h + K - 1) + y + pad) * stride + pad,
                   pooled + (plane * h + y) * w, (size_t)w * sizeof(float));
}

/* The 7x7 conv (2 -> 1, bias = the folded BN shift), written out: va_conv2d would im2col the
 * 2-channel map into a 98-row matrix for a single-output GEMV, several times the work of the
 * conv itself. Here each block of CONV_BLOCK outputs stays in registers across the 98 taps. */
static void conv7x7(const float *weight, float bias, const float *padded, int64_t n, int64_t h,
                    int64_t w, float *out) {
    const int64_t stride = padded_stride(w), ph = h + K - 1;
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < n * h; row++) {
        const int64_t b = row / h, oy = row % h;
        for (int64_t ox = 0; ox < w; ox += CONV_BLOCK) {
            float acc[CONV_BLOCK];
            for (int j = 0; j < CONV_BLOCK; j++)
                acc[j] = bias;
            for (int ci = 0; ci < 2; ci++)
                for (int ky = 0; ky < K; ky++) {
                    const float *in = padded + ((b * 2 + ci) * ph + oy + ky) * stride + ox;
                    const float *wr = weight + (ci * K + ky) * K;
                    for (int kx = 0; kx < K; kx++) {
                        const float wv = wr[kx];
                        const float *src = in + kx;
#pragma omp simd
                        for (int j = 0; j < CONV_BLOCK; j++)
                            acc[j] += wv * src[j];
                    }
                }
            const int64_t len = w - ox < CONV_BLOCK ? w - ox : CONV_BLOCK;
            memcpy(out + row * w + ox, acc, (size_t)len * sizeof(float));
        }
    }
}

va_status va_spatial_gate_forward(const va_spatial_gate *g, const va_tensor *x,
                                  const float *chscale, va_tensor *gate, va_tensor *y, va_arena *ws,
                                  va_error *err) {
    const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    va_tensor pooled, padded;
    VA_TRY(va_arena_tensor4(ws, &pooled, n, 2, h, w, err));
    VA_TRY(va_arena_tensor4(ws, &padded, n, 2, h + K - 1, padded_stride(w), err));
    channel_pool(x->data, chscale, n, c, h * w, pooled.data);
    pad_pooled(pooled.data, n, h, w, padded.data);
    conv7x7(g->weight, g->bias[0], padded.data, n, h, w, gate->data);
    va_act_apply(VA_ACT_SIGMOID, gate->data, gate->data, n * h * w); /* F.sigmoid(x_out) */
    apply_gates(x->data, chscale, gate->data, n, c, h * w, y->data);
    return VA_OK;
}

void va_spatial_gate_cost(va_cost *c, const int64_t in[4]) {
    const int64_t n = in[0], ch = in[1], h = in[2], w = in[3];
    va_cost_elementwise(c, 2 * n * ch * h * w, VA_FLOPS_POOL); /* max and mean each read x */
    va_cost_conv2d(c, 2, 1, K, K, 1, 0, n, h, w);
    va_cost_params(c, 2); /* BN weight and bias */
    va_cost_elementwise(c, n * h * w, VA_FLOPS_BN);
    va_cost_elementwise(c, n * h * w, VA_FLOPS_ACT);         /* sigmoid */
    va_cost_elementwise(c, n * ch * h * w, VA_FLOPS_ADDMUL); /* x * gate */
}

/* ---- The block ------------------------------------------------------------------------------- */

static va_status spatial_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err)); /* SpatialGate() takes no arguments */
    b->self = calloc(1, sizeof(va_spatial_gate));
    if (!b->self) return va_fail(err, VA_ERR_NOMEM, "spatial: out of memory");
    return VA_OK;
}

static va_status spatial_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    return va_spatial_gate_load(b->self, w, prefix, err);
}

static va_status spatial_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                                   va_error *err) {
    (void)b;
    (void)err;
    memcpy(out, in, 4 * sizeof *in);
    return VA_OK;
}

static va_status spatial_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                                 va_error *err) {
    va_arena *ws = va_run_arena(r);
    const int64_t n = x->shape[0], h = x->shape[2], w = x->shape[3];
    va_tensor scratch, *gate = &scratch;
    if (va_run_want_maps(r))
        VA_TRY(va_run_map_prepare(r, 0, "spatial", n, 1, h, w, &gate, err));
    else
        VA_TRY(va_arena_tensor4(ws, &scratch, n, 1, h, w, err));
    return va_spatial_gate_forward(b->self, x, NULL, gate, y, ws, err);
}

static va_status spatial_cost(const va_block *b, const int64_t in[4], va_cost *c, va_error *err) {
    (void)b;
    (void)err;
    va_spatial_gate_cost(c, in);
    return VA_OK;
}

static void spatial_destroy(va_block *b) {
    free(b->self);
}

const va_block_ops va_spatial_ops = {
    .name = "spatial",
    .kind = VA_KIND_BLOCK,
    .summary = "CBAM spatial gate: sigmoid(BN(conv7x7([max, mean] over channels))) * x",
    .create = spatial_create,
    .load = spatial_load,
    .out_shape = spatial_out_shape,
    .forward = spatial_forward,
    .cost = spatial_cost,
    .destroy = spatial_destroy,
};
