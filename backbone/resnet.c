/* ResNets as torchvision 0.14 builds them (torchvision/models/resnet.py), with an attention slot:
 * the constructor's arguments turned into a table of units for the network engine (net.h).
 *
 *   conv1/bn1     7x7 conv 3 -> 64, stride 2, pad 3; BN; ReLU          (NET_CONV_BN_ACT)
 *   maxpool       3x3, stride 2, pad 1                                  (NET_MAXPOOL)
 *   layer1..4     layers[i] blocks of planes 64, 128, 256, 512          (NET_RESIDUAL)
 *                 BasicBlock: conv1 3x3 (stride) + bn1 + ReLU, conv2 3x3 + bn2
 *                 Bottleneck: conv1 1x1 + bn1 + ReLU, conv2 3x3 (stride, groups, dilation) + bn2
 *                 + ReLU, conv3 1x1 + bn3 (ResNet v1.5: the stride on the 3x3);
 *                 width = int(planes * width_per_group / 64) * groups, output planes * 4
 *                 downsample.0/1: conv1x1 (stride) + BN when the shape changes; out = ReLU(+)
 *                 replace_stride_with_dilation[i - 2]: layer i keeps its resolution, dilating
 *   avgpool, fc   global average pool, Linear(512 * expansion, num_classes)   (NET_HEAD)
 *
 * The slot (attention: a registered block's name) runs after the branch's last BN, before the
 * addition, where SE-ResNet, CBAM and timm's create_attn put it; its weights are under
 * "layer<i>.<j>.<attention_key>." (timm's "se" by default). Maps: "layer<i>.<j>.<map>" of every
 * slot; without attention "layer<i>.energy", the channel mean of each stage's output; "cam".
 * "resnet" takes torchvision's ResNet arguments; resnet18 ... wide_resnet50_2 are the builders,
 * whose arguments are defaults the config may override. docs/networks/resnet.md.
 *
 * The same table also builds the ResNets the attention blocks' authors published, with their own
 * keys and heads (docs/networks/attention_resnets.md):
 *   ResidualNet   Jongchan/attention-module MODELS/model_resnet.py (att_type "CBAM": "cbam") and
 *                 landskape-ai/triplet-attention MODELS/resnet.py ("TripletAttention":
 *                 "triplet_attention"); the slot where torchvision's takes it; ImageNet: the
 *                 torchvision stem and nn.AvgPool2d(7) as the head; CIFAR10/100: a 3x3 stride-1
 *                 stem, no max-pool, F.avg_pool2d(x, 4)
 *   sa_resnet50/101/152  wofmanaf/SA-Net models/sa_resnet.py: sa_layer(planes * 4) (groups 64)
 *                 as the slot under "sa", otherwise torchvision's ResNet
 *   ResidualNet   att_type "BAM": no slot; bam1..3 (NET_BLOCK units) after layer1..3
 *   eca_resnet18..152  BangguWu/ECANet models/eca_resnet.py: eca_layer(C, k_size[stage]) as the
 *                 slot under "eca", a global head
 *   simam_resnet, simam_cifar_resnet  ZjjConan/SimAM create_net(args), ImageNet and CIFAR: the
 *                 slot on conv2's output before bn2 (its BN kept apart); the CIFAR nets have three
 *                 stages of 16/32/64 planes, "shortcut" and "linear" keys */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

#define RN_STAGES 4
#define RN_MAX_BLOCKS 64 /* per stage; resnet152 has 36 */

typedef struct rn_args {
    int bottleneck, layers[RN_STAGES], num_classes, groups, width_per_group, dilate[RN_STAGES - 1];
} rn_args;

/* Where a family departs from torchvision's table; zeros: torchvision's. */
typedef struct rn_ends {
    int cifar_stem;       /* conv1 3x3 stride 1 padding 1 and no max-pool (the CIFAR ResidualNet) */
    int pool_window;      /* the head: 0 global average pool, k nn.AvgPool2d(k) (net.h) */
    int stages;           /* 0: 4; SimAM's CIFAR ResNets: 3 */
    int width;            /* the stem's channels and stage 1's planes, doubled per stage; 0: 64 */
    const char *shortcut; /* the projection shortcut's key; NULL: "downsample" */
    const char *fc;       /* the head's Linear; NULL: "fc" */
    int slot_mid; /* the slot on conv2's raw output, before bn2: SimAM's nn.Sequential(conv2,
                     simam_module), so conv2's keys are "conv2.0"; else after the last BN */
    int bam;      /* attention-module's BAM: a bam block alone after each stage but the last,
                     weights "bam1." ... "bam3." */
} rn_ends;

