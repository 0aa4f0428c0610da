/* The network engine: a CNN as a table of units (backbone/net.h), built, loaded, run and costed
 * here for every family that describes itself as such a table (resnet.c, ...). */
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_BN_EPS 1e-5f /* nn.BatchNorm2d's default, unless a conv names its own */

typedef struct net_conv {
    net_conv_desc desc;
    va_conv2d_desc d; /* the BN folded in: bias = its shift; act fused */
    float *w, *b;
    float *scale; /* the BN kept apart (slot_before_bn): y = act(conv(x) * scale + b) */
} net_conv;

typedef struct net_unit {
    net_kind kind;
    char prefix[NET_KEY_LEN];
    int nconv, has_down, no_shortcut, slot_after, slot_before_bn;
    net_conv conv[NET_MAX_CONVS], down;
    va_act out_act;
    va_block *attn;
    char attn_key[NET_KEY_LEN];
    va_pool2d_desc pool;
    int in_features, num_classes, pool_window;
    char fc[NET_KEY_LEN], fc_hidden[NET_KEY_LEN];
    float *fc_w, *fc_b;
    int hidden;
    va_act hidden_act;
    float *h_w, *h_b; /* the hidden Linear */
    char energy[VA_MAP_NAME_LEN];
} net_unit;

typedef struct va_net {
    char what[32];
    int num_units;
    net_unit *units;
} va_net;

/* ---- Build ----------------------------------------------------------------------------------- */

static va_status conv_init(net_conv *c, const net_conv_desc *cd, int bn_apart, const char *what,
                           const char *prefix, va_error *err) {
    c->desc = *cd;
    va_conv2d_desc_init(&c->d, cd->cin, cd->cout, cd->kernel);
    c->d.stride_h = c->d.stride_w = cd->stride;
    c->d.pad_h = c->d.pad_w = cd->pad;
    c->d.dilation_h = c->d.dilation_w = cd->dilation;
    c->d.groups = cd->groups;
    c->d.act = cd->act;
    if (va_conv2d_check(&c->d, err) != VA_OK) {
        char where[96];
        snprintf(where, sizeof where, "%s config: %s%s", what, prefix, cd->conv);
        return va_error_prefix(err, where);
    }
    const int64_t n = (int64_t)cd->cout * (cd->cin / cd->groups) * cd->kernel * cd->kernel;
    VA_TRY(va_check_weight_count("network conv", n, err));
    c->w = va_aligned_alloc((size_t)n * sizeof(float));
    c->b = va_aligned_alloc((size_t)cd->cout * sizeof(float));
    if (!c->w || !c->b) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    c->d.weight = c->w, c->d.bias = c->b;
    if (bn_apart) { /* the conv alone; conv_bn_apart applies the BN and the activation */
        c->d.bias = NULL, c->d.act = VA_ACT_NONE;
        if (!(c->scale = va_aligned_alloc((size_t)cd->cout * sizeof(float))))
            return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    }
    return VA_OK;
}

static void conv_free(net_conv *c) {
    va_aligned_free(c->w);
    va_aligned_free(c->b);
    va_aligned_free(c->scale);
}

/* y = act(y * scale + shift) per channel: the BN a slot_before_bn slot put apart. */
static void conv_bn_apart(const net_conv *c, va_tensor *y) {
    const int64_t n = y->shape[0], ch = y->shape[1], hw = y->shape[2] * y->shape[3];
    for (int64_t i = 0; i < n * ch; i++) {
        float *p = y->data + i * hw;
        const float a = c->scale[i % ch], b = c->b[i % ch];
        for (int64_t k = 0; k < hw; k++)
            p[k] = p[k] * a + b;
        va_act_apply(c->desc.act, p, p, hw);
    }
}

