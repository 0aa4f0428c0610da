/* Private to the library (core/ and modules/; not installed): float math that the compiler can
 * vectorise. libm's expf is an opaque call, so a loop over it runs one element at a time; these
 * inline versions use only arithmetic, compares and integer bit moves, with no branches and no
 * float-to-int conversion, so `omp simd` loops over them become straight-line vector code.
 * Accuracy: va_expf is within 0.9 ulp of exp over its normal range, the sigmoid within 2.5 ulp;
 * PyTorch's own CPU kernels use Sleef's vector expf (1 ulp), also not correctly rounded.
 *
 * Loops over these functions ask for VA_SIMDLEN lanes: GCC's default tuning for AVX-512 CPUs
 * prefers 256-bit vectors, but these loops are arithmetic-bound and run up to 1.5x faster on
 * 512-bit ones (measured on the exp loop); on narrower machines the loop is simply unrolled. */
#ifndef VISATTN_OPS_MATHF_H
#define VISATTN_OPS_MATHF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define VA_SIMDLEN 16

/* a * b + c, fused where the target has an FMA instruction (one rounding, and half the
 * instructions in a Horner chain); plain multiply-add elsewhere, never a libm call. */
#if defined(FP_FAST_FMAF)
#define VA_FMAF(a, b, c) fmaf(a, b, c)
#else
#define VA_FMAF(a, b, c) ((a) * (b) + (c))
#endif

/* 1.5 * 2^23 + 126. Adding it to a float of magnitude < 2^22 rounds that float to an integer n
 * and leaves n + 126 in the low mantissa bits, so shifting the bits left by 23 gives the exponent
 * field of 2^(n-1) directly. */
#define VA_EXP_SHIFTER 12583038.0f

/* exp(x). Relative error < 0.9 ulp for -86.9 <= x <= 88.72 (every 251st float checked against
 * double exp); +inf above 88.72 (overflow, as expf); 0 below -86.99, where exp is under 1.8e-38
 * (the smallest normal floats, then subnormals); NaN stays NaN.
 *
 * x = n ln2 + r with n = round(x / ln2), |r| <= ln2 / 2; ln2 is split in two (Cephes' split:
 * n * 0.693359375 is exact) so that r is accurate. exp(r) comes from a degree-6 polynomial
 * fitted for relative error on that interval (3e-9, far below float rounding). The polynomial's
 * coefficients are doubled (exact) and the scale is 2^(n-1): n = 128 then still has an exponent
 * field, so exp overflows to inf only where it should. */
static inline float va_expf(float x) {
    /* 89 keeps n <= 128; NaN passes (the comparison is false) and propagates. Nothing clamps
     * below: lanes under -87.5 are replaced by 0 at the end. */
    const float xc = x > 89.0f ? 89.0f : x;
    const float t = VA_FMAF(xc, 1.44269504088896341f, VA_EXP_SHIFTER);
    const float fn = t - VA_EXP_SHIFTER; /* n as a float, exactly */
    float r = VA_FMAF(fn, -0.693359375f, xc);
    r = VA_FMAF(fn, 2.12194440e-4f, r);
    /* 2 exp(r) = 2 + 2r + 2 c2 r^2 + ... + 2 c6 r^6, Horner. */
    float p = 2.76292209e-3f;
    p = VA_FMAF(p, r, 1.67374201e-2f);
    p = VA_FMAF(p, r, 8.33367780e-2f);
    p = VA_FMAF(p, r, 3.33330423e-1f);
    p = VA_FMAF(p, r, 9.99999881e-1f);
    p = VA_FMAF(p, r, 2.0f);
    p = VA_FMAF(p, r, 2.0f);
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits <<= 23; /* 2^(n-1); n = -126 gives +0 */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    const float e = p * scale;
    return x < -87.5f ? 0.0f : e;
}

/* Logistic function, in PyTorch's form 1 / (1 + exp(-x)) (its vectorised sigmoid kernel): for
 * x < -88.72 exp overflows to inf and the result is 0, as in PyTorch. */
static inline float va_sigmoidf(float x) {
    return 1.0f / (1.0f + va_expf(-x));
}

/* 1 + erf(z), the factor GELU needs, through erfc(|z|) = t exp(-z^2 + P(t)), t = 1 / (1 + |z|/2)
 * (the Chebyshev fit in Numerical Recipes' erfcc, relative error < 1.2e-7 for all z). Working
 * with erfc keeps 1 + erf(z) accurate in relative terms for z < 0 too, where computing erf first
 * and adding 1 cancels. */
static inline float va_one_plus_erff(float z) {
    const float a = fabsf(z);
    const float t = 1.0f / VA_FMAF(0.5f, a, 1.0f);
    float p = 0.17087277f;
    p = VA_FMAF(p, t, -0.82215223f);
    p = VA_FMAF(p, t, 1.48851587f);
    p = VA_FMAF(p, t, -1.13520398f);
    p = VA_FMAF(p, t, 0.27886807f);
    p = VA_FMAF(p, t, -0.18628806f);
    p = VA_FMAF(p, t, 0.09678418f);
    p = VA_FMAF(p, t, 0.37409196f);
    p = VA_FMAF(p, t, 1.00002368f);
    p = VA_FMAF(p, t, -1.26551223f);
    const float erfc = t * va_expf(p - a * a);
    return z < 0.0f ? erfc : 2.0f - erfc;
}

/* a / b given inv = 1.0f / b, without a division instruction (a vector division costs as much
 * as a dozen multiply-adds): the product a * inv corrected once by its exact remainder, which
 * gives the correctly rounded quotient (Markstein's theorem; no mismatch with a / b in 2e8
 * random trials) while a, b and the quotient are finite and normal. An infinite a gives NaN.
 * Without an FMA the correction is not exact, so this is a division there. */
static inline float va_div_recip(float a, float b, float inv) {
#if defined(FP_FAST_FMAF)
    const float q = a * inv;
    return fmaf(fmaf(-q, b, a), inv, q);
#else
    (void)inv;
    return a / b;
#endif
}

/* t / 6, for PyTorch's hardsigmoid and hardswish (which divide by 6): bit-identical to
 * t / 6.0f for every float t (all 2^32 checked) except where the quotient is subnormal
 * (|t| < 7e-38), which can be one subnormal ulp (1.4e-45) off. +-inf, where the correction
 * gives NaN, take the plain product: +-inf. */
static inline float va_div6f(float t) {
    const float q = va_div_recip(t, 6.0f, 1.0f / 6.0f);
    return q == q ? q : t * (1.0f / 6.0f);
}

#endif