static const struct {
    const char *name;
    rn_args a;
} rn_variants[] = {
    {"resnet", {-1, {0}, 1000, 1, 64, {0}}}, /* block and layers are required */
    {"resnet18", {0, {2, 2, 2, 2}, 1000, 1, 64, {0}}},
    {"resnet34", {0, {3, 4, 6, 3}, 1000, 1, 64, {0}}},
    {"resnet50", {1, {3, 4, 6, 3}, 1000, 1, 64, {0}}},
    {"resnet101", {1, {3, 4, 23, 3}, 1000, 1, 64, {0}}},
    {"resnet152", {1, {3, 8, 36, 3}, 1000, 1, 64, {0}}},
    {"resnext50_32x4d", {1, {3, 4, 6, 3}, 1000, 32, 4, {0}}},
    {"wide_resnet50_2", {1, {3, 4, 6, 3}, 1000, 1, 128, {0}}},
};

static const char *const rn_keys[] = {"block",
                                      "layers",
                                      "num_classes",
                                      "zero_init_residual",
                                      "groups",
                                      "width_per_group",
                                      "replace_stride_with_dilation",
                                      "attention",
                                      "attention_args",
                                      "attention_reduction",
                                      "attention_key",
                                      NULL};

/* block, layers, replace_stride_with_dilation, attention_args: read from the config's JSON. */
static va_status rn_read_lists(const cJSON *root, rn_args *a, va_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "block");
    if (v) {
        if (cJSON_IsString(v) && strcmp(v->valuestring, "BasicBlock") == 0)
            a->bottleneck = 0;
        else if (cJSON_IsString(v) && strcmp(v->valuestring, "Bottleneck") == 0)
            a->bottleneck = 1;
        else
            return va_fail(err, VA_ERR_CONFIG,
                           "resnet config: block must be \"BasicBlock\" or \"Bottleneck\"");
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (v) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != RN_STAGES)
            return va_fail(err, VA_ERR_CONFIG, "resnet config: layers must be a list of %d counts",
                           RN_STAGES);
        for (int i = 0; i < RN_STAGES; i++) {
            const cJSON *n = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsNumber(n) || n->valuedouble != (double)n->valueint || n->valueint < 1 ||
                n->valueint > RN_MAX_BLOCKS)
                return va_fail(err, VA_ERR_CONFIG,
                               "resnet config: layers must list %d integers in 1..%d", RN_STAGES,
                               RN_MAX_BLOCKS);
            a->layers[i] = n->valueint;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "replace_stride_with_dilation");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != RN_STAGES - 1)
            return va_fail(err, VA_ERR_CONFIG,
                           "resnet config: replace_stride_with_dilation must be null or a list of "
                           "3 booleans");
        for (int i = 0; i < RN_STAGES - 1; i++) {
            const cJSON *b = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsBool(b))
                return va_fail(err, VA_ERR_CONFIG,
                               "resnet config: replace_stride_with_dilation must list booleans");
            a->dilate[i] = cJSON_IsTrue(b);
        }
    }
    return VA_OK;
}

static void rn_conv(net_conv_desc *c, int cin, int cout, int k, int stride, int dilation,
                    int groups, va_act act, const char *conv, const char *bn) {
    *c = (net_conv_desc){.cin = cin,
                         .cout = cout,
                         .kernel = k,
                         .stride = stride,
                         .pad = k == 3 ? dilation : (k - 1) / 2,
                         .dilation = dilation,
                         .groups = groups,
                         .act = act};
    snprintf(c->conv, sizeof c->conv, "%s", conv);
    snprintf(c->bn, sizeof c->bn, "%s", bn);
}

/* The stage table of torchvision's ResNet.__init__ and _make_layer. `what` starts messages.
 * attn_args: NULL, or the slot's arguments per stage (ECA-Net's k_size list). */
