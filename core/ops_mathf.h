/* Private to core/: float math that the compiler can vectorise. libm's expf is an opaque call, so
 * a loop over it runs one element at a time (about 8 ns each); these inline versions use only
 * arithmetic, compares and integer bit moves, so `omp simd` loops over them become vector code.
 * Accuracy is about 1 ulp, well inside the 1e-5 parity budget with PyTorch (whose own CPU
 * kernels use Sleef's vector expf, also not correctly rounded). */
#ifndef VISATTN_OPS_MATHF_H
#define VISATTN_OPS_MATHF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for x <= 0 (all that sigmoid and a max-subtracted softmax need). Results below the
 * smallest normal float flush to 0 (PyTorch would give a subnormal: an absolute difference under
 * 1.2e-38); NaN stays NaN.
 *
 * Cephes expf scheme: x = n ln2 + r with |r| <= ln2 / 2, ln2 split in two parts so that r is
 * exact, exp(r) by its degree-7 minimax polynomial, and 2^n assembled in the exponent bits. */
static inline float va_expf_neg(float x) {
    const float lo = -87.3365447f; /* ln(FLT_MIN): 2^n stays a normal number */
    /* NaN and anything below lo take the lo path here; the final select restores them. */
    const float xc = x >= lo ? (x <= 0.0f ? x : 0.0f) : lo;
    /* n = round(x / ln2) by the 1.5 * 2^23 trick: portable, and vectorises without SSE4.1. */
    const float fn = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (xc - fn * 0.693359375f) - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)fn + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    const float e = p * scale;
    return x != x ? x : (x < lo ? 0.0f : e);
}

/* Logistic function without overflow: the exponential only ever sees -|x|. */
static inline float va_sigmoidf(float x) {
    const float e = va_expf_neg(-fabsf(x));
    const float d = 1.0f + e;
    return x >= 0.0f ? 1.0f / d : e / d;
}

/* 1 + erf(z), the factor GELU needs, through erfc(|z|) = t exp(-z^2 + P(t)), t = 1 / (1 + |z|/2)
 * (the Chebyshev fit in Numerical Recipes' erfcc, relative error < 1.2e-7 for all z). Working
 * with erfc keeps 1 + erf(z) accurate in relative terms for z < 0 too, where computing erf first
 * and adding 1 cancels. */
static inline float va_one_plus_erff(float z) {
    const float a = fabsf(z);
    const float t = 1.0f / (1.0f + 0.5f * a);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float erfc = t * va_expf_neg(p - a * a);
    return z < 0.0f ? erfc : 2.0f - erfc;
}

#endif
