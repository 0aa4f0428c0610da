/* A^2-Nets double attention (Chen et al., "A^2-Nets: Double Attention Networks", NeurIPS 2018).
 *
 * Config keys and state-dict keys are those of DoubleAttention in xmu-xiaoma666/
 * External-Attention-pytorch (model/attention/A2Atttention.py): in_channels, c_m, c_n (required),
 * reconstruct=true; convA, convB, convV (in_channels -> c_m, c_n, c_n) and conv_reconstruct
 * (c_m -> in_channels, only when reconstruct), all 1x1 with bias. The softmax axes follow the paper
 * (docs/blocks/double_attention.md explains how that file differs):
 *   gather     = softmax over the H*W positions of convB(x)           N x c_n x HW
 *   distribute = softmax over the c_n channels of convV(x)            N x c_n x HW
 *   Z          = (convA(x) . gather^T) . distribute                   N x c_m x HW
 *   y          = conv_reconstruct(Z) if reconstruct else Z            (no residual)
 *
 * Implementation: the three input convs read the same x, so their weights are stacked at load time
 * into one (c_m + 2 c_n) x in_channels conv, i.e. one GEMM. conv_reconstruct is folded into the
 * descriptors when that is cheaper: Wr (G D) + br = (Wr G + br 1^T) D, because every column of D
 * (a softmax over c_n) sums to 1 — so the bias also needs no pass of its own. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "visattn/block.h"
#include "visattn/ops.h"

typedef struct dbl_attn {
    int in_channels, c_m, c_n, reconstruct;
    va_conv2d_desc abv;   /* stacked [convA; convB; convV]: in_channels -> c_m + 2 c_n */
    va_conv2d_desc rec;   /* conv_reconstruct: c_m -> in_channels */
    float *w_abv, *b_abv; /* (c_m + 2 c_n) x in_channels, c_m + 2 c_n */
    float *w_rec, *b_rec; /* in_channels x c_m, in_channels (NULL unless reconstruct) */
    int rec_finite;       /* no inf/NaN in conv_reconstruct's weight and bias */
} dbl_attn;

static va_status dbl_required_int(const va_config *cfg, const char *key, int *out, va_error *err) {
    /* DoubleAttention(in_channels, c_m, c_n, ...) gives these no default. */
    if (!va_cfg_has(cfg, key))
        return va_fail(err, VA_ERR_CONFIG,
                       "double_attention config: '%s' is required (in_channels, c_m and c_n have "
                       "no default)",
                       key);
    VA_TRY(va_cfg_int(cfg, key, 0, out, err));
    /* nn.Conv2d accepts 0 channels but the forward then fails; negative sizes fail at once. */
    if (*out < 1)
        return va_fail(err, VA_ERR_CONFIG, "double_attention config: '%s' must be >= 1, got %d",
                       key, *out);
    return VA_OK;
}

static va_status dbl_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"in_channels", "c_m", "c_n", "reconstruct", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    dbl_attn *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "double_attention: out of memory");
    b->self = m;
    VA_TRY(dbl_required_int(cfg, "in_channels", &m->in_channels, err));
    VA_TRY(dbl_required_int(cfg, "c_m", &m->c_m, err));
    VA_TRY(dbl_required_int(cfg, "c_n", &m->c_n, err));
    VA_TRY(va_cfg_bool(cfg, "reconstruct", 1, &m->reconstruct, err));
    int64_t ctot = (int64_t)m->c_m + 2 * (int64_t)m->c_n;
    if (ctot > INT_MAX)
        return va_fail(err, VA_ERR_CONFIG,
                       "double_attention config: c_m + 2 * c_n = %lld is too large",
                       (long long)ctot);

    VA_TRY(va_check_weight_count("double_attention config: (c_m + 2 c_n) x in_channels",
                                 ctot * m->in_channels, err));
    va_conv2d_desc_init(&m->abv, m->in_channels, (int)ctot, 1);
    size_t nw, nr;
    if (va_mul_size((size_t)ctot, (size_t)m->in_channels, &nw) ||
        va_mul_size(nw, sizeof(float), &nw) ||
        va_mul_size((size_t)m->c_m, (size_t)m->in_channels, &nr) ||
        va_mul_size(nr, sizeof(float), &nr))
        return va_fail(err, VA_ERR_NOMEM, "double_attention: weights too large to allocate");
    m->w_abv = va_aligned_alloc(nw);
    m->b_abv = va_aligned_alloc((size_t)ctot * sizeof(float));
    if (!m->w_abv || !m->b_abv)
        return va_fail(err, VA_ERR_NOMEM, "double_attention: out of memory");
    m->abv.weight = m->w_abv;
    m->abv.bias = m->b_abv;
    if (m->reconstruct) {
        va_conv2d_desc_init(&m->rec, m->c_m, m->in_channels, 1);
        m->w_rec = va_aligned_alloc(nr);
        m->b_rec = va_aligned_alloc((size_t)m->in_channels * sizeof(float));
        if (!m->w_rec || !m->b_rec)
            return va_fail(err, VA_ERR_NOMEM, "double_attention: out of memory");
        m->rec.weight = m->w_rec;
        m->rec.bias = m->b_rec;
    }
    return VA_OK;
}

