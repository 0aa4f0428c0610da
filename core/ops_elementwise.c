/* Activations, broadcasting add/mul, layout ops (permute, channel shuffle, pad, bilinear resize,
 * channel concat). Semantics follow PyTorch 1.13 on CPU in float32; each function names the
 * PyTorch op it mirrors and, where the order of float operations matters, which kernel. */
#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "ops_internal.h"
#include "ops_mathf.h"
#include "visattn/ops.h"

/* Work unit for splitting one long contiguous span across threads. */
#define SPAN_CHUNK ((int64_t)1 << 14)

/* 1/sqrt(2) as PyTorch's GELU uses it (M_SQRT1_2 is not in strict C11). */
#define VA_SQRT1_2 0.70710678118654752440f

/* ---- Activations ----------------------------------------------------------------------------- */

static const struct {
    const char *name;
    va_act act;
} act_names[] = {
    {"none", VA_ACT_NONE},
    {"relu", VA_ACT_RELU},
    {"relu6", VA_ACT_RELU6},
    {"silu", VA_ACT_SILU},
    {"gelu", VA_ACT_GELU},
    {"sigmoid", VA_ACT_SIGMOID},
    {"hardsigmoid", VA_ACT_HARDSIGMOID},
    {"hardswish", VA_ACT_HARDSWISH},
    {"tanh", VA_ACT_TANH},
    {"mish", VA_ACT_MISH},
    {"hardmish", VA_ACT_HARDMISH},
    {"swish", VA_ACT_SILU}, /* aliases last so va_act_name() finds the first name */
    {"identity", VA_ACT_NONE},
};

/* ASCII case-insensitive equality (strcasecmp is POSIX, not C11). */
static int same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

int va_act_from_name(const char *name) {
    if (!name) return -1;
    /* Case-insensitive so that nn class names ("ReLU", "Hardswish", "SiLU") parse too. */
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (same_name(name, act_names[i].name)) return (int)act_names[i].act;
    return -1;
}

const char *va_act_name(va_act act) {
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (act_names[i].act == act) return act_names[i].name;
    return "unknown";
}

/* The comparisons are written so that NaN propagates, as in PyTorch (NaN < 0 is false). */
static inline float relu6f(float x) {
    return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
}

/* One contiguous span of an activation, vectorised (ops_mathf.h). x and y are either the same
 * array or disjoint (API contract), so `omp simd` is safe even in place: every iteration reads
 * and writes only index i. */
static void act_span(va_act act, const float *x, float *y, int64_t n) {
    switch (act) {
    case VA_ACT_RELU:
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < 0.0f ? 0.0f : x[i];
        return;
    case VA_ACT_RELU6:
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < n; i++)
            y[i] = relu6f(x[i]);
        return;
    case VA_ACT_SILU:
        /* PyTorch's vectorised SiLU: x / (1 + exp(-x)), one division (not x * sigmoid(x)). */
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] / (1.0f + va_expf(-x[i]));
        return;
    case VA_ACT_GELU:
        /* PyTorch GeluKernel (approximate='none'): x * 0.5 * (1 + erf(x * M_SQRT1_2)). The
         * 1 + erf factor comes from a vectorisable erfc (ops_mathf.h): within an ulp of the
         * erff-based value, and closer to the exact one for x < -3 where 1 + erf cancels. */
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * 0.5f * va_one_plus_erff(x[i] * VA_SQRT1_2);
        return;
    case VA_ACT_SIGMOID:
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < n; i++)
            y[i] = va_sigmoidf(x[i]);
        return;
    case VA_ACT_HARDSIGMOID:
        /* PyTorch: min(max(x + 3, 0), 6) / 6 -- a true division, whose bits va_div_recip gives
         * here (the dividend is in [0, 6] or NaN, so va_div6f's guard for inf is not needed). */
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < n; i++)
            y[i] = va_div_recip(relu6f(x[i] + 3.0f), 6.0f, 1.0f / 6.0f);
        return;
    case VA_ACT_HARDSWISH:
        /* PyTorch: x * min(max(x + 3, 0), 6) / 6, evaluated left to right; va_div6f gives the
         * division's bits without a division instruction. */
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < n; i++)
            y[i] = va_div6f(x[i] * relu6f(x[i] + 3.0f));
        return;
    case VA_ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        return;
    case VA_ACT_MISH:
        /* timm's mish: x.mul(F.softplus(x).tanh()); softplus is x itself above 20 (beta 1). */
        for (int64_t i = 0; i < n; i++) {
            const float sp = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
            y[i] = x[i] * tanhf(sp);
        }
        return;
    case VA_ACT_HARDMISH:
        /* timm's in-place hard_mish (what EMO builds): x * (0.5 * clamp(x + 2, 0, 2)); the
         * comparisons let NaN through as torch.clamp does. */