static va_status rn_build(va_block *b, const char *what, const rn_args *a, rn_ends ends,
                          const char *attn, const cJSON *const *attn_args, int reduction,
                          const char *attn_key, va_error *err) {
    const int expansion = a->bottleneck ? 4 : 1;
    const int stages = ends.stages ? ends.stages : RN_STAGES, width0 = ends.width ? ends.width : 64;
    const char *shortcut = ends.shortcut ? ends.shortcut : "downsample";
    int total = (ends.cifar_stem ? 2 : 3) + (ends.bam ? stages - 1 : 0);
    for (int i = 0; i < stages; i++)
        total += a->layers[i];
    net_unit_desc *u;
    char **json;
    VA_TRY(va_net_table_alloc(total, &u, &json, what, err));
    int n = 0, inplanes = width0, dilation = 1;
    va_status s = VA_OK;
    u[n].kind = NET_CONV_BN_ACT;
    if (ends.cifar_stem) {
        rn_conv(&u[n++].conv[0], 3, width0, 3, 1, 1, 1, VA_ACT_RELU, "conv1", "bn1");
    } else {
        rn_conv(&u[n++].conv[0], 3, width0, 7, 2, 1, 1, VA_ACT_RELU, "conv1", "bn1");
        u[0].conv[0].pad = 3;
        u[n].kind = NET_MAXPOOL;
        u[n++].pool = (va_pool2d_desc){3, 3, 2, 2, 1, 1};
    }
    const char *conv2 = attn[0] && ends.slot_mid ? "conv2.0" : "conv2";
    for (int i = 0; i < stages && !s; i++) {
        const int planes = width0 << i, out = planes * expansion, prev_dilation = dilation;
        int stride = i ? 2 : 1;
        if (i && a->dilate[i - 1]) dilation *= stride, stride = 1;
        for (int j = 0; j < a->layers[i] && !s; j++, n++) {
            net_unit_desc *d = &u[n];
            const int st = j ? 1 : stride, dil = j ? dilation : prev_dilation;
            d->kind = NET_RESIDUAL;
            snprintf(d->prefix, sizeof d->prefix, "layer%d.%d.", i + 1, j);
            if (a->bottleneck) {
                const int width = (int)(planes * (a->width_per_group / 64.0)) * a->groups;
                d->nconv = 3;
                rn_conv(&d->conv[0], inplanes, width, 1, 1, 1, 1, VA_ACT_RELU, "conv1", "bn1");
                rn_conv(&d->conv[1], width, width, 3, st, dil, a->groups, VA_ACT_RELU, conv2,
                        "bn2");
                rn_conv(&d->conv[2], width, out, 1, 1, 1, 1, VA_ACT_NONE, "conv3", "bn3");
            } else {
                d->nconv = 2;
                rn_conv(&d->conv[0], inplanes, planes, 3, st, 1, 1, VA_ACT_RELU, "conv1", "bn1");
                rn_conv(&d->conv[1], planes, planes, 3, 1, 1, 1, VA_ACT_NONE, conv2, "bn2");
            }
            if (j == 0 && (stride != 1 || inplanes != out)) {
                d->has_down = 1;
                char dc[NET_KEY_LEN], db[NET_KEY_LEN];
                snprintf(dc, sizeof dc, "%s.0", shortcut);
                snprintf(db, sizeof db, "%s.1", shortcut);
                rn_conv(&d->down, inplanes, out, 1, stride, 1, 1, VA_ACT_NONE, dc, db);
            }
            d->out_act = VA_ACT_RELU;
            if (attn[0]) {
                snprintf(d->attn, sizeof d->attn, "%s", attn);
                snprintf(d->attn_key, sizeof d->attn_key, "%s", attn_key);
                d->slot_after = ends.slot_mid ? 1 : d->nconv - 1;
                d->slot_before_bn = ends.slot_mid;
                if (ends.slot_mid) snprintf(d->attn_key, sizeof d->attn_key, "conv2.1");
                /* The slot's channels: SimAM's module is built with the block's output channels
                 * even where it sits on conv2 (unused: it runs at any width). */
                s = va_net_attn_json(what, attn, attn_args ? attn_args[i] : NULL, reduction, out,
                                     &json[n], err);
                d->attn_json = json[n];
            } else if (j + 1 == a->layers[i] && !ends.bam) {
                snprintf(d->energy, sizeof d->energy, "layer%d.energy", i + 1);
            }
            inplanes = out;
        }
        if (ends.bam && i + 1 < stages && !s) { /* BAM(64 * expansion), ... after layer1 .. 3 */
            u[n].kind = NET_BLOCK;
            snprintf(u[n].prefix, sizeof u[n].prefix, "bam%d.", i + 1);
            snprintf(u[n].attn, sizeof u[n].attn, "bam");
            s = va_net_attn_json(what, "bam", NULL, 16, out, &json[n], err);
            u[n].attn_json = json[n];
            n++;
        }
    }
    u[n].kind = NET_HEAD;
    u[n].in_features = (width0 << (stages - 1)) * expansion;
    u[n].num_classes = a->num_classes;
    u[n].pool_window = ends.pool_window;
    snprintf(u[n].fc, sizeof u[n].fc, "%s", ends.fc ? ends.fc : "fc");
    if (!s) s = va_net_build(b, what, u, total, err);
    va_net_table_free(u, json, total);
    return s;
}

