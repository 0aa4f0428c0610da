/* Triplet attention (Misra et al., WACV 2021), as TripletAttention in landskape-ai/
 * triplet-attention MODELS/triplet_attention.py. Three gates, each a Z-pool (max, then mean, over
 * one axis), a 7x7 conv 2->1 without bias + eval BN (eps 1e-5) + sigmoid over the remaining plane:
 *   ChannelGateH: pools H, gate over (C, W)   map "gate_cw"  N x 1 x C x W
 *   ChannelGateW: pools W, gate over (H, C)   map "gate_hc"  N x 1 x H x C
 *   SpatialGate:  pools C, gate over (H, W)   map "spatial"  N x 1 x H x W (absent if no_spatial)
 * out = (x*g_hw + x*g_cw + x*g_hc) / 3, or (x*g_cw + x*g_hc) / 2 with no_spatial.
 * The reference permutes x so the pooled axis is dim 1 and permutes the gated result back; here the
 * Z-pools read the original layout along the pooled axis (the pooled planes come out in the same
 * row/column order as the reference's) and one final pass applies all gates, so no permuted copy
 * of x is ever made; the gates' 7x7 convs are a direct loop (see gate_conv). Config: gate_channels
 * (required), reduction_ratio=16, pool_types=["avg","max"] (all three accepted and unused, as in
 * the reference), no_spatial=false. See docs/blocks/triplet.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "visattn/block.h"
#include "visattn/ops.h"

#define TRIPLET_K 7
#define TRIPLET_TAPS (2 * TRIPLET_K * TRIPLET_K)
#define TRIPLET_BN_EPS 1e-5f /* BasicConv's nn.BatchNorm2d(eps=1e-5, momentum=0.01) */

/* Gate order: index into the arrays below. */
enum { GATE_CW = 0, GATE_HC = 1, GATE_HW = 2, NUM_GATES = 3 };

static const char *const gate_attr[NUM_GATES] = {"ChannelGateH", "ChannelGateW", "SpatialGate"};

typedef struct triplet {
    int no_spatial;
    float weight[NUM_GATES][TRIPLET_TAPS]; /* conv weight with BN folded in */
    float bias[NUM_GATES];                 /* BN shift (the conv itself has no bias) */
} triplet;

static va_status triplet_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"gate_channels", "reduction_ratio", "pool_types",
                                       "no_spatial", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    if (!va_cfg_has(cfg, "gate_channels"))
        return va_fail(err, VA_ERR_CONFIG,
                       "triplet config: gate_channels is required (as in the reference)");
    int gate_channels, reduction_ratio, npool, no_spatial;
    char pool_types[8][32];
    /* Read only to type-check them: the reference stores none of the three. */
    VA_TRY(va_cfg_int(cfg, "gate_channels", 0, &gate_channels, err));
    VA_TRY(va_cfg_int(cfg, "reduction_ratio", 16, &reduction_ratio, err));
    VA_TRY(va_cfg_str_list(cfg, "pool_types", pool_types, 8, &npool, err));
    VA_TRY(va_cfg_bool(cfg, "no_spatial", 0, &no_spatial, err));

    triplet *t = calloc(1, sizeof *t);
    if (!t) return va_fail(err, VA_ERR_NOMEM, "triplet: out of memory");
    b->self = t;
    t->no_spatial = no_spatial;
    return VA_OK;
}

static va_status triplet_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    triplet *t = b->self;
    static const int64_t wshape[4] = {1, 2, TRIPLET_K, TRIPLET_K};
    static const int64_t one[1] = {1};
    int ngates = t->no_spatial ? 2 : 3;
    for (int g = 0; g < ngates; g++) {
        char p[256];
        float gamma, beta, mean, var;
        snprintf(p, sizeof p, "%s%s.spatial.conv.", prefix, gate_attr[g]);
        VA_TRY(va_weights_get(w, p, "weight", 4, wshape, t->weight[g], err));
        snprintf(p, sizeof p, "%s%s.spatial.bn.", prefix, gate_attr[g]);
        VA_TRY(va_weights_get(w, p, "weight", 1, one, &gamma, err));
        VA_TRY(va_weights_get(w, p, "bias", 1, one, &beta, err));
        VA_TRY(va_weights_get(w, p, "running_mean", 1, one, &mean, err));
        VA_TRY(va_weights_get(w, p, "running_var", 1, one, &var, err));
        t->bias[g] = 0.0f;
        va_fold_batchnorm(t->weight[g], &t->bias[g], 1, TRIPLET_TAPS, &gamma, &beta, &mean, &var,
                          TRIPLET_BN_EPS);
    }
    return VA_OK;
}

