/* RegNetY as torchvision 0.14 builds it (torchvision/models/regnet.py), with the SE as an
 * attention slot: BlockParams.from_init_params turned into units for the network engine (net.h).
 *
 *   stem          stem.0 3x3 conv 3 -> stem_width (32), stride 2; stem.1 BN; ReLU (NET_CONV_BN_ACT)
 *   trunk_output  stages block1..blockS, blocks trunk_output.block<s>.block<s>-<j>.  (NET_RESIDUAL)
 *                 f.a 1x1 conv-BN-ReLU to w_b = round(width * bottleneck_multiplier)
 *                 f.b 3x3 conv-BN-ReLU, stride 2 in a stage's first block, w_b / group_width
 *                     groups
 *                 f.se the slot: torchvision's SqueezeExcitation by default (visattn's "se":
 *                     squeeze round(se_ratio * the block's INPUT width), ReLU, Sigmoid)
 *                 f.c 1x1 conv-BN to width, no activation
 *                 proj.0/1 1x1 conv (stride) + BN when the width or resolution changes, else
 *                 identity; out = ReLU(shortcut + f)
 *   avgpool, fc   global average pool, Linear(last width, num_classes)       (NET_HEAD)
 *
 * The widths: block i's continuous width w_0 + i * w_a is snapped to w_0 * w_m^round(log_w_m(
 * (w_0 + i * w_a) / w_0)), rounded to a multiple of 8 (in float32, as torch computes it); runs of
 * equal widths are the stages, each of stride 2; then each stage's group width becomes
 * min(group_width, w_b) and w_b is made divisible by it (_make_divisible), the stage width
 * following. BN eps 1e-5 (the builders' norm_layer).
 *
 * The slot's config: attention (a registered block; "se" by default when se_ratio is set, none
 * otherwise; null removes it: RegNetX-like), attention_args, attention_reduction (other blocks,
 * default 4, of the w_b channels); weights under "<block prefix>f.se.", maps under the block's
 * prefix ("trunk_output.block2.block2-0.channel"); without a slot "trunk_output.block<s>.energy",
 * the channel mean of each stage's output; "cam" from the head. regnet_y_400mf ... regnet_y_128gf
 * are the builders (num_classes, stem_width); "regnet" takes BlockParams.from_init_params'
 * arguments. docs/networks/regnet.md. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

#define RG_MAX_DEPTH 128
#define RG_MAX_WIDTH (1 << 20)

/* BlockParams.from_init_params' arguments; se_ratio 0 stands for torchvision's None. */
typedef struct rg_params {
    int depth, w_0, group_width;
    double w_a, w_m, bottleneck_multiplier, se_ratio;
} rg_params;

static const struct {
    const char *name;
    rg_params p;
} rg_variants[] = {
    {"regnet", {0, 0, 0, 0.0, 0.0, 1.0, 0.0}}, /* depth, w_0, w_a, w_m, group_width: required */
    {"regnet_y_400mf", {16, 48, 8, 27.89, 2.09, 1.0, 0.25}},
    {"regnet_y_800mf", {14, 56, 16, 38.84, 2.4, 1.0, 0.25}},
    {"regnet_y_1_6gf", {27, 48, 24, 20.71, 2.65, 1.0, 0.25}},
    {"regnet_y_3_2gf", {21, 80, 24, 42.63, 2.66, 1.0, 0.25}},
    {"regnet_y_8gf", {17, 192, 56, 76.82, 2.19, 1.0, 0.25}},
    {"regnet_y_16gf", {18, 200, 112, 106.23, 2.48, 1.0, 0.25}},
    {"regnet_y_32gf", {20, 232, 232, 115.89, 2.53, 1.0, 0.25}},
    {"regnet_y_128gf", {27, 456, 264, 160.83, 2.52, 1.0, 0.25}},
};

typedef struct rg_stage {
    int width, depth, group_width;
} rg_stage;

