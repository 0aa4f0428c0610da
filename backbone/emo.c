/* EMO (Zhang et al., "Rethinking Mobile Block for Efficient Attention-based Models", ICCV 2023),
 * as EMO in zhangzjn/EMO model/emo.py: a network of iRMBs described by its constructor's stage
 * lists, with the official constructor arguments and state_dict keys.
 *
 *   stage0.0  MSPatchEmb: conv dim_in -> stem_dim (dw_kss[0], stride 2, bias), norm_layers[0]
 *   stage0.1  iRMB(stem_dim, stem_dim, norm_in=False, has_skip=False, v_proj=False, se_ratio=1,
 *             attn_s=False, act_layers[0], dw_kss[0])
 *   stage1..4 depths[i] iRMBs each: the first (stride 2, no skip, no attention, exp_ratio * 2) from
 *             the previous width to embed_dims[i]; the others (stride 1, skip, attn_ss[i])
 *   norm      norm_layers[-1] over embed_dims[-1]; mean over H, W; pre_head (Linear + act, if
 *             pre_dim > 0); head Linear -> num_classes
 * "emo" takes the EMO constructor's arguments with its defaults; EMO_1M, EMO_2M, EMO_5M and EMO_6M
 * are the registered variants (their defaults are the variant's, any argument may be overridden,
 * as the Python functions pass **kwargs on). Maps: every attention iRMB's,
 * "stage<i>.<j>.attention". docs/networks/emo.md has the details. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "visattn/block.h"
#include "visattn/ops.h"

#define EMO_STAGES 4
#define EMO_MAX_BLOCKS 64
#define EMO_EPS 1e-6f /* EMO's get_norm: eps 1e-6 for every norm */

typedef enum emo_norm { EMO_NORM_NONE, EMO_NORM_BN, EMO_NORM_LN, EMO_NORM_IN } emo_norm;

typedef struct emo_args {
    int dim_in, num_classes, img_size, stem_dim, pre_dim, qkv_bias, v_group, attn_pre;
    int depths[EMO_STAGES], embed_dims[EMO_STAGES], dw_kss[EMO_STAGES], dim_heads[EMO_STAGES],
        window_sizes[EMO_STAGES], attn_ss[EMO_STAGES];
    double exp_ratios[EMO_STAGES], se_ratios[EMO_STAGES];
    char norm_layers[EMO_STAGES][8], act_layers[EMO_STAGES][8];
} emo_args;

/* The variants of model/emo.py (EMO itself: the constructor's defaults). Fields in emo_args'
 * order: dim_in, num_classes, img_size, stem_dim, pre_dim, qkv_bias, v_group, attn_pre, then the
 * per-stage depths, embed_dims, dw_kss, dim_heads, window_sizes, attn_ss, exp_ratios, se_ratios,
 * norm_layers, act_layers. */
