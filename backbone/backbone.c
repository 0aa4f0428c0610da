/* "backbone": the small CNN with an attention slot (docs/backbone.md; PyTorch twin
 * tools/backbone.py, same config and state_dict keys).
 *
 * stem conv3x3-BN-ReLU, stages of conv3x3-BN-ReLU layers each ending in any registered attention
 * block (built by name with its channel arguments filled in, as timm's create_attn does), global
 * average pool, linear classifier. BN is folded into each conv at load and the ReLU fused into it.
 * Maps: each stage's block maps as "stage{k}.<map>", "stage{k}.energy" (channel mean of the stage
 * output), and "cam" (class activation map of the top-1 class). */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "visattn/block.h"
#include "visattn/ops.h"

#define BB_MAX_STAGES 6
#define BB_MAX_DEPTH 16
#define BB_MAX_CLASSES 1000
#define BB_NAME_LEN 32

typedef struct bb_conv {
    va_conv2d_desc d;
    float *weight, *bias; /* bias holds the folded BN shift */
} bb_conv;

typedef struct bb_stage {
    int width, depth;
    bb_conv *layers;
    va_block *attn; /* NULL without attention */
} bb_stage;

typedef struct backbone {
    int in_channels, num_classes, stem_width, num_stages, residual;
    bb_conv stem;
    bb_stage stages[BB_MAX_STAGES];
    float *fc_w, *fc_b;
} backbone;

static va_status bb_conv_init(bb_conv *c, int cin, int cout, int stride, va_error *err) {
    va_conv2d_desc_init(&c->d, cin, cout, 3);
    c->d.stride_h = c->d.stride_w = stride;
    c->d.pad_h = c->d.pad_w = 1;
    c->d.act = VA_ACT_RELU;
    VA_TRY(va_conv2d_check(&c->d, err));
    size_t n = (size_t)cout * (size_t)cin * 9;
    c->weight = va_aligned_alloc(n * sizeof(float));
    c->bias = va_aligned_alloc((size_t)cout * sizeof(float));
    if (!c->weight || !c->bias) return va_fail(err, VA_ERR_NOMEM, "backbone: out of memory");
    memset(c->bias, 0, (size_t)cout * sizeof(float));
    c->d.weight = c->weight;
    c->d.bias = c->bias;
    return VA_OK;
}

static void bb_conv_free(bb_conv *c) {
    va_aligned_free(c->weight);
    va_aligned_free(c->bias);
}

/* "<prefix>conv.weight" then "<prefix>bn.*", folded (nn.BatchNorm2d default eps 1e-5). */
static va_status bb_conv_load(bb_conv *c, va_weights *w, const char *prefix, va_error *err) {
    const va_conv2d_desc *d = &c->d;
    const int64_t cout = d->out_channels;
    const int64_t wshape[4] = {cout, d->in_channels, 3, 3};
    char p[256];
    snprintf(p, sizeof p, "%sconv.", prefix);
    VA_TRY(va_weights_get(w, p, "weight", 4, wshape, c->weight, err));
    float *bn = malloc(4 * (size_t)cout * sizeof(float));
    if (!bn) return va_fail(err, VA_ERR_NOMEM, "backbone: out of memory");
    float *gamma = bn, *beta = bn + cout, *mean = beta + cout, *var = mean + cout;
    snprintf(p, sizeof p, "%sbn.", prefix);
    va_status s = va_weights_get(w, p, "weight", 1, &cout, gamma, err);
    if (!s) s = va_weights_get(w, p, "bias", 1, &cout, beta, err);
    if (!s) s = va_weights_get(w, p, "running_mean", 1, &cout, mean, err);
    if (!s) s = va_weights_get(w, p, "running_var", 1, &cout, var, err);
    if (!s) {
        memset(c->bias, 0, (size_t)cout * sizeof(float));
        va_fold_batchnorm(c->weight, c->bias, cout, wshape[1] * 9, gamma, beta, mean, var, 1e-5f);
    }
    free(bn);
    return s;
}

/* mean and std: lists of in_channels numbers, std > 0 (the model's declared preprocessing,
 * va_block_info). *found is 0 if the key is absent. */
