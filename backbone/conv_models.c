/* Single-layer models, "conv2d" (nn.Conv2d), "conv_bn" (nn.Conv2d then nn.BatchNorm2d in eval
 * mode) and "conv_bn_relu" (the same followed by nn.ReLU, the yardstick of `visattn bench`): the
 * smallest files that exercise the whole engine, from weight file to output. Config keys
 * are nn.Conv2d's argument names; conv_bn also takes BatchNorm2d's eps (and ignores momentum).
 * State-dict keys: conv2d "weight", "bias"; conv_bn "conv.weight", "conv.bias", "bn.weight",
 * "bn.bias", "bn.running_mean", "bn.running_var" (bn.num_batches_tracked is ignored). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "visattn/block.h"
#include "visattn/ops.h"

typedef struct conv_model {
    int with_bn;
    int has_bias;
    double eps;
    va_conv2d_desc d;
    float *weight, *bias; /* bias always allocated: BN folding needs it */
} conv_model;

static va_status conv_create(va_block *b, const va_config *cfg, int with_bn, va_error *err) {
    static const char *const keys_conv[] = {
        "in_channels", "out_channels", "kernel_size", "stride",       "padding",
        "dilation",    "groups",       "bias",        "padding_mode", NULL};
    static const char *const keys_bn[] = {"in_channels",  "out_channels", "kernel_size", "stride",
                                          "padding",      "dilation",     "groups",      "bias",
                                          "padding_mode", "eps",          "momentum",    NULL};
    VA_TRY(va_cfg_check_keys(cfg, with_bn ? keys_bn : keys_conv, err));
    conv_model *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "conv: out of memory");
    b->self = m;
    m->with_bn = with_bn;
    int k[2], s[2], p[2], dl[2], cin, cout, groups;
    char mode[16];
    double momentum;
    if (!va_cfg_has(cfg, "in_channels") || !va_cfg_has(cfg, "out_channels") ||
        !va_cfg_has(cfg, "kernel_size"))
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: in_channels, out_channels and kernel_size are required",
                       b->ops->name);
    VA_TRY(va_cfg_int(cfg, "in_channels", 0, &cin, err));
    VA_TRY(va_cfg_int(cfg, "out_channels", 0, &cout, err));
    VA_TRY(va_cfg_int_pair(cfg, "kernel_size", 0, k, err));
    VA_TRY(va_cfg_int_pair(cfg, "stride", 1, s, err));
    VA_TRY(va_cfg_int_pair(cfg, "padding", 0, p, err));
    VA_TRY(va_cfg_int_pair(cfg, "dilation", 1, dl, err));
    VA_TRY(va_cfg_int(cfg, "groups", 1, &groups, err));
    VA_TRY(va_cfg_bool(cfg, "bias", 1, &m->has_bias, err));
    VA_TRY(va_cfg_str(cfg, "padding_mode", "zeros", mode, sizeof mode, err));
    VA_TRY(va_cfg_float(cfg, "eps", 1e-5, &m->eps, err));
    VA_TRY(va_cfg_float(cfg, "momentum", 0.1, &momentum, err));
    if (strcmp(mode, "zeros") != 0)
        return va_fail(err, VA_ERR_UNSUPPORTED, "%s config: padding_mode '%s' (only 'zeros')",
                       b->ops->name, mode);
    if (m->eps <= 0) return va_fail(err, VA_ERR_CONFIG, "%s config: eps must be > 0", b->ops->name);
    va_conv2d_desc *d = &m->d;
    va_conv2d_desc_init(d, cin, cout, k[0]);
    d->kernel_w = k[1];
    d->stride_h = s[0], d->stride_w = s[1];
    d->pad_h = p[0], d->pad_w = p[1];
    d->dilation_h = dl[0], d->dilation_w = dl[1];
    d->groups = groups;
    VA_TRY(va_conv2d_check(d, err));
    size_t nw = (size_t)cout * (size_t)(cin / groups) * (size_t)k[0] * (size_t)k[1];
    m->weight = va_aligned_alloc(nw * sizeof(float));
    m->bias = va_aligned_alloc((size_t)cout * sizeof(float));
    if (!m->weight || !m->bias) return va_fail(err, VA_ERR_NOMEM, "conv: out of memory");
    memset(m->bias, 0, (size_t)cout * sizeof(float));
    d->weight = m->weight;
    d->bias = m->bias;
    return VA_OK;
}

static va_status conv2d_create(va_block *b, const va_config *cfg, va_error *err) {
    return conv_create(b, cfg, 0, err);
}

static va_status conv_bn_create(va_block *b, const va_config *cfg, va_error *err) {
    return conv_create(b, cfg, 1, err);
}

static va_status conv_bn_relu_create(va_block *b, const va_config *cfg, va_error *err) {
    VA_TRY(conv_create(b, cfg, 1, err));
    ((conv_model *)b->self)->d.act = VA_ACT_RELU; /* fused into the conv's output pass */
    return VA_OK;
}

