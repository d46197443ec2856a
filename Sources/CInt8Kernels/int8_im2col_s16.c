/* The im2col of the int16 GEMMs (portable and AVX2 vpmaddwd, int8_gemm.c; see
 * include/CInt8Kernels.h): q - zero point as int16, 0 at taps outside the image (the zero point
 * there adds nothing) and past k. Plain C, and with AVX2 sixteen bytes widened at a time. */
#include "int8_common.h"

#include <string.h>

#define CNNZ_IM2COL_S16_BODY(COPY)                                                                                  \
    size_t cin = w->group_channels, kw = w->kernel_width;                                                          \
    size_t k = w->kernel_height * kw * cin;                                                                        \
    int whole = w->dilation_width == 1 && cin == w->channels;                                                      \
    for (size_t r = 0; r < count; r++) {                                                                           \
        size_t pixel = first + r;                                                                                  \
        ptrdiff_t oy = (ptrdiff_t)(pixel / w->out_width), ox = (ptrdiff_t)(pixel % w->out_width);                  \
        int16_t *row = a + r * lda;                                                                                \
        ptrdiff_t x0 = ox * (ptrdiff_t)w->stride_width - w->pad_left;                                              \
        int inside = x0 >= 0 && x0 + (ptrdiff_t)((kw - 1) * w->dilation_width) < (ptrdiff_t)w->width;             \
        for (size_t ky = 0; ky < w->kernel_height; ky++) {                                                         \
            ptrdiff_t iy = oy * (ptrdiff_t)w->stride_height - w->pad_top + (ptrdiff_t)(ky * w->dilation_height);   \
            if (iy < 0 || iy >= (ptrdiff_t)w->height) {                                                            \
                memset(row, 0, kw * cin * sizeof(int16_t));                                                        \
            } else {                                                                                               \
                const int8_t *line = image + (size_t)iy * w->width * w->channels + w->group_offset;                \
                if (whole && inside) {                                                                             \
                    COPY(row, line + (size_t)x0 * w->channels, kw * cin, zero_point);                              \
                } else {                                                                                           \
                    for (size_t kx = 0; kx < kw; kx++) {                                                           \
                        ptrdiff_t ix = x0 + (ptrdiff_t)(kx * w->dilation_width);                                   \
                        if (ix < 0 || ix >= (ptrdiff_t)w->width)                                                   \
                            memset(row + kx * cin, 0, cin * sizeof(int16_t));                                      \
                        else                                                                                       \
                            COPY(row + kx * cin, line + (size_t)ix * w->channels, cin, zero_point);                \
                    }                                                                                              \
                }                                                                                                  \
            }                                                                                                      \
            row += kw * cin;                                                                                       \
        }                                                                                                          \
        if (lda > k) memset(a + r * lda + k, 0, (lda - k) * sizeof(int16_t));                                      \
    }

static inline void widen_plain(int16_t *d, const int8_t *s, size_t n, int16_t zero_point) {
    for (size_t i = 0; i < n; i++) d[i] = (int16_t)(s[i] - zero_point);
}

static void im2col_s16_plain(const int8_t *image, const cnnz_qs8_window *w, int16_t zero_point, size_t first,
                             size_t count, int16_t *a, size_t lda) {
    CNNZ_IM2COL_S16_BODY(widen_plain)
}

static void rows_s16_plain(size_t rows, size_t k, const int8_t *x, size_t ldx, int16_t zero_point, int16_t *a,
                           size_t lda) {
    if (ldx == k && lda == k) {
        widen_plain(a, x, rows * k, zero_point);
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        widen_plain(a + r * lda, x + r * ldx, k, zero_point);
        if (lda > k) memset(a + r * lda + k, 0, (lda - k) * sizeof(int16_t));
    }
}

#ifdef CNNZ_HAVE_AVX2
static inline __attribute__((always_inline, target("avx2"))) void widen_avx2(int16_t *d, const int8_t *s, size_t n,
                                                                             int16_t zero_point) {
    const __m256i zero = _mm256_set1_epi16(zero_point);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(s + i)));
        _mm256_storeu_si256((__m256i *)(d + i), _mm256_sub_epi16(v, zero));
    }
    for (; i < n; i++) d[i] = (int16_t)(s[i] - zero_point);
}

static __attribute__((target("avx2"))) void im2col_s16_avx2(const int8_t *image, const cnnz_qs8_window *w,
                                                            int16_t zero_point, size_t first, size_t count,
                                                            int16_t *a, size_t lda) {
    CNNZ_IM2COL_S16_BODY(widen_avx2)
}

/* Rows side by side in both (a pointwise layer's input, k even): one run, not a call and a tail
 * per row (mobile_res b1, k = 16: 45 instructions a row). */
static __attribute__((target("avx2"))) void rows_s16_avx2(size_t rows, size_t k, const int8_t *x, size_t ldx,
                                                          int16_t zero_point, int16_t *a, size_t lda) {
    if (ldx == k && lda == k) {
        widen_avx2(a, x, rows * k, zero_point);
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        widen_avx2(a + r * lda, x + r * ldx, k, zero_point);
        if (lda > k) memset(a + r * lda + k, 0, (lda - k) * sizeof(int16_t));
    }
}
#endif

void cnnz_qs8_im2col_s16(int level, const int8_t *image, const cnnz_qs8_window *w, int16_t zero_point, size_t first,
                         size_t count, int16_t *a, size_t lda) {
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX2) {
        im2col_s16_avx2(image, w, zero_point, first, count, a, lda);
        return;
    }
#endif
    (void)level;
    im2col_s16_plain(image, w, zero_point, first, count, a, lda);
}

void cnnz_qs8_rows_s16(int level, size_t rows, size_t k, const int8_t *x, size_t ldx, int16_t zero_point, int16_t *a,
                       size_t lda) {
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX2) {
        rows_s16_avx2(rows, k, x, ldx, zero_point, a, lda);
        return;
    }
#endif
    (void)level;
    rows_s16_plain(rows, k, x, ldx, zero_point, a, lda);
}
