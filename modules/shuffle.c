/* Shuffle attention, SA-Net (Zhang and Yang, ICASSP 2021), as sa_layer in wofmanaf/SA-Net
 * models/sa_resnet.py: sa_layer(channel, groups=64).
 *
 * The reference views x as (N*groups) x k x H x W (k = channel/groups), chunks each group into a
 * channel half x_0 (first c0 = ceil(k/2) channels) and a spatial half x_1 (last c1 = floor(k/2)):
 *   x_0 * sigmoid(cweight * mean_HW(x_0) + cbias)
 *   x_1 * sigmoid(sweight * GroupNorm(c1, c1)(x_1) + sbias)      (GN: one channel per group)
 * concatenates them back in place and ends with channel_shuffle(out, 2). Every input channel p
 * (= g*k + j) thus becomes one output plane, scaled by a gate computed from that plane alone; here
 * each plane is read once for its statistics and gated straight into its shuffled position
 * q = (p mod C/2)*2 + p div C/2, instead of the reference's chain of reshapes, cat and permute.
 *
 * Maps: "channel" N x (groups*c0) x 1 x 1, the x_0 gates in (group, channel) order; "spatial"
 * N x 1 x H x W, the x_1 gates averaged over all groups and channels. See docs/blocks/shuffle.md.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops_mathf.h" /* va_sigmoidf: inline, so the per-plane loops below vectorise */
#include "visattn/block.h"
#include "visattn/ops.h"

#define SHUFFLE_GN_EPS 1e-5 /* nn.GroupNorm's default eps */
#define SHUFFLE_LANES 16    /* independent partial sums, so the compiler vectorises reductions */

typedef struct shuffle {
    int channel, groups;
    int k, c0, c1; /* channels per group, in x_0 and in x_1 (c1 = channel // (2*groups)) */
    float *params; /* 6 * c1 floats: the six arrays below */
    float *cweight, *cbias, *sweight, *sbias, *gn_weight, *gn_bias;
} shuffle;

static va_status shuffle_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"channel", "groups", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    if (!va_cfg_has(cfg, "channel"))
        return va_fail(err, VA_ERR_CONFIG, "shuffle config: channel is required");
    int channel, groups;
    VA_TRY(va_cfg_int(cfg, "channel", 0, &channel, err));
    VA_TRY(va_cfg_int(cfg, "groups", 64, &groups, err));
    /* What sa_layer cannot build or run on a `channel`-channel input, in the order it fails. */
    if (groups < 1)
        return va_fail(err, VA_ERR_CONFIG, "shuffle config: groups must be >= 1, got %d", groups);
    const int64_t two_g = 2 * (int64_t)groups;
    if (channel < two_g) /* parameters of channel // (2*groups) = 0 channels, GroupNorm(0, 0) */
        return va_fail(err, VA_ERR_CONFIG,
                       "shuffle config: channel (%d) must be at least 2*groups (%lld)", channel,
                       (long long)two_g);
    if (channel % groups != 0) /* x.reshape(b * groups, -1, h, w) */
        return va_fail(err, VA_ERR_CONFIG,
                       "shuffle config: channel (%d) must be divisible by 2*groups (%lld)", channel,
                       (long long)two_g);
    const int k = channel / groups;
    /* An odd k gives x_0 one channel more than cweight/cbias have: broadcasting only works when
     * they have a single channel (k = 3). channel_shuffle(out, 2) then also needs an even channel.
     */
    if (k % 2 != 0 && k != 3)
        return va_fail(err, VA_ERR_CONFIG,
                       "shuffle config: channel (%d) must be divisible by 2*groups (%lld); "
                       "channel/groups = %d leaves the reference's x_0 (%d channels) and cweight "
                       "(%d) unable to broadcast",
                       channel, (long long)two_g, k, (k + 1) / 2, k / 2);
    if (channel % 2 != 0)
        return va_fail(err, VA_ERR_CONFIG,
                       "shuffle config: channel (%d) must be even for the reference's "
                       "channel_shuffle(out, 2)",
                       channel);

    shuffle *s = calloc(1, sizeof *s);
    if (!s) return va_fail(err, VA_ERR_NOMEM, "shuffle: out of memory");
    b->self = s;
    s->channel = channel;
    s->groups = groups;
    s->k = k;
    s->c0 = (k + 1) / 2; /* torch.chunk(2) puts the larger half first */
    s->c1 = k / 2;
    VA_TRY(va_check_weight_count("shuffle config: channel / groups", 6 * (int64_t)s->c1, err));
    s->params = malloc(6 * (size_t)s->c1 * sizeof(float));
    if (!s->params) return va_fail(err, VA_ERR_NOMEM, "shuffle: out of memory");
    float **arrays[6] = {&s->cweight, &s->cbias,     &s->sweight,
                         &s->sbias,   &s->gn_weight, &s->gn_bias};
    for (int i = 0; i < 6; i++)
        *arrays[i] = s->params + (size_t)i * s->c1;
    return VA_OK;
}