#pragma omp simd simdlen(VA_SIMDLEN)
        for (int64_t i = 0; i < n; i++) {
            const float t = x[i] + 2.0f;
            y[i] = x[i] * (0.5f * (t < 0.0f ? 0.0f : (t > 2.0f ? 2.0f : t)));
        }
        return;
    case VA_ACT_NONE:
    default:
        if (y != x) memcpy(y, x, (size_t)n * sizeof(float));
        return;
    }
}

static void scale_span(float scale, const float *a, float *y, int64_t n) {
#pragma omp simd simdlen(VA_SIMDLEN)
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] * scale;
}

/* [*i0, *i1): thread t's share of n elements split in nt near-equal parts, each starting on a
 * multiple of 16 floats (a cache line) so that no line is written by two threads. */
static void thread_share(int64_t n, int t, int nt, int64_t *i0, int64_t *i1) {
    const int64_t per = ((n + nt - 1) / nt + 15) & ~(int64_t)15;
    *i0 = per * t < n ? per * t : n;
    *i1 = *i0 + per < n ? *i0 + per : n;
}

void va_act_apply(va_act act, const float *x, float *y, int64_t n) {
    if (n <= 0 || !x || !y) return;
    /* In place is y == x exactly; a shifted overlap would read outputs as inputs (and the simd
     * loops assume it away), and this call cannot report, so it writes nothing. */
    if (y != x && ranges_overlap(x, n, y, n)) return;
    if (!want_threads(n)) {
        act_span(act, x, y, n);
        return;
    }
#pragma omp parallel
    {
        int64_t i0, i1;
        thread_share(n, omp_get_thread_num(), omp_get_num_threads(), &i0, &i1);
        if (i1 > i0) act_span(act, x + i0, y + i0, i1 - i0);
    }
}

void va_scale(const float *a, float scale, float *y, int64_t n) {
    if (n <= 0 || !a || !y) return;
    if (y != a && ranges_overlap(a, n, y, n)) return; /* as va_act_apply */
    if (!want_threads(n)) {
        scale_span(scale, a, y, n);
        return;
    }
#pragma omp parallel
    {
        int64_t i0, i1;
        thread_share(n, omp_get_thread_num(), omp_get_num_threads(), &i0, &i1);
        if (i1 > i0) scale_span(scale, a + i0, y + i0, i1 - i0);
    }
}

/* ---- Broadcasting add / mul ------------------------------------------------------------------ */

typedef enum { BIN_ADD, BIN_MUL } bin_op;

/* y[i] = a[i * as] op b[i * bs] for i < n, with as, bs in {0, 1} (0: a broadcast scalar).
 * y may equal a or b exactly (in place), never overlap partially; hence no restrict. */
#define DEFINE_SPAN(NAME, OP)                                                                      \
    static void NAME(const float *a, int as, const float *b, int bs, float *y, int64_t n) {        \
        if (as && bs) {                                                                            \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) y[i] = a[i] OP b[i];               \
        } else if (as) {                                                                           \
            const float s = b[0];                                                                  \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) y[i] = a[i] OP s;                  \
        } else if (bs) {                                                                           \
            const float s = a[0];                                                                  \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) y[i] = s OP b[i];                  \
        } else {                                                                                   \
            const float v = a[0] OP b[0];                                                          \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = v;                                                                          \
        }                                                                                          \
    }
DEFINE_SPAN(span_add, +)
DEFINE_SPAN(span_mul, *)
#undef DEFINE_SPAN

static inline void span(bin_op op, const float *a, int as, const float *b, int bs, float *y,
                        int64_t n) {
    if (op == BIN_ADD)
        span_add(a, as, b, bs, y, n);
    else
        span_mul(a, as, b, bs, y, n);
}

