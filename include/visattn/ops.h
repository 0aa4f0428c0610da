/* Tensor ops on NCHW float32 tensors.
 *
 * Conventions: outputs are allocated by the caller with the right shape (use the *_out_* helpers).
 * Every op that reads an input and writes an output says which of two it is:
 *   - "in place allowed": the output may be the input itself (same data pointer, same shape) and
 *     gives exactly the out-of-place result; any other overlap is refused;
 *   - "not in place": an output that shares any memory with an input is refused.
 * Refused means VA_ERR_ARG with a message naming the op (a void op writes nothing instead).
 * Tensor and pointer arguments must be non-NULL unless the comment says otherwise (VA_ERR_ARG
 * "<op>: <argument> is NULL"; a tensor whose data is NULL must be empty). Scratch memory comes
 * from the arena `ws` and is given back before the call returns. Every op checks shapes and
 * returns VA_ERR_SHAPE with a message naming the op and the shapes. Convs and matmuls run through
 * OpenBLAS cblas_sgemm; the rest are OpenMP loops. Semantics follow PyTorch (named per op). */
#ifndef VISATTN_OPS_H
#define VISATTN_OPS_H

#include "visattn/error.h"
#include "visattn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Threads: one setting for OpenMP and OpenBLAS ------------------------------------------- */
/* n <= 0 means "number of cores". */
void va_set_num_threads(int n);
int va_get_num_threads(void);
/* Apply VISATTN_NUM_THREADS from the environment if set, else OMP_NUM_THREADS (its first number:
 * OpenMP reads "4,2" as 4 threads at the outer level), else the number of cores.
 * Returns VA_ERR_ARG with a message if the variable used is not a positive integer (list). */
va_status va_threads_from_env(va_error *err);
/* The OpenBLAS kernel in use (openblas_get_corename(): "Haswell", "SkylakeX", ...). OpenBLAS picks
 * it at run time from the CPU, or from OPENBLAS_CORETYPE; its summation order differs between
 * kernels, so benchmark reports and bug reports name it. */
const char *va_blas_kernel(void);

/* ---- Activations ----------------------------------------------------------------------------- */
typedef enum va_act {
    VA_ACT_NONE = 0,
    VA_ACT_RELU,
    VA_ACT_RELU6,
    VA_ACT_SILU,
    VA_ACT_GELU, /* erf form: x * 0.5 * (1 + erf(x / sqrt(2))) */
    VA_ACT_SIGMOID,
    VA_ACT_HARDSIGMOID, /* PyTorch: relu6(x + 3) / 6 */
    VA_ACT_HARDSWISH,   /* PyTorch: x * relu6(x + 3) / 6 */
    VA_ACT_TANH,
    VA_ACT_MISH,    /* x * tanh(softplus(x)), softplus(x) = x above 20 (PyTorch's threshold) */
    VA_ACT_HARDMISH /* timm: x * (0.5 * clamp(x + 2, 0, 2)) */
} va_act;

/* Parse "relu", "relu6", "silu", "gelu", "sigmoid", "hardsigmoid", "hardswish", "none"
 * (also "swish" = silu). Returns -1 if unknown or NULL. */
int va_act_from_name(const char *name);
const char *va_act_name(va_act act); /* "unknown" for a value outside the enum */
/* y[i] = act(x[i]) for n elements; in place allowed (y == x). Cannot report: a NULL x or y, or a
 * y that overlaps x without being x, writes nothing. */
void va_act_apply(va_act act, const float *x, float *y, int64_t n);

/* ---- Convolution ----------------------------------------------------------------------------- */
typedef struct va_conv2d_desc {
    int in_channels, out_channels;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_h, pad_w; /* zero padding, symmetric, as nn.Conv2d(padding=(pad_h, pad_w)) */
    int dilation_h, dilation_w;
    int groups;
    va_act act;          /* fused activation applied after the bias (VA_ACT_NONE for none) */
    const float *weight; /* [out_channels, in_channels / groups, kernel_h, kernel_w] */
    const float *bias;   /* [out_channels] or NULL */
} va_conv2d_desc;

/* Fill a desc with PyTorch's defaults for a k x k conv (stride 1, pad 0, dilation 1, groups 1).
 * A NULL d: nothing. */
