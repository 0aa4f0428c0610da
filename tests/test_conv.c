/* va_conv2d, va_linear and va_bmm against naive reference loops written here, independent of the
 * library's im2col/GEMM/depthwise paths. Shapes are odd on purpose (no multiples of 8 or 16) so
 * that tile edges, padding borders and thread splits all land in awkward places. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "visattn/ops.h"

/* ---- Reference ------------------------------------------------------------------------------ */

/* nn.Conv2d by definition: for every output element, sum over the group's input channels and the
 * kernel taps, skipping taps that fall in the zero padding. Accumulates in double. */
static void ref_conv2d(const va_conv2d_desc *d, const float *x, int64_t n, int64_t h, int64_t w,
                       float *y, int64_t oh, int64_t ow) {
    const int cin_g = d->in_channels / d->groups, cout_g = d->out_channels / d->groups;
    for (int64_t b = 0; b < n; b++)
        for (int co = 0; co < d->out_channels; co++) {
            const int grp = co / cout_g;
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double acc = d->bias ? d->bias[co] : 0.0;
                    for (int ci = 0; ci < cin_g; ci++)
                        for (int ky = 0; ky < d->kernel_h; ky++)
                            for (int kx = 0; kx < d->kernel_w; kx++) {
                                int64_t iy = oy * d->stride_h - d->pad_h + ky * d->dilation_h;
                                int64_t ix = ox * d->stride_w - d->pad_w + kx * d->dilation_w;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                const int64_t c = (int64_t)grp * cin_g + ci;
                                acc += (double)d->weight[((co * cin_g + ci) * d->kernel_h + ky) *
                                                             d->kernel_w +
                                                         kx] *
                                       x[((b * d->in_channels + c) * h + iy) * w + ix];
                            }
                    float v = (float)acc;
                    if (d->act == VA_ACT_RELU) v = v > 0.0f ? v : 0.0f;
                    y[((b * d->out_channels + co) * oh + oy) * ow + ox] = v;
                }
        }
    /* Other activations: the conv must equal the separate activation op applied afterwards. */
    if (d->act != VA_ACT_NONE && d->act != VA_ACT_RELU)
        va_act_apply(d->act, y, y, n * d->out_channels * oh * ow);
}

/* ---- Conv parity ---------------------------------------------------------------------------- */

typedef struct conv_case {
    int n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias;
    va_act act;
} conv_case;