/* An operand may share memory with y only by being y itself: same pointer and same shape. */
static va_status check_operand_alias(const va_tensor *t, const va_tensor *y, const char *op,
                                     const char *what, va_error *err) {
    if (!ranges_overlap(t->data, va_numel(t), y->data, va_numel(y))) return VA_OK;
    if (t->data == y->data && va_same_shape(t, y)) return VA_OK;
    char s1[SHAPE_BUF], s2[SHAPE_BUF];
    return va_fail(err, VA_ERR_ARG,
                   "%s: y (%s) aliases %s (%s); only an operand of y's shape may be overwritten",
                   op, va_shape_str(y, s1, sizeof s1), what, va_shape_str(t, s2, sizeof s2));
}

/* Element strides of a 4-D operand inside the broadcast output: 0 along broadcast dims. */
static void bcast_strides(const va_tensor *t, int64_t st[4]) {
    int64_t s = 1;
    for (int d = 3; d >= 0; d--) {
        st[d] = t->shape[d] == 1 ? 0 : s;
        s *= t->shape[d];
    }
}

static va_status binary(bin_op op, const char *name, const va_tensor *a, const va_tensor *b,
                        va_tensor *y, va_error *err) {
    VA_TRY(check_4d(a, name, "a", err));
    VA_TRY(check_4d(b, name, "b", err));
    VA_TRY(check_4d(y, name, "y", err));
    char sa[SHAPE_BUF], sb[SHAPE_BUF], sy[SHAPE_BUF];
    int64_t out[4];
    for (int d = 0; d < 4; d++) {
        int64_t da = a->shape[d], db = b->shape[d];
        if (da != db && da != 1 && db != 1)
            return va_fail(err, VA_ERR_SHAPE, "%s: a %s and b %s do not broadcast (dim %d)", name,
                           va_shape_str(a, sa, sizeof sa), va_shape_str(b, sb, sizeof sb), d);
        out[d] = da == 1 ? db : da;
    }
    for (int d = 0; d < 4; d++)
        if (y->shape[d] != out[d])
            return va_fail(err, VA_ERR_SHAPE,
                           "%s: a %s and b %s broadcast to %lldx%lldx%lldx%lld, but y is %s", name,
                           va_shape_str(a, sa, sizeof sa), va_shape_str(b, sb, sizeof sb),
                           (long long)out[0], (long long)out[1], (long long)out[2],
                           (long long)out[3], va_shape_str(y, sy, sizeof sy));
    VA_TRY(check_operand_alias(a, y, name, "a", err));
    VA_TRY(check_operand_alias(b, y, name, "b", err));

    const int64_t total = va_numel(y);
    if (total == 0) return VA_OK;
    const float *pa = a->data, *pb = b->data;
    float *py = y->data;

    if (va_same_shape(a, y) && va_same_shape(b, y)) {
        /* Residual adds and same-shape products: one flat span, split in chunks. */
        const int64_t chunks = (total + SPAN_CHUNK - 1) / SPAN_CHUNK;
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
        for (int64_t k = 0; k < chunks; k++) {
            const int64_t i0 = k * SPAN_CHUNK;
            const int64_t len = total - i0 < SPAN_CHUNK ? total - i0 : SPAN_CHUNK;
            span(op, pa + i0, 1, pb + i0, 1, py + i0, len);
        }
        return VA_OK;
    }

    const int64_t C = out[1], H = out[2], W = out[3], HW = H * W;
    int64_t as[4], bs[4];
    bcast_strides(a, as);
    bcast_strides(b, bs);
    /* Each operand's H x W plane is either complete (contiguous, stride 1) or a single value.
     * This covers the attention gates: x * s(N,C,1,1) (channel) and x * s(N,1,H,W) (spatial). */
    const int a_full = a->shape[2] == H && a->shape[3] == W;
    const int b_full = b->shape[2] == H && b->shape[3] == W;
    const int a_one = a->shape[2] == 1 && a->shape[3] == 1;
    const int b_one = b->shape[2] == 1 && b->shape[3] == 1;
    if ((a_full || a_one) && (b_full || b_one)) {
        const int64_t planes = out[0] * C;
        const int64_t pieces = (HW + SPAN_CHUNK - 1) / SPAN_CHUNK;
        const int64_t tasks = planes * pieces;
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            const int64_t p = t / pieces, i0 = (t % pieces) * SPAN_CHUNK;
            const int64_t n = p / C, c = p % C;
            const int64_t len = HW - i0 < SPAN_CHUNK ? HW - i0 : SPAN_CHUNK;
            const float *ra = pa + n * as[0] + c * as[1] + (a_full ? i0 : 0);
            const float *rb = pb + n * bs[0] + c * bs[1] + (b_full ? i0 : 0);
            span(op, ra, a_full, rb, b_full, py + p * HW + i0, len);
        }
        return VA_OK;
    }

    /* General case (a row or column broadcast in H x W): one output row at a time. */
    const int64_t rows = out[0] * C * H;
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t h = r % H, nc = r / H, n = nc / C, c = nc % C;
        const float *ra = pa + n * as[0] + c * as[1] + h * as[2];
        const float *rb = pb + n * bs[0] + c * bs[1] + h * bs[2];
        span(op, ra, as[3] != 0, rb, bs[3] != 0, py + r * W, W);
    }
    return VA_OK;
}

