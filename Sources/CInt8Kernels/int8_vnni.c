/* The VNNI int8 GEMMs: u8 x s8 vpdpbusd, 512-bit (AVX512-VNNI) and 256-bit (AVX-VNNI), with bias,
 * requantization and clamp in the store (see include/CInt8Kernels.h). Each function carries its
 * instruction set as a target attribute, so the package builds with no CPU flags; the callers run
 * them only after the run-time CPU check. */
#include "int8_avx512.h"

#include <string.h>

#ifdef CNNZ_HAVE_AVX2

/* ---- The 512-bit VNNI GEMM: tiles of mr rows (up to 8) x np panels of 16 columns (up to 4). */

CNNZ_INLINE CNNZ_VNNI512 void tile512(const int mr, const int np, size_t kgroups, const uint8_t *a, size_t lda,
                                      const int8_t *w, size_t panel_bytes, size_t n, size_t column,
                                      const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    __m512i acc[8][4];
    for (int r = 0; r < mr; r++)
        for (int p = 0; p < np; p++) acc[r][p] = _mm512_setzero_si512();
    for (size_t g = 0; g < kgroups; g++) {
        __m512i b[4];
        for (int p = 0; p < np; p++) b[p] = _mm512_loadu_si512(w + p * panel_bytes + g * 64);
        for (int r = 0; r < mr; r++) {
            int32_t v;
            memcpy(&v, a + r * lda + 4 * g, 4);
            __m512i x = _mm512_set1_epi32(v);
            for (int p = 0; p < np; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], x, b[p]);
        }
    }
    for (int p = 0; p < np; p++) {
        size_t first = column + 16 * (size_t)p;
        if (first >= n) break;
        size_t width = n - first < 16 ? n - first : 16;
        if (out->table) {
            for (int r = 0; r < mr; r++) store16(acc[r][p], first, width, out, c + r * ldc + first);
        } else {
            cnnz_panel16 parameters = panel16(first, width, out);
            for (int r = 0; r < mr; r++) store16_panel(acc[r][p], &parameters, out, c + r * ldc + first);
        }
    }
}

/* All panels for mr rows: four panels at a time for one or two rows (more independent sums),
 * else two. */
CNNZ_INLINE CNNZ_VNNI512 void strip512(const int mr, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                       const int8_t *packed, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    size_t panels = (n + 15) / 16, panel_bytes = kgroups * 64, p = 0;
    if (mr <= 2) {
        for (; p + 4 <= panels; p += 4)
            tile512(mr, 4, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, n, 16 * p, out, c, ldc);
    }
    for (; p + 2 <= panels; p += 2)
        tile512(mr, 2, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, n, 16 * p, out, c, ldc);
    if (p < panels) tile512(mr, 1, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, n, 16 * p, out, c, ldc);
}

#define CNNZ_STRIP512(MR)                                                                                          \
    static CNNZ_VNNI512 void strip512_##MR(size_t n, size_t kgroups, const uint8_t *a, size_t lda,                 \
                                           const int8_t *packed, const cnnz_qs8_output *out, int8_t *c,             \
                                           size_t ldc) {                                                             \
        strip512(MR, n, kgroups, a, lda, packed, out, c, ldc);                                                      \
    }
CNNZ_STRIP512(1)
CNNZ_STRIP512(2)
CNNZ_STRIP512(3)
CNNZ_STRIP512(4)
CNNZ_STRIP512(5)
CNNZ_STRIP512(6)
CNNZ_STRIP512(7)
CNNZ_STRIP512(8)

