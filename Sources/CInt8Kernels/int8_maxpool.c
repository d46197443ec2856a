/* Int8 max pooling rows that keep the input's parameters (cnnz_qs8_maxpool_row, see
 * include/CInt8Kernels.h): AVX-512, AVX2 or plain C. */
#include "int8_avx512.h"
#include "int8_requant256.h"

#include <string.h>

#ifdef CNNZ_HAVE_AVX2

/* The plan of a row that both vector rows follow: the taps' offsets from a window's first pixel
 * (the window rows inside the image, every column: at most 16 taps) and the columns first..<end
 * whose window lies inside the image horizontally (x0 >= 0 and x0 + kw <= width), found once per
 * row; start is the offset of first's window's first column in the image's row 0. */
typedef struct {
    size_t count, first, end, start;
    size_t offsets[16];
} maxpool_plan;

/* Fills `plan` and returns 1, or returns 0 (the whole row then goes tap by tap) where the row has
 * no such columns, no taps inside the image or more than 16. */
CNNZ_INLINE int maxpool_row_plan(const cnnz_qs8_window *w, size_t oy, maxpool_plan *plan) {
    size_t n = w->channels, kw = w->kernel_width, out_width = w->out_width;
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    size_t ky0 = y0 < 0 ? (size_t)-y0 : 0, ky1 = w->kernel_height;
    if (y0 + (ptrdiff_t)ky1 > (ptrdiff_t)w->height) ky1 = (size_t)((ptrdiff_t)w->height - y0);
    size_t count = ky1 > ky0 ? (ky1 - ky0) * kw : 0;
    size_t first = 0, end;
    while (first < out_width && (ptrdiff_t)(first * w->stride_width) < w->pad_left) first++;
    end = first;
    while (end < out_width && (ptrdiff_t)(end * w->stride_width) - w->pad_left + (ptrdiff_t)kw <= (ptrdiff_t)w->width)
        end++;
    if (count == 0 || count > 16 || first == end) return 0;
    size_t t = 0;
    for (size_t ky = ky0; ky < ky1; ky++)
        for (size_t kx = 0; kx < kw; kx++) plan->offsets[t++] = ((size_t)(y0 + (ptrdiff_t)ky) * w->width + kx) * n;
    plan->count = count;
    plan->first = first;
    plan->end = end;
    plan->start = (size_t)((ptrdiff_t)(first * w->stride_width) - w->pad_left) * n;
    return 1;
}

/* One output row of a max pooling that keeps its input's parameters: the int8 maximum over the
 * window's taps inside the image, 64 channels per vector. */
static CNNZ_AVX512 void maxpool_pixels_avx512(const int8_t *image, const cnnz_qs8_window *w, size_t oy, size_t from,
                                              size_t to, int8_t *c) {
    size_t n = w->channels;
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    size_t ky0 = y0 < 0 ? (size_t)-y0 : 0;
    for (size_t ox = from; ox < to; ox++) {
        ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
        size_t kx0 = x0 < 0 ? (size_t)-x0 : 0;
        for (size_t j = 0; j < n; j += 64) {
            size_t width = n - j < 64 ? n - j : 64;
            __mmask64 lanes = width >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << width) - 1);
            __m512i m = _mm512_set1_epi8(-128);
            for (size_t ky = ky0; ky < w->kernel_height && y0 + (ptrdiff_t)ky < (ptrdiff_t)w->height; ky++) {
                const int8_t *line = image + (size_t)(y0 + (ptrdiff_t)ky) * w->width * n + j;
                for (size_t kx = kx0; kx < w->kernel_width && x0 + (ptrdiff_t)kx < (ptrdiff_t)w->width; kx++)
                    m = _mm512_max_epi8(m, _mm512_maskz_loadu_epi8(lanes, line + (size_t)(x0 + (ptrdiff_t)kx) * n));
            }
            _mm512_mask_storeu_epi8(c + ox * n + j, lanes, m);
        }
    }
}

/* The maximum of the `count` taps at p + offsets[t] (count a constant where inlined: 2x2 and 3x3
 * windows unrolled), 16 or 64 bytes wide. */
CNNZ_INLINE CNNZ_AVX512 __m128i max_taps16(const size_t count, const int8_t *p, const size_t *offsets,
                                           __mmask16 lanes) {
    __m128i m = _mm_maskz_loadu_epi8(lanes, p + offsets[0]);
    for (size_t t = 1; t < count; t++) m = _mm_max_epi8(m, _mm_maskz_loadu_epi8(lanes, p + offsets[t]));
    return m;
}
CNNZ_INLINE CNNZ_AVX512 __m512i max_taps64(const size_t count, const int8_t *p, const size_t *offsets,
                                           __mmask64 lanes) {
    __m512i m = _mm512_maskz_loadu_epi8(lanes, p + offsets[0]);
    for (size_t t = 1; t < count; t++) m = _mm512_max_epi8(m, _mm512_maskz_loadu_epi8(lanes, p + offsets[t]));
    return m;
}

