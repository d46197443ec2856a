/* The AVX2 u8 x s8 GEMM for CPUs without VNNI (see include/CInt8Kernels.h): vpmaddubsw multiplies
 * 32 activation bytes (q + 128, unsigned) by 32 weight bytes and adds adjacent pairs into 16
 * saturating int16, vpmaddwd by ones adds those pairs into 8 int32, vpaddd accumulates: the
 * sums of vpdpbusd, in the VNNI layout and with its bias compensation, as long as no pair
 * saturates. A pair a0 * w0 + a1 * w1 with a in [0, 255] stays in [-32768, 32767] when the
 * positive weights of the pair add up to at most 128 and the negative ones to at least -128
 * (255 * 128 = 32640); Int8GEMM.fitsMaddubs checks that for every pair at prepare, and
 * 7-bit weights ([-64, 63], `convert --quantize int8 --weight-bits 7`) always pass. Half the
 * bytes of the int16 vpmaddwd GEMM (int8_gemm.c) for weights and activations. */
#include "int8_tile_avx2.h"

#include <string.h>

#ifdef CNNZ_HAVE_AVX2
/* One group of 4 rows of k for an mr x np tile (np halves of 8 columns of a 16-column panel):
 * row r's 4 bytes broadcast, vpmaddubsw with the half's 32 weight bytes, vpmaddwd by ones. */
CNNZ_T2_INLINE void tile_maddubs_group(const int mr, const int np, __m256i acc[4][2], const uint8_t *a, size_t lda,
                                       size_t g, const int8_t *w) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i b0 = _mm256_loadu_si256((const __m256i *)(w + g * 64));
    __m256i b1 = np > 1 ? _mm256_loadu_si256((const __m256i *)(w + g * 64 + 32)) : b0;
    for (int r = 0; r < mr; r++) {
        int32_t v;
        memcpy(&v, a + (size_t)r * lda + 4 * g, 4);
        __m256i x = _mm256_set1_epi32(v);
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(x, b0), ones));
        if (np > 1) acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(x, b1), ones));
    }
}

/* An mr x np tile (mr 1 to 4 rows, np 1 or 2 halves of a 16-column panel w) over kgroups groups
 * of 4, two per pass, then the int16 GEMM's store (int8_tile_avx2.h: the panel group's
 * constants p, form kind, four rows narrowed together). */
CNNZ_T2_INLINE void tile_maddubs(const int mr, const int np, const int kind, size_t kgroups, const uint8_t *a,
                                 size_t lda, const int8_t *w, const cnnz_requant8 *p, size_t width, int whole_rows,
                                 const int8_t *table, int8_t *c, size_t ldc) {
    __m256i acc[4][2];
    for (int r = 0; r < mr; r++)
        for (int h = 0; h < np; h++) acc[r][h] = p[h].bias;
    size_t g = 0;
    for (; g + 2 <= kgroups; g += 2) {
        tile_maddubs_group(mr, np, acc, a, lda, g, w);
        tile_maddubs_group(mr, np, acc, a, lda, g + 1, w);
    }
    if (g < kgroups) tile_maddubs_group(mr, np, acc, a, lda, g, w);
    /* The store reads a copy: handing it acc itself kept acc in memory. */
    __m256i sums[4][2];
    for (int r = 0; r < mr; r++)
        for (int h = 0; h < np; h++) sums[r][h] = acc[r][h];
    tile_s16_store(mr, np, kind, sums, p, width, whole_rows, table, c, ldc);
}

/* All row tiles of one panel (np halves, form kind: constants), as strip_s16: tiles of 4 rows
 * stored whole without a table first, then the others, rows up to last_whole stored whole. */
