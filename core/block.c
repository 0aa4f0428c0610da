/* The generic half of the block interface: argument checks around the vtable, attention-map
 * storage, cost helpers and loading a block or model from a weight file's metadata. */
#include "visattn/block.h"

#include "arg_check.h"
#include "ops_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MAX_MAPS 4096 /* far beyond any network's; a bound on a runaway slot index */

struct va_run {
    va_arena arena;
    int want_maps;
    int depth; /* nesting of va_block_forward calls: 0 outside any forward */
    int num_maps, cap_maps;
    va_map *maps;
    /* The current scope (va_run_scope_push): slot offset, slots used in it, name prefix. */
    int scope_first, scope_used;
    char scope_prefix[VA_MAP_NAME_LEN];
};

va_status va_block_create_cfg(const char *name, const va_config *cfg, va_block **out,
                              va_error *err) {
    VA_ARG_NONNULL(out, "va_block_create_cfg");
    *out = NULL;
    VA_ARG_NONNULL(name, "va_block_create_cfg");
    VA_ARG_NONNULL(cfg, "va_block_create_cfg");
    const va_block_ops *ops = va_find_ops(name);
    if (!ops) return va_fail(err, VA_ERR_CONFIG, "unknown block or model '%s'", name);
    va_block *b = calloc(1, sizeof *b);
    if (!b) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", ops->name);
    b->ops = ops;
    va_status st = ops->create(b, cfg, err);
    if (st == VA_OK && !(b->config_json = va_config_to_json(cfg)))
        st = va_fail(err, VA_ERR_NOMEM, "%s: out of memory", ops->name);
    if (st != VA_OK) {
        va_block_destroy(b);
        return st;
    }
    *out = b;
    return VA_OK;
}

va_status va_block_create(const char *name, const char *config_json, va_block **out,
                          va_error *err) {
    VA_ARG_NONNULL(out, "va_block_create");
    *out = NULL;
    VA_ARG_NONNULL(name, "va_block_create");
    char what[80];
    snprintf(what, sizeof what, "%s config", name);
    va_config *cfg;
    VA_TRY(va_config_parse(config_json, what, &cfg, err));
    va_status st = va_block_create_cfg(name, cfg, out, err);
    va_config_free(cfg);
    return st;
}

va_status va_block_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    VA_ARG_NONNULL(b, "va_block_load");
    VA_ARG_NONNULL(w, "va_block_load");
    if (b->loaded)
        return va_fail(err, VA_ERR_ARG,
                       "%s: weights are loaded already (a loaded block is "
                       "immutable: create another)",
                       b->ops->name);
    VA_TRY(b->ops->load(b, w, prefix ? prefix : "", err));
    b->loaded = 1;
    return VA_OK;
}

va_status va_block_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                             va_error *err) {
    VA_ARG_NONNULL(b, "va_block_out_shape");
    VA_ARG_NONNULL(in, "va_block_out_shape");
    VA_ARG_NONNULL(out, "va_block_out_shape");
    /* An empty batch gives an empty output and empty maps, as in PyTorch; empty planes or no
     * channels are an error (PyTorch's convs and pools refuse them too). */
    if (in[0] < 0 || in[1] < 1 || in[2] < 1 || in[3] < 1)
        return va_fail(err, VA_ERR_SHAPE,
                       "%s: input %lldx%lldx%lldx%lld: C, H and W must be >= 1 (N may be 0)",
                       b->ops->name, (long long)in[0], (long long)in[1], (long long)in[2],
                       (long long)in[3]);
    return b->ops->out_shape(b, in, out, err);
}

