/* The generic half of the block interface: argument checks around the vtable, attention-map
 * storage, cost helpers and loading a block or model from a weight file's metadata. */
#include "visattn/block.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

va_status va_block_create_cfg(const char *name, const va_config *cfg, va_block **out,
                              va_error *err) {
    *out = NULL;
    const va_block_ops *ops = name ? va_find_ops(name) : NULL;
    if (!ops) return va_fail(err, VA_ERR_CONFIG, "unknown block or model '%s'", name ? name : "");
    va_block *b = calloc(1, sizeof *b);
    if (!b) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", ops->name);
    b->ops = ops;
    b->want_maps = 1;
    va_status st = ops->create(b, cfg, err);
    if (st != VA_OK) {
        va_block_destroy(b);
        return st;
    }
    *out = b;
    return VA_OK;
}

va_status va_block_create(const char *name, const char *config_json, va_block **out,
                          va_error *err) {
    char what[80];
    snprintf(what, sizeof what, "%s config", name ? name : "block");
    va_config *cfg;
    VA_TRY(va_config_parse(config_json, what, &cfg, err));
    va_status st = va_block_create_cfg(name, cfg, out, err);
    va_config_free(cfg);
    return st;
}

va_status va_block_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    VA_TRY(b->ops->load(b, w, prefix ? prefix : "", err));
    b->loaded = 1;
    return VA_OK;
}

va_status va_block_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                             va_error *err) {
    /* An empty batch gives an empty output and empty maps, as in PyTorch; empty planes or no
     * channels are an error (PyTorch's convs and pools refuse them too). */
    if (in[0] < 0 || in[1] < 1 || in[2] < 1 || in[3] < 1)
        return va_fail(err, VA_ERR_SHAPE,
                       "%s: input %lldx%lldx%lldx%lld: C, H and W must be >= 1 (N may be 0)",
                       b->ops->name, (long long)in[0], (long long)in[1], (long long)in[2],
                       (long long)in[3]);
    return b->ops->out_shape(b, in, out, err);
}

va_status va_block_forward(va_block *b, const va_tensor *x, va_tensor *y, va_arena *ws,
                           va_error *err) {
    char s1[64], s2[64];
    if (!b->loaded) return va_fail(err, VA_ERR_ARG, "%s: forward before weights were loaded", b->ops->name);
    if (x->ndim != 4)
        return va_fail(err, VA_ERR_SHAPE, "%s: input must be 4-D NCHW, got %s", b->ops->name,
                       va_shape_str(x, s1, sizeof s1));
    int64_t out[4];
    VA_TRY(va_block_out_shape(b, x->shape, out, err));
    if (y->ndim != 4 || y->shape[0] != out[0] || y->shape[1] != out[1] || y->shape[2] != out[2] ||
        y->shape[3] != out[3])
        return va_fail(err, VA_ERR_SHAPE, "%s: output is %s, expected %lldx%lldx%lldx%lld for input %s",
                       b->ops->name, va_shape_str(y, s1, sizeof s1), (long long)out[0],
                       (long long)out[1], (long long)out[2], (long long)out[3],
                       va_shape_str(x, s2, sizeof s2));
    size_t mark = va_arena_mark(ws);
    va_status st = b->ops->forward(b, x, y, ws, err);
    va_arena_rewind(ws, mark);
    return st;
}

va_status va_block_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    memset(cost, 0, sizeof *cost);
    int64_t out[4];
    VA_TRY(va_block_out_shape(b, in, out, err));
    return b->ops->cost(b, in, cost, err);
}

const char *va_block_name(const va_block *b) { return b->ops->name; }

int va_block_num_maps(const va_block *b) { return b->num_maps; }

const va_map *va_block_map(const va_block *b, int i) {
    return (i >= 0 && i < b->num_maps) ? &b->maps[i] : NULL;
}

const va_map *va_block_find_map(const va_block *b, const char *name) {
    for (int i = 0; i < b->num_maps; i++)
        if (strcmp(b->maps[i].name, name) == 0) return &b->maps[i];
    return NULL;
}

void va_block_destroy(va_block *b) {
    if (!b) return;
    if (b->ops && b->ops->destroy) b->ops->destroy(b);
    for (int i = 0; i < VA_MAX_MAPS; i++) va_aligned_free(b->maps[i].t.data);
    free(b);
}

va_status va_block_map_prepare(va_block *b, int i, const char *name, int64_t n, int64_t c,
                               int64_t h, int64_t w, va_tensor **t, va_error *err) {
    if (i < 0 || i >= VA_MAX_MAPS)
        return va_fail(err, VA_ERR_ARG, "%s: map slot %d out of range", b->ops->name, i);
    va_map *m = &b->maps[i];
    const int64_t shape[4] = {n, c, h, w};
    va_tensor probe;
    VA_TRY(va_tensor_set_shape(&probe, 4, shape, err));
    size_t need = (size_t)va_numel(&probe);
    if (need > m->cap) {
        /* Grows only when a larger input arrives, never at a repeated shape. */
        float *p = va_aligned_alloc(need * sizeof(float));
        if (!p) return va_fail(err, VA_ERR_NOMEM, "%s: cannot allocate map '%s'", b->ops->name, name);
        va_aligned_free(m->t.data);
        m->t.data = p;
        m->cap = need;
    }
    snprintf(m->name, sizeof m->name, "%s", name);
    float *data = m->t.data;
    m->t = probe;
    m->t.data = data;
    if (b->num_maps < i + 1) b->num_maps = i + 1;
    *t = &m->t;
    return VA_OK;
}

