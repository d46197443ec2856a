/* The 256-bit VNNI int8 GEMM, cnnz_qu8_gemm_vnni256 (include/CInt8Kernels.h): u8 x s8 vpdpbusd on
 * ymm, with bias, requantization and clamp in the AVX2 store. The 512-bit GEMMs are in
 * int8_vnni.c. Each function carries its instruction set as a target attribute, so the package
 * builds with no CPU flags; the callers run them only after the run-time CPU check. */
#include "int8_avx512.h"

#include <string.h>

#ifdef CNNZ_HAVE_AVX2

/* ---- The 256-bit VNNI GEMM (AVX-VNNI, 16 ymm registers): tiles of mr rows (up to 4) x np panels
 * (up to 2), each panel two halves of 8 columns; the AVX2 store. Compiled twice from one text
 * (CNNZ_GEMM256): with AVX-VNNI's VEX vpdpbusd for the CPUs that have it, and with AVX512-VNNI's
 * EVEX vpdpbusd on ymm (the same instruction, the same integers) for CPUs with AVX512-VNNI but not
 * AVX-VNNI (Zen 4, Ice Lake to Sapphire Rapids). The second copy is what lets the tests run this
 * GEMM's tiles, strips and stores on such a machine: none of the test machines has AVX-VNNI. */

#define CNNZ_VNNI256_EVEX __attribute__((target("avx2,fma,avx512f,avx512vl,avx512vnni")))