va_status va_block_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                           va_error *err) {
    char s1[64], s2[64];
    VA_ARG_NONNULL(b, "va_block_forward");
    VA_ARG_NONNULL(r, "va_block_forward");
    VA_ARG_NONNULL(x, "va_block_forward");
    VA_ARG_NONNULL(y, "va_block_forward");
    VA_TRY(check_4d(x, b->ops->name, "input", err));
    VA_TRY(check_tensor(y, b->ops->name, "output", err));
    if (!b->loaded)
        return va_fail(err, VA_ERR_ARG, "%s: forward before weights were loaded", b->ops->name);
    int64_t out[4];
    VA_TRY(va_block_out_shape(b, x->shape, out, err));
    if (y->ndim != 4 || y->shape[0] != out[0] || y->shape[1] != out[1] || y->shape[2] != out[2] ||
        y->shape[3] != out[3])
        return va_fail(err, VA_ERR_SHAPE,
                       "%s: output is %s, expected %lldx%lldx%lldx%lld for input %s", b->ops->name,
                       va_shape_str(y, s1, sizeof s1), (long long)out[0], (long long)out[1],
                       (long long)out[2], (long long)out[3], va_shape_str(x, s2, sizeof s2));
    if (ranges_overlap(x->data, va_numel(x), y->data, va_numel(y)))
        return va_fail(err, VA_ERR_ARG,
                       "%s: the output overlaps the input (blocks do not run in "
                       "place)",
                       b->ops->name);
    if (r->depth == 0) {
        r->num_maps = 0;
        r->scope_first = r->scope_used = 0;
        r->scope_prefix[0] = '\0';
    }
    size_t mark = va_arena_mark(&r->arena);
    r->depth++;
    va_status st = b->ops->forward(b, r, x, y, err);
    r->depth--;
    va_arena_rewind(&r->arena, mark);
    /* A forward that grew the arena in several chunks leaves one chunk of the peak size behind,
     * so the next forward at this shape allocates nothing. */
    if (r->depth == 0 && st == VA_OK) st = va_arena_reset(&r->arena, err);
    return st;
}

va_status va_block_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    VA_ARG_NONNULL(b, "va_block_cost");
    VA_ARG_NONNULL(in, "va_block_cost");
    VA_ARG_NONNULL(cost, "va_block_cost");
    memset(cost, 0, sizeof *cost);
    int64_t out[4];
    VA_TRY(va_block_out_shape(b, in, out, err));
    return b->ops->cost(b, in, cost, err);
}

const char *va_block_name(const va_block *b) {
    return b ? b->ops->name : "";
}
va_block_kind va_block_kind_of(const va_block *b) {
    return b ? b->ops->kind : VA_KIND_BLOCK;
}
const char *va_block_config(const va_block *b) {
    return b && b->config_json ? b->config_json : "";
}
const va_model_info *va_block_info(const va_block *b) {
    return b ? &b->info : NULL;
}

const char *va_block_class_name(const va_block *b, int k) {
    if (!b || k < 0 || k >= b->info.num_class_names) return NULL;
    return b->info.class_names[k];
}

va_status va_block_set_info(va_block *b, const va_model_info *info, va_error *err) {
    VA_ARG_NONNULL(b, "va_block_set_info");
    VA_ARG_NONNULL(info, "va_block_set_info");
    if (info->num_norm < 0 || info->num_class_names < 0 ||
        (info->num_norm && (!info->mean || !info->std)) ||
        (info->num_class_names && !info->class_names))
        return va_fail(err, VA_ERR_ARG, "va_block_set_info: %s: arrays missing", b->ops->name);
    /* One allocation: mean, std, the name pointers, then the names. */
    size_t floats = 2 * (size_t)info->num_norm, ptrs = (size_t)info->num_class_names, chars = 0;
    for (size_t k = 0; k < ptrs; k++)
        chars += strlen(info->class_names[k]) + 1;
    size_t bytes = floats * sizeof(float) + ptrs * sizeof(char *) + chars;
    char *mem = bytes ? malloc(bytes) : NULL;
    if (bytes && !mem) return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", b->ops->name);
    void *old = b->info_mem; /* info may point into it (a model re-declaring part of its info) */
    b->info_mem = mem;
    b->info = *info;
    float *f = (float *)mem;
    const char **names = (const char **)(mem + floats * sizeof(float));
    char *text = (char *)(names + ptrs);
    b->info.mean = floats ? f : NULL;
    b->info.std = floats ? f + info->num_norm : NULL;
    if (floats) {
        memcpy(f, info->mean, (size_t)info->num_norm * sizeof(float));
        memcpy(f + info->num_norm, info->std, (size_t)info->num_norm * sizeof(float));
    }
    for (size_t k = 0; k < ptrs; k++) {
        size_t len = strlen(info->class_names[k]) + 1;
        memcpy(text, info->class_names[k], len);
        names[k] = text;
        text += len;
    }
    b->info.class_names = ptrs ? (const char *const *)names : NULL;
    free(old);
    return VA_OK;
}

void va_block_destroy(va_block *b) {
    if (!b) return;
    if (b->ops && b->ops->destroy) b->ops->destroy(b);
    free(b->config_json);
    free(b->info_mem);
    free(b);
}

/* ---- Run contexts --------------------------------------------------------------------------- */

va_status va_run_create(va_run **out, va_error *err) {
    VA_ARG_NONNULL(out, "va_run_create");
    va_run *r = calloc(1, sizeof *r);
    if (!(*out = r)) return va_fail(err, VA_ERR_NOMEM, "va_run_create: out of memory");
    va_arena_init(&r->arena);
    r->want_maps = 1;
    return VA_OK;
}