// clang-format off
#define EMO_NORMS_ACTS {"bn_2d", "bn_2d", "ln_2d", "ln_2d"}, {"silu", "silu", "gelu", "gelu"}
static const struct {
    const char *name;
    emo_args a;
} emo_variants[] = {
    {"emo", {3, 1000, 224, 16, 0, 1, 0, 0, {1, 2, 4, 2}, {64, 128, 256, 512}, {3, 3, 5, 5},
             {32, 32, 32, 32}, {7, 7, 7, 7}, {0, 0, 1, 1}, {4, 4, 4, 4}, {0, 0, 0, 0},
             {"bn_2d", "bn_2d", "bn_2d", "bn_2d"}, {"relu", "relu", "relu", "relu"}}},
    {"EMO_1M", {3, 1000, 224, 24, 0, 1, 0, 1, {2, 2, 8, 3}, {32, 48, 80, 168}, {3, 3, 5, 5},
                {16, 16, 20, 21}, {7, 7, 7, 7}, {0, 0, 1, 1}, {2, 2.5, 3, 3.5}, {0, 0, 0, 0},
                EMO_NORMS_ACTS}},
    {"EMO_2M", {3, 1000, 224, 24, 0, 1, 0, 1, {3, 3, 9, 3}, {32, 48, 120, 200}, {3, 3, 5, 5},
                {16, 16, 20, 20}, {7, 7, 7, 7}, {0, 0, 1, 1}, {2, 2.5, 3, 3.5}, {0, 0, 0, 0},
                EMO_NORMS_ACTS}},
    {"EMO_5M", {3, 1000, 224, 24, 0, 1, 0, 1, {3, 3, 9, 3}, {48, 72, 160, 288}, {3, 3, 5, 5},
                {24, 24, 32, 32}, {7, 7, 7, 7}, {0, 0, 1, 1}, {2, 3, 4, 4}, {0, 0, 0, 0},
                EMO_NORMS_ACTS}},
    {"EMO_6M", {3, 1000, 224, 24, 0, 1, 0, 1, {3, 3, 9, 3}, {48, 72, 160, 320}, {3, 3, 5, 5},
                {16, 24, 20, 32}, {7, 7, 7, 7}, {0, 0, 1, 1}, {2, 3, 4, 5}, {0, 0, 0, 0},
                EMO_NORMS_ACTS}},
};
// clang-format on

typedef struct emo_norm_layer {
    emo_norm kind;
    int channels;
    float *w, *b, *mean, *var; /* bn: all four; ln: w and b */
} emo_norm_layer;

typedef struct emo_net {
    emo_args a;
    va_conv2d_desc stem; /* bias; a bn_2d norm is folded in */
    float *stem_w, *stem_b;
    emo_norm_layer stem_norm; /* kept when not bn_2d */
    int num_blocks;
    va_block *blocks[EMO_MAX_BLOCKS];
    char prefix[EMO_MAX_BLOCKS][24]; /* "stage2.0." */
    emo_norm_layer norm;
    int pre_dim; /* 0: no pre_head */
    va_act pre_act;
    int pre_prelu;
    float pre_slope, *pre_w, *pre_b, *head_w, *head_b;
} emo_net;

/* ---- Config ---------------------------------------------------------------------------------- */

static const char *const emo_keys[] = {
    "dim_in",       "num_classes", "img_size",   "depths",    "stem_dim",  "embed_dims",
    "exp_ratios",   "norm_layers", "act_layers", "dw_kss",    "se_ratios", "dim_heads",
    "window_sizes", "attn_ss",     "qkv_bias",   "attn_drop", "drop",      "drop_path",
    "v_group",      "attn_pre",    "pre_dim",    NULL};

/* A list of EMO_STAGES numbers or strings (depths, exp_ratios, norm_layers, ...). */
static va_status emo_list(const cJSON *root, const char *key, int *ints, double *reals,
                          char (*strs)[8], va_error *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!a) return VA_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != EMO_STAGES)
        return va_fail(err, VA_ERR_CONFIG, "emo config: '%s' must be a list of %d values", key,
                       EMO_STAGES);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        if (strs) {
            if (!cJSON_IsString(v) || strlen(v->valuestring) >= 8)
                return va_fail(err, VA_ERR_CONFIG, "emo config: '%s' must list names", key);
            snprintf(strs[i], 8, "%s", v->valuestring);
        } else if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) < 1e6) ||
                   (ints && v->valuedouble != (double)(int)v->valuedouble)) {
            return va_fail(err, VA_ERR_CONFIG, "emo config: '%s' must list %s below 1e6 in size",
                           key, ints ? "integers" : "numbers");
        } else if (ints) {
            ints[i] = (int)v->valuedouble;
        } else {
            reals[i] = v->valuedouble;
        }
        i++;
    }
    return VA_OK;
}

