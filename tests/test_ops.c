/* Elementwise, layout, normalisation, pooling and softmax ops: each against a naive reference
 * written here (double precision where it matters) and, where a naive version would only mirror
 * the code, against PyTorch outputs in fixtures/op_fixtures.h (tools/gen_op_fixtures.py). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/op_fixtures.h"
#include "ops_mathf.h"
#include "testutil.h"
#include "visattn/visattn.h"

#define TOL 1e-5f

/* ---- Helpers --------------------------------------------------------------------------------- */

static va_tensor tensor4(int64_t n, int64_t c, int64_t h, int64_t w) {
    va_tensor t;
    va_error err = {0};
    ck_assert_int_eq(va_tensor_alloc4(&t, n, c, h, w, &err), VA_OK);
    return t;
}

static va_tensor tensor_nd(int ndim, const int64_t *shape) {
    va_tensor t;
    va_error err = {0};
    ck_assert_int_eq(va_tensor_alloc(&t, ndim, shape, &err), VA_OK);
    return t;
}

static va_tensor random4(int64_t n, int64_t c, int64_t h, int64_t w, uint32_t seed) {
    va_tensor t = tensor4(n, c, h, w);
    va_test_fill_random(t.data, va_numel(&t), seed);
    return t;
}

static void check_close(const float *got, const float *want, int64_t n, float tol,
                        const char *what) {
    float d = va_test_max_abs_diff(got, want, n);
    ck_assert_msg(d <= tol, "%s: max abs diff %g > %g", what, (double)d, (double)tol);
}

/* Relative-or-absolute closeness for data with large values. */
static void check_close_rel(const float *got, const float *want, int64_t n, float tol,
                            const char *what) {
    for (int64_t i = 0; i < n; i++) {
        float lim = tol * fmaxf(1.0f, fabsf(want[i]));
        ck_assert_msg(fabsf(got[i] - want[i]) <= lim, "%s: [%lld] %g vs %g", what, (long long)i,
                      (double)got[i], (double)want[i]);
    }
}

/* |got - want| <= tol * max(1, |want|) everywhere; one assertion per array (Check's per-assert
 * bookkeeping is slow under the sanitizers). */
static void check_close_d(const float *got, const double *want, int64_t n, double tol,
                          const char *what) {
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (!(fabs(got[i] - want[i]) <= tol * fmax(1.0, fabs(want[i])))) bad = i;
    ck_assert_msg(bad < 0, "%s: [%lld] %g vs %g", what, (long long)bad,
                  bad < 0 ? 0.0 : (double)got[bad], bad < 0 ? 0.0 : want[bad]);
}

static void check_error(va_status st, va_status want, const va_error *err, const char *needle) {
    ck_assert_int_eq(st, want);
    ck_assert_msg(va_test_msg_ok(err->msg, needle), "bad message '%s' (want '%s')", err->msg,
                  needle ? needle : "");
}

/* ---- Activations ----------------------------------------------------------------------------- */

static double naive_act(va_act act, double x) {
    double r6 = fmin(fmax(x + 3.0, 0.0), 6.0);
    switch (act) {
    case VA_ACT_RELU: return x > 0 ? x : 0;
    case VA_ACT_RELU6: return fmin(fmax(x, 0.0), 6.0);
    case VA_ACT_SILU: return x / (1.0 + exp(-x));
    case VA_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case VA_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case VA_ACT_HARDSIGMOID: return r6 / 6.0;
    case VA_ACT_HARDSWISH: return x * r6 / 6.0;
    case VA_ACT_TANH: return tanh(x);
    case VA_ACT_MISH: return x * tanh(x > 20.0 ? x : log1p(exp(x)));
    case VA_ACT_HARDMISH: return 0.5 * x * fmin(fmax(x + 2.0, 0.0), 2.0);
    default: return x;
    }
}

START_TEST(test_act_names) {
    static const va_act all[] = {VA_ACT_NONE,        VA_ACT_RELU,      VA_ACT_RELU6,   VA_ACT_SILU,
                                 VA_ACT_GELU,        VA_ACT_SIGMOID,   VA_ACT_TANH,    VA_ACT_MISH,
                                 VA_ACT_HARDSIGMOID, VA_ACT_HARDSWISH, VA_ACT_HARDMISH};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ck_assert_int_eq(va_act_from_name(va_act_name(all[i])), all[i]);
    ck_assert_str_eq(va_act_name(VA_ACT_SILU), "silu");
    ck_assert_str_eq(va_act_name(VA_ACT_HARDSWISH), "hardswish");
    ck_assert_int_eq(va_act_from_name("swish"), VA_ACT_SILU);
    ck_assert_int_eq(va_act_from_name("ReLU6"), VA_ACT_RELU6);
    ck_assert_int_eq(va_act_from_name("Tanh"), VA_ACT_TANH);
    ck_assert_int_eq(va_act_from_name("Mish"), VA_ACT_MISH);
    ck_assert_int_eq(va_act_from_name("Identity"), VA_ACT_NONE);
    ck_assert_str_eq(va_act_name(VA_ACT_NONE), "none");
    ck_assert_int_eq(va_act_from_name("leakyrelu"), -1);
    ck_assert_int_eq(va_act_from_name(""), -1);
    ck_assert_int_eq(va_act_from_name(NULL), -1);
    ck_assert_str_eq(va_act_name((va_act)99), "unknown");
}
END_TEST

/* Random values in [-8, 8), the kinks and the overflow probes; a length that is no multiple of a
 * vector width, and one large enough for the threaded path. */
START_TEST(test_act_against_naive) {
    static const va_act all[] = {VA_ACT_NONE,        VA_ACT_RELU,      VA_ACT_RELU6,   VA_ACT_SILU,
                                 VA_ACT_GELU,        VA_ACT_SIGMOID,   VA_ACT_TANH,    VA_ACT_MISH,
                                 VA_ACT_HARDSIGMOID, VA_ACT_HARDSWISH, VA_ACT_HARDMISH};
    static const float special[] = {-100, -88, -20, -6, -3, -0.0f, 0, 3, 6, 20, 88, 100};
    const int64_t sizes[] = {37, 70001};
    for (int si = 0; si < 2; si++) {
        const int64_t n = sizes[si];
        float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
        double *want = malloc((size_t)n * sizeof *want);
        va_test_fill_random(x, n, 7u + (uint32_t)si);
        for (int64_t i = 0; i < n; i++)
            x[i] *= 8.0f;
        memcpy(x, special, sizeof special);
        for (size_t a = 0; a < sizeof all / sizeof all[0]; a++) {
            va_act_apply(all[a], x, y, n);
            for (int64_t i = 0; i < n; i++)
                want[i] = naive_act(all[a], x[i]);
            check_close_d(y, want, n, 2e-6, va_act_name(all[a]));
            /* In place gives the same bits. */
            float *z = malloc((size_t)n * sizeof *z);
            memcpy(z, x, (size_t)n * sizeof *z);
            va_act_apply(all[a], z, z, n);
            ck_assert_int_eq(memcmp(z, y, (size_t)n * sizeof *z), 0);
            free(z);
        }
        free(x);
        free(y);
        free(want);
    }
}
END_TEST

START_TEST(test_act_extremes_and_nan) {
    float x[4] = {-100.0f, 100.0f, -1e30f, 1e30f}, y[4];
    va_act_apply(VA_ACT_SIGMOID, x, y, 4);
    ck_assert(y[0] >= 0.0f && y[0] < 1e-40f && y[1] == 1.0f && y[2] == 0.0f && y[3] == 1.0f);
    va_act_apply(VA_ACT_SILU, x, y, 4);
    ck_assert(fabsf(y[0]) < 1e-30f && y[1] == 100.0f && y[2] == 0.0f && y[3] == 1e30f);
    float nan_in = NAN, out;
    va_act_apply(VA_ACT_RELU, &nan_in, &out, 1);
    ck_assert(isnan(out)); /* torch.relu(nan) is nan */
    va_act_apply(VA_ACT_RELU6, &nan_in, &out, 1);
    ck_assert(isnan(out));
}
END_TEST

START_TEST(test_act_against_torch) {
    const struct {
        va_act act;
        const float *want;
    } cases[] = {{VA_ACT_GELU, fx_act_gelu},
                 {VA_ACT_SILU, fx_act_silu},
                 {VA_ACT_SIGMOID, fx_act_sigmoid},
                 {VA_ACT_HARDSWISH, fx_act_hardswish},
                 {VA_ACT_HARDSIGMOID, fx_act_hardsigmoid}};
    float y[FX_ACT_N];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        va_act_apply(cases[i].act, fx_act_x, y, FX_ACT_N);
        check_close_rel(y, cases[i].want, FX_ACT_N, TOL, va_act_name(cases[i].act));
    }
}
END_TEST

