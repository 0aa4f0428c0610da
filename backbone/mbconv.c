/* MobileNetV3 and EfficientNet (B0-B7, V2-S/M/L) as torchvision 0.14 builds them
 * (torchvision/models/mobilenetv3.py, efficientnet.py), with the SE as an attention slot: the
 * builders' stage tables turned into units for the network engine (net.h).
 *
 *   features.0          3x3 conv 3 -> C0, stride 2; BN; Hardswish / SiLU      (NET_CONV_BN_ACT)
 *   inverted residuals  MobileNetV3: features.<i> (i = 1..)    EfficientNet: features.<s>.<j>
 *                       block.0 1x1 expand conv-BN-act (when expanded != input channels)
 *                       block.1 kxk depthwise conv-BN-act (stride; MobileNetV3 dilated: dilation
 *                               instead of stride)
 *                       block.2 the slot: torchvision's SqueezeExcitation by default (visattn's
 *                               "se"), MobileNetV3 only where use_se is set
 *                       block.3 1x1 projection conv-BN, no activation
 *                       (indices one less without the expansion); + input when stride 1 and the
 *                       channels stay (NET_RESIDUAL, identity or no shortcut). Stochastic depth:
 *                       identity in eval.
 *   fused (V2 stages 1-3) FusedMBConv: block.0 kxk conv-BN-SiLU with the stride to the expanded
 *                       channels, block.1 1x1 projection conv-BN; expand_ratio 1: block.0 alone,
 *                       kxk straight to the output. No SE, so no slot; the same shortcut rule.
 *   last conv           1x1 conv-BN-act to 6x (MobileNetV3) / 4x (EfficientNet B) channels,
 *                       1280 (V2)
 *   head                avgpool; MobileNetV3: classifier.0 Linear, Hardswish, Dropout,
 *                       classifier.3 Linear; EfficientNet: Dropout, classifier.1 Linear (NET_HEAD)
 *
 * BN eps: MobileNetV3 1e-3; EfficientNet B0-B4 1e-5 (nn.BatchNorm2d), B5-B7 and V2 1e-3. SE
 * squeeze: MobileNetV3 _make_divisible(expanded // 4, 8), ReLU, Hardsigmoid; EfficientNet
 * max(1, input_channels // 4), SiLU, Sigmoid. The slot's config: attention (a registered block,
 * "se" by default, null for none), attention_args, attention_reduction (blocks other than se,
 * default 4); its weights under "<block prefix>block.<k>.", its maps under the block's prefix
 * ("features.4.channel", "features.2.0.channel"); "cam" from the head.
 * docs/networks/mobilenet_efficientnet.md. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

#define MB_MAX_BLOCKS 80 /* efficientnet_v2_l has 79 */

/* One inverted residual of the stage table, channels already adjusted. fused: EfficientNetV2's
 * FusedMBConv (a full kxk conv instead of expand + depthwise, no SE). */
typedef struct mb_block {
    int cin, kernel, expanded, cout, stride, dilation, use_se, squeeze, fused;
    va_act act;
    char prefix[NET_KEY_LEN];
} mb_block;

typedef struct mb_net {
    const char *what;
    int stem, last, hidden, num_classes, nblocks, efficientnet;
    int nstages; /* EfficientNet: features.1 .. features.<nstages>, then the last conv */
    float eps;
    const float *mean, *std; /* the input normalisation declared; NULL: ImageNet's */
    va_act act;              /* stem and last conv */
    mb_block b[MB_MAX_BLOCKS];
} mb_net;

/* torchvision.models._utils._make_divisible(v, 8). */
static int make_divisible(double v) {
    int n = (int)(v + 4.0) / 8 * 8;
    if (n < 8) n = 8;
    if (n < 0.9 * v) n += 8;
    return n;
}

static void mb_conv(net_conv_desc *c, int cin, int cout, int k, int stride, int dilation,
                    int groups, va_act act, float eps, const char *conv, const char *bn) {
    *c = (net_conv_desc){.cin = cin,
                         .cout = cout,
                         .kernel = k,
                         .stride = stride,
                         .pad = (k - 1) / 2 * dilation, /* Conv2dNormActivation's default */
                         .dilation = dilation,
                         .groups = groups,
                         .act = act,
                         .bn_eps = eps};
    snprintf(c->conv, sizeof c->conv, "%s", conv);
    snprintf(c->bn, sizeof c->bn, "%s", bn);
}