CNNZ_T2_INLINE void strip_maddubs(const int np, const int kind, size_t m, size_t kgroups, const uint8_t *a,
                                  size_t lda, const int8_t *w, const cnnz_requant8 *p, size_t width,
                                  ptrdiff_t last_whole, const int8_t *table, int8_t *c, size_t ldc) {
#define CNNZ_WHOLE(ROW) (last_whole < (ptrdiff_t)(ROW) ? 0 : last_whole - (ptrdiff_t)(ROW) >= 3 ? 4 : (int)(last_whole - (ptrdiff_t)(ROW)) + 1)
    size_t row = 0;
    if (!table)
        for (; row + 4 <= m && last_whole >= (ptrdiff_t)row + 3; row += 4)
            tile_maddubs(4, np, kind, kgroups, a + row * lda, lda, w, p, width, 4, NULL, c + row * ldc, ldc);
    for (; row + 4 <= m; row += 4)
        tile_maddubs(4, np, kind, kgroups, a + row * lda, lda, w, p, width, CNNZ_WHOLE(row), table, c + row * ldc,
                     ldc);
    switch (m - row) {
    case 1:
        tile_maddubs(1, np, kind, kgroups, a + row * lda, lda, w, p, width, CNNZ_WHOLE(row), table, c + row * ldc,
                     ldc);
        break;
    case 2:
        tile_maddubs(2, np, kind, kgroups, a + row * lda, lda, w, p, width, CNNZ_WHOLE(row), table, c + row * ldc,
                     ldc);
        break;
    case 3:
        tile_maddubs(3, np, kind, kgroups, a + row * lda, lda, w, p, width, CNNZ_WHOLE(row), table, c + row * ldc,
                     ldc);
        break;
    default: break;
    }
#undef CNNZ_WHOLE
}

typedef void (*cnnz_strip_maddubs)(size_t, size_t, const uint8_t *, size_t, const int8_t *, const cnnz_requant8 *,
                                   size_t, ptrdiff_t, const int8_t *, int8_t *, size_t);

#define CNNZ_STRIP_MADDUBS(NP, KIND)                                                                               \
    static CNNZ_T2 void strip_maddubs_##NP##_##KIND(size_t m, size_t kgroups, const uint8_t *a, size_t lda,       \
                                                    const int8_t *w, const cnnz_requant8 *p, size_t width,         \
                                                    ptrdiff_t last_whole, const int8_t *table, int8_t *c,          \
                                                    size_t ldc) {                                                  \
        strip_maddubs(NP, KIND, m, kgroups, a, lda, w, p, width, last_whole, table, c, ldc);                      \
    }
CNNZ_STRIP_MADDUBS(1, 0)
CNNZ_STRIP_MADDUBS(2, 0)
CNNZ_STRIP_MADDUBS(1, 1)
CNNZ_STRIP_MADDUBS(2, 1)
CNNZ_STRIP_MADDUBS(1, 2)
CNNZ_STRIP_MADDUBS(2, 2)
CNNZ_STRIP_MADDUBS(1, 3)
CNNZ_STRIP_MADDUBS(2, 3)
CNNZ_STRIP_MADDUBS(1, 4)
CNNZ_STRIP_MADDUBS(2, 4)

/* [kind][np - 1] */
static const cnnz_strip_maddubs strips_maddubs[5][2] = {{strip_maddubs_1_0, strip_maddubs_2_0},
                                                        {strip_maddubs_1_1, strip_maddubs_2_1},
                                                        {strip_maddubs_1_2, strip_maddubs_2_2},
                                                        {strip_maddubs_1_3, strip_maddubs_2_3},
                                                        {strip_maddubs_1_4, strip_maddubs_2_4}};

/* Panels of 16 columns from the last (a partial one's rows stored whole over the next row's
 * first columns, written later: int8_tile_avx2.h), each with its prepared constants (stage),
 * then tiles of 4 rows x 16 columns: the int16 GEMM's order and store (tile_panel_group), which
 * replaced a store per row and 8 columns (store_columns8) that took a third of mobile_res's
 * 7-bit time. */
CNNZ_T2 void cnnz_qu8_gemm_4x16c4__avx2_maddubs(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                                const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                                                int8_t *c, size_t ldc) {
    int rounds = requant8_rounds_to_nearest();
    for (size_t g = (n + 15) / 16; g-- > 0;) {
        cnnz_tile_group t = tile_panel_group(stage, g, m, n, ldc);
        strips_maddubs[requant8_group_kind(t.constants, rounds)][t.np - 1](m, kgroups, a, lda, packed + g * kgroups * 64,
                                                    t.constants->panel, t.width, t.last_whole, out->table,
                                                    c + t.column, ldc);
    }
}
#else
/* Not x86: never called (the CPU check says no); the VNNI layout's plain loop. */
void cnnz_qu8_gemm_4x16c4__avx2_maddubs(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                        const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                                        int8_t *c, size_t ldc) {
    (void)stage;
    cnnz_qu8_gemm_vnni512(m, n, kgroups, a, lda, packed, NULL, out, c, ldc);
}
#endif