void va_conv2d_desc_init(va_conv2d_desc *d, int in_channels, int out_channels, int kernel);
/* Check channels/groups/kernel/stride/dilation are valid (VA_ERR_CONFIG if not). */
va_status va_conv2d_check(const va_conv2d_desc *d, va_error *err);
/* Output spatial size; VA_ERR_SHAPE if the (padded) input is smaller than the dilated kernel. */
va_status va_conv2d_out_hw(const va_conv2d_desc *d, int64_t h, int64_t w, int64_t *oh, int64_t *ow,
                           va_error *err);
/* y = act(conv2d(x, weight) + bias). x: N x Cin x H x W; y: N x Cout x OH x OW.
 * 1x1 stride-1 unpadded convs are a direct GEMM; depthwise convs a direct loop; others im2col+GEMM.
 * Not in place: y may not overlap x, d->weight or d->bias. d->weight must be set; ws may be NULL
 * for depthwise and 1x1 stride-1 unpadded convs (others: VA_ERR_ARG). */
va_status va_conv2d(const va_conv2d_desc *d, const va_tensor *x, va_tensor *y, va_arena *ws,
                    va_error *err);
/* MACs of one conv2d forward at this output size: N*Cout*OH*OW*(Cin/groups)*kh*kw; -1 on overflow
 * or a NULL or invalid d. */
int64_t va_conv2d_macs(const va_conv2d_desc *d, int64_t n, int64_t oh, int64_t ow);

/* y = x W^T + b for x: rows x in, W: out x in (nn.Linear layout), y: rows x out. b may be NULL;
 * x and w may be NULL when in == 0, and nothing is needed when rows or out is 0. Not in place: y
 * may not overlap x, w or b. */
va_status va_linear(const float *x, int64_t rows, int64_t in, const float *w, const float *b,
                    int64_t out, float *y, va_error *err);

/* ---- Normalisation --------------------------------------------------------------------------- */
/* Eval-mode BatchNorm2d: y = (x - mean) / sqrt(var + eps) * gamma + beta per channel.
 * gamma/beta may be NULL (affine=False). In place allowed (y == x); y may not overlap the
 * per-channel vectors. */
va_status va_batchnorm2d(const va_tensor *x, const float *gamma, const float *beta,
                         const float *mean, const float *var, float eps, va_tensor *y,
                         va_error *err);
/* Fold eval-mode BN into the conv that precedes it: weight [cout, k] and bias [cout] are rewritten
 * in place (bias must point to cout floats; pass zeros if the conv had none). k = cin/g*kh*kw.
 * gamma/beta may be NULL (affine=False). Cannot report: a NULL weight, bias, mean or var, or
 * weight, bias and the BN vectors overlapping one another, leaves everything unchanged. */
void va_fold_batchnorm(float *weight, float *bias, int64_t cout, int64_t k, const float *gamma,
                       const float *beta, const float *mean, const float *var, float eps);
/* GroupNorm as nn.GroupNorm(num_groups, C, eps): stats over (C/groups, H, W) per sample and group;
 * gamma/beta per channel, may be NULL. In place allowed (y == x); y may not overlap gamma/beta. */
va_status va_group_norm(const va_tensor *x, int num_groups, const float *gamma, const float *beta,
                        float eps, va_tensor *y, va_error *err);
/* LayerNorm over the channels of each pixel, as EMO's LayerNorm2d (nn.LayerNorm(C) on NHWC):
 * per (n, h, w) the mean and biased variance over C; gamma/beta per channel, may be NULL. In place
 * allowed (y == x); y may not overlap gamma/beta. (InstanceNorm2d is va_group_norm with C groups.)
 */
va_status va_layer_norm2d(const va_tensor *x, const float *gamma, const float *beta, float eps,
                          va_tensor *y, va_error *err);

/* ---- Pooling --------------------------------------------------------------------------------- */
/* Global pools: x N x C x H x W -> y N x C x 1 x 1. Not in place. */
va_status va_global_avgpool(const va_tensor *x, va_tensor *y, va_error *err);
va_status va_global_maxpool(const va_tensor *x, va_tensor *y, va_error *err);
/* Windowed pools as nn.AvgPool2d / nn.MaxPool2d (ceil_mode=False; avg counts padding zeros, i.e.
 * count_include_pad=True; max pads with -inf). Not in place. va_pool2d_out_hw accepts a NULL oh
 * or ow (that size is not stored: a check only). */