/* The network's unit table from the stage table m, then va_net_build. */
static va_status mb_build(va_block *b, const mb_net *m, const char *attn, const cJSON *args,
                          int reduction, va_error *err) {
    const int total = m->nblocks + 3;
    net_unit_desc *u;
    char **json;
    VA_TRY(va_net_table_alloc(total, &u, &json, m->what, err));
    va_status s = VA_OK;
    int n = 0;
    u[n].kind = NET_CONV_BN_ACT;
    snprintf(u[n].prefix, sizeof u[n].prefix, "features.0.");
    mb_conv(&u[n++].conv[0], 3, m->stem, 3, 2, 1, 1, m->act, m->eps, "0", "1");
    for (int i = 0; i < m->nblocks && !s; i++, n++) {
        const mb_block *blk = &m->b[i];
        net_unit_desc *d = &u[n];
        char conv[NET_KEY_LEN], bn[NET_KEY_LEN];
        int k = 0; /* index in torchvision's block Sequential */
        d->kind = NET_RESIDUAL;
        snprintf(d->prefix, sizeof d->prefix, "%s", blk->prefix);
        d->no_shortcut = !(blk->stride == 1 && blk->cin == blk->cout);
        d->out_act = VA_ACT_NONE;
        if (blk->fused) {
            /* FusedMBConv: kxk conv-BN-SiLU with the stride, to the expanded channels and then a
             * 1x1 projection without activation, or (expansion 1) straight to the output. */
            const int expand = blk->expanded != blk->cin;
            mb_conv(&d->conv[d->nconv++], blk->cin, expand ? blk->expanded : blk->cout, blk->kernel,
                    blk->stride, 1, 1, blk->act, m->eps, "block.0.0", "block.0.1");
            if (expand)
                mb_conv(&d->conv[d->nconv++], blk->expanded, blk->cout, 1, 1, 1, 1, VA_ACT_NONE,
                        m->eps, "block.1.0", "block.1.1");
            continue;
        }
        if (blk->expanded != blk->cin) {
            mb_conv(&d->conv[d->nconv++], blk->cin, blk->expanded, 1, 1, 1, 1, blk->act, m->eps,
                    "block.0.0", "block.0.1");
            k++;
        }
        snprintf(conv, sizeof conv, "block.%d.0", k);
        snprintf(bn, sizeof bn, "block.%d.1", k);
        mb_conv(&d->conv[d->nconv++], blk->expanded, blk->expanded, blk->kernel,
                blk->dilation > 1 ? 1 : blk->stride, blk->dilation, blk->expanded, blk->act, m->eps,
                conv, bn);
        k++;
        if (blk->use_se) {
            if (attn[0]) {
                snprintf(d->attn, sizeof d->attn, "%s", attn);
                snprintf(d->attn_key, sizeof d->attn_key, "block.%d", k);
                d->slot_after = d->nconv - 1;
                s = va_net_se_slot_json(m->what, attn, args, reduction, blk->expanded, blk->squeeze,
                                        m->efficientnet ? "silu" : "relu",
                                        m->efficientnet ? "sigmoid" : "hardsigmoid", &json[n], err);
                d->attn_json = json[n];
            }
            k++; /* the index stays taken without a slot (torchvision's keys) */
        }
        snprintf(conv, sizeof conv, "block.%d.0", k);
        snprintf(bn, sizeof bn, "block.%d.1", k);
        mb_conv(&d->conv[d->nconv++], blk->expanded, blk->cout, 1, 1, 1, 1, VA_ACT_NONE, m->eps,
                conv, bn);
    }
    const int cin = m->b[m->nblocks - 1].cout;
    u[n].kind = NET_CONV_BN_ACT;
    snprintf(u[n].prefix, sizeof u[n].prefix, "features.%d.",
             m->efficientnet ? m->nstages + 1 : m->nblocks + 1);
    mb_conv(&u[n++].conv[0], cin, m->last, 1, 1, 1, 1, m->act, m->eps, "0", "1");
    u[n].kind = NET_HEAD;
    u[n].in_features = m->last;
    u[n].num_classes = m->num_classes;
    if (m->hidden) {
        u[n].hidden = m->hidden;
        u[n].hidden_act = VA_ACT_HARDSWISH;
        snprintf(u[n].fc_hidden, sizeof u[n].fc_hidden, "classifier.0");
        snprintf(u[n].fc, sizeof u[n].fc, "classifier.3");
    } else {
        snprintf(u[n].fc, sizeof u[n].fc, "classifier.1");
    }
    if (!s) s = va_net_build(b, m->what, u, total, err);
    va_net_table_free(u, json, total);
    return s;
}

