/* Private to CInt8Kernels: the AVX2 int16 GEMM's tiles (vpmaddwd on pairs of k, 4 rows x 16
 * columns) and their output stage, shared by the GEMM (int8_gemm.c, A rows side by side) and the
 * row convolution (int8_rowconv_avx2.c, A read through one pointer per kernel row).
 *
 * The output stage computes store()'s integers (int8_common.h) with its per-column constants
 * (int8_requant256.h's cnnz_requant8, shared with the AVX2 depthwise rows and Add) made once per
 * panel group at prepare time (cnnz_qs8_store_avx2_prepare: the engine's Int8PackedWeights.stage,
 * which the kernels require), in two forms chosen once per panel group (so the tiles branch on
 * nothing per vector):
 *
 * - The short form, when every column shifts right by r in 1...23 (no left shift):
 *   int8_requant256.h's one floor of a 64-bit quotient by a logical shift. Its step for
 *   x * m < -2^30 (ties away from zero below zero) only moves results at or below the zero
 *   point, all clamped to min when min >= zero point (ReLU, ReLU6): those stages skip it.
 * - The general form (any shift): requantize8 per vector, clamped to +-2^16 before the zero
 *   point is added (no int32 wrap; no byte changes).
 *
 * - The float form (int8_requant_float.c), when every column of the group has one: the same
 *   bytes from cvtdq2ps, one vfmadd and cvtps2dq (9 instructions a vector down to 3), found and
 *   proved for all int32 sums at prepare time (float_kind); used by the int16 and vpmaddubsw
 *   GEMMs when MXCSR rounds to nearest, which they check once per call.
 * The narrowing packs four rows together (saturating to int16, then int8, then the clamp on
 * bytes: saturating early keeps the reference's bytes since min and max are within int8) and
 * one vpermd puts each row's bytes together. Rows narrower than the vector are stored whole when
 * the bytes past their end belong to later rows of the same call that are stored after them
 * (rows ldc == n apart, panel groups from the last), else exactly. */
#ifndef CNNZ_INT8_TILE_AVX2_H
#define CNNZ_INT8_TILE_AVX2_H

#include "int8_requant256.h"

#include <string.h>

#ifdef CNNZ_HAVE_AVX2
/* With FMA: the float form (the int8 level AVX2 requires it). */
#define CNNZ_T2 __attribute__((target("avx2,fma")))
#define CNNZ_T2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* The forms: the exact integer ones, and the float form (int8_requant_float.c), one constant or
 * one per sign. */
enum { CNNZ_R8_GENERAL = 0, CNNZ_R8_FAST = 1, CNNZ_R8_FAST_CORRECTS = 2, CNNZ_R8_FLOAT = 3, CNNZ_R8_FLOAT_SPLIT = 4 };

/* A panel group's (16 columns') constants and their form, made once per layer at prepare time
 * (cnnz_qs8_store_avx2_prepare). */
typedef struct {
    cnnz_requant8 panel[2];
    int32_t kind;       /* CNNZ_R8_GENERAL, _FAST or _FAST_CORRECTS */
    int32_t float_kind; /* CNNZ_R8_FLOAT or _FLOAT_SPLIT if both panels have a float form, else kind */
    int32_t reserved[6];
} cnnz_requant8_group;

/* The form a kernel runs a group in: the float form only in round-to-nearest (rounds: the
 * caller's requant8_rounds_to_nearest(), read once per call). The kernels that read float_kind
 * (the int16 GEMM and the vpmaddubsw GEMM) have strips for all five forms; the others (the row
 * convolution, Winograd) read kind. */
static inline int requant8_group_kind(const cnnz_requant8_group *g, int rounds) {
    return rounds ? g->float_kind : g->kind;
}

/* The constants of the panel group at column (columns column..<min(column + 16, n)). Both
 * panels take the general form unless both allow the short one (their corrects are the same:
 * the clamp's); each holds the constants of both forms. */