va_status va_net_build(va_block *b, const char *what, const net_unit_desc *units, int num_units,
                       va_error *err) {
    va_net *net = calloc(1, sizeof *net);
    if (!net) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    b->self = net;
    snprintf(net->what, sizeof net->what, "%s", what);
    if (num_units < 1 || units[num_units - 1].kind != NET_HEAD)
        return va_fail(err, VA_ERR_CONFIG, "%s: a network ends with its head", what);
    if (!(net->units = calloc((size_t)num_units, sizeof *net->units)))
        return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    net->num_units = num_units;
    for (int i = 0; i < num_units; i++) {
        const net_unit_desc *ud = &units[i];
        net_unit *u = &net->units[i];
        u->kind = ud->kind;
        snprintf(u->prefix, sizeof u->prefix, "%s", ud->prefix);
        snprintf(u->energy, sizeof u->energy, "%s", ud->energy);
        switch (ud->kind) {
        case NET_CONV_BN_ACT:
            u->nconv = 1;
            VA_TRY(conv_init(&u->conv[0], &ud->conv[0], 0, what, ud->prefix, err));
            break;
        case NET_MAXPOOL: u->pool = ud->pool; break;
        case NET_BLOCK:
            if (va_block_create(ud->attn, ud->attn_json, &u->attn, err) != VA_OK) {
                char where[96];
                snprintf(where, sizeof where, "%s config: %s at %s", what, ud->attn, ud->prefix);
                return va_error_prefix(err, where);
            }
            break;
        case NET_RESIDUAL:
            if (ud->nconv < 1 || ud->nconv > NET_MAX_CONVS)
                return va_fail(err, VA_ERR_CONFIG, "%s: %s: 1..%d convs in a residual branch", what,
                               ud->prefix, NET_MAX_CONVS);
            u->nconv = ud->nconv;
            u->out_act = ud->out_act;
            u->no_shortcut = ud->no_shortcut && !ud->has_down;
            u->slot_before_bn = ud->attn[0] && ud->slot_before_bn;
            for (int k = 0; k < ud->nconv; k++)
                VA_TRY(conv_init(&u->conv[k], &ud->conv[k],
                                 u->slot_before_bn && k == ud->slot_after, what, ud->prefix, err));
            if ((u->has_down = ud->has_down))
                VA_TRY(conv_init(&u->down, &ud->down, 0, what, ud->prefix, err));
            if (ud->attn[0]) {
                if (ud->slot_after < 0 || ud->slot_after >= ud->nconv)
                    return va_fail(err, VA_ERR_CONFIG, "%s: %s: the slot follows conv 0..%d", what,
                                   ud->prefix, ud->nconv - 1);
                u->slot_after = ud->slot_after;
                snprintf(u->attn_key, sizeof u->attn_key, "%s", ud->attn_key);
                if (va_block_create(ud->attn, ud->attn_json, &u->attn, err) != VA_OK) {
                    char where[96];
                    snprintf(where, sizeof where, "%s config: attention at %s", what, ud->prefix);
                    return va_error_prefix(err, where);
                }
            }
            break;
        case NET_HEAD:
            u->in_features = ud->in_features;
            u->num_classes = ud->num_classes;
            u->hidden = ud->hidden;
            u->hidden_act = ud->hidden_act;
            u->pool_window = ud->pool_window;
            snprintf(u->fc, sizeof u->fc, "%s", ud->fc);
            snprintf(u->fc_hidden, sizeof u->fc_hidden, "%s", ud->fc_hidden);
            if (ud->in_features < 1 || ud->num_classes < 1 || ud->hidden < 0)
                return va_fail(err, VA_ERR_CONFIG, "%s config: num_classes must be >= 1", what);
            if (ud->pool_window < 0)
                return va_fail(err, VA_ERR_CONFIG, "%s: the head's pool window must be >= 0", what);
            if (ud->hidden_act != VA_ACT_NONE && ud->hidden_act != VA_ACT_RELU &&
                ud->hidden_act != VA_ACT_HARDSWISH)
                return va_fail(err, VA_ERR_CONFIG,
                               "%s: the head's hidden activation is not one "
                               "of none, relu, hardswish",
                               what);
            const int fin = ud->hidden ? ud->hidden : ud->in_features;
            if (ud->hidden) {
                VA_TRY(va_check_weight_count("network head", (int64_t)ud->in_features * ud->hidden,
                                             err));
                u->h_w = malloc((size_t)ud->in_features * ud->hidden * sizeof(float));
                u->h_b = malloc((size_t)ud->hidden * sizeof(float));
                if (!u->h_w || !u->h_b)
                    return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
            }
            VA_TRY(va_check_weight_count("network head", (int64_t)fin * ud->num_classes, err));
            u->fc_w = malloc((size_t)fin * ud->num_classes * sizeof(float));
            u->fc_b = malloc((size_t)ud->num_classes * sizeof(float));
            if (!u->fc_w || !u->fc_b) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
            break;
        }
    }
    return VA_OK;
}

void va_net_destroy(va_block *b) {
    va_net *net = b->self;
    if (!net) return;
    for (int i = 0; net->units && i < net->num_units; i++) {
        net_unit *u = &net->units[i];
        for (int k = 0; k < u->nconv; k++)
            conv_free(&u->conv[k]);
        if (u->has_down) conv_free(&u->down);
        va_block_destroy(u->attn);
        free(u->fc_w);
        free(u->fc_b);
        free(u->h_w);
        free(u->h_b);
    }
    free(net->units);
    free(net);
}

/* ---- Load ------------------------------------------------------------------------------------ */