/* ---- MobileNetV3 ------------------------------------------------------------------------------
 */

/* _mobilenet_v3_conf's bneck_conf rows: input, kernel, expanded, out, use_se, HS, stride,
 * dilated (the C4 stage: 2 when dilated). */
typedef struct mb3_row {
    int cin, kernel, expanded, cout, use_se, hs, stride, c4;
} mb3_row;

static const mb3_row mb3_large[] = {
    {16, 3, 16, 16, 0, 0, 1, 0},    {16, 3, 64, 24, 0, 0, 2, 0},    {24, 3, 72, 24, 0, 0, 1, 0},
    {24, 5, 72, 40, 1, 0, 2, 0},    {40, 5, 120, 40, 1, 0, 1, 0},   {40, 5, 120, 40, 1, 0, 1, 0},
    {40, 3, 240, 80, 0, 1, 2, 0},   {80, 3, 200, 80, 0, 1, 1, 0},   {80, 3, 184, 80, 0, 1, 1, 0},
    {80, 3, 184, 80, 0, 1, 1, 0},   {80, 3, 480, 112, 1, 1, 1, 0},  {112, 3, 672, 112, 1, 1, 1, 0},
    {112, 5, 672, 160, 1, 1, 2, 1}, {160, 5, 960, 160, 1, 1, 1, 1}, {160, 5, 960, 160, 1, 1, 1, 1},
};
static const mb3_row mb3_small[] = {
    {16, 3, 16, 16, 1, 0, 2, 0},  {16, 3, 72, 24, 0, 0, 2, 0},  {24, 3, 88, 24, 0, 0, 1, 0},
    {24, 5, 96, 40, 1, 1, 2, 0},  {40, 5, 240, 40, 1, 1, 1, 0}, {40, 5, 240, 40, 1, 1, 1, 0},
    {40, 5, 120, 48, 1, 1, 1, 0}, {48, 5, 144, 48, 1, 1, 1, 0}, {48, 5, 288, 96, 1, 1, 2, 1},
    {96, 5, 576, 96, 1, 1, 1, 1}, {96, 5, 576, 96, 1, 1, 1, 1},
};

/* Slot keys, common to both families. */
#define MB_SLOT_KEYS "attention", "attention_args", "attention_reduction"

static va_status mb_finish(va_block *b, const mb_net *m, const char *attn, const cJSON *args,
                           int reduction, int input, va_error *err) {
    VA_TRY(mb_build(b, m, attn, args, reduction, err));
    /* What the model declares: torchvision's ImageNet input (its weights' crop, mean and std). */
    return va_net_set_info(b, m->num_classes, input, 1, m->mean, m->std, err);
}

