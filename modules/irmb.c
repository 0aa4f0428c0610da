/* "irmb": the inverted residual mobile block of EMO, as iRMB in zhangzjn/EMO model/emo.py.
 *
 *     x0 = x;  x = norm(x)                          BatchNorm2d(dim_in, eps 1e-6) if norm_in
 *     attn_s:  window self-attention (below), then v (attn_pre) or on v(x) (not attn_pre)
 *     else:    x = v(x)                             1x1 conv + act_layer, identity if !v_proj
 *     x = skip ? x + conv_local(x) : conv_local(x)  depthwise dw_ks, BN(1e-6), SiLU
 *     y = proj(x);  y = skip ? x0 + y : y           1x1 conv, no bias
 * with skip = has_skip && dim_in == dim_out && stride == 1, and every conv padded by
 * ceil((k - stride) / 2) as EMO's ConvNormAct does (dilation is not taken into account).
 *
 * Window attention, as the reference computes it: the normed input is zero-padded at the bottom
 * and right to multiples of window_size (window_size <= 0: one window, the whole image), and split
 * with einops 'b c (h1 n1) (w1 n2) -> (b n1 n2) c h1 w1': window (i, j) holds the pixels
 * (a * n1 + i, c * n2 + j) for a, c < window_size, an interleaved grid rather than a tile. In each
 * window, qk (1x1 conv to 2 * dim_in: q then k, heads of dim_head channels) gives
 * softmax(q k^T * dim_head^-0.5) over the window's keys, padded ones included (no mask). The
 * attended values are v(x) (attn_pre false) or x itself, with v applied after (attn_pre true).
 *
 * How it runs here: the input is normed, zero-padded and partitioned in one pass into the
 * reference's window layout (n1 n2 windows per image, C x window pixels each), so that qk and v
 * are plain 1x1 convs (one small GEMM per window) and each (window, head) task finds its q, k and
 * v as contiguous blocks for va_bmm. One pass un-partitions and crops the result.
 *
 * Map "attention": N x 1 x H x W, for each pixel the softmax weight it receives as a key, averaged
 * over the heads and over the real (unpadded) queries of its window. Only when attn_s. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "visattn/block.h"
#include "visattn/ops.h"

#define IRMB_BN_EPS 1e-6f /* EMO's get_norm builds every norm with eps=1e-6 */

/* EMO's get_norm kinds that an iRMB can use on its NCHW input (eps 1e-6 for all). */
typedef enum irmb_norm {
    IRMB_NORM_NONE = 0,
    IRMB_NORM_BN, /* bn_2d: BatchNorm2d, folded where it meets a 1x1 conv */
    IRMB_NORM_LN, /* ln_2d: LayerNorm over the channels (keys norm.norm.weight/bias) */
    IRMB_NORM_IN  /* in_2d: InstanceNorm2d, affine=False: no weights */
} irmb_norm;

typedef struct irmb_block {
    int dim_in, dim_out, dim_mid;
    irmb_norm norm; /* the input norm (IRMB_NORM_NONE: norm_in false or 'none') */
    int skip;       /* has_skip && dim_in == dim_out && stride == 1 */
    int attn_s, v_proj, attn_pre, v_group, qkv_bias;
    int dim_head, num_head, window_size;
    va_act act;
    int prelu;      /* act_layer 'prelu': timm's PReLU, one learned slope (v.act.weight) */
    float v_slope;  /* that slope */
    int se_rd;      /* SqueezeExcite's reduced channels, 0 without (se_ratio 0) */
    float se_slope; /* se.act1.weight when act_layer is prelu */
    float *se_w1, *se_b1, *se_w2, *se_b2; /* conv_reduce [rd, mid], conv_expand [mid, rd] */
    float *ln_w, *ln_b;                   /* ln_2d's affine parameters */
    double exp_ratio;
    /* Input BN: raw statistics (for va_batchnorm2d) and as y = x * norm_s + norm_t. */
    float *bn_gamma, *bn_beta, *bn_mean, *bn_var, *norm_s, *norm_t;
    /* qk carries the attention scale in its q rows; v has the input BN folded in when it reads
     * the input directly (attn_s false). */
    va_conv2d_desc qk, v, local, proj;
    float *qk_w, *qk_b, *v_w, *v_b, *local_w, *local_b, *proj_w;
} irmb_block;

/* ---- Config ---------------------------------------------------------------------------------- */

/* EMO's get_act names. Those visattn runs map to a va_act; the others are valid in the reference
 * but not supported here. */
static const struct {
    const char *name;
    int act; /* -1: known to the reference, not supported */
} irmb_acts[] = {
    {"none", VA_ACT_NONE},        {"relu", VA_ACT_RELU},
    {"relu6", VA_ACT_RELU6},      {"silu", VA_ACT_SILU},
    {"swish", VA_ACT_SILU},       {"gelu", VA_ACT_GELU},
    {"sigmoid", VA_ACT_SIGMOID},  {"hsigmoid", VA_ACT_HARDSIGMOID},
    {"hswish", VA_ACT_HARDSWISH}, {"mish", VA_ACT_MISH},
    {"hmish", VA_ACT_HARDMISH},   {"tanh", VA_ACT_TANH},
    {"prelu", VA_ACT_NONE}, /* timm's PReLU: a learned slope, applied after the conv (prelu) */
};

/* EMO's other get_norm names: on an iRMB's NCHW input each fails in the official code as well
 * (bn_1d, bn_3d, in_1d, in_3d and gn at the forward or in the constructor; ln_1d normalises over
 * W and only runs when W == dim_in). */
static const char *const irmb_other_norms[] = {"in_1d", "in_3d", "bn_1d", "bn_3d",
                                               "gn",    "ln_1d", NULL};

/* ceil((k - s) / 2) for any sign, as Python's math.ceil in ConvNormAct. */
static int irmb_pad(int k, int s) {
    int num = k - s;
    return num >= 0 ? (num + 1) / 2 : -((-num) / 2);
}