va_status va_add(const va_tensor *a, const va_tensor *b, va_tensor *y, va_error *err) {
    return binary(BIN_ADD, "va_add", a, b, y, err);
}

va_status va_mul(const va_tensor *a, const va_tensor *b, va_tensor *y, va_error *err) {
    return binary(BIN_MUL, "va_mul", a, b, y, err);
}

/* ---- Permute --------------------------------------------------------------------------------- */

/* Square tile of a blocked transpose: 32 x 32 floats = 4 KB read side, fits L1 with the writes. */
#define TILE 32

va_status va_permute(const va_tensor *x, const int *perm, va_tensor *y, va_error *err) {
    static const char *op = "va_permute";
    VA_TRY(check_tensor(x, op, "x", err));
    VA_TRY(check_tensor(y, op, "y", err));
    if (!perm) return va_fail(err, VA_ERR_ARG, "%s: perm is NULL", op);
    const int nd = x->ndim;
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    if (y->ndim != nd)
        return va_fail(err, VA_ERR_SHAPE, "%s: x %s and y %s differ in ndim", op,
                       va_shape_str(x, sx, sizeof sx), va_shape_str(y, sy, sizeof sy));
    int p[VA_MAX_DIM], seen[VA_MAX_DIM] = {0};
    for (int i = 0; i < nd; i++) {
        /* Negative dims count from the end, as in Tensor.permute. */
        int d = perm[i] < 0 ? perm[i] + nd : perm[i];
        if (d < 0 || d >= nd || seen[d])
            return va_fail(err, VA_ERR_ARG,
                           "%s: perm is not a permutation of %d dims (entry %d is %d)", op, nd, i,
                           perm[i]);
        seen[d] = 1;
        p[i] = d;
    }
    for (int i = 0; i < nd; i++)
        if (y->shape[i] != x->shape[p[i]])
            return va_fail(err, VA_ERR_SHAPE,
                           "%s: y %s is not x %s permuted (dim %d should be %lld)", op,
                           va_shape_str(y, sy, sizeof sy), va_shape_str(x, sx, sizeof sx), i,
                           (long long)x->shape[p[i]]);
    VA_TRY(check_disjoint(x, y, op, "x", err));
    const int64_t total = va_numel(x);
    if (total == 0) return VA_OK;

    /* Walk y in order; each y dim reads x with stride xs[p[i]]. Drop size-1 dims and merge y dims
     * that are also adjacent in x, so e.g. NCHW -> NHWC becomes a batch of (C, HW) transposes. */
    int64_t xs[VA_MAX_DIM];
    for (int i = nd - 1; i >= 0; i--)
        xs[i] = i == nd - 1 ? 1 : xs[i + 1] * x->shape[i + 1];
    int64_t sz[VA_MAX_DIM], st[VA_MAX_DIM];
    int k = 0;
    for (int i = 0; i < nd; i++) {
        const int64_t size = y->shape[i], stride = xs[p[i]];
        if (size == 1) continue;
        if (k > 0 && st[k - 1] == stride * size) {
            sz[k - 1] *= size;
            st[k - 1] = stride;
        } else {
            sz[k] = size;
            st[k] = stride;
            k++;
        }
    }
    const float *restrict px = x->data;
    float *restrict py = y->data;
    if (k == 0 || (k == 1 && st[0] == 1)) {
        memcpy(py, px, (size_t)total * sizeof(float));
        return VA_OK;
    }
    /* y strides of the merged dims. */
    int64_t ys[VA_MAX_DIM];
    for (int i = k - 1; i >= 0; i--)
        ys[i] = i == k - 1 ? 1 : ys[i + 1] * sz[i + 1];
    const int64_t L = sz[k - 1], sl = st[k - 1];

    if (sl == 1) {
        /* Innermost run is contiguous in x too: copy rows. */
        const int64_t rows = total / L;
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            int64_t rem = r, off = 0;
            for (int i = k - 2; i >= 0; i--) {
                off += (rem % sz[i]) * st[i];
                rem /= sz[i];
            }
            memcpy(py + r * L, px + off, (size_t)L * sizeof(float));
        }
        return VA_OK;
    }

    /* Innermost y dim is strided in x. x's unit-stride dim is y dim m (it exists: size-1 dims were
     * dropped, and x's last dim of size > 1 has stride 1). Transpose (m, last) in tiles so each
     * x cache line read serves TILE outputs; the other dims form the batch. */
    int m = 0;
    while (m < k - 1 && st[m] != 1)
        m++;
    const int64_t M = sz[m];
    const int64_t tm = (M + TILE - 1) / TILE, tl = (L + TILE - 1) / TILE;
    const int64_t batch = total / (M * L);
    const int64_t tasks = batch * tm * tl;
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t bi = t / (tm * tl), tij = t % (tm * tl);
        const int64_t m0 = (tij / tl) * TILE, l0 = (tij % tl) * TILE;
        const int64_t m1 = m0 + TILE < M ? m0 + TILE : M, l1 = l0 + TILE < L ? l0 + TILE : L;
        /* Offsets of batch index bi over the dims other than m and k-1. */
        int64_t rem = bi, xo = 0, yo = 0;
        for (int i = k - 2; i >= 0; i--) {
            if (i == m) continue;
            const int64_t idx = rem % sz[i];
            rem /= sz[i];
            xo += idx * st[i];
            yo += idx * ys[i];
        }
        for (int64_t im = m0; im < m1; im++) {
            const float *xr = px + xo + im;
            float *yr = py + yo + im * ys[m];
            for (int64_t l = l0; l < l1; l++)
                yr[l] = xr[l * sl];
        }
    }
    return VA_OK;
}

