/* Int8 GEMM microkernels (see include/CInt8Kernels.h). The sums are exact int32 (each product
 * of an int16 activation in [-255, 255] and an int8 weight fits 17 bits; the model's check keeps
 * the reduction short enough not to overflow), so both kernels give the same bits. */
#include "int8_tile_avx2.h"

static void depthwise_pixel_portable(size_t n, size_t taps, const int8_t *const *inputs,
                                     const int32_t *const *weights, int32_t zero_point, int32_t *sums,
                                     const cnnz_qs8_output *out, int8_t *c) {
    for (size_t j = 0; j < n; j++) sums[j] = 0;
    for (size_t t = 0; t < taps; t++) {
        const int8_t *x = inputs[t];
        const int32_t *w = weights[t];
        /* Unsigned arithmetic: wraps as the AVX2 kernel's does, never undefined. */
        for (size_t j = 0; j < n; j++) sums[j] = (int32_t)((uint32_t)sums[j] + (uint32_t)((x[j] - zero_point) * w[j]));
    }
    for (size_t j = 0; j < n; j++) c[j] = store(sums[j], j, out);
}

void cnnz_qs8_gemm_portable(size_t m, size_t n, size_t kpairs, const int16_t *a, size_t lda, const int16_t *packed,
                            const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    size_t panels = (n + 7) / 8;
    for (size_t row = 0; row < m; row++) {
        const int16_t *ar = a + row * lda;
        for (size_t p = 0; p < panels; p++) {
            const int16_t *w = packed + p * kpairs * 16;
            int32_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (size_t kp = 0; kp < kpairs; kp++) {
                int32_t a0 = ar[2 * kp], a1 = ar[2 * kp + 1];
                for (int j = 0; j < 8; j++) {
                    /* Unsigned arithmetic: wraps as the AVX2 kernel's does, never undefined. */
                    acc[j] = (int32_t)((uint32_t)acc[j] + (uint32_t)(a0 * w[16 * kp + 2 * j] + a1 * w[16 * kp + 2 * j + 1]));
                }
            }
            size_t width = n - p * 8 < 8 ? n - p * 8 : 8;
            for (size_t j = 0; j < width; j++) c[row * ldc + p * 8 + j] = store(acc[j], p * 8 + j, out);
        }
    }
}

int32_t cnnz_qs8_requantize(int32_t x, int32_t multiplier, int32_t shift) { return requantize(x, multiplier, shift); }

#ifdef CNNZ_HAVE_AVX2
typedef void (*cnnz_strip_s16)(size_t, size_t, size_t, const int16_t *const *, const int16_t *, size_t,
                               const int16_t *, size_t, const cnnz_requant8 *, size_t, ptrdiff_t, const int8_t *,
                               int8_t *, size_t);

#define CNNZ_STRIP_S16(NP, KIND)                                                                                   \
    static CNNZ_T2 void strip_s16_##NP##_##KIND(size_t m, size_t taps, size_t pairs, const int16_t *const *pointers, \
                                                const int16_t *a, size_t lda, const int16_t *w, size_t panel,        \
                                                const cnnz_requant8 *p, size_t width, ptrdiff_t last_whole,          \
                                                const int8_t *table, int8_t *c, size_t ldc) {                        \
        /* A side by side (the GEMM) and through pointers (the row convolution) apart: with       \
         * pointers NULL and one tap constant, the tiles' loops hold no test of either. */        \
        if (pointers)                                                                               \
            strip_s16(NP, KIND, m, taps, pairs, pointers, NULL, 0, w, panel, p, width, last_whole, table, c, ldc);  \
        else                                                                                        \
            strip_s16(NP, KIND, m, 1, pairs, NULL, a, lda, w, panel, p, width, last_whole, table, c, ldc);          \
    }
