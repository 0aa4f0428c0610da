/* The network engine (internal): a whole CNN as data, a list of units run in order.
 *
 * A family file (resnet.c, ...) turns its constructor's arguments into a table of net_unit_desc,
 * as torchvision's builders turn theirs into a stage table, and hands it to va_net_build; the
 * family's va_block_ops then point at the va_net_* functions below for everything but create.
 * A unit is one of a few layer kinds:
 *
 *   NET_CONV_BN_ACT  conv (no bias) + BatchNorm + activation: a stem, a transition
 *   NET_MAXPOOL      nn.MaxPool2d
 *   NET_RESIDUAL     a branch of conv-BN-act layers, an attention slot after one of them, and a
 *                    shortcut (identity, a conv-BN "downsample", or none), added, then out_act:
 *                    ResNet's BasicBlock (2 convs) and Bottleneck (3 convs), with the slot after
 *                    the last BN where SE-ResNet and CBAM put it; MobileNetV3's InvertedResidual
 *                    and EfficientNet's MBConv (optional 1x1 expand, kxk depthwise, the SE slot
 *                    after it, 1x1 projection without activation; identity shortcut only at
 *                    stride 1 with equal channels, else none; no out_act)
 *   NET_BLOCK        a registered block alone on the running activation (attn, attn_json): the
 *                    BAM modules attention-module's ResidualNet puts between stages; its weights
 *                    under "<prefix>" ("bam1."), its maps under the same scope ("bam1.channel")
 *   NET_HEAD         global average pool (or nn.AvgPool2d(k): one fixed k x k window, the head
 *                    of the CBAM / triplet attention ResNets), an optional hidden Linear +
 *                    activation (MobileNetV3's classifier), the last Linear; the class
 *                    activation map ("cam")
 *
 * Keys: each conv's weights are "<prefix><conv>.weight" and its BN "<prefix><bn>.{weight, bias,
 * running_mean, running_var}"; the slot's block loads under "<prefix><attn_key>."; the head's
 * Linear(s) "<prefix><fc_hidden|fc>.{weight, bias}". BN (each conv's eps) is folded in at load.
 * Maps: a slot's block maps under the scope "<prefix>" (e.g. "layer1.0.spatial"), a unit with an
 * `energy` name records the channel mean of its output under that name, the head records "cam"
 * (with a hidden layer: the CAM of the head linearised at the sample, net.c's head_run). */
#ifndef VISATTN_NET_H
#define VISATTN_NET_H

#include <cjson/cJSON.h>

#include "visattn/block.h"
#include "visattn/ops.h"

#define NET_MAX_CONVS 4
#define NET_KEY_LEN 32

typedef enum net_kind { NET_CONV_BN_ACT, NET_MAXPOOL, NET_RESIDUAL, NET_BLOCK, NET_HEAD } net_kind;

typedef struct net_conv_desc {
    int cin, cout, kernel, stride, pad, dilation, groups;
    va_act act;             /* after the BN */
    float bn_eps;           /* the BatchNorm's eps; 0: nn.BatchNorm2d's default 1e-5 */
    char conv[NET_KEY_LEN]; /* key of the conv under the unit's prefix, e.g. "conv1" */
    char bn[NET_KEY_LEN];   /* key of its BatchNorm, e.g. "bn1" */
} net_conv_desc;

typedef struct net_unit_desc {
    net_kind kind;
    char prefix[NET_KEY_LEN]; /* state_dict prefix ("layer1.0."; "" at the root) and map scope */
    /* NET_CONV_BN_ACT: conv[0]; NET_RESIDUAL: conv[0..nconv-1], the branch in order */
    int nconv;
    net_conv_desc conv[NET_MAX_CONVS];
    /* NET_RESIDUAL */
    int has_down;       /* shortcut through `down` (conv-BN, no activation) instead of identity */
    int no_shortcut;    /* no shortcut at all: an inverted residual that changes the shape */
    net_conv_desc down; /* e.g. conv "downsample.0", bn "downsample.1" */
    va_act out_act;     /* after the addition */
    /* The attention slot: a registered block, created with attn_json, run after conv[slot_after]
     * (its BN and activation); attn[0] == 0: no slot. NET_BLOCK: the block itself. */
    char attn[64];
    const char *attn_json; /* owned by the caller; read during va_net_build only */
    char attn_key[NET_KEY_LEN];
    int slot_after;
    /* The slot takes conv[slot_after]'s raw output, before its BN and activation (SimAM's
     * nn.Sequential(conv2, simam_module)): that BN is applied apart, not folded into the conv. */
    int slot_before_bn;
    /* NET_MAXPOOL */
    va_pool2d_desc pool;
    /* NET_HEAD: avgpool, [Linear(in_features, hidden), hidden_act,] Linear(-> num_classes) */
    int in_features, num_classes;
    /* 0: global average pool. k: nn.AvgPool2d(k) (window k, stride k, no padding) followed by
     * a flatten into the Linear, as Jongchan/attention-module's ResNet does; that only works when
     * the pool gives 1 x 1, i.e. k <= H, W < 2k, and it then averages the top-left k x k alone.
     * Any other final map is refused (net.c unit_shape), as PyTorch fails on it. */
    int pool_window;
    char fc[NET_KEY_LEN];
    int hidden;                  /* 0: one Linear */
    va_act hidden_act;           /* VA_ACT_NONE, VA_ACT_RELU or VA_ACT_HARDSWISH */
    char fc_hidden[NET_KEY_LEN]; /* key of the first Linear, e.g. "classifier.0" */
    /* Any kind: record the channel mean of the unit's output under this name ("" none). */
    char energy[VA_MAP_NAME_LEN];
} net_unit_desc;