static inline CNNZ_T2 void requant8_group(size_t column, size_t n, const cnnz_qs8_output *out, int float_forms,
                                          cnnz_requant8_group *g) {
    size_t width = n - column < 16 ? n - column : 16;
    g->panel[0] = requant8_parameters(column, width < 8 ? width : 8, out);
    g->panel[1] = requant8_parameters(column + 8, width > 8 ? width - 8 : 0, out);
    g->kind = !g->panel[0].short_form || !g->panel[1].short_form ? CNNZ_R8_GENERAL
              : g->panel[0].corrects                             ? CNNZ_R8_FAST_CORRECTS
                                                                 : CNNZ_R8_FAST;
    /* requant8_parameters left float_form 0: the integer forms unless both panels have one. */
    if (float_forms) {
        requant8_float_parameters(column, width < 8 ? width : 8, out, &g->panel[0]);
        requant8_float_parameters(column + 8, width > 8 ? width - 8 : 0, out, &g->panel[1]);
    }
    int forms = g->panel[0].float_form && g->panel[1].float_form;
    int split = g->panel[0].float_form == 2 || g->panel[1].float_form == 2;
    g->float_kind = !forms ? g->kind : split ? CNNZ_R8_FLOAT_SPLIT : CNNZ_R8_FLOAT;
    for (int i = 0; i < 6; i++) g->reserved[i] = 0;
}

/* Sums x (bias included) as requantized value + zero point, int32, in form kind (a constant).
 * The constants are read from p at each use: the tiles' accumulators fill the registers, and
 * clang, holding the constants of 4 rows x 2 panels in registers instead, spilled them to the
 * stack and reloaded them (about 150 instructions per tile). */
CNNZ_T2_INLINE __m256i requant8_as(__m256i x, const cnnz_requant8 *p, const int kind) {
    if (kind == CNNZ_R8_GENERAL) {
        __m256i v = requantize8(x, p->multiplier, p->shift);
        const __m256i limit = _mm256_set1_epi32(1 << 16);
        v = _mm256_max_epi32(_mm256_min_epi32(v, limit), _mm256_sub_epi32(_mm256_setzero_si256(), limit));
        return _mm256_add_epi32(v, p->zero_point);
    }
    if (kind >= CNNZ_R8_FLOAT) return requant8_float_as(x, p, kind == CNNZ_R8_FLOAT_SPLIT);
    return requant8_fast_as(x, p, kind == CNNZ_R8_FAST_CORRECTS, 0);
}

