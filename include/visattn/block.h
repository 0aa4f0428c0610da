/* The uniform block interface.
 *
 * A block (an attention module, or a whole model such as the backbone) is a struct with a small
 * vtable, created by name from the registry with a JSON config whose keys are the official
 * constructor argument names. What is loaded (config, folded weights) is immutable once
 * va_block_load returns; what a forward pass produces (attention maps, scratch memory) lives in a
 * run context (va_run) that the caller owns. One loaded block serves any number of threads at
 * once, each with its own va_run, and gives each the result of a single-threaded run.
 *
 *     va_block *b;  va_block_create("cbam", "{\"gate_channels\": 64}", &b, &err);
 *     va_block_load(b, &weights, "", &err);        // state_dict keys, strict
 *     va_run *r;    va_run_create(&r, &err);       // one per thread
 *     va_block_forward(b, r, &x, &y, &err);        // y allocated by the caller, see out_shape
 *     va_run_find_map(r, "spatial")                // attention maps of r's last forward
 *     va_run_destroy(r);  va_block_destroy(b);
 *
 * A forward takes its scratch from the run's arena and gives it back before returning; the first
 * forward at a larger shape grows the arena and the maps, later ones at that shape allocate
 * nothing. The output must not overlap the input (VA_ERR_ARG): no block runs in place.
 * Every pointer argument must be non-NULL unless a function says otherwise (VA_ERR_ARG).
 *
 * Attention maps, by block (after a forward with maps wanted; docs/blocks/<name>.md has more):
 *   se                 channel     N x C x 1 x 1   the scale each channel is multiplied by
 *   spatial            spatial     N x 1 x H x W   the sigmoid gate each position is multiplied by
 *   cbam               channel     N x C x 1 x 1   the channel gate
 *                      spatial     N x 1 x H x W   the spatial gate (absent if no_spatial)
 *   triplet            spatial     N x 1 x H x W   the (H, W) branch's gate (absent if no_spatial)
 *                      gate_cw     N x 1 x C x W   the (C, W) branch's gate (ChannelGateH)
 *                      gate_hc     N x 1 x H x C   the (H, C) branch's gate (ChannelGateW)
 *   shuffle            spatial     N x 1 x H x W   spatial-half gates averaged over groups/channels
 *                      channel     N x G*c0 x 1 x 1  channel-half gates, (group, channel) order
 *   double_attention   gather      N x c_n x H x W each channel: a distribution over positions
 *                      distribute  N x c_n x H x W each position: a distribution over c_n
 *                      spatial     N x 1 x H x W   gather averaged over c_n
 *   irmb               attention   N x 1 x H x W   weight each position receives as a key, averaged
 *                                                  over heads and its window's real queries
 *                                                  (absent if attn_s is false)
 *   eca                channel     N x C x 1 x 1   the sigmoid gate of each channel
 *   simam              element     N x C x H x W   sigmoid(1/e*), the weight of each element
 *                      spatial     N x 1 x H x W   1/e* (inverse minimal energy) averaged over C
 *   bam                channel     N x C x 1 x 1   the channel part Mc, before the sigmoid
 *                      spatial     N x 1 x H x W   the spatial part Ms, before the sigmoid */