/* The row: the columns whose window lies inside the image horizontally from the taps' offsets,
 * found once per row (at most 64 channels, at most 16 taps; 16 channels or fewer, seed002's and
 * the first layers', in 128-bit vectors), the others (and wider windows or channels) tap by tap
 * with the bounds checked. Per pixel with the bounds checked, seed002's maxpool2
 * (31x31x12) took 6.0 us; so 2.1 (A/B, one thread). */
static CNNZ_AVX512 void maxpool_row_avx512(const int8_t *image, const cnnz_qs8_window *w, size_t oy, int8_t *c) {
    size_t n = w->channels;
    maxpool_plan plan;
    if (n > 64 || !maxpool_row_plan(w, oy, &plan)) {
        maxpool_pixels_avx512(image, w, oy, 0, w->out_width, c);
        return;
    }
    size_t count = plan.count, first = plan.first, end = plan.end;
    const size_t *offsets = plan.offsets;
    maxpool_pixels_avx512(image, w, oy, 0, first, c);
    const int8_t *p = image + plan.start;
    size_t step = w->stride_width * n;
    if (n <= 16) {
        __mmask16 lanes = (__mmask16)((1u << n) - 1);
        for (size_t ox = first; ox < end; ox++, p += step) {
            __m128i m = count == 4   ? max_taps16(4, p, offsets, lanes)
                        : count == 9 ? max_taps16(9, p, offsets, lanes)
                                     : max_taps16(count, p, offsets, lanes);
            _mm_mask_storeu_epi8(c + ox * n, lanes, m);
        }
    } else {
        __mmask64 lanes = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
        for (size_t ox = first; ox < end; ox++, p += step) {
            __m512i m = count == 4   ? max_taps64(4, p, offsets, lanes)
                        : count == 9 ? max_taps64(9, p, offsets, lanes)
                                     : max_taps64(count, p, offsets, lanes);
            _mm512_mask_storeu_epi8(c + ox * n, lanes, m);
        }
    }
    maxpool_pixels_avx512(image, w, oy, end, w->out_width, c);
}

/* Output pixels from..<to of a max pooling row, tap by tap with the bounds checked: the
 * int8 maximum over the window's taps inside the image, 32 channels per vector, then 16; the last
 * channels of a pixel through 16 bytes read where the image has them (else per channel) and
 * written to a buffer, so nothing outside the image is read and nothing outside this pixel's
 * output is written. */
static CNNZ_AVX2_TARGET void maxpool_pixels_avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy, size_t from,
                                               size_t to, int8_t *c) {
    size_t n = w->channels, end = w->height * w->width * n;
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    size_t ky0 = y0 < 0 ? (size_t)-y0 : 0;
    for (size_t ox = from; ox < to; ox++) {
        ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
        size_t kx0 = x0 < 0 ? (size_t)-x0 : 0;
        /* The offsets of the taps inside the image (the caller checked there are at most 64). */
        size_t taps[64], count = 0;
        int8_t *o = c + ox * n;
        for (size_t ky = ky0; ky < w->kernel_height && y0 + (ptrdiff_t)ky < (ptrdiff_t)w->height; ky++) {
            size_t line = (size_t)(y0 + (ptrdiff_t)ky) * w->width;
            for (size_t kx = kx0; kx < w->kernel_width && x0 + (ptrdiff_t)kx < (ptrdiff_t)w->width; kx++)
                taps[count++] = (line + (size_t)(x0 + (ptrdiff_t)kx)) * n;
        }
        size_t j = 0;
        for (; j + 32 <= n; j += 32) {
            __m256i m = _mm256_set1_epi8(-128);
            for (size_t t = 0; t < count; t++)
                m = _mm256_max_epi8(m, _mm256_loadu_si256((const __m256i *)(image + taps[t] + j)));
            _mm256_storeu_si256((__m256i *)(o + j), m);
        }
        for (; j < n; j += 16) {
            size_t width = n - j < 16 ? n - j : 16;
            __m128i m = _mm_set1_epi8(-128);
            for (size_t t = 0; t < count; t++) {
                const int8_t *p = image + taps[t] + j;
                if (taps[t] + j + 16 <= end) {
                    m = _mm_max_epi8(m, _mm_loadu_si128((const __m128i *)p));
                } else {
                    int8_t bytes[16];
                    memset(bytes, -128, 16);
                    memcpy(bytes, p, width);
                    m = _mm_max_epi8(m, _mm_loadu_si128((const __m128i *)bytes));
                }
            }
            int8_t bytes[16];
            _mm_storeu_si128((__m128i *)bytes, m);
            memcpy(o + j, bytes, width);
        }
    }
}

/* The maximum of the `count` taps at p + offsets[t] (count a constant where inlined: 2x2 and 3x3
 * windows unrolled), 16 or 32 bytes. */