/* p, opaque to the compiler: each row's loads through it are its own (see requant8_as). */
CNNZ_T2_INLINE const cnnz_requant8 *requant8_fresh(const cnnz_requant8 *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

/* The first width (1 to 15) bytes of v at c. */
CNNZ_T2_INLINE void store_bytes16(__m128i v, size_t width, int8_t *c) {
    if (width >= 8) {
        _mm_storel_epi64((__m128i *)c, v);
        v = _mm_srli_si128(v, 8);
        c += 8;
        width -= 8;
    }
    if (width & 4) {
        int32_t d = _mm_cvtsi128_si32(v);
        memcpy(c, &d, 4);
        v = _mm_srli_si128(v, 4);
        c += 4;
    }
    if (width & 2) {
        int16_t h = (int16_t)_mm_extract_epi16(v, 0);
        memcpy(c, &h, 2);
        v = _mm_srli_si128(v, 2);
        c += 2;
    }
    if (width & 1) *c = (int8_t)_mm_extract_epi8(v, 0);
}

/* One row's bytes (16 or 8 in v): all of the vector's when whole, else width; with a table,
 * each byte through it. */
CNNZ_T2_INLINE void store_row_bytes(__m128i v, const int bytes, size_t width, int whole, const int8_t *table,
                                    int8_t *c) {
    if (table) {
        int8_t q[16];
        _mm_storeu_si128((__m128i *)q, v);
        for (size_t j = 0; j < width; j++) c[j] = table[q[j] + 128];
    } else if (whole) {
        if (bytes == 16)
            _mm_storeu_si128((__m128i *)c, v);
        else
            _mm_storel_epi64((__m128i *)c, v);
    } else {
        store_bytes16(v, width, c);
    }
}

/* The store of an mr x np tile (mr 1 to 4 rows, np 1 or 2 panels of 8 columns; acc[r][h], bias
 * included) at c, rows ldc apart: width columns (of 8 * np), the first whole_rows rows may be
 * stored whole. kind: a constant (CNNZ_R8_*). */
CNNZ_T2_INLINE void tile_s16_store(const int mr, const int np, const int kind, __m256i acc[4][2],
                                   const cnnz_requant8 *p, size_t width, int whole_rows, const int8_t *table,
                                   int8_t *c, size_t ldc) {
    __m256i v[4][2];
    /* Unrolled so that v stays in registers (the loop kept it on the stack). */
#pragma clang loop unroll(full)
    for (int r = 0; r < mr; r++) {
        const cnnz_requant8 *q = requant8_fresh(p);
#pragma clang loop unroll(full)
        for (int h = 0; h < np; h++) v[r][h] = requant8_as(acc[r][h], q + h, kind);
    }
    /* After the packs, dword d of 128-bit lane L holds row d's (np 1: rows 0..3) or rows
     * (2d/2..)'s bytes: vpermd by 0,4,1,5,2,6,3,7 puts each row's together. */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    if (np == 2) {
#pragma clang loop unroll(full)
        for (int r = 0; r < mr; r += 2) {
            __m256i a0 = _mm256_packs_epi32(v[r][0], v[r][1]);
            __m256i a1 = r + 1 < mr ? _mm256_packs_epi32(v[r + 1][0], v[r + 1][1]) : a0;
            __m256i q = _mm256_packs_epi16(a0, a1);
            q = _mm256_min_epi8(_mm256_max_epi8(q, _mm256_broadcastsi128_si256(p->min)),
                                _mm256_broadcastsi128_si256(p->max));
            q = _mm256_permutevar8x32_epi32(q, order);
            store_row_bytes(_mm256_castsi256_si128(q), 16, width, r < whole_rows, table, c + r * ldc);
            if (r + 1 < mr)
                store_row_bytes(_mm256_extracti128_si256(q, 1), 16, width, r + 1 < whole_rows, table,
                                c + (r + 1) * ldc);
        }
    } else {
        __m256i a01 = _mm256_packs_epi32(v[0][0], mr > 1 ? v[1][0] : v[0][0]);
        __m256i a23 = mr > 2 ? _mm256_packs_epi32(v[2][0], mr > 3 ? v[3][0] : v[2][0]) : a01;
        __m256i q = _mm256_packs_epi16(a01, a23);
        q = _mm256_min_epi8(_mm256_max_epi8(q, _mm256_broadcastsi128_si256(p->min)),
                            _mm256_broadcastsi128_si256(p->max));
        q = _mm256_permutevar8x32_epi32(q, order);
        __m128i low = _mm256_castsi256_si128(q), high = _mm256_extracti128_si256(q, 1);
        store_row_bytes(low, 8, width, 0 < whole_rows, table, c);
        if (mr > 1) store_row_bytes(_mm_srli_si128(low, 8), 8, width, 1 < whole_rows, table, c + ldc);
        if (mr > 2) store_row_bytes(high, 8, width, 2 < whole_rows, table, c + 2 * ldc);
        if (mr > 3) store_row_bytes(_mm_srli_si128(high, 8), 8, width, 3 < whole_rows, table, c + 3 * ldc);
    }
}

/* One pair of k for an mr x np tile: row r's int16 pair j (from rows[r]) broadcast, times the
 * panels' 16 int16 of the pair at w (panel int16 apart). */
CNNZ_T2_INLINE void tile_s16_pair(const int mr, const int np, __m256i acc[4][2], const int16_t *const rows[4],
                                  size_t j, const int16_t *w, size_t panel) {
    __m256i b0 = _mm256_loadu_si256((const __m256i *)w);
    __m256i b1 = np > 1 ? _mm256_loadu_si256((const __m256i *)(w + panel)) : b0;
    for (int r = 0; r < mr; r++) {
        int32_t v;
        memcpy(&v, rows[r] + 2 * j, 4);
        __m256i x = _mm256_set1_epi32(v);
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(x, b0));
        if (np > 1) acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(x, b1));
    }
}