static va_status emo_read_config(const va_block *b, const va_config *cfg, emo_args *a,
                                 va_error *err) {
    VA_TRY(va_cfg_check_keys(cfg, emo_keys, err));
    for (size_t i = 0; i < sizeof emo_variants / sizeof emo_variants[0]; i++)
        if (strcmp(emo_variants[i].name, b->ops->name) == 0) *a = emo_variants[i].a;
    double drop;
    VA_TRY(va_cfg_int(cfg, "dim_in", a->dim_in, &a->dim_in, err));
    VA_TRY(va_cfg_int(cfg, "num_classes", a->num_classes, &a->num_classes, err));
    VA_TRY(va_cfg_int(cfg, "img_size", a->img_size, &a->img_size, err));
    VA_TRY(va_cfg_int(cfg, "stem_dim", a->stem_dim, &a->stem_dim, err));
    VA_TRY(va_cfg_int(cfg, "pre_dim", a->pre_dim, &a->pre_dim, err));
    VA_TRY(va_cfg_bool(cfg, "qkv_bias", a->qkv_bias, &a->qkv_bias, err));
    VA_TRY(va_cfg_bool(cfg, "v_group", a->v_group, &a->v_group, err));
    VA_TRY(va_cfg_bool(cfg, "attn_pre", a->attn_pre, &a->attn_pre, err));
    VA_TRY(va_cfg_float(cfg, "attn_drop", 0.0, &drop, err)); /* eval: dropout is identity */
    VA_TRY(va_cfg_float(cfg, "drop", 0.0, &drop, err));
    VA_TRY(va_cfg_float(cfg, "drop_path", 0.0, &drop, err));
    char *json = va_config_to_json(cfg);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!root) return va_fail(err, VA_ERR_NOMEM, "emo: out of memory");
    int attn[EMO_STAGES];
    for (int i = 0; i < EMO_STAGES; i++)
        attn[i] = a->attn_ss[i];
    va_status s = emo_list(root, "depths", a->depths, NULL, NULL, err);
    if (!s) s = emo_list(root, "embed_dims", a->embed_dims, NULL, NULL, err);
    if (!s) s = emo_list(root, "dw_kss", a->dw_kss, NULL, NULL, err);
    if (!s) s = emo_list(root, "dim_heads", a->dim_heads, NULL, NULL, err);
    if (!s) s = emo_list(root, "window_sizes", a->window_sizes, NULL, NULL, err);
    if (!s) s = emo_list(root, "exp_ratios", NULL, a->exp_ratios, NULL, err);
    if (!s) s = emo_list(root, "se_ratios", NULL, a->se_ratios, NULL, err);
    if (!s) s = emo_list(root, "norm_layers", NULL, NULL, a->norm_layers, err);
    if (!s) s = emo_list(root, "act_layers", NULL, NULL, a->act_layers, err);
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(root, "attn_ss");
    if (!s && as) {
        if (!cJSON_IsArray(as) || cJSON_GetArraySize(as) != EMO_STAGES)
            s = va_fail(err, VA_ERR_CONFIG, "emo config: 'attn_ss' must be a list of %d booleans",
                        EMO_STAGES);
        for (int i = 0; !s && i < EMO_STAGES; i++) {
            const cJSON *v = cJSON_GetArrayItem(as, i);
            if (!cJSON_IsBool(v))
                s = va_fail(err, VA_ERR_CONFIG, "emo config: 'attn_ss' must list booleans");
            else
                attn[i] = cJSON_IsTrue(v);
        }
    }
    cJSON_Delete(root);
    VA_TRY(s);
    for (int i = 0; i < EMO_STAGES; i++)
        a->attn_ss[i] = attn[i];
    int total = 0;
    for (int i = 0; i < EMO_STAGES; i++) {
        if (a->depths[i] < 1 || a->embed_dims[i] < 1)
            return va_fail(err, VA_ERR_CONFIG,
                           "emo config: stage %d: depths and embed_dims must be >= 1", i + 1);
        total += a->depths[i];
    }
    if (total + 1 > EMO_MAX_BLOCKS)
        return va_fail(err, VA_ERR_UNSUPPORTED, "emo config: more than %d iRMBs",
                       EMO_MAX_BLOCKS - 1);
    if (a->dim_in < 1 || a->stem_dim < 1 || a->num_classes < 1 || a->pre_dim < 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "emo config: dim_in, stem_dim and num_classes must be >= 1, pre_dim >= 0");
    return VA_OK;
}