va_status va_block_maps_import(va_block *b, int first, const char *prefix, const va_block *src,
                               va_error *err) {
    for (int i = 0; i < src->num_maps; i++) {
        const va_map *m = &src->maps[i];
        char name[VA_MAP_NAME_LEN];
        snprintf(name, sizeof name, "%s%s", prefix, m->name);
        va_tensor *t;
        VA_TRY(va_block_map_prepare(b, first + i, name, m->t.shape[0], m->t.shape[1],
                                    m->t.shape[2], m->t.shape[3], &t, err));
        if (va_numel(&m->t) > 0)
            memcpy(t->data, m->t.data, (size_t)va_numel(&m->t) * sizeof(float));
    }
    return VA_OK;
}

/* ---- Cost helpers (docs/cost.md) ----------------------------------------------------------- */

void va_cost_conv2d(va_cost *c, int cin, int cout, int kh, int kw, int groups, int bias, int64_t n,
                    int64_t oh, int64_t ow) {
    int64_t k = (int64_t)(cin / groups) * kh * kw;
    int64_t outs = n * cout * oh * ow;
    c->params += (int64_t)cout * k + (bias ? cout : 0);
    c->macs += outs * k;
    c->flops += 2 * outs * k + (bias ? outs : 0);
}

void va_cost_linear(va_cost *c, int64_t rows, int64_t in, int64_t out, int bias) {
    c->params += in * out + (bias ? out : 0);
    c->macs += rows * in * out;
    c->flops += 2 * rows * in * out + (bias ? rows * out : 0);
}

void va_cost_matmul(va_cost *c, int64_t batch, int64_t m, int64_t n, int64_t k) {
    c->macs += batch * m * n * k;
    c->flops += 2 * batch * m * n * k;
}

void va_cost_elementwise(va_cost *c, int64_t count, int64_t flops_each) {
    c->flops += count * flops_each;
}

void va_cost_params(va_cost *c, int64_t params) { c->params += params; }

/* ---- Loading from a file ------------------------------------------------------------------- */

/* Build the block or model a file's metadata names and load its weights; closes st. */
static va_status load_opened(va_safetensors *st, va_block **out, va_error *err) {
    const char *path = va_st_path(st);
    const char *block = va_st_meta(st, "visattn.block");
    const char *model = va_st_meta(st, "visattn.model");
    const char *config = va_st_meta(st, "visattn.config");
    va_status s = VA_OK;
    const char *name = block ? block : model;
    if (!name) {
        s = va_fail(err, VA_ERR_FORMAT,
                    "%s: metadata names no block or model (need 'visattn.block' or 'visattn.model')",
                    path);
    } else if (block && model) {
        s = va_fail(err, VA_ERR_FORMAT, "%s: metadata names both a block and a model", path);
    } else {
        const va_block_ops *ops = va_find_ops(name);
        va_block_kind want = block ? VA_KIND_BLOCK : VA_KIND_MODEL;
        if (!ops)
            s = va_fail(err, VA_ERR_CONFIG, "%s: unknown %s '%.64s'", path,
                        block ? "block" : "model", name);
        else if (ops->kind != want)
            s = va_fail(err, VA_ERR_CONFIG, "%s: '%s' is a %s, but the file names it as a %s", path,
                        name, ops->kind == VA_KIND_BLOCK ? "block" : "model",
                        block ? "block" : "model");
    }
    va_block *b = NULL;
    va_weights w = {0};
    if (s == VA_OK && (s = va_block_create(name, config, &b, err)) != VA_OK)
        va_error_prefix(err, path);
    if (s == VA_OK) s = va_weights_init(&w, st, err);
    if (s == VA_OK && (s = va_block_load(b, &w, "", err)) == VA_OK)
        s = va_weights_check_all_used(&w, err);
    va_weights_free(&w);
    va_st_close(st);
    if (s != VA_OK) {
        va_block_destroy(b);
        return s;
    }
    *out = b;
    return VA_OK;
}

va_status va_block_load_file(const char *path, va_block **out, va_error *err) {
    if (!out) return va_fail(err, VA_ERR_ARG, "va_block_load_file: out is NULL");
    *out = NULL;
    va_safetensors *st;
    VA_TRY(va_st_open(path, &st, err));
    return load_opened(st, out, err);
}

va_status va_block_load_memory(const void *data, size_t len, const char *name, va_block **out,
                               va_error *err) {
    if (!out) return va_fail(err, VA_ERR_ARG, "va_block_load_memory: out is NULL");
    *out = NULL;
    va_safetensors *st;
    VA_TRY(va_st_open_memory(data, len, name, &st, err));
    return load_opened(st, out, err);
}