static va_status irmb_read_config(irmb_block *m, const va_config *cfg, va_error *err) {
    int norm_in, has_skip, dw_ks, stride, dilation;
    double se_ratio, attn_drop, drop, drop_path;
    char norm[32], act[32];
    if (!va_cfg_has(cfg, "dim_in"))
        return va_fail(err, VA_ERR_CONFIG, "irmb config: 'dim_in' is required");
    if (!va_cfg_has(cfg, "dim_out"))
        return va_fail(err, VA_ERR_CONFIG, "irmb config: 'dim_out' is required");
    VA_TRY(va_cfg_int(cfg, "dim_in", 0, &m->dim_in, err));
    VA_TRY(va_cfg_int(cfg, "dim_out", 0, &m->dim_out, err));
    VA_TRY(va_cfg_bool(cfg, "norm_in", 1, &norm_in, err));
    VA_TRY(va_cfg_bool(cfg, "has_skip", 1, &has_skip, err));
    VA_TRY(va_cfg_float(cfg, "exp_ratio", 1.0, &m->exp_ratio, err));
    VA_TRY(va_cfg_str(cfg, "norm_layer", "bn_2d", norm, sizeof norm, err));
    VA_TRY(va_cfg_str(cfg, "act_layer", "relu", act, sizeof act, err));
    VA_TRY(va_cfg_bool(cfg, "v_proj", 1, &m->v_proj, err));
    VA_TRY(va_cfg_int(cfg, "dw_ks", 3, &dw_ks, err));
    VA_TRY(va_cfg_int(cfg, "stride", 1, &stride, err));
    VA_TRY(va_cfg_int(cfg, "dilation", 1, &dilation, err));
    VA_TRY(va_cfg_float(cfg, "se_ratio", 0.0, &se_ratio, err));
    VA_TRY(va_cfg_int(cfg, "dim_head", 64, &m->dim_head, err));
    VA_TRY(va_cfg_int(cfg, "window_size", 7, &m->window_size, err));
    VA_TRY(va_cfg_bool(cfg, "attn_s", 1, &m->attn_s, err));
    VA_TRY(va_cfg_bool(cfg, "qkv_bias", 0, &m->qkv_bias, err));
    VA_TRY(va_cfg_float(cfg, "attn_drop", 0.0, &attn_drop, err));
    VA_TRY(va_cfg_float(cfg, "drop", 0.0, &drop, err));
    VA_TRY(va_cfg_float(cfg, "drop_path", 0.0, &drop_path, err)); /* eval: identity */
    (void)drop_path;
    VA_TRY(va_cfg_bool(cfg, "v_group", 0, &m->v_group, err));
    VA_TRY(va_cfg_bool(cfg, "attn_pre", 0, &m->attn_pre, err));

    if (m->dim_in < 1 || m->dim_out < 1)
        return va_fail(err, VA_ERR_CONFIG,
                       "irmb config: 'dim_in' (%d) and 'dim_out' (%d) must be >= 1", m->dim_in,
                       m->dim_out);
    double mid = (double)m->dim_in * m->exp_ratio; /* int(dim_in * exp_ratio): truncation */
    if (!(mid >= 1.0 && mid < 2147483648.0))
        return va_fail(err, VA_ERR_CONFIG,
                       "irmb config: 'exp_ratio' %g gives int(dim_in * exp_ratio) = %.0f channels, "
                       "must be in [1, 2^31)",
                       m->exp_ratio, mid);
    m->dim_mid = (int)mid;
    /* timm 0.6.5's SqueezeExcite(dim_mid, rd_ratio=se_ratio): round(dim_mid * se_ratio) reduced
     * channels, Python's round (half to even). */
    m->se_rd = 0;
    if (se_ratio > 0.0) {
        const double rd = nearbyint((double)m->dim_mid * se_ratio);
        if (!(rd >= 1.0 && rd <= 65536.0))
            return va_fail(err, VA_ERR_CONFIG,
                           "irmb config: 'se_ratio' %g gives round(%d * se_ratio) = %.0f reduced "
                           "channels, must be 1..65536",
                           se_ratio, m->dim_mid, rd);
        m->se_rd = (int)rd;
    } else if (!(se_ratio == 0.0)) {
        return va_fail(err, VA_ERR_CONFIG, "irmb config: 'se_ratio' %g must be >= 0", se_ratio);
    }
    /* nn.Dropout checks its probability; DropPath does not. attn_drop exists only with attn_s. */
    if (!(drop >= 0.0 && drop <= 1.0))
        return va_fail(err, VA_ERR_CONFIG, "irmb config: 'drop' %g must be in [0, 1]", drop);
    if (m->attn_s && !(attn_drop >= 0.0 && attn_drop <= 1.0))
        return va_fail(err, VA_ERR_CONFIG, "irmb config: 'attn_drop' %g must be in [0, 1]",
                       attn_drop);

    /* The reference looks norm_layer up only when norm_in, act_layer only for a v conv. */
    m->norm = IRMB_NORM_NONE;
    if (norm_in) {
        static const struct {
            const char *name;
            irmb_norm norm;
        } norms[] = {{"bn_2d", IRMB_NORM_BN},
                     {"ln_2d", IRMB_NORM_LN},
                     {"in_2d", IRMB_NORM_IN},
                     {"none", IRMB_NORM_NONE}};
        size_t i = 0, n = sizeof norms / sizeof norms[0];
        while (i < n && strcmp(norm, norms[i].name) != 0)
            i++;
        if (i < n) {
            m->norm = norms[i].norm;
        } else {
            for (int k = 0; irmb_other_norms[k]; k++)
                if (strcmp(norm, irmb_other_norms[k]) == 0)
                    return va_fail(err, VA_ERR_CONFIG,
                                   "irmb config: 'norm_layer' '%s' fails in the official iRMB too "
                                   "(its module cannot take the 4-D input, or cannot be built "
                                   "from dim_in alone); use bn_2d, ln_2d, in_2d or none",
                                   norm);
            return va_fail(err, VA_ERR_CONFIG,
                           "irmb config: unknown 'norm_layer' '%s' (bn_2d, ln_2d, in_2d, none)",
                           norm);
        }
    }
    /* act_layer is looked up for a v conv and for the SqueezeExcite's act1. */
    m->act = VA_ACT_NONE;
    if (m->attn_s || m->v_proj || m->se_rd) {
        size_t i = 0, n = sizeof irmb_acts / sizeof irmb_acts[0];
        while (i < n && strcmp(act, irmb_acts[i].name) != 0)
            i++;
        if (i == n)
            return va_fail(err, VA_ERR_CONFIG,
                           "irmb config: unknown 'act_layer' '%s' (relu, relu6, silu, swish, gelu, "
                           "sigmoid, hsigmoid, hswish, tanh, mish, hmish, prelu, none)",
                           act);
        m->act = (va_act)irmb_acts[i].act;
        m->prelu = strcmp(act, "prelu") == 0;
    }

    if (m->attn_s) {
        /* The reference asserts dim_in % dim_head == 0; num_head = dim_in // dim_head. */
        if (m->dim_head < 1)
            return va_fail(err, VA_ERR_CONFIG, "irmb config: 'dim_head' %d must be >= 1",
                           m->dim_head);
        if (m->dim_in % m->dim_head != 0)
            return va_fail(err, VA_ERR_CONFIG,
                           "irmb config: 'dim_in' %d must be divisible by 'dim_head' %d when "
                           "attn_s",
                           m->dim_in, m->dim_head);
        m->num_head = m->dim_in / m->dim_head;
        /* Without attn_pre, v's output is split into num_head heads (einops would fail). */
        if (!m->attn_pre && m->dim_mid % m->num_head != 0)
            return va_fail(err, VA_ERR_CONFIG,
                           "irmb config: 'exp_ratio' %g gives %d value channels, not divisible by "
                           "the %d heads (dim_in / dim_head)",
                           m->exp_ratio, m->dim_mid, m->num_head);
    } else if (!m->v_proj && m->dim_mid != m->dim_in) {
        return va_fail(err, VA_ERR_CONFIG,
                       "irmb config: 'v_proj' false (and attn_s false) feeds the %d input "
                       "channels to conv_local, which expects int(dim_in * exp_ratio) = %d",
                       m->dim_in, m->dim_mid);
    }

    m->skip = has_skip && m->dim_in == m->dim_out && stride == 1;
    va_conv2d_desc *d = &m->local;
    va_conv2d_desc_init(d, m->dim_mid, m->dim_mid, dw_ks);
    d->stride_h = d->stride_w = stride;
    d->dilation_h = d->dilation_w = dilation;
    d->groups = m->dim_mid;
    d->act = VA_ACT_SILU;
    if (dw_ks < 1 || stride < 1 || dilation < 1)
        return va_fail(err, VA_ERR_CONFIG,
                       "irmb config: 'dw_ks' %d, 'stride' %d and 'dilation' %d must be >= 1", dw_ks,
                       stride, dilation);
    d->pad_h = d->pad_w = irmb_pad(dw_ks, stride);
    if (d->pad_h < 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "irmb config: 'dw_ks' %d with 'stride' %d gives conv_local the negative "
                       "padding ceil((dw_ks - stride) / 2) = %d",
                       dw_ks, stride, d->pad_h);
    /* The inner and outer residual adds need conv_local to keep H x W. */
    if (m->skip && 2 * (int64_t)d->pad_h != (int64_t)dilation * (dw_ks - 1))
        return va_fail(err, VA_ERR_CONFIG,
                       "irmb config: has_skip with 'dw_ks' %d and 'dilation' %d: conv_local "
                       "(padding %d) changes H x W, so the reference's residual add fails",
                       dw_ks, dilation, d->pad_h);
    va_status st = va_conv2d_check(d, err);
    if (st != VA_OK && err) va_error_prefix(err, "irmb config: conv_local");
    return st;
}

