/* The int8 path around the GEMMs, with AVX-512 where the CPU has it and plain C otherwise: the
 * im2col for the VNNI layout and depthwise rows (see include/CInt8Kernels.h; max pooling rows in
 * int8_maxpool.c, the VNNI GEMMs are in int8_vnni.c and int8_vnni256.c, the Add and the input quantize in int8_add_quantize.c).
 * Every function carries its instruction set as a target attribute, so the package builds with
 * no CPU flags; the callers run them only after the run-time CPU check. */
#include "int8_requant512.h"

#include <string.h>

/* The im2col body for one set of copy and fill functions (inlined into each level's version). */
#define CNNZ_IM2COL_BODY(COPY, FILL)                                                                                \
    size_t cin = w->group_channels, kw = w->kernel_width;                                                          \
    size_t k = w->kernel_height * kw * cin;                                                                        \
    /* The taps of one kernel row are adjacent bytes when the pixels are (dilation 1) and the group is    \
     * every channel. */                                                                                           \
    int whole = w->dilation_width == 1 && cin == w->channels;                                                      \
    for (size_t r = 0; r < count; r++) {                                                                           \
        size_t pixel = first + r;                                                                                  \
        ptrdiff_t oy = (ptrdiff_t)(pixel / w->out_width), ox = (ptrdiff_t)(pixel % w->out_width);                  \
        uint8_t *row = a + r * lda;                                                                                \
        ptrdiff_t x0 = ox * (ptrdiff_t)w->stride_width - w->pad_left;                                              \
        int inside = x0 >= 0 && x0 + (ptrdiff_t)((kw - 1) * w->dilation_width) < (ptrdiff_t)w->width;             \
        for (size_t ky = 0; ky < w->kernel_height; ky++) {                                                         \
            ptrdiff_t iy = oy * (ptrdiff_t)w->stride_height - w->pad_top + (ptrdiff_t)(ky * w->dilation_height);   \
            if (iy < 0 || iy >= (ptrdiff_t)w->height) {                                                            \
                FILL(row, padding_byte, kw * cin);                                                                 \
            } else {                                                                                               \
                const int8_t *line = image + (size_t)iy * w->width * w->channels + w->group_offset;                \
                if (whole && inside) {                                                                             \
                    COPY(row, line + (size_t)x0 * w->channels, kw * cin);                                          \
                } else {                                                                                           \
                    for (size_t kx = 0; kx < kw; kx++) {                                                           \
                        ptrdiff_t ix = x0 + (ptrdiff_t)(kx * w->dilation_width);                                   \
                        if (ix < 0 || ix >= (ptrdiff_t)w->width)                                                   \
                            FILL(row + kx * cin, padding_byte, cin);                                               \
                        else                                                                                       \
                            COPY(row + kx * cin, line + (size_t)ix * w->channels, cin);                            \
                    }                                                                                              \
                }                                                                                                  \
            }                                                                                                      \
            row += kw * cin;                                                                                       \
        }                                                                                                          \
        if (lda > k) FILL(a + r * lda + k, 0, lda - k);                                                            \
    }

static inline void xor_copy(uint8_t *d, const int8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = (uint8_t)s[i] ^ 0x80;
}

static inline void fill(uint8_t *d, uint8_t value, size_t n) { memset(d, value, n); }

static void im2col_plain(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte, size_t first,
                         size_t count, uint8_t *a, size_t lda) {
    CNNZ_IM2COL_BODY(xor_copy, fill)
}

#ifdef CNNZ_HAVE_AVX2
CNNZ_AVX512 void cnnz_qs8_store_row_avx512(const int32_t *sums, size_t n, const cnnz_qs8_output *out, int8_t *c) {
    for (size_t j = 0; j < n; j += 16) {
        size_t width = n - j < 16 ? n - j : 16;
        __mmask16 lanes = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
        store16(_mm512_maskz_loadu_epi32(lanes, sums + j), j, width, out, c + j);
    }
}

/* ---- Copies for the VNNI layout: bytes xor 0x80 (int8 to q + 128). */

CNNZ_INLINE CNNZ_AVX512 void xor_copy_avx512(uint8_t *d, const int8_t *s, size_t n) {
    const __m512i sign = _mm512_set1_epi8((char)0x80);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512(d + i, _mm512_xor_si512(_mm512_loadu_si512(s + i), sign));
    if (i < n) {
        __mmask64 lanes = (__mmask64)(((uint64_t)1 << (n - i)) - 1);
        _mm512_mask_storeu_epi8(d + i, lanes, _mm512_xor_si512(_mm512_maskz_loadu_epi8(lanes, s + i), sign));
    }
}

