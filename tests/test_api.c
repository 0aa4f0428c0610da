/* The public API's promises about NULL and aliasing (error.h's header comment), one test per
 * header. Every public function is called once with NULL for each pointer argument in turn, the
 * others valid, and must give what its header documents: VA_ERR_ARG with a one-line message
 * naming the function and the argument, or the documented neutral result -- and never crash.
 * Every status-returning call is made twice, with an error record and with err = NULL. Every op
 * that reads an input and writes an output is also called with its output on its input: in place
 * must give exactly the out-of-place result, anything else must be refused with VA_ERR_ARG and
 * leave the memory untouched. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "visattn/visattn.h"

/* ---- Checking one call --------------------------------------------------------------------- */

/* st must be VA_ERR_ARG, recorded in err with a one-line message containing fn and arg (either
 * may be NULL: not checked). */
static void expect_arg_error(va_status st, const va_error *err, const char *fn, const char *arg,
                             int line) {
    ck_assert_msg(st == VA_ERR_ARG && err->status == VA_ERR_ARG,
                  "line %d: %s: status %d, want VA_ERR_ARG (%s)", line, fn ? fn : "?", (int)st,
                  err->msg);
    ck_assert_msg(va_test_msg_ok(err->msg, NULL), "line %d: bad message '%s'", line, err->msg);
    ck_assert_msg(!fn || strstr(err->msg, fn), "line %d: message '%s' does not name %s", line,
                  err->msg, fn);
    ck_assert_msg(!arg || strstr(err->msg, arg), "line %d: message '%s' does not name '%s'", line,
                  err->msg, arg);
}

/* `call` uses E as its va_error *: it runs once with E = &err and once with E = NULL, which
 * every call must accept. */