/* "<p><conv>.weight", then "<p><bn>.*" folded into it. */
static va_status conv_load(net_conv *c, va_weights *w, const char *p, va_error *err) {
    const net_conv_desc *cd = &c->desc;
    const int64_t cout = cd->cout, k = (int64_t)(cd->cin / cd->groups) * cd->kernel * cd->kernel;
    const int64_t wshape[4] = {cout, cd->cin / cd->groups, cd->kernel, cd->kernel};
    char key[2 * NET_KEY_LEN];
    snprintf(key, sizeof key, "%s.weight", cd->conv);
    VA_TRY(va_weights_get(w, p, key, 4, wshape, c->w, err));
    float *bn = malloc(4 * (size_t)cout * sizeof(float));
    if (!bn) return va_fail(err, VA_ERR_NOMEM, "network: out of memory");
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    va_status s = VA_OK;
    for (int i = 0; i < 4 && !s; i++) {
        snprintf(key, sizeof key, "%s.%s", cd->bn, names[i]);
        s = va_weights_get(w, p, key, 1, &cout, bn + i * cout, err);
    }
    if (!s) {
        /* Kept apart: fold the BN into a per-channel scale of 1 instead of the weights. */
        float *into = c->scale ? c->scale : c->w;
        const int64_t k_into = c->scale ? 1 : k;
        if (c->scale)
            for (int64_t i = 0; i < cout; i++)
                c->scale[i] = 1.0f;
        memset(c->b, 0, (size_t)cout * sizeof(float));
        va_fold_batchnorm(into, c->b, cout, k_into, bn, bn + cout, bn + 2 * cout, bn + 3 * cout,
                          cd->bn_eps > 0 ? cd->bn_eps : NET_BN_EPS);
    }
    free(bn);
    return s;
}

va_status va_net_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    va_net *net = b->self;
    char p[256];
    for (int i = 0; i < net->num_units; i++) {
        net_unit *u = &net->units[i];
        snprintf(p, sizeof p, "%s%s", prefix, u->prefix);
        for (int k = 0; k < u->nconv; k++)
            VA_TRY(conv_load(&u->conv[k], w, p, err));
        if (u->has_down) VA_TRY(conv_load(&u->down, w, p, err));
        if (u->attn && u->kind == NET_BLOCK) {
            VA_TRY(va_block_load(u->attn, w, p, err));
        } else if (u->attn) {
            char ap[320];
            snprintf(ap, sizeof ap, "%s%s.", p, u->attn_key);
            VA_TRY(va_block_load(u->attn, w, ap, err));
        }
        if (u->kind == NET_HEAD) {
            const int64_t nc = u->num_classes, fin = u->hidden ? u->hidden : u->in_features;
            const int64_t fshape[2] = {nc, fin};
            char key[2 * NET_KEY_LEN];
            if (u->hidden) {
                const int64_t nh = u->hidden, hshape[2] = {nh, u->in_features};
                snprintf(key, sizeof key, "%s.weight", u->fc_hidden);
                VA_TRY(va_weights_get(w, p, key, 2, hshape, u->h_w, err));
                snprintf(key, sizeof key, "%s.bias", u->fc_hidden);
                VA_TRY(va_weights_get(w, p, key, 1, &nh, u->h_b, err));
            }
            snprintf(key, sizeof key, "%s.weight", u->fc);
            VA_TRY(va_weights_get(w, p, key, 2, fshape, u->fc_w, err));
            snprintf(key, sizeof key, "%s.bias", u->fc);
            VA_TRY(va_weights_get(w, p, key, 1, &nc, u->fc_b, err));
        }
    }
    return VA_OK;
}

/* ---- Shapes ---------------------------------------------------------------------------------- */

static va_status conv_shape(const net_conv *c, const int64_t in[4], int64_t out[4], va_error *err) {
    int64_t h, w;
    VA_TRY(va_conv2d_out_hw(&c->d, in[2], in[3], &h, &w, err));
    out[0] = in[0], out[1] = c->desc.cout, out[2] = h, out[3] = w;
    return VA_OK;
}