static va_status triplet_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                                   va_error *err) {
    (void)b, (void)err; /* any N, C, H, W >= 1: the 7x7 convs pad by 3, gate_channels is unused */
    memcpy(out, in, 4 * sizeof *out);
    return VA_OK;
}

/* Max and sum of row[0..w): POOL_LANES independent partial results, which the compiler turns into
 * vector instructions (one serial chain cannot be reordered without -ffast-math). */
#define POOL_LANES 8
static inline void row_max_sum(const float *row, int64_t w, float *max, float *sum) {
    float m = row[0], s = 0.0f;
    int64_t j = 0;
    if (w >= POOL_LANES) {
        float ml[POOL_LANES], sl[POOL_LANES];
        for (int l = 0; l < POOL_LANES; l++)
            ml[l] = sl[l] = row[l];
        for (j = POOL_LANES; j + POOL_LANES <= w; j += POOL_LANES)
            for (int l = 0; l < POOL_LANES; l++) {
                ml[l] = row[j + l] > ml[l] ? row[j + l] : ml[l];
                sl[l] += row[j + l];
            }
        m = ml[0];
        for (int l = 0; l < POOL_LANES; l++) {
            m = ml[l] > m ? ml[l] : m;
            s += sl[l];
        }
    }
    for (; j < w; j++) {
        m = row[j] > m ? row[j] : m;
        s += row[j];
    }
    *max = m;
    *sum = s;
}

/* Z-pools over H and over W in one read of each (n, c) plane. pcw is N x 2 x C x W (max, mean over
 * h), phc is N x 2 x H x C (max, mean over w): the reference's ChannelGateH / ChannelGateW inputs,
 * which it gets by pooling dim 1 of x.permute(0, 2, 1, 3) / x.permute(0, 3, 2, 1). No generic op
 * pools a non-channel axis into this layout. */
static void zpool_h_and_w(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, float *pcw,
                          float *phc) {
    const float inv_h = 1.0f / (float)h, inv_w = 1.0f / (float)w;
#pragma omp parallel for schedule(static) if (n * c * h * w > 32768)
    for (int64_t nc = 0; nc < n * c; nc++) {
        const int64_t in = nc / c, ic = nc % c;
        const float *xp = x + nc * h * w;
        float *cmax = pcw + (in * 2 * c + ic) * w, *cmean = cmax + c * w;
        float *rmax = phc + in * 2 * h * c + ic, *rmean = rmax + h * c;
        for (int64_t j = 0; j < w; j++)
            cmax[j] = cmean[j] = xp[j];
        for (int64_t i = 0; i < h; i++) {
            const float *row = xp + i * w;
            float m, s;
            row_max_sum(row, w, &m, &s);
            rmax[i * c] = m;
            rmean[i * c] = s * inv_w;
            if (i == 0) continue;
            for (int64_t j = 0; j < w; j++) {
                cmax[j] = row[j] > cmax[j] ? row[j] : cmax[j];
                cmean[j] += row[j];
            }
        }
        for (int64_t j = 0; j < w; j++)
            cmean[j] *= inv_h;
    }
}

/* Z-pool over C (the SpatialGate input, N x 2 x H x W). va_channel_max / va_channel_mean would read
 * x twice; this reads it once, a row at a time, parallel over (n, h). */
static void zpool_c(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, float *phw) {
    const float inv_c = 1.0f / (float)c;
#pragma omp parallel for schedule(static) if (n * c * h * w > 32768)
    for (int64_t nh = 0; nh < n * h; nh++) {
        const int64_t in = nh / h, ih = nh % h;
        const float *xp = x + (in * c * h + ih) * w;
        float *pmax = phw + (in * 2 * h + ih) * w, *pmean = pmax + h * w;
        for (int64_t j = 0; j < w; j++)
            pmax[j] = pmean[j] = xp[j];
        for (int64_t k = 1; k < c; k++) {
            const float *row = xp + k * h * w;
            for (int64_t j = 0; j < w; j++) {
                pmax[j] = row[j] > pmax[j] ? row[j] : pmax[j];
                pmean[j] += row[j];
            }
        }
        for (int64_t j = 0; j < w; j++)
            pmean[j] *= inv_c;
    }
}

/* The gates' 7x7 conv, 2 planes -> 1, zero padding 3, with the folded BN shift; then the sigmoid.
 * pooled: N x 2 x R x S, gate: N x 1 x R x S; pad: scratch of gate_conv_pad_floats(). A direct loop
 * rather than va_conv2d: with one output channel its im2col path builds a 98-row column matrix
 * (over half of the block's time at 256x14x14). Here the input is copied once into a zero-bordered
 * buffer, and each block of CONV_LANES outputs accumulates all 98 taps in registers. */