#ifndef VISATTN_BLOCK_H
#define VISATTN_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "visattn/config.h"
#include "visattn/error.h"
#include "visattn/io.h"
#include "visattn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cost of one forward pass at a given input shape.
 *  params: learnable parameters, as sum(p.numel() for p in module.parameters()) of the reference.
 *  macs:   multiply-accumulates of convs, linears and matmuls only (fvcore's convention).
 *  flops:  all arithmetic, counted as in docs/cost.md (2 per MAC plus the elementwise work). */
typedef struct va_cost {
    int64_t params, macs, flops;
} va_cost;

typedef enum va_block_kind { VA_KIND_BLOCK = 0, VA_KIND_MODEL = 1 } va_block_kind;

#define VA_MAP_NAME_LEN 64

typedef struct va_map {
    char name[VA_MAP_NAME_LEN]; /* e.g. "spatial", "channel", "stage2.spatial" */
    va_tensor t;                /* owned by the run; valid until its next forward or destroy */
    size_t cap;                 /* floats allocated */
} va_map;

typedef struct va_block va_block;
/* Per-run state: the attention maps of the last forward and the scratch arena. Not shared: one
 * per thread (a run context may move between threads, but only one forward uses it at a time). */
typedef struct va_run va_run;

typedef struct va_block_ops {
    const char *name;  /* registry name, e.g. "cbam" */
    const char *alias; /* second name or NULL (e.g. "channel" for "se") */
    va_block_kind kind;
    const char *summary; /* one line for --help listings */
    /* Read the config (official argument names and defaults), validate it, allocate b->self. */
    va_status (*create)(va_block *b, const va_config *cfg, va_error *err);
    /* Copy weights from state_dict keys prefix + official key; fold BN here. */
    va_status (*load)(va_block *b, va_weights *w, const char *prefix, va_error *err);
    /* Output shape for an NCHW input shape; VA_ERR_SHAPE if the input does not fit the config. */
    va_status (*out_shape)(const va_block *b, const int64_t in[4], int64_t out[4], va_error *err);
    /* Must not write to b: scratch from va_run_arena(r), maps through va_run_map_prepare. */
    va_status (*forward)(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                         va_error *err);
    va_status (*cost)(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err);
    void (*destroy)(va_block *b); /* free b->self and what it owns (may be NULL) */
    /* The config key that takes the input's channel count, set by a model that puts the block in
     * an attention slot (the backbone's "attention"); NULL if the block takes none. Only read for
     * blocks registered with va_register_block: the built-in blocks' keys are the backbone's. */
    const char *channels_key;
} va_block_ops;

/* What a model declares about its input and outputs (its config, e.g. the backbone's in_channels,
 * input_size, mean, std, num_classes, class_names: docs/backbone.md). Blocks declare none of it:
 * zeros and NULLs. Arrays are owned by the block. */
typedef struct va_model_info {
    int in_channels;         /* channels the input must have; 0: not declared */
    int input_h, input_w;    /* the input size the model was trained at; 0: not declared */
    int resize_shorter;      /* > 0: an image's shorter side is resized to this, then its centre
                                cropped to input_h x input_w (torchvision's eval transform); 0:
                                the image is resized to input_h x input_w */
    int num_norm;            /* entries of mean and std: 0 (not declared) or in_channels */
    const float *mean, *std; /* per channel: input = (pixel / 255 - mean) / std */
    int num_classes;         /* outputs of a classifier; 0: not a classifier */
    int num_class_names;     /* 0 or num_classes */
    const char *const *class_names;
} va_model_info;

struct va_block {
    const va_block_ops *ops;
    void *self;         /* block-private state */
    int loaded;         /* weights loaded */
    char *config_json;  /* the config, compact JSON */
    va_model_info info; /* set by the model's create (va_block_set_info) */
    void *info_mem;     /* what info's arrays point into */
};

/* ---- Registry -------------------------------------------------------------------------------- */
/* Find by name or alias among blocks and models; NULL if unknown (or NULL). */
const va_block_ops *va_find_ops(const char *name);
/* The i-th registered entry (built-in blocks, built-in models, then registered ones); NULL past
 * the end. */
const va_block_ops *va_ops_at(int i);
/* Add a block or model of your own (docs/custom_blocks.md): from then on va_block_create, files
 * naming it, the backbone's attention slot and va_ops_at know it by ops->name (and ops->alias).
 * ops must stay valid until the program ends. Refused: a name or alias already taken, a name of
 * more than 63 characters or with characters other than [A-Za-z0-9_], a missing create, load,
 * out_shape, forward or cost, more than 64 registrations. Thread-safe. */
va_status va_register_block(const va_block_ops *ops, va_error *err);

/* ---- Public calls ---------------------------------------------------------------------------- */
/* config_json NULL reads as "{}" (every argument at its default). */
va_status va_block_create(const char *name, const char *config_json, va_block **out, va_error *err);
va_status va_block_create_cfg(const char *name, const va_config *cfg, va_block **out,
                              va_error *err);
/* Once per block, before any forward; not concurrently with forwards of the same block. prefix
 * (e.g. "stages.0.attn.") is put before every state_dict key; NULL reads as "". */
va_status va_block_load(va_block *b, va_weights *w, const char *prefix, va_error *err);
/* C, H and W must be >= 1; N may be 0 (an empty output and empty maps, as in PyTorch). */
va_status va_block_out_shape(const va_block *b, const int64_t in[4], int64_t out[4], va_error *err);
/* Checks x is 4-D, y has out_shape(x) and does not overlap x, the weights are loaded; then runs
 * the block. Thread-safe for one b and distinct runs. */
va_status va_block_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                           va_error *err);
va_status va_block_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err);
const char *va_block_name(const va_block *b); /* registry name; "" for NULL */
/* VA_KIND_BLOCK or VA_KIND_MODEL (VA_KIND_BLOCK for NULL). */
va_block_kind va_block_kind_of(const va_block *b);
/* The config the block was created with, as compact JSON ("" for NULL). */
const char *va_block_config(const va_block *b);
/* What the model declares (all zero for a block); NULL for NULL. */
const va_model_info *va_block_info(const va_block *b);
/* Class k's name, or NULL if the model names no classes or k is out of range. */
const char *va_block_class_name(const va_block *b, int k);
void va_block_destroy(va_block *b); /* NULL is a no-op */