static va_status shuffle_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    shuffle *s = b->self;
    const int64_t pshape[4] = {1, s->c1, 1, 1}, gshape[1] = {s->c1};
    VA_TRY(va_weights_get(w, prefix, "cweight", 4, pshape, s->cweight, err));
    VA_TRY(va_weights_get(w, prefix, "cbias", 4, pshape, s->cbias, err));
    VA_TRY(va_weights_get(w, prefix, "sweight", 4, pshape, s->sweight, err));
    VA_TRY(va_weights_get(w, prefix, "sbias", 4, pshape, s->sbias, err));
    VA_TRY(va_weights_get(w, prefix, "gn.weight", 1, gshape, s->gn_weight, err));
    VA_TRY(va_weights_get(w, prefix, "gn.bias", 1, gshape, s->gn_bias, err));
    return VA_OK;
}

static va_status shuffle_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                                   va_error *err) {
    const shuffle *s = b->self;
    if (in[1] != s->channel)
        return va_fail(err, VA_ERR_SHAPE, "shuffle: input has %lld channels, expected channel=%d",
                       (long long)in[1], s->channel);
    memcpy(out, in, 4 * sizeof *out);
    return VA_OK;
}

/* Sum of x[0..n) with SHUFFLE_LANES independent float accumulators (a plain loop is one serial
 * dependency chain the compiler may not reorder without -ffast-math), combined in double. */
static double plane_sum(const float *x, int64_t n) {
    float acc[SHUFFLE_LANES] = {0};
    int64_t i = 0;
    for (; i + SHUFFLE_LANES <= n; i += SHUFFLE_LANES)
        for (int l = 0; l < SHUFFLE_LANES; l++)
            acc[l] += x[i + l];
    double s = 0.0;
    for (; i < n; i++)
        s += x[i];
    for (int l = 0; l < SHUFFLE_LANES; l++)
        s += acc[l];
    if (!isfinite(s)) {
        /* A float partial sum overflowed (|x| near FLT_MAX), or x holds inf/NaN: sum in double,
         * which gives the true sum of finite floats and keeps inf/NaN otherwise. */
        s = 0.0;
        for (i = 0; i < n; i++)
            s += x[i];
    }
    return s;
}

/* Sum of (x - mean)^2, the same way: two passes keep the variance accurate when |mean| >> std. */
static double plane_sqdev(const float *x, int64_t n, float mean) {
    float acc[SHUFFLE_LANES] = {0};
    int64_t i = 0;
    for (; i + SHUFFLE_LANES <= n; i += SHUFFLE_LANES)
        for (int l = 0; l < SHUFFLE_LANES; l++) {
            float d = x[i + l] - mean;
            acc[l] += d * d;
        }
    double s = 0.0;
    for (; i < n; i++)
        s += (double)(x[i] - mean) * (x[i] - mean);
    for (int l = 0; l < SHUFFLE_LANES; l++)
        s += acc[l];
    if (!isfinite(s)) {
        /* d * d overflows float once |x - mean| > 1.8e19, although the variance of such finite
         * planes is finite (and GroupNorm's output scale-free): redo it in double. */
        s = 0.0;
        for (i = 0; i < n; i++) {
            const double d = (double)x[i] - (double)mean;
            s += d * d;
        }
    }
    return s;
}