static va_status emo_norm_kind(const char *name, emo_norm *out, va_error *err) {
    static const struct {
        const char *name;
        emo_norm kind;
    } k[] = {{"bn_2d", EMO_NORM_BN},
             {"ln_2d", EMO_NORM_LN},
             {"in_2d", EMO_NORM_IN},
             {"none", EMO_NORM_NONE}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(name, k[i].name) == 0) return *out = k[i].kind, VA_OK;
    return va_fail(err, VA_ERR_CONFIG, "emo config: norm '%s' (bn_2d, ln_2d, in_2d, none)", name);
}

static va_status emo_norm_init(emo_norm_layer *n, const char *name, int channels, va_error *err) {
    VA_TRY(emo_norm_kind(name, &n->kind, err));
    n->channels = channels;
    if (n->kind != EMO_NORM_BN && n->kind != EMO_NORM_LN) return VA_OK;
    VA_TRY(va_check_weight_count("emo config: norm channels", 4 * (int64_t)channels, err));
    if (!(n->w = calloc(4 * (size_t)channels, sizeof(float))))
        return va_fail(err, VA_ERR_NOMEM, "emo: out of memory");
    n->b = n->w + channels, n->mean = n->b + channels, n->var = n->mean + channels;
    return VA_OK;
}

/* BN keys "<p>weight|bias|running_mean|running_var"; EMO's LayerNorm2d "<p>norm.weight|bias". */
static va_status emo_norm_load(emo_norm_layer *n, va_weights *w, const char *p, va_error *err) {
    const int64_t c = n->channels;
    if (n->kind == EMO_NORM_BN) {
        VA_TRY(va_weights_get(w, p, "weight", 1, &c, n->w, err));
        VA_TRY(va_weights_get(w, p, "bias", 1, &c, n->b, err));
        VA_TRY(va_weights_get(w, p, "running_mean", 1, &c, n->mean, err));
        return va_weights_get(w, p, "running_var", 1, &c, n->var, err);
    }
    if (n->kind == EMO_NORM_LN) {
        VA_TRY(va_weights_get(w, p, "norm.weight", 1, &c, n->w, err));
        return va_weights_get(w, p, "norm.bias", 1, &c, n->b, err);
    }
    return VA_OK;
}

static va_status emo_norm_apply(const emo_norm_layer *n, const va_tensor *x, va_tensor *y,
                                va_error *err) {
    switch (n->kind) {
    case EMO_NORM_BN: return va_batchnorm2d(x, n->w, n->b, n->mean, n->var, EMO_EPS, y, err);
    case EMO_NORM_LN: return va_layer_norm2d(x, n->w, n->b, EMO_EPS, y, err);
    case EMO_NORM_IN: return va_group_norm(x, n->channels, NULL, NULL, EMO_EPS, y, err);
    default: return VA_OK; /* none: the callers skip it */
    }
}

/* ---- Create ---------------------------------------------------------------------------------- */