static va_status bb_read_norm(const cJSON *root, const char *key, int in_channels, float *out,
                              int *found, va_error *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    *found = a != NULL;
    if (!a) return VA_OK;
    const int is_std = strcmp(key, "std") == 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != in_channels)
        return va_fail(err, VA_ERR_CONFIG, "backbone config: '%s' must be a list of %d numbers",
                       key, in_channels);
    const cJSON *v;
    int i = 0;
    cJSON_ArrayForEach(v, a) {
        /* Finite as a float too: config numbers beyond FLT_MAX are refused elsewhere as well. */
        if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= FLT_MAX) ||
            (is_std && !((float)v->valuedouble > 0.0f)))
            return va_fail(err, VA_ERR_CONFIG, "backbone config: '%s' must be a list of %d %s", key,
                           in_channels, is_std ? "finite numbers > 0" : "finite numbers");
        out[i++] = (float)v->valuedouble;
    }
    return VA_OK;
}

/* What the model declares (va_block_info): input channels and size, normalisation, classes. */
static va_status bb_declare(va_block *b, const va_config *cfg, int in_channels, int num_classes,
                            const int *input_size, va_error *err) {
    char(*names)[BB_NAME_LEN] = malloc((size_t)BB_MAX_CLASSES * BB_NAME_LEN);
    const char **ptrs = malloc((size_t)BB_MAX_CLASSES * sizeof *ptrs);
    float *norm = malloc(2 * (size_t)in_channels * sizeof *norm);
    char *json = va_config_to_json(cfg);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    va_model_info info = {.in_channels = in_channels, .num_classes = num_classes};
    int nnames = 0, found;
    va_status s = names && ptrs && norm && root
                      ? va_cfg_str_list(cfg, "class_names", names, BB_MAX_CLASSES, &nnames, err)
                      : va_fail(err, VA_ERR_NOMEM, "backbone: out of memory");
    if (!s && nnames != 0 && nnames != num_classes)
        s = va_fail(err, VA_ERR_CONFIG, "backbone config: class_names has %d names for %d classes",
                    nnames, num_classes);
    /* Absent keys take the documented defaults (docs/backbone.md): the Fashion-MNIST models'. */
    for (int c = 0; norm && c < in_channels; c++)
        norm[c] = 0.2860f, norm[in_channels + c] = 0.3530f;
    if (!s) s = bb_read_norm(root, "mean", in_channels, norm, &found, err);
    if (!s) s = bb_read_norm(root, "std", in_channels, norm + in_channels, &found, err);
    if (!s) {
        for (int k = 0; k < nnames; k++)
            ptrs[k] = names[k];
        info.input_h = input_size ? input_size[0] : 28;
        info.input_w = input_size ? input_size[1] : 28;
        info.num_norm = in_channels;
        info.mean = norm, info.std = norm + in_channels;
        info.num_class_names = nnames;
        info.class_names = ptrs;
        s = va_block_set_info(b, &info, err);
    }
    cJSON_Delete(root);
    free(norm);
    free(ptrs);
    free(names);
    return s;
}