/* ---- Run contexts ---------------------------------------------------------------------------- */
va_status va_run_create(va_run **out, va_error *err);
void va_run_destroy(va_run *r); /* NULL is a no-op */
/* 1 (the default): forwards record attention maps; 0 skips that work. */
va_status va_run_set_want_maps(va_run *r, int want, va_error *err);
int va_run_want_maps(const va_run *r); /* 0 for NULL */
/* The maps of the last forward with r, in the order the block writes them; 0 / NULL for NULL. */
int va_run_num_maps(const va_run *r);
const va_map *va_run_map(const va_run *r, int i);
const va_map *va_run_find_map(const va_run *r, const char *name);
/* Peak scratch bytes any forward with r has used (the arena's size); 0 for NULL. */
size_t va_run_workspace_bytes(const va_run *r);

/* Load a whole file: read "visattn.block" or "visattn.model" and "visattn.config" from the
 * metadata, create, load weights strictly (missing, wrong-shaped and left-over keys are errors). */
va_status va_block_load_file(const char *path, va_block **out, va_error *err);
/* The same for a file already in memory; `name` stands for the path in error messages. The buffer
 * is only read during the call. */
va_status va_block_load_memory(const void *data, size_t len, const char *name, va_block **out,
                               va_error *err);

/* ---- For block implementations ----------------------------------------------------------------
 * A model's create declares its input and outputs: info's arrays are copied. */
va_status va_block_set_info(va_block *b, const va_model_info *info, va_error *err);
/* Scratch for a forward: allocations are given back when the outermost va_block_forward returns.
 * NULL for NULL. */
va_arena *va_run_arena(va_run *r);
/* Map i of the running block gets this name and shape and is returned in *t to fill; storage
 * grows only when needed. In a block that a model runs (va_block_forward inside a forward), the
 * slot and name are the model's scope's (va_run_scope_push). */
va_status va_run_map_prepare(va_run *r, int i, const char *name, int64_t n, int64_t c, int64_t h,
                             int64_t w, va_tensor **t, va_error *err);
/* For models: the maps of the nested forwards between push and pop go to slots first, first + 1,
 * ..., named prefix + the block's name for them ("stage1." + "spatial"). Pop returns the number
 * of slots they used. */
typedef struct va_run_scope {
    int first, used;
    char prefix[VA_MAP_NAME_LEN];
} va_run_scope;
void va_run_scope_push(va_run *r, int first, const char *prefix, va_run_scope *saved);
int va_run_scope_pop(va_run *r, const va_run_scope *saved); /* NULL arguments: no-op, 0 */

/* Cost helpers, so every block counts the same way (see docs/cost.md); a NULL c is a no-op. */
/* A conv's parameters (weight + bias), MACs, and FLOPs (2 per MAC, +1 per output for the bias). */
void va_cost_conv2d(va_cost *c, int cin, int cout, int kh, int kw, int groups, int bias, int64_t n,
                    int64_t oh, int64_t ow);
void va_cost_linear(va_cost *c, int64_t rows, int64_t in, int64_t out, int bias);
void va_cost_matmul(va_cost *c, int64_t batch, int64_t m, int64_t n, int64_t k);
/* Elementwise work: `count` output elements, `flops_each` FLOPs per element, no MACs. */
void va_cost_elementwise(va_cost *c, int64_t count, int64_t flops_each);
void va_cost_params(va_cost *c, int64_t params);

/* FLOPs per element used by the convention (docs/cost.md). */
#define VA_FLOPS_ACT 1     /* any activation or gate (relu, sigmoid, gelu, ...) */
#define VA_FLOPS_ADDMUL 1  /* add, mul, subtract, divide */
#define VA_FLOPS_BN 2      /* eval BN: one multiply and one add per element */
#define VA_FLOPS_GN 4      /* GroupNorm: mean, variance, subtract, scale (affine: + VA_FLOPS_BN) */
#define VA_FLOPS_SOFTMAX 3 /* exp, sum, divide */
#define VA_FLOPS_POOL 1    /* per input element read by an avg or max pool */

#ifdef __cplusplus
}
#endif
#endif
