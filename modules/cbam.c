/* "cbam": Convolutional Block Attention Module, as CBAM in Jongchan/attention-module
 * MODELS/cbam.py: CBAM(gate_channels, reduction_ratio=16, pool_types=['avg', 'max'],
 * no_spatial=False).
 *
 * Channel gate: every entry of pool_types (repeats allowed, each one counts) pools x to N x C and
 * goes through the same MLP, Linear(C, C // reduction_ratio), ReLU, Linear(C // reduction_ratio,
 * C); the MLP outputs are summed in list order, gate = sigmoid(sum), x1 = x * gate. Pools, with
 * the reference's formulas:
 *   avg  mean over H x W                 max  max over H x W
 *   lp   F.lp_pool2d(x, 2, (H, W)) = sqrt(mean(x^2) * H * W)
 *   lse  logsumexp_2d: m + log(sum(exp(x - m))) with m = max over H x W
 * Then, unless no_spatial, CBAM's spatial gate on x1 (spatial_gate.h, shared with "spatial").
 * C // reduction_ratio may be 0: the reference then builds Linear(C, 0) and Linear(0, C), and the
 * channel gate is sigmoid(len(pool_types) * second bias) whatever the input; so is ours.
 * State dict: ChannelGate.mlp.1.{weight [Cr, C], bias [Cr]}, ChannelGate.mlp.3.{weight [C, Cr],
 * bias [C]}, and unless no_spatial SpatialGate.spatial.conv.weight, SpatialGate.spatial.bn.*.
 * Maps: "channel" N x C x 1 x 1 (channel gate), "spatial" N x 1 x H x W (unless no_spatial). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spatial_gate.h"
#include "visattn/block.h"
#include "visattn/ops.h"

#define CBAM_MAX_POOLS 16

typedef enum cbam_pool { POOL_AVG, POOL_MAX, POOL_LP, POOL_LSE } cbam_pool;

static const char *const pool_names[] = {"avg", "max", "lp", "lse"};

typedef struct cbam_block {
    int channels, hidden, no_spatial, num_pools;
    cbam_pool pools[CBAM_MAX_POOLS];
    int need_lp, need_lse; /* sums of squares; a second pass over each plane for lse */
    float *w1, *b1, *w2, *b2;
    va_spatial_gate sg;
} cbam_block;