/* An mr x np tile: for each of taps taps, row r's pairs pairs of int16 from pointers[t * stride
 * + r] (or, pointers NULL and taps 1, from a + r * lda), times the panels' packed weights (w,
 * panel int16 apart, 16 per pair, the taps' pairs one after another); two pairs per pass (the
 * loop's count, compare and branch are 4 of the 26 instructions of a pass of one pair).
 * do-while on the taps: the count is at least 1, and with a for loop clang copied every
 * accumulator at each tap. whole_rows and table: constants in the common case (every row
 * stored whole, no table), which leaves the store no decision to make. */
CNNZ_T2_INLINE void tile_s16(const int mr, const int np, const int kind, size_t taps, size_t pairs,
                             const int16_t *const *pointers, size_t stride, const int16_t *a, size_t lda,
                             const int16_t *w, size_t panel, const cnnz_requant8 *p, size_t width, int whole_rows,
                             const int8_t *table, int8_t *c, size_t ldc) {
    __m256i acc[4][2];
    for (int r = 0; r < mr; r++)
        for (int h = 0; h < np; h++) acc[r][h] = p[h].bias;
    const int16_t *wp = w;
    size_t t = 0;
    do {
        const int16_t *rows[4];
        for (int r = 0; r < mr; r++) rows[r] = pointers ? pointers[t * stride + (size_t)r] : a + (size_t)r * lda;
        size_t j = 0;
        for (; j + 2 <= pairs; j += 2, wp += 32) {
            tile_s16_pair(mr, np, acc, rows, j, wp, panel);
            tile_s16_pair(mr, np, acc, rows, j + 1, wp + 16, panel);
        }
        if (j < pairs) {
            tile_s16_pair(mr, np, acc, rows, j, wp, panel);
            wp += 16;
        }
    } while (++t < taps);
    /* The store reads a copy: handing it acc itself kept acc in memory. */
    __m256i sums[4][2];
    for (int r = 0; r < mr; r++)
        for (int h = 0; h < np; h++) sums[r][h] = acc[r][h];
    tile_s16_store(mr, np, kind, sums, p, width, whole_rows, table, c, ldc);
}

/* All row tiles of one panel group (np panels, constants p, form kind: constants): tiles of 4
 * rows, then the last 1 to 3, each tile's first rows up to row last_whole (the last row whose
 * vector ends within the call's rows, or -1) stored whole. One call per panel group rather
 * than per tile: a tile of a first layer's short k (6 to 15 pairs) is about as long as a call's
 * argument passing and prologue. */