/* The shape unit u gives for input `in` (whose channels the table guarantees). */
static va_status unit_shape(const net_unit *u, const int64_t in[4], int64_t out[4], va_error *err) {
    int64_t s[4] = {in[0], in[1], in[2], in[3]};
    switch (u->kind) {
    case NET_CONV_BN_ACT: return conv_shape(&u->conv[0], s, out, err);
    case NET_MAXPOOL:
        out[0] = in[0], out[1] = in[1];
        return va_pool2d_out_hw(&u->pool, in[2], in[3], &out[2], &out[3], err);
    case NET_BLOCK: return va_block_out_shape(u->attn, in, out, err);
    case NET_RESIDUAL:
        for (int k = 0; k < u->nconv; k++)
            VA_TRY(conv_shape(&u->conv[k], s, s, err));
        if (u->has_down) {
            int64_t d[4];
            VA_TRY(conv_shape(&u->down, in, d, err));
            if (d[2] != s[2] || d[3] != s[3])
                return va_fail(err, VA_ERR_SHAPE,
                               "%s: the shortcut gives %lldx%lld, the branch %lldx%lld", u->prefix,
                               (long long)d[2], (long long)d[3], (long long)s[2], (long long)s[3]);
        } else if (!u->no_shortcut && (s[1] != in[1] || s[2] != in[2] || s[3] != in[3])) {
            return va_fail(err, VA_ERR_SHAPE, "%s: the branch changes the shape without a shortcut",
                           u->prefix);
        }
        memcpy(out, s, sizeof s);
        return VA_OK;
    case NET_HEAD: {
        /* nn.AvgPool2d(k) then a flatten into Linear(in_features): only a 1 x 1 pool output
         * fits; PyTorch fails on anything else (too small a map, or a Linear size mismatch). */
        const int64_t k = u->pool_window;
        if (k && (in[2] < k || in[2] >= 2 * k || in[3] < k || in[3] >= 2 * k))
            return va_fail(err, VA_ERR_SHAPE,
                           "the head's AvgPool2d(%lld) needs a final feature map of %lld..%lld x "
                           "%lld..%lld (a single window into the fc, as in the official model), "
                           "got %lldx%lld",
                           (long long)k, (long long)k, (long long)(2 * k - 1), (long long)k,
                           (long long)(2 * k - 1), (long long)in[2], (long long)in[3]);
        out[0] = in[0], out[1] = u->num_classes, out[2] = out[3] = 1;
        return VA_OK;
    }
    }
    return VA_OK;
}

static int first_channels(const va_net *net) {
    for (int i = 0; i < net->num_units; i++) {
        const net_unit *u = &net->units[i];
        if (u->nconv) return u->conv[0].desc.cin;
        if (u->kind == NET_HEAD) return u->in_features;
    }
    return 0;
}

va_status va_net_out_shape(const va_block *b, const int64_t in[4], int64_t out[4], va_error *err) {
    const va_net *net = b->self;
    if (in[1] != first_channels(net))
        return va_fail(err, VA_ERR_SHAPE, "%s: input has %lld channels, expected %d", net->what,
                       (long long)in[1], first_channels(net));
    int64_t s[4] = {in[0], in[1], in[2], in[3]};
    for (int i = 0; i < net->num_units; i++) {
        const net_unit *u = &net->units[i];
        if (unit_shape(u, s, s, err) == VA_OK) continue;
        if (u->kind != NET_HEAD) return err ? err->status : VA_ERR_SHAPE;
        /* Name the input that led there, and the size the model declares. */
        char where[128];
        const va_model_info *mi = &b->info;
        snprintf(where, sizeof where, "%s: a %lldx%lld input", net->what, (long long)in[2],
                 (long long)in[3]);
        if (mi->input_h > 0)
            snprintf(where + strlen(where), sizeof where - strlen(where),
                     " (the model declares %dx%d)", mi->input_h, mi->input_w);
        return va_error_prefix(err, where);
    }
    memcpy(out, s, sizeof s);
    return VA_OK;
}

/* ---- Forward --------------------------------------------------------------------------------- */

static va_status conv_run(const net_conv *c, const va_tensor *x, va_tensor *y, va_arena *ws,
                          int alloc, va_error *err) {
    if (alloc) {
        int64_t s[4];
        VA_TRY(conv_shape(c, x->shape, s, err));
        VA_TRY(va_arena_tensor(ws, y, 4, s, err));
    }
    return va_conv2d(&c->d, x, y, ws, err);
}

/* y = out_act(branch(x) + shortcut(x)), the slot's maps under the unit's prefix from map *slot. */
static va_status residual_run(const net_unit *u, va_run *r, const va_tensor *x, va_tensor *y,
                              int *slot, va_error *err) {
    va_arena *ws = va_run_arena(r);
    va_tensor cur = *x, next;
    for (int k = 0; k < u->nconv; k++) {
        VA_TRY(conv_run(&u->conv[k], &cur, &next, ws, 1, err));
        cur = next;
        if (u->attn && k == u->slot_after) {
            VA_TRY(va_arena_tensor(ws, &next, 4, cur.shape, err));
            va_run_scope scope;
            va_run_scope_push(r, *slot, u->prefix, &scope);
            va_status s = va_block_forward(u->attn, r, &cur, &next, err);
            *slot += va_run_scope_pop(r, &scope);
            if (s != VA_OK) { /* name the block whose slot failed: "layer4.0" */
                char where[NET_KEY_LEN];
                snprintf(where, sizeof where, "%.*s", (int)strcspn(u->prefix, "\0") - 1, u->prefix);
                return va_error_prefix(err, where);
            }
            cur = next;
            if (u->slot_before_bn) conv_bn_apart(&u->conv[k], &cur);
        }
    }
    if (u->no_shortcut) {
        memcpy(y->data, cur.data, (size_t)va_numel(&cur) * sizeof(float));
    } else if (u->has_down) {
        VA_TRY(conv_run(&u->down, x, &next, ws, 1, err));
        VA_TRY(va_add(&cur, &next, y, err));
    } else {
        VA_TRY(va_add(&cur, x, y, err));
    }
    va_act_apply(u->out_act, y->data, y->data, va_numel(y));
    return VA_OK;
}