static va_status rn_create(va_block *b, const va_config *cfg, va_error *err) {
    VA_TRY(va_cfg_check_keys(cfg, rn_keys, err));
    rn_args a = rn_variants[0].a;
    for (size_t i = 0; i < sizeof rn_variants / sizeof rn_variants[0]; i++)
        if (strcmp(rn_variants[i].name, b->ops->name) == 0) a = rn_variants[i].a;
    int zero_init, reduction;
    char attn[64] = "", key[NET_KEY_LEN];
    VA_TRY(va_cfg_int(cfg, "num_classes", a.num_classes, &a.num_classes, err));
    VA_TRY(va_cfg_int(cfg, "groups", a.groups, &a.groups, err));
    VA_TRY(va_cfg_int(cfg, "width_per_group", a.width_per_group, &a.width_per_group, err));
    VA_TRY(va_cfg_bool(cfg, "zero_init_residual", 0, &zero_init, err)); /* init only */
    VA_TRY(va_cfg_int(cfg, "attention_reduction", 16, &reduction, err));
    VA_TRY(va_cfg_str(cfg, "attention_key", "se", key, sizeof key, err));
    if (va_cfg_has(cfg, "attention") && !va_cfg_is_null(cfg, "attention")) {
        VA_TRY(va_cfg_str(cfg, "attention", "", attn, sizeof attn, err));
        const va_block_ops *ops = va_find_ops(attn);
        if (!ops || ops->kind != VA_KIND_BLOCK)
            return va_fail(err, VA_ERR_CONFIG,
                           "resnet config: attention '%s' is not a registered block (see visattn "
                           "list)",
                           attn);
        snprintf(attn, sizeof attn, "%s", ops->name); /* alias -> name */
    }
    char *json = va_config_to_json(cfg);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!root) return va_fail(err, VA_ERR_NOMEM, "resnet: out of memory");
    va_status s = rn_read_lists(root, &a, err);
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "attention_args");
    if (args && cJSON_IsNull(args)) args = NULL;
    if (!s && args && !cJSON_IsObject(args))
        s = va_fail(err, VA_ERR_CONFIG, "resnet config: attention_args must be an object");
    if (!s && (a.bottleneck < 0 || a.layers[0] < 1))
        s = va_fail(err, VA_ERR_CONFIG, "resnet config: block and layers are required");
    if (!s &&
        (a.num_classes < 1 || a.groups < 1 || a.width_per_group < 1 || reduction < 1 || !key[0]))
        s = va_fail(err, VA_ERR_CONFIG,
                    "resnet config: num_classes, groups, width_per_group and attention_reduction "
                    "must be >= 1, attention_key not empty");
    /* torchvision's BasicBlock refuses these (ValueError, NotImplementedError). */
    if (!s && !a.bottleneck && (a.groups != 1 || a.width_per_group != 64))
        s = va_fail(err, VA_ERR_CONFIG,
                    "resnet config: BasicBlock only supports groups=1 and width_per_group=64");
    if (!s && !a.bottleneck && (a.dilate[0] || a.dilate[1] || a.dilate[2]))
        s = va_fail(err, VA_ERR_CONFIG, "resnet config: dilation > 1 not supported in BasicBlock");
    if (!s && (int64_t)a.width_per_group * a.groups * 8 > 1 << 20)
        s = va_fail(err, VA_ERR_CONFIG, "resnet config: groups x width_per_group too large");
    const cJSON *const per_stage[RN_STAGES] = {args, args, args, args};
    if (!s) s = rn_build(b, "resnet", &a, (rn_ends){0}, attn, per_stage, reduction, key, err);
    cJSON_Delete(root);
    VA_TRY(s);
    /* What the model declares: torchvision's ImageNet input (224 x 224, its mean and std). */
    return va_net_set_info(b, a.num_classes, 224, 1, NULL, NULL, err);
}

/* ---- The ResNets of the attention blocks' own repositories ----------------------------------- */

/* ResidualNet(network_type, depth, num_classes, att_type): four positional arguments, all
 * required. The official function asserts network_type and depth; an att_type other than its
 * repository's gives a plain ResNet there, silently: visattn refuses any att_type it does not
 * place (tools/networks.py refuses the other repository's one, docs/networks/attention_resnets.md).
 */