START_TEST(test_scale) {
    float x[19], y[19];
    va_test_fill_random(x, 19, 3);
    va_scale(x, -2.5f, y, 19);
    for (int i = 0; i < 19; i++)
        ck_assert(y[i] == x[i] * -2.5f);
    float z[19];
    memcpy(z, x, sizeof z);
    va_scale(z, 0.5f, z, 19); /* in place */
    for (int i = 0; i < 19; i++)
        ck_assert(z[i] == x[i] * 0.5f);
}
END_TEST

/* ---- Vectorisable math (core/ops_mathf.h) ---------------------------------------------------- */

/* |got - want| in units of the float spacing at |want| (the subnormal spacing below FLT_MIN). */
static double ulps(float got, double want) {
    int e;
    frexp(want, &e);
    const double spacing = fabs(want) < 0x1p-126 ? 0x1p-149 : ldexp(1.0, e - 24);
    return fabs((double)got - want) / spacing;
}

static float float_of_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Every 251st float of each sign from 0 to the end of va_expf's accurate range, plus the edges:
 * about 8.9 million values. */
START_TEST(test_mathf_exp) {
    const uint32_t stride = 251, top = 0x42B17217u; /* 88.7228, exp just below FLT_MAX */
    double worst = 0.0;
    float worst_x = 0.0f;
    for (int sign = 0; sign < 2; sign++)
        for (uint32_t u = 0; u <= top; u += stride) {
            const float x = sign ? -float_of_bits(u) : float_of_bits(u);
            if (x < -86.9f) continue; /* below that the result flushes to 0 (documented) */
            const double e = ulps(va_expf(x), exp((double)x));
            if (e > worst) {
                worst = e;
                worst_x = x;
            }
        }
#if defined(FP_FAST_FMAF)
    const double bound = 1.0;
#else
    const double bound = 1.5; /* separate roundings of the multiply-adds */
#endif
    ck_assert_msg(worst <= bound, "va_expf: %.3f ulp at %a", worst, (double)worst_x);
    ck_assert(va_expf(0.0f) == 1.0f && va_expf(-0.0f) == 1.0f);
    ck_assert(isfinite(va_expf(88.72f)) && ulps(va_expf(88.72f), exp((double)88.72f)) <= 1.0);
    ck_assert(isinf(va_expf(88.73f)) && isinf(va_expf(89.0f)) && isinf(va_expf(1e30f)));
    ck_assert(isinf(va_expf(INFINITY)) && va_expf(INFINITY) > 0.0f);
    ck_assert(va_expf(-87.5f) == 0.0f && va_expf(-1e30f) == 0.0f && va_expf(-INFINITY) == 0.0f);
    ck_assert(isnan(va_expf(NAN)) && isnan(va_expf(-NAN)));
}
END_TEST

START_TEST(test_mathf_sigmoid) {
    double worst = 0.0;
    float worst_x = 0.0f;
    for (float x = -87.0f; x <= 20.0f; x += 0.00390625f * 3.0f) {
        const double want = 1.0 / (1.0 + exp(-(double)x));
        const double e = ulps(va_sigmoidf(x), want);
        if (e > worst) {
            worst = e;
            worst_x = x;
        }
    }
    ck_assert_msg(worst <= 2.5, "va_sigmoidf: %.3f ulp at %a", worst, (double)worst_x);
    /* PyTorch's 1 / (1 + exp(-x)): exp overflows below -88.72 and the result is 0. */
    ck_assert(va_sigmoidf(-89.0f) == 0.0f && va_sigmoidf(-INFINITY) == 0.0f);
    ck_assert(va_sigmoidf(88.0f) == 1.0f && va_sigmoidf(INFINITY) == 1.0f);
    ck_assert(va_sigmoidf(0.0f) == 0.5f);
    ck_assert(isnan(va_sigmoidf(NAN)));
}
END_TEST

/* va_div6f has t / 6.0f's bits except for subnormal quotients (one subnormal ulp at most); the
 * full 2^32 sweep was done once offline, this samples every 4099th pattern. */
START_TEST(test_mathf_div6) {
    int64_t bad = -1;
    for (uint64_t u = 0; u <= 0xFFFFFFFFu && bad < 0; u += 4099) {
        const float t = float_of_bits((uint32_t)u), got = va_div6f(t), want = t / 6.0f;
        if (isnan(want)) {
            if (!isnan(got)) bad = (int64_t)u;
        } else if (fabsf(want) >= 0x1p-126f || want == 0.0f || isinf(want)) {
            if (memcmp(&got, &want, sizeof got) != 0) bad = (int64_t)u;
        } else if (fabs((double)got - want) > 0x1p-149) {
            bad = (int64_t)u;
        }
    }
    ck_assert_msg(bad < 0, "va_div6f(%a) != %a", (double)float_of_bits((uint32_t)bad),
                  (double)(float_of_bits((uint32_t)bad) / 6.0f));
    ck_assert(isinf(va_div6f(INFINITY)) && va_div6f(-INFINITY) < 0.0f);
    /* The corrected product in general: a / b for normal a, b. */
    uint32_t seed = 77;
    for (int i = 0; i < 100000; i++) {
        float ab[2];
        va_test_fill_random(ab, 2, seed++);
        const float a = fabsf(ab[0]), b = 1.0f + 2047.0f * fabsf(ab[1]);
        if (a == 0.0f) continue;
        ck_assert_msg(va_div_recip(a, b, 1.0f / b) == a / b, "%a / %a", (double)a, (double)b);
    }
}
END_TEST

/* ---- Activations, continued ------------------------------------------------------------------ */

/* Special values inside a long array, so that the vector loop (not only its scalar tail) meets
 * them: the expected value is PyTorch's for each. */
START_TEST(test_act_specials_vectorised) {
    enum { N = 100 };
    const float xs[] = {NAN, INFINITY, -INFINITY, 1e38f, -1e38f, -100.0f, 100.0f, -0.0f};
    const struct {
        va_act act;
        float want[8]; /* for xs; a NaN entry means NaN */
    } cases[] = {
        {VA_ACT_SIGMOID, {NAN, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 0.5f}},
        {VA_ACT_SILU, {NAN, INFINITY, NAN, 1e38f, -0.0f, -0.0f, 100.0f, -0.0f}},
        {VA_ACT_GELU, {NAN, INFINITY, NAN, 1e38f, -0.0f, -0.0f, 100.0f, -0.0f}},
        {VA_ACT_HARDSIGMOID, {NAN, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 0.5f}},
        {VA_ACT_HARDSWISH, {NAN, INFINITY, NAN, INFINITY, -0.0f, -0.0f, 100.0f, -0.0f}},
        /* PyTorch 1.13's values (torch.tanh; x.mul(F.softplus(x).tanh()); timm's hard_mish). */
        {VA_ACT_TANH, {NAN, 1.0f, -1.0f, 1.0f, -1.0f, -1.0f, 1.0f, -0.0f}},
        {VA_ACT_MISH, {NAN, INFINITY, NAN, 1e38f, -0.0f, -3.783506e-42f, 100.0f, -0.0f}},
        {VA_ACT_HARDMISH, {NAN, INFINITY, NAN, 1e38f, -0.0f, -0.0f, 100.0f, -0.0f}},
    };
    float x[N], y[N];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t k = 0; k < sizeof xs / sizeof xs[0]; k++)
            for (int pos = 0; pos < N; pos += 37) {
                va_test_fill_random(x, N, 5u + (uint32_t)pos);
                x[pos] = xs[k];
                va_act_apply(cases[c].act, x, y, N);
                const float w = cases[c].want[k];
                ck_assert_msg(isnan(w) ? isnan(y[pos]) : y[pos] == w, "%s(%g) = %g, want %g",
                              va_act_name(cases[c].act), (double)xs[k], (double)y[pos], (double)w);
                /* Neighbours are unaffected. */
                const int nb = pos + 1 < N ? pos + 1 : pos - 1;
                ck_assert(fabs(y[nb] - naive_act(cases[c].act, x[nb])) <= 2e-6);
            }
}
END_TEST

