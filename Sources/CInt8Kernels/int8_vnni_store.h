/* Private to CInt8Kernels: the 512-bit VNNI GEMMs' output stage (int8_vnni.c, int8_igemm_vnni.c),
 * the same integers as store() in int8_common.h with fewer instructions than store16:
 *
 * - The requantization is int8_requant512.h's (TensorFlow Lite's two roundings as one floor of
 *   a 64-bit quotient), its per-column constants computed once per panel for all the row strips.
 * - The zero point, the clamp and the narrowing for four rows together: saturating packs to
 *   int16, the zero point added with int16 saturation, packs to int8, the clamp on bytes, then
 *   a dword transpose so each row's 16 bytes are one 128-bit lane. Saturating early gives the
 *   reference's bytes: a value that saturates int16 is beyond any int8 bound either way.
 *
 * No VBMI (Cascade Lake has VNNI without it): the transpose is vpermd. */
#ifndef CNNZ_INT8_VNNI_STORE_H
#define CNNZ_INT8_VNNI_STORE_H

#include "int8_requant512.h"

#ifdef CNNZ_HAVE_AVX2

/* Rows 0..<rows (1 to 4) of sums s0..s3, columns p's lanes, stored at c, c + ldc, ... */
CNNZ_INLINE CNNZ_VNNI512 void rows16_store4(__m512i s0, __m512i s1, __m512i s2, __m512i s3, const int rows,
                                            const cnnz_requant16 *p, int8_t *c, size_t ldc) {
    /* After the packs, 128-bit lane L holds rows 0..3's columns 4L..4L+3 as dwords L*4 + r. */
    const __m512i transpose = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i v0 = requant16_sums(s0, p, 1);
    __m512i v1 = rows > 1 ? requant16_sums(s1, p, 1) : v0;
    __m512i v2 = rows > 2 ? requant16_sums(s2, p, 1) : v0;
    __m512i v3 = rows > 3 ? requant16_sums(s3, p, 1) : v0;
    const __m512i zero_point = _mm512_packs_epi32(p->zero_point, p->zero_point); /* as int16 */
    __m512i a = _mm512_adds_epi16(_mm512_packs_epi32(v0, v1), zero_point);
    __m512i b = _mm512_adds_epi16(_mm512_packs_epi32(v2, v3), zero_point);
    __m512i q = _mm512_packs_epi16(a, b);
    q = _mm512_min_epi8(_mm512_max_epi8(q, _mm512_broadcast_i32x4(p->min)), _mm512_broadcast_i32x4(p->max));
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
 * (an activation table, or too few rows to repay requant16_parameters) for store16 per row. */
CNNZ_INLINE CNNZ_VNNI512 void tile512_store(const int mr, const int np, __m512i acc[8][4], size_t n, size_t column,
                                            const cnnz_requant16 *parameters, const cnnz_qs8_output *out, int8_t *c,
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
                                               cnnz_requant16 *parameters) {
    if (out->table) return 0;
    for (int p = 0; p < np; p++) {
        size_t first = column + 16 * (size_t)p;
        if (first < n) parameters[p] = requant16_parameters(first, n - first < 16 ? n - first : 16, out);
    }
    return 1;
}

#endif

#endif