static va_status ra_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"network_type", "depth", "num_classes", "att_type", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    for (int i = 0; keys[i]; i++)
        if (!va_cfg_has(cfg, keys[i]))
            return va_fail(err, VA_ERR_CONFIG,
                           "ResidualNet config: '%s' is required (ResidualNet(network_type, "
                           "depth, num_classes, att_type) has no defaults)",
                           keys[i]);
    char type[16], att[32] = "";
    int depth, num_classes;
    VA_TRY(va_cfg_str(cfg, "network_type", "", type, sizeof type, err));
    VA_TRY(va_cfg_int(cfg, "depth", 0, &depth, err));
    VA_TRY(va_cfg_int(cfg, "num_classes", 0, &num_classes, err));
    if (!va_cfg_is_null(cfg, "att_type"))
        VA_TRY(va_cfg_str(cfg, "att_type", "", att, sizeof att, err));
    const int imagenet = strcmp(type, "ImageNet") == 0;
    if (!imagenet && strcmp(type, "CIFAR10") != 0 && strcmp(type, "CIFAR100") != 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "ResidualNet config: network_type must be \"ImageNet\", \"CIFAR10\" or "
                       "\"CIFAR100\", got \"%s\"",
                       type);
    rn_args a = {.num_classes = num_classes, .groups = 1, .width_per_group = 64};
    static const int depths[4] = {18, 34, 50, 101};
    static const int layers[4][RN_STAGES] = {
        {2, 2, 2, 2}, {3, 4, 6, 3}, {3, 4, 6, 3}, {3, 4, 23, 3}};
    int d = 0;
    while (d < 4 && depths[d] != depth)
        d++;
    if (d == 4)
        return va_fail(err, VA_ERR_CONFIG,
                       "ResidualNet config: depth must be 18, 34, 50 or 101, got %d", depth);
    memcpy(a.layers, layers[d], sizeof a.layers);
    a.bottleneck = depth >= 50;
    if (num_classes < 1)
        return va_fail(err, VA_ERR_CONFIG, "ResidualNet config: num_classes must be >= 1, got %d",
                       num_classes);
    /* ImageNet: nn.AvgPool2d(7); CIFAR: F.avg_pool2d(x, 4) (the same window semantics). */
    rn_ends ends = {.cifar_stem = !imagenet, .pool_window = imagenet ? 7 : 4};
    const char *attn = "", *key = "";
    if (strcmp(att, "CBAM") == 0) {
        attn = "cbam", key = "cbam"; /* CBAM(C, 16): pool_types avg, max */
    } else if (strcmp(att, "TripletAttention") == 0) {
        attn = "triplet", key = "triplet_attention"; /* TripletAttention(C, 16) */
    } else if (strcmp(att, "BAM") == 0) {
        ends.bam = 1; /* BAM(64 * expansion) as bam1 .. bam3 between the stages, none inside */
    } else if (!va_cfg_is_null(cfg, "att_type")) {
        return va_fail(err, VA_ERR_CONFIG,
                       "ResidualNet config: att_type must be \"CBAM\", \"BAM\", "
                       "\"TripletAttention\" or null, got \"%s\"",
                       att);
    }
    VA_TRY(rn_build(b, "ResidualNet", &a, ends, attn, NULL, 16, key, err));
    return va_net_set_info(b, num_classes, imagenet ? 224 : 32, imagenet, NULL, NULL, err);
}

/* sa_resnet50/101/152(pretrained=False): torchvision's ResNet with SABottleneck, whose sa_layer
 * (groups 64: every stage's channels divide by 128) follows bn3. The builders take no
 * num_classes; a checkpoint whose fc was replaced (ResNet(..., num_classes=k)) sets it. */
static va_status sa_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"num_classes", NULL};
    static const struct {
        const char *name;
        int layers[RN_STAGES];
    } variants[] = {{"sa_resnet50", {3, 4, 6, 3}},
                    {"sa_resnet101", {3, 4, 23, 3}},
                    {"sa_resnet152", {3, 8, 36, 3}}};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    rn_args a = {.bottleneck = 1, .groups = 1, .width_per_group = 64};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (strcmp(variants[i].name, b->ops->name) == 0)
            memcpy(a.layers, variants[i].layers, sizeof a.layers);
    VA_TRY(va_cfg_int(cfg, "num_classes", 1000, &a.num_classes, err));
    if (a.num_classes < 1)
        return va_fail(err, VA_ERR_CONFIG, "%s config: num_classes must be >= 1, got %d",
                       b->ops->name, a.num_classes);
    VA_TRY(rn_build(b, b->ops->name, &a, (rn_ends){0}, "shuffle", NULL, 16, "sa", err));
    return va_net_set_info(b, a.num_classes, 224, 1, NULL, NULL, err);
}

/* eca_resnet18 ... eca_resnet152(k_size=[3, 3, 3, 3], num_classes=1000, pretrained=False):
 * BangguWu/ECANet models/eca_resnet.py. torchvision's table (its Bottleneck has the stride on the
 * 3x3 too) with eca_layer(C, k_size[i]) after the last BN of every block of stage i, under "eca";
 * every builder swaps the class's AvgPool2d(7) for AdaptiveAvgPool2d(1): a global head. The
 * official code takes int(k_size[i]) and ignores `pretrained`, as visattn does (the weights are
 * the file's). */