static va_status irmb_alloc(float **p, int64_t n, va_error *err) {
    VA_TRY(va_check_weight_count("irmb config: dim_in, dim_out, exp_ratio, dw_ks", n, err));
    *p = va_aligned_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!*p) return va_fail(err, VA_ERR_NOMEM, "irmb: out of memory");
    memset(*p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float));
    return VA_OK;
}

static va_status irmb_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {
        "dim_in",    "dim_out",     "norm_in",  "has_skip", "exp_ratio", "norm_layer",
        "act_layer", "v_proj",      "dw_ks",    "stride",   "dilation",  "se_ratio",
        "dim_head",  "window_size", "attn_s",   "qkv_bias", "attn_drop", "drop",
        "drop_path", "v_group",     "attn_pre", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    irmb_block *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "irmb: out of memory");
    b->self = m;
    VA_TRY(irmb_read_config(m, cfg, err));
    const int64_t c = m->dim_in, mid = m->dim_mid;

    VA_TRY(irmb_alloc(&m->bn_gamma, 6 * c, err));
    m->bn_beta = m->bn_gamma + c;
    m->bn_mean = m->bn_beta + c;
    m->bn_var = m->bn_mean + c;
    m->norm_s = m->bn_var + c;
    m->norm_t = m->norm_s + c;

    if (m->attn_s) {
        va_conv2d_desc_init(&m->qk, m->dim_in, 2 * m->dim_in, 1);
        VA_TRY(va_conv2d_check(&m->qk, err));
        VA_TRY(irmb_alloc(&m->qk_w, 2 * c * c, err));
        VA_TRY(irmb_alloc(&m->qk_b, 2 * c, err));
        m->qk.weight = m->qk_w;
        m->qk.bias = m->qk_b;
    }
    if (m->attn_s || m->v_proj) {
        va_conv2d_desc_init(&m->v, m->dim_in, m->dim_mid, 1);
        m->v.groups = m->attn_s && m->v_group ? m->num_head : 1;
        m->v.act = m->act;
        /* nn.Conv2d: groups must divide in and out channels (v_group with num_head groups). */
        if (m->dim_mid % m->v.groups != 0)
            return va_fail(err, VA_ERR_CONFIG,
                           "irmb config: 'v_group' needs int(dim_in * exp_ratio) = %d divisible by "
                           "the %d heads",
                           m->dim_mid, m->v.groups);
        VA_TRY(va_conv2d_check(&m->v, err));
        VA_TRY(irmb_alloc(&m->v_w, mid * (c / m->v.groups), err));
        VA_TRY(irmb_alloc(&m->v_b, mid, err));
        m->v.weight = m->v_w;
        m->v.bias = m->v_b;
    }
    VA_TRY(irmb_alloc(&m->local_w, mid * m->local.kernel_h * m->local.kernel_w, err));
    VA_TRY(irmb_alloc(&m->local_b, mid, err));
    m->local.weight = m->local_w;
    m->local.bias = m->local_b;
    va_conv2d_desc_init(&m->proj, m->dim_mid, m->dim_out, 1);
    VA_TRY(va_conv2d_check(&m->proj, err));
    VA_TRY(irmb_alloc(&m->proj_w, (int64_t)m->dim_out * mid, err));
    m->proj.weight = m->proj_w; /* ConvNormAct's default bias=False */
    if (m->se_rd) {
        const int64_t rd = m->se_rd;
        VA_TRY(va_check_weight_count("irmb config: se_ratio x int(dim_in * exp_ratio)",
                                     2 * rd * mid + rd + mid, err));
        VA_TRY(irmb_alloc(&m->se_w1, 2 * rd * mid + rd + mid, err));
        m->se_b1 = m->se_w1 + rd * mid;
        m->se_w2 = m->se_b1 + rd;
        m->se_b2 = m->se_w2 + mid * rd;
    }
    if (m->norm == IRMB_NORM_LN) {
        VA_TRY(irmb_alloc(&m->ln_w, 2 * c, err));
        m->ln_b = m->ln_w + c;
    }
    return VA_OK;
}