static va_status bb_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"in_channels",
                                       "num_classes",
                                       "stem_width",
                                       "widths",
                                       "depths",
                                       "strides",
                                       "attention",
                                       "attention_args",
                                       "attention_reduction",
                                       "attention_residual",
                                       "class_names",
                                       "input_size",
                                       "mean",
                                       "std",
                                       NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    backbone *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "backbone: out of memory");
    b->self = m;
    int widths[BB_MAX_STAGES] = {32, 64, 128}, depths[BB_MAX_STAGES] = {1, 1, 1},
        strides[BB_MAX_STAGES] = {2, 2, 2};
    int nw = 3, nd = 3, ns = 3, reduction, input_size[2], nsize;
    VA_TRY(va_cfg_int(cfg, "in_channels", 1, &m->in_channels, err));
    VA_TRY(va_cfg_int(cfg, "num_classes", 10, &m->num_classes, err));
    VA_TRY(va_cfg_int(cfg, "stem_width", 16, &m->stem_width, err));
    VA_TRY(va_cfg_int(cfg, "attention_reduction", 4, &reduction, err));
    VA_TRY(va_cfg_bool(cfg, "attention_residual", 0, &m->residual, err));
    if (va_cfg_has(cfg, "widths"))
        VA_TRY(va_cfg_int_list(cfg, "widths", widths, BB_MAX_STAGES, &nw, err));
    if (va_cfg_has(cfg, "depths"))
        VA_TRY(va_cfg_int_list(cfg, "depths", depths, BB_MAX_STAGES, &nd, err));
    if (va_cfg_has(cfg, "strides"))
        VA_TRY(va_cfg_int_list(cfg, "strides", strides, BB_MAX_STAGES, &ns, err));
    VA_TRY(va_cfg_int_list(cfg, "input_size", input_size, 2, &nsize, err));
    if (m->in_channels < 1 || m->stem_width < 1 || reduction < 1)
        return va_fail(err, VA_ERR_CONFIG,
                       "backbone config: in_channels, stem_width and attention_reduction must be "
                       ">= 1");
    if (m->num_classes < 1 || m->num_classes > BB_MAX_CLASSES)
        return va_fail(err, VA_ERR_CONFIG, "backbone config: num_classes must be 1..%d, got %d",
                       BB_MAX_CLASSES, m->num_classes);
    if (nw < 1 || nd != nw || ns != nw)
        return va_fail(err, VA_ERR_CONFIG,
                       "backbone config: widths, depths and strides must be non-empty lists of the "
                       "same length (got %d, %d, %d)",
                       nw, nd, ns);
    for (int i = 0; i < nw; i++) {
        if (widths[i] < 1 || depths[i] < 1 || depths[i] > BB_MAX_DEPTH || strides[i] < 1 ||
            strides[i] > 2)
            return va_fail(err, VA_ERR_CONFIG,
                           "backbone config: stage %d: width must be >= 1, depth 1..%d, stride 1 "
                           "or 2",
                           i + 1, BB_MAX_DEPTH);
    }
    if (nsize != 0 && nsize != 2)
        return va_fail(err, VA_ERR_CONFIG, "backbone config: input_size must be [H, W]");
    VA_TRY(bb_declare(b, cfg, m->in_channels, m->num_classes, nsize ? input_size : NULL, err));

    /* attention_args is read with cJSON from the config's own serialisation. */
    char *json = va_config_to_json(cfg);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!root) return va_fail(err, VA_ERR_NOMEM, "backbone: out of memory");
    va_status s = VA_OK;
    char attn[64] = "";
    if (!s && va_cfg_has(cfg, "attention") && !va_cfg_is_null(cfg, "attention")) {
        s = va_cfg_str(cfg, "attention", "", attn, sizeof attn, err);
        const va_block_ops *ops = s ? NULL : va_find_ops(attn);
        if (!s && (!ops || ops->kind != VA_KIND_BLOCK))
            s = va_fail(err, VA_ERR_CONFIG,
                        "backbone config: attention '%s' is not a registered "
                        "block (see visattn list)",
                        attn);
        if (!s) snprintf(attn, sizeof attn, "%s", ops->name); /* alias -> name */
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "attention_args");
    if (!s && args && !cJSON_IsNull(args) && !cJSON_IsObject(args))
        s = va_fail(err, VA_ERR_CONFIG, "backbone config: attention_args must be an object");
    if (args && cJSON_IsNull(args)) args = NULL;

    m->num_stages = nw;
    int cin = m->stem_width;
    if (!s) s = bb_conv_init(&m->stem, m->in_channels, m->stem_width, 1, err);
    for (int i = 0; i < nw && !s; i++) {
        bb_stage *st = &m->stages[i];
        st->width = widths[i];
        st->depth = depths[i];
        st->layers = calloc((size_t)depths[i], sizeof *st->layers);
        if (!st->layers) s = va_fail(err, VA_ERR_NOMEM, "backbone: out of memory");
        for (int j = 0; j < depths[i] && !s; j++)
            s = bb_conv_init(&st->layers[j], j == 0 ? cin : widths[i], widths[i],
                             j == 0 ? strides[i] : 1, err);
        if (!s && attn[0]) {
            char *aj = NULL;
            s = va_net_attn_json("backbone", attn, args, reduction, widths[i], &aj, err);
            if (!s && (s = va_block_create(attn, aj, &st->attn, err)) != VA_OK)
                va_error_prefix(err, "backbone config: attention");
            free(aj);
        }
        cin = widths[i];
    }
    cJSON_Delete(root);
    VA_TRY(s);
    VA_TRY(va_check_weight_count("backbone config: num_classes x last width",
                                 (int64_t)m->num_classes * cin, err));
    size_t nfc = (size_t)m->num_classes * (size_t)cin;
    m->fc_w = malloc(nfc * sizeof(float));
    m->fc_b = malloc((size_t)m->num_classes * sizeof(float));
    if (!m->fc_w || !m->fc_b) return va_fail(err, VA_ERR_NOMEM, "backbone: out of memory");
    return VA_OK;
}