/* One iRMB's config, as EMO builds it. */
static va_status emo_add_block(emo_net *m, const char *prefix, int in, int out, int norm_in,
                               int has_skip, double exp_ratio, int stage, int v_proj, int stride,
                               double se_ratio, int attn_s, va_error *err) {
    const emo_args *a = &m->a;
    char json[1024];
    snprintf(json, sizeof json,
             "{\"dim_in\": %d, \"dim_out\": %d, \"norm_in\": %s, \"has_skip\": %s, "
             "\"exp_ratio\": %.17g, \"norm_layer\": \"%s\", \"act_layer\": \"%s\", \"v_proj\": %s, "
             "\"dw_ks\": %d, \"stride\": %d, \"dilation\": 1, \"se_ratio\": %.17g, "
             "\"dim_head\": %d, \"window_size\": %d, \"attn_s\": %s, \"qkv_bias\": %s, "
             "\"v_group\": %s, \"attn_pre\": %s}",
             in, out, norm_in ? "true" : "false", has_skip ? "true" : "false", exp_ratio,
             a->norm_layers[stage], a->act_layers[stage], v_proj ? "true" : "false",
             a->dw_kss[stage], stride, se_ratio, a->dim_heads[stage], a->window_sizes[stage],
             attn_s ? "true" : "false", a->qkv_bias ? "true" : "false",
             a->v_group ? "true" : "false", a->attn_pre ? "true" : "false");
    const int k = m->num_blocks;
    snprintf(m->prefix[k], sizeof m->prefix[k], "%s", prefix);
    va_status s = va_block_create("irmb", json, &m->blocks[k], err);
    if (s != VA_OK) {
        char where[64];
        snprintf(where, sizeof where, "emo config: %.23s", prefix);
        return va_error_prefix(err, where);
    }
    m->num_blocks++;
    return VA_OK;
}

static va_status emo_create(va_block *b, const va_config *cfg, va_error *err) {
    emo_net *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "emo: out of memory");
    b->self = m;
    VA_TRY(emo_read_config(b, cfg, &m->a, err));
    const emo_args *a = &m->a;
    /* MSPatchEmb with one dilation (EMO passes dilations=[1], c_group=1): padding
     * ceil(((k - 1) + 1 - stride) / 2). */
    const int k = a->dw_kss[0];
    va_conv2d_desc_init(&m->stem, a->dim_in, a->stem_dim, k);
    m->stem.stride_h = m->stem.stride_w = 2;
    m->stem.pad_h = m->stem.pad_w = (k - 2 + 1) / 2 > 0 ? (k - 2 + 1) / 2 : 0;
    if (va_conv2d_check(&m->stem, err) != VA_OK) return va_error_prefix(err, "emo config: stem");
    m->stem_w = calloc((size_t)a->stem_dim * a->dim_in * k * k, sizeof(float));
    m->stem_b = calloc((size_t)a->stem_dim, sizeof(float));
    if (!m->stem_w || !m->stem_b) return va_fail(err, VA_ERR_NOMEM, "emo: out of memory");
    m->stem.weight = m->stem_w, m->stem.bias = m->stem_b;
    VA_TRY(emo_norm_init(&m->stem_norm, a->norm_layers[0], a->stem_dim, err));
    VA_TRY(
        emo_add_block(m, "stage0.1.", a->stem_dim, a->stem_dim, 0, 0, 1.0, 0, 0, 1, 1.0, 0, err));
    int prev = a->stem_dim;
    for (int i = 0; i < EMO_STAGES; i++)
        for (int j = 0; j < a->depths[i]; j++) {
            char p[24];
            snprintf(p, sizeof p, "stage%d.%d.", i + 1, j);
            const int first = j == 0;
            VA_TRY(emo_add_block(m, p, prev, a->embed_dims[i], 1, !first,
                                 first ? a->exp_ratios[i] * 2 : a->exp_ratios[i], i, 1,
                                 first ? 2 : 1, a->se_ratios[i], first ? 0 : a->attn_ss[i], err));
            prev = a->embed_dims[i];
        }
    VA_TRY(emo_norm_init(&m->norm, a->norm_layers[EMO_STAGES - 1], prev, err));
    m->pre_dim = a->pre_dim;
    const int feat = a->pre_dim > 0 ? a->pre_dim : prev;
    if (a->pre_dim > 0) {
        const char *act = a->act_layers[EMO_STAGES - 1];
        m->pre_prelu = strcmp(act, "prelu") == 0;
        /* EMO's get_act names where va_act's differ. */
        static const char *const alias[][2] = {
            {"hsigmoid", "hardsigmoid"}, {"hswish", "hardswish"}, {"hmish", "hardmish"}};
        const char *vname = act;
        for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
            if (strcmp(act, alias[i][0]) == 0) vname = alias[i][1];
        const int f = m->pre_prelu ? (int)VA_ACT_NONE : va_act_from_name(vname);
        if (f < 0) return va_fail(err, VA_ERR_CONFIG, "emo config: act_layers: unknown '%s'", act);
        m->pre_act = (va_act)f;
        VA_TRY(va_check_weight_count("emo config: pre_dim", (int64_t)prev * feat + feat, err));
        m->pre_w = calloc((size_t)prev * feat + feat, sizeof(float));
        if (!m->pre_w) return va_fail(err, VA_ERR_NOMEM, "emo: out of memory");
        m->pre_b = m->pre_w + (size_t)prev * feat;
    }
    VA_TRY(va_check_weight_count("emo config: num_classes", (int64_t)feat * a->num_classes, err));
    m->head_w = calloc((size_t)feat * a->num_classes + a->num_classes, sizeof(float));
    if (!m->head_w) return va_fail(err, VA_ERR_NOMEM, "emo: out of memory");
    m->head_b = m->head_w + (size_t)feat * a->num_classes;
    /* What the model declares: ImageNet's normalisation, as EMO's data pipeline uses. */
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    va_model_info info = {.in_channels = a->dim_in,
                          .input_h = a->img_size,
                          .input_w = a->img_size,
                          .num_norm = a->dim_in == 3 ? 3 : 0,
                          .mean = mean,
                          .std = std,
                          .num_classes = a->num_classes};
    return va_block_set_info(b, &info, err);
}