static va_status dbl_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    dbl_attn *m = b->self;
    const int64_t cin = m->in_channels;
    const int64_t wa[4] = {m->c_m, cin, 1, 1}, ba[1] = {m->c_m};
    const int64_t wn[4] = {m->c_n, cin, 1, 1}, bn[1] = {m->c_n};
    float *wb = m->w_abv + (size_t)m->c_m * (size_t)cin, *bb = m->b_abv + m->c_m;
    float *wv = wb + (size_t)m->c_n * (size_t)cin, *bv = bb + m->c_n;
    VA_TRY(va_weights_get(w, prefix, "convA.weight", 4, wa, m->w_abv, err));
    VA_TRY(va_weights_get(w, prefix, "convA.bias", 1, ba, m->b_abv, err));
    VA_TRY(va_weights_get(w, prefix, "convB.weight", 4, wn, wb, err));
    VA_TRY(va_weights_get(w, prefix, "convB.bias", 1, bn, bb, err));
    VA_TRY(va_weights_get(w, prefix, "convV.weight", 4, wn, wv, err));
    VA_TRY(va_weights_get(w, prefix, "convV.bias", 1, bn, bv, err));
    if (m->reconstruct) {
        const int64_t wr[4] = {cin, m->c_m, 1, 1}, br[1] = {cin};
        VA_TRY(va_weights_get(w, prefix, "conv_reconstruct.weight", 4, wr, m->w_rec, err));
        VA_TRY(va_weights_get(w, prefix, "conv_reconstruct.bias", 1, br, m->b_rec, err));
        m->rec_finite = 1;
        for (int64_t i = 0; i < cin * m->c_m; i++)
            if (!isfinite(m->w_rec[i])) m->rec_finite = 0;
        for (int64_t i = 0; i < cin; i++)
            if (!isfinite(m->b_rec[i])) m->rec_finite = 0;
    }
    return VA_OK;
}

static va_status dbl_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                               va_error *err) {
    const dbl_attn *m = b->self;
    if (in[1] != m->in_channels) /* the reference asserts c == in_channels */
        return va_fail(err, VA_ERR_SHAPE, "double_attention: input has %lld channels, expected %d",
                       (long long)in[1], m->in_channels);
    out[0] = in[0];
    out[1] = m->reconstruct ? m->in_channels : m->c_m;
    out[2] = in[2];
    out[3] = in[3];
    return VA_OK;
}

static void dbl_view2(va_tensor *t, float *data, int64_t rows, int64_t cols) {
    memset(t, 0, sizeof *t);
    t->ndim = 2;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->data = data;
}

/* Folding conv_reconstruct into the c_m x c_n descriptors costs in*c_m*c_n MACs and turns the
 * second product into in x c_n x HW; keeping it costs c_m*c_n*HW + in*c_m*HW. Pick the cheaper. */
static int dbl_fold_reconstruct(const dbl_attn *m, int64_t hw) {
    /* The fold reassociates Wr (G D) as (Wr G) D and spreads br over D's columns: equal in
     * exact arithmetic, but an infinite entry of Wr or br then meets inf - inf or inf * 0 (a
     * softmax entry that underflowed) where the reference's order gives +-inf. */
    if (!m->reconstruct || !m->rec_finite) return 0;
    double cin = m->in_channels, cm = m->c_m, cn = m->c_n, p = (double)hw;
    return cin * cm * cn + cin * cn * p <= cm * cn * p + cin * cm * p;
}

