/* cnnz_qs8_depthwise_row at level CNNZ_INT8_AVX2 (include/CInt8Kernels.h); the layers themselves
 * run cnnz_qs8_dwconv_row_8c2__avx2 (int8_dwconv_avx2.c), which takes packed weights.
 * The depthwise rows follow the AVX-512 row kernel's plan (int8_avx512.c) on eight channels per
 * vector. The rows of taps inside the image are the same for the whole output row; each block of
 * eight channels packs its taps' weights once; a pixel whose taps are all inside the image
 * horizontally takes the zero point's share, zero_point * (the sum of those weights), off once
 * instead of at every tap, and a 3x3 window keeps its nine weight vectors in registers. The sums
 * are the reference's int32 (wrapping), so the bytes are the same. Channels past the last full
 * block of eight go per pixel in plain C. */
#include "int8_common.h"


#ifdef CNNZ_HAVE_AVX2
#define CNNZ_AVX2 __attribute__((target("avx2")))
#define CNNZ_INLINE static inline __attribute__((always_inline))

CNNZ_INLINE CNNZ_AVX2 __m256i tap8(const int8_t *p, const int32_t *w) {
    return _mm256_mullo_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)),
                              _mm256_loadu_si256((const __m256i *)w));
}

/* One pixel with taps outside the image horizontally: (q - zero point) * w over the taps inside,
 * for the block of eight channels at j. */
CNNZ_INLINE CNNZ_AVX2 __m256i border8(const int8_t *const *lines, size_t rows, const int32_t *packed,
                                      const cnnz_qs8_window *w, size_t ox, size_t j, __m256i zero) {
    size_t n = w->channels, kw = w->kernel_width;
    ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
    __m256i sum = _mm256_setzero_si256();
    for (size_t r = 0; r < rows; r++) {
        for (size_t kx = 0; kx < kw; kx++) {
            ptrdiff_t ix = x0 + (ptrdiff_t)(kx * w->dilation_width);
            if (ix < 0 || ix >= (ptrdiff_t)w->width) continue;
            __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(lines[r] + (size_t)ix * n + j)));
            v = _mm256_sub_epi32(v, zero);
            __m256i wv = _mm256_loadu_si256((const __m256i *)(packed + (r * kw + kx) * 8));
            sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(v, wv));
        }
    }
    return sum;
}