/* avgpool, [hidden Linear + act,] Linear; the CAM of the top class. With a hidden layer the head is
 * linearised at the sample: act(h) = g(h) h with g = relu6(h + 3) / 6 (hardswish), [h > 0] (relu),
 * 1 (none), so logit_top = b2 + sum_j W2[top, j] g_j (b1_j + W1[j] . pooled) exactly, and the CAM
 * is the feature map weighted by w_eff = sum_j W2[top, j] g_j W1[j]: its spatial mean differs from
 * the logit by a constant, as a plain CAM's does by the bias. */
static va_status head_run(const net_unit *u, va_run *r, const va_tensor *x, va_tensor *y, int slot,
                          va_error *err) {
    va_arena *ws = va_run_arena(r);
    const int64_t n = x->shape[0], c = x->shape[1], nc = u->num_classes, nh = u->hidden;
    va_tensor pooled;
    VA_TRY(va_arena_tensor4(ws, &pooled, n, c, 1, 1, err));
    if (u->pool_window) { /* unit_shape has checked that the one window is all the output */
        const int k = u->pool_window;
        const va_pool2d_desc window = {k, k, k, k, 0, 0};
        VA_TRY(va_avgpool2d(&window, x, &pooled, err));
    } else {
        VA_TRY(va_global_avgpool(x, &pooled, err));
    }
    if (!nh) {
        VA_TRY(va_linear(pooled.data, n, c, u->fc_w, u->fc_b, nc, y->data, err));
        if (!va_run_want_maps(r)) return VA_OK;
        va_tensor *cam;
        VA_TRY(va_run_map_prepare(r, slot, "cam", n, 1, x->shape[2], x->shape[3], &cam, err));
        return va_class_activation_map(x, u->fc_w, y->data, nc, cam, err);
    }
    float *h = va_arena_alloc(ws, (size_t)(n * nh) * sizeof(float), err);
    float *a = va_arena_alloc(ws, (size_t)(n * nh) * sizeof(float), err);
    if (!h || !a) return err ? err->status : VA_ERR_NOMEM;
    VA_TRY(va_linear(pooled.data, n, c, u->h_w, u->h_b, nh, h, err));
    va_act_apply(u->hidden_act, h, a, n * nh);
    VA_TRY(va_linear(a, n, nh, u->fc_w, u->fc_b, nc, y->data, err));
    if (!va_run_want_maps(r)) return VA_OK;
    float *v = va_arena_alloc(ws, (size_t)nh * sizeof(float), err);
    float *weff = va_arena_alloc(ws, (size_t)(n * c) * sizeof(float), err);
    float *onehot = va_arena_alloc(ws, (size_t)(n * n) * sizeof(float), err);
    if (!v || !weff || !onehot) return err ? err->status : VA_ERR_NOMEM;
    for (int64_t s = 0; s < n; s++) {
        const float *l = y->data + s * nc;
        int64_t top = 0; /* as va_class_activation_map picks it */
        for (int64_t k = 1; k < nc; k++)
            if (l[top] == l[top] && (l[k] > l[top] || l[k] != l[k])) top = k;
        for (int64_t j = 0; j < nh; j++) {
            const float hj = h[s * nh + j];
            float g = 1.0f;
            if (u->hidden_act == VA_ACT_RELU) g = hj > 0.0f ? 1.0f : 0.0f;
            if (u->hidden_act == VA_ACT_HARDSWISH)
                g = hj <= -3.0f ? 0.0f : hj >= 3.0f ? 1.0f : (hj + 3.0f) / 6.0f;
            v[j] = u->fc_w[top * nh + j] * g;
        }
        /* w_eff = v^T W1: a 1 x nh by nh x C product. */
        VA_TRY(va_bmm(1, 1, c, nh, v, 0, u->h_w, 0, weff + s * c, err));
        for (int64_t k = 0; k < n; k++)
            onehot[s * n + k] = k == s ? 1.0f : 0.0f;
    }
    va_tensor *cam;
    VA_TRY(va_run_map_prepare(r, slot, "cam", n, 1, x->shape[2], x->shape[3], &cam, err));
    /* Row s of weff is sample s's class weights: a one-hot "logit" per sample selects it. */
    return va_class_activation_map(x, weff, onehot, n, cam, err);
}

