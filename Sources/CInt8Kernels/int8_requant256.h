/* Private to CInt8Kernels: the short exact output stage of int8_requant512.h on AVX2 (8 int32
 * lanes), for the AVX2 depthwise rows (int8_dwconv_avx2.c) and Add (int8_add_quantize.c).
 *
 * The two roundings of a column with right shift r in 1...23 and no left shift are one floor
 * (int8_requant512.h): v = floor((x * m + K) / 2^T) with T = 31 + r and
 * K = 2^30 + 2^(r+30) + zero point * 2^T (minus 2^31 where x * m < -2^30 and the clamp can see
 * it), v being the requantized value plus the zero point. |x * m + K| < 2^62 + 2^61 + 2^55.
 * AVX2 has 64-bit products (vpmuldq) and variable logical shifts (vpsrlvq) but no 64-bit
 * arithmetic shift, so 2^63 joins K: x * m + K + 2^63 is then in [0, 2^64) as an unsigned
 * number, and its logical shift by T is floor((x * m + K) / 2^T) + 2^(63 - T) exactly (2^T
 * divides 2^63). The quotient fits int32, so the low dword minus 2^(63 - T) (mod 2^32) is v.
 * Odd lanes shift by T - 32 instead, which leaves the same dword in the high half of their
 * 64-bit lane (floor(floor(u / 2^(T - 32)) / 2^32) = floor(u / 2^T)), where a blend takes it.
 * The bytes: the int32 v saturated to int8 by the packs, then the clamp (min and max are within
 * [-128, 127], so clamping after saturating is the same as before). */
#ifndef CNNZ_INT8_REQUANT256_H
#define CNNZ_INT8_REQUANT256_H

#include "int8_common.h"

#ifdef CNNZ_HAVE_AVX2
#define CNNZ_AVX2_TARGET __attribute__((target("avx2")))
#define CNNZ_AVX2_INLINE static inline __attribute__((always_inline, target("avx2")))
/* With FMA as well, for the float form (the int8 level AVX2 requires both, cnnz_cpu_has_avx2_fma). */
#define CNNZ_AVX2F_TARGET __attribute__((target("avx2,fma")))
#define CNNZ_AVX2F_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* Eight columns' parameters of the short form. */
typedef struct {
    __m256i bias;
    __m256i multiplier_odd;          /* m of the odd lanes in the low dword of each qword */
    __m256i multiplier;              /* vpmuldq reads the even lanes' m from the low dwords */
    __m256i constant_even, constant_odd; /* K + 2^63 */
    __m256i shift_even, shift_odd;   /* T, T - 32 */
    __m256i offset;                  /* 2^(63 - T) mod 2^32 */
    __m128i min, max;
    /* The general form (requantize8, any shift; the GEMM tiles of int8_tile_avx2.h): each
     * lane's shift, and the zero point. */
    __m256i shift, zero_point;
    /* Whether every column has r in 1...23 and no left shift (short_form), that and no table
     * (fast: else the caller uses store_columns8), and whether the step for x * m < -2^30 can
     * change a byte (not when min >= the zero point: it only moves values at or below the zero
     * point). */
    int fast, corrects, short_form;
    /* The float form of the 8 columns (requant8_float_as), when requant8_float_parameters found
     * one for each: float_form 1, or 2 with a constant per sign (split); else 0. */
    __m256 float_scale, float_constant, float_constant_negative;
    int float_form;
} cnnz_requant8;

/* The parameters of columns column..<column + width (width 0...8: 0 for a tile group's absent
 * second panel) of out; lanes past width
 * read nothing (masked loads) and are never stored. */
CNNZ_AVX2_INLINE cnnz_requant8 requant8_parameters(size_t column, size_t width, const cnnz_qs8_output *out) {
    cnnz_requant8 p;
    __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)width), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    p.bias = _mm256_maskload_epi32(out->bias + column, lanes);
    __m256i m = _mm256_maskload_epi32(out->multiplier + column, lanes);
    /* Lanes past width as shift -1 (a valid short form): their values are never stored. */
    __m256i shift = _mm256_blendv_epi8(_mm256_set1_epi32(-1), _mm256_maskload_epi32(out->shift + column, lanes), lanes);
    __m256i slow = _mm256_or_si256(_mm256_cmpgt_epi32(shift, _mm256_set1_epi32(-1)),
                                   _mm256_cmpgt_epi32(_mm256_set1_epi32(-23), shift));
    p.short_form = _mm256_testz_si256(slow, slow);
    p.fast = p.short_form && !out->table;
    p.shift = shift;
    p.zero_point = _mm256_set1_epi32(out->zero_point);
    p.corrects = out->min < out->zero_point;
    p.multiplier = m;
    p.multiplier_odd = _mm256_srli_epi64(m, 32);
    /* Opaque to the compiler: seeing the odd multipliers zero-extended, clang rewrote vpmuldq as
     * vpmuludq and sign corrections. */
    __asm__("" : "+x"(p.multiplier), "+x"(p.multiplier_odd));
    __m256i r = _mm256_sub_epi32(_mm256_setzero_si256(), shift);
    const __m256i low = _mm256_set1_epi64x(0xFFFFFFFF);
    __m256i r_even = _mm256_and_si256(r, low), r_odd = _mm256_srli_epi64(r, 32);
    const __m256i thirty = _mm256_set1_epi64x(30), thirty_one = _mm256_set1_epi64x(31), one = _mm256_set1_epi64x(1);
    const __m256i base = _mm256_set1_epi64x((int64_t)((1ull << 63) + (1ull << 30)));
    const __m256i zero_point = _mm256_set1_epi64x(out->zero_point);
    p.shift_even = _mm256_add_epi64(r_even, thirty_one);
    __m256i total_odd = _mm256_add_epi64(r_odd, thirty_one);
    p.shift_odd = _mm256_sub_epi64(total_odd, _mm256_set1_epi64x(32));
    p.constant_even = _mm256_add_epi64(_mm256_add_epi64(base, _mm256_sllv_epi64(one, _mm256_add_epi64(r_even, thirty))),
                                       _mm256_sllv_epi64(zero_point, p.shift_even));
    p.constant_odd = _mm256_add_epi64(_mm256_add_epi64(base, _mm256_sllv_epi64(one, _mm256_add_epi64(r_odd, thirty))),
                                      _mm256_sllv_epi64(zero_point, total_odd));
    /* 2^(63 - T) = 2^(32 - r), which is 2^31 (INT32_MIN) for r = 1: subtracting it mod 2^32 is right. */
    p.offset = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(_mm256_set1_epi32(32), r));
    p.min = _mm_set1_epi8((char)out->min);
    p.max = _mm_set1_epi8((char)out->max);
    p.float_scale = p.float_constant = p.float_constant_negative = _mm256_setzero_ps();
    p.float_form = 0;
    return p;
}

