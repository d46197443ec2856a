/* Private to CInt8Kernels: the 512-bit VNNI GEMM's output stage for four rows of 16 columns at
 * a time, the same integers as store() in int8_common.h with fewer instructions than store16:
 *
 * - One rounding instead of two. The reference computes y = floor((P + 2^30) / 2^31) with
 *   P = x * multiplier (gemmlowp's doubling high multiply; the multiplier is never INT32_MIN),
 *   then z = round(y / 2^e) ties away from zero, which for e > 0 is
 *   floor((y + 2^(e-1) - [y < 0]) / 2^e). Nested floors of divisions by powers of two fold:
 *   z = floor((P + 2^30 + (2^(e-1) - [y < 0]) * 2^31) / 2^(31+e)), and y < 0 exactly when
 *   P < -2^30. So per 64-bit product: add a per-column constant, subtract 2^31 where
 *   P < -2^30 (only when e > 0), one arithmetic shift by 31 + e. |P| < 2^62, so nothing
 *   overflows.
 * - The zero point, the clamp and the narrowing for four rows together: saturating packs to
 *   int16, the zero point added with int16 saturation, packs to int8, the clamp on bytes, then
 *   a dword transpose so each row's 16 bytes are one 128-bit lane. Saturating early gives the
 *   reference's bytes: a value that saturates int16 is beyond any int8 bound either way.
 *
 * No VBMI (Cascade Lake has VNNI without it): the transpose is vpermd. */
#ifndef CNNZ_INT8_VNNI_STORE_H
#define CNNZ_INT8_VNNI_STORE_H

#include "int8_avx512.h"

#ifdef CNNZ_HAVE_AVX2

/* One panel's per-column constants, loaded once per tile. The even and odd vectors hold, per
 * 64-bit lane, the values of the even and odd column of that lane's pair. */
typedef struct {
    __m512i bias, multiplier, multiplier_odd, left;
    __m512i round_even, round_odd; /* 2^30 + (e > 0 ? 2^(30+e) : 0) */
    __m512i fix_even, fix_odd;     /* e > 0 ? 2^31 : 0 */
    __m512i shift_even, shift_odd; /* 31 + e */
    __m512i zero_point, low, high; /* int16 zero point, int8 bounds */
    __mmask16 lanes;
    int shifts_left;
    /* Whether the [P < -2^30] correction can change a byte: not when the clamp's low bound is at
     * least the zero point (ReLU, ReLU6). The correction only moves results at or below 0 (y < 0
     * gives z <= 0 with or without it), and those all clamp to the low bound. */
    int corrects;
} cnnz_rows16;

CNNZ_INLINE CNNZ_VNNI512 void rows16_halves(__m512i e, __m512i *round, __m512i *fix, __m512i *shift) {
    __mmask8 positive = _mm512_test_epi64_mask(e, e);
    const __m512i one = _mm512_set1_epi64(1);
    *round = _mm512_add_epi64(_mm512_set1_epi64((int64_t)1 << 30),
                              _mm512_maskz_sllv_epi64(positive, one, _mm512_add_epi64(e, _mm512_set1_epi64(30))));
    *fix = _mm512_maskz_mov_epi64(positive, _mm512_set1_epi64((int64_t)1 << 31));
    *shift = _mm512_add_epi64(e, _mm512_set1_epi64(31));
}

CNNZ_INLINE CNNZ_VNNI512 cnnz_rows16 rows16_setup(size_t column, size_t width, const cnnz_qs8_output *out) {
    const __m512i zero = _mm512_setzero_si512();
    cnnz_rows16 p;
    p.lanes = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
    p.bias = _mm512_maskz_loadu_epi32(p.lanes, out->bias + column);
    p.multiplier = _mm512_maskz_loadu_epi32(p.lanes, out->multiplier + column);
    p.multiplier_odd = _mm512_srli_epi64(p.multiplier, 32);
    __m512i shift = _mm512_maskz_loadu_epi32(p.lanes, out->shift + column);
    p.left = _mm512_max_epi32(shift, zero);
    p.shifts_left = _mm512_test_epi32_mask(p.left, p.left) != 0;
    __m512i right = _mm512_sub_epi32(zero, _mm512_min_epi32(shift, zero));
    rows16_halves(_mm512_and_si512(right, _mm512_set1_epi64(0xFFFFFFFF)), &p.round_even, &p.fix_even, &p.shift_even);
    rows16_halves(_mm512_srli_epi64(right, 32), &p.round_odd, &p.fix_odd, &p.shift_odd);
    p.corrects = out->min < out->zero_point;
    p.zero_point = _mm512_set1_epi16((short)out->zero_point);
    p.low = _mm512_set1_epi8((char)out->min);
    p.high = _mm512_set1_epi8((char)out->max);
    return p;
}