static va_status eca_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"k_size", "num_classes", "pretrained", NULL};
    static const struct {
        const char *name;
        int bottleneck, layers[RN_STAGES];
    } variants[] = {{"eca_resnet18", 0, {2, 2, 2, 2}},
                    {"eca_resnet34", 0, {3, 4, 6, 3}},
                    {"eca_resnet50", 1, {3, 4, 6, 3}},
                    {"eca_resnet101", 1, {3, 4, 23, 3}},
                    {"eca_resnet152", 1, {3, 8, 36, 3}}};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    rn_args a = {.groups = 1, .width_per_group = 64};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (strcmp(variants[i].name, b->ops->name) == 0) {
            a.bottleneck = variants[i].bottleneck;
            memcpy(a.layers, variants[i].layers, sizeof a.layers);
        }
    int pretrained, k[RN_STAGES] = {3, 3, 3, 3}, len = RN_STAGES;
    VA_TRY(va_cfg_int(cfg, "num_classes", 1000, &a.num_classes, err));
    VA_TRY(va_cfg_bool(cfg, "pretrained", 0, &pretrained, err)); /* ignored, as in the builders */
    if (a.num_classes < 1)
        return va_fail(err, VA_ERR_CONFIG, "%s config: num_classes must be >= 1, got %d",
                       b->ops->name, a.num_classes);
    if (va_cfg_has(cfg, "k_size") &&
        va_cfg_int_list(cfg, "k_size", k, RN_STAGES, &len, err) != VA_OK)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: k_size must be a list of %d integers, one kernel size per "
                       "stage (e.g. [3, 5, 5, 7])",
                       b->ops->name, RN_STAGES);
    int bad = len != RN_STAGES;
    for (int i = 0; i < len; i++)
        bad |= k[i] < 1 || k[i] % 2 == 0 || k[i] > 255;
    if (bad)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: k_size must list %d odd kernel sizes in 1..255, one per stage "
                       "(an even one makes eca_layer's conv one channel short)",
                       b->ops->name, RN_STAGES);
    cJSON *args[RN_STAGES] = {0};
    va_status s = VA_OK;
    for (int i = 0; i < RN_STAGES && !s; i++)
        if (!(args[i] = cJSON_CreateObject()) || !cJSON_AddNumberToObject(args[i], "k_size", k[i]))
            s = va_fail(err, VA_ERR_NOMEM, "%s: out of memory", b->ops->name);
    const cJSON *const per_stage[RN_STAGES] = {args[0], args[1], args[2], args[3]};
    if (!s) s = rn_build(b, b->ops->name, &a, (rn_ends){0}, "eca", per_stage, 16, "eca", err);
    for (int i = 0; i < RN_STAGES; i++)
        cJSON_Delete(args[i]);
    VA_TRY(s);
    return va_net_set_info(b, a.num_classes, 224, 1, NULL, NULL, err);
}

/* The attention of SimAM's create_net(args): attention_type "none" (the training scripts'
 * default) or "simam" with e_lambda = attention_param (required then: the scripts' default 4 is
 * not what the README trains with, 0.1). The official code also knows "se" and "cbam" (its own
 * modules, keys of their own), which visattn does not build. *args: malloc'ed by cJSON. */
static va_status simam_attention(const va_config *cfg, const char *what, int *on, cJSON **args,
                                 va_error *err) {
    char type[16];
    *on = 0, *args = NULL;
    VA_TRY(va_cfg_str(cfg, "attention_type", "none", type, sizeof type, err));
    if (strcmp(type, "none") != 0 && strcmp(type, "simam") != 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: attention_type must be \"none\" or \"simam\", got \"%s\" "
                       "(visattn builds SimAM's networks with its own module only)",
                       what, type);
    if (strcmp(type, "simam") != 0) return VA_OK;
    if (!va_cfg_has(cfg, "attention_param"))
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: attention_type \"simam\" needs attention_param, its e_lambda "
                       "(the README trains with 0.1)",
                       what);
    double lambda;
    VA_TRY(va_cfg_float(cfg, "attention_param", 0, &lambda, err));
    *on = 1;
    if (!(*args = cJSON_CreateObject()) || !cJSON_AddNumberToObject(*args, "e_lambda", lambda))
        return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    return VA_OK;
}