CNNZ_VNNI512 void cnnz_qu8_gemm_vnni512(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                        const int8_t *packed, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    for (size_t row = 0; row < m; row += 8) {
        const uint8_t *ar = a + row * lda;
        int8_t *cr = c + row * ldc;
        switch (m - row < 8 ? m - row : 8) {
        case 1: strip512_1(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 2: strip512_2(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 3: strip512_3(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 4: strip512_4(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 5: strip512_5(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 6: strip512_6(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 7: strip512_7(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        default: strip512_8(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        }
    }
}

/* ---- The 256-bit VNNI GEMM (AVX-VNNI, 16 ymm registers): tiles of mr rows (up to 4) x np panels
 * (up to 2), each panel two halves of 8 columns; the AVX2 store. */

CNNZ_INLINE CNNZ_VNNI256 void tile256(const int mr, const int np, size_t kgroups, const uint8_t *a, size_t lda,
                                      const int8_t *w, size_t panel_bytes, size_t n, size_t column,
                                      const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
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
            for (int h = 0; h < 2 * np; h++) acc[r][h] = _mm256_dpbusd_avx_epi32(acc[r][h], x, b[h]);
        }
    }
    for (int h = 0; h < 2 * np; h++) {
        size_t first = column + 8 * (size_t)h;
        if (first >= n) break;
        size_t width = n - first < 8 ? n - first : 8;
        for (int r = 0; r < mr; r++) {
            int8_t *cr = c + r * ldc + first;
            if (width == 8 && !out->table) {
                store8(acc[r][h], first, out, cr);
            } else {
                int32_t sums[8];
                _mm256_storeu_si256((__m256i *)sums, acc[r][h]);
                for (size_t j = 0; j < width; j++) cr[j] = store(sums[j], first + j, out);
            }
        }
    }
}

CNNZ_INLINE CNNZ_VNNI256 void strip256(const int mr, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                       const int8_t *packed, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    size_t panels = (n + 15) / 16, panel_bytes = kgroups * 64, p = 0;
    if (mr <= 2) {
        for (; p + 2 <= panels; p += 2)
            tile256(mr, 2, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, n, 16 * p, out, c, ldc);
    }
    for (; p < panels; p++)
        tile256(mr, 1, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, n, 16 * p, out, c, ldc);
}

#define CNNZ_STRIP256(MR)                                                                                          \
    static CNNZ_VNNI256 void strip256_##MR(size_t n, size_t kgroups, const uint8_t *a, size_t lda,                 \
                                           const int8_t *packed, const cnnz_qs8_output *out, int8_t *c,             \
                                           size_t ldc) {                                                             \
        strip256(MR, n, kgroups, a, lda, packed, out, c, ldc);                                                      \
    }
CNNZ_STRIP256(1)
CNNZ_STRIP256(2)
CNNZ_STRIP256(3)
CNNZ_STRIP256(4)

CNNZ_VNNI256 void cnnz_qu8_gemm_vnni256(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                        const int8_t *packed, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    for (size_t row = 0; row < m; row += 4) {
        const uint8_t *ar = a + row * lda;
        int8_t *cr = c + row * ldc;
        switch (m - row < 4 ? m - row : 4) {
        case 1: strip256_1(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 2: strip256_2(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        case 3: strip256_3(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        default: strip256_4(n, kgroups, ar, lda, packed, out, cr, ldc); break;
        }
    }
}

#else
/* Not x86: these are never called (the CPU checks say no), and portable where they have to be. */
void cnnz_qu8_gemm_vnni512(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda, const int8_t *packed,
                           const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    size_t panel_bytes = kgroups * 64;
    for (size_t r = 0; r < m; r++) {
        for (size_t j = 0; j < n; j++) {
            const int8_t *w = packed + (j / 16) * panel_bytes + (j % 16) * 4;
            uint32_t sum = 0;
            for (size_t g = 0; g < 4 * kgroups; g++) sum += (uint32_t)(a[r * lda + g] * w[(g / 4) * 64 + g % 4]);
            c[r * ldc + j] = store((int32_t)sum, j, out);
        }
    }
}

void cnnz_qu8_gemm_vnni256(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda, const int8_t *packed,
                           const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    cnnz_qu8_gemm_vnni512(m, n, kgroups, a, lda, packed, out, c, ldc);
}
#endif