static va_status dbl_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                             va_error *err) {
    va_arena *ws = va_run_arena(r);
    const dbl_attn *m = b->self;
    const int64_t n = x->shape[0], h = x->shape[2], w = x->shape[3], hw = h * w;
    const int64_t cin = m->in_channels, cm = m->c_m, cn = m->c_n, ctot = cm + 2 * cn;
    const int fold = dbl_fold_reconstruct(m, hw);

    va_tensor abv;
    VA_TRY(va_arena_tensor4(ws, &abv, n, ctot, h, w, err));
    VA_TRY(va_conv2d(&m->abv, x, &abv, ws, err));

    /* With maps wanted, the softmaxes write straight into the map storage and the products read
     * from there (no copy); otherwise they run in place on the stacked conv output. */
    va_tensor *gmap = NULL, *dmap = NULL, *smap = NULL;
    if (va_run_want_maps(r)) {
        VA_TRY(va_run_map_prepare(r, 0, "gather", n, cn, h, w, &gmap, err));
        VA_TRY(va_run_map_prepare(r, 1, "distribute", n, cn, h, w, &dmap, err));
        VA_TRY(va_run_map_prepare(r, 2, "spatial", n, 1, h, w, &smap, err));
    }
    const int64_t gd_rows = fold ? cin : cm; /* rows of the descriptors multiplied by D */
    va_tensor desc_t, fdesc_t = {0};
    VA_TRY(va_arena_tensor4(ws, &desc_t, 1, 1, cm, cn, err));
    if (fold) VA_TRY(va_arena_tensor4(ws, &fdesc_t, 1, 1, cin, cn, err));
    float *desc = desc_t.data, *fdesc = fdesc_t.data;
    va_tensor z = *y; /* Z goes straight to y unless conv_reconstruct runs after it */
    if (m->reconstruct && !fold) VA_TRY(va_arena_tensor4(ws, &z, n, cm, h, w, err));

    for (int64_t i = 0; i < n; i++) {
        float *a_i = abv.data + i * ctot * hw;
        float *braw = a_i + cm * hw, *vraw = braw + cn * hw;
        float *g_i = gmap ? gmap->data + i * cn * hw : braw;
        float *d_i = dmap ? dmap->data + i * cn * hw : vraw;
        va_tensor src, dst;
        dbl_view2(&src, braw, cn, hw);
        dbl_view2(&dst, g_i, cn, hw);
        VA_TRY(va_softmax(&src, 1, &dst, err));
        dbl_view2(&src, vraw, cn, hw);
        dbl_view2(&dst, d_i, cn, hw);
        VA_TRY(va_softmax(&src, 0, &dst, err));

        /* Global descriptors G = A . gather^T (c_m x c_n), paper eq. (2). */
        VA_TRY(va_bmm(1, cm, cn, hw, a_i, 0, g_i, 1, desc, err));
        const float *gd = desc;
        if (fold) {
            VA_TRY(va_bmm(1, cin, cn, cm, m->w_rec, 0, desc, 0, fdesc, err));
            for (int64_t r = 0; r < cin; r++)
                for (int64_t c = 0; c < cn; c++)
                    fdesc[r * cn + c] += m->b_rec[r];
            gd = fdesc;
        }
        /* Distribution Z = G . distribute, paper eq. (3). */
        float *out_i = (fold ? y->data : z.data) + i * gd_rows * hw;
        VA_TRY(va_bmm(1, gd_rows, hw, cn, gd, 0, d_i, 0, out_i, err));
    }
    if (m->reconstruct && !fold) VA_TRY(va_conv2d(&m->rec, &z, y, ws, err));
    if (smap) VA_TRY(va_channel_mean(gmap, smap, err));
    return VA_OK;
}

static va_status dbl_cost(const va_block *b, const int64_t in[4], va_cost *c, va_error *err) {
    (void)err;
    const dbl_attn *m = b->self;
    const int64_t n = in[0], h = in[2], w = in[3], hw = h * w;
    va_cost_conv2d(c, m->in_channels, m->c_m, 1, 1, 1, 1, n, h, w);
    va_cost_conv2d(c, m->in_channels, m->c_n, 1, 1, 1, 1, n, h, w);
    va_cost_conv2d(c, m->in_channels, m->c_n, 1, 1, 1, 1, n, h, w);
    va_cost_elementwise(c, 2 * n * m->c_n * hw, VA_FLOPS_SOFTMAX);
    va_cost_matmul(c, n, m->c_m, m->c_n, hw);
    va_cost_matmul(c, n, m->c_m, hw, m->c_n);
    if (m->reconstruct) va_cost_conv2d(c, m->c_m, m->in_channels, 1, 1, 1, 1, n, h, w);
    return VA_OK;
}

static void dbl_destroy(va_block *b) {
    dbl_attn *m = b->self;
    if (!m) return;
    va_aligned_free(m->w_abv);
    va_aligned_free(m->b_abv);
    va_aligned_free(m->w_rec);
    va_aligned_free(m->b_rec);
    free(m);
}

const va_block_ops va_double_attention_ops = {
    .name = "double_attention",
    .kind = VA_KIND_BLOCK,
    .summary = "A^2-Nets double attention: gather global descriptors, distribute them back",
    .create = dbl_create,
    .load = dbl_load,
    .out_shape = dbl_out_shape,
    .forward = dbl_forward,
    .cost = dbl_cost,
    .destroy = dbl_destroy,
};
