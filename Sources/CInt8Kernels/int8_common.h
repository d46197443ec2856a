/* Private to CInt8Kernels: the integer output stage shared by the int8 kernel files, scalar
 * and (on x86-64) AVX2, compiled per function for its instruction set. */
#ifndef CNNZ_INT8_COMMON_H
#define CNNZ_INT8_COMMON_H

#include "CInt8Kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CNNZ_HAVE_AVX2 1
#endif

/* gemmlowp's SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties toward +infinity. */
static inline int32_t high_multiply(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C's division truncates, as gemmlowp's */
}

/* gemmlowp's RoundingDivideByPOT: round(x / 2^exponent), ties away from zero. */
static inline int32_t divide_by_power_of_two(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t requantize(int32_t x, int32_t multiplier, int32_t shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return divide_by_power_of_two(high_multiply((int32_t)((uint32_t)x << left), multiplier), right);
}

/* The zero point is added in 64 bits: a requantized value within 128 of either end of int32
 * (extreme sums or biases with a multiplier near 2^31) must clamp to min or max, not overflow
 * (undefined behaviour) or wrap around. Every vector store clamps the true value likewise. */
static inline int8_t store(int32_t sum, size_t column, const cnnz_qs8_output *out) {
    int64_t v = (int64_t)requantize((int32_t)((uint32_t)sum + (uint32_t)out->bias[column]),
                                    out->multiplier[column], out->shift[column]) + out->zero_point;
    int32_t q = v < out->min ? out->min : (v > out->max ? out->max : (int32_t)v);
    return out->table ? out->table[q + 128] : (int8_t)q;
}

/* One element of the two-input Add (see the header). */
static inline int8_t add_one(int8_t a, int8_t b, const cnnz_qs8_add *p, const cnnz_qs8_output *out) {
    int32_t ta = requantize((int32_t)((uint32_t)(a - p->zero_point[0]) << p->left_shift), p->multiplier[0],
                                     p->shift[0]);
    int32_t tb = requantize((int32_t)((uint32_t)(b - p->zero_point[1]) << p->left_shift), p->multiplier[1],
                                     p->shift[1]);
    return store(ta + tb, 0, out);
}

#ifdef CNNZ_HAVE_AVX2
/* The store above for 8 columns at once, bit for bit: the rounding doubling high multiply as
 * two 64-bit products (even and odd lanes), nudged and shifted right by 31 (the result fits 32
 * bits, so the low half of a logical shift is the arithmetic one's), then the rounding right
 * shift per lane. The multiplier is at least 2^30 (never INT32_MIN), so gemmlowp's one
 * saturating case cannot occur. */
__attribute__((target("avx2"), always_inline)) static inline __m256i requantize8(__m256i x, __m256i m, __m256i shift) {
    __m256i zero = _mm256_setzero_si256();
    __m256i left = _mm256_max_epi32(shift, zero);
    __m256i right = _mm256_sub_epi32(zero, _mm256_min_epi32(shift, zero));
    x = _mm256_sllv_epi32(x, left);
    /* Even lanes, then odd lanes moved down. */
    __m256i even = _mm256_mul_epi32(x, m);
    __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m, 32));
    /* (ab + 1 - 2^30) / 2^31 truncated is floor((ab + 2^30) / 2^31) for negative ab, and
     * (ab + 2^30) / 2^31 truncated is the same floor for ab >= 0: one nudge for both. */
    const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    even = _mm256_add_epi64(even, nudge);
    odd = _mm256_add_epi64(odd, nudge);
    even = _mm256_srli_epi64(even, 31);
    odd = _mm256_slli_epi64(_mm256_srli_epi64(odd, 31), 32);
    __m256i high = _mm256_blend_epi32(even, odd, 0xAA);
    /* Rounding right shift, ties away from zero. */
    __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), right), _mm256_set1_epi32(1));
    __m256i remainder = _mm256_and_si256(high, mask);
    __m256i threshold = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), _mm256_cmpgt_epi32(zero, high));
    __m256i v = _mm256_srav_epi32(high, right);
    return _mm256_sub_epi32(v, _mm256_cmpgt_epi32(remainder, threshold));
}