va_status va_net_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                         va_error *err) {
    const va_net *net = b->self;
    va_arena *ws = va_run_arena(r);
    /* Two buffers of the largest unit output, used in turn; each unit's scratch is given back
     * when it ends, so the arena holds two activations plus one unit's temporaries. */
    int64_t s[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]}, most = 0;
    for (int i = 0; i + 1 < net->num_units; i++) {
        VA_TRY(unit_shape(&net->units[i], s, s, err));
        if (s[0] * s[1] * s[2] * s[3] > most) most = s[0] * s[1] * s[2] * s[3];
    }
    float *buf[2];
    for (int k = 0; k < 2; k++)
        if (!(buf[k] = va_arena_alloc(ws, (size_t)most * sizeof(float) + 1, err)))
            return err ? err->status : VA_ERR_NOMEM;
    va_tensor cur = *x;
    int slot = 0;
    for (int i = 0; i < net->num_units; i++) {
        const net_unit *u = &net->units[i];
        if (u->kind == NET_HEAD) return head_run(u, r, &cur, y, slot, err);
        va_tensor out = {0};
        int64_t os[4];
        VA_TRY(unit_shape(u, cur.shape, os, err));
        out.ndim = 4;
        memcpy(out.shape, os, sizeof os);
        out.data = buf[i % 2];
        const size_t mark = va_arena_mark(ws);
        va_status st = VA_OK;
        switch (u->kind) {
        case NET_CONV_BN_ACT: st = conv_run(&u->conv[0], &cur, &out, ws, 0, err); break;
        case NET_MAXPOOL: st = va_maxpool2d(&u->pool, &cur, &out, err); break;
        case NET_RESIDUAL: st = residual_run(u, r, &cur, &out, &slot, err); break;
        case NET_BLOCK: {
            va_run_scope scope;
            va_run_scope_push(r, slot, u->prefix, &scope);
            st = va_block_forward(u->attn, r, &cur, &out, err);
            slot += va_run_scope_pop(r, &scope);
            break;
        }
        case NET_HEAD: break;
        }
        va_arena_rewind(ws, mark);
        VA_TRY(st);
        cur = out;
        if (u->energy[0] && va_run_want_maps(r)) {
            va_tensor *e;
            VA_TRY(va_run_map_prepare(r, slot++, u->energy, os[0], 1, os[2], os[3], &e, err));
            VA_TRY(va_channel_mean(&cur, e, err));
        }
    }
    return va_fail(err, VA_ERR_CONFIG, "%s: no head", net->what);
}

/* ---- Cost ------------------------------------------------------------------------------------ */

/* A conv as PyTorch runs it: conv (no bias), BN (its two parameters counted), activation. */
static va_status conv_cost(const net_conv *c, const int64_t in[4], int64_t out[4], va_cost *cost,
                           va_error *err) {
    VA_TRY(conv_shape(c, in, out, err));
    const net_conv_desc *cd = &c->desc;
    va_cost_conv2d(cost, cd->cin, cd->cout, cd->kernel, cd->kernel, cd->groups, 0, out[0], out[2],
                   out[3]);
    va_cost_params(cost, 2 * (int64_t)cd->cout);
    va_cost_elementwise(cost, out[0] * out[1] * out[2] * out[3],
                        VA_FLOPS_BN + (cd->act != VA_ACT_NONE ? VA_FLOPS_ACT : 0));
    return VA_OK;
}

va_status va_net_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    const va_net *net = b->self;
    int64_t s[4] = {in[0], in[1], in[2], in[3]}, o[4];
    for (int i = 0; i < net->num_units; i++) {
        const net_unit *u = &net->units[i];
        switch (u->kind) {
        case NET_CONV_BN_ACT: VA_TRY(conv_cost(&u->conv[0], s, o, cost, err)); break;
        case NET_MAXPOOL:
            VA_TRY(unit_shape(u, s, o, err));
            va_cost_elementwise(cost, o[0] * o[1] * o[2] * o[3],
                                (int64_t)u->pool.kernel_h * u->pool.kernel_w * VA_FLOPS_POOL);
            break;
        case NET_BLOCK: {
            va_cost bc;
            VA_TRY(va_block_cost(u->attn, s, &bc, err));
            VA_TRY(unit_shape(u, s, o, err));
            cost->params += bc.params, cost->macs += bc.macs, cost->flops += bc.flops;
            break;
        }
        case NET_RESIDUAL: {
            int64_t t[4] = {s[0], s[1], s[2], s[3]};
            for (int k = 0; k < u->nconv; k++) {
                VA_TRY(conv_cost(&u->conv[k], t, t, cost, err));
                if (u->attn && k == u->slot_after) {
                    va_cost ac;
                    VA_TRY(va_block_cost(u->attn, t, &ac, err));
                    cost->params += ac.params, cost->macs += ac.macs, cost->flops += ac.flops;
                }
            }
            if (u->has_down) VA_TRY(conv_cost(&u->down, s, o, cost, err));
            memcpy(o, t, sizeof t);
            va_cost_elementwise(cost, o[0] * o[1] * o[2] * o[3],
                                (u->no_shortcut ? 0 : VA_FLOPS_ADDMUL) +
                                    (u->out_act != VA_ACT_NONE ? VA_FLOPS_ACT : 0));
            break;
        }
        case NET_HEAD:
            VA_TRY(unit_shape(u, s, o, err)); /* refuses a map the pool window cannot take */
            va_cost_elementwise(
                cost,
                s[0] * s[1] *
                    (u->pool_window ? (int64_t)u->pool_window * u->pool_window : s[2] * s[3]),
                VA_FLOPS_POOL);
            if (u->hidden) {
                va_cost_linear(cost, s[0], u->in_features, u->hidden, 1);
                va_cost_elementwise(cost, s[0] * u->hidden,
                                    u->hidden_act != VA_ACT_NONE ? VA_FLOPS_ACT : 0);
            }
            va_cost_linear(cost, s[0], u->hidden ? u->hidden : u->in_features, u->num_classes, 1);
            break;
        }
        memcpy(s, o, sizeof o);
    }
    return VA_OK;
}