/* ---- Weights --------------------------------------------------------------------------------- */

/* Fold y = x * s + t (per input channel) into a 1x1 conv that reads y: W' = W diag(s),
 * b' = b + W t, group by group. Exact for a 1x1 conv, which has no zero padding. */
static void irmb_fold_input(float *w, float *bias, int cout, int cin, int groups, const float *s,
                            const float *t) {
    const int cin_g = cin / groups, cout_g = cout / groups;
    for (int o = 0; o < cout; o++) {
        const int c0 = (o / cout_g) * cin_g;
        float *wo = w + (int64_t)o * cin_g;
        double acc = bias[o];
        for (int i = 0; i < cin_g; i++) {
            acc += (double)wo[i] * t[c0 + i];
            wo[i] *= s[c0 + i];
        }
        bias[o] = (float)acc;
    }
}

static va_status irmb_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    irmb_block *m = b->self;
    const int64_t c = m->dim_in, mid = m->dim_mid;
    if (m->norm == IRMB_NORM_LN) { /* EMO's LayerNorm2d wraps nn.LayerNorm as .norm */
        VA_TRY(va_weights_get(w, prefix, "norm.norm.weight", 1, &c, m->ln_w, err));
        VA_TRY(va_weights_get(w, prefix, "norm.norm.bias", 1, &c, m->ln_b, err));
    }
    const int64_t one = 1;
    if (m->prelu && (m->attn_s || m->v_proj))
        VA_TRY(va_weights_get(w, prefix, "v.act.weight", 1, &one, &m->v_slope, err));
    if (m->se_rd) {
        const int64_t rd = m->se_rd, s1[4] = {rd, mid, 1, 1}, s2[4] = {mid, rd, 1, 1};
        VA_TRY(va_weights_get(w, prefix, "se.conv_reduce.weight", 4, s1, m->se_w1, err));
        VA_TRY(va_weights_get(w, prefix, "se.conv_reduce.bias", 1, &rd, m->se_b1, err));
        VA_TRY(va_weights_get(w, prefix, "se.conv_expand.weight", 4, s2, m->se_w2, err));
        VA_TRY(va_weights_get(w, prefix, "se.conv_expand.bias", 1, &mid, m->se_b2, err));
        if (m->prelu)
            VA_TRY(va_weights_get(w, prefix, "se.act1.weight", 1, &one, &m->se_slope, err));
    }
    if (m->norm == IRMB_NORM_BN) {
        VA_TRY(va_weights_get(w, prefix, "norm.weight", 1, &c, m->bn_gamma, err));
        VA_TRY(va_weights_get(w, prefix, "norm.bias", 1, &c, m->bn_beta, err));
        VA_TRY(va_weights_get(w, prefix, "norm.running_mean", 1, &c, m->bn_mean, err));
        VA_TRY(va_weights_get(w, prefix, "norm.running_var", 1, &c, m->bn_var, err));
        for (int64_t i = 0; i < c; i++) {
            m->norm_s[i] = m->bn_gamma[i] / sqrtf(m->bn_var[i] + IRMB_BN_EPS);
            m->norm_t[i] = m->bn_beta[i] - m->bn_mean[i] * m->norm_s[i];
        }
    } else {
        for (int64_t i = 0; i < c; i++)
            m->norm_s[i] = 1.0f, m->norm_t[i] = 0.0f;
    }
    if (m->attn_s) {
        const int64_t shape[4] = {2 * c, c, 1, 1}, nb = 2 * c;
        VA_TRY(va_weights_get(w, prefix, "qk.conv.weight", 4, shape, m->qk_w, err));
        memset(m->qk_b, 0, (size_t)nb * sizeof(float));
        if (m->qkv_bias) VA_TRY(va_weights_get(w, prefix, "qk.conv.bias", 1, &nb, m->qk_b, err));
        /* The reference scales q k^T by dim_head^-0.5; scaling the q rows instead is free. */
        const float scale = (float)(1.0 / sqrt((double)m->dim_head));
        for (int64_t o = 0; o < c; o++) {
            for (int64_t i = 0; i < c; i++)
                m->qk_w[o * c + i] *= scale;
            m->qk_b[o] *= scale;
        }
    }
    if (m->attn_s || m->v_proj) {
        const int64_t shape[4] = {mid, c / m->v.groups, 1, 1};
        VA_TRY(va_weights_get(w, prefix, "v.conv.weight", 4, shape, m->v_w, err));
        memset(m->v_b, 0, (size_t)mid * sizeof(float));
        if (m->qkv_bias) VA_TRY(va_weights_get(w, prefix, "v.conv.bias", 1, &mid, m->v_b, err));
        /* Without attention, v is a 1x1 conv on the normed input: the BN folds into it. */
        if (!m->attn_s)
            irmb_fold_input(m->v_w, m->v_b, m->dim_mid, m->dim_in, 1, m->norm_s, m->norm_t);
    }
    {
        const va_conv2d_desc *d = &m->local;
        const int64_t kk = (int64_t)d->kernel_h * d->kernel_w,
                      shape[4] = {mid, 1, d->kernel_h, d->kernel_w};
        VA_TRY(va_weights_get(w, prefix, "conv_local.conv.weight", 4, shape, m->local_w, err));
        float *bn = malloc((size_t)(4 * mid) * sizeof(float));
        if (!bn) return va_fail(err, VA_ERR_NOMEM, "irmb: out of memory");
        va_status s = va_weights_get(w, prefix, "conv_local.norm.weight", 1, &mid, bn, err);
        if (!s) s = va_weights_get(w, prefix, "conv_local.norm.bias", 1, &mid, bn + mid, err);
        if (!s)
            s = va_weights_get(w, prefix, "conv_local.norm.running_mean", 1, &mid, bn + 2 * mid,
                               err);
        if (!s)
            s = va_weights_get(w, prefix, "conv_local.norm.running_var", 1, &mid, bn + 3 * mid,
                               err);
        if (!s) {
            memset(m->local_b, 0, (size_t)mid * sizeof(float));
            va_fold_batchnorm(m->local_w, m->local_b, mid, kk, bn, bn + mid, bn + 2 * mid,
                              bn + 3 * mid, IRMB_BN_EPS);
        }
        free(bn);
        VA_TRY(s);
    }
    const int64_t pshape[4] = {m->dim_out, mid, 1, 1};
    return va_weights_get(w, prefix, "proj.conv.weight", 4, pshape, m->proj_w, err);
}