/* hardsigmoid and hardswish divide by 6 as PyTorch does: the same bits as the float formula. */
START_TEST(test_act_hard_exact) {
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    va_test_fill_random(x, N, 9);
    for (int i = 0; i < N; i++)
        x[i] *= i % 2 ? 4.0f : 1e4f;
    va_act_apply(VA_ACT_HARDSIGMOID, x, y, N);
    for (int i = 0; i < N; i++) {
        const float r6 = x[i] + 3.0f < 0.0f ? 0.0f : (x[i] + 3.0f > 6.0f ? 6.0f : x[i] + 3.0f);
        ck_assert_msg(y[i] == r6 / 6.0f, "hardsigmoid(%a)", (double)x[i]);
    }
    va_act_apply(VA_ACT_HARDSWISH, x, y, N);
    for (int i = 0; i < N; i++) {
        const float r6 = x[i] + 3.0f < 0.0f ? 0.0f : (x[i] + 3.0f > 6.0f ? 6.0f : x[i] + 3.0f);
        ck_assert_msg(y[i] == x[i] * r6 / 6.0f, "hardswish(%a)", (double)x[i]);
    }
    free(x);
    free(y);
}
END_TEST

/* The threaded path of va_scale (and of the activations): shares that do not divide evenly. */
START_TEST(test_scale_large) {
    const int64_t n = ((int64_t)1 << 16) + 37;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    va_test_fill_random(x, n, 11);
    va_scale(x, 3.0f, y, n);
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (y[i] != x[i] * 3.0f) bad = i;
    ck_assert_msg(bad < 0, "va_scale: element %lld", (long long)bad);
    va_act_apply(VA_ACT_RELU, x, y, n);
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (y[i] != (x[i] < 0.0f ? 0.0f : x[i])) bad = i;
    ck_assert_msg(bad < 0, "relu: element %lld", (long long)bad);
    free(x);
    free(y);
}
END_TEST

/* ---- Broadcasting add / mul ------------------------------------------------------------------ */

static void naive_binary(int mul, const va_tensor *a, const va_tensor *b, const va_tensor *y,
                         float *out) {
    const int64_t *s = y->shape;
    for (int64_t n = 0; n < s[0]; n++)
        for (int64_t c = 0; c < s[1]; c++)
            for (int64_t h = 0; h < s[2]; h++)
                for (int64_t w = 0; w < s[3]; w++) {
                    const int64_t idx[4] = {n, c, h, w};
                    int64_t ia = 0, ib = 0;
                    for (int d = 0; d < 4; d++) {
                        ia = ia * a->shape[d] + (a->shape[d] == 1 ? 0 : idx[d]);
                        ib = ib * b->shape[d] + (b->shape[d] == 1 ? 0 : idx[d]);
                    }
                    const float va = a->data[ia], vb = b->data[ib];
                    out[((n * s[1] + c) * s[2] + h) * s[3] + w] = mul ? va * vb : va + vb;
                }
}

static void check_binary(int mul, const int64_t as[4], const int64_t bs[4], uint32_t seed) {
    va_error err = {0};
    va_tensor a = random4(as[0], as[1], as[2], as[3], seed);
    va_tensor b = random4(bs[0], bs[1], bs[2], bs[3], seed + 1000);
    int64_t ys[4];
    for (int d = 0; d < 4; d++)
        ys[d] = as[d] == 1 ? bs[d] : as[d];
    va_tensor y = random4(ys[0], ys[1], ys[2], ys[3], seed + 2000);
    float *want = malloc((size_t)va_numel(&y) * sizeof *want);
    naive_binary(mul, &a, &b, &y, want);
    va_status st = mul ? va_mul(&a, &b, &y, &err) : va_add(&a, &b, &y, &err);
    ck_assert_msg(st == VA_OK, "%s", err.msg);
    /* The result is exact: one float op per element, same as the naive loop. */
    ck_assert_int_eq(memcmp(y.data, want, (size_t)va_numel(&y) * sizeof *want), 0);
    /* In place into whichever operand has y's shape. */
    if (va_same_shape(&a, &y)) {
        ck_assert_int_eq(mul ? va_mul(&a, &b, &a, &err) : va_add(&a, &b, &a, &err), VA_OK);
        ck_assert_int_eq(memcmp(a.data, want, (size_t)va_numel(&y) * sizeof *want), 0);
    } else if (va_same_shape(&b, &y)) {
        ck_assert_int_eq(mul ? va_mul(&a, &b, &b, &err) : va_add(&a, &b, &b, &err), VA_OK);
        ck_assert_int_eq(memcmp(b.data, want, (size_t)va_numel(&y) * sizeof *want), 0);
    }
    free(want);
    va_tensor_free(&a);
    va_tensor_free(&b);
    va_tensor_free(&y);
}

/* Every combination of broadcast dims in a and in b (16 x 16) on an odd shape, for add and mul. */
START_TEST(test_binary_all_broadcasts) {
    const int64_t full[4] = {3, 5, 7, 9};
    uint32_t seed = 1;
    for (int mul = 0; mul < 2; mul++)
        for (int ma = 0; ma < 16; ma++)
            for (int mb = 0; mb < 16; mb++) {
                int64_t as[4], bs[4];
                for (int d = 0; d < 4; d++) {
                    as[d] = (ma >> d) & 1 ? 1 : full[d];
                    bs[d] = (mb >> d) & 1 ? 1 : full[d];
                }
                check_binary(mul, as, bs, seed++);
            }
}
END_TEST

/* The attention-gate shapes at a size that takes the threaded paths. */
START_TEST(test_binary_gates_large) {
    const int64_t x[4] = {2, 17, 65, 67}, ch[4] = {2, 17, 1, 1}, sp[4] = {2, 1, 65, 67};
    const int64_t bias[4] = {1, 17, 1, 1}, row[4] = {2, 17, 1, 67}, col[4] = {1, 1, 65, 1};
    for (int mul = 0; mul < 2; mul++) {
        check_binary(mul, x, x, 11);
        check_binary(mul, x, ch, 12);
        check_binary(mul, ch, x, 13);
        check_binary(mul, x, sp, 14);
        check_binary(mul, sp, x, 15);
        check_binary(mul, x, bias, 16);
        check_binary(mul, row, col, 17);
        check_binary(mul, ch, sp, 18);
    }
}
END_TEST

START_TEST(test_binary_errors) {
    va_error err = {0};
    va_tensor a = random4(2, 3, 5, 7, 1), b = random4(2, 4, 1, 1, 2), y = tensor4(2, 3, 5, 7);
    va_tensor g = random4(2, 3, 1, 1, 3);
    check_error(va_add(&a, &b, &y, &err), VA_ERR_SHAPE, &err, "2x4x1x1");
    ck_assert(strstr(err.msg, "va_add") && strstr(err.msg, "2x3x5x7"));
    check_error(va_mul(&a, &g, &b, &err), VA_ERR_SHAPE, &err, "broadcast to 2x3x5x7");
    /* y may not alias the smaller operand. */
    va_tensor over_g = y;
    over_g.data = g.data;
    check_error(va_mul(&a, &g, &over_g, &err), VA_ERR_ARG, &err, "aliases");
    /* Nor overlap an operand partially. */
    va_tensor shifted = a;
    shifted.data = a.data + 1;
    shifted.shape[0] = 1;
    va_tensor a1 = a;
    a1.shape[0] = 1;
    check_error(va_add(&a1, &g, &shifted, &err), VA_ERR_SHAPE, &err, "va_add");
    va_tensor three = a;
    three.ndim = 3;
    check_error(va_add(&three, &three, &three, &err), VA_ERR_SHAPE, &err, "4-D");
    check_error(va_add(NULL, &a, &y, &err), VA_ERR_ARG, &err, "va_add");
    va_tensor nodata = a;
    nodata.data = NULL;
    check_error(va_mul(&a, &nodata, &y, &err), VA_ERR_ARG, &err, "va_mul");
    va_tensor_free(&a);
    va_tensor_free(&b);
    va_tensor_free(&y);
    va_tensor_free(&g);
}
END_TEST

/* ---- Layout ---------------------------------------------------------------------------------- */

static void naive_permute(const va_tensor *x, const int *perm, float *out) {
    const int nd = x->ndim;
    int64_t xs[VA_MAX_DIM], ys[VA_MAX_DIM], yshape[VA_MAX_DIM];
    for (int i = nd - 1; i >= 0; i--)
        xs[i] = i == nd - 1 ? 1 : xs[i + 1] * x->shape[i + 1];
    for (int i = 0; i < nd; i++)
        yshape[i] = x->shape[perm[i]];
    for (int i = nd - 1; i >= 0; i--)
        ys[i] = i == nd - 1 ? 1 : ys[i + 1] * yshape[i + 1];
    const int64_t total = va_numel(x);
    for (int64_t j = 0; j < total; j++) {
        int64_t off = 0;
        for (int i = 0; i < nd; i++)
            off += ((j / ys[i]) % yshape[i]) * xs[perm[i]];
        out[j] = x->data[off];
    }
}