CNNZ_AVX2 void cnnz_qs8_depthwise_row_avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy,
                                           const int32_t *weights, int32_t zero_point, const cnnz_qs8_output *out,
                                           int8_t *c) {
    size_t n = w->channels, kh = w->kernel_height, kw = w->kernel_width;
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    const int8_t *lines[16];
    size_t tap_rows[16], rows = 0;
    for (size_t ky = 0; ky < kh && rows < 16; ky++) {
        ptrdiff_t iy = y0 + (ptrdiff_t)(ky * w->dilation_height);
        if (iy < 0 || iy >= (ptrdiff_t)w->height) continue;
        lines[rows] = image + (size_t)iy * w->width * n;
        tap_rows[rows++] = ky;
    }
    size_t step = w->dilation_width * n;
    const __m256i zero = _mm256_set1_epi32(zero_point);
    /* The first pixel whose taps are all inside the image horizontally, and the one after the last. */
    size_t start = 0, end = w->out_width;
    while (start < end && (ptrdiff_t)(start * w->stride_width) < w->pad_left) start++;
    while (end > start && (ptrdiff_t)((end - 1) * w->stride_width) - w->pad_left +
                                  (ptrdiff_t)((kw - 1) * w->dilation_width) >= (ptrdiff_t)w->width)
        end--;
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        /* This block's weights, 8 per tap (rows * kw <= 16 * 16), and the zero point's share. */
        int32_t packed[16 * 16 * 8];
        __m256i share = _mm256_setzero_si256();
        for (size_t r = 0; r < rows; r++) {
            for (size_t kx = 0; kx < kw; kx++) {
                __m256i wv = _mm256_loadu_si256((const __m256i *)(weights + (tap_rows[r] * kw + kx) * n + j));
                _mm256_storeu_si256((__m256i *)(packed + (r * kw + kx) * 8), wv);
                share = _mm256_add_epi32(share, _mm256_mullo_epi32(wv, zero));
            }
        }
        size_t ox = 0;
        for (; ox < start; ox++)
            store_columns8(border8(lines, rows, packed, w, ox, j, zero), j, 8, out, c + ox * n + j);
        if (rows == 3 && kw == 3) {
            /* The common 3x3 case: the nine weight vectors stay in registers. */
            const int32_t *k = packed;
#define CNNZ_WEIGHT(T) _mm256_loadu_si256((const __m256i *)(k + 8 * (T)))
            __m256i k0 = CNNZ_WEIGHT(0), k1 = CNNZ_WEIGHT(1), k2 = CNNZ_WEIGHT(2), k3 = CNNZ_WEIGHT(3);
            __m256i k4 = CNNZ_WEIGHT(4), k5 = CNNZ_WEIGHT(5), k6 = CNNZ_WEIGHT(6), k7 = CNNZ_WEIGHT(7);
            __m256i k8 = CNNZ_WEIGHT(8);
#undef CNNZ_WEIGHT
            for (; ox < end; ox++) {
                size_t x = ((size_t)((ptrdiff_t)(ox * w->stride_width) - w->pad_left)) * n + j;
#define CNNZ_TAP(L, K, KX) \
    _mm256_mullo_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(lines[L] + x + (KX) * step))), K)
                __m256i s0 = _mm256_add_epi32(CNNZ_TAP(0, k0, 0), CNNZ_TAP(0, k1, 1));
                __m256i s1 = _mm256_add_epi32(CNNZ_TAP(0, k2, 2), CNNZ_TAP(1, k3, 0));
                __m256i s2 = _mm256_add_epi32(CNNZ_TAP(1, k4, 1), CNNZ_TAP(1, k5, 2));
                __m256i s3 = _mm256_add_epi32(CNNZ_TAP(2, k6, 0), CNNZ_TAP(2, k7, 1));
                s0 = _mm256_add_epi32(s0, _mm256_sub_epi32(CNNZ_TAP(2, k8, 2), share));
#undef CNNZ_TAP
                __m256i sum = _mm256_add_epi32(_mm256_add_epi32(s0, s1), _mm256_add_epi32(s2, s3));
                store_columns8(sum, j, 8, out, c + ox * n + j);
            }
        } else {
            for (; ox < end; ox++) {
                size_t x = ((size_t)((ptrdiff_t)(ox * w->stride_width) - w->pad_left)) * n + j;
                __m256i s0 = _mm256_sub_epi32(_mm256_setzero_si256(), share), s1 = _mm256_setzero_si256();
                for (size_t r = 0; r < rows; r++) {
                    for (size_t kx = 0; kx < kw; kx++) {
                        __m256i product = tap8(lines[r] + x + kx * step, packed + (r * kw + kx) * 8);
                        if (kx % 2 == 0)
                            s0 = _mm256_add_epi32(s0, product);
                        else
                            s1 = _mm256_add_epi32(s1, product);
                    }
                }
                store_columns8(_mm256_add_epi32(s0, s1), j, 8, out, c + ox * n + j);
            }
        }
        for (; ox < w->out_width; ox++)
            store_columns8(border8(lines, rows, packed, w, ox, j, zero), j, 8, out, c + ox * n + j);
    }
    if (j == n) return;
    /* The last n - j (< 8) channels, per pixel. */
    for (size_t ox = 0; ox < w->out_width; ox++) {
        ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
        int32_t sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t r = 0; r < rows; r++) {
            for (size_t kx = 0; kx < kw; kx++) {
                ptrdiff_t ix = x0 + (ptrdiff_t)(kx * w->dilation_width);
                if (ix < 0 || ix >= (ptrdiff_t)w->width) continue;
                const int8_t *p = lines[r] + (size_t)ix * n;
                const int32_t *wt = weights + (tap_rows[r] * kw + kx) * n;
                for (size_t i = j; i < n; i++)
                    sums[i - j] = (int32_t)((uint32_t)sums[i - j] + (uint32_t)((p[i] - zero_point) * wt[i]));
            }
        }
        for (size_t i = j; i < n; i++) c[ox * n + i] = store(sums[i - j], i, out);
    }
}

#endif