/* ---- Shapes ---------------------------------------------------------------------------------- */

static va_status irmb_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                                va_error *err) {
    const irmb_block *m = b->self;
    if (in[1] != m->dim_in)
        return va_fail(err, VA_ERR_SHAPE, "irmb: input has %lld channels, dim_in is %d",
                       (long long)in[1], m->dim_in);
    out[0] = in[0];
    out[1] = m->dim_out;
    va_status st = va_conv2d_out_hw(&m->local, in[2], in[3], &out[2], &out[3], err);
    if (st != VA_OK && err) va_error_prefix(err, "irmb: conv_local (dw_ks, stride, dilation)");
    return st;
}

/* Window geometry of the attention at an H x W input. */
typedef struct irmb_windows {
    int64_t wsh, wsw, n1, n2, hp, wp, len; /* len = wsh * wsw pixels per window */
} irmb_windows;

static va_status irmb_window_geometry(const irmb_block *m, int64_t h, int64_t w, irmb_windows *g,
                                      va_error *err) {
    g->wsh = m->window_size <= 0 ? h : m->window_size;
    g->wsw = m->window_size <= 0 ? w : m->window_size;
    g->n1 = (h + g->wsh - 1) / g->wsh;
    g->n2 = (w + g->wsw - 1) / g->wsw;
    g->hp = g->n1 * g->wsh;
    g->wp = g->n2 * g->wsw;
    /* 2^20 pixels (e.g. 1024 x 1024) per window: its L x L attention already takes 4 TB. */
    /* At most 4096 pixels (64 x 64) per window: its L x L attention matrix is 64 MB per head
     * already, and grows with the fourth power of window_size. */
    size_t len;
    if (va_mul_size((size_t)g->wsh, (size_t)g->wsw, &len) || len > ((size_t)1 << 12))
        return va_fail(err, VA_ERR_CONFIG,
                       "irmb: a %lldx%lld attention window (window_size %d, or the input size when "
                       "it is 0) is over the limit of 4096 pixels",
                       (long long)g->wsh, (long long)g->wsw, m->window_size);
    g->len = (int64_t)len;
    return VA_OK;
}

/* ---- Window attention ------------------------------------------------------------------------
 * Custom loops where no op fits: the partition into interleaved windows (fused with the input BN
 * and the zero padding) and the way back. The rest are ops, per (window, head) task inside an
 * OpenMP loop over the tasks: two va_bmm (each then one single-threaded sgemm) and a va_softmax
 * (small enough not to fork). */

/* Window `win` (= wi * n2 + wj) of an H x W image: its pixel (a, c) is image pixel
 * (a * n1 + wi, c * n2 + wj), and its real (unpadded) pixels are the rectangle a < rows,
 * c < cols. */
typedef struct irmb_win {
    int64_t wi, wj, rows, cols;
} irmb_win;

static irmb_win irmb_window_at(const irmb_windows *g, int64_t h, int64_t w, int64_t win) {
    irmb_win r = {.wi = win / g->n2, .wj = win % g->n2};
    r.rows = (h - r.wi + g->n1 - 1) / g->n1;
    r.cols = (w - r.wj + g->n2 - 1) / g->n2;
    if (r.rows > g->wsh) r.rows = g->wsh;
    if (r.cols > g->wsw) r.cols = g->wsw;
    return r;
}

/* xw[(b, win)][c] (wsh x wsw) = norm(x[b][c]) at the window's pixels, 0 on the padding: the
 * reference's F.pad of the normed input and its einops partition, in one pass. */