static void check_permute(int nd, const int64_t *shape, const int *perm, uint32_t seed) {
    va_error err = {0};
    va_tensor x = tensor_nd(nd, shape);
    va_test_fill_random(x.data, va_numel(&x), seed);
    int64_t ys[VA_MAX_DIM];
    for (int i = 0; i < nd; i++)
        ys[i] = shape[perm[i]];
    va_tensor y = tensor_nd(nd, ys);
    float *want = malloc((size_t)va_numel(&x) * sizeof *want);
    naive_permute(&x, perm, want);
    ck_assert_msg(va_permute(&x, perm, &y, &err) == VA_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(y.data, want, (size_t)va_numel(&x) * sizeof *want), 0);
    free(want);
    va_tensor_free(&x);
    va_tensor_free(&y);
}

static int next_perm(int *p, int n) {
    int i = n - 2;
    while (i >= 0 && p[i] >= p[i + 1])
        i--;
    if (i < 0) return 0;
    int j = n - 1;
    while (p[j] <= p[i])
        j--;
    int t = p[i];
    p[i] = p[j];
    p[j] = t;
    for (int a = i + 1, b = n - 1; a < b; a++, b--) {
        t = p[a];
        p[a] = p[b];
        p[b] = t;
    }
    return 1;
}

START_TEST(test_permute_all_4d) {
    const int64_t shape[4] = {2, 3, 5, 7};
    const int64_t ones[4] = {3, 1, 5, 1}; /* size-1 dims are dropped before the walk */
    int p[4] = {0, 1, 2, 3};
    uint32_t seed = 1;
    do {
        check_permute(4, shape, p, seed++);
        check_permute(4, ones, p, seed++);
    } while (next_perm(p, 4));
}
END_TEST

START_TEST(test_permute_other_ranks) {
    const int64_t s1[1] = {13}, s2[2] = {67, 131}, s3[3] = {4, 67, 131};
    const int64_t s6[6] = {2, 3, 1, 5, 2, 3};
    const int p1[1] = {0}, p2[2] = {1, 0}, p3a[3] = {0, 2, 1}, p3b[3] = {2, 0, 1};
    const int p6a[6] = {5, 4, 3, 2, 1, 0}, p6b[6] = {0, 3, 1, 4, 2, 5}, p6c[6] = {1, 0, 2, 3, 5, 4};
    check_permute(1, s1, p1, 1);
    check_permute(2, s2, p2, 2);  /* tiled transpose with partial tiles */
    check_permute(3, s3, p3a, 3); /* threaded */
    check_permute(3, s3, p3b, 4);
    check_permute(6, s6, p6a, 5);
    check_permute(6, s6, p6b, 6);
    check_permute(6, s6, p6c, 7);
    /* Negative dims count from the end. */
    va_error err = {0};
    va_tensor x = random4(2, 3, 5, 7, 9), y = tensor4(2, 7, 3, 5), z = tensor4(2, 7, 3, 5);
    const int pneg[4] = {0, -1, 1, 2}, ppos[4] = {0, 3, 1, 2};
    ck_assert_int_eq(va_permute(&x, pneg, &y, &err), VA_OK);
    ck_assert_int_eq(va_permute(&x, ppos, &z, &err), VA_OK);
    ck_assert_int_eq(memcmp(y.data, z.data, 210 * sizeof(float)), 0);
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_tensor_free(&z);
}
END_TEST

START_TEST(test_permute_errors) {
    va_error err = {0};
    va_tensor x = random4(2, 3, 5, 7, 1), y = tensor4(2, 5, 3, 7);
    const int dup[4] = {0, 2, 2, 1}, range[4] = {0, 1, 2, 4}, good[4] = {0, 2, 1, 3};
    const int wrong[4] = {0, 3, 1, 2};
    check_error(va_permute(&x, dup, &y, &err), VA_ERR_ARG, &err, "va_permute");
    check_error(va_permute(&x, range, &y, &err), VA_ERR_ARG, &err, "permutation");
    check_error(va_permute(&x, NULL, &y, &err), VA_ERR_ARG, &err, "va_permute");
    check_error(va_permute(&x, wrong, &y, &err), VA_ERR_SHAPE, &err, "2x5x3x7");
    check_error(va_permute(&x, good, &x, &err), VA_ERR_SHAPE, &err, "va_permute");
    va_tensor y3 = y;
    y3.ndim = 3;
    check_error(va_permute(&x, good, &y3, &err), VA_ERR_SHAPE, &err, "ndim");
    ck_assert_int_eq(va_permute(&x, good, &y, &err), VA_OK);
    va_tensor_free(&x);
    va_tensor_free(&y);
}
END_TEST

START_TEST(test_channel_shuffle) {
    va_error err = {0};
    const int64_t N = 2, C = 12, H = 5, W = 3;
    va_tensor x = random4(N, C, H, W, 4), y = tensor4(N, C, H, W);
    const int groups[] = {1, 2, 3, 4, 6, 12};
    for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
        const int g = groups[gi];
        ck_assert_int_eq(va_channel_shuffle(&x, g, &y, &err), VA_OK);
        /* reshape(N, g, C/g, H, W).transpose(1, 2): y channel k = (j, i) with k = j*g + i. */
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < g; i++)
                for (int64_t j = 0; j < C / g; j++)
                    for (int64_t s = 0; s < H * W; s++)
                        ck_assert(y.data[(n * C + j * g + i) * H * W + s] ==
                                  x.data[(n * C + i * (C / g) + j) * H * W + s]);
    }
    check_error(va_channel_shuffle(&x, 5, &y, &err), VA_ERR_ARG, &err, "groups=5");
    check_error(va_channel_shuffle(&x, 0, &y, &err), VA_ERR_ARG, &err, "va_channel_shuffle");
    check_error(va_channel_shuffle(&x, 3, &x, &err), VA_ERR_ARG, &err, "overlaps");
    va_tensor z = tensor4(N, C, W, H);
    check_error(va_channel_shuffle(&x, 3, &z, &err), VA_ERR_SHAPE, &err, "2x12x3x5");
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_tensor_free(&z);
}
END_TEST

START_TEST(test_pad2d) {
    va_error err = {0};
    const int64_t N = 2, C = 3, H = 7, W = 5;
    const int pads[][4] = {{0, 0, 0, 0}, {1, 2, 3, 4}, {0, 3, 2, 0}, {5, 0, 0, 1}};
    va_tensor x = random4(N, C, H, W, 5);
    for (size_t k = 0; k < sizeof pads / sizeof pads[0]; k++) {
        const int t = pads[k][0], b = pads[k][1], l = pads[k][2], r = pads[k][3];
        const int64_t OH = H + t + b, OW = W + l + r;
        va_tensor y = random4(N, C, OH, OW, 6);
        ck_assert_int_eq(va_pad2d(&x, t, b, l, r, &y, &err), VA_OK);
        for (int64_t p = 0; p < N * C; p++)
            for (int64_t i = 0; i < OH; i++)
                for (int64_t j = 0; j < OW; j++) {
                    const int64_t h = i - t, w = j - l;
                    const float want =
                        (h >= 0 && h < H && w >= 0 && w < W) ? x.data[(p * H + h) * W + w] : 0.0f;
                    ck_assert(y.data[(p * OH + i) * OW + j] == want);
                }
        va_tensor_free(&y);
    }
    va_tensor y = tensor4(N, C, H + 1, W + 1);
    check_error(va_pad2d(&x, -1, 2, 1, 0, &y, &err), VA_ERR_ARG, &err, "negative");
    check_error(va_pad2d(&x, 1, 1, 1, 0, &y, &err), VA_ERR_SHAPE, &err, "2x3x8x6");
    va_tensor_free(&x);
    va_tensor_free(&y);
}
END_TEST

START_TEST(test_resize_against_torch) {
    va_error err = {0};
    for (size_t k = 0; k < sizeof fx_resize_cases / sizeof fx_resize_cases[0]; k++) {
        const fx_resize_case *fc = &fx_resize_cases[k];
        va_tensor x = tensor_nd(4, fc->x_shape), y = tensor_nd(4, fc->y_shape);
        memcpy(x.data, fc->x, (size_t)va_numel(&x) * sizeof(float));
        ck_assert_msg(va_resize_bilinear(&x, &y, &err) == VA_OK, "%s", err.msg);
        check_close(y.data, fc->y, va_numel(&y), TOL, fc->name);
        va_tensor_free(&x);
        va_tensor_free(&y);
    }
}
END_TEST