static va_status shuffle_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                                 va_error *err) {
    va_arena *ws = va_run_arena(r);
    const shuffle *s = b->self;
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    const int64_t half = c / 2, k = s->k, c0 = s->c0, c1 = s->c1, groups = s->groups;
    const int maps = va_run_want_maps(r);
    va_tensor *cmap = NULL, *smap = NULL;
    float *sgates = NULL; /* x_1 gates, N x groups*c1 x HW, kept only to build the "spatial" map */
    if (maps) {
        VA_TRY(va_run_map_prepare(r, 0, "spatial", n, 1, x->shape[2], x->shape[3], &smap, err));
        VA_TRY(va_run_map_prepare(r, 1, "channel", n, groups * c0, 1, 1, &cmap, err));
        sgates = va_arena_alloc(ws, (size_t)(n * groups * c1 * hw) * sizeof(float), err);
        if (!sgates) return err->status;
    }
    const float *xd = x->data;
    float *yd = y->data;
    /* One plane per iteration: statistics, gate, and the gated plane written to its shuffled
     * output channel. The planes are independent, so no generic op chain is needed. */
#pragma omp parallel for schedule(static) if (n * c * hw > 32768)
    for (int64_t np = 0; np < n * c; np++) {
        const int64_t in = np / c, p = np % c, g = p / k, j = p % k;
        const int64_t q = (p % half) * 2 + p / half; /* channel_shuffle(out, 2) */
        const float *xp = xd + np * hw;
        float *yp = yd + (in * c + q) * hw;
        const float mean = (float)(plane_sum(xp, hw) / (double)hw);
        if (j < c0) {
            /* With k = 3 the single cweight/cbias broadcasts over both x_0 channels. */
            const int64_t pj = c0 == c1 ? j : 0;
            const float t = s->cweight[pj] * mean + s->cbias[pj];
            const float gate = va_sigmoidf(t);
            for (int64_t i = 0; i < hw; i++)
                yp[i] = xp[i] * gate;
            if (cmap) cmap->data[(in * groups + g) * c0 + j] = gate;
        } else {
            /* sweight * (gn.weight * (x - mean) * rstd + gn.bias) + sbias = a*(x - mean) + bb.
             * Keeping x - mean (rather than a*x + const) avoids cancellation when rstd is large,
             * e.g. a near-constant plane or a 1x1 input. */
            const int64_t i1 = j - c0;
            const double var = plane_sqdev(xp, hw, mean) / (double)hw; /* biased, as GroupNorm */
            const double rstd_d = 1.0 / sqrt(var + SHUFFLE_GN_EPS);
            const double a_d = (double)s->sweight[i1] * s->gn_weight[i1] * rstd_d;
            const float a = (float)a_d;
            const float bb = s->sweight[i1] * s->gn_bias[i1] + s->sbias[i1];
            float *gp = sgates ? sgates + ((in * groups + g) * c1 + i1) * hw : NULL;
            if (a_d != 0.0 && fabs(a_d) < FLT_MIN && isfinite(bb)) {
                /* A plane of values near FLT_MAX: a (about 1 / std) is subnormal in float and
                 * would lose its precision, while the normalised values are ordinary numbers.
                 * In double. */
                for (int64_t i = 0; i < hw; i++) {
                    const double t = a_d * ((double)xp[i] - (double)mean) + (double)bb;
                    const float gate = va_sigmoidf((float)t);
                    if (gp) gp[i] = gate;
                    yp[i] = xp[i] * gate;
                }
            } else if (!isfinite(a) || !isfinite(bb)) {
                /* An infinite sweight or gn.weight: the folded form can meet inf - inf where
                 * the reference does not, so evaluate as it does: PyTorch's GroupNorm kernel
                 * (x * scale + (gn.bias - scale * mean), scale = rstd * gn.weight), then
                 * sweight * gn + sbias. */
                const float gs = (float)rstd_d * s->gn_weight[i1];
                const float gb = s->gn_bias[i1] - gs * mean;
                const float sw = s->sweight[i1], sb = s->sbias[i1];
                for (int64_t i = 0; i < hw; i++) {
                    const float gate = va_sigmoidf(sw * (xp[i] * gs + gb) + sb);
                    if (gp) gp[i] = gate;
                    yp[i] = xp[i] * gate;
                }
            } else if (gp) {
                for (int64_t i = 0; i < hw; i++) {
                    gp[i] = va_sigmoidf(a * (xp[i] - mean) + bb);
                    yp[i] = xp[i] * gp[i];
                }
            } else {
                for (int64_t i = 0; i < hw; i++)
                    yp[i] = xp[i] * va_sigmoidf(a * (xp[i] - mean) + bb);
            }
        }
    }
    if (!maps) return VA_OK;
    /* "spatial" map: mean of the x_1 gates over (group, channel), in chunks of pixels so that a
     * single image still spreads over the threads. */
    const int64_t planes = groups * c1, chunk = 512, nchunks = (hw + chunk - 1) / chunk;
    const float inv = 1.0f / (float)planes;
#pragma omp parallel for schedule(static) if (n * planes * hw > 32768)
    for (int64_t nb = 0; nb < n * nchunks; nb++) {
        const int64_t in = nb / nchunks, i0 = (nb % nchunks) * chunk;
        const int64_t len = hw - i0 < chunk ? hw - i0 : chunk;
        float *m = smap->data + in * hw + i0;
        const float *gp = sgates + in * planes * hw + i0;
        memcpy(m, gp, (size_t)len * sizeof(float));
        for (int64_t pl = 1; pl < planes; pl++)
            for (int64_t i = 0; i < len; i++)
                m[i] += gp[pl * hw + i];
        for (int64_t i = 0; i < len; i++)
            m[i] *= inv;
    }
    return VA_OK;
}