static void irmb_partition(const irmb_block *m, const irmb_windows *g, const va_tensor *x,
                           float *xw) {
    const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    const int64_t nwin = g->n1 * g->n2, len = g->len;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++) {
            const float *plane = x->data + (b * c + ch) * h * w;
            const float sc = m->norm_s[ch], sh = m->norm_t[ch];
            for (int64_t win = 0; win < nwin; win++) {
                const irmb_win wn = irmb_window_at(g, h, w, win);
                float *dst = xw + ((b * nwin + win) * c + ch) * len;
                for (int64_t a = 0; a < g->wsh; a++) {
                    float *d = dst + a * g->wsw;
                    int64_t cc = 0;
                    if (a < wn.rows) {
                        const float *src = plane + (a * g->n1 + wn.wi) * w + wn.wj;
                        for (; cc < wn.cols; cc++)
                            d[cc] = src[cc * g->n2] * sc + sh;
                    }
                    for (; cc < g->wsw; cc++)
                        d[cc] = 0.0f;
                }
            }
        }
}

/* y[b][ch] (H x W) = the real pixels of yw[(b, win)][ch] for ch < y's channels: the
 * reference's inverse partition and crop. yw has cw >= y's channels per window. */
static void irmb_unpartition(const irmb_windows *g, const float *yw, int64_t cw, va_tensor *y) {
    const int64_t n = y->shape[0], c = y->shape[1], h = y->shape[2], w = y->shape[3];
    const int64_t nwin = g->n1 * g->n2, len = g->len;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++) {
            float *plane = y->data + (b * c + ch) * h * w;
            for (int64_t win = 0; win < nwin; win++) {
                const irmb_win wn = irmb_window_at(g, h, w, win);
                const float *src = yw + ((b * nwin + win) * cw + ch) * len;
                for (int64_t a = 0; a < wn.rows; a++) {
                    float *d = plane + (a * g->n1 + wn.wi) * w + wn.wj;
                    for (int64_t cc = 0; cc < wn.cols; cc++)
                        d[cc * g->n2] = src[a * g->wsw + cc];
                }
            }
        }
}

/* What the (window, head) tasks share. Window tensors are (n n1 n2) x channels x L. */
typedef struct irmb_attn_args {
    const irmb_block *m;
    irmb_windows g;
    int64_t h, w;
    const float *qk;   /* 2C channels: q (pre-scaled) then k */
    const float *val;  /* val_c channels: v(x), or the normed input with attn_pre */
    int64_t val_c, dv; /* dv = val_c / heads */
    float *out;        /* val_c channels */
    float *map_w;      /* heads x L per window, or NULL */
    float *scratch;    /* scratch_floats per thread */
    int64_t scratch_floats;
} irmb_attn_args;

static void irmb_attention_task(const irmb_attn_args *A, int64_t task, float *scratch) {
    const irmb_block *m = A->m;
    const irmb_windows *g = &A->g;
    const int64_t heads = m->num_head, dh = m->dim_head, dv = A->dv, len = g->len;
    const int64_t hd = task % heads, bw = task / heads; /* bw: image and window */
    const float *q = A->qk + (bw * 2 * m->dim_in + hd * dh) * len;
    const float *k = q + m->dim_in * len;
    const float *v = A->val + (bw * A->val_c + hd * dv) * len;
    float *o = A->out + (bw * A->val_c + hd * dv) * len;
    float *s = scratch;
    va_tensor st = {.ndim = 2, .shape = {len, len}, .data = s};

    /* s[j][i] = k_j . q_i: keys down, queries across, so that the softmax over the keys (axis 0)
     * runs along contiguous rows, vectorised over the queries. Then o[e][i] = sum_j v[e][j]
     * s[j][i]. Valid sizes and buffers: these cannot fail. */
    va_bmm(1, len, len, dh, k, 1, q, 0, s, NULL);
    va_softmax(&st, 0, &st, NULL);
    va_bmm(1, dv, len, len, v, 0, s, 0, o, NULL);

    if (A->map_w) {
        /* Key j: its row of s summed over the real queries, over their number. */
        const irmb_win wn = irmb_window_at(g, A->h, A->w, bw % (g->n1 * g->n2));
        const float inv = 1.0f / (float)(wn.rows * wn.cols);
        float *mw = A->map_w + (bw * heads + hd) * len;
        for (int64_t j = 0; j < len; j++) {
            const float *row = s + j * len;
            float acc = 0.0f;
            for (int64_t a = 0; a < wn.rows; a++)
                for (int64_t cc = 0; cc < wn.cols; cc++)
                    acc += row[a * g->wsw + cc];
            mw[j] = acc * inv;
        }
    }
}