static va_status mb3_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {
        "num_classes", "width_mult", "reduced_tail", "dilated", "dropout", MB_SLOT_KEYS, NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    const int large = strcmp(b->ops->name, "mobilenet_v3_large") == 0;
    mb_net *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", b->ops->name);
    m->what = b->ops->name;
    double width, dropout;
    int reduced, dilated, reduction;
    va_status s = va_cfg_int(cfg, "num_classes", 1000, &m->num_classes, err);
    if (!s) s = va_cfg_float(cfg, "width_mult", 1.0, &width, err);
    if (!s) s = va_cfg_bool(cfg, "reduced_tail", 0, &reduced, err);
    if (!s) s = va_cfg_bool(cfg, "dilated", 0, &dilated, err);
    if (!s) s = va_cfg_float(cfg, "dropout", 0.2, &dropout, err); /* eval: Dropout is identity */
    if (!s && m->num_classes < 1)
        s = va_fail(err, VA_ERR_CONFIG, "%s config: num_classes must be >= 1", m->what);
    if (!s && !(width > 0 && width <= 16))
        s = va_fail(err, VA_ERR_CONFIG, "%s config: width_mult must be in (0, 16]", m->what);
    if (!s && !(dropout >= 0 && dropout <= 1))
        s = va_fail(err, VA_ERR_CONFIG, "%s config: dropout must be in [0, 1]", m->what);
    char attn[64];
    cJSON *root = NULL;
    const cJSON *args = NULL;
    if (!s) s = va_net_read_se_slot(m->what, cfg, "se", attn, &reduction, &root, &args, err);
    if (!s) {
        const mb3_row *rows = large ? mb3_large : mb3_small;
        const int nrows =
            large ? (int)(sizeof mb3_large / sizeof *rows) : (int)(sizeof mb3_small / sizeof *rows);
        const int div = reduced ? 2 : 1;
        m->efficientnet = 0;
        m->eps = 1e-3f;
        m->act = VA_ACT_HARDSWISH;
        m->nblocks = nrows;
        for (int i = 0; i < nrows; i++) {
            const mb3_row *r = &rows[i];
            mb_block *blk = &m->b[i];
            /* reduce_divider applies to the C4 stage's outputs (and what follows them). */
            const int c4_in = i > 0 && rows[i - 1].c4;
            blk->cin = make_divisible((c4_in ? r->cin / div : r->cin) * width);
            blk->kernel = r->kernel;
            blk->expanded =
                make_divisible((r->c4 && c4_in ? r->expanded / div : r->expanded) * width);
            blk->cout = make_divisible((r->c4 ? r->cout / div : r->cout) * width);
            blk->use_se = r->use_se;
            blk->act = r->hs ? VA_ACT_HARDSWISH : VA_ACT_RELU;
            blk->stride = r->stride;
            blk->dilation = r->c4 && dilated ? 2 : 1;
            blk->squeeze = make_divisible(blk->expanded / 4);
            snprintf(blk->prefix, sizeof blk->prefix, "features.%d.", i + 1);
        }
        m->stem = m->b[0].cin;
        m->last = 6 * m->b[nrows - 1].cout;
        m->hidden = make_divisible((large ? 1280 : 1024) / div * width);
        s = mb_finish(b, m, attn, args, reduction, 224, err);
    }
    cJSON_Delete(root);
    free(m);
    return s;
}

/* ---- EfficientNet -----------------------------------------------------------------------------
 */

/* A row of _efficientnet_conf: FusedMBConvConfig (fused) or MBConvConfig, then expand_ratio,
 * kernel, stride, input, out, num_layers. */
typedef struct effnet_row {
    int fused, expand, kernel, stride, cin, cout, layers;
} effnet_row;

static const effnet_row effnet_b_rows[] = {
    {0, 1, 3, 1, 32, 16, 1},   {0, 6, 3, 2, 16, 24, 2},  {0, 6, 5, 2, 24, 40, 2},
    {0, 6, 3, 2, 40, 80, 3},   {0, 6, 5, 1, 80, 112, 3}, {0, 6, 5, 2, 112, 192, 4},
    {0, 6, 3, 1, 192, 320, 1},
};
static const effnet_row effnet_v2_s_rows[] = {
    {1, 1, 3, 1, 24, 24, 2},  {1, 4, 3, 2, 24, 48, 4},   {1, 4, 3, 2, 48, 64, 4},
    {0, 4, 3, 2, 64, 128, 6}, {0, 6, 3, 1, 128, 160, 9}, {0, 6, 3, 2, 160, 256, 15},
};
static const effnet_row effnet_v2_m_rows[] = {
    {1, 1, 3, 1, 24, 24, 3},   {1, 4, 3, 2, 24, 48, 5},    {1, 4, 3, 2, 48, 80, 5},
    {0, 4, 3, 2, 80, 160, 7},  {0, 6, 3, 1, 160, 176, 14}, {0, 6, 3, 2, 176, 304, 18},
    {0, 6, 3, 1, 304, 512, 5},
};
static const effnet_row effnet_v2_l_rows[] = {
    {1, 1, 3, 1, 32, 32, 4},   {1, 4, 3, 2, 32, 64, 7},    {1, 4, 3, 2, 64, 96, 7},
    {0, 4, 3, 2, 96, 192, 10}, {0, 6, 3, 1, 192, 224, 19}, {0, 6, 3, 2, 224, 384, 25},
    {0, 6, 3, 1, 384, 640, 7},
};

/* EfficientNetV2-L's weights were trained on inputs scaled to [-1, 1]. */
static const float half[3] = {0.5f, 0.5f, 0.5f};