static const conv_case conv_cases[] = {
    /* n cin  h  w cout kh kw sh sw ph pw dh dw groups bias act */
    {1, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, VA_ACT_NONE},
    {2, 17, 13, 11, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, VA_ACT_RELU},
    /* depthwise, multiplier 1 and 2, strides, dilation, 5x5 and 7x7 */
    {2, 17, 13, 11, 17, 3, 3, 1, 1, 1, 1, 1, 1, 17, 1, VA_ACT_RELU},
    {2, 17, 13, 11, 34, 3, 3, 2, 2, 1, 1, 1, 1, 17, 0, VA_ACT_NONE},
    {2, 17, 13, 11, 17, 5, 5, 1, 1, 2, 2, 2, 2, 17, 1, VA_ACT_NONE},
    {2, 17, 13, 11, 17, 7, 7, 2, 2, 3, 3, 1, 1, 17, 1, VA_ACT_RELU},
    {1, 8, 5, 5, 8, 1, 1, 1, 1, 0, 0, 1, 1, 8, 1, VA_ACT_NONE},
    {2, 1, 13, 11, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, VA_ACT_RELU}, /* one input channel */
    {1, 6, 9, 10, 6, 3, 5, 2, 1, 0, 2, 1, 2, 6, 1, VA_ACT_SIGMOID},
    /* grouped, not depthwise */
    {2, 16, 13, 11, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, VA_ACT_NONE},
    {2, 16, 13, 11, 12, 3, 3, 2, 2, 1, 1, 1, 1, 4, 1, VA_ACT_RELU},
    {2, 16, 13, 11, 12, 1, 1, 1, 1, 0, 0, 1, 1, 4, 1, VA_ACT_NONE},
    {1, 16, 10, 10, 20, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, VA_ACT_RELU},
    /* dilation, strides with padding, kernel sizes */
    {2, 17, 13, 11, 9, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, VA_ACT_NONE},
    {1, 3, 23, 19, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, 1, VA_ACT_RELU},
    {2, 5, 13, 11, 6, 5, 5, 2, 2, 2, 2, 1, 1, 1, 0, VA_ACT_NONE},
    {1, 4, 3, 3, 5, 5, 5, 1, 1, 1, 1, 1, 1, 1, 1, VA_ACT_NONE}, /* kernel == padded input */
    /* 1x1: direct GEMM, and the im2col path when strided or padded */
    {2, 17, 13, 11, 23, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, VA_ACT_NONE},
    {2, 17, 13, 11, 23, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, VA_ACT_RELU},
    {1, 6, 13, 11, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1, VA_ACT_NONE},
    {1, 6, 13, 11, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, VA_ACT_NONE},
    /* non-square kernel, stride and dilation */
    {2, 7, 13, 11, 5, 3, 5, 1, 1, 1, 2, 1, 1, 1, 1, VA_ACT_RELU},
    {2, 7, 13, 11, 5, 3, 5, 1, 2, 1, 2, 2, 1, 1, 0, VA_ACT_NONE},
    {1, 9, 12, 14, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, VA_ACT_SIGMOID},
    /* big enough for several column tiles per image, or a channel split across threads */
    {1, 64, 30, 30, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, VA_ACT_RELU},
    {3, 16, 20, 20, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, VA_ACT_RELU},
    {1, 32, 12, 12, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, VA_ACT_RELU},
    {1, 12, 9, 9, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, VA_ACT_RELU},
    {1, 24, 37, 29, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, VA_ACT_RELU},
};

static void desc_from_case(const conv_case *c, va_conv2d_desc *d) {
    va_conv2d_desc_init(d, c->cin, c->cout, c->kh);
    d->kernel_w = c->kw;
    d->stride_h = c->sh, d->stride_w = c->sw;
    d->pad_h = c->ph, d->pad_w = c->pw;
    d->dilation_h = c->dh, d->dilation_w = c->dw;
    d->groups = c->groups;
    d->act = c->act;
}