/* ---- Channel shuffle ------------------------------------------------------------------------- */

va_status va_channel_shuffle(const va_tensor *x, int groups, va_tensor *y, va_error *err) {
    static const char *op = "va_channel_shuffle";
    VA_TRY(check_4d(x, op, "x", err));
    VA_TRY(check_4d(y, op, "y", err));
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    if (!va_same_shape(x, y))
        return va_fail(err, VA_ERR_SHAPE, "%s: x %s and y %s differ", op,
                       va_shape_str(x, sx, sizeof sx), va_shape_str(y, sy, sizeof sy));
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    if (groups <= 0 || C % groups != 0)
        return va_fail(err, VA_ERR_ARG, "%s: groups=%d does not divide the %lld channels of x %s",
                       op, groups, (long long)C, va_shape_str(x, sx, sizeof sx));
    VA_TRY(check_disjoint(x, y, op, "x", err));
    const int64_t total = va_numel(x);
    if (total == 0) return VA_OK;
    const int64_t cpg = C / groups;
    const float *restrict px = x->data;
    float *restrict py = y->data;
    /* x viewed as (N, g, C/g, H, W), transposed to (N, C/g, g, H, W): y channel j*g + i comes from
     * x channel i*(C/g) + j. */
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
    for (int64_t p = 0; p < N * C; p++) {
        const int64_t n = p / C, cy = p % C;
        const int64_t j = cy / groups, i = cy % groups;
        memcpy(py + p * HW, px + (n * C + i * cpg + j) * HW, (size_t)HW * sizeof(float));
    }
    return VA_OK;
}

/* ---- Pad ------------------------------------------------------------------------------------- */