/* The lower-cased string under key (create_net lower-cases arch and block_type). */
static va_status simam_lower(const va_config *cfg, const char *key, const char *def, char *buf,
                             size_t len, va_error *err) {
    VA_TRY(va_cfg_str(cfg, key, def, buf, len, err));
    for (char *c = buf; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    return VA_OK;
}

/* ZjjConan/SimAM networks/imagenet/__init__.py create_net(args): arch resnet18 ... resnet152 of
 * its networks/imagenet/resnet.py (torchvision's ResNet, 1000 classes), simam_module(e_lambda)
 * on conv2's output before bn2 in every block. Config: the fields of args it reads. */
static va_status simam_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"arch", "attention_type", "attention_param", NULL};
    static const struct {
        const char *arch;
        int bottleneck, layers[RN_STAGES];
    } archs[] = {{"resnet18", 0, {2, 2, 2, 2}},
                 {"resnet34", 0, {3, 4, 6, 3}},
                 {"resnet50", 1, {3, 4, 6, 3}},
                 {"resnet101", 1, {3, 4, 23, 3}},
                 {"resnet152", 1, {3, 8, 36, 3}}};
    const char *what = b->ops->name;
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    char arch[32];
    if (!va_cfg_has(cfg, "arch"))
        return va_fail(err, VA_ERR_CONFIG, "%s config: 'arch' is required (resnet18 ... resnet152)",
                       what);
    VA_TRY(simam_lower(cfg, "arch", "", arch, sizeof arch, err));
    rn_args a = {.num_classes = 1000, .groups = 1, .width_per_group = 64, .bottleneck = -1};
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i].arch, arch) == 0) {
            a.bottleneck = archs[i].bottleneck;
            memcpy(a.layers, archs[i].layers, sizeof a.layers);
        }
    if (a.bottleneck < 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: arch must be resnet18, resnet34, resnet50, resnet101 or "
                       "resnet152, got \"%s\"",
                       what, arch);
    int on;
    cJSON *args;
    va_status s = simam_attention(cfg, what, &on, &args, err);
    const cJSON *const per_stage[RN_STAGES] = {args, args, args, args};
    if (!s)
        s = rn_build(b, what, &a, (rn_ends){.slot_mid = 1}, on ? "simam" : "", per_stage, 16,
                     "conv2.1", err);
    cJSON_Delete(args);
    VA_TRY(s);
    return va_net_set_info(b, 1000, 224, 1, NULL, NULL, err);
}

/* ZjjConan/SimAM networks/cifar/__init__.py create_net(args) with the ResNets of
 * networks/cifar/resnet.py: conv1 3x3 3 -> 16 stride 1, bn1, ReLU (no max-pool), three stages of
 * 16, 32, 64 planes (BasicBlock, or BottleNect: 1x1, 3x3 with the stride, 1x1 to 4 x planes),
 * "shortcut.0/1" where the shape changes, AdaptiveAvgPool2d(1), "linear"; simam_module on conv2's
 * output before bn2. Blocks per stage by arch and block_type (networks/cifar/resnet.py). */
static va_status simam_cifar_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {
        "arch", "block_type", "attention_type", "attention_param", "num_class", NULL};
    static const struct {
        const char *arch;
        int basic, bottlenect; /* blocks per stage */
    } archs[] = {{"resnet20", 3, 3},
                 {"resnet32", 5, 5},
                 {"resnet56", 9, 6},
                 {"resnet110", 18, 12},
                 {"resnet164", 27, 18}};
    const char *what = b->ops->name;
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    for (int i = 0; i < 2; i++)
        if (!va_cfg_has(cfg, i ? "num_class" : "arch"))
            return va_fail(err, VA_ERR_CONFIG,
                           "%s config: '%s' is required (arch resnet20 ... resnet164; num_class: "
                           "main_cifar.py sets 10 or 100 from the dataset)",
                           what, i ? "num_class" : "arch");
    char arch[32], block[32];
    VA_TRY(simam_lower(cfg, "arch", "", arch, sizeof arch, err));
    VA_TRY(simam_lower(cfg, "block_type", "basic", block, sizeof block, err));
    rn_args a = {.groups = 1, .width_per_group = 64};
    VA_TRY(va_cfg_int(cfg, "num_class", 10, &a.num_classes, err));
    if (a.num_classes < 1)
        return va_fail(err, VA_ERR_CONFIG, "%s config: num_class must be >= 1, got %d", what,
                       a.num_classes);
    if (strcmp(block, "basic") != 0 && strcmp(block, "bottlenect") != 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: block_type must be \"basic\" or \"bottlenect\" (the "
                       "repository's spelling), got \"%s\"",
                       what, block);
    a.bottleneck = strcmp(block, "bottlenect") == 0;
    int blocks = 0;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i].arch, arch) == 0)
            blocks = a.bottleneck ? archs[i].bottlenect : archs[i].basic;
    if (!blocks)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: arch must be resnet20, resnet32, resnet56, resnet110 or "
                       "resnet164, got \"%s\"",
                       what, arch);
    a.layers[0] = a.layers[1] = a.layers[2] = blocks;
    int on;
    cJSON *args;
    va_status s = simam_attention(cfg, what, &on, &args, err);
    const cJSON *const per_stage[RN_STAGES] = {args, args, args, args};
    const rn_ends ends = {.cifar_stem = 1,
                          .stages = 3,
                          .width = 16,
                          .shortcut = "shortcut",
                          .fc = "linear",
                          .slot_mid = 1};
    if (!s) s = rn_build(b, what, &a, ends, on ? "simam" : "", per_stage, 16, "conv2.1", err);
    cJSON_Delete(args);
    VA_TRY(s);
    /* main_cifar.py's test transform: ToTensor and its Normalize, at CIFAR's 32 x 32. */
    static const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2023f, 0.1994f, 0.2010f};
    return va_net_set_info(b, a.num_classes, 32, 1, mean, std, err);
}