static va_status cbam_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"gate_channels", "reduction_ratio", "pool_types",
                                       "no_spatial", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    cbam_block *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "cbam: out of memory");
    b->self = m;
    int ratio;
    if (!va_cfg_has(cfg, "gate_channels"))
        return va_fail(err, VA_ERR_CONFIG, "cbam config: 'gate_channels' is required");
    VA_TRY(va_cfg_int(cfg, "gate_channels", 0, &m->channels, err));
    VA_TRY(va_cfg_int(cfg, "reduction_ratio", 16, &ratio, err));
    VA_TRY(va_cfg_bool(cfg, "no_spatial", 0, &m->no_spatial, err));
    /* The reference fails on these: a zero-channel input at forward, ZeroDivisionError, and a
     * negative Linear width. */
    if (m->channels < 1)
        return va_fail(err, VA_ERR_CONFIG, "cbam config: 'gate_channels' must be >= 1, got %d",
                       m->channels);
    if (ratio < 1)
        return va_fail(err, VA_ERR_CONFIG, "cbam config: 'reduction_ratio' must be >= 1, got %d",
                       ratio);
    m->hidden = m->channels / ratio; /* Python's //, the same for positive operands */
    if (va_cfg_has(cfg, "pool_types")) {
        char names[CBAM_MAX_POOLS][32];
        VA_TRY(va_cfg_str_list(cfg, "pool_types", names, CBAM_MAX_POOLS, &m->num_pools, err));
        /* The reference fails at forward on an empty list, and on an unknown first entry; an
         * unknown later entry silently repeats the previous pool's MLP output there. Both are
         * config errors here. */
        if (m->num_pools == 0)
            return va_fail(err, VA_ERR_CONFIG, "cbam config: 'pool_types' is empty");
        for (int i = 0; i < m->num_pools; i++) {
            int k = 0;
            while (k < 4 && strcmp(names[i], pool_names[k]) != 0)
                k++;
            if (k == 4)
                return va_fail(err, VA_ERR_CONFIG,
                               "cbam config: 'pool_types' entry '%s' is not one of "
                               "avg, max, lp, lse",
                               names[i]);
            m->pools[i] = (cbam_pool)k;
            if (k == POOL_LP) m->need_lp = 1;
            if (k == POOL_LSE) m->need_lse = 1;
        }
    } else {
        m->num_pools = 2;
        m->pools[0] = POOL_AVG;
        m->pools[1] = POOL_MAX;
    }
    const size_t c = (size_t)m->channels, h = (size_t)m->hidden;
    /* Both weight matrices, both biases, and one float more so that the hidden == 0 case still
     * has valid pointers. */
    VA_TRY(va_check_weight_count("cbam config: gate_channels x gate_channels / reduction_ratio",
                                 (int64_t)m->channels * m->hidden, err));
    size_t count, bytes;
    float *p = NULL;
    if (va_mul_size(2 * c, h, &count) == 0 && va_add_size(count, h + c + 1, &count) == 0 &&
        va_mul_size(count, sizeof *p, &bytes) == 0)
        p = malloc(bytes);
    if (!p)
        return va_fail(err, VA_ERR_NOMEM, "cbam: out of memory for %d x %d weights", m->channels,
                       m->hidden);
    m->w1 = p;
    m->b1 = m->w1 + h * c;
    m->w2 = m->b1 + h;
    m->b2 = m->w2 + c * h;
    return VA_OK;
}

static va_status cbam_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    cbam_block *m = b->self;
    const int64_t c = m->channels, h = m->hidden;
    const int64_t w1[2] = {h, c}, w2[2] = {c, h};
    char p[512];
    if (snprintf(p, sizeof p, "%sChannelGate.mlp.", prefix) >= (int)sizeof p)
        return va_fail(err, VA_ERR_ARG, "cbam: weight prefix too long");
    VA_TRY(va_weights_get(w, p, "1.weight", 2, w1, m->w1, err));
    VA_TRY(va_weights_get(w, p, "1.bias", 1, &h, m->b1, err));
    VA_TRY(va_weights_get(w, p, "3.weight", 2, w2, m->w2, err));
    VA_TRY(va_weights_get(w, p, "3.bias", 1, &c, m->b2, err));
    if (m->no_spatial) return VA_OK;
    snprintf(p, sizeof p, "%sSpatialGate.", prefix);
    return va_spatial_gate_load(&m->sg, w, p, err);
}

static va_status cbam_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                                va_error *err) {
    const cbam_block *m = b->self;
    if (in[1] != m->channels)
        return va_fail(err, VA_ERR_SHAPE, "cbam: input has %lld channels, gate_channels is %d",
                       (long long)in[1], m->channels);
    memcpy(out, in, 4 * sizeof *in);
    return VA_OK;
}

/* Independent partial sums per plane: a single accumulator would make the loop wait on each
 * add's latency instead of streaming at memory speed. */
#define LANES 32