#define CONV_LANES 16
#define CONV_PAD ((TRIPLET_K - 1) / 2)

static int64_t gate_conv_pad_floats(int64_t n, int64_t r, int64_t s) {
    /* + CONV_LANES: the last block of a row may read up to CONV_LANES - 1 floats past its end. */
    return n * 2 * (r + 2 * CONV_PAD) * (s + 2 * CONV_PAD) + CONV_LANES;
}

static void gate_conv(const float *weight, float bias, const float *pooled, int64_t n, int64_t r,
                      int64_t s, float *pad, float *gate) {
    const int64_t pr = r + 2 * CONV_PAD, ps = s + 2 * CONV_PAD;
    memset(pad, 0, (size_t)gate_conv_pad_floats(n, r, s) * sizeof(float));
    for (int64_t p = 0; p < n * 2; p++)
        for (int64_t i = 0; i < r; i++)
            memcpy(pad + (p * pr + i + CONV_PAD) * ps + CONV_PAD, pooled + (p * r + i) * s,
                   (size_t)s * sizeof(float));
#pragma omp parallel for schedule(static) if (n * r * s * TRIPLET_TAPS > 262144)
    for (int64_t nr = 0; nr < n * r; nr++) {
        const int64_t in = nr / r, row = nr % r;
        float *out = gate + nr * s;
        for (int64_t j0 = 0; j0 < s; j0 += CONV_LANES) {
            const float *b0 = pad + (in * 2 * pr + row) * ps + j0, *b1 = b0 + pr * ps;
            /* One accumulator per input plane: two independent chains of FMAs. */
            float acc0[CONV_LANES] = {0}, acc1[CONV_LANES] = {0};
            for (int ky = 0; ky < TRIPLET_K; ky++)
                for (int kx = 0; kx < TRIPLET_K; kx++) {
                    const int tap = ky * TRIPLET_K + kx;
                    const float w0 = weight[tap], w1 = weight[TRIPLET_K * TRIPLET_K + tap];
                    const float *x0 = b0 + ky * ps + kx, *x1 = b1 + ky * ps + kx;
#pragma omp simd
                    for (int l = 0; l < CONV_LANES; l++) {
                        acc0[l] += w0 * x0[l];
                        acc1[l] += w1 * x1[l];
                    }
                }
            const int64_t len = s - j0 < CONV_LANES ? s - j0 : CONV_LANES;
            for (int64_t l = 0; l < len; l++)
                out[j0 + l] = acc0[l] + acc1[l] + bias;
        }
    }
    va_act_apply(VA_ACT_SIGMOID, gate, gate, n * r * s); /* torch.sigmoid_ after the BN */
}

/* Gate tensor for gate g: the map's own storage when maps are wanted (the conv writes the map
 * directly), else arena scratch. */
static va_status gate_tensor(va_run *r, int slot, const char *name, int64_t n, int64_t rows,
                             int64_t cols, va_arena *ws, va_tensor *out, va_error *err) {
    if (!va_run_want_maps(r)) return va_arena_tensor4(ws, out, n, 1, rows, cols, err);
    va_tensor *t;
    VA_TRY(va_run_map_prepare(r, slot, name, n, 1, rows, cols, &t, err));
    *out = *t;
    return VA_OK;
}

