/* Private to CInt8Kernels: the AVX-512 output stage shared by the VNNI GEMMs (int8_vnni.c, int8_vnni256.c) and
 * the other AVX-512 int8 kernels (int8_avx512.c), and the target attributes they compile with. */
#ifndef CNNZ_INT8_AVX512_H
#define CNNZ_INT8_AVX512_H

#include "int8_common.h"

#ifdef CNNZ_HAVE_AVX2
#define CNNZ_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")))
#define CNNZ_VNNI512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define CNNZ_VNNI256 __attribute__((target("avx2,fma,avxvnni")))
#define CNNZ_INLINE static inline __attribute__((always_inline))

/* requantize8 (int8_common.h) on 16 lanes, the same integers. */
CNNZ_INLINE CNNZ_AVX512 __m512i requantize16(__m512i x, __m512i m, __m512i shift) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1);
    __m512i left = _mm512_max_epi32(shift, zero);
    __m512i right = _mm512_sub_epi32(zero, _mm512_min_epi32(shift, zero));
    x = _mm512_sllv_epi32(x, left);
    __m512i even = _mm512_mul_epi32(x, m);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(m, 32));
    const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30);
    even = _mm512_srli_epi64(_mm512_add_epi64(even, nudge), 31);
    odd = _mm512_slli_epi64(_mm512_srli_epi64(_mm512_add_epi64(odd, nudge), 31), 32);
    __m512i high = _mm512_mask_blend_epi32(0xAAAA, even, odd);
    /* Rounding right shift, ties away from zero. */
    __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
    __m512i remainder = _mm512_and_si512(high, mask);
    __m512i half = _mm512_srai_epi32(mask, 1);
    __m512i threshold = _mm512_mask_add_epi32(half, _mm512_cmplt_epi32_mask(high, zero), half, one);
    __m512i v = _mm512_srav_epi32(high, right);
    return _mm512_mask_add_epi32(v, _mm512_cmpgt_epi32_mask(remainder, threshold), v, one);
}

/* Clamp, zero point, and the lanes in `lanes` stored as int8: as finish8 (int8_common.h), the
 * clamp first, to [min - zero point, max - zero point], so that nothing wraps around. */
CNNZ_INLINE CNNZ_AVX512 void finish16(__m512i v, const cnnz_qs8_output *out, __mmask16 lanes, int8_t *c) {
    v = _mm512_max_epi32(v, _mm512_set1_epi32(out->min - out->zero_point));
    v = _mm512_min_epi32(v, _mm512_set1_epi32(out->max - out->zero_point));
    v = _mm512_add_epi32(v, _mm512_set1_epi32(out->zero_point));
    _mm512_mask_cvtsepi32_storeu_epi8(c, lanes, v);
}

/* Columns column..<column + width (width <= 16) of one row of sums. */
CNNZ_INLINE CNNZ_AVX512 void store16(__m512i sum, size_t column, size_t width, const cnnz_qs8_output *out,
                                     int8_t *c) {
    if (out->table) {
        int32_t sums[16];
        _mm512_storeu_si512(sums, sum);
        for (size_t j = 0; j < width; j++) c[j] = store(sums[j], column + j, out);
        return;
    }
    __mmask16 lanes = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
    __m512i x = _mm512_add_epi32(sum, _mm512_maskz_loadu_epi32(lanes, out->bias + column));
    __m512i v = requantize16(x, _mm512_maskz_loadu_epi32(lanes, out->multiplier + column),
                             _mm512_maskz_loadu_epi32(lanes, out->shift + column));
    finish16(v, out, lanes, c);
}


/* store16 with one panel's per-column parameters loaded once for all the rows of a tile. */
typedef struct {
    __m512i bias, multiplier, left, right, mask, half;
    __mmask16 lanes;
    int shifts_left;
} cnnz_panel16;

CNNZ_INLINE CNNZ_AVX512 cnnz_panel16 panel16(size_t column, size_t width, const cnnz_qs8_output *out) {
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
    cnnz_panel16 p;
    p.lanes = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
    p.bias = _mm512_maskz_loadu_epi32(p.lanes, out->bias + column);
    p.multiplier = _mm512_maskz_loadu_epi32(p.lanes, out->multiplier + column);
    __m512i shift = _mm512_maskz_loadu_epi32(p.lanes, out->shift + column);
    p.left = _mm512_max_epi32(shift, zero);
    p.shifts_left = _mm512_test_epi32_mask(p.left, p.left) != 0;
    p.right = _mm512_sub_epi32(zero, _mm512_min_epi32(shift, zero));
    p.mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, p.right), one);
    p.half = _mm512_srai_epi32(p.mask, 1);
    return p;
}

/* requantize16 and finish16 of sum + bias, the same integers. */
CNNZ_INLINE CNNZ_AVX512 void store16_panel(__m512i sum, const cnnz_panel16 *p, const cnnz_qs8_output *out,
                                           int8_t *c) {
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
    __m512i x = _mm512_add_epi32(sum, p->bias);
    if (p->shifts_left) x = _mm512_sllv_epi32(x, p->left);
    __m512i even = _mm512_mul_epi32(x, p->multiplier);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(p->multiplier, 32));
    const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30);
    even = _mm512_srli_epi64(_mm512_add_epi64(even, nudge), 31);
    odd = _mm512_slli_epi64(_mm512_srli_epi64(_mm512_add_epi64(odd, nudge), 31), 32);
    __m512i high = _mm512_mask_blend_epi32(0xAAAA, even, odd);
    __m512i remainder = _mm512_and_si512(high, p->mask);
    __m512i threshold = _mm512_mask_add_epi32(p->half, _mm512_cmplt_epi32_mask(high, zero), p->half, one);
    __m512i v = _mm512_srav_epi32(high, p->right);
    v = _mm512_mask_add_epi32(v, _mm512_cmpgt_epi32_mask(remainder, threshold), v, one);
    finish16(v, out, p->lanes, c);
}
#endif

#endif