/* ---- Load ------------------------------------------------------------------------------------ */

static va_status emo_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    emo_net *m = b->self;
    const emo_args *a = &m->a;
    char p[256];
    const int64_t k = a->dw_kss[0], ws[4] = {a->stem_dim, a->dim_in, k, k}, sd = a->stem_dim;
    snprintf(p, sizeof p, "%sstage0.0.convs.0.", prefix);
    VA_TRY(va_weights_get(w, p, "0.weight", 4, ws, m->stem_w, err));
    VA_TRY(va_weights_get(w, p, "0.bias", 1, &sd, m->stem_b, err));
    snprintf(p, sizeof p, "%sstage0.0.convs.0.1.", prefix);
    VA_TRY(emo_norm_load(&m->stem_norm, w, p, err));
    if (m->stem_norm.kind == EMO_NORM_BN) { /* fold it into the stem conv */
        const emo_norm_layer *n = &m->stem_norm;
        va_fold_batchnorm(m->stem_w, m->stem_b, sd, a->dim_in * k * k, n->w, n->b, n->mean, n->var,
                          EMO_EPS);
    }
    for (int i = 0; i < m->num_blocks; i++) {
        snprintf(p, sizeof p, "%s%s", prefix, m->prefix[i]);
        VA_TRY(va_block_load(m->blocks[i], w, p, err));
    }
    snprintf(p, sizeof p, "%snorm.", prefix);
    VA_TRY(emo_norm_load(&m->norm, w, p, err));
    const int64_t c = m->norm.channels, feat = m->pre_dim > 0 ? m->pre_dim : c, nc = a->num_classes,
                  one = 1;
    if (m->pre_dim > 0) {
        const int64_t s[2] = {feat, c};
        snprintf(p, sizeof p, "%spre_head.", prefix);
        VA_TRY(va_weights_get(w, p, "0.weight", 2, s, m->pre_w, err));
        VA_TRY(va_weights_get(w, p, "0.bias", 1, &feat, m->pre_b, err));
        if (m->pre_prelu) VA_TRY(va_weights_get(w, p, "1.weight", 1, &one, &m->pre_slope, err));
    }
    const int64_t hs[2] = {nc, feat};
    snprintf(p, sizeof p, "%shead.", prefix);
    VA_TRY(va_weights_get(w, p, "weight", 2, hs, m->head_w, err));
    return va_weights_get(w, p, "bias", 1, &nc, m->head_b, err);
}

