/* The uniform block interface.
 *
 * A block (an attention module, or a whole model such as the backbone) is a struct with a small
 * vtable, created by name from the registry with a JSON config whose keys are the official
 * constructor argument names. Lifecycle:
 *
 *     va_block *b;  va_block_create("cbam", "{\"gate_channels\": 64}", &b, &err);
 *     va_block_load(b, &weights, "", &err);        // state_dict keys, strict
 *     va_block_forward(b, &x, &y, &arena, &err);   // y allocated by the caller, see out_shape
 *     va_block_map(b, i)                           // attention maps of the last forward
 *     va_block_destroy(b);
 *
 * A forward pass takes its scratch from the arena and gives it back before returning.
 *
 * Attention maps, by block (after a forward with want_maps set; docs/blocks/<name>.md has more):
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
 *                                                  (absent if attn_s is false) */
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

#define VA_MAX_MAPS 16
#define VA_MAP_NAME_LEN 48

typedef struct va_map {
    char name[VA_MAP_NAME_LEN]; /* e.g. "spatial", "channel", "stage2.spatial" */
    va_tensor t;                /* owned by the block; valid until the next forward/destroy */
    size_t cap;                 /* floats allocated */
} va_map;

typedef struct va_block va_block;

typedef struct va_block_ops {
    const char *name;    /* registry name, e.g. "cbam" */
    const char *alias;   /* second name or NULL (e.g. "channel" for "se") */
    va_block_kind kind;
    const char *summary; /* one line for --help listings */
    /* Read the config (official argument names and defaults), validate it, allocate b->self. */
    va_status (*create)(va_block *b, const va_config *cfg, va_error *err);
    /* Copy weights from state_dict keys prefix + official key; fold BN here. */
    va_status (*load)(va_block *b, va_weights *w, const char *prefix, va_error *err);
    /* Output shape for an NCHW input shape; VA_ERR_SHAPE if the input does not fit the config. */
    va_status (*out_shape)(const va_block *b, const int64_t in[4], int64_t out[4], va_error *err);
    va_status (*forward)(va_block *b, const va_tensor *x, va_tensor *y, va_arena *ws,
                         va_error *err);
    va_status (*cost)(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err);
    void (*destroy)(va_block *b); /* free b->self and what it owns (not the maps) */
} va_block_ops;

struct va_block {
    const va_block_ops *ops;
    void *self;     /* block-private state */
    int loaded;     /* weights loaded */
    int want_maps;  /* 1 (default): forward records attention maps; 0 skips that work */
    int num_maps;
    va_map maps[VA_MAX_MAPS];
};

/* ---- Registry -------------------------------------------------------------------------------- */
/* Find by name or alias among blocks and models; NULL if unknown. */
const va_block_ops *va_find_ops(const char *name);
/* The i-th registered entry (blocks first, then models); NULL past the end. */
const va_block_ops *va_ops_at(int i);

/* ---- Public calls ---------------------------------------------------------------------------- */
va_status va_block_create(const char *name, const char *config_json, va_block **out, va_error *err);
va_status va_block_create_cfg(const char *name, const va_config *cfg, va_block **out,
                              va_error *err);
va_status va_block_load(va_block *b, va_weights *w, const char *prefix, va_error *err);
/* C, H and W must be >= 1; N may be 0 (an empty output and empty maps, as in PyTorch). */
va_status va_block_out_shape(const va_block *b, const int64_t in[4], int64_t out[4], va_error *err);
/* Checks x is 4-D, y has out_shape(x), weights are loaded; then runs the block. */
va_status va_block_forward(va_block *b, const va_tensor *x, va_tensor *y, va_arena *ws,
                           va_error *err);
va_status va_block_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err);
const char *va_block_name(const va_block *b);
int va_block_num_maps(const va_block *b);
const va_map *va_block_map(const va_block *b, int i);
const va_map *va_block_find_map(const va_block *b, const char *name);
void va_block_destroy(va_block *b);

/* Load a whole file: read "visattn.block" or "visattn.model" and "visattn.config" from the
 * metadata, create, load weights strictly (missing, wrong-shaped and left-over keys are errors). */
va_status va_block_load_file(const char *path, va_block **out, va_error *err);
/* The same for a file already in memory; `name` stands for the path in error messages. The buffer
 * is only read during the call. */
va_status va_block_load_memory(const void *data, size_t len, const char *name, va_block **out,
                               va_error *err);

/* ---- For block implementations ----------------------------------------------------------------
 * Map slot i (0 <= i < VA_MAX_MAPS) gets this name and shape; storage grows only when needed.
 * Sets b->num_maps to at least i + 1. Returns the tensor to fill in *t. */
va_status va_block_map_prepare(va_block *b, int i, const char *name, int64_t n, int64_t c,
                               int64_t h, int64_t w, va_tensor **t, va_error *err);
/* Copy another block's maps into b starting at slot `first`, names prefixed ("stage1." + name). */
va_status va_block_maps_import(va_block *b, int first, const char *prefix, const va_block *src,
                               va_error *err);

/* Cost helpers, so every block counts the same way (see docs/cost.md). */
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