#define EFFNET_ROWS(r) r, (int)(sizeof r / sizeof *r)
static const struct {
    const char *name;
    double width, depth;
    float eps;
    int input; /* the crop of the builder's IMAGENET1K_V1 weights (their eval transforms) */
    const effnet_row *rows;
    int nrows;
    int last_channel;        /* 0: 4x the last stage's channels */
    const float *mean, *std; /* NULL: ImageNet's */
} effnet_variants[] = {
    {"efficientnet_b0", 1.0, 1.0, 1e-5f, 224, EFFNET_ROWS(effnet_b_rows), 0, NULL, NULL},
    {"efficientnet_b1", 1.0, 1.1, 1e-5f, 240, EFFNET_ROWS(effnet_b_rows), 0, NULL, NULL},
    {"efficientnet_b2", 1.1, 1.2, 1e-5f, 288, EFFNET_ROWS(effnet_b_rows), 0, NULL, NULL},
    {"efficientnet_b3", 1.2, 1.4, 1e-5f, 300, EFFNET_ROWS(effnet_b_rows), 0, NULL, NULL},
    {"efficientnet_b4", 1.4, 1.8, 1e-5f, 380, EFFNET_ROWS(effnet_b_rows), 0, NULL, NULL},
    {"efficientnet_b5", 1.6, 2.2, 1e-3f, 456, EFFNET_ROWS(effnet_b_rows), 0, NULL, NULL},
    {"efficientnet_b6", 1.8, 2.6, 1e-3f, 528, EFFNET_ROWS(effnet_b_rows), 0, NULL, NULL},
    {"efficientnet_b7", 2.0, 3.1, 1e-3f, 600, EFFNET_ROWS(effnet_b_rows), 0, NULL, NULL},
    /* V2: no multipliers, last_channel 1280, partial(nn.BatchNorm2d, eps=1e-03) everywhere. */
    {"efficientnet_v2_s", 1.0, 1.0, 1e-3f, 384, EFFNET_ROWS(effnet_v2_s_rows), 1280, NULL, NULL},
    {"efficientnet_v2_m", 1.0, 1.0, 1e-3f, 480, EFFNET_ROWS(effnet_v2_m_rows), 1280, NULL, NULL},
    {"efficientnet_v2_l", 1.0, 1.0, 1e-3f, 480, EFFNET_ROWS(effnet_v2_l_rows), 1280, half, half},
};