/* ---- The attention slot's config ------------------------------------------------------------- */

va_status va_net_attn_json(const char *what, const char *name, const cJSON *args, int reduction,
                           int c, char **out, va_error *err) {
    static const char *const owned[][3] = {
        {"se", "input_channels", "squeeze_channels"},
        {"cbam", "gate_channels", NULL},
        {"triplet", "gate_channels", NULL},
        {"shuffle", "channel", NULL},
        {"double_attention", "in_channels", "c_m"},
        {"double_attention", "c_n", NULL},
        {"irmb", "dim_in", "dim_out"},
        {"eca", "channel", NULL},
        {"simam", "channels", NULL},
        {"bam", "gate_channel", NULL},
    };
    *out = NULL;
    /* A block registered by the program names its channel key in its ops. */
    const va_block_ops *ops = va_find_ops(name);
    const char *ckey = ops ? ops->channels_key : NULL;
    if (ckey && cJSON_GetObjectItemCaseSensitive(args, ckey))
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: attention_args must not set '%s' (the %s sets it per stage)",
                       what, ckey, what);
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        if (strcmp(owned[i][0], name) != 0) continue;
        for (int k = 1; k < 3; k++)
            if (owned[i][k] && cJSON_GetObjectItemCaseSensitive(args, owned[i][k]))
                return va_fail(err, VA_ERR_CONFIG,
                               "%s config: attention_args must not set '%s' (the %s sets it per "
                               "stage)",
                               what, owned[i][k], what);
    }
    cJSON *o = args ? cJSON_Duplicate(args, 1) : cJSON_CreateObject();
    if (!o) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    const int r = c / reduction > 1 ? c / reduction : 1;
    int ok = 1;
    if (strcmp(name, "se") == 0) {
        ok = cJSON_AddNumberToObject(o, "input_channels", c) &&
             cJSON_AddNumberToObject(o, "squeeze_channels", r);
    } else if (strcmp(name, "cbam") == 0 || strcmp(name, "triplet") == 0) {
        ok = cJSON_AddNumberToObject(o, "gate_channels", c) != NULL;
    } else if (strcmp(name, "shuffle") == 0) {
        /* SA-Net needs C divisible by 2*groups: take the largest groups that fits. */
        int g = 64;
        const cJSON *gj = cJSON_GetObjectItemCaseSensitive(o, "groups");
        if (gj && (!cJSON_IsNumber(gj) || gj->valuedouble != (double)gj->valueint)) {
            cJSON_Delete(o);
            return va_fail(err, VA_ERR_CONFIG,
                           "%s config: attention_args 'groups' must be an integer", what);
        }
        if (gj) g = gj->valueint;
        if (g < 1) g = 1;
        if (g > c / 2) g = c / 2 > 0 ? c / 2 : 1; /* 2 * groups > c never divides c */
        while (g > 1 && c % (2 * g) != 0)
            g--;
        cJSON_DeleteItemFromObjectCaseSensitive(o, "groups");
        ok = cJSON_AddNumberToObject(o, "channel", c) && cJSON_AddNumberToObject(o, "groups", g);
    } else if (strcmp(name, "double_attention") == 0) {
        ok = cJSON_AddNumberToObject(o, "in_channels", c) && cJSON_AddNumberToObject(o, "c_m", r) &&
             cJSON_AddNumberToObject(o, "c_n", r);
    } else if (strcmp(name, "irmb") == 0) {
        ok = cJSON_AddNumberToObject(o, "dim_in", c) && cJSON_AddNumberToObject(o, "dim_out", c);
    } else if (strcmp(name, "eca") == 0) {
        ok = cJSON_AddNumberToObject(o, "channel", c) != NULL;
    } else if (strcmp(name, "simam") == 0) {
        ok = cJSON_AddNumberToObject(o, "channels", c) != NULL;
    } else if (strcmp(name, "bam") == 0) {
        ok = cJSON_AddNumberToObject(o, "gate_channel", c) != NULL;
    } else if (ckey) {
        ok = cJSON_AddNumberToObject(o, ckey, c) != NULL;
    }
    *out = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!*out) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    return VA_OK;
}