/* ---- Shapes, forward, cost ------------------------------------------------------------------- */

static va_status emo_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                               va_error *err) {
    const emo_net *m = b->self;
    if (in[1] != m->a.dim_in)
        return va_fail(err, VA_ERR_SHAPE, "emo: input has %lld channels, expected dim_in %d",
                       (long long)in[1], m->a.dim_in);
    int64_t s[4] = {in[0], m->a.stem_dim, 0, 0};
    VA_TRY(va_conv2d_out_hw(&m->stem, in[2], in[3], &s[2], &s[3], err));
    for (int i = 0; i < m->num_blocks; i++)
        VA_TRY(va_block_out_shape(m->blocks[i], s, s, err));
    out[0] = in[0], out[1] = m->a.num_classes, out[2] = out[3] = 1;
    return VA_OK;
}

static va_status emo_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                             va_error *err) {
    va_arena *ws = va_run_arena(r);
    const emo_net *m = b->self;
    const int64_t n = x->shape[0];
    int64_t oh, ow;
    VA_TRY(va_conv2d_out_hw(&m->stem, x->shape[2], x->shape[3], &oh, &ow, err));
    va_tensor cur, next;
    VA_TRY(va_arena_tensor4(ws, &cur, n, m->a.stem_dim, oh, ow, err));
    VA_TRY(va_conv2d(&m->stem, x, &cur, ws, err));
    if (m->stem_norm.kind != EMO_NORM_BN && m->stem_norm.kind != EMO_NORM_NONE)
        VA_TRY(emo_norm_apply(&m->stem_norm, &cur, &cur, err));
    int slot = 0;
    for (int i = 0; i < m->num_blocks; i++) {
        int64_t s[4];
        VA_TRY(va_block_out_shape(m->blocks[i], cur.shape, s, err));
        VA_TRY(va_arena_tensor(ws, &next, 4, s, err));
        va_run_scope scope;
        va_run_scope_push(r, slot, m->prefix[i], &scope);
        va_status st = va_block_forward(m->blocks[i], r, &cur, &next, err);
        slot += va_run_scope_pop(r, &scope);
        VA_TRY(st);
        cur = next;
        /* After a stage's last block: the channel mean of its output, as the backbone records. */
        const int stage = m->prefix[i][5] - '0';
        if (va_run_want_maps(r) && stage >= 1 &&
            (i + 1 == m->num_blocks || m->prefix[i + 1][5] - '0' != stage)) {
            char name[VA_MAP_NAME_LEN];
            va_tensor *e;
            snprintf(name, sizeof name, "stage%d.energy", stage);
            VA_TRY(va_run_map_prepare(r, slot++, name, n, 1, cur.shape[2], cur.shape[3], &e, err));
            VA_TRY(va_channel_mean(&cur, e, err));
        }
    }
    if (m->norm.kind != EMO_NORM_NONE) VA_TRY(emo_norm_apply(&m->norm, &cur, &cur, err));
    const int64_t c = cur.shape[1], feat = m->pre_dim > 0 ? m->pre_dim : c;
    va_tensor pooled, pre;
    VA_TRY(va_arena_tensor4(ws, &pooled, n, c, 1, 1, err));
    VA_TRY(va_global_avgpool(&cur, &pooled, err));
    const float *h = pooled.data;
    if (m->pre_dim > 0) {
        VA_TRY(va_arena_tensor4(ws, &pre, n, feat, 1, 1, err));
        VA_TRY(va_linear(pooled.data, n, c, m->pre_w, m->pre_b, feat, pre.data, err));
        if (m->pre_prelu)
            for (int64_t i = 0; i < n * feat; i++)
                pre.data[i] = pre.data[i] > 0.0f ? pre.data[i] : m->pre_slope * pre.data[i];
        else
            va_act_apply(m->pre_act, pre.data, pre.data, n * feat);
        h = pre.data;
    }
    VA_TRY(va_linear(h, n, feat, m->head_w, m->head_b, m->a.num_classes, y->data, err));
    /* The class activation map of the top class, where the head reads the pooled features
     * directly (no pre_head between them). */
    if (!va_run_want_maps(r) || m->pre_dim > 0) return VA_OK;
    va_tensor *cam;
    VA_TRY(va_run_map_prepare(r, slot, "cam", n, 1, cur.shape[2], cur.shape[3], &cam, err));
    return va_class_activation_map(&cur, m->head_w, y->data, m->a.num_classes, cam, err);
}

