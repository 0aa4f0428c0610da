/* "se" (alias "channel"): Squeeze-and-Excitation, as torchvision.ops.misc.SqueezeExcitation
 * (torchvision 0.14).
 *
 * scale = scale_activation(fc2(activation(fc1(avgpool(x))))), y = scale * x; fc1 (C -> S) and fc2
 * (S -> C) are 1x1 convs with bias. torchvision takes the two activations as nn.Module classes
 * (defaults nn.ReLU, nn.Sigmoid); the config names them by string, case-insensitively ("relu",
 * "ReLU", "silu", "hardsigmoid", "Tanh", "Mish", "Identity", ...).
 * State dict: fc1.weight [S, C, 1, 1], fc1.bias [S], fc2.weight [C, S, 1, 1], fc2.bias [C].
 * Map "channel": N x C x 1 x 1, the scale applied to each channel. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "visattn/block.h"
#include "visattn/ops.h"

typedef struct se_block {
    int channels, squeeze;
    va_act act, scale_act;
    float *w1, *b1, *w2, *b2; /* one allocation; a 1x1 conv's weight is an nn.Linear's */
} se_block;

/* The torch.nn activation classes torchvision's SqueezeExcitation can be given (any nn.Module
 * built without arguments), by lower-case class name or the same names visattn uses elsewhere. */
static const char *const se_acts[] = {"relu",     "relu6",       "silu",      "swish", "gelu",
                                      "sigmoid",  "hardsigmoid", "hardswish", "tanh",  "mish",
                                      "identity", "none",        NULL};
/* torch.nn activations that build without arguments but are not implemented here. */
static const char *const se_unsupported[] = {
    "elu",        "leakyrelu", "prelu",    "rrelu",      "selu",       "celu",
    "hardtanh",   "softplus",  "softsign", "softshrink", "hardshrink", "tanhshrink",
    "logsigmoid", "softmin",   "softmax",  "logsoftmax", "glu",        NULL};

static int name_in(const char *name, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (strcmp(name, list[i]) == 0) return 1;
    return 0;
}

/* Activation key -> va_act, accepting PyTorch's class names ("ReLU", "Hardswish", "Identity"). */
static va_status se_act(const va_config *cfg, const char *key, const char *def, va_act *out,
                        va_error *err) {
    char name[32];
    VA_TRY(va_cfg_str(cfg, key, def, name, sizeof name, err));
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (name_in(name, se_unsupported))
        return va_fail(err, VA_ERR_UNSUPPORTED,
                       "se config: '%s' is '%s': a torch.nn activation that visattn does not "
                       "implement yet (supported: relu, relu6, silu, gelu, sigmoid, hardsigmoid, "
                       "hardswish, tanh, mish, identity)",
                       key, name);
    int a = name_in(name, se_acts) ? va_act_from_name(name) : -1;
    if (a < 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "se config: '%s' is '%s', not a torch.nn activation class (relu, relu6, "
                       "silu, gelu, sigmoid, hardsigmoid, hardswish, tanh, mish, identity)",
                       key, name);
    *out = (va_act)a;
    return VA_OK;
}

static va_status se_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"input_channels", "squeeze_channels", "activation",
                                       "scale_activation", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    se_block *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "se: out of memory");
    b->self = m;
    if (!va_cfg_has(cfg, "input_channels"))
        return va_fail(err, VA_ERR_CONFIG, "se config: 'input_channels' is required");
    if (!va_cfg_has(cfg, "squeeze_channels"))
        return va_fail(err, VA_ERR_CONFIG, "se config: 'squeeze_channels' is required");
    VA_TRY(va_cfg_int(cfg, "input_channels", 0, &m->channels, err));
    VA_TRY(va_cfg_int(cfg, "squeeze_channels", 0, &m->squeeze, err));
    /* PyTorch rejects negative channel counts when building the convs, and zero ones when the
     * conv runs. */
    if (m->channels < 1)
        return va_fail(err, VA_ERR_CONFIG, "se config: 'input_channels' must be >= 1, got %d",
                       m->channels);
    if (m->squeeze < 1)
        return va_fail(err, VA_ERR_CONFIG, "se config: 'squeeze_channels' must be >= 1, got %d",
                       m->squeeze);
    VA_TRY(se_act(cfg, "activation", "relu", &m->act, err));
    VA_TRY(se_act(cfg, "scale_activation", "sigmoid", &m->scale_act, err));
    const size_t c = (size_t)m->channels, s = (size_t)m->squeeze;
    VA_TRY(va_check_weight_count("se config: input_channels x squeeze_channels",
                                 (int64_t)m->channels * m->squeeze, err));
    size_t count, bytes;
    float *p = NULL;
    if (va_mul_size(2 * c, s, &count) == 0 && va_add_size(count, c + s, &count) == 0 &&
        va_mul_size(count, sizeof *p, &bytes) == 0)
        p = malloc(bytes);
    if (!p)
        return va_fail(err, VA_ERR_NOMEM, "se: out of memory for %d x %d weights", m->channels,
                       m->squeeze);
    m->w1 = p;
    m->b1 = m->w1 + s * c;
    m->w2 = m->b1 + s;
    m->b2 = m->w2 + c * s;
    return VA_OK;
}