/* timm's PReLU after v's conv (F.prelu with one slope: x > 0 ? x : slope * x, NaN through). */
static void irmb_prelu_span(float *x, int64_t len, float slope) {
    for (int64_t i = 0; i < len; i++)
        x[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

static void irmb_prelu(const irmb_block *m, va_tensor *t) {
    if (m->prelu) irmb_prelu_span(t->data, va_numel(t), m->v_slope);
}

/* timm 0.6.5's SqueezeExcite on conv_local's output, in place: x * sigmoid(conv_expand(act(
 * conv_reduce(mean over H, W)))); on a 1 x 1 map the convs are linear layers over the batch. */
static va_status irmb_squeeze_excite(const irmb_block *m, va_tensor *x, va_arena *ws,
                                     va_error *err) {
    const int64_t n = x->shape[0], mid = m->dim_mid, rd = m->se_rd;
    va_tensor pooled, hidden, gate;
    VA_TRY(va_arena_tensor4(ws, &pooled, n, mid, 1, 1, err));
    VA_TRY(va_arena_tensor4(ws, &hidden, n, rd, 1, 1, err));
    VA_TRY(va_arena_tensor4(ws, &gate, n, mid, 1, 1, err));
    VA_TRY(va_global_avgpool(x, &pooled, err));
    VA_TRY(va_linear(pooled.data, n, mid, m->se_w1, m->se_b1, rd, hidden.data, err));
    if (m->prelu)
        irmb_prelu_span(hidden.data, n * rd, m->se_slope);
    else
        va_act_apply(m->act, hidden.data, hidden.data, n * rd);
    VA_TRY(va_linear(hidden.data, n, rd, m->se_w2, m->se_b2, mid, gate.data, err));
    va_act_apply(VA_ACT_SIGMOID, gate.data, gate.data, n * mid);
    return va_mul(x, &gate, x, err);
}

/* The attention branch: x (block input) -> xa (n x dim_mid x H x W). */
static va_status irmb_attention(const va_block *blk, va_run *r, const va_tensor *x, va_tensor *xa,
                                va_error *err) {
    va_arena *ws = va_run_arena(r);
    const irmb_block *m = blk->self;
    const int64_t n = x->shape[0], h = x->shape[2], w = x->shape[3], c = m->dim_in;
    const int64_t mid = m->dim_mid, heads = m->num_head;
    irmb_attn_args A = {.m = m, .h = h, .w = w};
    VA_TRY(irmb_window_geometry(m, h, w, &A.g, err));
    const irmb_windows *g = &A.g;
    const int64_t nw = n * g->n1 * g->n2, tasks = nw * heads;
    const size_t mark = va_arena_mark(ws);

    va_tensor xw, qk, vw, ow;
    VA_TRY(va_arena_tensor4(ws, &xw, nw, c, g->wsh, g->wsw, err));
    irmb_partition(m, g, x, xw.data);
    VA_TRY(va_arena_tensor4(ws, &qk, nw, 2 * c, g->wsh, g->wsw, err));
    VA_TRY(va_conv2d(&m->qk, &xw, &qk, ws, err));
    A.qk = qk.data;
    if (m->attn_pre) {
        A.val = xw.data, A.val_c = c;
    } else {
        VA_TRY(va_arena_tensor4(ws, &vw, nw, mid, g->wsh, g->wsw, err));
        VA_TRY(va_conv2d(&m->v, &xw, &vw, ws, err));
        irmb_prelu(m, &vw);
        A.val = vw.data, A.val_c = mid;
    }
    A.dv = A.val_c / heads;
    VA_TRY(va_arena_tensor4(ws, &ow, nw, A.val_c, g->wsh, g->wsw, err));
    A.out = ow.data;
    A.map_w = NULL;
    if (va_run_want_maps(r)) {
        A.map_w = va_arena_alloc(ws, (size_t)(tasks * g->len) * sizeof(float), err);
        if (!A.map_w) return err ? err->status : VA_ERR_NOMEM;
    }
    int nth = omp_get_max_threads();
    if ((int64_t)nth > tasks) nth = (int)tasks;
    /* s (L x L), rounded to 64 bytes so that threads share no cache line. */
    A.scratch_floats = (g->len * g->len + 15) / 16 * 16;
    A.scratch = va_arena_alloc(ws, (size_t)A.scratch_floats * (size_t)nth * sizeof(float), err);
    if (!A.scratch) return err ? err->status : VA_ERR_NOMEM;

#pragma omp parallel num_threads(nth)
    {
        float *mine = A.scratch + (int64_t)omp_get_thread_num() * A.scratch_floats;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tasks; t++)
            irmb_attention_task(&A, t, mine);
    }

    if (m->attn_pre) {
        /* v after the attention, on the padded windows as the reference does. */
        VA_TRY(va_arena_tensor4(ws, &vw, nw, mid, g->wsh, g->wsw, err));
        VA_TRY(va_conv2d(&m->v, &ow, &vw, ws, err));
        irmb_prelu(m, &vw);
        irmb_unpartition(g, vw.data, mid, xa);
    } else {
        irmb_unpartition(g, ow.data, mid, xa);
    }
    if (va_run_want_maps(r)) {
        /* Mean over the heads in place (into head 0), then back to the image. */
        for (int64_t bw = 0; bw < nw; bw++) {
            float *mw = A.map_w + bw * heads * g->len;
            for (int64_t hd = 1; hd < heads; hd++)
                for (int64_t j = 0; j < g->len; j++)
                    mw[j] += mw[hd * g->len + j];
            for (int64_t j = 0; j < g->len; j++)
                mw[j] /= (float)heads;
        }
        va_tensor *map;
        VA_TRY(va_run_map_prepare(r, 0, "attention", n, 1, h, w, &map, err));
        irmb_unpartition(g, A.map_w, heads, map); /* head 0 of each window now holds the mean */
    }
    va_arena_rewind(ws, mark);
    return VA_OK;
}

/* ---- Forward --------------------------------------------------------------------------------- */

static va_status irmb_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                              va_error *err) {
    va_arena *ws = va_run_arena(r);
    const irmb_block *m = b->self;
    const int64_t n = x->shape[0], h = x->shape[2], w = x->shape[3];
    /* ln_2d and in_2d normalise up front; bn_2d is folded into the 1x1 conv that reads x (or
     * applied below when none does). */
    const va_tensor *xin = x;
    va_tensor xn, xa, local;
    if (m->norm == IRMB_NORM_LN || m->norm == IRMB_NORM_IN) {
        VA_TRY(va_arena_tensor4(ws, &xn, n, m->dim_in, h, w, err));
        if (m->norm == IRMB_NORM_LN)
            VA_TRY(va_layer_norm2d(x, m->ln_w, m->ln_b, IRMB_BN_EPS, &xn, err));
        else /* InstanceNorm2d without affine: GroupNorm with one channel per group */
            VA_TRY(va_group_norm(x, m->dim_in, NULL, NULL, IRMB_BN_EPS, &xn, err));
        xin = &xn;
    }
    if (m->attn_s) {
        VA_TRY(va_arena_tensor4(ws, &xa, n, m->dim_mid, h, w, err));
        VA_TRY(irmb_attention(b, r, xin, &xa, err));
    } else if (m->v_proj) {
        VA_TRY(va_arena_tensor4(ws, &xa, n, m->dim_mid, h, w, err));
        VA_TRY(va_conv2d(&m->v, xin, &xa, ws, err)); /* a bn_2d input norm is folded into v */
        irmb_prelu(m, &xa);
    } else if (m->norm == IRMB_NORM_BN) {
        /* conv_local zero-pads the normed input, so this BN cannot be folded into it. */
        VA_TRY(va_arena_tensor4(ws, &xa, n, m->dim_in, h, w, err));
        VA_TRY(va_batchnorm2d(x, m->bn_gamma, m->bn_beta, m->bn_mean, m->bn_var, IRMB_BN_EPS, &xa,
                              err));
    } else {
        xa = *xin;
    }
    VA_TRY(va_arena_tensor4(ws, &local, n, m->dim_mid, y->shape[2], y->shape[3], err));
    VA_TRY(va_conv2d(&m->local, &xa, &local, ws, err));
    if (m->se_rd) VA_TRY(irmb_squeeze_excite(m, &local, ws, err));
    if (m->skip) VA_TRY(va_add(&local, &xa, &local, err));
    VA_TRY(va_conv2d(&m->proj, &local, y, ws, err));
    if (m->skip) VA_TRY(va_add(y, x, y, err));
    return VA_OK;
}