static va_status emo_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    const emo_net *m = b->self;
    int64_t s[4] = {in[0], m->a.stem_dim, 0, 0};
    VA_TRY(va_conv2d_out_hw(&m->stem, in[2], in[3], &s[2], &s[3], err));
    const int k = m->a.dw_kss[0];
    va_cost_conv2d(cost, m->a.dim_in, m->a.stem_dim, k, k, 1, 1, s[0], s[2], s[3]);
    if (m->stem_norm.kind == EMO_NORM_BN || m->stem_norm.kind == EMO_NORM_LN)
        va_cost_params(cost, 2 * (int64_t)m->a.stem_dim);
    va_cost_elementwise(cost, s[0] * s[1] * s[2] * s[3], VA_FLOPS_BN);
    for (int i = 0; i < m->num_blocks; i++) {
        va_cost c;
        VA_TRY(va_block_cost(m->blocks[i], s, &c, err));
        cost->params += c.params, cost->macs += c.macs, cost->flops += c.flops;
        VA_TRY(va_block_out_shape(m->blocks[i], s, s, err));
    }
    const int64_t c = s[1], feat = m->pre_dim > 0 ? m->pre_dim : c;
    if (m->norm.kind == EMO_NORM_BN || m->norm.kind == EMO_NORM_LN) va_cost_params(cost, 2 * c);
    va_cost_elementwise(cost, s[0] * c * s[2] * s[3], VA_FLOPS_BN + VA_FLOPS_POOL);
    if (m->pre_dim > 0) {
        va_cost_linear(cost, s[0], c, feat, 1);
        va_cost_elementwise(cost, s[0] * feat, VA_FLOPS_ACT);
        if (m->pre_prelu) va_cost_params(cost, 1);
    }
    va_cost_linear(cost, s[0], feat, m->a.num_classes, 1);
    return VA_OK;
}

static void emo_destroy(va_block *b) {
    emo_net *m = b->self;
    if (!m) return;
    for (int i = 0; i < m->num_blocks; i++)
        va_block_destroy(m->blocks[i]);
    free(m->stem_w);
    free(m->stem_b);
    free(m->stem_norm.w);
    free(m->norm.w);
    free(m->pre_w);
    free(m->head_w);
    free(m);
}

#define EMO_OPS(var, reg_name, text)                                                               \
    const va_block_ops var = {.name = reg_name,                                                    \
                              .kind = VA_KIND_MODEL,                                               \
                              .summary = text,                                                     \
                              .create = emo_create,                                                \
                              .load = emo_load,                                                    \
                              .out_shape = emo_out_shape,                                          \
                              .forward = emo_forward,                                              \
                              .cost = emo_cost,                                                    \
                              .destroy = emo_destroy}

EMO_OPS(va_emo_ops, "emo",
        "EMO (zhangzjn/EMO model/emo.py): iRMB stages, the constructor's defaults");
EMO_OPS(va_emo_1m_ops, "EMO_1M", "EMO-1M (1.3M params): EMO with the EMO_1M stage table");
EMO_OPS(va_emo_2m_ops, "EMO_2M", "EMO-2M (2.3M params): EMO with the EMO_2M stage table");
EMO_OPS(va_emo_5m_ops, "EMO_5M", "EMO-5M (5.1M params): EMO with the EMO_5M stage table");
EMO_OPS(va_emo_6m_ops, "EMO_6M", "EMO-6M (6.1M params): EMO with the EMO_6M stage table");