/* requantize() of sum + bias on 16 lanes, before the zero point. */
CNNZ_INLINE CNNZ_VNNI512 __m512i rows16_requantize(__m512i sum, const cnnz_rows16 *p) {
    const __m512i limit = _mm512_set1_epi64(-((int64_t)1 << 30));
    __m512i x = _mm512_add_epi32(sum, p->bias);
    if (p->shifts_left) x = _mm512_sllv_epi32(x, p->left);
    __m512i even = _mm512_mul_epi32(x, p->multiplier);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), p->multiplier_odd);
    __m512i te = _mm512_add_epi64(even, p->round_even);
    __m512i to = _mm512_add_epi64(odd, p->round_odd);
    if (p->corrects) {
        te = _mm512_mask_sub_epi64(te, _mm512_cmplt_epi64_mask(even, limit), te, p->fix_even);
        to = _mm512_mask_sub_epi64(to, _mm512_cmplt_epi64_mask(odd, limit), to, p->fix_odd);
    }
    te = _mm512_srav_epi64(te, p->shift_even);
    to = _mm512_srav_epi64(to, p->shift_odd);
    /* The low dword of each odd result moved up into the odd dword. */
    return _mm512_mask_shuffle_epi32(te, 0xAAAA, to, _MM_PERM_CCAA);
}

/* Rows 0..<rows (1 to 4) of sums s0..s3, columns p's lanes, stored at c, c + ldc, ... */
CNNZ_INLINE CNNZ_VNNI512 void rows16_store4(__m512i s0, __m512i s1, __m512i s2, __m512i s3, const int rows,
                                            const cnnz_rows16 *p, int8_t *c, size_t ldc) {
    /* After the packs, 128-bit lane L holds rows 0..3's columns 4L..4L+3 as dwords L*4 + r. */
    const __m512i transpose = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i v0 = rows16_requantize(s0, p);
    __m512i v1 = rows > 1 ? rows16_requantize(s1, p) : v0;
    __m512i v2 = rows > 2 ? rows16_requantize(s2, p) : v0;
    __m512i v3 = rows > 3 ? rows16_requantize(s3, p) : v0;
    __m512i a = _mm512_adds_epi16(_mm512_packs_epi32(v0, v1), p->zero_point);
    __m512i b = _mm512_adds_epi16(_mm512_packs_epi32(v2, v3), p->zero_point);
    __m512i q = _mm512_packs_epi16(a, b);
    q = _mm512_min_epi8(_mm512_max_epi8(q, p->low), p->high);
    q = _mm512_permutexvar_epi32(transpose, q);
    if (p->lanes == 0xFFFF) {
        _mm_storeu_si128((__m128i *)c, _mm512_castsi512_si128(q));
        if (rows > 1) _mm_storeu_si128((__m128i *)(c + ldc), _mm512_extracti32x4_epi32(q, 1));
        if (rows > 2) _mm_storeu_si128((__m128i *)(c + 2 * ldc), _mm512_extracti32x4_epi32(q, 2));
        if (rows > 3) _mm_storeu_si128((__m128i *)(c + 3 * ldc), _mm512_extracti32x4_epi32(q, 3));
    } else {
        _mm_mask_storeu_epi8(c, p->lanes, _mm512_castsi512_si128(q));
        if (rows > 1) _mm_mask_storeu_epi8(c + ldc, p->lanes, _mm512_extracti32x4_epi32(q, 1));
        if (rows > 2) _mm_mask_storeu_epi8(c + 2 * ldc, p->lanes, _mm512_extracti32x4_epi32(q, 2));
        if (rows > 3) _mm_mask_storeu_epi8(c + 3 * ldc, p->lanes, _mm512_extracti32x4_epi32(q, 3));
    }
}

/* The store of an mr x np tile of sums (acc[r][p], row r and panel p): np parameters, or NULL
 * (an activation table, or too few rows to repay rows16_setup) for store16 per row. */
CNNZ_INLINE CNNZ_VNNI512 void tile512_store(const int mr, const int np, __m512i acc[8][4], size_t n, size_t column,
                                            const cnnz_rows16 *parameters, const cnnz_qs8_output *out, int8_t *c,
                                            size_t ldc) {
    for (int p = 0; p < np; p++) {
        size_t first = column + 16 * (size_t)p;
        if (first >= n) break;
        size_t width = n - first < 16 ? n - first : 16;
        if (!parameters) {
            for (int r = 0; r < mr; r++) store16(acc[r][p], first, width, out, c + r * ldc + first);
        } else {
            for (int r = 0; r < mr; r += 4) {
                const int rows = mr - r < 4 ? mr - r : 4;
                rows16_store4(acc[r][p], acc[rows > 1 ? r + 1 : r][p], acc[rows > 2 ? r + 2 : r][p],
                              acc[rows > 3 ? r + 3 : r][p], rows, parameters + p, c + r * ldc + first, ldc);
            }
        }
    }
}

/* The store constants of panels column / 16 ..< column / 16 + np into parameters; false (and
 * nothing computed) with an activation table. */
CNNZ_INLINE CNNZ_VNNI512 int tile512_parameters(const int np, size_t n, size_t column, const cnnz_qs8_output *out,
                                               cnnz_rows16 *parameters) {
    if (out->table) return 0;
    for (int p = 0; p < np; p++) {
        size_t first = column + 16 * (size_t)p;
        if (first < n) parameters[p] = rows16_setup(first, n - first < 16 ? n - first : 16, out);
    }
    return 1;
}

#endif

#endif