#define EXPECT_ARG(fn, arg, call)                                                                  \
    do {                                                                                           \
        va_error e_ = {0};                                                                         \
        va_error *E = &e_;                                                                         \
        expect_arg_error((call), &e_, fn, arg, __LINE__);                                          \
        E = NULL;                                                                                  \
        ck_assert_msg((call) == VA_ERR_ARG, "line %d: %s with err = NULL", __LINE__, #call);       \
    } while (0)

/* A call where NULL is allowed (documented) and the rest is valid: VA_OK both times. */
#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        va_error e_ = {0};                                                                         \
        va_error *E = &e_;                                                                         \
        ck_assert_msg((call) == VA_OK, "line %d: %s: %s", __LINE__, #call, e_.msg);                \
        E = NULL;                                                                                  \
        ck_assert_msg((call) == VA_OK, "line %d: %s with err = NULL", __LINE__, #call);            \
    } while (0)

/* A documented failure other than VA_ERR_ARG (e.g. an empty in-memory file). */
#define EXPECT_STATUS(want, call)                                                                  \
    do {                                                                                           \
        va_error e_ = {0};                                                                         \
        va_error *E = &e_;                                                                         \
        ck_assert_msg((call) == (want), "line %d: %s: '%s'", __LINE__, #call, e_.msg);             \
        ck_assert_msg(va_test_msg_ok(e_.msg, NULL), "line %d: bad message '%s'", __LINE__,         \
                      e_.msg);                                                                     \
        E = NULL;                                                                                  \
        ck_assert_int_eq((call), (want));                                                          \
    } while (0)

/* ---- Fixtures -------------------------------------------------------------------------------- */

static va_tensor tensor4(int64_t n, int64_t c, int64_t h, int64_t w, uint32_t seed) {
    va_tensor t;
    va_error err = {0};
    ck_assert_int_eq(va_tensor_alloc4(&t, n, c, h, w, &err), VA_OK);
    if (seed) va_test_fill_random(t.data, va_numel(&t), seed);
    return t;
}

/* The input every op test starts from, and what the ops read besides it. */
#define XN 2
#define XC 4
#define XH 6
#define XW 6
#define XNUMEL (XN * XC * XH * XW)

static float g_w3[XC * XC * 9], g_w1[XC * XC], g_wdw[XC * 9], g_bias[XC];
static float g_gamma[XC], g_beta[XC], g_mean[XC], g_var[XC];
static float g_lin_w[XW * XW], g_lin_b[XW];
static va_tensor g_other, g_gate, g_chan3;
static va_arena g_ws;

static void fixtures_init(void) {
    va_test_fill_random(g_w3, XC * XC * 9, 11);
    va_test_fill_random(g_w1, XC * XC, 12);
    va_test_fill_random(g_wdw, XC * 9, 13);
    va_test_fill_random(g_bias, XC, 14);
    va_test_fill_random(g_gamma, XC, 15);
    va_test_fill_random(g_beta, XC, 16);
    va_test_fill_random(g_mean, XC, 17);
    for (int i = 0; i < XC; i++)
        g_var[i] = 0.5f + 0.25f * (float)i;
    va_test_fill_random(g_lin_w, XW * XW, 18);
    va_test_fill_random(g_lin_b, XW, 19);
    g_other = tensor4(XN, XC, XH, XW, 20);
    g_gate = tensor4(XN, XC, 1, 1, 21);
    g_chan3 = tensor4(XN, 3, XH, XW, 22);
    va_arena_init(&g_ws);
}

static void fixtures_free(void) {
    va_tensor_free(&g_other);
    va_tensor_free(&g_gate);
    va_tensor_free(&g_chan3);
    va_arena_free(&g_ws);
}

static va_conv2d_desc conv_desc(int kernel, int groups, const float *w) {
    va_conv2d_desc d;
    va_conv2d_desc_init(&d, XC, XC, kernel);
    d.pad_h = d.pad_w = kernel / 2;
    d.groups = groups;
    d.act = VA_ACT_RELU;
    d.weight = w;
    d.bias = g_bias;
    return d;
}

/* ---- error.h --------------------------------------------------------------------------------- */

START_TEST(test_error_h) {
    va_error err = {0};
    /* va_fail: a NULL err still returns the status; a NULL fmt still records it. */
    ck_assert_int_eq(va_fail(NULL, VA_ERR_IO, "lost %d", 1), VA_ERR_IO);
    const char *volatile no_fmt = NULL; /* volatile: keep the compiler from seeing the NULL */
    ck_assert_int_eq(va_fail(&err, VA_ERR_IO, no_fmt), VA_ERR_IO);
    ck_assert_int_eq(err.status, VA_ERR_IO);
    ck_assert(va_test_msg_ok(err.msg, "va_fail: fmt is NULL"));
    ck_assert_int_eq(va_fail(NULL, VA_ERR_IO, no_fmt), VA_ERR_IO);
    /* va_error_prefix: NULL err -> VA_ERR_ARG; NULL prefix adds nothing. */
    ck_assert_int_eq(va_error_prefix(NULL, "file"), VA_ERR_ARG);
    va_fail(&err, VA_ERR_KEY, "missing key");
    ck_assert_int_eq(va_error_prefix(&err, NULL), VA_ERR_KEY);
    ck_assert_str_eq(err.msg, "missing key");
    ck_assert_int_eq(va_error_prefix(&err, "w.safetensors"), VA_ERR_KEY);
    ck_assert_str_eq(err.msg, "w.safetensors: missing key");
    /* va_status_str takes no pointer; any value gives a string. */
    ck_assert_str_eq(va_status_str((va_status)1234), "unknown status");
    ck_assert_str_eq(va_status_str(VA_ERR_ARG), "invalid argument");
}
END_TEST

/* ---- tensor.h -------------------------------------------------------------------------------- */

START_TEST(test_tensor_h) {
    const int64_t shape[2] = {3, 4};
    va_tensor t = {0}, x = tensor4(1, 2, 3, 4, 1);
    char buf[32];

    ck_assert_int_eq(va_numel(NULL), 0);
    va_tensor_view4(NULL, x.data, 1, 2, 3, 4); /* nothing */
    va_tensor_view4(&t, NULL, 1, 2, 3, 4);     /* a view without data is allowed */
    ck_assert_int_eq(va_numel(&t), 24);
    ck_assert_ptr_null(t.data);

    EXPECT_ARG("va_tensor_set_shape", "t is NULL", va_tensor_set_shape(NULL, 2, shape, E));
    EXPECT_ARG("va_tensor_set_shape", "shape is NULL", va_tensor_set_shape(&t, 2, NULL, E));
    EXPECT_OK(va_tensor_set_shape(&t, 0, NULL, E)); /* a scalar needs no shape array */
    EXPECT_ARG("va_tensor_alloc", "t is NULL", va_tensor_alloc(NULL, 2, shape, E));
    EXPECT_ARG("va_tensor_alloc", "shape is NULL", va_tensor_alloc(&t, 2, NULL, E));
    EXPECT_ARG("va_tensor_alloc4", "t is NULL", va_tensor_alloc4(NULL, 1, 2, 3, 4, E));
    va_tensor_free(NULL);
    va_tensor empty = {0};
    va_tensor_free(&empty);

    ck_assert_int_eq(va_same_shape(NULL, &x), 0);
    ck_assert_int_eq(va_same_shape(&x, NULL), 0);
    ck_assert_int_eq(va_same_shape(NULL, NULL), 0);
    ck_assert_str_eq(va_shape_str(NULL, buf, sizeof buf), "(null)");
    ck_assert_str_eq(va_shape_str(&x, NULL, 8), "");
    ck_assert_str_eq(va_dims_str(2, NULL, buf, sizeof buf), "(null)");
    ck_assert_str_eq(va_dims_str(0, NULL, buf, sizeof buf), "scalar");

    EXPECT_OK(va_check_weight_count(NULL, 10, E));
    EXPECT_STATUS(VA_ERR_CONFIG, va_check_weight_count(NULL, -1, E));
    va_aligned_free(NULL);
    size_t out = 0;
    ck_assert_int_eq(va_mul_size(2, 3, NULL), -1);
    ck_assert_int_eq(va_add_size(2, 3, NULL), -1);
    ck_assert_int_eq(va_mul_size(2, 3, &out), 0);
    ck_assert_uint_eq(out, 6);

    va_arena a;
    va_arena_init(NULL);
    va_arena_init(&a);
    va_arena_free(NULL);
    EXPECT_ARG("va_arena_reset", "a is NULL", va_arena_reset(NULL, E));
    va_error err = {0};
    ck_assert_ptr_null(va_arena_alloc(NULL, 16, &err));
    expect_arg_error(err.status, &err, "va_arena_alloc", "a is NULL", __LINE__);
    ck_assert_ptr_null(va_arena_alloc(NULL, 16, NULL));
    EXPECT_ARG("va_arena_tensor", "a is NULL", va_arena_tensor(NULL, &t, 2, shape, E));
    EXPECT_ARG("va_arena_tensor", "t is NULL", va_arena_tensor(&a, NULL, 2, shape, E));
    EXPECT_ARG("va_arena_tensor", "shape is NULL", va_arena_tensor(&a, &t, 2, NULL, E));
    EXPECT_ARG("va_arena_tensor4", "a is NULL", va_arena_tensor4(NULL, &t, 1, 2, 3, 4, E));
    EXPECT_ARG("va_arena_tensor4", "t is NULL", va_arena_tensor4(&a, NULL, 1, 2, 3, 4, E));
    ck_assert_uint_eq(va_arena_mark(NULL), 0);
    va_arena_rewind(NULL, 0);
    va_arena_free(&a);
    va_tensor_free(&x);
}
END_TEST

/* ---- ops.h: aliasing ------------------------------------------------------------------------- */

/* REFUSE: an output sharing memory with the input is VA_ERR_ARG. IN_PLACE: y == x gives the
 * out-of-place result, a shifted overlap is VA_ERR_ARG. IN_PLACE_VOID: the same, but a void op
 * cannot report, so a shifted overlap writes nothing. */
typedef enum { REFUSE, IN_PLACE, IN_PLACE_VOID } alias_kind;

/* Every op as y = op(x) for x of shape XN x XC x XH x XW; the other operands are fixtures. The
 * table drives the aliasing checks and, for ops that take tensors, the NULL x / NULL y checks. */
typedef va_status (*unary_op)(const va_tensor *x, va_tensor *y, va_error *err);

typedef struct alias_case {
    const char *name;
    alias_kind kind;
    int64_t y_shape[4];
    unary_op run;
    int tensors; /* run passes x and y to the op as they are, so they can be NULL */
} alias_case;

static va_status run_act(const va_tensor *x, va_tensor *y, va_error *err) {
    (void)err;
    va_act_apply(VA_ACT_GELU, x->data, y->data, va_numel(x));
    return VA_OK;
}
static va_status run_scale(const va_tensor *x, va_tensor *y, va_error *err) {
    (void)err;
    va_scale(x->data, 0.75f, y->data, va_numel(x));
    return VA_OK;
}
static va_status run_conv3(const va_tensor *x, va_tensor *y, va_error *err) {
    const va_conv2d_desc d = conv_desc(3, 1, g_w3);
    return va_conv2d(&d, x, y, &g_ws, err);
}
static va_status run_conv1(const va_tensor *x, va_tensor *y, va_error *err) {
    const va_conv2d_desc d = conv_desc(1, 1, g_w1);
    return va_conv2d(&d, x, y, &g_ws, err);
}
static va_status run_convdw(const va_tensor *x, va_tensor *y, va_error *err) {
    const va_conv2d_desc d = conv_desc(3, XC, g_wdw);
    return va_conv2d(&d, x, y, &g_ws, err);
}
static va_status run_linear(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_linear(x->data, XN * XC * XH, XW, g_lin_w, g_lin_b, XW, y->data, err);
}
static va_status run_bn(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_batchnorm2d(x, g_gamma, g_beta, g_mean, g_var, 1e-5f, y, err);
}
static va_status run_gn(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_group_norm(x, 2, g_gamma, g_beta, 1e-5f, y, err);
}
static va_status run_gavg(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_global_avgpool(x, y, err);
}
static va_status run_gmax(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_global_maxpool(x, y, err);
}
static const va_pool2d_desc pool3 = {3, 3, 1, 1, 1, 1}; /* same-size output */
static va_status run_avgpool(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_avgpool2d(&pool3, x, y, err);
}
static va_status run_maxpool(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_maxpool2d(&pool3, x, y, err);
}
static va_status run_cmean(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_channel_mean(x, y, err);
}
static va_status run_cmax(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_channel_max(x, y, err);
}
static va_status run_softmax_c(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_softmax(x, 1, y, err); /* strided axis */
}
static va_status run_softmax_w(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_softmax(x, -1, y, err); /* contiguous rows */
}
static va_status run_bmm_a(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_bmm(XN * XC, XH, XW, XW, x->data, 0, g_other.data, 0, y->data, err);
}
static va_status run_bmm_b(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_bmm(XN * XC, XH, XW, XW, g_other.data, 1, x->data, 1, y->data, err);
}
static va_status run_add_a(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_add(x, &g_other, y, err);
}
static va_status run_add_b(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_add(&g_gate, x, y, err); /* broadcast gate + x, y on x */
}
static va_status run_mul_a(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_mul(x, &g_gate, y, err);
}
static va_status run_mul_b(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_mul(&g_other, x, y, err);
}
static va_status run_permute(const va_tensor *x, va_tensor *y, va_error *err) {
    static const int perm[4] = {0, 1, 3, 2}; /* H == W: y has x's shape */
    return va_permute(x, perm, y, err);
}
static va_status run_shuffle(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_channel_shuffle(x, 2, y, err);
}
static va_status run_pad(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_pad2d(x, 1, 1, 1, 1, y, err);
}
static va_status run_resize(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_resize_bilinear(x, y, err);
}
static va_status run_concat_a(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_concat_channels(x, &g_chan3, y, err);
}
static va_status run_concat_b(const va_tensor *x, va_tensor *y, va_error *err) {
    return va_concat_channels(&g_chan3, x, y, err);
}

/* clang-format off */
#define SAME {XN, XC, XH, XW}
/* clang-format on */
static const alias_case alias_cases[] = {
    {"va_act_apply", IN_PLACE_VOID, SAME, run_act, 0},
    {"va_scale", IN_PLACE_VOID, SAME, run_scale, 0},
    {"va_conv2d 3x3", REFUSE, SAME, run_conv3, 1},
    {"va_conv2d 1x1", REFUSE, SAME, run_conv1, 1},
    {"va_conv2d depthwise", REFUSE, SAME, run_convdw, 1},
    {"va_linear", REFUSE, SAME, run_linear, 0},
    {"va_batchnorm2d", IN_PLACE, SAME, run_bn, 1},
    {"va_group_norm", IN_PLACE, SAME, run_gn, 1},
    {"va_global_avgpool", REFUSE, {XN, XC, 1, 1}, run_gavg, 1},
    {"va_global_maxpool", REFUSE, {XN, XC, 1, 1}, run_gmax, 1},
    {"va_avgpool2d", REFUSE, SAME, run_avgpool, 1},
    {"va_maxpool2d", REFUSE, SAME, run_maxpool, 1},
    {"va_channel_mean", REFUSE, {XN, 1, XH, XW}, run_cmean, 1},
    {"va_channel_max", REFUSE, {XN, 1, XH, XW}, run_cmax, 1},
    {"va_softmax axis 1", IN_PLACE, SAME, run_softmax_c, 1},
    {"va_softmax axis -1", IN_PLACE, SAME, run_softmax_w, 1},
    {"va_bmm c on a", REFUSE, SAME, run_bmm_a, 0},
    {"va_bmm c on b", REFUSE, SAME, run_bmm_b, 0},
    {"va_add y on a", IN_PLACE, SAME, run_add_a, 1},
    {"va_add y on b", IN_PLACE, SAME, run_add_b, 1},
    {"va_mul y on a", IN_PLACE, SAME, run_mul_a, 1},
    {"va_mul y on b", IN_PLACE, SAME, run_mul_b, 1},
    {"va_permute", REFUSE, SAME, run_permute, 1},
    {"va_channel_shuffle", REFUSE, SAME, run_shuffle, 1},
    {"va_pad2d", REFUSE, {XN, XC, XH + 2, XW + 2}, run_pad, 1},
    {"va_resize_bilinear", REFUSE, {XN, XC, 9, 9}, run_resize, 1},
    {"va_concat_channels y on a", REFUSE, {XN, XC + 3, XH, XW}, run_concat_a, 1},
    {"va_concat_channels y on b", REFUSE, {XN, 3 + XC, XH, XW}, run_concat_b, 1},
};
#undef SAME

/* ---- ops.h: NULL ----------------------------------------------------------------------------- */

static void check_ops_null(void) {
    va_tensor x = tensor4(XN, XC, XH, XW, 1), y = tensor4(XN, XC, XH, XW, 0);
    int64_t oh = 0, ow = 0;

    /* Every tensor op of the table with its input, then its output, NULL. */
    for (size_t i = 0; i < sizeof alias_cases / sizeof alias_cases[0]; i++) {
        const alias_case *c = &alias_cases[i];
        if (!c->tensors) continue;
        char fn[32]; /* the op's name: the case's first word */
        snprintf(fn, sizeof fn, "%.*s", (int)strcspn(c->name, " "), c->name);
        va_tensor out = tensor4(c->y_shape[0], c->y_shape[1], c->y_shape[2], c->y_shape[3], 0);
        va_error err = {0};
        expect_arg_error(c->run(NULL, &out, &err), &err, fn, "is NULL", __LINE__);
        ck_assert_int_eq(c->run(NULL, &out, NULL), VA_ERR_ARG);
        memset(&err, 0, sizeof err);
        expect_arg_error(c->run(&x, NULL, &err), &err, fn, "is NULL", __LINE__);
        ck_assert_int_eq(c->run(&x, NULL, NULL), VA_ERR_ARG);
        va_tensor_free(&out);
    }

    /* Threads: only err is a pointer. */
    const char *saved = getenv("VISATTN_NUM_THREADS");
    char keep[32] = "";
    if (saved) snprintf(keep, sizeof keep, "%s", saved);
    setenv("VISATTN_NUM_THREADS", "two", 1);
    EXPECT_STATUS(VA_ERR_ARG, va_threads_from_env(E));
    if (saved)
        setenv("VISATTN_NUM_THREADS", keep, 1);
    else
        unsetenv("VISATTN_NUM_THREADS");
    EXPECT_OK(va_threads_from_env(E));
    const int nth = va_get_num_threads(); /* no pointers: called for completeness */
    va_set_num_threads(nth);
    ck_assert_int_eq(va_get_num_threads(), nth);
    ck_assert_ptr_nonnull(va_blas_kernel());

    /* Activations. */
    ck_assert_int_eq(va_act_from_name(NULL), -1);
    ck_assert_str_eq(va_act_name((va_act)99), "unknown");
    memcpy(y.data, x.data, sizeof(float) * XNUMEL);
    va_act_apply(VA_ACT_RELU, NULL, y.data, XNUMEL); /* nothing written */
    va_act_apply(VA_ACT_RELU, x.data, NULL, XNUMEL);
    va_scale(NULL, 2.0f, y.data, XNUMEL);
    va_scale(x.data, 2.0f, NULL, XNUMEL);
    ck_assert_mem_eq(y.data, x.data, sizeof(float) * XNUMEL);

    /* Convolution. */
    va_conv2d_desc d = conv_desc(3, 1, g_w3), nw = d;
    nw.weight = NULL;
    va_conv2d_desc_init(NULL, 1, 1, 1);
    EXPECT_ARG("va_conv2d_check", "d is NULL", va_conv2d_check(NULL, E));
    EXPECT_ARG("va_conv2d_out_hw", "d is NULL", va_conv2d_out_hw(NULL, 6, 6, &oh, &ow, E));
    EXPECT_ARG("va_conv2d_out_hw", "oh is NULL", va_conv2d_out_hw(&d, 6, 6, NULL, &ow, E));
    EXPECT_ARG("va_conv2d_out_hw", "ow is NULL", va_conv2d_out_hw(&d, 6, 6, &oh, NULL, E));
    EXPECT_ARG("va_conv2d", "d is NULL", va_conv2d(NULL, &x, &y, &g_ws, E));
    EXPECT_ARG("va_conv2d", "weight is NULL", va_conv2d(&nw, &x, &y, &g_ws, E));
    EXPECT_ARG("va_conv2d", "ws is NULL", va_conv2d(&d, &x, &y, NULL, E)); /* im2col needs ws */
    va_conv2d_desc pw = conv_desc(1, 1, g_w1), dw = conv_desc(3, XC, g_wdw);
    pw.bias = NULL;                             /* documented: NULL bias */
    EXPECT_OK(va_conv2d(&pw, &x, &y, NULL, E)); /* 1x1 and depthwise need no ws */
    EXPECT_OK(va_conv2d(&dw, &x, &y, NULL, E));
    ck_assert_int_eq(va_conv2d_macs(NULL, 1, 1, 1), -1);

    /* Linear: rows = N*C*H, in = out = W; b may be NULL. */
    const int64_t rows = XN * XC * XH;
    EXPECT_ARG("va_linear", "x is NULL",
               va_linear(NULL, rows, XW, g_lin_w, g_lin_b, XW, y.data, E));
    EXPECT_ARG("va_linear", "w is NULL", va_linear(x.data, rows, XW, NULL, g_lin_b, XW, y.data, E));
    EXPECT_ARG("va_linear", "y is NULL",
               va_linear(x.data, rows, XW, g_lin_w, g_lin_b, XW, NULL, E));
    EXPECT_OK(va_linear(x.data, rows, XW, g_lin_w, NULL, XW, y.data, E));

    /* Norms: gamma/beta may be NULL. */
    EXPECT_ARG("va_batchnorm2d", "mean is NULL",
               va_batchnorm2d(&x, g_gamma, g_beta, NULL, g_var, 1e-5f, &y, E));
    EXPECT_ARG("va_batchnorm2d", "var is NULL",
               va_batchnorm2d(&x, g_gamma, g_beta, g_mean, NULL, 1e-5f, &y, E));
    EXPECT_OK(va_batchnorm2d(&x, NULL, g_beta, g_mean, g_var, 1e-5f, &y, E));
    EXPECT_OK(va_batchnorm2d(&x, g_gamma, NULL, g_mean, g_var, 1e-5f, &y, E));
    EXPECT_OK(va_group_norm(&x, 2, NULL, NULL, 1e-5f, &y, E));

    /* va_fold_batchnorm cannot report: a NULL weight, bias, mean or var changes nothing. */
    float w[XC * 2], b[XC], w0[XC * 2], b0[XC];
    va_test_fill_random(w0, XC * 2, 30);
    va_test_fill_random(b0, XC, 31);
    const float *vecs[4] = {g_gamma, g_beta, g_mean, g_var};
    for (int which = 0; which < 6; which++) {
        memcpy(w, w0, sizeof w);
        memcpy(b, b0, sizeof b);
        const float *v[4] = {vecs[0], vecs[1], vecs[2], vecs[3]};
        if (which >= 2) v[which - 2] = NULL;
        va_fold_batchnorm(which == 0 ? NULL : w, which == 1 ? NULL : b, XC, 2, v[0], v[1], v[2],
                          v[3], 1e-5f);
        const int changes = which == 2 || which == 3; /* gamma, beta may be NULL */
        ck_assert_int_eq(memcmp(w, w0, sizeof w) != 0, changes);
        ck_assert_int_eq(memcmp(b, b0, sizeof b) != 0, changes);
    }

    /* Pools. */
    va_pool2d_desc pd = {3, 3, 1, 1, 1, 1};
    EXPECT_ARG("va_pool2d_out_hw", "d is NULL", va_pool2d_out_hw(NULL, 6, 6, &oh, &ow, E));
    EXPECT_OK(va_pool2d_out_hw(&pd, 6, 6, NULL, &ow, E)); /* documented: a check only */
    EXPECT_OK(va_pool2d_out_hw(&pd, 6, 6, &oh, NULL, E));
    EXPECT_ARG("va_avgpool2d", "d is NULL", va_avgpool2d(NULL, &x, &y, E));
    EXPECT_ARG("va_maxpool2d", "d is NULL", va_maxpool2d(NULL, &x, &y, E));

    /* bmm: batch = N*C matrices of H x W. */
    EXPECT_ARG("va_bmm", "a is NULL",
               va_bmm(XN * XC, XH, XW, XW, NULL, 0, g_other.data, 0, y.data, E));
    EXPECT_ARG("va_bmm", "b is NULL", va_bmm(XN * XC, XH, XW, XW, x.data, 0, NULL, 0, y.data, E));
    EXPECT_ARG("va_bmm", "c is NULL",
               va_bmm(XN * XC, XH, XW, XW, x.data, 0, g_other.data, 0, NULL, E));

    /* Layout. */
    EXPECT_ARG("va_permute", "perm is NULL", va_permute(&x, NULL, &y, E));

    va_tensor_free(&x);
    va_tensor_free(&y);
}

/* Runs c with y on x (same pointer), then with y one float past x; x's values are the same as
 * for the out-of-place reference run. */
static void check_alias_case(const alias_case *c, uint32_t seed) {
    va_error err = {0};
    va_tensor x = tensor4(XN, XC, XH, XW, seed);
    va_tensor ref = tensor4(c->y_shape[0], c->y_shape[1], c->y_shape[2], c->y_shape[3], 0);
    const int64_t ny = va_numel(&ref), room = XNUMEL + ny + 1;
    ck_assert_msg(c->run(&x, &ref, &err) == VA_OK, "%s out of place: %s", c->name, err.msg);
    float *buf = va_aligned_alloc((size_t)room * sizeof(float));
    float *before = malloc((size_t)room * sizeof(float));
    ck_assert(buf && before);
    for (int shift = 0; shift <= 1; shift++) {
        memset(buf, 0, (size_t)room * sizeof(float));
        memcpy(buf, x.data, sizeof(float) * XNUMEL);
        memcpy(before, buf, (size_t)room * sizeof(float));
        va_tensor xa, ya;
        va_tensor_view4(&xa, buf, XN, XC, XH, XW);
        va_tensor_view4(&ya, buf + shift, c->y_shape[0], c->y_shape[1], c->y_shape[2],
                        c->y_shape[3]);
        memset(&err, 0, sizeof err);
        va_status st = c->run(&xa, &ya, &err);
        if (shift == 0 && c->kind != REFUSE) {
            ck_assert_msg(st == VA_OK, "%s in place: %s", c->name, err.msg);
            ck_assert_msg(!memcmp(buf, ref.data, (size_t)ny * sizeof(float)),
                          "%s: in place differs from out of place", c->name);
            continue;
        }
        if (c->kind != IN_PLACE_VOID) {
            ck_assert_msg(st == VA_ERR_ARG && err.status == VA_ERR_ARG,
                          "%s, y at x + %d: status %d '%s', want VA_ERR_ARG", c->name, shift,
                          (int)st, err.msg);
            ck_assert_msg(va_test_msg_ok(err.msg, NULL), "%s: bad message '%s'", c->name, err.msg);
            /* The same refusal without an error record. */
            ck_assert_int_eq(c->run(&xa, &ya, NULL), VA_ERR_ARG);
        }
        ck_assert_msg(!memcmp(buf, before, (size_t)room * sizeof(float)),
                      "%s, y at x + %d: refused but wrote", c->name, shift);
    }
    va_aligned_free(buf);
    free(before);
    va_tensor_free(&x);
    va_tensor_free(&ref);
}

/* Inputs other than x that an op reads while writing y: refused too. */
static void check_param_alias(void) {
    va_tensor x = tensor4(XN, XC, XH, XW, 3), y = tensor4(XN, XC, XH, XW, 0);
    /* conv: y over the weights or the bias. */
    memcpy(y.data, g_w3, sizeof g_w3);
    va_conv2d_desc d = conv_desc(3, 1, y.data);
    EXPECT_ARG("va_conv2d", "d->weight", va_conv2d(&d, &x, &y, &g_ws, E));
    d = conv_desc(3, 1, g_w3);
    d.bias = y.data + 5;
    EXPECT_ARG("va_conv2d", "d->bias", va_conv2d(&d, &x, &y, &g_ws, E));
    /* linear: y over w or b. */
    const int64_t rows = XN * XC * XH;
    EXPECT_ARG("va_linear", "w", va_linear(x.data, rows, XW, y.data, g_lin_b, XW, y.data, E));
    EXPECT_ARG("va_linear", "b", va_linear(x.data, rows, XW, g_lin_w, y.data + 3, XW, y.data, E));
    /* norms: y over a per-channel vector (even when in place). */
    EXPECT_ARG("va_batchnorm2d", "mean",
               va_batchnorm2d(&x, g_gamma, g_beta, y.data, g_var, 1e-5f, &y, E));
    EXPECT_ARG("va_batchnorm2d", "gamma",
               va_batchnorm2d(&y, x.data + 7, g_beta, g_mean, g_var, 1e-5f, &x, E));
    EXPECT_ARG("va_group_norm", "beta", va_group_norm(&x, 2, g_gamma, y.data, 1e-5f, &y, E));
    /* va_fold_batchnorm rewrites weight and bias: overlapping each other or a BN vector, it
     * leaves everything as it was. */
    float buf[3 * XC * 2];
    va_test_fill_random(buf, 3 * XC * 2, 40);
    float keep[3 * XC * 2];
    memcpy(keep, buf, sizeof buf);
    va_fold_batchnorm(buf, buf + XC, XC, 2, g_gamma, g_beta, g_mean, g_var, 1e-5f);
    va_fold_batchnorm(buf, buf + 2 * XC, XC, 2, g_gamma, g_beta, buf + XC, g_var, 1e-5f);
    va_fold_batchnorm(buf, buf + 2 * XC, XC, 2, g_gamma, buf + 2 * XC, g_mean, g_var, 1e-5f);
    ck_assert_mem_eq(buf, keep, sizeof buf);
    va_fold_batchnorm(buf, buf + 2 * XC, XC, 2, g_gamma, g_beta, g_mean, g_var, 1e-5f);
    ck_assert(memcmp(buf, keep, sizeof buf) != 0); /* disjoint: folded */
    va_tensor_free(&x);
    va_tensor_free(&y);
}

/* va_class_activation_map: each pointer NULL, and the map over its own features. */
static void check_cam(void) {
    va_tensor f = tensor4(XN, XC, XH, XW, 3), cam = tensor4(XN, 1, XH, XW, 0);
    float w[3 * XC], logits[XN * 3];
    va_test_fill_random(w, 3 * XC, 4);
    va_test_fill_random(logits, XN * 3, 5);
    EXPECT_ARG("va_class_activation_map", "features is NULL",
               va_class_activation_map(NULL, w, logits, 3, &cam, E));
    EXPECT_ARG("va_class_activation_map", "w is NULL",
               va_class_activation_map(&f, NULL, logits, 3, &cam, E));
    EXPECT_ARG("va_class_activation_map", "logits is NULL",
               va_class_activation_map(&f, w, NULL, 3, &cam, E));
    EXPECT_ARG("va_class_activation_map", "cam is NULL",
               va_class_activation_map(&f, w, logits, 3, NULL, E));
    va_tensor over;
    va_tensor_view4(&over, f.data, XN, 1, XH, XW);
    EXPECT_ARG("va_class_activation_map", "overlaps",
               va_class_activation_map(&f, w, logits, 3, &over, E));
    va_error err = {0};
    ck_assert_int_eq(va_class_activation_map(&f, w, logits, 3, &cam, &err), VA_OK);
    va_tensor_free(&f);
    va_tensor_free(&cam);
}

START_TEST(test_ops_h) {
    fixtures_init();
    check_ops_null();
    check_cam();
    for (size_t i = 0; i < sizeof alias_cases / sizeof alias_cases[0]; i++)
        check_alias_case(&alias_cases[i], (uint32_t)(100 + i));
    check_param_alias();
    fixtures_free();
}
END_TEST

/* ---- io.h ------------------------------------------------------------------------------------ */

START_TEST(test_io_h) {
    char path[256], npy[256];
    const char *dir = va_test_tmpdir();
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    snprintf(npy, sizeof npy, "%s/t.npy", dir);
    const float data[6] = {1, 2, 3, 4, 5, 6};
    const int64_t shape[2] = {2, 3};
    const va_st_tensor_in tin[1] = {{"fc.weight", 2, shape, data}};
    const char *keys[1] = {"visattn.note"}, *vals[1] = {"x"};

    /* Writer. */
    EXPECT_ARG("va_st_write", "path is NULL", va_st_write(NULL, tin, 1, keys, vals, 1, E));
    EXPECT_ARG("va_st_write", "tensors is NULL", va_st_write(path, NULL, 1, keys, vals, 1, E));
    EXPECT_ARG("va_st_write", "meta_keys is NULL", va_st_write(path, tin, 1, NULL, vals, 1, E));
    EXPECT_ARG("va_st_write", "meta_values is NULL", va_st_write(path, tin, 1, keys, NULL, 1, E));
    EXPECT_OK(va_st_write(path, NULL, 0, NULL, NULL, 0, E)); /* empty lists may be NULL */
    EXPECT_OK(va_st_write(path, tin, 1, keys, vals, 1, E));

    /* Opening. */
    va_safetensors *st = NULL;
    EXPECT_ARG("va_st_open", "path is NULL", va_st_open(NULL, &st, E));
    EXPECT_ARG("va_st_open", "out is NULL", va_st_open(path, NULL, E));
    EXPECT_ARG("va_st_open_memory", "data is NULL", va_st_open_memory(NULL, 16, "m", &st, E));
    EXPECT_ARG("va_st_open_memory", "out is NULL", va_st_open_memory(data, 8, "m", NULL, E));
    EXPECT_STATUS(VA_ERR_FORMAT, va_st_open_memory(NULL, 0, "m", &st, E)); /* an empty file */
    ck_assert_ptr_null(st);
    va_error err = {0};
    ck_assert_int_eq(va_st_open(path, &st, &err), VA_OK);
    {
        /* A NULL name stands for "<memory>". */
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        unsigned char mem[512];
        size_t len = fread(mem, 1, sizeof mem, f);
        fclose(f);
        va_safetensors *ms = NULL;
        ck_assert_int_eq(va_st_open_memory(mem, len, NULL, &ms, &err), VA_OK);
        ck_assert_str_eq(va_st_path(ms), "<memory>");
        va_st_close(ms);
    }
    va_st_close(NULL);

    /* Queries. */
    ck_assert_str_eq(va_st_path(NULL), "");
    ck_assert_uint_eq(va_st_count(NULL), 0);
    ck_assert_ptr_null(va_st_entry_at(NULL, 0));
    ck_assert_ptr_null(va_st_find(NULL, "fc.weight"));
    ck_assert_ptr_null(va_st_find(st, NULL));
    ck_assert_ptr_null(va_st_meta(NULL, "visattn.note"));
    ck_assert_ptr_null(va_st_meta(st, NULL));
    const va_st_entry *e = va_st_find(st, "fc.weight");
    ck_assert_ptr_nonnull(e);
    float got[6];
    EXPECT_ARG("va_st_read_f32", "st is NULL", va_st_read_f32(NULL, e, got, 6, E));
    EXPECT_ARG("va_st_read_f32", "e is NULL", va_st_read_f32(st, NULL, got, 6, E));
    EXPECT_ARG("va_st_read_f32", "dst is NULL", va_st_read_f32(st, e, NULL, 6, E));

    /* Weights. */
    va_weights w;
    EXPECT_ARG("va_weights_init", "w is NULL", va_weights_init(NULL, st, E));
    EXPECT_ARG("va_weights_init", "st is NULL", va_weights_init(&w, NULL, E));
    va_weights_free(&w); /* left empty by the failure */
    EXPECT_ARG("va_weights_init_random", "w is NULL", va_weights_init_random(NULL, 1, E));
    va_weights_free(NULL);
    ck_assert_int_eq(va_weights_init(&w, st, &err), VA_OK);
    EXPECT_ARG("va_weights_get", "w is NULL",
               va_weights_get(NULL, "fc.", "weight", 2, shape, got, E));
    EXPECT_ARG("va_weights_get", "key is NULL", va_weights_get(&w, "fc.", NULL, 2, shape, got, E));
    EXPECT_ARG("va_weights_get", "shape is NULL",
               va_weights_get(&w, "fc.", "weight", 2, NULL, got, E));
    EXPECT_ARG("va_weights_get", "dst is NULL",
               va_weights_get(&w, "fc.", "weight", 2, shape, NULL, E));
    EXPECT_OK(va_weights_get(&w, NULL, "fc.weight", 2, shape, got, E)); /* prefix NULL = "" */
    ck_assert_mem_eq(got, data, sizeof data);
    ck_assert_int_eq(va_weights_has(NULL, "fc.", "weight"), 0);
    ck_assert_int_eq(va_weights_has(&w, "fc.", NULL), 0);
    ck_assert_int_eq(va_weights_has(&w, NULL, "fc.weight"), 1);
    EXPECT_ARG("va_weights_check_all_used", "w is NULL", va_weights_check_all_used(NULL, E));
    EXPECT_OK(va_weights_check_all_used(&w, E));
    va_weights_free(&w);
    ck_assert_int_eq(va_weights_init_random(&w, 7, &err), VA_OK);
    ck_assert_int_eq(va_weights_has(&w, "", NULL), 0);
    EXPECT_ARG("va_weights_get", "dst is NULL", va_weights_get(&w, "", "a", 2, shape, NULL, E));
    va_weights_free(&w);
    va_st_close(st);

    /* .npy */
    va_tensor t = tensor4(1, 2, 1, 3, 5), r;
    EXPECT_ARG("va_npy_write", "path is NULL", va_npy_write(NULL, &t, E));
    EXPECT_ARG("va_npy_write", "t is NULL", va_npy_write(npy, NULL, E));
    EXPECT_OK(va_npy_write(npy, &t, E));
    EXPECT_ARG("va_npy_read", "path is NULL", va_npy_read(NULL, &r, E));
    ck_assert_ptr_null(r.data); /* left empty */
    EXPECT_ARG("va_npy_read", "t is NULL", va_npy_read(npy, NULL, E));
    EXPECT_ARG("va_npy_read_memory", "data is NULL", va_npy_read_memory(NULL, 16, "m", &r, E));
    EXPECT_ARG("va_npy_read_memory", "t is NULL", va_npy_read_memory(data, 8, "m", NULL, E));
    {
        FILE *f = fopen(npy, "rb");
        ck_assert_ptr_nonnull(f);
        unsigned char mem[512];
        size_t len = fread(mem, 1, sizeof mem, f);
        fclose(f);
        ck_assert_int_eq(va_npy_read_memory(mem, len, NULL, &r, &err), VA_OK);
        ck_assert_mem_eq(r.data, t.data, 6 * sizeof(float));
        va_tensor_free(&r);
    }
    va_tensor_free(&t);
    remove(path);
    remove(npy);
    rmdir(dir);
}
END_TEST

/* ---- config.h -------------------------------------------------------------------------------- */

START_TEST(test_config_h) {
    va_error err = {0};
    va_config *c = NULL, *child = NULL;
    int v = 0, pair[2], list[4], len = -1;
    double f = 0.0;
    char buf[32], strs[2][32];
    const char *const allowed[] = {"a", "sub", "s", "l", NULL};

    EXPECT_ARG("va_config_parse", "out is NULL", va_config_parse("{}", "t", NULL, E));
    ck_assert_int_eq(va_config_parse(NULL, "t", &c, NULL), VA_OK); /* NULL json: empty */
    ck_assert_int_eq(va_cfg_has(c, "a"), 0);
    va_config_free(c);
    ck_assert_int_eq(va_config_parse("{\"a\": 1, \"sub\": {\"b\": 2}, \"s\": \"x\", \"l\": [1]}",
                                     NULL, &c, &err),
                     VA_OK);
    va_config_free(NULL);

    EXPECT_ARG("va_config_child", "key is NULL", va_config_child(c, NULL, &child, E));
    EXPECT_ARG("va_config_child", "out is NULL", va_config_child(c, "sub", NULL, E));
    EXPECT_OK(va_config_child(NULL, "sub", &child, E)); /* NULL config: empty, no child */
    ck_assert_ptr_null(child);
    ck_assert_ptr_null(va_config_to_json(NULL));

    ck_assert_int_eq(va_cfg_has(NULL, "a"), 0);
    ck_assert_int_eq(va_cfg_has(c, NULL), 0);
    ck_assert_int_eq(va_cfg_is_null(NULL, "a"), 0);
    ck_assert_int_eq(va_cfg_is_null(c, NULL), 0);

    /* Typed getters: key and out required; a NULL config gives the default. */
    EXPECT_ARG("va_cfg_int", "key is NULL", va_cfg_int(c, NULL, 3, &v, E));
    EXPECT_ARG("va_cfg_int", "out is NULL", va_cfg_int(c, "a", 3, NULL, E));
    EXPECT_OK(va_cfg_int(NULL, "a", 3, &v, E));
    ck_assert_int_eq(v, 3);
    EXPECT_ARG("va_cfg_float", "key is NULL", va_cfg_float(c, NULL, 0.5, &f, E));
    EXPECT_ARG("va_cfg_float", "out is NULL", va_cfg_float(c, "a", 0.5, NULL, E));
    EXPECT_OK(va_cfg_float(NULL, "a", 0.5, &f, E));
    ck_assert(f == 0.5);
    EXPECT_ARG("va_cfg_bool", "key is NULL", va_cfg_bool(c, NULL, 1, &v, E));
    EXPECT_ARG("va_cfg_bool", "out is NULL", va_cfg_bool(c, "a", 1, NULL, E));
    EXPECT_OK(va_cfg_bool(NULL, "a", 1, &v, E));
    EXPECT_ARG("va_cfg_str", "key is NULL", va_cfg_str(c, NULL, "d", buf, sizeof buf, E));
    EXPECT_ARG("va_cfg_str", "buf is NULL", va_cfg_str(c, "s", "d", NULL, sizeof buf, E));
    EXPECT_ARG("va_cfg_str", "len", va_cfg_str(c, "s", "d", buf, 0, E));
    EXPECT_OK(va_cfg_str(c, "missing", NULL, buf, sizeof buf, E)); /* def NULL reads as "" */
    ck_assert_str_eq(buf, "");
    EXPECT_OK(va_cfg_str(NULL, "s", "d", buf, sizeof buf, E));
    ck_assert_str_eq(buf, "d");
    EXPECT_ARG("va_cfg_int_pair", "key is NULL", va_cfg_int_pair(c, NULL, 1, pair, E));
    EXPECT_ARG("va_cfg_int_pair", "out is NULL", va_cfg_int_pair(c, "a", 1, NULL, E));
    EXPECT_OK(va_cfg_int_pair(NULL, "a", 2, pair, E));
    ck_assert(pair[0] == 2 && pair[1] == 2);
    EXPECT_ARG("va_cfg_int_list", "key is NULL", va_cfg_int_list(c, NULL, list, 4, &len, E));
    EXPECT_ARG("va_cfg_int_list", "out is NULL", va_cfg_int_list(c, "l", NULL, 4, &len, E));
    EXPECT_ARG("va_cfg_int_list", "len is NULL", va_cfg_int_list(c, "l", list, 4, NULL, E));
    EXPECT_OK(va_cfg_int_list(NULL, "l", list, 4, &len, E));
    ck_assert_int_eq(len, 0);
    EXPECT_ARG("va_cfg_str_list", "key is NULL", va_cfg_str_list(c, NULL, strs, 2, &len, E));
    EXPECT_ARG("va_cfg_str_list", "out is NULL", va_cfg_str_list(c, "l", NULL, 2, &len, E));
    EXPECT_ARG("va_cfg_str_list", "len is NULL", va_cfg_str_list(c, "l", strs, 2, NULL, E));
    EXPECT_OK(va_cfg_str_list(NULL, "l", strs, 2, &len, E));
    EXPECT_ARG("va_cfg_check_keys", "allowed is NULL", va_cfg_check_keys(c, NULL, E));
    EXPECT_OK(va_cfg_check_keys(NULL, allowed, E));
    EXPECT_OK(va_cfg_check_keys(c, allowed, E));
    va_config_free(c);
}
END_TEST

/* ---- block.h --------------------------------------------------------------------------------- */

/* block.h: "Every pointer argument must be non-NULL unless a function says otherwise
 * (VA_ERR_ARG)"; queries give 0 / NULL / "" for NULL. */
START_TEST(test_block_h) {
    va_error err = {0};
    va_block *b = NULL;
    va_run *r = NULL;
    va_config *cfg = NULL;
    va_weights w;
    const int64_t in[4] = {2, 4, 6, 6};
    int64_t out[4];
    va_cost cost;

    ck_assert_ptr_null(va_find_ops(NULL));
    ck_assert_ptr_null(va_ops_at(-1));
    ck_assert_int_eq(va_config_parse("{}", "spatial config", &cfg, &err), VA_OK);

    EXPECT_ARG("va_block_create", "name is NULL", va_block_create(NULL, "{}", &b, E));
    EXPECT_ARG("va_block_create", "out is NULL", va_block_create("spatial", "{}", NULL, E));
    EXPECT_ARG("va_block_create_cfg", "name is NULL", va_block_create_cfg(NULL, cfg, &b, E));
    EXPECT_ARG("va_block_create_cfg", "cfg is NULL", va_block_create_cfg("spatial", NULL, &b, E));
    EXPECT_ARG("va_block_create_cfg", "out is NULL", va_block_create_cfg("spatial", cfg, NULL, E));
    ck_assert_ptr_null(b);
    ck_assert_int_eq(va_block_create_cfg("spatial", cfg, &b, &err), VA_OK);
    va_config_free(cfg);

    ck_assert_int_eq(va_weights_init_random(&w, 3, &err), VA_OK);
    EXPECT_ARG("va_block_load", "b is NULL", va_block_load(NULL, &w, "", E));
    EXPECT_ARG("va_block_load", "w is NULL", va_block_load(b, NULL, "", E));
    ck_assert_int_eq(va_block_load(b, &w, "", &err), VA_OK);
    /* A NULL config_json reads as "{}", a NULL prefix as "" (block.h). */
    va_block *b2 = NULL;
    ck_assert_int_eq(va_block_create("spatial", NULL, &b2, &err), VA_OK);
    ck_assert_int_eq(va_block_load(b2, &w, NULL, &err), VA_OK);
    va_block_destroy(b2);

    EXPECT_ARG("va_block_out_shape", "b is NULL", va_block_out_shape(NULL, in, out, E));
    EXPECT_ARG("va_block_out_shape", "in is NULL", va_block_out_shape(b, NULL, out, E));
    EXPECT_ARG("va_block_out_shape", "out is NULL", va_block_out_shape(b, in, NULL, E));
    EXPECT_ARG("va_block_cost", "b is NULL", va_block_cost(NULL, in, &cost, E));
    EXPECT_ARG("va_block_cost", "in is NULL", va_block_cost(b, NULL, &cost, E));
    EXPECT_ARG("va_block_cost", "cost is NULL", va_block_cost(b, in, NULL, E));
    ck_assert_str_eq(va_block_name(NULL), "");
    ck_assert_str_eq(va_block_name(b), "spatial");

    EXPECT_ARG("va_run_create", "out is NULL", va_run_create(NULL, E));
    ck_assert_int_eq(va_run_create(&r, &err), VA_OK);
    EXPECT_ARG("va_run_set_want_maps", "r is NULL", va_run_set_want_maps(NULL, 1, E));
    ck_assert_int_eq(va_run_want_maps(NULL), 0);
    ck_assert_int_eq(va_run_num_maps(NULL), 0);
    ck_assert_ptr_null(va_run_map(NULL, 0));
    ck_assert_ptr_null(va_run_find_map(NULL, "spatial"));
    ck_assert_ptr_null(va_run_find_map(r, NULL));
    ck_assert_uint_eq(va_run_workspace_bytes(NULL), 0);

    va_tensor x = tensor4(2, 4, 6, 6, 9), y = tensor4(2, 4, 6, 6, 0);
    EXPECT_ARG("va_block_forward", "b is NULL", va_block_forward(NULL, r, &x, &y, E));
    EXPECT_ARG("va_block_forward", "r is NULL", va_block_forward(b, NULL, &x, &y, E));
    EXPECT_ARG("va_block_forward", "x is NULL", va_block_forward(b, r, NULL, &y, E));
    EXPECT_ARG("va_block_forward", "y is NULL", va_block_forward(b, r, &x, NULL, E));
    /* No block runs in place: the output on the input, or shifted over it, is refused. */
    EXPECT_ARG(NULL, "overlaps", va_block_forward(b, r, &x, &x, E));
    va_tensor shifted;
    va_tensor_view4(&shifted, x.data + 1, 2, 4, 6, 6);
    va_tensor x_short;
    va_tensor_view4(&x_short, x.data, 2, 4, 6, 6);
    x_short.shape[0] = 1; /* shifted (2x4x6x6 from x + 1) runs past x_short: keep it inside x */
    shifted.shape[0] = 1;
    EXPECT_ARG(NULL, "overlaps", va_block_forward(b, r, &x_short, &shifted, E));
    ck_assert_int_eq(va_block_forward(b, r, &x, &y, &err), VA_OK);
    ck_assert_int_eq(va_run_num_maps(r), 1);
    ck_assert_ptr_nonnull(va_run_find_map(r, "spatial"));
    ck_assert_ptr_nonnull(va_run_map(r, 0));
    ck_assert_uint_gt(va_run_workspace_bytes(r), 0);

    /* Metadata of a block (none declared) and NULL. */
    ck_assert_int_eq(va_block_kind_of(b), VA_KIND_BLOCK);
    ck_assert_int_eq(va_block_kind_of(NULL), VA_KIND_BLOCK);
    ck_assert_str_eq(va_block_config(b), "{}");
    ck_assert_str_eq(va_block_config(NULL), "");
    ck_assert_ptr_null(va_block_info(NULL));
    ck_assert_int_eq(va_block_info(b)->num_classes, 0);
    ck_assert_ptr_null(va_block_class_name(b, 0));
    ck_assert_ptr_null(va_block_class_name(NULL, 0));
    va_model_info info = {0};
    EXPECT_ARG("va_block_set_info", "b is NULL", va_block_set_info(NULL, &info, E));
    EXPECT_ARG("va_block_set_info", "info is NULL", va_block_set_info(b, NULL, E));
    info.num_class_names = 2; /* names promised, none given */
    EXPECT_ARG("va_block_set_info", "missing", va_block_set_info(b, &info, E));
    EXPECT_ARG("va_register_block", "ops is NULL", va_register_block(NULL, E));
    ck_assert_ptr_null(va_run_arena(NULL));
    va_tensor *mt = NULL;
    EXPECT_ARG("va_run_map_prepare", "r is NULL",
               va_run_map_prepare(NULL, 0, "m", 1, 1, 1, 1, &mt, E));
    EXPECT_ARG("va_run_map_prepare", "name is NULL",
               va_run_map_prepare(r, 0, NULL, 1, 1, 1, 1, &mt, E));
    EXPECT_ARG("va_run_map_prepare", "t is NULL",
               va_run_map_prepare(r, 0, "m", 1, 1, 1, 1, NULL, E));
    va_run_scope scope;
    va_run_scope_push(NULL, 0, "p.", &scope);
    va_run_scope_push(r, 0, "p.", NULL);
    ck_assert_int_eq(va_run_scope_pop(NULL, &scope), 0);
    ck_assert_int_eq(va_run_scope_pop(r, NULL), 0);
    va_cost_conv2d(NULL, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    va_cost_linear(NULL, 1, 1, 1, 1);
    va_cost_matmul(NULL, 1, 1, 1, 1);
    va_cost_elementwise(NULL, 1, 1);
    va_cost_params(NULL, 1);
    const va_bench_opts bo = {1, 1, 0.0};
    va_bench_result res;
    EXPECT_ARG("va_bench_block", "b is NULL", va_bench_block(NULL, in, 1, &bo, &res, E));
    EXPECT_ARG("va_bench_block", "shape is NULL", va_bench_block(b, NULL, 1, &bo, &res, E));
    EXPECT_ARG("va_bench_block", "opts is NULL", va_bench_block(b, in, 1, NULL, &res, E));
    EXPECT_ARG("va_bench_block", "res is NULL", va_bench_block(b, in, 1, &bo, NULL, E));

    /* Loading whole files. */
    va_block *lb = NULL;
    const unsigned char junk[8] = {0};
    EXPECT_ARG("va_block_load_file", "out is NULL", va_block_load_file("x.safetensors", NULL, E));
    EXPECT_ARG("va_block_load_file", "path is NULL", va_block_load_file(NULL, &lb, E));
    EXPECT_ARG("va_block_load_memory", "out is NULL",
               va_block_load_memory(junk, sizeof junk, "m", NULL, E));
    EXPECT_ARG("va_block_load_memory", "data is NULL", va_block_load_memory(NULL, 16, "m", &lb, E));
    /* A NULL name stands for "<memory>" (va_st_open_memory): here a malformed file. */
    EXPECT_STATUS(VA_ERR_FORMAT, va_block_load_memory(junk, sizeof junk, NULL, &lb, E));
    ck_assert_ptr_null(lb);

    va_tensor_free(&x);
    va_tensor_free(&y);
    va_weights_free(&w);
    va_run_destroy(r);
    va_run_destroy(NULL);
    va_block_destroy(b);
    va_block_destroy(NULL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_error_h);
    tcase_add_test(tc, test_tensor_h);
    tcase_add_test(tc, test_ops_h);
    tcase_add_test(tc, test_io_h);
    tcase_add_test(tc, test_config_h);
    tcase_add_test(tc, test_block_h);
    suite_add_tcase(s, tc);
    return va_test_run(s);
}
