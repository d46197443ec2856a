/* The AVX2 u8 x s8 GEMM for CPUs without VNNI (see include/CInt8Kernels.h): vpmaddubsw multiplies
 * 32 activation bytes (q + 128, unsigned) by 32 weight bytes and adds adjacent pairs into 16
 * saturating int16, vpmaddwd by ones adds those pairs into 8 int32, vpaddd accumulates: the
 * sums of vpdpbusd, in the VNNI layout and with its bias compensation, as long as no pair
 * saturates. A pair a0 * w0 + a1 * w1 with a in [0, 255] stays in [-32768, 32767] when the
 * positive weights of the pair add up to at most 128 and the negative ones to at least -128
 * (255 * 128 = 32640); Int8GEMM.fitsMaddubs checks that for every pair at prepare, and
 * 7-bit weights ([-64, 63], `convert --quantize int8 --weight-bits 7`) always pass. Half the
 * bytes of the int16 vpmaddwd GEMM (int8_gemm.c) for weights and activations. */
#include "int8_common.h"

#include <string.h>

#ifdef CNNZ_HAVE_AVX2
#define CNNZ_AVX2 __attribute__((target("avx2")))
#define CNNZ_INLINE static inline __attribute__((always_inline))

/* Tiles of mr rows (up to 4) x np panels of 16 columns (up to 2), each panel two halves of 8
 * columns: up to 8 accumulators, 4 weight vectors, the broadcast and the ones in 16 registers. */
CNNZ_INLINE CNNZ_AVX2 void tile_maddubs(const int mr, const int np, size_t kgroups, const uint8_t *a, size_t lda,
                                        const int8_t *w, size_t panel_bytes, size_t n, size_t column,
                                        const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4][4];
    for (int r = 0; r < mr; r++)
        for (int h = 0; h < 2 * np; h++) acc[r][h] = _mm256_setzero_si256();
    for (size_t g = 0; g < kgroups; g++) {
        __m256i b[4];
        for (int h = 0; h < 2 * np; h++)
            b[h] = _mm256_loadu_si256((const __m256i *)(w + (h / 2) * panel_bytes + g * 64 + (h % 2) * 32));
        for (int r = 0; r < mr; r++) {
            int32_t v;
            memcpy(&v, a + r * lda + 4 * g, 4);
            __m256i x = _mm256_set1_epi32(v);
            for (int h = 0; h < 2 * np; h++)
                acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(_mm256_maddubs_epi16(x, b[h]), ones));
        }
    }
    for (int h = 0; h < 2 * np; h++) {
        size_t first = column + 8 * (size_t)h;
        if (first >= n) break;
        size_t width = n - first < 8 ? n - first : 8;
        for (int r = 0; r < mr; r++) store_columns8(acc[r][h], first, width, out, c + r * ldc + first);
    }
}

/* All panels for mr rows: two panels at a time for one or two rows (more independent sums),
 * else one. */
CNNZ_INLINE CNNZ_AVX2 void strip_maddubs(const int mr, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                         const int8_t *packed, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    size_t panels = (n + 15) / 16, panel_bytes = kgroups * 64, p = 0;
    if (mr <= 2) {
        for (; p + 2 <= panels; p += 2)
            tile_maddubs(mr, 2, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, n, 16 * p, out, c, ldc);
    }
    for (; p < panels; p++)
        tile_maddubs(mr, 1, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, n, 16 * p, out, c, ldc);
}

#define CNNZ_STRIP_MADDUBS(MR)                                                                                     \
    static CNNZ_AVX2 void strip_maddubs_##MR(size_t n, size_t kgroups, const uint8_t *a, size_t lda,              \
                                             const int8_t *packed, const cnnz_qs8_output *out, int8_t *c,           \
                                             size_t ldc) {                                                           \
        strip_maddubs(MR, n, kgroups, a, lda, packed, out, c, ldc);                                                 \
    }
CNNZ_STRIP_MADDUBS(1)
CNNZ_STRIP_MADDUBS(2)
CNNZ_STRIP_MADDUBS(3)
CNNZ_STRIP_MADDUBS(4)

CNNZ_AVX2 void cnnz_qu8_gemm_4x16c4__avx2_maddubs(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                                  const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                                                  int8_t *c, size_t ldc) {
    (void)stage;
    for (size_t row = 0; row < m; row += 4) {
        const uint8_t *ar = a + row * lda;
        int8_t *cr = c + row * ldc;
        switch (m - row < 4 ? m - row : 4) {
        case 1: strip_maddubs_1(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 2: strip_maddubs_2(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 3: strip_maddubs_3(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        default: strip_maddubs_4(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        }
    }
}
#else
/* Not x86: never called (the CPU check says no); the VNNI layout's plain loop. */
void cnnz_qu8_gemm_4x16c4__avx2_maddubs(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                        const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                                        int8_t *c, size_t ldc) {
    (void)stage;
    cnnz_qu8_gemm_vnni512(m, n, kgroups, a, lda, packed, out, c, ldc);
}
#endif