/* Clamp, zero point, and 8 int8 stored: clamp(v + zero point, min, max) computed as
 * clamp(v, min - zero point, max - zero point) + zero point, which cannot wrap around where v is
 * near either end of int32 (the same instructions as adding first). */
__attribute__((target("avx2"), always_inline)) static inline void finish8(__m256i v, const cnnz_qs8_output *out, int8_t *c) {
    v = _mm256_max_epi32(v, _mm256_set1_epi32(out->min - out->zero_point));
    v = _mm256_min_epi32(v, _mm256_set1_epi32(out->max - out->zero_point));
    v = _mm256_add_epi32(v, _mm256_set1_epi32(out->zero_point));
    __m128i halves = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64((__m128i *)c, _mm_packs_epi16(halves, halves));
}

__attribute__((target("avx2"), always_inline)) static inline void store8(__m256i sum, size_t column, const cnnz_qs8_output *out,
                                                          int8_t *c) {
    __m256i x = _mm256_add_epi32(sum, _mm256_loadu_si256((const __m256i *)(out->bias + column)));
    __m256i v = requantize8(x, _mm256_loadu_si256((const __m256i *)(out->multiplier + column)),
                            _mm256_loadu_si256((const __m256i *)(out->shift + column)));
    finish8(v, out, c);
}

/* store_columns8's partial or table case, out of line: the common full case stays inline in
 * the GEMM loops, where a call would spill every accumulator (and run vzeroupper). */
__attribute__((target("avx2"), noinline)) static void store_columns8_partial(__m256i sum, size_t column,
                                                                            size_t width,
                                                                            const cnnz_qs8_output *out,
                                                                            int8_t *c) {
    if (out->table) {
        int32_t sums[8];
        _mm256_storeu_si256((__m256i *)sums, sum);
        for (size_t j = 0; j < width; j++) c[j] = store(sums[j], column + j, out);
        return;
    }
    __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)width), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i x = _mm256_add_epi32(sum, _mm256_maskload_epi32(out->bias + column, lanes));
    __m256i v = requantize8(x, _mm256_maskload_epi32(out->multiplier + column, lanes),
                            _mm256_maskload_epi32(out->shift + column, lanes));
    int8_t bytes[8];
    finish8(v, out, bytes);
    __builtin_memcpy(c, bytes, width);
}

/* store8 for the first width (1 to 8) columns: the parameters through masked loads (vpmaskmovd
 * reads nothing past width, so no padding is needed), then width bytes. With a table, per column. */
__attribute__((target("avx2"), always_inline)) static inline void store_columns8(__m256i sum, size_t column,
                                                                                 size_t width,
                                                                                 const cnnz_qs8_output *out,
                                                                                 int8_t *c) {
    if (width == 8 && !out->table)
        store8(sum, column, out, c);
    else
        store_columns8_partial(sum, column, width, out, c);
}

#endif

/* The AVX2 Add of two inputs (int8_add_quantize.c; see cnnz_qs8_add2). */
void cnnz_qs8_add2__avx2(size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add *p,
                         const cnnz_qs8_output *out, int8_t *c);

/* cnnz_qs8_maxpool_row at level CNNZ_INT8_AVX2 (int8_maxpool.c), windows of at most 64 taps. */
void cnnz_qs8_maxpool_row_avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy, int8_t *c);

/* Implemented with AVX-512 (F, BW, DQ, VL) in int8_avx512.c and int8_add_quantize.c; called only at level CNNZ_INT8_AVX512. */
void cnnz_qs8_add2_avx512(size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add *p,
                          const cnnz_qs8_output *out, int8_t *c);
void cnnz_qs8_store_row_avx512(const int32_t *sums, size_t n, const cnnz_qs8_output *out, int8_t *c);
/* cnnz_qs8_depthwise_row at level CNNZ_INT8_AVX512, for windows of at most 16 x 16 taps. */
void cnnz_qs8_depthwise_row_avx512(const int8_t *image, const cnnz_qs8_window *w, size_t oy, const int32_t *weights,
                                   int32_t zero_point, const cnnz_qs8_output *out, int8_t *c);
void cnnz_qs8_depthwise_pixel_avx512(size_t n, size_t taps, const int8_t *const *inputs,
                                     const int32_t *const *weights, int32_t zero_point, const cnnz_qs8_output *out,
                                     int8_t *c);

#endif
