/* "bam": Bottleneck Attention Module (Park et al., BMVC 2018), as BAM in Jongchan/attention-module
 * MODELS/bam.py: BAM(gate_channel). Reduction 16, two 3x3 convs with dilation 4 (both fixed).
 *
 * With Cr = C / 16:
 *   Mc = fc_final(ReLU(BN1d(fc_0(mean of x over H x W))))      N x C    (Linear C->Cr, Cr->C)
 *   Ms = conv_final(R(di_1(R(di_0(R(reduce0(x)))))))           N x 1 x H x W
 *        R = BN2d + ReLU; reduce0 1x1 C->Cr, di_* 3x3 Cr->Cr dilation 4 padding 4,
 *        conv_final 1x1 Cr->1; every conv and linear has a bias
 *   y  = x * (1 + sigmoid(Mc * Ms))
 * The product of the broadcast parts is what the code computes (the paper writes a sum). Two
 * departures, decided in the project's clarifications: the channel pool averages the whole H x W
 * plane (the reference's avg_pool2d with an H x H window fails unless H <= W < 2H and otherwise
 * averages the left square only: the same on square inputs), and the constructor's undefined
 * `gate_activation` is left out. gate_channel must be >= 16 (the reference fails when Cr is 0).
 * Every BN (eps 1e-5) is folded into the conv or linear before it at load time.
 * State dict: channel_att.gate_c.{gate_c_fc_0, gate_c_bn_1, gate_c_fc_final}.*,
 * spatial_att.gate_s.{gate_s_conv_reduce0, gate_s_bn_reduce0, gate_s_conv_di_0, gate_s_bn_di_0,
 * gate_s_conv_di_1, gate_s_bn_di_1, gate_s_conv_final}.*.
 * Maps: "channel" Mc (N x C x 1 x 1) and "spatial" Ms (N x 1 x H x W), before the sigmoid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_mathf.h" /* va_sigmoidf: inline, so the gate loop vectorises */
#include "visattn/block.h"
#include "visattn/ops.h"

#define BAM_REDUCTION 16
#define BAM_DILATION 4
#define BAM_BN_EPS 1e-5f

typedef struct bam_block {
    int c, cr;
    /* One allocation, in this order; BNs folded in. */
    float *fc0_w, *fc0_b;     /* Cr x C, Cr */
    float *fcf_w, *fcf_b;     /* C x Cr, C */
    float *red_w, *red_b;     /* Cr x C, Cr */
    float *di_w[2], *di_b[2]; /* Cr x Cr x 3 x 3, Cr */
    float *fin_w, *fin_b;     /* Cr, 1 */
} bam_block;

static va_status bam_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"gate_channel", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    bam_block *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "bam: out of memory");
    b->self = m;
    if (!va_cfg_has(cfg, "gate_channel"))
        return va_fail(err, VA_ERR_CONFIG, "bam config: 'gate_channel' is required");
    VA_TRY(va_cfg_int(cfg, "gate_channel", 0, &m->c, err));
    if (m->c < BAM_REDUCTION)
        return va_fail(err, VA_ERR_CONFIG,
                       "bam config: 'gate_channel' must be >= 16 (the gates are gate_channel // "
                       "16 wide; the reference fails when that is 0), got %d",
                       m->c);
    m->cr = m->c / BAM_REDUCTION;
    VA_TRY(va_check_weight_count("bam config: gate_channel x gate_channel / 16",
                                 (int64_t)m->c * m->cr, err));
    const size_t c = (size_t)m->c, cr = (size_t)m->cr;
    const size_t sizes[] = {cr * c,      cr, c * cr,      c,  cr * c, cr,
                            cr * cr * 9, cr, cr * cr * 9, cr, cr,     1};
    size_t count = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        count += sizes[i]; /* at most 3 * 2^26 + 18 * 2^22 + ...: no overflow */
    float *p = malloc(count * sizeof *p);
    if (!p) return va_fail(err, VA_ERR_NOMEM, "bam: out of memory for %zu weights", count);
    float **dst[] = {&m->fc0_w,   &m->fc0_b,   &m->fcf_w,   &m->fcf_b,   &m->red_w, &m->red_b,
                     &m->di_w[0], &m->di_b[0], &m->di_w[1], &m->di_b[1], &m->fin_w, &m->fin_b};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *dst[i] = p;
        p += sizes[i];
    }
    return VA_OK;
}