CNNZ_AVX2_INLINE __m128i max_taps16_avx2(const size_t count, const int8_t *p, const size_t *offsets) {
    __m128i m = _mm_loadu_si128((const __m128i *)(p + offsets[0]));
    for (size_t t = 1; t < count; t++) m = _mm_max_epi8(m, _mm_loadu_si128((const __m128i *)(p + offsets[t])));
    return m;
}
CNNZ_AVX2_INLINE __m256i max_taps32_avx2(const size_t count, const int8_t *p, const size_t *offsets) {
    __m256i m = _mm256_loadu_si256((const __m256i *)(p + offsets[0]));
    for (size_t t = 1; t < count; t++) m = _mm256_max_epi8(m, _mm256_loadu_si256((const __m256i *)(p + offsets[t])));
    return m;
}

/* cnnz_qs8_maxpool_row at level CNNZ_INT8_AVX2, maxpool_row_avx512's plan with 16- and 32-byte
 * vectors: the columns whose window lies inside the image horizontally from the taps' offsets,
 * found once per row (at most 16 taps), a pixel's channels as whole vectors (16 bytes up to 16
 * channels, else 32-byte ones) read from each tap and stored whole: the bytes past the
 * pixel's channels are the next pixels' (read from the image; written over the next pixels'
 * outputs, which are written after), so only the border columns and the last pixels of the row
 * or the image, where a vector would go past its end, go tap by tap. seed002's maxpool2
 * (31x31x12, 2x2) took 26-28 us with every pixel tap by tap, now 5-7 (A/B, one
 * thread, another session on the other core; float32: 7). */
CNNZ_AVX2_TARGET void cnnz_qs8_maxpool_row_avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy, int8_t *c) {
    size_t n = w->channels, out_width = w->out_width;
    maxpool_plan plan;
    if (!maxpool_row_plan(w, oy, &plan)) {
        maxpool_pixels_avx2(image, w, oy, 0, out_width, c);
        return;
    }
    size_t count = plan.count, first = plan.first, end = plan.end, start = plan.start;
    const size_t *offsets = plan.offsets;
    /* The bytes read from each tap and written per pixel: 16, or whole 32-byte vectors. */
    size_t vector = n <= 16 ? 16 : (n + 31) / 32 * 32;
    size_t step = w->stride_width * n, image_end = w->height * w->width * n;
    /* The first pixel a whole vector cannot take: its last tap's vector (the largest offset) would
     * go past the image, or its output vector past the row. */
    size_t stop = first;
    while (stop < end && start + (stop - first) * step + offsets[count - 1] + vector <= image_end &&
           stop * n + vector <= out_width * n)
        stop++;
    maxpool_pixels_avx2(image, w, oy, 0, first, c);
    const int8_t *p = image + start;
    if (vector == 16) {
        for (size_t ox = first; ox < stop; ox++, p += step) {
            __m128i m = count == 4   ? max_taps16_avx2(4, p, offsets)
                        : count == 9 ? max_taps16_avx2(9, p, offsets)
                                     : max_taps16_avx2(count, p, offsets);
            _mm_storeu_si128((__m128i *)(c + ox * n), m);
        }
    } else if (vector == 32) {
        for (size_t ox = first; ox < stop; ox++, p += step) {
            __m256i m = count == 4   ? max_taps32_avx2(4, p, offsets)
                        : count == 9 ? max_taps32_avx2(9, p, offsets)
                                     : max_taps32_avx2(count, p, offsets);
            _mm256_storeu_si256((__m256i *)(c + ox * n), m);
        }
    } else {
        for (size_t ox = first; ox < stop; ox++, p += step)
            for (size_t j = 0; j < n; j += 32) {
                __m256i m = count == 4   ? max_taps32_avx2(4, p + j, offsets)
                            : count == 9 ? max_taps32_avx2(9, p + j, offsets)
                                         : max_taps32_avx2(count, p + j, offsets);
                _mm256_storeu_si256((__m256i *)(c + ox * n + j), m);
            }
    }
    maxpool_pixels_avx2(image, w, oy, stop, out_width, c);
}
#endif

void cnnz_qs8_maxpool_row(int level, const int8_t *image, const cnnz_qs8_window *w, size_t oy, int8_t *c) {
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX512) {
        maxpool_row_avx512(image, w, oy, c);
        return;
    }
    if (level >= CNNZ_INT8_AVX2 && w->kernel_height * w->kernel_width <= 64) {
        cnnz_qs8_maxpool_row_avx2(image, w, oy, c);
        return;
    }
#endif
    (void)level;
    size_t n = w->channels;
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    for (size_t ox = 0; ox < w->out_width; ox++) {
        ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
        int8_t *out = c + ox * n;
        memset(out, -128, n);
        for (size_t ky = 0; ky < w->kernel_height; ky++) {
            ptrdiff_t iy = y0 + (ptrdiff_t)ky;
            if (iy < 0 || iy >= (ptrdiff_t)w->height) continue;
            for (size_t kx = 0; kx < w->kernel_width; kx++) {
                ptrdiff_t ix = x0 + (ptrdiff_t)kx;
                if (ix < 0 || ix >= (ptrdiff_t)w->width) continue;
                const int8_t *tap = image + ((size_t)iy * w->width + (size_t)ix) * n;
                for (size_t j = 0; j < n; j++) out[j] = tap[j] > out[j] ? tap[j] : out[j];
            }
        }
    }
}