CNNZ_STRIP_S16(1, 0)
CNNZ_STRIP_S16(2, 0)
CNNZ_STRIP_S16(1, 1)
CNNZ_STRIP_S16(2, 1)
CNNZ_STRIP_S16(1, 2)
CNNZ_STRIP_S16(2, 2)
CNNZ_STRIP_S16(1, 3)
CNNZ_STRIP_S16(2, 3)
CNNZ_STRIP_S16(1, 4)
CNNZ_STRIP_S16(2, 4)

/* [kind][np - 1] */
static const cnnz_strip_s16 strips_s16[5][2] = {{strip_s16_1_0, strip_s16_2_0},
                                                {strip_s16_1_1, strip_s16_2_1},
                                                {strip_s16_1_2, strip_s16_2_2},
                                                {strip_s16_1_3, strip_s16_2_3},
                                                {strip_s16_1_4, strip_s16_2_4}};

CNNZ_T2 void cnnz_qs8_gemm_s16_4x16c2__avx2(size_t m, size_t n, size_t taps, size_t pairs,
                                            const int16_t *const *pointers, const int16_t *a, size_t lda,
                                            const int16_t *packed, const void *stage, const cnnz_qs8_output *out,
                                            int8_t *c, size_t ldc) {
    size_t panel = taps * pairs * 16;
    /* From the last group: a partial group's rows may then be stored whole over the next row's
     * first columns, which a later group writes (see int8_tile_avx2.h). */
    int rounds = requant8_rounds_to_nearest();
    for (size_t g = (n + 15) / 16; g-- > 0;) {
        cnnz_tile_group t = tile_panel_group(stage, g, m, n, ldc);
        strips_s16[requant8_group_kind(t.constants, rounds)][t.np - 1](m, taps, pairs, pointers, a, lda, packed + 2 * g * panel, panel,
                                                t.constants->panel, t.width, t.last_whole, out->table, c + t.column,
                                                ldc);
    }
}

size_t cnnz_qs8_store_avx2_bytes(size_t n) { return (n + 15) / 16 * sizeof(cnnz_requant8_group); }

CNNZ_T2 void cnnz_qs8_store_avx2_prepare(size_t n, const cnnz_qs8_output *out, void *stage, int float_forms) {
    cnnz_requant8_group *groups = (cnnz_requant8_group *)stage;
    for (size_t g = 0; g < (n + 15) / 16; g++) requant8_group(16 * g, n, out, float_forms, groups + g);
}

/* XNNPACK's AVX2 choice: int16 activations and weights, vpmaddwd (two products summed into
 * int32, no saturation), then vpaddd. One row (a Dense layer at batch 1): four panels at a time,
 * each stored by store_columns8 (cheaper than the tiles' constants for a single row); more rows:
 * cnnz_qs8_gemm_s16_4x16c2__avx2. */
__attribute__((target("avx2"))) void cnnz_qs8_gemm_avx2(size_t m, size_t n, size_t kpairs, const int16_t *a,
                                                         size_t lda, const int16_t *packed, const void *stage,
                                                         const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    if (m > 1) {
        cnnz_qs8_gemm_s16_4x16c2__avx2(m, n, 1, kpairs, NULL, a, lda, packed, stage, out, c, ldc);
        return;
    }
    size_t panels = (n + 7) / 8;
    const int16_t *a0 = a;
    for (size_t p = 0; p < panels; p += 4) {
        size_t count = panels - p < 4 ? panels - p : 4;
        const __m256i *w[4];
        for (size_t i = 0; i < 4; i++) w[i] = (const __m256i *)(packed + (p + (i < count ? i : 0)) * kpairs * 16);
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t kp = 0; kp < kpairs; kp++) {
            int32_t v0;
            __builtin_memcpy(&v0, a0 + 2 * kp, 4);
            __m256i x0 = _mm256_set1_epi32(v0);
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(x0, _mm256_loadu_si256(w[0] + kp)));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(x0, _mm256_loadu_si256(w[1] + kp)));
            s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(x0, _mm256_loadu_si256(w[2] + kp)));
            s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(x0, _mm256_loadu_si256(w[3] + kp)));
        }
        __m256i tiles[4] = {s0, s1, s2, s3};
        for (size_t i = 0; i < count; i++) {
            size_t column = (p + i) * 8;
            size_t width = n - column < 8 ? n - column : 8;
            store_columns8(tiles[i], column, width, out, c + column);
        }
    }
}