static va_status se_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    se_block *m = b->self;
    const int64_t c = m->channels, s = m->squeeze;
    const int64_t w1[4] = {s, c, 1, 1}, w2[4] = {c, s, 1, 1};
    VA_TRY(va_weights_get(w, prefix, "fc1.weight", 4, w1, m->w1, err));
    VA_TRY(va_weights_get(w, prefix, "fc1.bias", 1, &s, m->b1, err));
    VA_TRY(va_weights_get(w, prefix, "fc2.weight", 4, w2, m->w2, err));
    return va_weights_get(w, prefix, "fc2.bias", 1, &c, m->b2, err);
}

static va_status se_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                              va_error *err) {
    const se_block *m = b->self;
    if (in[1] != m->channels)
        return va_fail(err, VA_ERR_SHAPE, "se: input has %lld channels, input_channels is %d",
                       (long long)in[1], m->channels);
    memcpy(out, in, 4 * sizeof *in);
    return VA_OK;
}

static va_status se_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                            va_error *err) {
    va_arena *ws = va_run_arena(r);
    const se_block *m = b->self;
    const int64_t n = x->shape[0], c = m->channels, s = m->squeeze;
    va_tensor pooled, hidden, scratch, *scale = &scratch;
    VA_TRY(va_arena_tensor4(ws, &pooled, n, c, 1, 1, err));
    VA_TRY(va_arena_tensor4(ws, &hidden, n, s, 1, 1, err));
    if (va_run_want_maps(r))
        VA_TRY(va_run_map_prepare(r, 0, "channel", n, c, 1, 1, &scale, err));
    else
        VA_TRY(va_arena_tensor4(ws, &scratch, n, c, 1, 1, err));
    VA_TRY(va_global_avgpool(x, &pooled, err));
    /* On a 1x1 map the two 1x1 convs are linear layers over the batch: one GEMM each. */
    VA_TRY(va_linear(pooled.data, n, c, m->w1, m->b1, s, hidden.data, err));
    va_act_apply(m->act, hidden.data, hidden.data, n * s);
    VA_TRY(va_linear(hidden.data, n, s, m->w2, m->b2, c, scale->data, err));
    va_act_apply(m->scale_act, scale->data, scale->data, n * c);
    return va_mul(x, scale, y, err);
}

static va_status se_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    (void)err;
    const se_block *m = b->self;
    const int64_t n = in[0], hw = in[2] * in[3];
    va_cost_elementwise(cost, n * m->channels * hw, VA_FLOPS_POOL);
    va_cost_conv2d(cost, m->channels, m->squeeze, 1, 1, 1, 1, n, 1, 1);
    if (m->act != VA_ACT_NONE) va_cost_elementwise(cost, n * m->squeeze, VA_FLOPS_ACT);
    va_cost_conv2d(cost, m->squeeze, m->channels, 1, 1, 1, 1, n, 1, 1);
    if (m->scale_act != VA_ACT_NONE) va_cost_elementwise(cost, n * m->channels, VA_FLOPS_ACT);
    va_cost_elementwise(cost, n * m->channels * hw, VA_FLOPS_ADDMUL);
    return VA_OK;
}

static void se_destroy(va_block *b) {
    se_block *m = b->self;
    if (!m) return;
    free(m->w1);
    free(m);
}

const va_block_ops va_se_ops = {
    .name = "se",
    .alias = "channel",
    .kind = VA_KIND_BLOCK,
    .summary = "Squeeze-and-Excitation channel gate (torchvision SqueezeExcitation)",
    .create = se_create,
    .load = se_load,
    .out_shape = se_out_shape,
    .forward = se_forward,
    .cost = se_cost,
    .destroy = se_destroy,
};