CNNZ_INLINE CNNZ_AVX512 void fill_avx512(uint8_t *d, uint8_t value, size_t n) {
    const __m512i v = _mm512_set1_epi8((char)value);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) _mm512_storeu_si512(d + i, v);
    if (i < n) _mm512_mask_storeu_epi8(d + i, (__mmask64)(((uint64_t)1 << (n - i)) - 1), v);
}

static CNNZ_AVX512 void im2col_general_avx512(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                              size_t first, size_t count, uint8_t *a, size_t lda) {
    CNNZ_IM2COL_BODY(xor_copy_avx512, fill_avx512)
}

/* Rows of at most 64 bytes (the first convolutions: 1 to 12 input channels), taps of a kernel
 * row adjacent in memory: each row is built in one register, kernel row ky's bytes merged in
 * with a masked load from an address shifted back by ky's offset in the row (masked lanes do
 * not fault), then xor 0x80 and one store. Pixels with taps outside the image horizontally
 * take the general path. */
static CNNZ_AVX512 void im2col_avx512(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                      size_t first, size_t count, uint8_t *a, size_t lda) {
    size_t kh = w->kernel_height, cin = w->group_channels, segment = w->kernel_width * cin, k = kh * segment;
    if (lda > 64 || kh > 64 || w->dilation_width != 1 || cin != w->channels || count == 0) {
        im2col_general_avx512(image, w, padding_byte, first, count, a, lda);
        return;
    }
    const __m512i sign = _mm512_set1_epi8((char)0x80);
    const __m512i padding = _mm512_set1_epi8((char)(padding_byte ^ 0x80));
    const __mmask64 row_lanes = lda >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << lda) - 1);
    const __mmask64 k_lanes = k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << k) - 1);
    const __mmask64 segment_lanes = segment >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << segment) - 1);
    size_t oy = first / w->out_width, ox = first % w->out_width;
    size_t line_bytes = w->width * w->channels;
    for (size_t r = 0; r < count; r++) {
        ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
        if (x0 < 0 || x0 + (ptrdiff_t)w->kernel_width > (ptrdiff_t)w->width) {
            im2col_general_avx512(image, w, padding_byte, first + r, 1, a + r * lda, lda);
        } else {
            /* Independent loads (a merging load would wait for the one before), or-ed. */
            __m512i v = _mm512_setzero_si512();
            __mmask64 outside = k_lanes;
            ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
            const int8_t *base = image + (size_t)x0 * w->channels;
            for (size_t ky = 0; ky < kh; ky++) {
                ptrdiff_t iy = y0 + (ptrdiff_t)(ky * w->dilation_height);
                if (iy < 0 || iy >= (ptrdiff_t)w->height) continue;
                __mmask64 lanes = segment_lanes << (ky * segment);
                outside &= ~lanes;
                v = _mm512_or_si512(
                    v, _mm512_maskz_loadu_epi8(lanes, base + (size_t)iy * line_bytes - ky * segment));
            }
            v = _mm512_mask_mov_epi8(v, outside, padding);
            _mm512_mask_storeu_epi8(a + r * lda, row_lanes, _mm512_maskz_mov_epi8(k_lanes, _mm512_xor_si512(v, sign)));
        }
        if (++ox == w->out_width) {
            ox = 0;
            oy++;
        }
    }
}

static CNNZ_AVX512 void rows_avx512(size_t rows, size_t k, const int8_t *x, size_t ldx, uint8_t *a, size_t lda) {
    if (k == ldx && k == lda) {
        xor_copy_avx512(a, x, rows * k);
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        xor_copy_avx512(a + r * lda, x + r * ldx, k);
        if (lda > k) fill_avx512(a + r * lda + k, 0, lda - k);
    }
}

/* ---- Depthwise: 16 channels per vector, the last block masked. */