va_status va_net_read_se_slot(const char *what, const va_config *cfg, const char *default_attn,
                              char attn[64], int *reduction, cJSON **root, const cJSON **args,
                              va_error *err) {
    *root = NULL;
    *args = NULL;
    snprintf(attn, 64, "%s", default_attn);
    if (va_cfg_has(cfg, "attention") && va_cfg_is_null(cfg, "attention")) attn[0] = 0;
    if (va_cfg_has(cfg, "attention") && !va_cfg_is_null(cfg, "attention")) {
        VA_TRY(va_cfg_str(cfg, "attention", "se", attn, 64, err));
        const va_block_ops *ops = va_find_ops(attn);
        if (!ops || ops->kind != VA_KIND_BLOCK)
            return va_fail(err, VA_ERR_CONFIG,
                           "%s config: attention '%s' is not a registered block (see visattn list)",
                           what, attn);
        snprintf(attn, 64, "%s", ops->name); /* alias -> name */
    }
    VA_TRY(va_cfg_int(cfg, "attention_reduction", 4, reduction, err));
    if (*reduction < 1)
        return va_fail(err, VA_ERR_CONFIG, "%s config: attention_reduction must be >= 1", what);
    if (va_cfg_has(cfg, "attention_reduction") && strcmp(attn, "se") == 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s config: attention_reduction does not apply to se (its squeeze "
                       "channels follow torchvision's rule for the network)",
                       what);
    char *json = va_config_to_json(cfg);
    *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!*root) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(*root, "attention_args");
    if (a && cJSON_IsNull(a)) a = NULL;
    if (a && !cJSON_IsObject(a))
        return va_fail(err, VA_ERR_CONFIG, "%s config: attention_args must be an object", what);
    if (a && !attn[0])
        return va_fail(err, VA_ERR_CONFIG, "%s config: attention_args without an attention", what);
    *args = a;
    return VA_OK;
}

va_status va_net_se_slot_json(const char *what, const char *attn, const cJSON *args, int reduction,
                              int c, int squeeze, const char *act, const char *scale_act,
                              char **out, va_error *err) {
    if (strcmp(attn, "se") != 0) return va_net_attn_json(what, attn, args, reduction, c, out, err);
    static const char *const owned[] = {"input_channels", "squeeze_channels"};
    for (int i = 0; i < 2; i++)
        if (cJSON_GetObjectItemCaseSensitive(args, owned[i]))
            return va_fail(err, VA_ERR_CONFIG,
                           "%s config: attention_args must not set '%s' (torchvision's rule sets "
                           "it per block)",
                           what, owned[i]);
    cJSON *o = args ? cJSON_Duplicate(args, 1) : cJSON_CreateObject();
    int ok = o && cJSON_AddNumberToObject(o, "input_channels", c) &&
             cJSON_AddNumberToObject(o, "squeeze_channels", squeeze);
    if (ok && !cJSON_GetObjectItemCaseSensitive(o, "activation"))
        ok = cJSON_AddStringToObject(o, "activation", act) != NULL;
    if (ok && !cJSON_GetObjectItemCaseSensitive(o, "scale_activation"))
        ok = cJSON_AddStringToObject(o, "scale_activation", scale_act) != NULL;
    *out = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!*out) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    return VA_OK;
}

va_status va_net_set_info(va_block *b, int num_classes, int size, int normalised, const float *mean,
                          const float *std, va_error *err) {
    static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
    static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
    const va_model_info info = {.in_channels = 3,
                                .input_h = size,
                                .input_w = size,
                                .num_norm = normalised ? 3 : 0,
                                .mean = normalised ? (mean ? mean : imagenet_mean) : NULL,
                                .std = normalised ? (std ? std : imagenet_std) : NULL,
                                .num_classes = num_classes};
    return va_block_set_info(b, &info, err);
}

va_status va_net_table_alloc(int n, net_unit_desc **units, char ***json, const char *what,
                             va_error *err) {
    *units = calloc((size_t)n, sizeof **units);
    *json = calloc((size_t)n, sizeof **json);
    if (*units && *json) return VA_OK;
    va_net_table_free(*units, *json, 0);
    *units = NULL, *json = NULL;
    return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
}

void va_net_table_free(net_unit_desc *units, char **json, int n) {
    for (int i = 0; json && i < n; i++)
        free(json[i]);
    free(json);
    free(units);
}
