/* Int8 GEMM microkernels for cnnz's int8 Conv2D and Dense (issue 14). Internal to cnnz:
 * no stable API. Both kernels compute the same integers: the AVX2 one only after
 * cnnz_cpu_has_avx2_fma() said yes; the portable one everywhere. */
#ifndef CINT8KERNELS_H
#define CINT8KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* How int32 sums become int8 outputs, per output column n: add bias[n], multiply by
 * multiplier[n] * 2^(shift[n] - 31) with TensorFlow Lite's rounding (a rounding doubling
 * high multiply, ties toward +infinity, then a rounding right shift, ties away from zero),
 * add zero_point, clamp to [min, max], and, when table is not NULL, map q to table[q + 128]. */
typedef struct {
    const int32_t *bias;
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t zero_point;
    int32_t min;
    int32_t max;
    const int8_t *table;
} cnnz_qs8_output;

/* Packed weights: panels of 8 columns; in panel p, for each pair of rows kp, 16 int16:
 * w[2kp][8p+0], w[2kp+1][8p+0], w[2kp][8p+1], w[2kp+1][8p+1], ... (zero past k and n).
 * a: m rows of 2*kpairs int16 (the input minus its zero point; zero past k), row stride lda.
 * c: m rows of n int8, row stride ldc. */
void cnnz_qs8_gemm_portable(size_t m, size_t n, size_t kpairs, const int16_t *a, size_t lda, const int16_t *packed,
                            const cnnz_qs8_output *out, int8_t *c, size_t ldc);
void cnnz_qs8_gemm_avx2(size_t m, size_t n, size_t kpairs, const int16_t *a, size_t lda, const int16_t *packed,
                        const cnnz_qs8_output *out, int8_t *c, size_t ldc);

/* The GEMM's store for one row of n int32 sums (columns 0..<n of out), with AVX2 when avx2 is
 * not 0 (the caller checked the CPU). For kernels that compute their own sums (depthwise). */
void cnnz_qs8_store_row(int avx2, const int32_t *sums, size_t n, const cnnz_qs8_output *out, int8_t *c);

/* One output pixel of a depthwise convolution with depth multiplier 1: for each channel j < n,
 * sum over t < taps of (inputs[t][j] - zero_point) * weights[t][j] (int32, wrapping), then the
 * store above into c[0..<n]. inputs[t] is the pixel under tap t (taps outside the input left out:
 * they add nothing), weights[t] that tap's n weights. With AVX2 (avx2 not 0, the caller checked
 * the CPU) eight channels at a time; sums: scratch for n int32 (the portable path and the tail). */
void cnnz_qs8_depthwise_pixel(int avx2, size_t n, size_t taps, const int8_t *const *inputs,
                              const int32_t *const *weights, int32_t zero_point, int32_t *sums,
                              const cnnz_qs8_output *out, int8_t *c);

/* TensorFlow Lite's int8 Add of two inputs: term k = requantize((q_k - zero_point[k]) << left_shift,
 * multiplier[k], shift[k]); c = the store above of term 0 + term 1 with out (column 0's bias,
 * which must be 0, multiplier and shift). The terms are below 2^27, so their sum fits int32. */
typedef struct {
    int32_t zero_point[2];
    int32_t multiplier[2];
    int32_t shift[2];
    int left_shift;
} cnnz_qs8_add;
void cnnz_qs8_add2(int avx2, size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add *p,
                   const cnnz_qs8_output *out, int8_t *c);

/* The same int32 -> int8 step for one value (for kernels without a GEMM, and the tests). */
int32_t cnnz_qs8_requantize(int32_t x, int32_t multiplier, int32_t shift);

#endif