/* Sum, max and (if want_sq) sum of squares of n floats. */
static void plane_stats(const float *x, int64_t n, int want_sq, float *sum, float *max,
                        float *sumsq) {
    float ls[LANES], lm[LANES], lq[LANES];
    for (int k = 0; k < LANES; k++)
        ls[k] = 0.0f, lm[k] = -INFINITY, lq[k] = 0.0f;
    int64_t i = 0;
    if (want_sq) {
        for (; i + LANES <= n; i += LANES)
            for (int k = 0; k < LANES; k++) {
                const float v = x[i + k];
                ls[k] += v;
                lq[k] += v * v;
                lm[k] = v > lm[k] ? v : lm[k];
            }
    } else {
        for (; i + LANES <= n; i += LANES)
            for (int k = 0; k < LANES; k++) {
                const float v = x[i + k];
                ls[k] += v;
                lm[k] = v > lm[k] ? v : lm[k];
            }
    }
    for (int k = 0; i < n; i++, k++) {
        const float v = x[i];
        ls[k] += v;
        lq[k] += v * v;
        lm[k] = v > lm[k] ? v : lm[k];
    }
    float s = 0.0f, m = -INFINITY, q = 0.0f;
    for (int k = 0; k < LANES; k++) {
        s += ls[k];
        q += lq[k];
        m = lm[k] > m ? lm[k] : m;
    }
    *sum = s;
    *max = m;
    *sumsq = q;
}

/* Max of n > 0 floats where NaN wins, as torch.amax. */
static float max_with_nan(const float *x, int64_t n) {
    float m = x[0];
    for (int64_t i = 1; i < n && m == m; i++)
        m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
    return m;
}

/* Every pool the config asks for, from one read of each (n, c) plane (va_global_avgpool and
 * va_global_maxpool would read x once each, and there is no op for lp or lse). Writes
 * pooled[(p * N + n) * C + c] for pool entry p. */
static void channel_pools(const cbam_block *m, const float *x, int64_t n, int64_t hw,
                          float *pooled) {
    const int64_t c = m->channels;
    const float area = (float)hw;
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < n * c; plane++) {
        const float *xp = x + plane * hw;
        float sum, mx, sumsq;
        plane_stats(xp, hw, m->need_lp, &sum, &mx, &sumsq);
        /* plane_stats' max skips NaN (a compare-and-select the compiler vectorises); the
         * reference's amax returns NaN if the plane holds one. Such a plane has a NaN sum, so only
         * then is the max taken again, letting NaN win. */
        if (sum != sum) mx = max_with_nan(xp, hw);
        float lse = 0.0f;
        if (m->need_lse) {
            float s = 0.0f;
            for (int64_t i = 0; i < hw; i++)
                s += expf(xp[i] - mx);
            lse = mx + logf(s);
        }
        for (int p = 0; p < m->num_pools; p++) {
            float v;
            switch (m->pools[p]) {
            case POOL_AVG: v = sum / area; break;
            case POOL_MAX: v = mx; break;
            /* lp_pool2d: avg_pool2d of x^2, times the window size, to the power 1/2 */
            case POOL_LP: v = sqrtf((sumsq / area) * area); break;
            default: v = lse; break;
            }
            pooled[p * n * c + plane] = v;
        }
    }
}