typedef struct va_pool2d_desc {
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
} va_pool2d_desc;
va_status va_pool2d_out_hw(const va_pool2d_desc *d, int64_t h, int64_t w, int64_t *oh, int64_t *ow,
                           va_error *err);
va_status va_avgpool2d(const va_pool2d_desc *d, const va_tensor *x, va_tensor *y, va_error *err);
va_status va_maxpool2d(const va_pool2d_desc *d, const va_tensor *x, va_tensor *y, va_error *err);
/* Across channels: x N x C x H x W -> y N x 1 x H x W (torch.mean / torch.max over dim 1).
 * Not in place. */
va_status va_channel_mean(const va_tensor *x, va_tensor *y, va_error *err);
va_status va_channel_max(const va_tensor *x, va_tensor *y, va_error *err);

/* ---- Softmax, matmul ------------------------------------------------------------------------- */
/* Softmax along `axis` (negative counts from the end) of a tensor of any ndim; in place allowed
 * (y == x). */
va_status va_softmax(const va_tensor *x, int axis, va_tensor *y, va_error *err);
/* Class activation map: for each sample n, cam[n] = w[top] . features[n] (C channels summed per
 * pixel), top = the first largest of logits[n] as torch.argmax picks it (a NaN counts as larger
 * than any number). features N x C x H x W, w num_classes x C (a linear classifier on the
 * channel means), logits N x num_classes, cam N x 1 x H x W. Not in place. */
va_status va_class_activation_map(const va_tensor *features, const float *w, const float *logits,
                                  int64_t num_classes, va_tensor *cam, va_error *err);
/* Batched matmul: C[b] = op(A[b]) * op(B[b]) for b < batch; A, B, C are contiguous row-major.
 * op(A) is M x K (A stored K x M if trans_a), op(B) is K x N (B stored N x K if trans_b).
 * Not in place: c may not overlap a or b (a and b may overlap each other). a and b may be NULL
 * when k == 0, and nothing is needed when batch, m or n is 0. */
va_status va_bmm(int64_t batch, int64_t m, int64_t n, int64_t k, const float *a, int trans_a,
                 const float *b, int trans_b, float *c, va_error *err);

/* ---- Elementwise with broadcasting ----------------------------------------------------------- */
/* 4-D NCHW broadcasting: each dim of a and b is equal or 1; y has the broadcast shape.
 * In place allowed: y may be a or b (or both) when it has that operand's shape; any other overlap
 * is refused. */
va_status va_add(const va_tensor *a, const va_tensor *b, va_tensor *y, va_error *err);
va_status va_mul(const va_tensor *a, const va_tensor *b, va_tensor *y, va_error *err);
/* y = a * scale elementwise over n floats; in place allowed (y == a). Cannot report: a NULL a or
 * y, or a y that overlaps a without being a, writes nothing. */
void va_scale(const float *a, float scale, float *y, int64_t n);

/* ---- Layout ---------------------------------------------------------------------------------- */
/* The layout ops are not in place: y may not overlap x (or a, b). */
/* y = x.permute(perm) made contiguous; x and y have the same ndim (<= VA_MAX_DIM). */
va_status va_permute(const va_tensor *x, const int *perm, va_tensor *y, va_error *err);
/* ShuffleNet channel shuffle: view N x g x C/g x H x W, swap dims 1 and 2. */
va_status va_channel_shuffle(const va_tensor *x, int groups, va_tensor *y, va_error *err);
/* Zero padding as F.pad(x, (left, right, top, bottom)); amounts >= 0. */
va_status va_pad2d(const va_tensor *x, int top, int bottom, int left, int right, va_tensor *y,
                   va_error *err);
/* Bilinear resize to y's H x W, as F.interpolate(mode="bilinear", align_corners=False). */
va_status va_resize_bilinear(const va_tensor *x, va_tensor *y, va_error *err);
/* Concatenate along channels: y = cat([a, b], dim=1). */
va_status va_concat_channels(const va_tensor *a, const va_tensor *b, va_tensor *y, va_error *err);

#ifdef __cplusplus
}
#endif
#endif