/* prefix + conv (weight of `wshape`, bias [cout]) + the BN `bn` after it, folded. */
static va_status load_folded(va_weights *w, const char *prefix, const char *conv, const char *bn,
                             int wdim, const int64_t *wshape, float *weight, float *bias,
                             va_error *err) {
    char key[160];
    const int64_t cout = wshape[0];
    int64_t k = 1;
    for (int i = 1; i < wdim; i++)
        k *= wshape[i];
    snprintf(key, sizeof key, "%s.weight", conv);
    VA_TRY(va_weights_get(w, prefix, key, wdim, wshape, weight, err));
    snprintf(key, sizeof key, "%s.bias", conv);
    VA_TRY(va_weights_get(w, prefix, key, 1, &cout, bias, err));
    if (!bn) return VA_OK;
    float *v = malloc(4 * (size_t)cout * sizeof *v);
    if (!v) return va_fail(err, VA_ERR_NOMEM, "bam: out of memory");
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    va_status st = VA_OK;
    for (int i = 0; i < 4 && st == VA_OK; i++) {
        snprintf(key, sizeof key, "%s.%s", bn, names[i]);
        st = va_weights_get(w, prefix, key, 1, &cout, v + i * cout, err);
    }
    if (st == VA_OK)
        va_fold_batchnorm(weight, bias, cout, k, v, v + cout, v + 2 * cout, v + 3 * cout,
                          BAM_BN_EPS);
    free(v);
    return st;
}

static va_status bam_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    bam_block *m = b->self;
    const int64_t c = m->c, cr = m->cr;
    char p[512];
    if (snprintf(p, sizeof p, "%schannel_att.gate_c.", prefix) >= (int)sizeof p)
        return va_fail(err, VA_ERR_ARG, "bam: weight prefix too long");
    const int64_t fc0[2] = {cr, c}, fcf[2] = {c, cr};
    VA_TRY(load_folded(w, p, "gate_c_fc_0", "gate_c_bn_1", 2, fc0, m->fc0_w, m->fc0_b, err));
    VA_TRY(load_folded(w, p, "gate_c_fc_final", NULL, 2, fcf, m->fcf_w, m->fcf_b, err));
    snprintf(p, sizeof p, "%sspatial_att.gate_s.", prefix);
    const int64_t red[4] = {cr, c, 1, 1}, di[4] = {cr, cr, 3, 3}, fin[4] = {1, cr, 1, 1};
    VA_TRY(load_folded(w, p, "gate_s_conv_reduce0", "gate_s_bn_reduce0", 4, red, m->red_w, m->red_b,
                       err));
    VA_TRY(load_folded(w, p, "gate_s_conv_di_0", "gate_s_bn_di_0", 4, di, m->di_w[0], m->di_b[0],
                       err));
    VA_TRY(load_folded(w, p, "gate_s_conv_di_1", "gate_s_bn_di_1", 4, di, m->di_w[1], m->di_b[1],
                       err));
    return load_folded(w, p, "gate_s_conv_final", NULL, 4, fin, m->fin_w, m->fin_b, err);
}

static va_status bam_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                               va_error *err) {
    const bam_block *m = b->self;
    if (in[1] != m->c)
        return va_fail(err, VA_ERR_SHAPE, "bam: input has %lld channels, gate_channel is %d",
                       (long long)in[1], m->c);
    memcpy(out, in, 4 * sizeof *in);
    return VA_OK;
}

/* A conv of the spatial branch: kernel 1 or 3 (then dilation and padding 4), stride 1. */
static va_status spatial_conv(const float *weight, const float *bias, int cin, int cout, int k,
                              va_act act, const va_tensor *x, va_tensor *y, va_arena *ws,
                              va_error *err) {
    va_conv2d_desc d;
    va_conv2d_desc_init(&d, cin, cout, k);
    if (k == 3) d.pad_h = d.pad_w = d.dilation_h = d.dilation_w = BAM_DILATION;
    d.act = act;
    d.weight = weight;
    d.bias = bias;
    return va_conv2d(&d, x, y, ws, err);
}

/* y = x * (1 + sigmoid(mc[n, c] * ms[n, p])), as the reference: att = 1 + sigmoid(...), att * x. */
static void apply_gate(const float *x, const float *mc, const float *ms, int64_t n, int64_t c,
                       int64_t hw, float *y) {
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < n * c; plane++) {
        const float *xp = x + plane * hw, *s = ms + (plane / c) * hw;
        const float g = mc[plane];
        float *yp = y + plane * hw;
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < hw; i++)
            yp[i] = (1.0f + va_sigmoidf(g * s[i])) * xp[i];
    }
}