/* F.interpolate(bilinear, align_corners=False) written out per output pixel, with the ratio
 * rounded to float as PyTorch does (float(in) / out) and the rest in double. */
static void naive_resize(const va_tensor *x, int64_t OH, int64_t OW, double *out) {
    const int64_t H = x->shape[2], W = x->shape[3];
    const double rh = (float)H / (float)OH, rw = (float)W / (float)OW;
    for (int64_t p = 0; p < x->shape[0] * x->shape[1]; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double sh = fmax(rh * (oh + 0.5) - 0.5, 0.0);
                double sw = fmax(rw * (ow + 0.5) - 0.5, 0.0);
                if (H == OH) sh = (double)oh;
                if (W == OW) sw = (double)ow;
                const int64_t h0 = (int64_t)sh, w0 = (int64_t)sw;
                const int64_t h1 = h0 + (h0 < H - 1), w1 = w0 + (w0 < W - 1);
                const double fh = sh - h0, fw = sw - w0;
                const float *xp = x->data + p * H * W;
                out[(p * OH + oh) * OW + ow] =
                    (1 - fh) * ((1 - fw) * xp[h0 * W + w0] + fw * xp[h0 * W + w1]) +
                    fh * ((1 - fw) * xp[h1 * W + w0] + fw * xp[h1 * W + w1]);
            }
}

/* Wide outputs (several column blocks), odd ratios both ways, threaded sizes. */
START_TEST(test_resize_against_naive) {
    va_error err = {0};
    const int64_t cases[][6] = {
        {2, 3, 5, 300, 9, 601}, {1, 2, 301, 7, 13, 3}, {2, 5, 33, 35, 67, 71},
        {1, 3, 64, 64, 21, 17}, {1, 1, 1, 9, 5, 1},    {3, 2, 7, 7, 7, 300},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t *c = cases[k];
        va_tensor x = random4(c[0], c[1], c[2], c[3], 60u + (uint32_t)k);
        va_tensor y = tensor4(c[0], c[1], c[4], c[5]);
        double *want = malloc((size_t)va_numel(&y) * sizeof *want);
        naive_resize(&x, c[4], c[5], want);
        ck_assert_int_eq(va_resize_bilinear(&x, &y, &err), VA_OK);
        check_close_d(y.data, want, va_numel(&y), 1e-6, "resize");
        free(want);
        va_tensor_free(&x);
        va_tensor_free(&y);
    }
}
END_TEST

/* Zero-size tensors are valid and touch nothing. */
START_TEST(test_empty_tensors) {
    va_error err = {0};
    va_tensor e = tensor4(0, 3, 5, 7), e1 = tensor4(0, 3, 1, 1), ey = tensor4(0, 3, 5, 7);
    ck_assert_int_eq(va_add(&e, &e1, &ey, &err), VA_OK);
    ck_assert_int_eq(va_softmax(&e, 1, &ey, &err), VA_OK);
    const int perm[4] = {0, 1, 3, 2};
    va_tensor et = tensor4(0, 3, 7, 5);
    ck_assert_int_eq(va_permute(&e, perm, &et, &err), VA_OK);
    ck_assert_int_eq(va_group_norm(&e, 3, NULL, NULL, 1e-5f, &ey, &err), VA_OK);
    ck_assert_int_eq(va_channel_mean(&e, &e1, &err), VA_ERR_SHAPE); /* y must be 0x1x5x7 */
    va_tensor_free(&e);
    va_tensor_free(&e1);
    va_tensor_free(&ey);
    va_tensor_free(&et);
}
END_TEST

START_TEST(test_resize_identity_and_errors) {
    va_error err = {0};
    va_tensor x = random4(2, 3, 7, 5, 8), y = tensor4(2, 3, 7, 5);
    ck_assert_int_eq(va_resize_bilinear(&x, &y, &err), VA_OK);
    ck_assert_int_eq(memcmp(x.data, y.data, 210 * sizeof(float)), 0);
    /* Upsampling a constant image keeps it constant (weights sum to 1 at every edge). */
    for (int i = 0; i < 210; i++)
        x.data[i] = 0.375f;
    va_tensor big = tensor4(2, 3, 61, 67);
    ck_assert_int_eq(va_resize_bilinear(&x, &big, &err), VA_OK);
    float worst = 0.0f;
    for (int64_t i = 0; i < va_numel(&big); i++)
        worst = fmaxf(worst, fabsf(big.data[i] - 0.375f));
    ck_assert(worst < 1e-7f);
    va_tensor bad = tensor4(2, 4, 9, 9);
    check_error(va_resize_bilinear(&x, &bad, &err), VA_ERR_SHAPE, &err, "2x4x9x9");
    va_tensor empty = tensor4(2, 3, 0, 4);
    check_error(va_resize_bilinear(&x, &empty, &err), VA_ERR_SHAPE, &err, "va_resize_bilinear");
    check_error(va_resize_bilinear(&x, &x, &err), VA_ERR_ARG, &err, "overlaps");
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_tensor_free(&big);
    va_tensor_free(&bad);
    va_tensor_free(&empty);
}
END_TEST

START_TEST(test_concat_channels) {
    va_error err = {0};
    va_tensor a = random4(2, 3, 5, 7, 1), b = random4(2, 4, 5, 7, 2), y = tensor4(2, 7, 5, 7);
    ck_assert_int_eq(va_concat_channels(&a, &b, &y, &err), VA_OK);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t c = 0; c < 7; c++)
            for (int64_t s = 0; s < 35; s++) {
                const float want =
                    c < 3 ? a.data[(n * 3 + c) * 35 + s] : b.data[(n * 4 + c - 3) * 35 + s];
                ck_assert(y.data[(n * 7 + c) * 35 + s] == want);
            }
    va_tensor c = random4(2, 4, 5, 6, 3);
    check_error(va_concat_channels(&a, &c, &y, &err), VA_ERR_SHAPE, &err, "2x4x5x6");
    check_error(va_concat_channels(&a, &a, &y, &err), VA_ERR_SHAPE, &err, "2x7x5x7");
    va_tensor_free(&a);
    va_tensor_free(&b);
    va_tensor_free(&c);
    va_tensor_free(&y);
}
END_TEST

/* ---- Normalisation --------------------------------------------------------------------------- */

START_TEST(test_batchnorm) {
    va_error err = {0};
    const int64_t N = 2, C = 5, HW = 7 * 3;
    va_tensor x = random4(N, C, 7, 3, 1), y = tensor4(N, C, 7, 3);
    float gamma[5], beta[5], mean[5], var[5];
    va_test_fill_random(gamma, 5, 2);
    va_test_fill_random(beta, 5, 3);
    va_test_fill_random(mean, 5, 4);
    va_test_fill_random(var, 5, 5);
    for (int c = 0; c < 5; c++)
        var[c] = var[c] + 1.5f;
    for (int affine = 0; affine < 2; affine++) {
        ck_assert_int_eq(va_batchnorm2d(&x, affine ? gamma : NULL, affine ? beta : NULL, mean, var,
                                        1e-3f, &y, &err),
                         VA_OK);
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t s = 0; s < HW; s++) {
                    const int64_t i = (n * C + c) * HW + s;
                    double want = (x.data[i] - mean[c]) / sqrt((double)var[c] + 1e-3);
                    if (affine) want = want * gamma[c] + beta[c];
                    ck_assert(fabs(y.data[i] - want) < 1e-5);
                }
    }
    /* In place. */
    ck_assert_int_eq(va_batchnorm2d(&x, gamma, beta, mean, var, 1e-3f, &x, &err), VA_OK);
    ck_assert_int_eq(memcmp(x.data, y.data, (size_t)va_numel(&x) * sizeof(float)), 0);
    check_error(va_batchnorm2d(&x, gamma, beta, NULL, var, 1e-3f, &y, &err), VA_ERR_ARG, &err,
                "va_batchnorm2d");
    va_tensor z = tensor4(N, C, 3, 7);
    check_error(va_batchnorm2d(&x, gamma, beta, mean, var, 1e-3f, &z, &err), VA_ERR_SHAPE, &err,
                "2x5x3x7");
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_tensor_free(&z);
}
END_TEST