__attribute__((target("avx2"))) static void store_row_avx2(const int32_t *sums, size_t n, const cnnz_qs8_output *out,
                                                          int8_t *c) {
    size_t j = 0;
    for (; j + 8 <= n; j += 8) store_columns8(_mm256_loadu_si256((const __m256i *)(sums + j)), j, 8, out, c + j);
    if (j < n) {
        __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - j)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        store_columns8(_mm256_maskload_epi32(sums + j, lanes), j, n - j, out, c + j);
    }
}

__attribute__((target("avx2"))) static void depthwise_pixel_avx2(size_t n, size_t taps, const int8_t *const *inputs,
                                                                const int32_t *const *weights, int32_t zero_point,
                                                                int32_t *sums, const cnnz_qs8_output *out,
                                                                int8_t *c) {
    size_t j = 0;
    __m256i zero = _mm256_set1_epi32(zero_point);
    /* Sixteen channels at a time (two independent sums), then eight. */
    for (; j + 16 <= n; j += 16) {
        __m256i s0 = _mm256_setzero_si256(), s1 = s0;
        for (size_t t = 0; t < taps; t++) {
            __m128i q = _mm_loadu_si128((const __m128i *)(inputs[t] + j));
            __m256i x0 = _mm256_sub_epi32(_mm256_cvtepi8_epi32(q), zero);
            __m256i x1 = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)), zero);
            s0 = _mm256_add_epi32(s0, _mm256_mullo_epi32(x0, _mm256_loadu_si256((const __m256i *)(weights[t] + j))));
            s1 = _mm256_add_epi32(s1,
                                  _mm256_mullo_epi32(x1, _mm256_loadu_si256((const __m256i *)(weights[t] + j + 8))));
        }
        _mm256_storeu_si256((__m256i *)(sums + j), s0);
        _mm256_storeu_si256((__m256i *)(sums + j + 8), s1);
    }
    for (; j + 8 <= n; j += 8) {
        __m256i s0 = _mm256_setzero_si256();
        for (size_t t = 0; t < taps; t++) {
            __m256i x0 = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(inputs[t] + j))), zero);
            s0 = _mm256_add_epi32(s0, _mm256_mullo_epi32(x0, _mm256_loadu_si256((const __m256i *)(weights[t] + j))));
        }
        _mm256_storeu_si256((__m256i *)(sums + j), s0);
    }
    size_t vectorized = j;
    for (; j < n; j++) sums[j] = 0;
    for (size_t t = 0; t < taps; t++) {
        const int8_t *x = inputs[t];
        const int32_t *w = weights[t];
        for (j = vectorized; j < n; j++)
            sums[j] = (int32_t)((uint32_t)sums[j] + (uint32_t)((x[j] - zero_point) * w[j]));
    }
    store_row_avx2(sums, n, out, c);
}

void cnnz_qs8_depthwise_pixel(int level, size_t n, size_t taps, const int8_t *const *inputs,
                              const int32_t *const *weights, int32_t zero_point, int32_t *sums,
                              const cnnz_qs8_output *out, int8_t *c) {
    if (level >= CNNZ_INT8_AVX512) {
        cnnz_qs8_depthwise_pixel_avx512(n, taps, inputs, weights, zero_point, out, c);
        return;
    }
    if (level) {
        depthwise_pixel_avx2(n, taps, inputs, weights, zero_point, sums, out, c);
        return;
    }
    depthwise_pixel_portable(n, taps, inputs, weights, zero_point, sums, out, c);
}