/* Build b->self from the table: allocate every unit's weights and create the slots' blocks
 * through the registry. `what` ("resnet") starts error messages. On failure b->self may hold a
 * partly built net: va_net_destroy frees it. */
va_status va_net_build(va_block *b, const char *what, const net_unit_desc *units, int num_units,
                       va_error *err);

/* The block ops of every network built with va_net_build. */
va_status va_net_load(va_block *b, va_weights *w, const char *prefix, va_error *err);
va_status va_net_out_shape(const va_block *b, const int64_t in[4], int64_t out[4], va_error *err);
va_status va_net_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                         va_error *err);
va_status va_net_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err);
void va_net_destroy(va_block *b);

/* The config of attention block `name` in a slot of `c` channels: `args` (an object or NULL) plus
 * the channel arguments the model owns, which args must not set (docs/backbone.md: se gets
 * input_channels = c and squeeze_channels = max(1, c / reduction), cbam and triplet
 * gate_channels, ...; a block registered by the program its ops->channels_key). `what` names the
 * model in messages. *out: malloc'ed compact JSON. */
va_status va_net_attn_json(const char *what, const char *name, const cJSON *args, int reduction,
                           int c, char **out, va_error *err);

/* The slot config of a network whose slot holds torchvision's SqueezeExcitation by default
 * (MobileNetV3, EfficientNet, RegNetY): attention (default `default_attn`, "se" or "" for none;
 * null: none; else a registered block, its alias resolved into attn), attention_reduction
 * (default 4, >= 1; refused with se, whose squeeze channels the family's rule fixes) and
 * attention_args (an object, only with an attention). *root: the config as JSON (the caller
 * deletes it, also on failure), *args: its attention_args or NULL. `what` starts messages. */
va_status va_net_read_se_slot(const char *what, const va_config *cfg, const char *default_attn,
                              char attn[64], int *reduction, cJSON **root, const cJSON **args,
                              va_error *err);

/* The JSON of that slot in a block of c channels: for se, torchvision's SqueezeExcitation with
 * `squeeze` channels and the family's activations (act, scale_act) unless args set others (args
 * must not set the channels); any other block through va_net_attn_json's rule. *out: malloc'ed. */
va_status va_net_se_slot_json(const char *what, const char *attn, const cJSON *args, int reduction,
                              int c, int squeeze, const char *act, const char *scale_act,
                              char **out, va_error *err);

/* What a network model declares (va_model_info): 3 x size x size RGB input, num_classes, and
 * with `normalised` the mean and std of pixel / 255 (NULL: ImageNet's), else none. */
va_status va_net_set_info(va_block *b, int num_classes, int size, int normalised, const float *mean,
                          const float *std, va_error *err);

/* A family's unit table while it is filled: n zeroed units and n slot configs (NULL until set).
 * va_net_table_free frees both and every config; either pointer may be NULL. */
va_status va_net_table_alloc(int n, net_unit_desc **units, char ***json, const char *what,
                             va_error *err);
void va_net_table_free(net_unit_desc *units, char **json, int n);

/* The va_block_ops of a network model: its own create (which builds the unit table and calls
 * va_net_build), the engine for everything else. */
#define VA_NET_OPS(var, reg_name, create_fn, text)                                                 \
    const va_block_ops var = {.name = reg_name,                                                    \
                              .kind = VA_KIND_MODEL,                                               \
                              .summary = text,                                                     \
                              .create = create_fn,                                                 \
                              .load = va_net_load,                                                 \
                              .out_shape = va_net_out_shape,                                       \
                              .forward = va_net_forward,                                           \
                              .cost = va_net_cost,                                                 \
                              .destroy = va_net_destroy}

#endif