/* A 1x1 "conv" (matrix) then BN equals the folded matrix, with and without a conv bias. */
START_TEST(test_fold_batchnorm) {
    enum { COUT = 5, K = 7, P = 11 };
    float w[COUT * K], b[COUT], x[K * P], gamma[COUT], beta[COUT], mean[COUT], var[COUT];
    va_test_fill_random(w, COUT * K, 1);
    va_test_fill_random(x, K * P, 2);
    va_test_fill_random(gamma, COUT, 3);
    va_test_fill_random(beta, COUT, 4);
    va_test_fill_random(mean, COUT, 5);
    va_test_fill_random(var, COUT, 6);
    for (int o = 0; o < COUT; o++)
        var[o] += 1.25f;
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        if (with_bias)
            va_test_fill_random(b, COUT, 7);
        else
            memset(b, 0, sizeof b);
        double want[COUT * P];
        for (int o = 0; o < COUT; o++)
            for (int p = 0; p < P; p++) {
                double s = b[o];
                for (int k = 0; k < K; k++)
                    s += (double)w[o * K + k] * x[k * P + p];
                want[o * P + p] = (s - mean[o]) / sqrt(var[o] + 1e-5) * gamma[o] + beta[o];
            }
        float fw[COUT * K], fb[COUT];
        memcpy(fw, w, sizeof w);
        memcpy(fb, b, sizeof b);
        va_fold_batchnorm(fw, fb, COUT, K, gamma, beta, mean, var, 1e-5f);
        for (int o = 0; o < COUT; o++)
            for (int p = 0; p < P; p++) {
                double s = fb[o];
                for (int k = 0; k < K; k++)
                    s += (double)fw[o * K + k] * x[k * P + p];
                ck_assert(fabs(s - want[o * P + p]) < 1e-5);
            }
    }
}
END_TEST

static void naive_group_norm(const va_tensor *x, int G, const float *gamma, const float *beta,
                             double eps, double *out) {
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const int64_t size = C / G * HW;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            const float *xp = x->data + (n * G + g) * size;
            double s = 0, q = 0;
            for (int64_t i = 0; i < size; i++)
                s += xp[i];
            const double mean = s / size;
            for (int64_t i = 0; i < size; i++)
                q += (xp[i] - mean) * (xp[i] - mean);
            const double rstd = 1.0 / sqrt(q / size + eps);
            for (int64_t i = 0; i < size; i++) {
                const int64_t c = g * (C / G) + i / HW;
                out[(n * G + g) * size + i] =
                    (xp[i] - mean) * rstd * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
            }
        }
}

static void check_group_norm(int64_t N, int64_t C, int64_t H, int64_t W, int G, float offset,
                             float spread, uint32_t seed) {
    va_error err = {0};
    va_tensor x = random4(N, C, H, W, seed), y = tensor4(N, C, H, W);
    const int64_t total = va_numel(&x);
    for (int64_t i = 0; i < total; i++)
        x.data[i] = offset + spread * x.data[i];
    float *gamma = malloc((size_t)C * sizeof *gamma), *beta = malloc((size_t)C * sizeof *beta);
    va_test_fill_random(gamma, C, seed + 1);
    va_test_fill_random(beta, C, seed + 2);
    double *want = malloc((size_t)total * sizeof *want);
    naive_group_norm(&x, G, gamma, beta, 1e-5, want);
    ck_assert_msg(va_group_norm(&x, G, gamma, beta, 1e-5f, &y, &err) == VA_OK, "%s", err.msg);
    char what[64];
    snprintf(what, sizeof what, "groups=%d offset=%g", G, (double)offset);
    check_close_d(y.data, want, total, 1e-5, what);
    /* In place gives the same bits. */
    ck_assert_int_eq(va_group_norm(&x, G, gamma, beta, 1e-5f, &x, &err), VA_OK);
    ck_assert_int_eq(memcmp(x.data, y.data, (size_t)total * sizeof(float)), 0);
    free(want);
    free(gamma);
    free(beta);
    va_tensor_free(&x);
    va_tensor_free(&y);
}

START_TEST(test_group_norm_against_naive) {
    const int groups[] = {1, 3, 5, 15};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        check_group_norm(2, 15, 7, 5, groups[i], 0.0f, 1.0f, 10u + (uint32_t)i);
        /* Mean far from zero with a small spread: a one-pass float variance would fail here. */
        check_group_norm(2, 15, 7, 5, groups[i], 50.0f, 0.05f, 20u + (uint32_t)i);
    }
    /* Threaded paths: few groups (parallel reductions) and many groups (one per task). */
    check_group_norm(1, 8, 64, 67, 1, 3.0f, 2.0f, 30);
    check_group_norm(3, 8, 33, 35, 4, -1.0f, 1.0f, 31);
    check_group_norm(1, 2, 129, 131, 2, 0.5f, 1.0f, 32);
}
END_TEST

START_TEST(test_group_norm_against_torch) {
    va_error err = {0};
    va_tensor x = tensor4(2, 6, 5, 7), y = tensor4(2, 6, 5, 7);
    memcpy(x.data, fx_gn_x, sizeof fx_gn_x);
    for (size_t k = 0; k < sizeof fx_gn_cases / sizeof fx_gn_cases[0]; k++) {
        const fx_gn_case *fc = &fx_gn_cases[k];
        ck_assert_int_eq(va_group_norm(&x, fc->groups, fc->affine ? fx_gn_gamma : NULL,
                                       fc->affine ? fx_gn_beta : NULL, FX_GN_EPS, &y, &err),
                         VA_OK);
        char what[32];
        snprintf(what, sizeof what, "groups=%d", fc->groups);
        check_close(y.data, fc->y, 420, TOL, what);
    }
    check_error(va_group_norm(&x, 4, NULL, NULL, 1e-5f, &y, &err), VA_ERR_ARG, &err,
                "num_groups=4");
    check_error(va_group_norm(&x, 0, NULL, NULL, 1e-5f, &y, &err), VA_ERR_ARG, &err,
                "va_group_norm");
    va_tensor z = tensor4(2, 6, 7, 5);
    check_error(va_group_norm(&x, 2, NULL, NULL, 1e-5f, &z, &err), VA_ERR_SHAPE, &err, "2x6x7x5");
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_tensor_free(&z);
}
END_TEST

/* ---- Pooling --------------------------------------------------------------------------------- */

START_TEST(test_global_pools) {
    va_error err = {0};
    const int64_t shapes[][4] = {{2, 17, 13, 11}, {1, 3, 1, 1}, {2, 5, 181, 183}};
    for (size_t k = 0; k < 3; k++) {
        const int64_t N = shapes[k][0], C = shapes[k][1], HW = shapes[k][2] * shapes[k][3];
        va_tensor x = random4(N, C, shapes[k][2], shapes[k][3], 40u + (uint32_t)k);
        va_tensor ya = tensor4(N, C, 1, 1), ym = tensor4(N, C, 1, 1);
        ck_assert_int_eq(va_global_avgpool(&x, &ya, &err), VA_OK);
        ck_assert_int_eq(va_global_maxpool(&x, &ym, &err), VA_OK);
        for (int64_t p = 0; p < N * C; p++) {
            double s = 0;
            float m = -INFINITY;
            for (int64_t i = 0; i < HW; i++) {
                s += x.data[p * HW + i];
                if (x.data[p * HW + i] > m) m = x.data[p * HW + i];
            }
            ck_assert(fabs(ya.data[p] - s / HW) < 1e-6);
            ck_assert(ym.data[p] == m);
        }
        va_tensor_free(&x);
        va_tensor_free(&ya);
        va_tensor_free(&ym);
    }
    va_tensor x = random4(2, 3, 5, 7, 1), y = tensor4(2, 3, 1, 1), bad = tensor4(2, 1, 1, 1);
    x.data[17] = NAN; /* plane 0: torch.max propagates NaN */
    ck_assert_int_eq(va_global_maxpool(&x, &y, &err), VA_OK);
    ck_assert(isnan(y.data[0]) && !isnan(y.data[1]));
    check_error(va_global_avgpool(&x, &bad, &err), VA_ERR_SHAPE, &err, "2x1x1x1");
    check_error(va_global_maxpool(&x, &bad, &err), VA_ERR_SHAPE, &err, "va_global_maxpool");
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_tensor_free(&bad);
}
END_TEST

/* Direct window loop in PyTorch's formulation: avg divides by the full kernel area
 * (count_include_pad=True), max ignores padding (-inf). */