static va_status triplet_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                                 va_error *err) {
    va_arena *ws = va_run_arena(r);
    const triplet *t = b->self;
    const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    const int spatial = !t->no_spatial;
    va_tensor pcw, phc, phw, gcw, ghc, ghw;
    VA_TRY(va_arena_tensor4(ws, &pcw, n, 2, c, w, err));
    VA_TRY(va_arena_tensor4(ws, &phc, n, 2, h, c, err));
    zpool_h_and_w(x->data, n, c, h, w, pcw.data, phc.data);
    /* One padding buffer, big enough for the largest of the three gate planes. */
    int64_t npad = gate_conv_pad_floats(n, c, w);
    if (gate_conv_pad_floats(n, h, c) > npad) npad = gate_conv_pad_floats(n, h, c);
    if (spatial && gate_conv_pad_floats(n, h, w) > npad) npad = gate_conv_pad_floats(n, h, w);
    float *pad = va_arena_alloc(ws, (size_t)npad * sizeof(float), err);
    if (!pad) return err->status;
    int slot = 0;
    if (spatial) {
        VA_TRY(va_arena_tensor4(ws, &phw, n, 2, h, w, err));
        zpool_c(x->data, n, c, h, w, phw.data);
        VA_TRY(gate_tensor(r, slot++, "spatial", n, h, w, ws, &ghw, err));
        gate_conv(t->weight[GATE_HW], t->bias[GATE_HW], phw.data, n, h, w, pad, ghw.data);
    }
    VA_TRY(gate_tensor(r, slot++, "gate_cw", n, c, w, ws, &gcw, err));
    VA_TRY(gate_tensor(r, slot++, "gate_hc", n, h, c, ws, &ghc, err));
    gate_conv(t->weight[GATE_CW], t->bias[GATE_CW], pcw.data, n, c, w, pad, gcw.data);
    gate_conv(t->weight[GATE_HC], t->bias[GATE_HC], phc.data, n, h, c, pad, ghc.data);

    /* One pass applies all gates, each broadcast over its pooled axis, then the reference's 1/3
     * (1/2 without the spatial gate). The products are summed as the reference sums them, not
     * factored as x*(g_hw + g_cw + g_hc): with an infinite x and a gate of exactly 0 (a saturated
     * sigmoid) the reference's x*0 is NaN, the factored form would give +-inf. */
    const float scale = spatial ? 1.0f / 3.0f : 0.5f;
    const float *xd = x->data, *gc = gcw.data, *gh = ghc.data, *gs = spatial ? ghw.data : NULL;
    float *yd = y->data;
#pragma omp parallel for schedule(static) if (n * c * h * w > 32768)
    for (int64_t nc = 0; nc < n * c; nc++) {
        const int64_t in = nc / c, ic = nc % c;
        const float *xp = xd + nc * h * w;
        float *yp = yd + nc * h * w;
        const float *gcrow = gc + (in * c + ic) * w; /* g_cw[n, c, :] */
        const float *ghcol = gh + in * h * c + ic;   /* g_hc[n, :, c], stride c */
        for (int64_t i = 0; i < h; i++) {
            const float a = ghcol[i * c];
            const float *xr = xp + i * w;
            float *yr = yp + i * w;
            if (gs) {
                const float *gsrow = gs + (in * h + i) * w; /* g_hw[n, i, :] */
                for (int64_t j = 0; j < w; j++)
                    yr[j] = (xr[j] * gsrow[j] + xr[j] * gcrow[j] + xr[j] * a) * scale;
            } else {
                for (int64_t j = 0; j < w; j++)
                    yr[j] = (xr[j] * gcrow[j] + xr[j] * a) * scale;
            }
        }
    }
    return VA_OK;
}

static va_status triplet_cost(const va_block *b, const int64_t in[4], va_cost *cost,
                              va_error *err) {
    (void)err;
    const triplet *t = b->self;
    const int64_t n = in[0], c = in[1], h = in[2], w = in[3], numel = n * c * h * w;
    /* Gate planes: ChannelGateH over (C, W), ChannelGateW over (H, C), SpatialGate over (H, W). */
    const int64_t rows[NUM_GATES] = {c, h, h}, cols[NUM_GATES] = {w, c, w};
    int ngates = t->no_spatial ? 2 : 3;
    for (int g = 0; g < ngates; g++) {
        int64_t plane = n * rows[g] * cols[g];
        va_cost_conv2d(cost, 2, 1, TRIPLET_K, TRIPLET_K, 1, 0, n, rows[g], cols[g]);
        va_cost_params(cost, 2);                             /* BN weight + bias */
        va_cost_elementwise(cost, 2 * numel, VA_FLOPS_POOL); /* max and mean each read all of x */
        va_cost_elementwise(cost, plane, VA_FLOPS_BN);
        va_cost_elementwise(cost, plane, VA_FLOPS_ACT);    /* sigmoid */
        va_cost_elementwise(cost, numel, VA_FLOPS_ADDMUL); /* x * scale */
    }
    /* Sum of the gated tensors, then the 1/3 (or 1/2). */
    va_cost_elementwise(cost, (int64_t)(ngates - 1) * numel, VA_FLOPS_ADDMUL);
    va_cost_elementwise(cost, numel, VA_FLOPS_ADDMUL);
    return VA_OK;
}

static void triplet_destroy(va_block *b) {
    free(b->self);
}

const va_block_ops va_triplet_ops = {
    .name = "triplet",
    .alias = NULL,
    .kind = VA_KIND_BLOCK,
    .summary = "triplet attention: Z-pool + 7x7 conv gates over (C,W), (H,C) and (H,W)",
    .create = triplet_create,
    .load = triplet_load,
    .out_shape = triplet_out_shape,
    .forward = triplet_forward,
    .cost = triplet_cost,
    .destroy = triplet_destroy,
};