CNNZ_AVX512 void cnnz_qs8_depthwise_pixel_avx512(size_t n, size_t taps, const int8_t *const *inputs,
                                                 const int32_t *const *weights, int32_t zero_point,
                                                 const cnnz_qs8_output *out, int8_t *c) {
    const __m512i zero = _mm512_set1_epi32(zero_point);
    size_t j = 0;
    /* Thirty-two channels at a time (two independent sums), then sixteen or fewer. */
    for (; j + 32 <= n; j += 32) {
        __m512i s0 = _mm512_setzero_si512(), s1 = s0;
        for (size_t t = 0; t < taps; t++) {
            __m512i x0 = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(inputs[t] + j))), zero);
            __m512i x1 =
                _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(inputs[t] + j + 16))), zero);
            s0 = _mm512_add_epi32(s0, _mm512_mullo_epi32(x0, _mm512_loadu_si512(weights[t] + j)));
            s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(x1, _mm512_loadu_si512(weights[t] + j + 16)));
        }
        store16(s0, j, 16, out, c + j);
        store16(s1, j + 16, 16, out, c + j + 16);
    }
    for (; j < n; j += 16) {
        size_t width = n - j < 16 ? n - j : 16;
        __mmask16 lanes = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
        __m512i s0 = _mm512_setzero_si512();
        for (size_t t = 0; t < taps; t++) {
            __m512i x0 = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, inputs[t] + j)), zero);
            s0 = _mm512_add_epi32(s0, _mm512_mullo_epi32(x0, _mm512_maskz_loadu_epi32(lanes, weights[t] + j)));
        }
        store16(s0, j, width, out, c + j);
    }
}

/* One output row of a depthwise convolution (multiplier 1), sixteen channels per vector, the
 * pixels of the row inner: the rows of taps inside the image are the same for the whole row, and
 * for a pixel whose taps are all inside the image horizontally the zero point's share,
 * zero_point * (the sum of those taps' weights), is taken off once instead of at every tap. */
CNNZ_INLINE CNNZ_AVX512 __m512i depthwise_taps(const int8_t *const *lines, size_t rows, const int32_t *const *row_weights,
                                               const int kw, size_t step, size_t x, __mmask16 lanes) {
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    for (size_t r = 0; r < rows; r++) {
        const int8_t *p = lines[r] + x;
        const int32_t *wr = row_weights[r];
        for (int kx = 0; kx < kw; kx++) {
            __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, p + (size_t)kx * step));
            __m512i product = _mm512_mullo_epi32(v, _mm512_maskz_loadu_epi32(lanes, wr + (size_t)kx * 16));
            if (kx % 2 == 0)
                s0 = _mm512_add_epi32(s0, product);
            else
                s1 = _mm512_add_epi32(s1, product);
        }
    }
    return _mm512_add_epi32(s0, s1);
}

/* One pixel of a depthwise row with taps outside the image horizontally: (q - zero point) * w
 * over the taps inside. */
CNNZ_INLINE CNNZ_AVX512 void depthwise_border_avx512(const int8_t *const *lines, size_t rows,
                                                     const int32_t *const *row_weights, const cnnz_qs8_window *w,
                                                     size_t ox, size_t j, __mmask16 lanes, __m512i zero,
                                                     size_t width, const cnnz_qs8_output *out, int8_t *c) {
    size_t n = w->channels;
    ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
    __m512i sum = _mm512_setzero_si512();
    for (size_t r = 0; r < rows; r++) {
        for (size_t kx = 0; kx < w->kernel_width; kx++) {
            ptrdiff_t ix = x0 + (ptrdiff_t)(kx * w->dilation_width);
            if (ix < 0 || ix >= (ptrdiff_t)w->width) continue;
            __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, lines[r] + (size_t)ix * n + j));
            v = _mm512_sub_epi32(v, zero);
            sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(v, _mm512_loadu_si512(row_weights[r] + kx * 16)));
        }
    }
    store16(sum, j, width, out, c + ox * n + j);
}