/* Run one case at the current thread count and compare with the reference. */
static void check_case(const conv_case *c, int threads) {
    va_error err = {0};
    va_conv2d_desc d;
    desc_from_case(c, &d);
    ck_assert_int_eq(va_conv2d_check(&d, &err), VA_OK);
    int64_t oh, ow;
    ck_assert_int_eq(va_conv2d_out_hw(&d, c->h, c->w, &oh, &ow, &err), VA_OK);
    /* nn.Conv2d's output size formula, written out independently. */
    ck_assert_int_eq(oh, (c->h + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1);
    ck_assert_int_eq(ow, (c->w + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1);

    const int64_t nw = (int64_t)c->cout * (c->cin / c->groups) * c->kh * c->kw;
    float *weight = malloc((size_t)nw * sizeof(float));
    float *bias = malloc((size_t)c->cout * sizeof(float));
    ck_assert_ptr_nonnull(weight);
    ck_assert_ptr_nonnull(bias);
    va_test_fill_random(weight, nw, 11u + (uint32_t)c->cout);
    va_test_fill_random(bias, c->cout, 12u);
    d.weight = weight;
    d.bias = c->bias ? bias : NULL;

    va_tensor x, y;
    ck_assert_int_eq(va_tensor_alloc4(&x, c->n, c->cin, c->h, c->w, &err), VA_OK);
    ck_assert_int_eq(va_tensor_alloc4(&y, c->n, c->cout, oh, ow, &err), VA_OK);
    const int64_t ny = va_numel(&y);
    va_test_fill_random(x.data, va_numel(&x), 13u + (uint32_t)c->cin);
    for (int64_t i = 0; i < ny; i++)
        y.data[i] = NAN; /* every output must be written */
    float *ref = malloc((size_t)ny * sizeof(float));
    ck_assert_ptr_nonnull(ref);
    ref_conv2d(&d, x.data, c->n, c->h, c->w, ref, oh, ow);

    va_arena ws;
    va_arena_init(&ws);
    void *before = va_arena_alloc(&ws, 100, &err); /* scratch must come back on top of this */
    ck_assert_ptr_nonnull(before);
    const size_t mark = va_arena_mark(&ws);
    va_status st = va_conv2d(&d, &x, &y, &ws, &err);
    ck_assert_msg(st == VA_OK, "case cin=%d k=%dx%d groups=%d: %s", c->cin, c->kh, c->kw, c->groups,
                  err.msg);
    ck_assert_uint_eq(va_arena_mark(&ws), mark);

    const float tol = 1e-4f * fmaxf(1.0f, va_test_max_abs(ref, ny));
    const float diff = va_test_max_abs_diff(y.data, ref, ny);
    ck_assert_msg(diff <= tol,
                  "%dx%dx%dx%d -> %d, k %dx%d s %dx%d p %dx%d d %dx%d g %d bias %d act %s, "
                  "%d threads: max diff %g > %g",
                  c->n, c->cin, c->h, c->w, c->cout, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw,
                  c->dh, c->dw, c->groups, c->bias, va_act_name(c->act), threads, (double)diff,
                  (double)tol);

    /* Same shape again after the arena settled: no allocation in the hot path. */
    ck_assert_int_eq(va_arena_reset(&ws, &err), VA_OK);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, &ws, &err), VA_OK);
    const uint64_t grown = ws.grow_count;
    ck_assert_int_eq(va_arena_reset(&ws, &err), VA_OK);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, &ws, &err), VA_OK);
    ck_assert_uint_eq(ws.grow_count, grown);
    ck_assert_float_le(va_test_max_abs_diff(y.data, ref, ny), tol);

    /* Depthwise and direct 1x1 convs also run without a workspace (on another code path for
     * depthwise); the result must not change. */
    const int depthwise = c->cin / c->groups == 1 && c->groups == c->cin;
    const int pointwise =
        c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0;
    if (depthwise || pointwise) {
        for (int64_t i = 0; i < ny; i++)
            y.data[i] = NAN;
        ck_assert_int_eq(va_conv2d(&d, &x, &y, NULL, &err), VA_OK);
        ck_assert_float_le(va_test_max_abs_diff(y.data, ref, ny), tol);
    }

    va_arena_free(&ws);
    free(ref);
    free(weight);
    free(bias);
    va_tensor_free(&x);
    va_tensor_free(&y);
}

/* Each thread count changes how the GEMM paths tile and split the work. */
static const int thread_counts[] = {1, 2, 3};

START_TEST(test_conv_parity) {
    const int threads = thread_counts[_i / (int)(sizeof conv_cases / sizeof conv_cases[0])];
    const conv_case *c = &conv_cases[_i % (int)(sizeof conv_cases / sizeof conv_cases[0])];
    va_set_num_threads(threads);
    check_case(c, threads);
    va_set_num_threads(2);
}
END_TEST

START_TEST(test_conv_batch_zero) {
    va_error err = {0};
    va_conv2d_desc d;
    float w[27] = {0};
    va_conv2d_desc_init(&d, 1, 3, 3);
    d.weight = w;
    va_tensor x, y;
    float dummy = 0.0f;
    va_tensor_view4(&x, &dummy, 0, 1, 5, 5);
    va_tensor_view4(&y, &dummy, 0, 3, 3, 3);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, NULL, &err), VA_OK);
}
END_TEST

/* ---- Errors --------------------------------------------------------------------------------- */