CNNZ_T2_INLINE void strip_s16(const int np, const int kind, size_t m, size_t taps, size_t pairs,
                              const int16_t *const *pointers, const int16_t *a, size_t lda, const int16_t *w,
                              size_t panel, const cnnz_requant8 *p, size_t width, ptrdiff_t last_whole,
                              const int8_t *table, int8_t *c, size_t ldc) {
#define CNNZ_WHOLE(ROW) (last_whole < (ptrdiff_t)(ROW) ? 0 : last_whole - (ptrdiff_t)(ROW) >= 3 ? 4 : (int)(last_whole - (ptrdiff_t)(ROW)) + 1)
    size_t row = 0;
    /* Tiles stored whole without a table first (all but the last of a partial group's). */
    if (!table)
        for (; row + 4 <= m && last_whole >= (ptrdiff_t)row + 3; row += 4)
            tile_s16(4, np, kind, taps, pairs, pointers ? pointers + row : NULL, m, pointers ? NULL : a + row * lda,
                     lda, w, panel, p, width, 4, NULL, c + row * ldc, ldc);
    for (; row + 4 <= m; row += 4)
        tile_s16(4, np, kind, taps, pairs, pointers ? pointers + row : NULL, m, pointers ? NULL : a + row * lda, lda,
                 w, panel, p, width, CNNZ_WHOLE(row), table, c + row * ldc, ldc);
    switch (m - row) {
    case 1:
        tile_s16(1, np, kind, taps, pairs, pointers ? pointers + row : NULL, m, pointers ? NULL : a + row * lda, lda,
                 w, panel, p, width, CNNZ_WHOLE(row), table, c + row * ldc, ldc);
        break;
    case 2:
        tile_s16(2, np, kind, taps, pairs, pointers ? pointers + row : NULL, m, pointers ? NULL : a + row * lda, lda,
                 w, panel, p, width, CNNZ_WHOLE(row), table, c + row * ldc, ldc);
        break;
    case 3:
        tile_s16(3, np, kind, taps, pairs, pointers ? pointers + row : NULL, m, pointers ? NULL : a + row * lda, lda,
                 w, panel, p, width, CNNZ_WHOLE(row), table, c + row * ldc, ldc);
        break;
    default: break;
    }
#undef CNNZ_WHOLE
}

/* The int16 GEMM of m rows (A through pointers, or rows of a lda apart) by the packed weights
 * (k = taps * pairs * 2) into c: panel groups of 16 columns from the last (tile_panel_group),
 * each with its constants (from stage, cnnz_qs8_store_avx2_prepare's), then tiles of 4 rows.
 * Defined in int8_gemm.c. */
void cnnz_qs8_gemm_s16_4x16c2__avx2(size_t m, size_t n, size_t taps, size_t pairs, const int16_t *const *pointers,
                                    const int16_t *a, size_t lda, const int16_t *packed, const void *stage,
                                    const cnnz_qs8_output *out, int8_t *c, size_t ldc);

/* The last row of m (rows ldc apart) whose whole vector of bytes (bytes of them from column)
 * ends within the rows: all m when the group is whole (width == bytes), else -1 unless the rows
 * are packed (ldc == n). */
static inline ptrdiff_t tile_last_whole(size_t m, size_t n, size_t column, size_t width, size_t bytes, size_t ldc) {
    if (width == bytes) return (ptrdiff_t)m;
    if (ldc == n && m * n >= column + bytes) return (ptrdiff_t)((m * n - column - bytes) / n);
    return -1;
}

/* Panel group g (columns 16 g ..< min(16 g + 16, n)) of both AVX2 GEMMs (the int16 one and the
 * maddubs one, which walk the groups from the last, g = (n + 15) / 16 - 1 down to 0): its
 * prepared constants in stage, its panels (np, 1 or 2), the columns it stores (width) and the
 * last of the m rows it may store whole (tile_last_whole). */
typedef struct {
    const cnnz_requant8_group *constants;
    int np;
    size_t column, width;
    ptrdiff_t last_whole;
} cnnz_tile_group;

static inline cnnz_tile_group tile_panel_group(const void *stage, size_t g, size_t m, size_t n, size_t ldc) {
    cnnz_tile_group t;
    t.constants = (const cnnz_requant8_group *)stage + g;
    t.column = 16 * g;
    t.np = n - t.column > 8 ? 2 : 1;
    size_t bytes = 8 * (size_t)t.np;
    t.width = n - t.column < bytes ? n - t.column : bytes;
    t.last_whole = tile_last_whole(m, n, t.column, t.width, bytes, ldc);
    return t;
}

#endif

#endif