static va_status bam_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                             va_error *err) {
    va_arena *ws = va_run_arena(r);
    const bam_block *m = b->self;
    const int64_t n = x->shape[0], c = m->c, cr = m->cr, h = x->shape[2], w = x->shape[3];
    va_tensor pooled, hidden, t1, t2, cscratch, sscratch, *mc = &cscratch, *ms = &sscratch;
    VA_TRY(va_arena_tensor4(ws, &pooled, n, c, 1, 1, err));
    VA_TRY(va_arena_tensor4(ws, &hidden, n, cr, 1, 1, err));
    VA_TRY(va_arena_tensor4(ws, &t1, n, cr, h, w, err));
    VA_TRY(va_arena_tensor4(ws, &t2, n, cr, h, w, err));
    if (va_run_want_maps(r)) {
        VA_TRY(va_run_map_prepare(r, 0, "channel", n, c, 1, 1, &mc, err));
        VA_TRY(va_run_map_prepare(r, 1, "spatial", n, 1, h, w, &ms, err));
    } else {
        VA_TRY(va_arena_tensor4(ws, &cscratch, n, c, 1, 1, err));
        VA_TRY(va_arena_tensor4(ws, &sscratch, n, 1, h, w, err));
    }
    /* Channel part: on the pooled 1x1 map the linears are one GEMM each over the batch. */
    VA_TRY(va_global_avgpool(x, &pooled, err));
    VA_TRY(va_linear(pooled.data, n, c, m->fc0_w, m->fc0_b, cr, hidden.data, err));
    va_act_apply(VA_ACT_RELU, hidden.data, hidden.data, n * cr);
    VA_TRY(va_linear(hidden.data, n, cr, m->fcf_w, m->fcf_b, c, mc->data, err));
    /* Spatial part. */
    const int ci = m->c, co = m->cr;
    VA_TRY(spatial_conv(m->red_w, m->red_b, ci, co, 1, VA_ACT_RELU, x, &t1, ws, err));
    VA_TRY(spatial_conv(m->di_w[0], m->di_b[0], co, co, 3, VA_ACT_RELU, &t1, &t2, ws, err));
    VA_TRY(spatial_conv(m->di_w[1], m->di_b[1], co, co, 3, VA_ACT_RELU, &t2, &t1, ws, err));
    VA_TRY(spatial_conv(m->fin_w, m->fin_b, co, 1, 1, VA_ACT_NONE, &t1, ms, ws, err));
    apply_gate(x->data, mc->data, ms->data, n, c, h * w, y->data);
    return VA_OK;
}

static va_status bam_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    (void)err;
    const bam_block *m = b->self;
    const int64_t n = in[0], h = in[2], w = in[3], count = n * m->c * h * w;
    const int c = m->c, cr = m->cr;
    /* channel part */
    va_cost_elementwise(cost, count, VA_FLOPS_POOL);
    va_cost_linear(cost, n, c, cr, 1);
    va_cost_params(cost, 2 * cr); /* BatchNorm1d weight and bias */
    va_cost_elementwise(cost, n * cr, VA_FLOPS_BN + VA_FLOPS_ACT);
    va_cost_linear(cost, n, cr, c, 1);
    /* spatial part: three conv + BN + ReLU, then the final 1x1 conv */
    va_cost_conv2d(cost, c, cr, 1, 1, 1, 1, n, h, w);
    for (int i = 0; i < 2; i++)
        va_cost_conv2d(cost, cr, cr, 3, 3, 1, 1, n, h, w);
    va_cost_params(cost, 3 * 2 * cr);
    va_cost_elementwise(cost, 3 * n * cr * h * w, VA_FLOPS_BN + VA_FLOPS_ACT);
    va_cost_conv2d(cost, cr, 1, 1, 1, 1, 1, n, h, w);
    /* Mc * Ms, sigmoid, 1 +, * x */
    va_cost_elementwise(cost, count, VA_FLOPS_ADDMUL + VA_FLOPS_ACT + 2 * VA_FLOPS_ADDMUL);
    return VA_OK;
}

static void bam_destroy(va_block *b) {
    bam_block *m = b->self;
    if (!m) return;
    free(m->fc0_w);
    free(m);
}

const va_block_ops va_bam_ops = {
    .name = "bam",
    .kind = VA_KIND_BLOCK,
    .summary = "BAM: x * (1 + sigmoid(MLP channel part * dilated-conv spatial part))",
    .create = bam_create,
    .load = bam_load,
    .out_shape = bam_out_shape,
    .forward = bam_forward,
    .cost = bam_cost,
    .destroy = bam_destroy,
};