START_TEST(test_conv_errors) {
    va_error err = {0};
    va_conv2d_desc d;
    float w[4 * 3 * 3 * 3];
    memset(w, 0, sizeof w);
    va_conv2d_desc_init(&d, 3, 4, 3);
    d.pad_h = d.pad_w = 1;
    d.weight = w;
    float xbuf[2 * 4 * 8 * 8], ybuf[2 * 4 * 8 * 8];
    va_tensor x, y;
    va_arena ws;
    va_arena_init(&ws);

    /* wrong number of input channels */
    va_tensor_view4(&x, xbuf, 1, 4, 8, 8);
    va_tensor_view4(&y, ybuf, 1, 4, 8, 8);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, &ws, &err), VA_ERR_SHAPE);
    ck_assert_int_eq(err.status, VA_ERR_SHAPE);
    ck_assert_msg(va_test_msg_ok(err.msg, "1x4x8x8"), "message: '%s'", err.msg);

    /* input smaller than the (dilated) kernel even after padding */
    va_tensor_view4(&x, xbuf, 1, 3, 2, 2);
    d.dilation_h = d.dilation_w = 3; /* extent 7 > 2 + 2 */
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, &ws, &err), VA_ERR_SHAPE);
    ck_assert_msg(va_test_msg_ok(err.msg, "kernel"), "message: '%s'", err.msg);
    int64_t oh = -1, ow = -1;
    ck_assert_int_eq(va_conv2d_out_hw(&d, 2, 2, &oh, &ow, &err), VA_ERR_SHAPE);
    ck_assert_int_eq(va_conv2d_out_hw(&d, 0, 9, &oh, &ow, &err), VA_ERR_SHAPE);
    ck_assert_int_eq(va_conv2d_out_hw(&d, INT64_MAX, 9, &oh, &ow, &err), VA_ERR_SHAPE);
    d.dilation_h = d.dilation_w = 1;

    /* output of the wrong shape: the message names both */
    va_tensor_view4(&x, xbuf, 1, 3, 8, 8);
    va_tensor_view4(&y, ybuf, 1, 4, 7, 8);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, &ws, &err), VA_ERR_SHAPE);
    ck_assert_msg(va_test_msg_ok(err.msg, "1x4x7x8"), "message: '%s'", err.msg);
    ck_assert_msg(strstr(err.msg, "1x4x8x8") != NULL, "message: '%s'", err.msg);

    /* input not 4-D */
    const int64_t shape3[3] = {3, 8, 8};
    ck_assert_int_eq(va_tensor_set_shape(&x, 3, shape3, &err), VA_OK);
    va_tensor_view4(&y, ybuf, 1, 4, 8, 8);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, &ws, &err), VA_ERR_SHAPE);
    ck_assert_msg(va_test_msg_ok(err.msg, "3x8x8"), "message: '%s'", err.msg);
    va_tensor_view4(&x, xbuf, 1, 3, 8, 8);

    /* im2col path without a workspace; the direct paths need none */
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, NULL, &err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, NULL));

    /* missing weights */
    d.weight = NULL;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, &ws, &err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, NULL));
    d.weight = w;
    ck_assert_int_eq(va_conv2d(NULL, &x, &y, &ws, &err), VA_ERR_ARG);
    ck_assert_int_eq(va_conv2d(&d, &x, NULL, &ws, &err), VA_ERR_ARG);

    /* bad groups: in_channels 3 not divisible by 2 */
    d.groups = 2;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_conv2d_check(&d, &err), VA_ERR_CONFIG);
    ck_assert_msg(va_test_msg_ok(err.msg, "groups"), "message: '%s'", err.msg);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_conv2d(&d, &x, &y, &ws, &err), VA_ERR_CONFIG);
    ck_assert(va_test_msg_ok(err.msg, NULL));
    d.groups = 0;
    ck_assert_int_eq(va_conv2d_check(&d, &err), VA_ERR_CONFIG);
    d.groups = 1;

    /* other invalid hyper-parameters */
    va_conv2d_desc bad = d;
    bad.stride_w = 0;
    ck_assert_int_eq(va_conv2d_check(&bad, &err), VA_ERR_CONFIG);
    bad = d, bad.dilation_h = 0;
    ck_assert_int_eq(va_conv2d_check(&bad, &err), VA_ERR_CONFIG);
    bad = d, bad.pad_w = -1;
    ck_assert_int_eq(va_conv2d_check(&bad, &err), VA_ERR_CONFIG);
    bad = d, bad.kernel_h = 0;
    ck_assert_int_eq(va_conv2d_check(&bad, &err), VA_ERR_CONFIG);
    bad = d, bad.out_channels = 0;
    ck_assert_int_eq(va_conv2d_check(&bad, &err), VA_ERR_CONFIG);
    bad = d, bad.act = (va_act)99;
    ck_assert_int_eq(va_conv2d_check(&bad, &err), VA_ERR_CONFIG);
    /* a weight whose element count overflows */
    bad = d, bad.in_channels = bad.out_channels = INT_MAX, bad.kernel_h = bad.kernel_w = 65536;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_conv2d_check(&bad, &err), VA_ERR_CONFIG);
    ck_assert(va_test_msg_ok(err.msg, NULL));

    /* the depthwise and direct-GEMM paths run without a workspace */
    va_conv2d_desc dw;
    va_conv2d_desc_init(&dw, 3, 3, 3);
    dw.groups = 3;
    dw.pad_h = dw.pad_w = 1;
    dw.weight = w;
    va_tensor_view4(&y, ybuf, 1, 3, 8, 8);
    ck_assert_int_eq(va_conv2d(&dw, &x, &y, NULL, &err), VA_OK);
    va_conv2d_desc pw;
    va_conv2d_desc_init(&pw, 3, 4, 1);
    pw.weight = w;
    va_tensor_view4(&y, ybuf, 1, 4, 8, 8);
    ck_assert_int_eq(va_conv2d(&pw, &x, &y, NULL, &err), VA_OK);

    va_arena_free(&ws);
}
END_TEST