void cnnz_qs8_add2(int level, size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add *p,
                   const cnnz_qs8_output *out, int8_t *c) {
    if (level >= CNNZ_INT8_AVX512) {
        cnnz_qs8_add2_avx512(n, a, b, p, out, c);
        return;
    }
    if (level) {
        cnnz_qs8_add2__avx2(n, a, b, p, out, c);
        return;
    }
    for (size_t i = 0; i < n; i++) c[i] = add_one(a[i], b[i], p, out);
}

void cnnz_qs8_store_row(int level, const int32_t *sums, size_t n, const cnnz_qs8_output *out, int8_t *c) {
    if (level >= CNNZ_INT8_AVX512) {
        cnnz_qs8_store_row_avx512(sums, n, out, c);
        return;
    }
    if (level) {
        store_row_avx2(sums, n, out, c);
        return;
    }
    for (size_t j = 0; j < n; j++) c[j] = store(sums[j], j, out);
}
#else
void cnnz_qs8_depthwise_pixel(int level, size_t n, size_t taps, const int8_t *const *inputs,
                              const int32_t *const *weights, int32_t zero_point, int32_t *sums,
                              const cnnz_qs8_output *out, int8_t *c) {
    (void)level;
    depthwise_pixel_portable(n, taps, inputs, weights, zero_point, sums, out, c);
}

void cnnz_qs8_add2(int level, size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add *p,
                   const cnnz_qs8_output *out, int8_t *c) {
    (void)level;
    for (size_t i = 0; i < n; i++) c[i] = add_one(a[i], b[i], p, out);
}

void cnnz_qs8_store_row(int level, const int32_t *sums, size_t n, const cnnz_qs8_output *out, int8_t *c) {
    (void)level;
    for (size_t j = 0; j < n; j++) c[j] = store(sums[j], j, out);
}

void cnnz_qs8_gemm_avx2(size_t m, size_t n, size_t kpairs, const int16_t *a, size_t lda, const int16_t *packed,
                        const void *stage, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    (void)stage;
    cnnz_qs8_gemm_portable(m, n, kpairs, a, lda, packed, out, c, ldc);
}

size_t cnnz_qs8_store_avx2_bytes(size_t n) {
    (void)n;
    return 0;
}

void cnnz_qs8_store_avx2_prepare(size_t n, const cnnz_qs8_output *out, void *stage, int float_forms) {
    (void)float_forms;
    (void)n;
    (void)out;
    (void)stage;
}
#endif

void cnnz_qs8_depthwise_row(int level, const int8_t *image, const cnnz_qs8_window *w, size_t oy,
                            const int32_t *weights, int32_t zero_point, void *scratch, const cnnz_qs8_output *out,
                            int8_t *c) {
    size_t n = w->channels, kw = w->kernel_width;
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX512 && w->kernel_height <= 16 && kw <= 16) {
        cnnz_qs8_depthwise_row_avx512(image, w, oy, weights, zero_point, out, c);
        return;
    }
#endif
    int32_t *sums = (int32_t *)scratch;
    const int8_t **inputs = (const int8_t **)(void *)(sums + (n + 1) / 2 * 2);
    const int32_t **tap_weights = (const int32_t **)(void *)(inputs + w->kernel_height * kw);
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    for (size_t ox = 0; ox < w->out_width; ox++) {
        ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
        size_t taps = 0;
        for (size_t ky = 0; ky < w->kernel_height; ky++) {
            ptrdiff_t iy = y0 + (ptrdiff_t)(ky * w->dilation_height);
            if (iy < 0 || iy >= (ptrdiff_t)w->height) continue;
            for (size_t kx = 0; kx < kw; kx++) {
                ptrdiff_t ix = x0 + (ptrdiff_t)(kx * w->dilation_width);
                if (ix < 0 || ix >= (ptrdiff_t)w->width) continue;
                inputs[taps] = image + ((size_t)iy * w->width + (size_t)ix) * n;
                tap_weights[taps] = weights + (ky * kw + kx) * n;
                taps++;
            }
        }
        cnnz_qs8_depthwise_pixel(level, n, taps, inputs, tap_weights, zero_point, sums, out, c + ox * n);
    }
}