/* BlockParams.from_init_params: the stages (*num of them) of p. */
static va_status rg_stages(const char *what, const rg_params *p, rg_stage *st, int *num,
                           va_error *err) {
    /* torch computes the block widths on float32 tensors: so does this. */
    const float w0 = (float)p->w_0, wa = (float)p->w_a, wm = (float)p->w_m;
    const float log_wm = (float)log(p->w_m);
    int n = 0, prev = -1;
    for (int i = 0; i < p->depth; i++) {
        const float cont = (float)i * wa + w0;
        const float capacity = nearbyintf(logf(cont / w0) / log_wm);
        const float w = nearbyintf(w0 * powf(wm, capacity) / 8.0f) * 8.0f;
        if (!(w >= 0.0f && w <= (float)RG_MAX_WIDTH))
            return va_fail(err, VA_ERR_CONFIG, "%s config: block widths beyond %d", what,
                           RG_MAX_WIDTH);
        if ((int)w != prev) st[n++] = (rg_stage){.width = (int)w, .depth = 0};
        st[n - 1].depth++;
        prev = (int)w;
    }
    /* _adjust_widths_groups_compatibilty, in double as Python does it. */
    const double b = p->bottleneck_multiplier;
    for (int s = 0; s < n; s++) {
        const int w_bot = (int)(st[s].width * b);
        const int g = p->group_width < w_bot ? p->group_width : w_bot;
        if (g < 1)
            return va_fail(err, VA_ERR_CONFIG,
                           "%s config: stage %d's bottleneck width int(%d * %g) is 0", what, s + 1,
                           st[s].width, b);
        int v = (int)(w_bot + g / 2.0) / g * g; /* _make_divisible(w_bot, g) */
        if (v < g) v = g;
        if (v < 0.9 * w_bot) v += g;
        st[s].width = (int)(v / b);
        st[s].group_width = g;
    }
    *num = n;
    return VA_OK;
}

static void rg_conv(net_conv_desc *c, int cin, int cout, int k, int stride, int groups, va_act act,
                    const char *conv, const char *bn) {
    *c = (net_conv_desc){.cin = cin,
                         .cout = cout,
                         .kernel = k,
                         .stride = stride,
                         .pad = (k - 1) / 2, /* Conv2dNormActivation's default */
                         .dilation = 1,
                         .groups = groups,
                         .act = act,
                         .bn_eps = 1e-5f};
    snprintf(c->conv, sizeof c->conv, "%s", conv);
    snprintf(c->bn, sizeof c->bn, "%s", bn);
}

/* RegNet.__init__ over the stages: the unit table, then va_net_build. */
static va_status rg_build(va_block *b, const char *what, const rg_params *p, const rg_stage *st,
                          int nst, int stem_width, int num_classes, const char *attn,
                          const cJSON *args, int reduction, va_error *err) {
    int total = 2;
    for (int s = 0; s < nst; s++)
        total += st[s].depth;
    net_unit_desc *u;
    char **json;
    VA_TRY(va_net_table_alloc(total, &u, &json, what, err));
    va_status s = VA_OK;
    int n = 0, width_in = stem_width;
    u[n].kind = NET_CONV_BN_ACT;
    snprintf(u[n].prefix, sizeof u[n].prefix, "stem.");
    rg_conv(&u[n++].conv[0], 3, stem_width, 3, 2, 1, VA_ACT_RELU, "0", "1");
    for (int i = 0; i < nst && !s; i++) {
        const int width = st[i].width;
        const int w_b = (int)nearbyint(width * p->bottleneck_multiplier);
        const int groups = w_b / st[i].group_width;
        for (int j = 0; j < st[i].depth && !s; j++, n++) {
            net_unit_desc *d = &u[n];
            const int stride = j ? 1 : 2;
            d->kind = NET_RESIDUAL;
            if (snprintf(d->prefix, sizeof d->prefix, "trunk_output.block%d.block%d-%d.", i + 1,
                         i + 1, j) >= (int)sizeof d->prefix) {
                s = va_fail(err, VA_ERR_CONFIG, "%s config: more blocks than keys of %d characters",
                            what, NET_KEY_LEN - 1);
                break;
            }
            if (groups < 1) {
                s = va_fail(err, VA_ERR_CONFIG,
                            "%s config: stage %d's bottleneck width %d is below its group width %d",
                            what, i + 1, w_b, st[i].group_width);
                break;
            }
            d->nconv = 3;
            rg_conv(&d->conv[0], width_in, w_b, 1, 1, 1, VA_ACT_RELU, "f.a.0", "f.a.1");
            rg_conv(&d->conv[1], w_b, w_b, 3, stride, groups, VA_ACT_RELU, "f.b.0", "f.b.1");
            rg_conv(&d->conv[2], w_b, width, 1, 1, 1, VA_ACT_NONE, "f.c.0", "f.c.1");
            if (width_in != width || stride != 1) {
                d->has_down = 1;
                rg_conv(&d->down, width_in, width, 1, stride, 1, VA_ACT_NONE, "proj.0", "proj.1");
            }
            d->out_act = VA_ACT_RELU;
            if (attn[0]) {
                const int squeeze = (int)nearbyint(p->se_ratio * width_in);
                if (strcmp(attn, "se") == 0 && squeeze < 1) {
                    s = va_fail(err, VA_ERR_CONFIG,
                                "%s config: se_ratio %g gives %s no squeeze channels", what,
                                p->se_ratio, d->prefix);
                    break;
                }
                snprintf(d->attn, sizeof d->attn, "%s", attn);
                snprintf(d->attn_key, sizeof d->attn_key, "f.se");
                d->slot_after = 1;
                s = va_net_se_slot_json(what, attn, args, reduction, w_b, squeeze, "relu",
                                        "sigmoid", &json[n], err);
                d->attn_json = json[n];
            } else if (j + 1 == st[i].depth) {
                snprintf(d->energy, sizeof d->energy, "trunk_output.block%d.energy", i + 1);
            }
            width_in = width;
        }
    }
    u[n].kind = NET_HEAD;
    u[n].in_features = width_in;
    u[n].num_classes = num_classes;
    snprintf(u[n].fc, sizeof u[n].fc, "fc");
    if (!s) s = va_net_build(b, what, u, total, err);
    va_net_table_free(u, json, total);
    return s;
}