static va_status bb_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    backbone *m = b->self;
    char p[256];
    snprintf(p, sizeof p, "%sstem.", prefix);
    VA_TRY(bb_conv_load(&m->stem, w, p, err));
    for (int i = 0; i < m->num_stages; i++) {
        bb_stage *st = &m->stages[i];
        for (int j = 0; j < st->depth; j++) {
            snprintf(p, sizeof p, "%sstages.%d.layers.%d.", prefix, i, j);
            VA_TRY(bb_conv_load(&st->layers[j], w, p, err));
        }
        if (st->attn) {
            snprintf(p, sizeof p, "%sstages.%d.attn.", prefix, i);
            VA_TRY(va_block_load(st->attn, w, p, err));
        }
    }
    const int64_t last = m->stages[m->num_stages - 1].width, nc = m->num_classes;
    const int64_t fshape[2] = {nc, last};
    VA_TRY(va_weights_get(w, prefix, "fc.weight", 2, fshape, m->fc_w, err));
    return va_weights_get(w, prefix, "fc.bias", 1, &nc, m->fc_b, err);
}

/* Shape after the stem and each stage; shapes[0] is the stem's output. */
static va_status bb_shapes(const backbone *m, const int64_t in[4],
                           int64_t shapes[BB_MAX_STAGES + 1][4], va_error *err) {
    if (in[1] != m->in_channels)
        return va_fail(err, VA_ERR_SHAPE, "backbone: input has %lld channels, expected %d",
                       (long long)in[1], m->in_channels);
    shapes[0][0] = in[0];
    shapes[0][1] = m->stem_width;
    VA_TRY(va_conv2d_out_hw(&m->stem.d, in[2], in[3], &shapes[0][2], &shapes[0][3], err));
    for (int i = 0; i < m->num_stages; i++) {
        const bb_stage *st = &m->stages[i];
        int64_t h = shapes[i][2], w = shapes[i][3];
        for (int j = 0; j < st->depth; j++)
            VA_TRY(va_conv2d_out_hw(&st->layers[j].d, h, w, &h, &w, err));
        shapes[i + 1][0] = in[0];
        shapes[i + 1][1] = st->width;
        shapes[i + 1][2] = h;
        shapes[i + 1][3] = w;
    }
    return VA_OK;
}

static va_status bb_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                              va_error *err) {
    const backbone *m = b->self;
    int64_t shapes[BB_MAX_STAGES + 1][4];
    VA_TRY(bb_shapes(m, in, shapes, err));
    out[0] = in[0];
    out[1] = m->num_classes;
    out[2] = out[3] = 1;
    return VA_OK;
}

static va_status bb_conv_forward(const bb_conv *c, const va_tensor *x, va_tensor *y, va_arena *ws,
                                 va_error *err) {
    int64_t oh, ow;
    VA_TRY(va_conv2d_out_hw(&c->d, x->shape[2], x->shape[3], &oh, &ow, err));
    VA_TRY(va_arena_tensor4(ws, y, x->shape[0], c->d.out_channels, oh, ow, err));
    return va_conv2d(&c->d, x, y, ws, err);
}