void va_run_destroy(va_run *r) {
    if (!r) return;
    for (int i = 0; i < r->cap_maps; i++)
        va_aligned_free(r->maps[i].t.data);
    free(r->maps);
    va_arena_free(&r->arena);
    free(r);
}

va_status va_run_set_want_maps(va_run *r, int want, va_error *err) {
    VA_ARG_NONNULL(r, "va_run_set_want_maps");
    r->want_maps = want != 0;
    return VA_OK;
}

int va_run_want_maps(const va_run *r) {
    return r ? r->want_maps : 0;
}
int va_run_num_maps(const va_run *r) {
    return r ? r->num_maps : 0;
}

const va_map *va_run_map(const va_run *r, int i) {
    return (r && i >= 0 && i < r->num_maps) ? &r->maps[i] : NULL;
}

const va_map *va_run_find_map(const va_run *r, const char *name) {
    if (!r || !name) return NULL;
    for (int i = 0; i < r->num_maps; i++)
        if (strcmp(r->maps[i].name, name) == 0) return &r->maps[i];
    return NULL;
}

size_t va_run_workspace_bytes(const va_run *r) {
    return r ? r->arena.peak : 0;
}

va_arena *va_run_arena(va_run *r) {
    return r ? &r->arena : NULL;
}

va_status va_run_map_prepare(va_run *r, int i, const char *name, int64_t n, int64_t c, int64_t h,
                             int64_t w, va_tensor **t, va_error *err) {
    VA_ARG_NONNULL(r, "va_run_map_prepare");
    VA_ARG_NONNULL(name, "va_run_map_prepare");
    VA_ARG_NONNULL(t, "va_run_map_prepare");
    const int slot = r->scope_first + i;
    if (i < 0 || slot >= RUN_MAX_MAPS)
        return va_fail(err, VA_ERR_ARG, "map slot %d ('%s%s') out of range 0..%d", slot,
                       r->scope_prefix, name, RUN_MAX_MAPS - 1);
    if (slot >= r->cap_maps) {
        int cap = r->cap_maps ? r->cap_maps : 8;
        while (cap <= slot)
            cap *= 2;
        va_map *m = realloc(r->maps, (size_t)cap * sizeof *m);
        if (!m) return va_fail(err, VA_ERR_NOMEM, "cannot allocate %d attention maps", cap);
        memset(m + r->cap_maps, 0, (size_t)(cap - r->cap_maps) * sizeof *m);
        r->maps = m;
        r->cap_maps = cap;
    }
    va_map *m = &r->maps[slot];
    const int64_t shape[4] = {n, c, h, w};
    va_tensor probe;
    VA_TRY(va_tensor_set_shape(&probe, 4, shape, err));
    size_t need = (size_t)va_numel(&probe);
    if (need > m->cap) {
        /* Grows only when a larger input arrives, never at a repeated shape. */
        float *p = va_aligned_alloc(need * sizeof(float));
        if (!p)
            return va_fail(err, VA_ERR_NOMEM, "cannot allocate map '%s%s'", r->scope_prefix, name);
        va_aligned_free(m->t.data);
        m->t.data = p;
        m->cap = need;
    }
    snprintf(m->name, sizeof m->name, "%s%s", r->scope_prefix, name);
    float *data = m->t.data;
    m->t = probe;
    m->t.data = data;
    if (r->num_maps < slot + 1) r->num_maps = slot + 1;
    if (r->scope_used < i + 1) r->scope_used = i + 1;
    *t = &m->t;
    return VA_OK;
}

void va_run_scope_push(va_run *r, int first, const char *prefix, va_run_scope *saved) {
    if (!r || !saved) return;
    saved->first = r->scope_first;
    saved->used = r->scope_used;
    snprintf(saved->prefix, sizeof saved->prefix, "%s", r->scope_prefix);
    r->scope_first += first;
    r->scope_used = 0;
    snprintf(r->scope_prefix, sizeof r->scope_prefix, "%s%s", saved->prefix, prefix ? prefix : "");
}

int va_run_scope_pop(va_run *r, const va_run_scope *saved) {
    if (!r || !saved) return 0;
    const int used = r->scope_used, first = r->scope_first - saved->first;
    r->scope_first = saved->first;
    r->scope_used = saved->used > first + used ? saved->used : first + used;
    snprintf(r->scope_prefix, sizeof r->scope_prefix, "%s", saved->prefix);
    return used;
}