/* The generic model's BlockParams.from_init_params arguments, checked as torchvision does. */
static va_status rg_read_params(const char *what, const va_config *cfg, rg_params *p,
                                va_error *err) {
    static const char *const required[] = {"depth", "w_0", "w_a", "w_m", "group_width"};
    for (int i = 0; i < 5; i++)
        if (!va_cfg_has(cfg, required[i]))
            return va_fail(err, VA_ERR_CONFIG,
                           "%s config: '%s' is required (depth, w_0, w_a, w_m, group_width)", what,
                           required[i]);
    VA_TRY(va_cfg_int(cfg, "depth", 0, &p->depth, err));
    VA_TRY(va_cfg_int(cfg, "w_0", 0, &p->w_0, err));
    VA_TRY(va_cfg_float(cfg, "w_a", 0, &p->w_a, err));
    VA_TRY(va_cfg_float(cfg, "w_m", 0, &p->w_m, err));
    VA_TRY(va_cfg_int(cfg, "group_width", 0, &p->group_width, err));
    VA_TRY(va_cfg_float(cfg, "bottleneck_multiplier", 1.0, &p->bottleneck_multiplier, err));
    p->se_ratio = 0.0;
    if (!va_cfg_is_null(cfg, "se_ratio"))
        VA_TRY(va_cfg_float(cfg, "se_ratio", 0, &p->se_ratio, err));
    /* from_init_params' own check ("Invalid RegNet settings"). */
    if (p->w_a < 0 || p->w_0 <= 0 || p->w_m <= 1 || p->w_0 % 8 != 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: w_a must be >= 0, w_m > 1, w_0 a positive multiple of 8", what);
    if (p->depth < 1 || p->depth > RG_MAX_DEPTH)
        return va_fail(err, VA_ERR_CONFIG, "%s config: depth must be in 1..%d", what, RG_MAX_DEPTH);
    if (p->group_width < 1)
        return va_fail(err, VA_ERR_CONFIG, "%s config: group_width must be >= 1", what);
    if (!(p->bottleneck_multiplier > 0 && p->bottleneck_multiplier <= 64))
        return va_fail(err, VA_ERR_CONFIG, "%s config: bottleneck_multiplier must be in (0, 64]",
                       what);
    if (!(p->se_ratio >= 0 && p->se_ratio <= 64))
        return va_fail(err, VA_ERR_CONFIG, "%s config: se_ratio must be null or in [0, 64]", what);
    return VA_OK;
}

static va_status rg_create(va_block *b, const va_config *cfg, va_error *err) {
    const char *what = b->ops->name;
    int v = 0;
    for (size_t i = 0; i < sizeof rg_variants / sizeof *rg_variants; i++)
        if (strcmp(rg_variants[i].name, what) == 0) v = (int)i;
    /* torchvision's RegNet takes these as Python classes: visattn builds its defaults. */
    static const char *const classes[] = {"stem_type", "block_type", "norm_layer", "activation"};
    for (size_t i = 0; i < sizeof classes / sizeof *classes; i++)
        if (va_cfg_has(cfg, classes[i]))
            return va_fail(err, VA_ERR_CONFIG,
                           "%s config: '%s' is a Python class in torchvision; visattn builds the "
                           "default (SimpleStemIN, ResBottleneckBlock, BatchNorm2d eps 1e-5, ReLU)",
                           what, classes[i]);
    static const char *const init[] = {
        "depth", "w_0", "w_a", "w_m", "group_width", "bottleneck_multiplier", "se_ratio"};
    /* The builders pass these to BlockParams themselves; torchvision fails on them (given twice,
     * or unknown to RegNet). */
    for (size_t i = 0; v && i < sizeof init / sizeof *init; i++)
        if (va_cfg_has(cfg, init[i]))
            return va_fail(err, VA_ERR_CONFIG,
                           "%s config: '%s' is fixed by the builder (torchvision's %s does not "
                           "take it); the generic \"regnet\" does",
                           what, init[i], what);
    static const char *const keys[] = {"num_classes",
                                       "stem_width",
                                       "attention",
                                       "attention_args",
                                       "attention_reduction",
                                       "depth",
                                       "w_0",
                                       "w_a",
                                       "w_m",
                                       "group_width",
                                       "bottleneck_multiplier",
                                       "se_ratio",
                                       NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    rg_params p = rg_variants[v].p;
    int num_classes, stem_width, reduction, nst = 0;
    VA_TRY(va_cfg_int(cfg, "num_classes", 1000, &num_classes, err));
    VA_TRY(va_cfg_int(cfg, "stem_width", 32, &stem_width, err));
    if (num_classes < 1 || stem_width < 1)
        return va_fail(err, VA_ERR_CONFIG, "%s config: num_classes and stem_width must be >= 1",
                       what);
    if (!v) VA_TRY(rg_read_params(what, cfg, &p, err));
    rg_stage *st = malloc(RG_MAX_DEPTH * sizeof *st);
    if (!st) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    char attn[64];
    cJSON *root = NULL;
    const cJSON *args = NULL;
    va_status s = rg_stages(what, &p, st, &nst, err);
    if (!s)
        s = va_net_read_se_slot(what, cfg, p.se_ratio != 0.0 ? "se" : "", attn, &reduction, &root,
                                &args, err);
    if (!s && strcmp(attn, "se") == 0 && p.se_ratio == 0.0)
        s = va_fail(err, VA_ERR_CONFIG,
                    "%s config: attention se needs se_ratio (torchvision's squeeze channels: "
                    "round(se_ratio * the block's input width))",
                    what);
    if (!s) s = rg_build(b, what, &p, st, nst, stem_width, num_classes, attn, args, reduction, err);
    cJSON_Delete(root);
    free(st);
    VA_TRY(s);
    /* What the model declares: torchvision's ImageNet input (224 x 224, its mean and std). */
    return va_net_set_info(b, num_classes, 224, 1, NULL, NULL, err);
}

VA_NET_OPS(va_regnet_ops, "regnet", rg_create,
           "RegNet (torchvision): BlockParams' depth, w_0, w_a, w_m, ... and an SE slot");
VA_NET_OPS(va_regnet_y_400mf_ops, "regnet_y_400mf", rg_create,
           "RegNetY-400MF (torchvision regnet_y_400mf), SE slot");
VA_NET_OPS(va_regnet_y_800mf_ops, "regnet_y_800mf", rg_create,
           "RegNetY-800MF (torchvision regnet_y_800mf), SE slot");
VA_NET_OPS(va_regnet_y_1_6gf_ops, "regnet_y_1_6gf", rg_create,
           "RegNetY-1.6GF (torchvision regnet_y_1_6gf), SE slot");
VA_NET_OPS(va_regnet_y_3_2gf_ops, "regnet_y_3_2gf", rg_create,
           "RegNetY-3.2GF (torchvision regnet_y_3_2gf), SE slot");
VA_NET_OPS(va_regnet_y_8gf_ops, "regnet_y_8gf", rg_create,
           "RegNetY-8GF (torchvision regnet_y_8gf), SE slot");
VA_NET_OPS(va_regnet_y_16gf_ops, "regnet_y_16gf", rg_create,
           "RegNetY-16GF (torchvision regnet_y_16gf), SE slot");
VA_NET_OPS(va_regnet_y_32gf_ops, "regnet_y_32gf", rg_create,
           "RegNetY-32GF (torchvision regnet_y_32gf), SE slot");
VA_NET_OPS(va_regnet_y_128gf_ops, "regnet_y_128gf", rg_create,
           "RegNetY-128GF (torchvision regnet_y_128gf), SE slot");