va_status va_pad2d(const va_tensor *x, int top, int bottom, int left, int right, va_tensor *y,
                   va_error *err) {
    static const char *op = "va_pad2d";
    VA_TRY(check_4d(x, op, "x", err));
    VA_TRY(check_4d(y, op, "y", err));
    if (top < 0 || bottom < 0 || left < 0 || right < 0)
        return va_fail(err, VA_ERR_ARG, "%s: negative padding (top=%d bottom=%d left=%d right=%d)",
                       op, top, bottom, left, right);
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t OH = H + top + bottom, OW = W + left + right;
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    if (y->shape[0] != N || y->shape[1] != C || y->shape[2] != OH || y->shape[3] != OW)
        return va_fail(err, VA_ERR_SHAPE,
                       "%s: x %s padded by (%d, %d, %d, %d) is %lldx%lldx%lldx%lld, but y is %s",
                       op, va_shape_str(x, sx, sizeof sx), left, right, top, bottom, (long long)N,
                       (long long)C, (long long)OH, (long long)OW, va_shape_str(y, sy, sizeof sy));
    VA_TRY(check_disjoint(x, y, op, "x", err));
    const int64_t total = va_numel(y);
    if (total == 0) return VA_OK;
    const float *restrict px = x->data;
    float *restrict py = y->data;
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
    for (int64_t p = 0; p < N * C; p++) {
        float *yp = py + p * OH * OW;
        const float *xp = px + p * H * W;
        memset(yp, 0, (size_t)(top * OW) * sizeof(float));
        for (int64_t h = 0; h < H; h++) {
            float *yr = yp + (top + h) * OW;
            memset(yr, 0, (size_t)left * sizeof(float));
            memcpy(yr + left, xp + h * W, (size_t)W * sizeof(float));
            memset(yr + left + W, 0, (size_t)right * sizeof(float));
        }
        memset(yp + (top + H) * OW, 0, (size_t)(bottom * OW) * sizeof(float));
    }
    return VA_OK;
}

/* ---- Bilinear resize ------------------------------------------------------------------------- */

/* One axis of F.interpolate(mode="bilinear", align_corners=False) on CPU, PyTorch 1.13
 * (area_pixel_compute_source_index + compute_source_index_and_lambda): the ratio is a float,
 * float(in) / out, but `dst + 0.5` promotes to double, so the source position and the lambdas are
 * computed in double and narrowed to float at the end. (Doing it all in float is off by up to
 * 6e-5 at a few hundred pixels: the position's float ulp is 3e-5 there.) src clamps at 0; i1 is
 * i0 + 1 except at the last pixel; equal sizes copy. */