/* ---- Cost helpers (docs/cost.md) ----------------------------------------------------------- */

void va_cost_conv2d(va_cost *c, int cin, int cout, int kh, int kw, int groups, int bias, int64_t n,
                    int64_t oh, int64_t ow) {
    if (!c) return;
    int64_t k = (int64_t)(cin / groups) * kh * kw;
    int64_t outs = n * cout * oh * ow;
    c->params += (int64_t)cout * k + (bias ? cout : 0);
    c->macs += outs * k;
    c->flops += 2 * outs * k + (bias ? outs : 0);
}

void va_cost_linear(va_cost *c, int64_t rows, int64_t in, int64_t out, int bias) {
    if (!c) return;
    c->params += in * out + (bias ? out : 0);
    c->macs += rows * in * out;
    c->flops += 2 * rows * in * out + (bias ? rows * out : 0);
}

void va_cost_matmul(va_cost *c, int64_t batch, int64_t m, int64_t n, int64_t k) {
    if (!c) return;
    c->macs += batch * m * n * k;
    c->flops += 2 * batch * m * n * k;
}

void va_cost_elementwise(va_cost *c, int64_t count, int64_t flops_each) {
    if (!c) return;
    c->flops += count * flops_each;
}

void va_cost_params(va_cost *c, int64_t params) {
    if (!c) return;
    c->params += params;
}

/* ---- Loading from a file ------------------------------------------------------------------- */

/* ---- What a model file declares beyond its config ------------------------------------------- */

#define META_MAX_NAME 256 /* bytes of one class name */

/* Metadata a model file may carry to override what its model declares (tools/export.py writes
 * them for the networks): "visattn.input_size" [H, W], "visattn.resize" S (shorter side, then a
 * centre crop; 0: none), "visattn.mean" and "visattn.std" (one per input channel), and
 * "visattn.class_names" (num_classes strings). Each is JSON; anything else is an error naming the
 * file and the key. */
static va_status meta_json(const va_safetensors *st, const char *key, const char *path, cJSON **out,
                           va_error *err) {
    const char *text = va_st_meta(st, key);
    *out = NULL;
    if (!text) return VA_OK;
    if (!(*out = cJSON_Parse(text)))
        return va_fail(err, VA_ERR_FORMAT, "%s: metadata %s is not JSON", path, key);
    return VA_OK;
}

static int json_int_in(const cJSON *v, int lo, int hi) {
    return cJSON_IsNumber(v) && v->valuedouble == (double)(int)v->valuedouble &&
           v->valuedouble >= lo && v->valuedouble <= hi;
}

static va_status meta_floats(const va_safetensors *st, const char *key, const char *path, int n,
                             int positive, float *out, int *found, va_error *err) {
    cJSON *v;
    VA_TRY(meta_json(st, key, path, &v, err));
    *found = v != NULL;
    if (!v) return VA_OK;
    va_status s = VA_OK;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n)
        s = va_fail(err, VA_ERR_FORMAT,
                    "%s: metadata %s must list %d numbers (one per input "
                    "channel)",
                    path, key, n);
    for (int i = 0; !s && i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(x) || !isfinite((float)x->valuedouble) ||
            (positive && !((float)x->valuedouble > 0.f)))
            s = va_fail(err, VA_ERR_FORMAT, "%s: metadata %s: entry %d must be a finite%s number",
                        path, key, i, positive ? ", positive" : "");
        else
            out[i] = (float)x->valuedouble;
    }
    cJSON_Delete(v);
    return s;
}

