/* CBAM's spatial attention gate (SpatialGate in Jongchan/attention-module MODELS/cbam.py), shared
 * by the "spatial" block (spatial.c, which defines these functions) and "cbam" (cbam.c).
 *
 * gate = sigmoid(BN(conv7x7(cat[max over C, mean over C]))), y = x * gate. The conv is 2 -> 1,
 * padding 3, without bias; the BN (eps 1e-5, affine) is folded into it at load time. */
#ifndef VISATTN_MODULES_SPATIAL_GATE_H
#define VISATTN_MODULES_SPATIAL_GATE_H

#include "visattn/block.h"
#include "visattn/ops.h"

#define VA_SPATIAL_GATE_K 7

typedef struct va_spatial_gate {
    float weight[2 * VA_SPATIAL_GATE_K * VA_SPATIAL_GATE_K]; /* BN folded in */
    float bias[1];
} va_spatial_gate;

/* Read prefix + "spatial.conv.weight" and prefix + "spatial.bn.{weight,bias,running_mean,
 * running_var}" and fold the BN into the conv. */
va_status va_spatial_gate_load(va_spatial_gate *g, va_weights *w, const char *prefix,
                               va_error *err);

/* y = xs * gate with xs = x * chscale[n * C + c] (CBAM's channel-gated input, never materialised)
 * or xs = x if chscale is NULL. gate (N x 1 x H x W) receives the sigmoid gate. y may alias x. */
va_status va_spatial_gate_forward(const va_spatial_gate *g, const va_tensor *x,
                                  const float *chscale, va_tensor *gate, va_tensor *y, va_arena *ws,
                                  va_error *err);

/* Adds the reference's cost at input shape `in` (parameters: conv weight, BN weight and bias). */
void va_spatial_gate_cost(va_cost *c, const int64_t in[4]);

#endif