#define CNNZ_GEMM256(SUFFIX, TARGET, DPBUSD)                                                                         \
    CNNZ_INLINE TARGET void tile256##SUFFIX(const int mr, const int np, size_t kgroups, const uint8_t *a, size_t lda, \
                                            const int8_t *w, size_t panel_bytes, size_t n, size_t column,             \
                                            const cnnz_qs8_output *out, int8_t *c, size_t ldc) {                      \
        __m256i acc[4][4];                                                                                           \
        for (int r = 0; r < mr; r++)                                                                                 \
            for (int h = 0; h < 2 * np; h++) acc[r][h] = _mm256_setzero_si256();                                     \
        for (size_t g = 0; g < kgroups; g++) {                                                                       \
            __m256i b[4];                                                                                            \
            for (int h = 0; h < 2 * np; h++)                                                                         \
                b[h] = _mm256_loadu_si256((const __m256i *)(w + (h / 2) * panel_bytes + g * 64 + (h % 2) * 32));     \
            for (int r = 0; r < mr; r++) {                                                                           \
                int32_t v;                                                                                           \
                memcpy(&v, a + r * lda + 4 * g, 4);                                                                  \
                __m256i x = _mm256_set1_epi32(v);                                                                    \
                for (int h = 0; h < 2 * np; h++) acc[r][h] = DPBUSD(acc[r][h], x, b[h]);                             \
            }                                                                                                        \
        }                                                                                                            \
        for (int h = 0; h < 2 * np; h++) {                                                                           \
            size_t first = column + 8 * (size_t)h;                                                                   \
            if (first >= n) break;                                                                                   \
            size_t width = n - first < 8 ? n - first : 8;                                                            \
            for (int r = 0; r < mr; r++) {                                                                           \
                int8_t *cr = c + r * ldc + first;                                                                    \
                if (width == 8 && !out->table) {                                                                     \
                    store8(acc[r][h], first, out, cr);                                                               \
                } else {                                                                                             \
                    int32_t sums[8];                                                                                 \
                    _mm256_storeu_si256((__m256i *)sums, acc[r][h]);                                                 \
                    for (size_t j = 0; j < width; j++) cr[j] = store(sums[j], first + j, out);                       \
                }                                                                                                    \
            }                                                                                                        \
        }                                                                                                            \
    }                                                                                                                \
                                                                                                                     \
    CNNZ_INLINE TARGET void strip256##SUFFIX(const int mr, size_t n, size_t kgroups, const uint8_t *a, size_t lda,    \
                                             const int8_t *packed, const cnnz_qs8_output *out, int8_t *c,            \
                                             size_t ldc) {                                                           \
        size_t panels = (n + 15) / 16, panel_bytes = kgroups * 64, p = 0;                                            \
        if (mr <= 2) {                                                                                               \
            for (; p + 2 <= panels; p += 2)                                                                          \
                tile256##SUFFIX(mr, 2, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, n, 16 * p, out, c,    \
                                ldc);                                                                                \
        }                                                                                                            \
        for (; p < panels; p++)                                                                                      \
            tile256##SUFFIX(mr, 1, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, n, 16 * p, out, c, ldc);  \
    }                                                                                                                \
                                                                                                                     \
    static TARGET void strip256##SUFFIX##_1(size_t n, size_t kgroups, const uint8_t *a, size_t lda,                  \
                                            const int8_t *packed, const cnnz_qs8_output *out, int8_t *c,             \
                                            size_t ldc) {                                                            \
        strip256##SUFFIX(1, n, kgroups, a, lda, packed, out, c, ldc);                                                \
    }                                                                                                                \
    static TARGET void strip256##SUFFIX##_2(size_t n, size_t kgroups, const uint8_t *a, size_t lda,                  \
                                            const int8_t *packed, const cnnz_qs8_output *out, int8_t *c,             \
                                            size_t ldc) {                                                            \
        strip256##SUFFIX(2, n, kgroups, a, lda, packed, out, c, ldc);                                                \
    }                                                                                                                \
    static TARGET void strip256##SUFFIX##_3(size_t n, size_t kgroups, const uint8_t *a, size_t lda,                  \
                                            const int8_t *packed, const cnnz_qs8_output *out, int8_t *c,             \
                                            size_t ldc) {                                                            \
        strip256##SUFFIX(3, n, kgroups, a, lda, packed, out, c, ldc);                                                \
    }                                                                                                                \
    static TARGET void strip256##SUFFIX##_4(size_t n, size_t kgroups, const uint8_t *a, size_t lda,                  \
                                            const int8_t *packed, const cnnz_qs8_output *out, int8_t *c,             \
                                            size_t ldc) {                                                            \
        strip256##SUFFIX(4, n, kgroups, a, lda, packed, out, c, ldc);                                                \
    }                                                                                                                \
                                                                                                                     \
    static TARGET void gemm256##SUFFIX(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,             \
                                       const int8_t *packed, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {    \
        for (size_t row = 0; row < m; row += 4) {                                                                    \
            const uint8_t *ar = a + row * lda;                                                                       \
            int8_t *cr = c + row * ldc;                                                                              \
            switch (m - row < 4 ? m - row : 4) {                                                                     \
            case 1: strip256##SUFFIX##_1(n, kgroups, ar, lda, packed, out, cr, ldc); break;                          \
            case 2: strip256##SUFFIX##_2(n, kgroups, ar, lda, packed, out, cr, ldc); break;                          \
            case 3: strip256##SUFFIX##_3(n, kgroups, ar, lda, packed, out, cr, ldc); break;                          \
            default: strip256##SUFFIX##_4(n, kgroups, ar, lda, packed, out, cr, ldc); break;                         \
            }                                                                                                        \
        }                                                                                                            \
    }

CNNZ_GEMM256(_vex, CNNZ_VNNI256, _mm256_dpbusd_avx_epi32)
CNNZ_GEMM256(_evex, CNNZ_VNNI256_EVEX, _mm256_dpbusd_epi32)
#undef CNNZ_GEMM256

void cnnz_qu8_gemm_vnni256(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda, const int8_t *packed,
                           const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    /* The callers checked that the CPU has one of the two (cnnz_cpu_has_avx_vnni or _avx512_vnni). */
    if (__builtin_cpu_supports("avxvnni"))
        gemm256_vex(m, n, kgroups, a, lda, packed, out, c, ldc);
    else
        gemm256_evex(m, n, kgroups, a, lda, packed, out, c, ldc);
}

#else
/* Not x86: never called (the CPU checks say no); the 512-bit GEMM's portable stand-in. */
void cnnz_qu8_gemm_vnni256(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda, const int8_t *packed,
                           const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    cnnz_qu8_gemm_vnni512(m, n, kgroups, a, lda, packed, NULL, out, c, ldc);
}
#endif
