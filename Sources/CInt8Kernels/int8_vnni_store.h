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

#include "int8_add_terms.h"

#ifdef CNNZ_HAVE_AVX2

/* A residual Add fused into the store (cnnz_qu8_gemm_vnni512_add): the constants of the Add's
 * term of the GEMM's result and of the other operand's, and of the store of their sum. */
typedef struct {
    int fits2; /* both terms as add_term2 (one multiply fewer), else add_term */
    cnnz_add_term2 result2, other2;
    __m512i offset; /* the add_term2s' offsets */
    /* The result's multiplier is 1/2 (2^30, shift 0: the operand of the larger scale), whose term
     * is exactly (q - zero point) << 19: the rounding doubling high multiply of (q - zero point)
     * << 20 by 2^30 halves an even number. Then result2 is unused and not in offset. */
    int halves;
    __m512i result_zero_point;
    cnnz_add_term result, other;
    cnnz_requant16 sum;
    /* The GEMM's results before its zero point are clamped to [low, high] (its min and max less
     * its zero point); the result's terms take them so (their zero point: the Add's for it less
     * the GEMM's, 0 when, as always, the Add reads the convolution's own quantization). */
    __m512i low, high;
    size_t ldr; /* the other operand's row stride */
} cnnz_residual16;

/* One row's 16 results v (requant16_sums, the zero point not yet added) as the int8 the GEMM
 * would store, then the Add with the other operand's bytes at r, stored at c: what the Add
 * kernel (cnnz_qs8_add2_avx512) computes from the stored bytes. The stored int8 is
 * clamp(v + zero point, min, max) with no wrap-around (rows16_store4's saturating packs give
 * that too), that is clamp(v, min - zero point, max - zero point) + zero point. */
CNNZ_INLINE CNNZ_VNNI512 void residual16_store(__m512i v, const cnnz_requant16 *p, const cnnz_residual16 *t,
                                               const int8_t *r, int8_t *c) {
    __m512i q = _mm512_min_epi32(_mm512_max_epi32(v, t->low), t->high);
    __m128i bytes = p->lanes == 0xFFFF ? _mm_loadu_si128((const __m128i *)r) : _mm_maskz_loadu_epi8(p->lanes, r);
    __m512i o = _mm512_cvtepi8_epi32(bytes);
    __m512i x;
    if (t->fits2) {
        __m512i term = t->halves ? _mm512_slli_epi32(_mm512_sub_epi32(q, t->result_zero_point), 19)
                                 : add_term2_of32(q, &t->result2);
        x = _mm512_add_epi32(_mm512_add_epi32(term, add_term2_of32(o, &t->other2)), t->offset);
    } else {
        x = _mm512_add_epi32(add_term_of32(q, &t->result), add_term_of32(o, &t->other));
    }
    __m128i sum = requant16(x, &t->sum, 0);
    if (p->lanes == 0xFFFF)
        _mm_storeu_si128((__m128i *)c, sum);
    else
        _mm_mask_storeu_epi8(c, p->lanes, sum);
}

/* Rows 0..<rows (1 to 4) of sums s0..s3, columns p's lanes, stored at c, c + ldc, ...; with a
 * residual Add (t not NULL), summed with the other operand's rows at r, r + t->ldr, ... first. */
CNNZ_INLINE CNNZ_VNNI512 void rows16_store4(__m512i s0, __m512i s1, __m512i s2, __m512i s3, const int rows,
                                            const cnnz_requant16 *p, int8_t *c, size_t ldc,
                                            const cnnz_residual16 *t, const int8_t *r) {
    /* After the packs, 128-bit lane L holds rows 0..3's columns 4L..4L+3 as dwords L*4 + r. */
    const __m512i transpose = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i v0 = requant16_sums(s0, p, 1);
    __m512i v1 = rows > 1 ? requant16_sums(s1, p, 1) : v0;
    __m512i v2 = rows > 2 ? requant16_sums(s2, p, 1) : v0;
    __m512i v3 = rows > 3 ? requant16_sums(s3, p, 1) : v0;
    if (t) {
        residual16_store(v0, p, t, r, c);
        if (rows > 1) residual16_store(v1, p, t, r + t->ldr, c + ldc);
        if (rows > 2) residual16_store(v2, p, t, r + 2 * t->ldr, c + 2 * ldc);
        if (rows > 3) residual16_store(v3, p, t, r + 3 * t->ldr, c + 3 * ldc);
        return;
    }
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
 * (an activation table, or too few rows to repay requant16_parameters) for store16 per row. With
 * a residual Add (t not NULL; then parameters are never NULL), residual holds the other
 * operand's rows laid out as c's (its row stride t->ldr). */
CNNZ_INLINE CNNZ_VNNI512 void tile512_store(const int mr, const int np, __m512i acc[8][4], size_t n, size_t column,
                                            const cnnz_requant16 *parameters, const cnnz_qs8_output *out, int8_t *c,
                                            size_t ldc, const cnnz_residual16 *t, const int8_t *residual) {
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
                              acc[rows > 3 ? r + 3 : r][p], rows, parameters + p, c + r * ldc + first, ldc, t,
                              t ? residual + r * t->ldr + first : NULL);
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