static va_status conv_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    conv_model *m = b->self;
    const va_conv2d_desc *d = &m->d;
    const int64_t wshape[4] = {d->out_channels, d->in_channels / d->groups, d->kernel_h,
                               d->kernel_w};
    const int64_t cshape[1] = {d->out_channels};
    char p[256];
    snprintf(p, sizeof p, "%s%s", prefix, m->with_bn ? "conv." : "");
    VA_TRY(va_weights_get(w, p, "weight", 4, wshape, m->weight, err));
    if (m->has_bias) VA_TRY(va_weights_get(w, p, "bias", 1, cshape, m->bias, err));
    if (!m->with_bn) return VA_OK;
    size_t bytes = (size_t)d->out_channels * sizeof(float);
    float *bn = malloc(4 * bytes);
    if (!bn) return va_fail(err, VA_ERR_NOMEM, "conv_bn: out of memory");
    float *gamma = bn, *beta = bn + d->out_channels, *mean = beta + d->out_channels,
          *var = mean + d->out_channels;
    snprintf(p, sizeof p, "%sbn.", prefix);
    va_status s = va_weights_get(w, p, "weight", 1, cshape, gamma, err);
    if (!s) s = va_weights_get(w, p, "bias", 1, cshape, beta, err);
    if (!s) s = va_weights_get(w, p, "running_mean", 1, cshape, mean, err);
    if (!s) s = va_weights_get(w, p, "running_var", 1, cshape, var, err);
    if (!s)
        va_fold_batchnorm(m->weight, m->bias, d->out_channels, wshape[1] * wshape[2] * wshape[3],
                          gamma, beta, mean, var, (float)m->eps);
    free(bn);
    return s;
}

static va_status conv_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                                va_error *err) {
    const conv_model *m = b->self;
    if (in[1] != m->d.in_channels)
        return va_fail(err, VA_ERR_SHAPE, "%s: input has %lld channels, expected %d", b->ops->name,
                       (long long)in[1], m->d.in_channels);
    out[0] = in[0];
    out[1] = m->d.out_channels;
    return va_conv2d_out_hw(&m->d, in[2], in[3], &out[2], &out[3], err);
}

static va_status conv_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                              va_error *err) {
    va_arena *ws = va_run_arena(r);
    const conv_model *m = b->self;
    return va_conv2d(&m->d, x, y, ws, err);
}

static va_status conv_cost(const va_block *b, const int64_t in[4], va_cost *c, va_error *err) {
    const conv_model *m = b->self;
    const va_conv2d_desc *d = &m->d;
    int64_t oh, ow;
    VA_TRY(va_conv2d_out_hw(d, in[2], in[3], &oh, &ow, err));
    va_cost_conv2d(c, d->in_channels, d->out_channels, d->kernel_h, d->kernel_w, d->groups,
                   m->has_bias, in[0], oh, ow);
    if (m->with_bn) {
        va_cost_params(c, 2 * (int64_t)d->out_channels);
        va_cost_elementwise(c, in[0] * d->out_channels * oh * ow, VA_FLOPS_BN);
    }
    if (d->act != VA_ACT_NONE)
        va_cost_elementwise(c, in[0] * d->out_channels * oh * ow, VA_FLOPS_ACT);
    return VA_OK;
}

static void conv_destroy(va_block *b) {
    conv_model *m = b->self;
    if (!m) return;
    va_aligned_free(m->weight);
    va_aligned_free(m->bias);
    free(m);
}

const va_block_ops va_conv2d_ops = {
    .name = "conv2d",
    .kind = VA_KIND_MODEL,
    .summary = "a single nn.Conv2d (engine check)",
    .create = conv2d_create,
    .load = conv_load,
    .out_shape = conv_out_shape,
    .forward = conv_forward,
    .cost = conv_cost,
    .destroy = conv_destroy,
};

const va_block_ops va_conv_bn_ops = {
    .name = "conv_bn",
    .kind = VA_KIND_MODEL,
    .summary = "nn.Conv2d + nn.BatchNorm2d in eval mode, BN folded at load (engine check)",
    .create = conv_bn_create,
    .load = conv_load,
    .out_shape = conv_out_shape,
    .forward = conv_forward,
    .cost = conv_cost,
    .destroy = conv_destroy,
};

const va_block_ops va_conv_bn_relu_ops = {
    .name = "conv_bn_relu",
    .kind = VA_KIND_MODEL,
    .summary = "nn.Conv2d + nn.BatchNorm2d + nn.ReLU, BN folded, ReLU fused (bench yardstick)",
    .create = conv_bn_relu_create,
    .load = conv_load,
    .out_shape = conv_out_shape,
    .forward = conv_forward,
    .cost = conv_cost,
    .destroy = conv_destroy,
};