static va_status shuffle_cost(const va_block *b, const int64_t in[4], va_cost *cost,
                              va_error *err) {
    (void)err;
    const shuffle *s = b->self;
    const int64_t n = in[0], hw = in[2] * in[3];
    const int64_t e0 = n * s->groups * s->c0 * hw, e1 = n * s->groups * s->c1 * hw;
    const int64_t g0 = n * s->groups * s->c0; /* channel-half gates */
    va_cost_params(cost, 6 * (int64_t)s->c1);
    /* Channel half: avg pool, cweight*xn + cbias, sigmoid, x_0 * gate. */
    va_cost_elementwise(cost, e0, VA_FLOPS_POOL);
    va_cost_elementwise(cost, g0, 2 * VA_FLOPS_ADDMUL);
    va_cost_elementwise(cost, g0, VA_FLOPS_ACT);
    va_cost_elementwise(cost, e0, VA_FLOPS_ADDMUL);
    /* Spatial half: GroupNorm with affine, sweight*xs + sbias, sigmoid, x_1 * gate. */
    va_cost_elementwise(cost, e1, VA_FLOPS_GN + VA_FLOPS_BN);
    va_cost_elementwise(cost, e1, 2 * VA_FLOPS_ADDMUL);
    va_cost_elementwise(cost, e1, VA_FLOPS_ACT);
    va_cost_elementwise(cost, e1, VA_FLOPS_ADDMUL);
    return VA_OK; /* reshape, cat and channel shuffle move data only */
}

static void shuffle_destroy(va_block *b) {
    shuffle *s = b->self;
    if (!s) return;
    free(s->params);
    free(s);
}

const va_block_ops va_shuffle_ops = {
    .name = "shuffle",
    .alias = NULL,
    .kind = VA_KIND_BLOCK,
    .summary = "shuffle attention (SA-Net): grouped channel + GroupNorm spatial gates, shuffle",
    .create = shuffle_create,
    .load = shuffle_load,
    .out_shape = shuffle_out_shape,
    .forward = shuffle_forward,
    .cost = shuffle_cost,
    .destroy = shuffle_destroy,
};