CNNZ_AVX512 void cnnz_qs8_depthwise_row_avx512(const int8_t *image, const cnnz_qs8_window *w, size_t oy,
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
    const __m512i zero = _mm512_set1_epi32(zero_point);
    for (size_t j = 0; j < n; j += 16) {
        size_t width = n - j < 16 ? n - j : 16;
        __mmask16 lanes = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
        /* This block's weights, 16 per tap (kw * rows <= 16 * 16), and the zero point's share. */
        int32_t packed[16 * 16 * 16];
        const int32_t *row_weights[16];
        __m512i share = _mm512_setzero_si512();
        for (size_t r = 0; r < rows; r++) {
            row_weights[r] = packed + r * kw * 16;
            for (size_t kx = 0; kx < kw; kx++) {
                __m512i wv = _mm512_maskz_loadu_epi32(lanes, weights + (tap_rows[r] * kw + kx) * n + j);
                _mm512_storeu_si512(packed + (r * kw + kx) * 16, wv);
                share = _mm512_add_epi32(share, _mm512_mullo_epi32(wv, zero));
            }
        }
        size_t ox = 0;
        if (rows == 3 && kw == 3 && width == 16) {
            /* The common 3x3 case, a full block: the nine weight vectors stay in registers. */
            __m512i k0 = _mm512_loadu_si512(packed), k1 = _mm512_loadu_si512(packed + 16);
            __m512i k2 = _mm512_loadu_si512(packed + 32), k3 = _mm512_loadu_si512(packed + 48);
            __m512i k4 = _mm512_loadu_si512(packed + 64), k5 = _mm512_loadu_si512(packed + 80);
            __m512i k6 = _mm512_loadu_si512(packed + 96), k7 = _mm512_loadu_si512(packed + 112);
            __m512i k8 = _mm512_loadu_si512(packed + 128);
            /* The bias joins the zero point's share, taken off once. */
            cnnz_requant16 parameters = requant16_parameters(j, 16, out);
            __m512i offset = out->table ? share : _mm512_sub_epi32(share, parameters.bias);
            /* Pixels before the first interior one go the general way below. */
            size_t start = 0;
            while (start < w->out_width && (ptrdiff_t)(start * w->stride_width) < w->pad_left) start++;
            for (; ox < start; ox++) depthwise_border_avx512(lines, rows, row_weights, w, ox, j, lanes, zero, width, out, c);
            for (; ox < w->out_width; ox++) {
                ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
                if (x0 + (ptrdiff_t)(2 * w->dilation_width) >= (ptrdiff_t)w->width) break;
                size_t x = (size_t)x0 * n + j;
#define CNNZ_TAP(L, K, KX) \
    _mm512_mullo_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(lines[L] + x + (KX) * step))), K)
                __m512i s0 = _mm512_add_epi32(CNNZ_TAP(0, k0, 0), CNNZ_TAP(0, k1, 1));
                __m512i s1 = _mm512_add_epi32(CNNZ_TAP(0, k2, 2), CNNZ_TAP(1, k3, 0));
                __m512i s2 = _mm512_add_epi32(CNNZ_TAP(1, k4, 1), CNNZ_TAP(1, k5, 2));
                __m512i s3 = _mm512_add_epi32(CNNZ_TAP(2, k6, 0), CNNZ_TAP(2, k7, 1));
                s0 = _mm512_add_epi32(s0, _mm512_sub_epi32(CNNZ_TAP(2, k8, 2), offset));
#undef CNNZ_TAP
                __m512i sum = _mm512_add_epi32(_mm512_add_epi32(s0, s1), _mm512_add_epi32(s2, s3));
                if (out->table)
                    store16(sum, j, 16, out, c + ox * n + j);
                else
                    _mm_storeu_si128((__m128i *)(c + ox * n + j), requant16(sum, &parameters, 0));
            }
        }
        for (; ox < w->out_width; ox++) {
            ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
            __m512i sum;
            if (x0 >= 0 && x0 + (ptrdiff_t)((kw - 1) * w->dilation_width) < (ptrdiff_t)w->width) {
                size_t x = (size_t)x0 * n + j;
                sum = kw == 3 ? depthwise_taps(lines, rows, row_weights, 3, step, x, lanes)
                              : depthwise_taps(lines, rows, row_weights, (int)kw, step, x, lanes);
                sum = _mm512_sub_epi32(sum, share);
            } else {
                depthwise_border_avx512(lines, rows, row_weights, w, ox, j, lanes, zero, width, out, c);
                continue;
            }
            store16(sum, j, width, out, c + ox * n + j);
        }
    }
}

#endif

void cnnz_qu8_im2col(int level, const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte, size_t first,
                     size_t count, uint8_t *a, size_t lda) {
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX512) {
        im2col_avx512(image, w, padding_byte, first, count, a, lda);
        return;
    }
#endif
    (void)level;
    im2col_plain(image, w, padding_byte, first, count, a, lda);
}

void cnnz_qu8_rows(int level, size_t rows, size_t k, const int8_t *x, size_t ldx, uint8_t *a, size_t lda) {
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX512) {
        rows_avx512(rows, k, x, ldx, a, lda);
        return;
    }
#endif
    (void)level;
    for (size_t r = 0; r < rows; r++) {
        xor_copy(a + r * lda, x + r * ldx, k);
        if (lda > k) fill(a + r * lda + k, 0, lda - k);
    }
}