/* The short form of sums x (with the bias, or without where add_bias): the requantized values
 * plus the zero point, int32, exact. corrects: a constant, p->corrects or 1. */
CNNZ_AVX2_INLINE __m256i requant8_fast_as(__m256i x, const cnnz_requant8 *p, const int corrects, const int add_bias) {
    if (add_bias) x = _mm256_add_epi32(x, p->bias);
    __m256i even = _mm256_mul_epi32(x, p->multiplier);
    __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), p->multiplier_odd);
    __m256i q_even = _mm256_add_epi64(even, p->constant_even);
    __m256i q_odd = _mm256_add_epi64(odd, p->constant_odd);
    if (corrects) {
        const __m256i limit = _mm256_set1_epi64x(-((int64_t)1 << 30)), step = _mm256_set1_epi64x((int64_t)1 << 31);
        q_even = _mm256_sub_epi64(q_even, _mm256_and_si256(_mm256_cmpgt_epi64(limit, even), step));
        q_odd = _mm256_sub_epi64(q_odd, _mm256_and_si256(_mm256_cmpgt_epi64(limit, odd), step));
    }
    q_even = _mm256_srlv_epi64(q_even, p->shift_even);
    q_odd = _mm256_srlv_epi64(q_odd, p->shift_odd);
    return _mm256_sub_epi32(_mm256_blend_epi32(q_even, q_odd, 0xAA), p->offset);
}

/* The float form of sums x (the bias included): the same int32 as requant8_fast_as where that
 * is inside [min, max] (and on the same side of it where not): 3 instructions for 8 values, 4
 * with split (a constant). */
CNNZ_AVX2F_INLINE __m256i requant8_float_as(__m256i x, const cnnz_requant8 *p, const int split) {
    __m256 c = split ? _mm256_blendv_ps(p->float_constant, p->float_constant_negative, _mm256_castsi256_ps(x))
                     : p->float_constant;
    return _mm256_cvtps_epi32(_mm256_fmadd_ps(_mm256_cvtepi32_ps(x), p->float_scale, c));
}

/* Whether MXCSR rounds to nearest (the float form's condition, checked per kernel call). */
CNNZ_AVX2_INLINE int requant8_rounds_to_nearest(void) { return (_mm_getcsr() & 0x6000) == 0; }

/* The float forms of columns column..<column + width of out into p (float_form 1 or 2), if every
 * one has one; else p->float_form 0. Lanes past width: scale 0. Prepare time only (a search per
 * column, int8_requant_float.c). */
CNNZ_AVX2_INLINE void requant8_float_parameters(size_t column, size_t width, const cnnz_qs8_output *out,
                                               cnnz_requant8 *p) {
    float scale[8] = {0}, constant[8] = {0}, negative[8] = {0};
    int split = 0;
    p->float_form = 0;
    cnnz_requant_float_column col = {out->zero_point, out->min, out->max};
    for (size_t i = 0; i < width; i++) {
        cnnz_requant_float form;
        if (!cnnz_requant_float_find(out->multiplier[column + i], out->shift[column + i], &col, &form)) return;
        scale[i] = form.scale;
        constant[i] = form.constant;
        negative[i] = form.constant_negative;
        split |= form.split;
    }
    for (size_t i = width; i < 8; i++) constant[i] = negative[i] = (float)out->zero_point;
    p->float_scale = _mm256_loadu_ps(scale);
    p->float_constant = _mm256_loadu_ps(constant);
    p->float_constant_negative = _mm256_loadu_ps(negative);
    p->float_form = split ? 2 : 1;
}

CNNZ_AVX2_INLINE __m256i requant8_fast(__m256i x, const cnnz_requant8 *p, const int corrects) {
    return requant8_fast_as(x, p, corrects, 1);
}

/* The 8 bytes of requant8_fast's values v, clamped (in the low half). */
CNNZ_AVX2_INLINE __m128i requant8_bytes(__m256i v, const cnnz_requant8 *p) {
    __m128i halves = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    __m128i bytes = _mm_packs_epi16(halves, halves);
    return _mm_min_epi8(_mm_max_epi8(bytes, p->min), p->max);
}

/* The 16 bytes of two vectors of requant8_fast's values, clamped, in order. */
CNNZ_AVX2_INLINE __m128i requant8_bytes16(__m256i v0, __m256i v1, const cnnz_requant8 *p) {
    /* vpackssdw works within 128-bit lanes: [v0 0-3, v1 0-3 | v0 4-7, v1 4-7], then qwords 0, 2, 1, 3. */
    __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xD8);
    __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    return _mm_min_epi8(_mm_max_epi8(bytes, p->min), p->max);
}

#endif

#endif