static va_status effnet_create(va_block *b, const va_config *cfg, va_error *err) {
    const char *what = b->ops->name;
    int v = 0;
    for (size_t i = 0; i < sizeof effnet_variants / sizeof *effnet_variants; i++)
        if (strcmp(effnet_variants[i].name, what) == 0) v = (int)i;
    const int v2 = effnet_variants[v].last_channel != 0;
    /* torchvision's efficientnet_* fix these; it would silently swallow width_mult and
     * depth_mult and fail on dropout (given twice) and, for B5-B7 and V2, norm_layer. */
    static const char *const fixed[] = {"width_mult", "depth_mult", "dropout", "norm_layer",
                                        "last_channel"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (va_cfg_has(cfg, fixed[i]))
            return va_fail(err, VA_ERR_CONFIG,
                           "%s config: '%s' is fixed by the builder (torchvision's %s does not "
                           "take it); pick another %s instead",
                           what, fixed[i], what, v2 ? "efficientnet_v2_*" : "efficientnet_b*");
    static const char *const keys[] = {"num_classes", "stochastic_depth_prob", MB_SLOT_KEYS, NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    mb_net *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    m->what = what;
    double sd_prob;
    int reduction;
    va_status s = va_cfg_int(cfg, "num_classes", 1000, &m->num_classes, err);
    /* Stochastic depth is identity in eval: read and checked only. */
    if (!s) s = va_cfg_float(cfg, "stochastic_depth_prob", 0.2, &sd_prob, err);
    if (!s && m->num_classes < 1)
        s = va_fail(err, VA_ERR_CONFIG, "%s config: num_classes must be >= 1", what);
    if (!s && !(sd_prob >= 0 && sd_prob <= 1))
        s = va_fail(err, VA_ERR_CONFIG, "%s config: stochastic_depth_prob must be in [0, 1]", what);
    char attn[64];
    cJSON *root = NULL;
    const cJSON *args = NULL;
    if (!s) s = va_net_read_se_slot(what, cfg, "se", attn, &reduction, &root, &args, err);
    if (!s) {
        const double w = effnet_variants[v].width, d = effnet_variants[v].depth;
        m->efficientnet = 1;
        m->nstages = effnet_variants[v].nrows;
        m->eps = effnet_variants[v].eps;
        m->mean = effnet_variants[v].mean;
        m->std = effnet_variants[v].std;
        m->act = VA_ACT_SILU;
        for (int st = 0; st < m->nstages; st++) {
            const effnet_row *r = &effnet_variants[v].rows[st];
            const int layers = (int)ceil(r->layers * d);
            const int cin = make_divisible(r->cin * w), cout = make_divisible(r->cout * w);
            for (int j = 0; j < layers; j++) {
                mb_block *blk = &m->b[m->nblocks++];
                blk->cin = j ? cout : cin;
                blk->cout = cout;
                blk->kernel = r->kernel;
                blk->stride = j ? 1 : r->stride;
                blk->dilation = 1;
                blk->expanded = make_divisible((double)blk->cin * r->expand);
                blk->fused = r->fused;
                blk->use_se = !r->fused;
                blk->squeeze = blk->cin / 4 > 1 ? blk->cin / 4 : 1;
                blk->act = VA_ACT_SILU;
                snprintf(blk->prefix, sizeof blk->prefix, "features.%d.%d.", st + 1, j);
            }
        }
        m->stem = m->b[0].cin;
        m->last = v2 ? effnet_variants[v].last_channel : 4 * m->b[m->nblocks - 1].cout;
        s = mb_finish(b, m, attn, args, reduction, effnet_variants[v].input, err);
    }
    cJSON_Delete(root);
    free(m);
    return s;
}

VA_NET_OPS(va_mobilenet_v3_small_ops, "mobilenet_v3_small", mb3_create,
           "MobileNetV3-Small (torchvision mobilenet_v3_small), SE slot");
VA_NET_OPS(va_mobilenet_v3_large_ops, "mobilenet_v3_large", mb3_create,
           "MobileNetV3-Large (torchvision mobilenet_v3_large), SE slot");
VA_NET_OPS(va_efficientnet_b0_ops, "efficientnet_b0", effnet_create,
           "EfficientNet-B0 (torchvision efficientnet_b0), SE slot");
VA_NET_OPS(va_efficientnet_b1_ops, "efficientnet_b1", effnet_create,
           "EfficientNet-B1 (torchvision efficientnet_b1), SE slot");
VA_NET_OPS(va_efficientnet_b2_ops, "efficientnet_b2", effnet_create,
           "EfficientNet-B2 (torchvision efficientnet_b2), SE slot");
VA_NET_OPS(va_efficientnet_b3_ops, "efficientnet_b3", effnet_create,
           "EfficientNet-B3 (torchvision efficientnet_b3), SE slot");
VA_NET_OPS(va_efficientnet_b4_ops, "efficientnet_b4", effnet_create,
           "EfficientNet-B4 (torchvision efficientnet_b4), SE slot");
VA_NET_OPS(va_efficientnet_b5_ops, "efficientnet_b5", effnet_create,
           "EfficientNet-B5 (torchvision efficientnet_b5), SE slot");
VA_NET_OPS(va_efficientnet_b6_ops, "efficientnet_b6", effnet_create,
           "EfficientNet-B6 (torchvision efficientnet_b6), SE slot");
VA_NET_OPS(va_efficientnet_b7_ops, "efficientnet_b7", effnet_create,
           "EfficientNet-B7 (torchvision efficientnet_b7), SE slot");
VA_NET_OPS(va_efficientnet_v2_s_ops, "efficientnet_v2_s", effnet_create,
           "EfficientNetV2-S (torchvision efficientnet_v2_s), SE slot in the MBConvs");
VA_NET_OPS(va_efficientnet_v2_m_ops, "efficientnet_v2_m", effnet_create,
           "EfficientNetV2-M (torchvision efficientnet_v2_m), SE slot in the MBConvs");
VA_NET_OPS(va_efficientnet_v2_l_ops, "efficientnet_v2_l", effnet_create,
           "EfficientNetV2-L (torchvision efficientnet_v2_l), SE slot in the MBConvs");