static va_status bb_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                            va_error *err) {
    va_arena *ws = va_run_arena(r);
    const backbone *m = b->self;
    const int64_t n = x->shape[0];
    const int maps = va_run_want_maps(r);
    va_tensor cur, next;
    int slot = 0;
    VA_TRY(bb_conv_forward(&m->stem, x, &cur, ws, err));
    for (int i = 0; i < m->num_stages; i++) {
        const bb_stage *st = &m->stages[i];
        for (int j = 0; j < st->depth; j++) {
            VA_TRY(bb_conv_forward(&st->layers[j], &cur, &next, ws, err));
            cur = next;
        }
        char prefix[24];
        snprintf(prefix, sizeof prefix, "stage%d.", i + 1);
        if (st->attn) {
            /* The block's maps go straight into this run, as stage<k>.<name>. */
            va_run_scope scope;
            VA_TRY(va_arena_tensor4(ws, &next, n, cur.shape[1], cur.shape[2], cur.shape[3], err));
            va_run_scope_push(r, slot, prefix, &scope);
            va_status s = va_block_forward(st->attn, r, &cur, &next, err);
            slot += va_run_scope_pop(r, &scope);
            VA_TRY(s);
            if (m->residual) VA_TRY(va_add(&next, &cur, &next, err));
            cur = next;
        }
        if (maps) {
            char name[VA_MAP_NAME_LEN];
            va_tensor *e;
            snprintf(name, sizeof name, "%senergy", prefix);
            VA_TRY(va_run_map_prepare(r, slot++, name, n, 1, cur.shape[2], cur.shape[3], &e, err));
            VA_TRY(va_channel_mean(&cur, e, err));
        }
    }
    const int64_t c = cur.shape[1], nc = m->num_classes;
    va_tensor pooled;
    VA_TRY(va_arena_tensor4(ws, &pooled, n, c, 1, 1, err));
    VA_TRY(va_global_avgpool(&cur, &pooled, err));
    VA_TRY(va_linear(pooled.data, n, c, m->fc_w, m->fc_b, nc, y->data, err));
    if (!maps) return VA_OK;
    va_tensor *cam;
    VA_TRY(va_run_map_prepare(r, slot, "cam", n, 1, cur.shape[2], cur.shape[3], &cam, err));
    return va_class_activation_map(&cur, m->fc_w, y->data, nc, cam, err);
}

static va_status bb_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    const backbone *m = b->self;
    int64_t shapes[BB_MAX_STAGES + 1][4];
    VA_TRY(bb_shapes(m, in, shapes, err));
    const int64_t n = in[0];
    /* Each conv is counted as conv + BN + ReLU, as PyTorch runs it (BN params included). */
    const bb_conv *c = &m->stem;
    int64_t h = shapes[0][2], w = shapes[0][3];
    va_cost_conv2d(cost, c->d.in_channels, c->d.out_channels, 3, 3, 1, 0, n, h, w);
    va_cost_params(cost, 2 * (int64_t)c->d.out_channels);
    va_cost_elementwise(cost, n * c->d.out_channels * h * w, VA_FLOPS_BN + VA_FLOPS_ACT);
    h = shapes[0][2], w = shapes[0][3];
    for (int i = 0; i < m->num_stages; i++) {
        const bb_stage *st = &m->stages[i];
        for (int j = 0; j < st->depth; j++) {
            c = &st->layers[j];
            VA_TRY(va_conv2d_out_hw(&c->d, h, w, &h, &w, err));
            va_cost_conv2d(cost, c->d.in_channels, c->d.out_channels, 3, 3, 1, 0, n, h, w);
            va_cost_params(cost, 2 * (int64_t)c->d.out_channels);
            va_cost_elementwise(cost, n * c->d.out_channels * h * w, VA_FLOPS_BN + VA_FLOPS_ACT);
        }
        if (st->attn) {
            va_cost ac;
            VA_TRY(va_block_cost(st->attn, shapes[i + 1], &ac, err));
            cost->params += ac.params;
            cost->macs += ac.macs;
            cost->flops += ac.flops;
            if (m->residual) va_cost_elementwise(cost, n * st->width * h * w, VA_FLOPS_ADDMUL);
        }
    }
    const int64_t last = m->stages[m->num_stages - 1].width;
    va_cost_elementwise(cost, n * last * h * w, VA_FLOPS_POOL);
    va_cost_linear(cost, n, last, m->num_classes, 1);
    return VA_OK;
}

static void bb_destroy(va_block *b) {
    backbone *m = b->self;
    if (!m) return;
    bb_conv_free(&m->stem);
    for (int i = 0; i < m->num_stages; i++) {
        bb_stage *st = &m->stages[i];
        if (st->layers)
            for (int j = 0; j < st->depth; j++)
                bb_conv_free(&st->layers[j]);
        free(st->layers);
        va_block_destroy(st->attn);
    }
    free(m->fc_w);
    free(m->fc_b);
    free(m);
}

const va_block_ops va_backbone_ops = {
    .name = "backbone",
    .kind = VA_KIND_MODEL,
    .summary = "small CNN with an attention block after each stage (docs/backbone.md)",
    .create = bb_create,
    .load = bb_load,
    .out_shape = bb_out_shape,
    .forward = bb_forward,
    .cost = bb_cost,
    .destroy = bb_destroy,
};