static va_status apply_file_info(va_block *b, const va_safetensors *st, const char *path,
                                 va_error *err) {
    static const char *const keys[] = {"visattn.input_size", "visattn.resize", "visattn.mean",
                                       "visattn.std", "visattn.class_names"};
    const char *given = NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (va_st_meta(st, keys[i])) given = keys[i];
    if (!given) return VA_OK;
    va_model_info info = b->info;
    if (b->ops->kind != VA_KIND_MODEL || info.in_channels < 1 || info.in_channels > 3)
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: metadata %s is for models with 1 to 3 input channels ('%s' is not)",
                       path, given, b->ops->name);
    const int c = info.in_channels;
    float mean[3] = {0}, std[3] = {0};
    for (int i = 0; i < info.num_norm && i < 3; i++)
        mean[i] = info.mean[i], std[i] = info.std[i];
    int found_mean, found_std;
    VA_TRY(meta_floats(st, "visattn.mean", path, c, 0, mean, &found_mean, err));
    VA_TRY(meta_floats(st, "visattn.std", path, c, 1, std, &found_std, err));
    if (found_mean != found_std && info.num_norm != c)
        return va_fail(err, VA_ERR_FORMAT, "%s: metadata gives visattn.%s without visattn.%s", path,
                       found_mean ? "mean" : "std", found_mean ? "std" : "mean");
    if (found_mean || found_std) info.num_norm = c;
    info.mean = mean, info.std = std;
    cJSON *v;
    VA_TRY(meta_json(st, "visattn.input_size", path, &v, err));
    if (v) {
        const int ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 &&
                       json_int_in(cJSON_GetArrayItem(v, 0), 1, 1 << 16) &&
                       json_int_in(cJSON_GetArrayItem(v, 1), 1, 1 << 16);
        if (ok) {
            info.input_h = cJSON_GetArrayItem(v, 0)->valueint;
            info.input_w = cJSON_GetArrayItem(v, 1)->valueint;
        }
        cJSON_Delete(v);
        if (!ok)
            return va_fail(err, VA_ERR_FORMAT,
                           "%s: metadata visattn.input_size must be [H, W], integers in 1..65536",
                           path);
    }
    VA_TRY(meta_json(st, "visattn.resize", path, &v, err));
    if (v) {
        const int ok = json_int_in(v, 0, 1 << 16);
        if (ok) info.resize_shorter = v->valueint;
        cJSON_Delete(v);
        if (!ok)
            return va_fail(err, VA_ERR_FORMAT,
                           "%s: metadata visattn.resize must be an integer in 0..65536", path);
    }
    if (info.resize_shorter &&
        (info.resize_shorter < info.input_h || info.resize_shorter < info.input_w))
        return va_fail(err, VA_ERR_FORMAT,
                       "%s: metadata visattn.resize %d is smaller than the input size %d x %d "
                       "(the centre crop would not fit)",
                       path, info.resize_shorter, info.input_h, info.input_w);
    VA_TRY(meta_json(st, "visattn.class_names", path, &v, err));
    const char **names = NULL;
    va_status s = VA_OK;
    if (v) {
        const int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
        if (n != info.num_classes || n < 1)
            s = va_fail(err, VA_ERR_FORMAT,
                        "%s: metadata visattn.class_names must list %d names (the model's "
                        "classes)%s",
                        path, info.num_classes, n >= 0 ? "" : ": it is not a list");
        if (!s && !(names = malloc((size_t)n * sizeof *names)))
            s = va_fail(err, VA_ERR_NOMEM, "%s: out of memory", path);
        for (int i = 0; !s && i < n; i++) {
            const cJSON *x = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsString(x) || strlen(x->valuestring) >= META_MAX_NAME)
                s = va_fail(err, VA_ERR_FORMAT,
                            "%s: metadata visattn.class_names: entry %d must be a string of at "
                            "most %d bytes",
                            path, i, META_MAX_NAME - 1);
            else
                names[i] = x->valuestring;
        }
        if (!s) info.num_class_names = n, info.class_names = names;
    }
    if (!s) s = va_block_set_info(b, &info, err);
    free(names);
    cJSON_Delete(v);
    return s;
}

/* Build the block or model a file's metadata names and load its weights; closes st. */
static va_status load_opened(va_safetensors *st, va_block **out, va_error *err) {
    const char *path = va_st_path(st);
    const char *block = va_st_meta(st, "visattn.block");
    const char *model = va_st_meta(st, "visattn.model");
    const char *config = va_st_meta(st, "visattn.config");
    va_status s = VA_OK;
    const char *name = block ? block : model;
    if (!name) {
        s = va_fail(
            err, VA_ERR_FORMAT,
            "%s: metadata names no block or model (need 'visattn.block' or 'visattn.model')", path);
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
    if (s == VA_OK) s = apply_file_info(b, st, path, err);
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
    VA_ARG_NONNULL(out, "va_block_load_file");
    *out = NULL;
    VA_ARG_NONNULL(path, "va_block_load_file");
    va_safetensors *st;
    VA_TRY(va_st_open(path, &st, err));
    return load_opened(st, out, err);
}

va_status va_block_load_memory(const void *data, size_t len, const char *name, va_block **out,
                               va_error *err) {
    VA_ARG_NONNULL(out, "va_block_load_memory");
    *out = NULL;
    if (!data && len > 0) return va_fail(err, VA_ERR_ARG, "va_block_load_memory: data is NULL");
    va_safetensors *st;
    VA_TRY(va_st_open_memory(data, len, name, &st, err));
    return load_opened(st, out, err);
}