static void naive_pool(int is_max, const va_pool2d_desc *d, const va_tensor *x, int64_t OH,
                       int64_t OW, float *out) {
    const int64_t H = x->shape[2], W = x->shape[3];
    for (int64_t p = 0; p < x->shape[0] * x->shape[1]; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double s = 0;
                float m = -INFINITY;
                for (int kh = 0; kh < d->kernel_h; kh++)
                    for (int kw = 0; kw < d->kernel_w; kw++) {
                        const int64_t ih = oh * d->stride_h - d->pad_h + kh;
                        const int64_t iw = ow * d->stride_w - d->pad_w + kw;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        const float v = x->data[(p * H + ih) * W + iw];
                        s += v;
                        if (v > m) m = v;
                    }
                out[(p * OH + oh) * OW + ow] =
                    is_max ? m : (float)(s / (d->kernel_h * d->kernel_w));
            }
}

START_TEST(test_pool2d_against_naive) {
    va_error err = {0};
    const va_pool2d_desc descs[] = {
        {3, 3, 1, 1, 1, 1}, {3, 3, 2, 2, 1, 1}, {2, 2, 2, 2, 0, 0}, {3, 5, 2, 1, 1, 2},
        {7, 7, 1, 1, 3, 3}, {1, 1, 3, 2, 0, 0}, {4, 3, 3, 2, 2, 1},
    };
    const int64_t shapes[][4] = {{2, 3, 7, 5}, {1, 17, 13, 11}, {2, 4, 71, 69}};
    for (size_t s = 0; s < 3; s++)
        for (size_t k = 0; k < sizeof descs / sizeof descs[0]; k++) {
            const va_pool2d_desc *d = &descs[k];
            int64_t OH, OW;
            ck_assert_int_eq(va_pool2d_out_hw(d, shapes[s][2], shapes[s][3], &OH, &OW, &err),
                             VA_OK);
            ck_assert_int_eq(OH, (shapes[s][2] + 2 * d->pad_h - d->kernel_h) / d->stride_h + 1);
            ck_assert_int_eq(OW, (shapes[s][3] + 2 * d->pad_w - d->kernel_w) / d->stride_w + 1);
            va_tensor x = random4(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3],
                                  (uint32_t)(s * 10 + k + 1));
            va_tensor y = tensor4(shapes[s][0], shapes[s][1], OH, OW);
            float *want = malloc((size_t)va_numel(&y) * sizeof *want);
            for (int is_max = 0; is_max < 2; is_max++) {
                naive_pool(is_max, d, &x, OH, OW, want);
                va_status st =
                    is_max ? va_maxpool2d(d, &x, &y, &err) : va_avgpool2d(d, &x, &y, &err);
                ck_assert_msg(st == VA_OK, "%s", err.msg);
                check_close(y.data, want, va_numel(&y), 1e-6f, is_max ? "maxpool" : "avgpool");
            }
            free(want);
            va_tensor_free(&x);
            va_tensor_free(&y);
        }
}
END_TEST

START_TEST(test_pool2d_errors) {
    va_error err = {0};
    int64_t oh, ow;
    va_pool2d_desc d = {3, 3, 2, 2, 1, 1};
    ck_assert_int_eq(va_pool2d_out_hw(&d, 7, 5, &oh, &ow, &err), VA_OK);
    ck_assert_int_eq(oh, 4);
    ck_assert_int_eq(ow, 3);
    /* floor, not truncation, for a window that barely does not fit: h + 2p - k = -1. */
    va_pool2d_desc d2 = {3, 3, 2, 2, 0, 0};
    check_error(va_pool2d_out_hw(&d2, 2, 5, &oh, &ow, &err), VA_ERR_SHAPE, &err, "kernel 3x3");
    va_pool2d_desc bad = {3, 3, 0, 1, 0, 0};
    check_error(va_pool2d_out_hw(&bad, 7, 5, &oh, &ow, &err), VA_ERR_ARG, &err, "stride");
    bad = (va_pool2d_desc){0, 3, 1, 1, 0, 0};
    check_error(va_pool2d_out_hw(&bad, 7, 5, &oh, &ow, &err), VA_ERR_ARG, &err, "kernel");
    bad = (va_pool2d_desc){3, 3, 1, 1, 2, 0};
    check_error(va_pool2d_out_hw(&bad, 7, 5, &oh, &ow, &err), VA_ERR_ARG, &err, "half");
    bad = (va_pool2d_desc){3, 3, 1, 1, -1, 0};
    check_error(va_pool2d_out_hw(&bad, 7, 5, &oh, &ow, &err), VA_ERR_ARG, &err, "pad");
    check_error(va_pool2d_out_hw(NULL, 7, 5, &oh, &ow, &err), VA_ERR_ARG, &err, NULL);
    va_tensor x = random4(2, 3, 7, 5, 1), y = tensor4(2, 3, 4, 4);
    check_error(va_avgpool2d(&d, &x, &y, &err), VA_ERR_SHAPE, &err, "2x3x4x3");
    ck_assert(strstr(err.msg, "va_avgpool2d") && strstr(err.msg, "2x3x4x4"));
    check_error(va_maxpool2d(&bad, &x, &y, &err), VA_ERR_ARG, &err, "va_maxpool2d");
    va_tensor_free(&x);
    va_tensor_free(&y);
    /* NaN propagates through max pooling, as in PyTorch. */
    va_tensor a = random4(1, 1, 4, 4, 2), b = tensor4(1, 1, 2, 2);
    a.data[5] = NAN; /* (1, 1): window (0, 0) only */
    va_pool2d_desc p2 = {2, 2, 2, 2, 0, 0};
    ck_assert_int_eq(va_maxpool2d(&p2, &a, &b, &err), VA_OK);
    ck_assert(isnan(b.data[0]) && !isnan(b.data[1]) && !isnan(b.data[2]) && !isnan(b.data[3]));
    va_tensor_free(&a);
    va_tensor_free(&b);
}
END_TEST

START_TEST(test_channel_mean_max) {
    va_error err = {0};
    const int64_t shapes[][4] = {{2, 17, 13, 11}, {1, 1, 7, 5}, {2, 9, 47, 45}};
    for (size_t k = 0; k < 3; k++) {
        const int64_t N = shapes[k][0], C = shapes[k][1], H = shapes[k][2], W = shapes[k][3];
        va_tensor x = random4(N, C, H, W, 50u + (uint32_t)k);
        va_tensor ya = tensor4(N, 1, H, W), ym = tensor4(N, 1, H, W);
        ck_assert_int_eq(va_channel_mean(&x, &ya, &err), VA_OK);
        ck_assert_int_eq(va_channel_max(&x, &ym, &err), VA_OK);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < H * W; i++) {
                double s = 0;
                float m = -INFINITY;
                for (int64_t c = 0; c < C; c++) {
                    const float v = x.data[(n * C + c) * H * W + i];
                    s += v;
                    if (v > m) m = v;
                }
                ck_assert(fabs(ya.data[n * H * W + i] - s / C) < 1e-6);
                ck_assert(ym.data[n * H * W + i] == m);
            }
        va_tensor_free(&x);
        va_tensor_free(&ya);
        va_tensor_free(&ym);
    }
    va_tensor x = random4(2, 3, 7, 5, 1), bad = tensor4(2, 3, 7, 5);
    check_error(va_channel_mean(&x, &bad, &err), VA_ERR_SHAPE, &err, "2x1x7x5");
    check_error(va_channel_max(&x, &bad, &err), VA_ERR_SHAPE, &err, "va_channel_max");
    va_tensor_free(&x);
    va_tensor_free(&bad);
}
END_TEST

/* ---- Softmax --------------------------------------------------------------------------------- */

static void naive_softmax(const va_tensor *x, int axis, double *out) {
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++)
        inner *= x->shape[i];
    const int64_t L = x->shape[axis];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const float *xp = x->data + o * L * inner + j;
            double m = -INFINITY, s = 0;
            for (int64_t l = 0; l < L; l++)
                m = fmax(m, xp[l * inner]);
            for (int64_t l = 0; l < L; l++)
                s += exp(xp[l * inner] - m);
            for (int64_t l = 0; l < L; l++)
                out[o * L * inner + j + l * inner] = exp(xp[l * inner] - m) / s;
        }
}

static void check_softmax(int nd, const int64_t *shape, float scale, uint32_t seed) {
    va_error err = {0};
    va_tensor x = tensor_nd(nd, shape), y = tensor_nd(nd, shape), z = tensor_nd(nd, shape);
    const int64_t total = va_numel(&x);
    va_test_fill_random(x.data, total, seed);
    for (int64_t i = 0; i < total; i++)
        x.data[i] *= scale;
    double *want = malloc((size_t)total * sizeof *want);
    for (int a = 0; a < nd; a++) {
        /* Alternate positive and negative spellings of the axis. */
        const int axis = a % 2 ? a - nd : a;
        naive_softmax(&x, a, want);
        ck_assert_int_eq(va_softmax(&x, axis, &y, &err), VA_OK);
        char what[32];
        snprintf(what, sizeof what, "%d-D axis %d", nd, axis);
        check_close_d(y.data, want, total, 1e-6, what);
        memcpy(z.data, x.data, (size_t)total * sizeof(float));
        ck_assert_int_eq(va_softmax(&z, axis, &z, &err), VA_OK);
        ck_assert_int_eq(memcmp(z.data, y.data, (size_t)total * sizeof(float)), 0);
    }
    free(want);
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_tensor_free(&z);
}