/* ---- Cost ------------------------------------------------------------------------------------ */

static va_status irmb_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    const irmb_block *m = b->self;
    const int64_t n = in[0], h = in[2], w = in[3], c = m->dim_in, mid = m->dim_mid;
    int64_t oh, ow;
    VA_TRY(va_conv2d_out_hw(&m->local, h, w, &oh, &ow, err));
    if (m->norm == IRMB_NORM_BN || m->norm == IRMB_NORM_LN) {
        va_cost_params(cost, 2 * c);
        va_cost_elementwise(cost, n * c * h * w,
                            m->norm == IRMB_NORM_BN ? VA_FLOPS_BN : VA_FLOPS_GN + VA_FLOPS_BN);
    } else if (m->norm == IRMB_NORM_IN) {
        va_cost_elementwise(cost, n * c * h * w, VA_FLOPS_GN);
    }
    const int act = m->act != VA_ACT_NONE || m->prelu;
    if (m->prelu && (m->attn_s || m->v_proj)) va_cost_params(cost, 1);
    if (m->attn_s) {
        /* The reference runs qk, v and the attention on the padded, partitioned image. */
        irmb_windows g = {0};
        VA_TRY(irmb_window_geometry(m, h, w, &g, err));
        const int64_t heads = m->num_head, batch = n * g.n1 * g.n2 * heads, len = g.len;
        const int64_t dv = m->attn_pre ? m->dim_head : mid / heads;
        va_cost_conv2d(cost, (int)c, (int)(2 * c), 1, 1, 1, m->qkv_bias, n, g.hp, g.wp);
        va_cost_matmul(cost, batch, len, len, m->dim_head);
        va_cost_elementwise(cost, batch * len * len, VA_FLOPS_ADDMUL); /* * scale */
        va_cost_elementwise(cost, batch * len * len, VA_FLOPS_SOFTMAX);
        va_cost_matmul(cost, batch, len, dv, len);
        va_cost_conv2d(cost, (int)c, (int)mid, 1, 1, m->v.groups, m->qkv_bias, n, g.hp, g.wp);
        if (act) va_cost_elementwise(cost, n * mid * g.hp * g.wp, VA_FLOPS_ACT);
    } else if (m->v_proj) {
        va_cost_conv2d(cost, (int)c, (int)mid, 1, 1, 1, m->qkv_bias, n, h, w);
        if (act) va_cost_elementwise(cost, n * mid * h * w, VA_FLOPS_ACT);
    }
    va_cost_conv2d(cost, (int)mid, (int)mid, m->local.kernel_h, m->local.kernel_w, (int)mid, 0, n,
                   oh, ow);
    va_cost_params(cost, 2 * mid);
    va_cost_elementwise(cost, n * mid * oh * ow, VA_FLOPS_BN + VA_FLOPS_ACT);
    if (m->se_rd) {
        va_cost_elementwise(cost, n * mid * oh * ow, VA_FLOPS_POOL);
        va_cost_conv2d(cost, (int)mid, m->se_rd, 1, 1, 1, 1, n, 1, 1);
        if (m->act != VA_ACT_NONE || m->prelu)
            va_cost_elementwise(cost, n * m->se_rd, VA_FLOPS_ACT);
        if (m->prelu) va_cost_params(cost, 1);
        va_cost_conv2d(cost, m->se_rd, (int)mid, 1, 1, 1, 1, n, 1, 1);
        va_cost_elementwise(cost, n * mid, VA_FLOPS_ACT);
        va_cost_elementwise(cost, n * mid * oh * ow, VA_FLOPS_ADDMUL);
    }
    if (m->skip) va_cost_elementwise(cost, n * mid * oh * ow, VA_FLOPS_ADDMUL);
    va_cost_conv2d(cost, (int)mid, m->dim_out, 1, 1, 1, 0, n, oh, ow);
    if (m->skip) va_cost_elementwise(cost, n * m->dim_out * oh * ow, VA_FLOPS_ADDMUL);
    return VA_OK;
}

static void irmb_destroy(va_block *b) {
    irmb_block *m = b->self;
    if (!m) return;
    float *bufs[] = {m->bn_gamma, m->qk_w,    m->qk_b,   m->v_w,   m->v_b,
                     m->local_w,  m->local_b, m->proj_w, m->se_w1, m->ln_w};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        va_aligned_free(bufs[i]);
    free(m);
}

const va_block_ops va_irmb_ops = {
    .name = "irmb",
    .kind = VA_KIND_BLOCK,
    .summary = "EMO's inverted residual mobile block: window attention + depthwise conv (iRMB)",
    .create = irmb_create,
    .load = irmb_load,
    .out_shape = irmb_out_shape,
    .forward = irmb_forward,
    .cost = irmb_cost,
    .destroy = irmb_destroy,
};
