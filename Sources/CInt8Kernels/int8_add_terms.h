/* Private to CInt8Kernels: the terms of the int8 Add of two inputs with AVX-512 (TensorFlow Lite's
 * requantize((q - zero point) << 20, multiplier, shift) per input), shared by the Add kernel
 * (int8_add_quantize.c) and the Add fused into the VNNI GEMM's store (int8_vnni_store.h). */
#ifndef CNNZ_INT8_ADD_TERMS_H
#define CNNZ_INT8_ADD_TERMS_H

#include "int8_requant512.h"

#ifdef CNNZ_HAVE_AVX2
/* The shifted input terms of the Add without 64-bit products: with x = d << 20 (d = q - zero point,
 * |d| <= 255) the rounding doubling high multiply floor((x * m + 2^30) / 2^31) is
 * floor((d * m + 2^10) / 2^11) = d * (m >> 11) + floor((d * (m & 2047) + 2^10) / 2^11), every
 * product within 32 bits; then the rounding right shift by -shift (shift <= 0). */
typedef struct {
    __m512i zero_point, high, low, right, mask, half;
} cnnz_add_term;

CNNZ_INLINE CNNZ_AVX512 cnnz_add_term add_term(int32_t zero_point, int32_t multiplier, int32_t shift) {
    cnnz_add_term t;
    t.zero_point = _mm512_set1_epi32(zero_point);
    t.high = _mm512_set1_epi32(multiplier >> 11);
    t.low = _mm512_set1_epi32(multiplier & 2047);
    t.right = _mm512_set1_epi32(-shift);
    t.mask = _mm512_set1_epi32((int32_t)(((int64_t)1 << -shift) - 1));
    t.half = _mm512_srai_epi32(t.mask, 1);
    return t;
}

/* The term of 16 int8 values q, as int32 lanes. */
CNNZ_INLINE CNNZ_AVX512 __m512i add_term_of32(__m512i q, const cnnz_add_term *t) {
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
    __m512i d = _mm512_sub_epi32(q, t->zero_point);
    __m512i low = _mm512_srai_epi32(_mm512_add_epi32(_mm512_mullo_epi32(d, t->low), _mm512_set1_epi32(1024)), 11);
    __m512i high = _mm512_add_epi32(_mm512_mullo_epi32(d, t->high), low);
    __m512i remainder = _mm512_and_si512(high, t->mask);
    __m512i threshold = _mm512_mask_add_epi32(t->half, _mm512_cmplt_epi32_mask(high, zero), t->half, one);
    __m512i v = _mm512_srav_epi32(high, t->right);
    return _mm512_mask_add_epi32(v, _mm512_cmpgt_epi32_mask(remainder, threshold), v, one);
}

/* A term with one multiply fewer, for right shifts r <= 11 (S = 11 + r <= 22): the two roundings
 * of term = requantize(d << 20, m, -r) are one floor (see int8_requant512.h),
 *     term = floor((d * m + C) / 2^S),  C = 2^10 + 2^(r+10) - [d < 0] * 2^11  (r >= 1; 2^10 for r = 0),
 * and with m = high * 2^S + low (low < 2^S) that is d * high + ((d * low + C) >> S), where
 * |d * low + C| < 255 * 2^22 + 2^22 < 2^31. With d = q - zero point, the -zero point * high is
 * left to the caller (one constant for both terms) and -zero point * low is folded into C (the
 * wrapping int32 arithmetic is exact since the true value fits). */
typedef struct {
    __m512i high, low, zero_point, c_positive, c_negative;
    __m128i shift;
    int32_t offset; /* -zero_point * high, wrapping */
} cnnz_add_term2;

static inline int add_term2_fits(int32_t multiplier, int32_t shift) { return multiplier >= 0 && shift <= 0 && shift >= -11; }

CNNZ_INLINE CNNZ_AVX512 cnnz_add_term2 add_term2(int32_t zero_point, int32_t multiplier, int32_t shift) {
    cnnz_add_term2 t;
    int r = -shift, s = 11 + r;
    uint32_t high = (uint32_t)multiplier >> s, low = (uint32_t)multiplier & ((1u << s) - 1);
    uint32_t c = (1u << 10) + (r > 0 ? (1u << (r + 10)) : 0) - (uint32_t)zero_point * low;
    t.high = _mm512_set1_epi32((int32_t)high);
    t.low = _mm512_set1_epi32((int32_t)low);
    t.zero_point = _mm512_set1_epi32(zero_point);
    t.c_positive = _mm512_set1_epi32((int32_t)c);
    t.c_negative = _mm512_set1_epi32((int32_t)(c - (r > 0 ? (1u << 11) : 0)));
    t.shift = _mm_cvtsi32_si128(s);
    t.offset = (int32_t)(0u - (uint32_t)zero_point * high);
    return t;
}

/* The term without its offset, of 16 int8 values q as int32 lanes. */
CNNZ_INLINE CNNZ_AVX512 __m512i add_term2_of32(__m512i q, const cnnz_add_term2 *t) {
    __m512i c = _mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(q, t->zero_point), t->c_positive, t->c_negative);
    __m512i low = _mm512_sra_epi32(_mm512_add_epi32(_mm512_mullo_epi32(q, t->low), c), t->shift);
    return _mm512_add_epi32(_mm512_mullo_epi32(q, t->high), low);
}

/* The same of 16 bytes. */
CNNZ_INLINE CNNZ_AVX512 __m512i add_term_of(__m128i bytes, const cnnz_add_term *t) {
    return add_term_of32(_mm512_cvtepi8_epi32(bytes), t);
}

CNNZ_INLINE CNNZ_AVX512 __m512i add_term2_of(__m128i bytes, const cnnz_add_term2 *t) {
    return add_term2_of32(_mm512_cvtepi8_epi32(bytes), t);
}

/* Whether the vector terms above compute this Add (else add_one, element by element). */
static inline int add_vectorizes(const cnnz_qs8_add *p, const cnnz_qs8_output *out) {
    return !out->table && p->left_shift == 20 && p->shift[0] <= 0 && p->shift[1] <= 0 && p->multiplier[0] >= 0 &&
           p->multiplier[1] >= 0;
}

/* The store of the sum of the terms: column 0's parameters in every lane (its bias is 0). */
CNNZ_INLINE CNNZ_AVX512 cnnz_requant16 add_sum_parameters(const cnnz_qs8_output *out) {
    int32_t bias[16] = {0}, multiplier[16], shift[16];
    for (int j = 0; j < 16; j++) multiplier[j] = out->multiplier[0], shift[j] = out->shift[0];
    cnnz_qs8_output same = *out;
    same.bias = bias;
    same.multiplier = multiplier;
    same.shift = shift;
    return requant16_parameters(0, 16, &same);
}
#endif

#endif