START_TEST(test_softmax_against_naive) {
    const int64_t s4[4] = {2, 17, 13, 11}, s3[3] = {3, 5, 7}, s1[1] = {29}, s2[2] = {1, 1};
    const int64_t big[3] = {2, 67, 251}, s6[6] = {2, 1, 3, 5, 2, 7};
    check_softmax(4, s4, 4.0f, 1);
    check_softmax(3, s3, 1.0f, 2);
    check_softmax(1, s1, 1.0f, 3);
    check_softmax(2, s2, 1.0f, 4);
    check_softmax(3, big, 2.0f, 5); /* threaded, and inner > block size */
    check_softmax(6, s6, 1.0f, 6);
    /* Rows of 1500: the long-row path along the last axis (shorter rows are done in blocks). */
    const int64_t s_long[2] = {3, 1500};
    check_softmax(2, s_long, 4.0f, 8);
    /* Large logits: only stable with the max subtracted. */
    check_softmax(3, s3, 500.0f, 7);
}
END_TEST

START_TEST(test_softmax_against_torch) {
    va_error err = {0};
    for (size_t k = 0; k < sizeof fx_softmax_cases / sizeof fx_softmax_cases[0]; k++) {
        const fx_softmax_case *fc = &fx_softmax_cases[k];
        va_tensor x = tensor_nd(fc->ndim, fc->shape), y = tensor_nd(fc->ndim, fc->shape);
        memcpy(x.data, fc->x, (size_t)va_numel(&x) * sizeof(float));
        ck_assert_int_eq(va_softmax(&x, fc->axis, &y, &err), VA_OK);
        char what[32];
        snprintf(what, sizeof what, "%d-D axis %d", fc->ndim, fc->axis);
        check_close(y.data, fc->y, va_numel(&y), TOL, what);
        /* The same axis counted from the end. */
        ck_assert_int_eq(va_softmax(&x, fc->axis - fc->ndim, &x, &err), VA_OK);
        check_close(x.data, fc->y, va_numel(&x), TOL, what);
        va_tensor_free(&x);
        va_tensor_free(&y);
    }
}
END_TEST

/* Element l of row r in a softmax test tensor: R rows of L along the last axis, or along axis 0
 * of an L x R tensor. */
static int64_t sm_index(int strided, int64_t R, int64_t L, int64_t r, int64_t l) {
    return strided ? l * R + r : r * L + l;
}

/* Rows holding NaN, -inf or +inf, along the last axis (short and long rows) and along a strided
 * axis: PyTorch's results are NaN for the whole row for NaN or +inf (x - max is NaN somewhere),
 * NaN for an all -inf row, and exact zeros for -inf entries (masked logits) among finite ones. */
START_TEST(test_softmax_specials) {
    va_error err = {0};
    const int64_t lens[] = {37, 1100};
    for (int li = 0; li < 2; li++)
        for (int strided = 0; strided < 2; strided++) {
            const int64_t L = lens[li], R = 5;
            const int64_t shape[2] = {strided ? L : R, strided ? R : L};
            va_tensor x = tensor_nd(2, shape), y = tensor_nd(2, shape);
            va_test_fill_random(x.data, L * R, 21u + (uint32_t)li);
#define AT(r, l) x.data[sm_index(strided, R, L, r, l)]
#define OUT(r, l) y.data[sm_index(strided, R, L, r, l)]
            AT(1, L / 2) = NAN;
            AT(2, 3) = -INFINITY;
            AT(2, L - 1) = -INFINITY;
            AT(3, 5) = INFINITY;
            for (int64_t l = 0; l < L; l++)
                AT(4, l) = -INFINITY;
            ck_assert_int_eq(va_softmax(&x, strided ? 0 : 1, &y, &err), VA_OK);
            double s0 = 0.0, s2 = 0.0;
            for (int64_t l = 0; l < L; l++) {
                s0 += OUT(0, l);
                s2 += OUT(2, l);
                ck_assert(isnan(OUT(1, l)) && isnan(OUT(3, l)) && isnan(OUT(4, l)));
                ck_assert(OUT(0, l) > 0.0f && (OUT(2, l) > 0.0f || l == 3 || l == L - 1));
            }
            ck_assert(OUT(2, 3) == 0.0f && OUT(2, L - 1) == 0.0f);
            ck_assert(fabs(s0 - 1.0) < 1e-5 && fabs(s2 - 1.0) < 1e-5);
#undef AT
#undef OUT
            va_tensor_free(&x);
            va_tensor_free(&y);
        }
}
END_TEST

/* A large plane far from zero: float sums in one chain would lose ~1e-4 of the mean here. */
START_TEST(test_global_avgpool_large_plane) {
    va_error err = {0};
    va_tensor x = random4(1, 2, 700, 700, 31), y = tensor4(1, 2, 1, 1);
    const int64_t HW = 700 * 700;
    for (int64_t i = 0; i < 2 * HW; i++)
        x.data[i] = (i < HW ? 100.0f : -3.0f) + 0.01f * x.data[i];
    ck_assert_int_eq(va_global_avgpool(&x, &y, &err), VA_OK);
    for (int p = 0; p < 2; p++) {
        double s = 0.0;
        for (int64_t i = 0; i < HW; i++)
            s += x.data[p * HW + i];
        ck_assert_msg(fabs(y.data[p] - s / HW) <= 1e-6 * fabs(s / HW), "plane %d: %.9g vs %.9g", p,
                      (double)y.data[p], s / HW);
    }
    va_tensor_free(&x);
    va_tensor_free(&y);
}
END_TEST

START_TEST(test_softmax_errors) {
    va_error err = {0};
    va_tensor x = random4(2, 3, 5, 7, 1), y = tensor4(2, 3, 7, 5);
    check_error(va_softmax(&x, 4, &x, &err), VA_ERR_ARG, &err, "axis 4");
    check_error(va_softmax(&x, -5, &x, &err), VA_ERR_ARG, &err, "2x3x5x7");
    check_error(va_softmax(&x, 1, &y, &err), VA_ERR_SHAPE, &err, "2x3x7x5");
    va_tensor shifted = x;
    shifted.data = x.data + 3;
    shifted.shape[0] = 1;
    va_tensor x1 = x;
    x1.shape[0] = 1;
    check_error(va_softmax(&x1, 1, &shifted, &err), VA_ERR_ARG, &err, "overlaps");
    check_error(va_softmax(NULL, 1, &y, &err), VA_ERR_ARG, &err, "va_softmax");
    va_tensor_free(&x);
    va_tensor_free(&y);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops");
    struct {
        const char *name;
        const TTest *tests[12];
    } groups[] = {
        {"mathf", {test_mathf_exp, test_mathf_sigmoid, test_mathf_div6}},
        {"activations",
         {test_act_names, test_act_against_naive, test_act_extremes_and_nan, test_act_against_torch,
          test_act_specials_vectorised, test_act_hard_exact, test_scale, test_scale_large}},
        {"broadcast", {test_binary_all_broadcasts, test_binary_gates_large, test_binary_errors}},
        {"layout",
         {test_permute_all_4d, test_permute_other_ranks, test_permute_errors, test_channel_shuffle,
          test_pad2d, test_resize_against_torch, test_resize_against_naive,
          test_resize_identity_and_errors, test_concat_channels, test_empty_tensors}},
        {"norm",
         {test_batchnorm, test_fold_batchnorm, test_group_norm_against_naive,
          test_group_norm_against_torch}},
        {"pool",
         {test_global_pools, test_global_avgpool_large_plane, test_pool2d_against_naive,
          test_pool2d_errors, test_channel_mean_max}},
        {"softmax",
         {test_softmax_against_naive, test_softmax_against_torch, test_softmax_specials,
          test_softmax_errors}},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        TCase *tc = tcase_create(groups[g].name);
        tcase_set_timeout(tc, 60);
        for (int t = 0; t < 12 && groups[g].tests[t]; t++)
            tcase_add_test(tc, groups[g].tests[t]);
        suite_add_tcase(s, tc);
    }
    return va_test_run(s);
}
