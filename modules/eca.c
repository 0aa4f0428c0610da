/* "eca": Efficient Channel Attention (Wang et al., ECA-Net, CVPR 2020), as eca_layer in
 * BangguWu/ECANet models/eca_module.py: eca_layer(channel, k_size=3).
 *
 * gate = sigmoid(conv1d(avgpool(x))), y = x * gate, where the conv is Conv1d(1, 1, k_size,
 * padding=(k_size - 1) / 2, bias=False) sliding along the C channel means of each image (zero
 * padded at both ends). `channel` is required and unused, as in the reference: the block runs at
 * any C. k_size must be odd: an even one makes the reference's conv give C - 1 outputs and its
 * product fail.
 * State dict: conv.weight [1, 1, k_size]. Map "channel": N x C x 1 x 1, the gate. */
#include <stdlib.h>
#include <string.h>

#include "visattn/block.h"
#include "visattn/ops.h"

typedef struct eca_block {
    int k;
    float *weight; /* k taps */
} eca_block;

static va_status eca_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"channel", "k_size", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    eca_block *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "eca: out of memory");
    b->self = m;
    if (!va_cfg_has(cfg, "channel"))
        return va_fail(err, VA_ERR_CONFIG,
                       "eca config: 'channel' is required (as in the reference)");
    int channel;
    VA_TRY(va_cfg_int(cfg, "channel", 0, &channel, err));
    VA_TRY(va_cfg_int(cfg, "k_size", 3, &m->k, err));
    /* channel is unused, but a channel count below 1 is a mistake worth naming. */
    if (channel < 1)
        return va_fail(err, VA_ERR_CONFIG, "eca config: 'channel' must be >= 1, got %d", channel);
    if (m->k < 1 || m->k % 2 == 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "eca config: 'k_size' must be odd and >= 1, got %d (an even kernel gives "
                       "C - 1 channel weights)",
                       m->k);
    VA_TRY(va_check_weight_count("eca config: k_size", m->k, err));
    m->weight = malloc((size_t)m->k * sizeof *m->weight);
    if (!m->weight) return va_fail(err, VA_ERR_NOMEM, "eca: out of memory for %d taps", m->k);
    return VA_OK;
}

static va_status eca_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    eca_block *m = b->self;
    const int64_t shape[3] = {1, 1, m->k};
    return va_weights_get(w, prefix, "conv.weight", 3, shape, m->weight, err);
}

static va_status eca_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                               va_error *err) {
    (void)b;
    (void)err;
    memcpy(out, in, 4 * sizeof *in);
    return VA_OK;
}

/* z[c] = sum_j w[j] * p[c + j - pad] over the taps that land inside 0..C-1 (the others meet the
 * zero padding), so a kernel wider than C costs no more than C taps per channel. */
static void conv_channels(const float *w, int k, const float *p, int64_t c, float *z) {
    const int64_t pad = (k - 1) / 2;
    for (int64_t i = 0; i < c; i++) {
        const int64_t j0 = pad - i > 0 ? pad - i : 0;
        const int64_t j1 = c + pad - i < k ? c + pad - i : k;
        float acc = 0.0f;
        for (int64_t j = j0; j < j1; j++)
            acc += w[j] * p[i + j - pad];
        z[i] = acc;
    }
}

static va_status eca_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                             va_error *err) {
    va_arena *ws = va_run_arena(r);
    const eca_block *m = b->self;
    const int64_t n = x->shape[0], c = x->shape[1];
    va_tensor pooled, scratch, *gate = &scratch;
    VA_TRY(va_arena_tensor4(ws, &pooled, n, c, 1, 1, err));
    if (va_run_want_maps(r))
        VA_TRY(va_run_map_prepare(r, 0, "channel", n, c, 1, 1, &gate, err));
    else
        VA_TRY(va_arena_tensor4(ws, &scratch, n, c, 1, 1, err));
    VA_TRY(va_global_avgpool(x, &pooled, err));
    for (int64_t i = 0; i < n; i++)
        conv_channels(m->weight, m->k, pooled.data + i * c, c, gate->data + i * c);
    va_act_apply(VA_ACT_SIGMOID, gate->data, gate->data, n * c);
    return va_mul(x, gate, y, err);
}

static va_status eca_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    (void)err;
    const eca_block *m = b->self;
    const int64_t n = in[0], c = in[1], hw = in[2] * in[3];
    va_cost_elementwise(cost, n * c * hw, VA_FLOPS_POOL);
    /* The 1-D conv as a 1 x k conv over a 1 x C row: every tap counts, the padded ones too, as
     * in the convention for padded convs. */
    va_cost_conv2d(cost, 1, 1, 1, m->k, 1, 0, n, 1, c);
    va_cost_elementwise(cost, n * c, VA_FLOPS_ACT);
    va_cost_elementwise(cost, n * c * hw, VA_FLOPS_ADDMUL);
    return VA_OK;
}

static void eca_destroy(va_block *b) {
    eca_block *m = b->self;
    if (!m) return;
    free(m->weight);
    free(m);
}

const va_block_ops va_eca_ops = {
    .name = "eca",
    .kind = VA_KIND_BLOCK,
    .summary = "ECA: sigmoid(1-D conv over the channel means) * x (ECA-Net eca_layer)",
    .create = eca_create,
    .load = eca_load,
    .out_shape = eca_out_shape,
    .forward = eca_forward,
    .cost = eca_cost,
    .destroy = eca_destroy,
};