START_TEST(test_conv_macs) {
    va_conv2d_desc d;
    va_conv2d_desc_init(&d, 64, 128, 3);
    ck_assert_int_eq(va_conv2d_macs(&d, 2, 28, 28), 2LL * 128 * 28 * 28 * 64 * 9);
    d.groups = 4;
    ck_assert_int_eq(va_conv2d_macs(&d, 2, 28, 28), 2LL * 128 * 28 * 28 * 16 * 9);
    ck_assert_int_eq(va_conv2d_macs(&d, INT64_MAX / 2, 1 << 20, 1 << 20), -1);
}
END_TEST

/* ---- Linear and bmm ------------------------------------------------------------------------- */

START_TEST(test_linear) {
    enum { ROWS = 7, IN = 13, OUT = 5 };
    float x[ROWS * IN], w[OUT * IN], b[OUT], y[ROWS * OUT], ref[ROWS * OUT];
    va_test_fill_random(x, ROWS * IN, 21);
    va_test_fill_random(w, OUT * IN, 22);
    va_test_fill_random(b, OUT, 23);
    va_error err = {0};
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        for (int r = 0; r < ROWS; r++)
            for (int o = 0; o < OUT; o++) {
                double acc = with_bias ? b[o] : 0.0;
                for (int i = 0; i < IN; i++)
                    acc += (double)x[r * IN + i] * w[o * IN + i];
                ref[r * OUT + o] = (float)acc;
            }
        ck_assert_int_eq(va_linear(x, ROWS, IN, w, with_bias ? b : NULL, OUT, y, &err), VA_OK);
        ck_assert_float_le(va_test_max_abs_diff(y, ref, ROWS * OUT), 1e-5f);
    }
    /* nn.Linear(0, out): only the bias */
    ck_assert_int_eq(va_linear(x, 2, 0, w, b, OUT, y, &err), VA_OK);
    ck_assert_float_eq(y[OUT + 3], b[3]);
    ck_assert_int_eq(va_linear(x, 0, IN, w, b, OUT, y, &err), VA_OK);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_linear(x, -1, IN, w, b, OUT, y, &err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "linear"));
    ck_assert_int_eq(va_linear(NULL, ROWS, IN, w, b, OUT, y, &err), VA_ERR_ARG);
}
END_TEST