static inline void linear_index(float scale, int64_t dst, int64_t in, int64_t out, int64_t *i0,
                                int64_t *i1, float *l0, float *l1) {
    if (in == out) {
        *i0 = *i1 = dst;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    double src = (double)scale * ((double)dst + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    *i0 = (int64_t)src;
    if (*i0 > in - 1) *i0 = in - 1; /* float ratio rounding may overshoot the last pixel */
    *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
    double f = src - (double)*i0;
    f = f < 0.0 ? 0.0 : (f > 1.0 ? 1.0 : f);
    *l1 = (float)f;
    *l0 = (float)(1.0 - f);
}

/* Output columns per resize task: their source indices and weights are tabulated once per task
 * on the stack (no malloc) and reused for every output row of the plane. */
#define RS_COLS 256

va_status va_resize_bilinear(const va_tensor *x, va_tensor *y, va_error *err) {
    static const char *op = "va_resize_bilinear";
    VA_TRY(check_4d(x, op, "x", err));
    VA_TRY(check_4d(y, op, "y", err));
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t OH = y->shape[2], OW = y->shape[3];
    if (y->shape[0] != N || y->shape[1] != C)
        return va_fail(err, VA_ERR_SHAPE, "%s: x %s and y %s differ in N or C", op,
                       va_shape_str(x, sx, sizeof sx), va_shape_str(y, sy, sizeof sy));
    if ((H <= 0 || W <= 0 || OH <= 0 || OW <= 0) && N * C > 0)
        return va_fail(err, VA_ERR_SHAPE, "%s: empty spatial size (x %s, y %s)", op,
                       va_shape_str(x, sx, sizeof sx), va_shape_str(y, sy, sizeof sy));
    VA_TRY(check_disjoint(x, y, op, "x", err));
    const int64_t total = va_numel(y);
    if (total == 0) return VA_OK;
    /* PyTorch computes the ratio as float(in) / out (no scale_factor given). */
    const float rh = (float)H / (float)OH, rw = (float)W / (float)OW;
    const float *restrict px = x->data;
    float *restrict py = y->data;
    const int64_t chunks = (OW + RS_COLS - 1) / RS_COLS;
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
    for (int64_t t = 0; t < N * C * chunks; t++) {
        const int64_t p = t / chunks, j0 = (t % chunks) * RS_COLS;
        const int64_t len = OW - j0 < RS_COLS ? OW - j0 : RS_COLS;
        int64_t w0[RS_COLS], w1[RS_COLS];
        float lw0[RS_COLS], lw1[RS_COLS];
        for (int64_t j = 0; j < len; j++)
            linear_index(rw, j0 + j, W, OW, &w0[j], &w1[j], &lw0[j], &lw1[j]);
        const float *xp = px + p * H * W;
        /* PyTorch's separable Interpolate blends along the width first (t = x[h][w0] * lw0 +
         * x[h][w1] * lw1), then along the height. The width blends of an input row are the
         * same for every output row that uses it, so keep the last two (two rows of the cache
         * serve ~scale^2 outputs when upsampling). */
        float rows[2][RS_COLS];
        int64_t row_of[2] = {-1, -1};
        int next = 0;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t hi[2];
            float lh[2];
            linear_index(rh, oh, H, OH, &hi[0], &hi[1], &lh[0], &lh[1]);
            const float *t[2];
            for (int k = 0; k < 2; k++) {
                int slot = row_of[0] == hi[k] ? 0 : (row_of[1] == hi[k] ? 1 : -1);
                if (slot < 0) {
                    /* Never evict the row the other tap just took. */
                    slot = (k == 1 && t[0] == rows[next]) ? 1 - next : next;
                    next = 1 - slot;
                    const float *xr = xp + hi[k] * W;
                    float *tr = rows[slot];
                    for (int64_t j = 0; j < len; j++)
                        tr[j] = xr[w0[j]] * lw0[j] + xr[w1[j]] * lw1[j];
                    row_of[slot] = hi[k];
                }
                t[k] = rows[slot];
            }
            float *yr = py + (p * OH + oh) * OW + j0;
            const float *t0 = t[0], *t1 = t[1];
#pragma omp simd
            for (int64_t j = 0; j < len; j++)
                yr[j] = t0[j] * lh[0] + t1[j] * lh[1];
        }
    }
    return VA_OK;
}

/* ---- Concat ---------------------------------------------------------------------------------- */

va_status va_concat_channels(const va_tensor *a, const va_tensor *b, va_tensor *y, va_error *err) {
    static const char *op = "va_concat_channels";
    VA_TRY(check_4d(a, op, "a", err));
    VA_TRY(check_4d(b, op, "b", err));
    VA_TRY(check_4d(y, op, "y", err));
    char sa[SHAPE_BUF], sb[SHAPE_BUF], sy[SHAPE_BUF];
    const int64_t N = a->shape[0], Ca = a->shape[1], Cb = b->shape[1];
    const int64_t HW = a->shape[2] * a->shape[3];
    if (b->shape[0] != N || b->shape[2] != a->shape[2] || b->shape[3] != a->shape[3])
        return va_fail(err, VA_ERR_SHAPE, "%s: a %s and b %s differ outside dim 1", op,
                       va_shape_str(a, sa, sizeof sa), va_shape_str(b, sb, sizeof sb));
    if (y->shape[0] != N || y->shape[1] != Ca + Cb || y->shape[2] != a->shape[2] ||
        y->shape[3] != a->shape[3])
        return va_fail(err, VA_ERR_SHAPE, "%s: cat(a %s, b %s) needs y %lldx%lldx%lldx%lld, got %s",
                       op, va_shape_str(a, sa, sizeof sa), va_shape_str(b, sb, sizeof sb),
                       (long long)N, (long long)(Ca + Cb), (long long)a->shape[2],
                       (long long)a->shape[3], va_shape_str(y, sy, sizeof sy));
    VA_TRY(check_disjoint(a, y, op, "a", err));
    VA_TRY(check_disjoint(b, y, op, "b", err));
    const int64_t total = va_numel(y);
    if (total == 0) return VA_OK;
    const int64_t C = Ca + Cb;
    const float *pa = a->data, *pb = b->data;
    float *py = y->data;
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
    for (int64_t p = 0; p < N * C; p++) {
        const int64_t n = p / C, c = p % C;
        const float *src = c < Ca ? pa + (n * Ca + c) * HW : pb + (n * Cb + c - Ca) * HW;
        memcpy(py + p * HW, src, (size_t)HW * sizeof(float));
    }
    return VA_OK;
}