static va_status cbam_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                              va_error *err) {
    va_arena *ws = va_run_arena(r);
    const cbam_block *m = b->self;
    const int64_t n = x->shape[0], c = m->channels, h = x->shape[2], w = x->shape[3];
    const int64_t rows = m->num_pools * n, hid = m->hidden;
    va_tensor scratch, *gate = &scratch;
    va_tensor pooled, hidden, raw; /* rows x C, rows x Cr, rows x C */
    VA_TRY(va_arena_tensor4(ws, &pooled, rows, c, 1, 1, err));
    VA_TRY(va_arena_tensor4(ws, &hidden, rows, hid > 0 ? hid : 1, 1, 1, err));
    VA_TRY(va_arena_tensor4(ws, &raw, rows, c, 1, 1, err));
    if (va_run_want_maps(r))
        VA_TRY(va_run_map_prepare(r, 0, "channel", n, c, 1, 1, &gate, err));
    else
        VA_TRY(va_arena_tensor4(ws, &scratch, n, c, 1, 1, err));

    channel_pools(m, x->data, n, h * w, pooled.data);
    /* The shared MLP over all pools and images at once: one GEMM per layer. With hidden == 0,
     * va_linear gives Linear(0, C)'s output, the bias, as PyTorch does. */
    VA_TRY(va_linear(pooled.data, rows, c, m->w1, m->b1, hid, hidden.data, err));
    va_act_apply(VA_ACT_RELU, hidden.data, hidden.data, rows * hid);
    VA_TRY(va_linear(hidden.data, rows, hid, m->w2, m->b2, c, raw.data, err));
    /* channel_att_sum: raw_0 + raw_1 + ... in pool order. */
    float *g = gate->data;
    if (n > 0) memcpy(g, raw.data, (size_t)(n * c) * sizeof(float)); /* g is NULL for N = 0 */
    for (int p = 1; p < m->num_pools; p++)
        for (int64_t i = 0; i < n * c; i++)
            g[i] += raw.data[p * n * c + i];
    va_act_apply(VA_ACT_SIGMOID, g, g, n * c);

    if (m->no_spatial) return va_mul(x, gate, y, err);
    va_tensor sscratch, *sgate = &sscratch;
    if (va_run_want_maps(r))
        VA_TRY(va_run_map_prepare(r, 1, "spatial", n, 1, h, w, &sgate, err));
    else
        VA_TRY(va_arena_tensor4(ws, &sscratch, n, 1, h, w, err));
    return va_spatial_gate_forward(&m->sg, x, g, sgate, y, ws, err);
}

static va_status cbam_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    (void)err;
    const cbam_block *m = b->self;
    const int64_t n = in[0], c = m->channels, hw = in[2] * in[3], hid = m->hidden;
    const int64_t np = m->num_pools, count = n * c * hw;
    for (int p = 0; p < m->num_pools; p++) {
        switch (m->pools[p]) {
        case POOL_AVG:
        case POOL_MAX: va_cost_elementwise(cost, count, VA_FLOPS_POOL); break;
        case POOL_LP:
            /* x.pow(2), the average pool, then sign * relu(abs), * (kh * kw), .pow(1/2) */
            va_cost_elementwise(cost, count, VA_FLOPS_ADDMUL + VA_FLOPS_POOL);
            va_cost_elementwise(cost, n * c, 6);
            break;
        case POOL_LSE:
            /* max, subtract, exp, sum over the plane; then log and add */
            va_cost_elementwise(cost, count, 2 * VA_FLOPS_POOL + VA_FLOPS_ADDMUL + VA_FLOPS_ACT);
            va_cost_elementwise(cost, n * c, 2);
            break;
        }
    }
    /* The MLP runs once per pool entry; its parameters count once. */
    va_cost_linear(cost, np * n, c, hid, 1);
    va_cost_elementwise(cost, np * n * hid, VA_FLOPS_ACT);
    va_cost_linear(cost, np * n, hid, c, 1);
    va_cost_elementwise(cost, (np - 1) * n * c, VA_FLOPS_ADDMUL); /* sum over pools */
    va_cost_elementwise(cost, n * c, VA_FLOPS_ACT);               /* sigmoid */
    va_cost_elementwise(cost, count, VA_FLOPS_ADDMUL);            /* x * channel gate */
    if (!m->no_spatial) va_spatial_gate_cost(cost, in);
    return VA_OK;
}

static void cbam_destroy(va_block *b) {
    cbam_block *m = b->self;
    if (!m) return;
    free(m->w1);
    free(m);
}

const va_block_ops va_cbam_ops = {
    .name = "cbam",
    .kind = VA_KIND_BLOCK,
    .summary = "CBAM: MLP channel gate over avg/max/lp/lse pools, then the 7x7 spatial gate",
    .create = cbam_create,
    .load = cbam_load,
    .out_shape = cbam_out_shape,
    .forward = cbam_forward,
    .cost = cbam_cost,
    .destroy = cbam_destroy,
};