static void ref_bmm(int64_t batch, int64_t m, int64_t n, int64_t k, const float *a, int ta,
                    const float *b, int tb, float *c) {
    for (int64_t i = 0; i < batch; i++)
        for (int64_t r = 0; r < m; r++)
            for (int64_t q = 0; q < n; q++) {
                double acc = 0.0;
                for (int64_t p = 0; p < k; p++) {
                    float av = ta ? a[i * m * k + p * m + r] : a[i * m * k + r * k + p];
                    float bv = tb ? b[i * k * n + q * k + p] : b[i * k * n + p * n + q];
                    acc += (double)av * bv;
                }
                c[i * m * n + r * n + q] = (float)acc;
            }
}

START_TEST(test_bmm) {
    /* a single matrix, a batch split over threads, and one large enough for a threaded sgemm */
    static const int64_t shapes[][4] = {{1, 7, 5, 3}, {6, 9, 13, 11}, {1, 150, 170, 190}};
    va_error err = {0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t batch = shapes[s][0], m = shapes[s][1], n = shapes[s][2], k = shapes[s][3];
        float *a = malloc((size_t)(batch * m * k) * sizeof(float));
        float *b = malloc((size_t)(batch * k * n) * sizeof(float));
        float *c = malloc((size_t)(batch * m * n) * sizeof(float));
        float *ref = malloc((size_t)(batch * m * n) * sizeof(float));
        ck_assert(a && b && c && ref);
        va_test_fill_random(a, batch * m * k, 31);
        va_test_fill_random(b, batch * k * n, 32);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                ref_bmm(batch, m, n, k, a, ta, b, tb, ref);
                ck_assert_int_eq(va_bmm(batch, m, n, k, a, ta, b, tb, c, &err), VA_OK);
                const float tol = 1e-4f * fmaxf(1.0f, va_test_max_abs(ref, batch * m * n));
                ck_assert_msg(va_test_max_abs_diff(c, ref, batch * m * n) <= tol,
                              "bmm %lldx%lldx%lldx%lld ta=%d tb=%d", (long long)batch, (long long)m,
                              (long long)n, (long long)k, ta, tb);
            }
        free(a);
        free(b);
        free(c);
        free(ref);
    }
    /* empty inner dimension: zeros, as torch.bmm */
    float c[6] = {1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(va_bmm(2, 1, 3, 0, NULL, 0, NULL, 0, c, &err), VA_OK);
    ck_assert_float_le(va_test_max_abs(c, 6), 0.0f);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_bmm(1, -2, 3, 4, c, 0, c, 0, c, &err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "bmm"));
    ck_assert_int_eq(va_bmm(1, 2, 3, 4, NULL, 0, c, 0, c, &err), VA_ERR_ARG);
    ck_assert_int_eq(va_bmm(INT64_MAX / 4, 1 << 16, 1 << 16, 1, c, 0, c, 0, c, &err), VA_ERR_ARG);
}
END_TEST

static Suite *conv_suite(void) {
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 60);
    const int ncases = (int)(sizeof conv_cases / sizeof conv_cases[0]);
    const int nthreads = (int)(sizeof thread_counts / sizeof thread_counts[0]);
    tcase_add_loop_test(tc, test_conv_parity, 0, ncases * nthreads);
    tcase_add_test(tc, test_conv_batch_zero);
    tcase_add_test(tc, test_conv_errors);
    tcase_add_test(tc, test_conv_macs);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_bmm);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    va_error err = {0};
    if (va_threads_from_env(&err) != VA_OK) va_set_num_threads(2);
    return va_test_run(conv_suite());
}