VA_NET_OPS(va_resnet_ops, "resnet", rn_create,
           "ResNet (torchvision): block, layers, groups, ... and an attention slot");
VA_NET_OPS(va_resnet18_ops, "resnet18", rn_create,
           "ResNet-18 (torchvision resnet18), attention slot");
VA_NET_OPS(va_resnet34_ops, "resnet34", rn_create,
           "ResNet-34 (torchvision resnet34), attention slot");
VA_NET_OPS(va_resnet50_ops, "resnet50", rn_create,
           "ResNet-50 (torchvision resnet50), attention slot");
VA_NET_OPS(va_resnet101_ops, "resnet101", rn_create,
           "ResNet-101 (torchvision resnet101), attention slot");
VA_NET_OPS(va_resnet152_ops, "resnet152", rn_create,
           "ResNet-152 (torchvision resnet152), attention slot");
VA_NET_OPS(va_resnext50_32x4d_ops, "resnext50_32x4d", rn_create,
           "ResNeXt-50 32x4d (torchvision resnext50_32x4d), attention slot");
VA_NET_OPS(va_wide_resnet50_2_ops, "wide_resnet50_2", rn_create,
           "Wide ResNet-50-2 (torchvision wide_resnet50_2), attention slot");
VA_NET_OPS(va_residualnet_ops, "ResidualNet", ra_create,
           "ResidualNet (attention-module / triplet-attention): ResNet-18..101 with CBAM or "
           "TripletAttention");
VA_NET_OPS(va_sa_resnet50_ops, "sa_resnet50", sa_create,
           "SA-ResNet-50 (wofmanaf/SA-Net sa_resnet50): shuffle attention in every Bottleneck");
VA_NET_OPS(va_sa_resnet101_ops, "sa_resnet101", sa_create,
           "SA-ResNet-101 (wofmanaf/SA-Net sa_resnet101): shuffle attention in every Bottleneck");
VA_NET_OPS(va_sa_resnet152_ops, "sa_resnet152", sa_create,
           "SA-ResNet-152 (wofmanaf/SA-Net sa_resnet152): shuffle attention in every Bottleneck");

VA_NET_OPS(va_eca_resnet18_ops, "eca_resnet18", eca_create,
           "ECA-ResNet-18 (BangguWu/ECANet eca_resnet18): eca_layer in every BasicBlock");
VA_NET_OPS(va_eca_resnet34_ops, "eca_resnet34", eca_create,
           "ECA-ResNet-34 (BangguWu/ECANet eca_resnet34): eca_layer in every BasicBlock");
VA_NET_OPS(va_eca_resnet50_ops, "eca_resnet50", eca_create,
           "ECA-ResNet-50 (BangguWu/ECANet eca_resnet50): eca_layer in every Bottleneck");
VA_NET_OPS(va_eca_resnet101_ops, "eca_resnet101", eca_create,
           "ECA-ResNet-101 (BangguWu/ECANet eca_resnet101): eca_layer in every Bottleneck");
VA_NET_OPS(va_eca_resnet152_ops, "eca_resnet152", eca_create,
           "ECA-ResNet-152 (BangguWu/ECANet eca_resnet152): eca_layer in every Bottleneck");
VA_NET_OPS(va_simam_resnet_ops, "simam_resnet", simam_create,
           "SimAM's ImageNet ResNets (ZjjConan/SimAM imagenet.create_net): arch resnet18..152, "
           "simam after conv2");
VA_NET_OPS(va_simam_cifar_resnet_ops, "simam_cifar_resnet", simam_cifar_create,
           "SimAM's CIFAR ResNets (ZjjConan/SimAM cifar.create_net): arch resnet20..164, simam "
           "after conv2");
