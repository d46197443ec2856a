/* cnnz_qs8_dwconv_row_8c2__avx2 (include/CInt8Kernels.h): output rows of a depthwise convolution
 * with depth multiplier 1 on AVX2, 8 channels per vector, two taps per vpmaddwd.
 *
 * The kernel it replaces (int8_depthwise_avx2.c) multiplied in 32-bit lanes: per tap and 8
 * channels a sign extension, a vpmulld and an add, then the general requantization (27 vector
 * instructions for a 3x3 window, and some 25 for the store). Here, as in the VNNI row kernel
 * (int8_dwconv_vnni.c), the taps of a window column are gathered per channel lane: 2 rows of it
 * as the two int16 of a 32-bit lane, so one vpmaddwd adds 2 taps of 8 channels. Per call the
 * input rows the window needs are built once, in pairs, into `rows`: for each pixel (with the
 * padding columns) and block of 8 channels, 16 int16 (q - zero point) of the pair's two rows,
 * interleaved; rows and columns outside the image are 0 (the zero point's q - zero point), so
 * no tap is checked. Every output pixel then reads, per pair and window column, one 32-byte
 * vector at a fixed offset (a memory operand of vpmaddwd where the weights stay in registers).
 * At vertical stride 1 without dilation, two output rows share the pairs of rows: pair p holds
 * rows y0 + 2p and y0 + 2p + 1, taps 2p, 2p + 1 of the first output row and 2p - 1, 2p of the
 * second (the second parity of the packed weights): a 3x3 window is 6 vpmaddwd per output
 * pixel and 8 channels where 9 taps are used. The store is the short exact form
 * (int8_requant256.h) where the columns allow it, else store_columns8.
 * The sums are the reference's, sum (q - zero point) * w over the taps inside the image
 * (products of at most 255 * 128 in magnitude, two of them per lane: exact in int32), plus the
 * bias, wrapping alike, so the bytes are the same. */
#include "int8_requant256.h"

#include <string.h>

/* The pairs of window rows: P = ceil((kernel_height + 1) / 2), enough for both parities. */
static size_t dwconv_pairs(size_t kernel_height) { return (kernel_height + 2) / 2; }

size_t cnnz_qs8_dwconv_8c2_packed_count(size_t kernel_height, size_t kernel_width, size_t channels) {
    return (channels + 7) / 8 * 2 * dwconv_pairs(kernel_height) * kernel_width * 16;
}

void cnnz_qs8_dwconv_8c2_pack(size_t kernel_height, size_t kernel_width, size_t channels, const int8_t *weights,
                              int16_t *packed) {
    size_t pairs = dwconv_pairs(kernel_height), blocks = (channels + 7) / 8;
    for (size_t g = 0; g < blocks; g++)
        for (size_t s = 0; s < 2; s++)
            for (size_t p = 0; p < pairs; p++)
                for (size_t kx = 0; kx < kernel_width; kx++)
                    for (size_t i = 0; i < 8; i++)
                        for (size_t e = 0; e < 2; e++) {
                            /* Tap row 2p + e - s (parity s: the second output row's taps). */
                            ptrdiff_t ky = (ptrdiff_t)(2 * p + e) - (ptrdiff_t)s;
                            size_t channel = 8 * g + i;
                            int16_t v = 0;
                            if (ky >= 0 && ky < (ptrdiff_t)kernel_height && channel < channels)
                                v = weights[((size_t)ky * kernel_width + kx) * channels + channel];
                            packed[((((g * 2 + s) * pairs + p) * kernel_width + kx) * 8 + i) * 2 + e] = v;
                        }
}

/* The padded width of `rows`: every column an output pixel's window reaches, and the image's. */
static size_t dwconv_padded_width(const cnnz_qs8_window *w) {
    size_t reach = (w->out_width - 1) * w->stride_width + (w->kernel_width - 1) * w->dilation_width + 1;
    size_t image = w->pad_left + w->width;
    return reach > image ? reach : image;
}

size_t cnnz_qs8_dwconv_8c2_rows_bytes(const cnnz_qs8_window *w) {
    return dwconv_pairs(w->kernel_height) * dwconv_padded_width(w) * ((w->channels + 7) / 8) * 32;
}

#ifdef CNNZ_HAVE_AVX2

/* Pair p of `rows` from image lines a and b (NULL: outside the image, all zero point). */
static CNNZ_AVX2_TARGET void build_pair(const int8_t *a, const int8_t *b, const cnnz_qs8_window *w, size_t padded,
                                        int32_t zero_point, int16_t *pair) {
    size_t n = w->channels, blocks = (n + 7) / 8, full = n / 8;
    const __m128i zero_bytes = _mm_set1_epi8((char)zero_point);
    const __m256i zero = _mm256_set1_epi16((int16_t)zero_point);
    /* Columns left and right of the image: 0. */
    size_t left = (size_t)w->pad_left, right = left + w->width;
    memset(pair, 0, left * blocks * 32);
    memset(pair + right * blocks * 16, 0, (padded - right) * blocks * 32);
#define CNNZ_PAIR(LA, LB) \
    _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_unpacklo_epi8(LA, LB)), zero)
    for (size_t x = 0; x < w->width; x++) {
        int16_t *o = pair + (left + x) * blocks * 16;
        const int8_t *pa = a ? a + x * n : NULL, *pb = b ? b + x * n : NULL;
        size_t g = 0;
        for (; g < full; g++) {
            __m128i va = pa ? _mm_loadl_epi64((const __m128i *)(pa + 8 * g)) : zero_bytes;
            __m128i vb = pb ? _mm_loadl_epi64((const __m128i *)(pb + 8 * g)) : zero_bytes;
            _mm256_storeu_si256((__m256i *)(o + 16 * g), CNNZ_PAIR(va, vb));
        }
        if (g < blocks) {
            /* The last n % 8 channels through buffers (nothing read past the pixel). */
            int8_t ba[8], bb[8];
            memset(ba, zero_point, 8);
            memset(bb, zero_point, 8);
            if (pa) memcpy(ba, pa + 8 * g, n - 8 * g);
            if (pb) memcpy(bb, pb + 8 * g, n - 8 * g);
            __m128i va = _mm_loadl_epi64((const __m128i *)ba), vb = _mm_loadl_epi64((const __m128i *)bb);
            _mm256_storeu_si256((__m256i *)(o + 16 * g), CNNZ_PAIR(va, vb));
        }
    }
#undef CNNZ_PAIR
}

/* Stores sums x of channels column..<column + width at c. kind: 0 store_columns8, 1 the short
 * form, 2 the short form with the negative step (constants where inlined). */
CNNZ_AVX2_INLINE void dw_store8(__m256i x, const cnnz_requant8 *p, size_t column, size_t width,
                                const cnnz_qs8_output *out, const int kind, int8_t *c) {
    if (kind == 0) {
        store_columns8(x, column, width, out, c);
        return;
    }
    __m128i bytes = requant8_bytes(requant8_fast(x, p, kind == 2), p);
    if (width == 8) {
        _mm_storel_epi64((__m128i *)c, bytes);
    } else {
        int8_t b[16];
        _mm_storeu_si128((__m128i *)b, bytes);
        memcpy(c, b, width);
    }
}

/* The output pixels of one block of 8 channels (g): pairs pair rows of `rows` from pixel 0,
 * kw window columns dilation dx apart (a constant 3 for the common window where inlined);
 * two: the second output row too (c2). */
CNNZ_AVX2_INLINE void dw_block(const int16_t *rows, const int16_t *weights, const cnnz_qs8_window *w, size_t g,
                               size_t pairs, size_t all_pairs, size_t kw, size_t padded, const int two,
                               const cnnz_requant8 *p, const cnnz_qs8_output *out, const int kind, int8_t *c,
                               int8_t *c2) {
    size_t n = w->channels, blocks = (n + 7) / 8, column = 8 * g, width = n - column < 8 ? n - column : 8;
    /* Vector strides (16 int16): a pixel, a window column, an output pixel, a pair. */
    size_t pixel = blocks * 16, dx = w->dilation_width * pixel, sx = w->stride_width * pixel;
    size_t pair = padded * pixel;
    const int16_t *k0 = weights, *k1 = weights + all_pairs * kw * 16;
    const int16_t *x = rows + 16 * g;
    for (size_t ox = 0; ox < w->out_width; ox++, x += sx) {
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        __m256i t0 = _mm256_setzero_si256(), t1 = _mm256_setzero_si256();
        for (size_t q = 0; q < pairs; q++) {
            for (size_t kx = 0; kx < kw; kx++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(x + q * pair + kx * dx));
                size_t k = (q * kw + kx) * 16;
                __m256i product = _mm256_madd_epi16(v, _mm256_loadu_si256((const __m256i *)(k0 + k)));
                /* Two chains per row: the adds' latency hides behind the other's. */
                if (kx % 2 == 0)
                    s0 = _mm256_add_epi32(s0, product);
                else
                    s1 = _mm256_add_epi32(s1, product);
                if (two) {
                    __m256i second = _mm256_madd_epi16(v, _mm256_loadu_si256((const __m256i *)(k1 + k)));
                    if (kx % 2 == 0)
                        t0 = _mm256_add_epi32(t0, second);
                    else
                        t1 = _mm256_add_epi32(t1, second);
                }
            }
        }
        dw_store8(_mm256_add_epi32(s0, s1), p, column, width, out, kind, c + ox * n + column);
        if (two) dw_store8(_mm256_add_epi32(t0, t1), p, column, width, out, kind, c2 + ox * n + column);
    }
}

/* dw_block in the store's form (kind) and for the common 3x3 window (constant loop bounds). */
static CNNZ_AVX2_TARGET void dw_blocks(const int16_t *rows, const int16_t *packed, const cnnz_qs8_window *w,
                                       size_t pairs, size_t all_pairs, size_t padded, int two,
                                       const cnnz_qs8_output *out, int8_t *c, int8_t *c2) {
    size_t n = w->channels, blocks = (n + 7) / 8, kw = w->kernel_width;
    for (size_t g = 0; g < blocks; g++) {
        size_t column = 8 * g, width = n - column < 8 ? n - column : 8;
        cnnz_requant8 p = requant8_parameters(column, width, out);
        int kind = !p.fast ? 0 : p.corrects ? 2 : 1;
        const int16_t *weights = packed + g * 2 * all_pairs * kw * 16;
        int common = kw == 3 && pairs == 2;
#define CNNZ_BLOCK(TWO, KIND)                                                                                      \
    if (common)                                                                                                    \
        dw_block(rows, weights, w, g, 2, all_pairs, 3, padded, TWO, &p, out, KIND, c, c2);                         \
    else                                                                                                           \
        dw_block(rows, weights, w, g, pairs, all_pairs, kw, padded, TWO, &p, out, KIND, c, c2);
        if (two) {
            if (kind == 1) {
                CNNZ_BLOCK(1, 1)
            } else if (kind == 2) {
                CNNZ_BLOCK(1, 2)
            } else {
                CNNZ_BLOCK(1, 0)
            }
        } else {
            if (kind == 1) {
                CNNZ_BLOCK(0, 1)
            } else if (kind == 2) {
                CNNZ_BLOCK(0, 2)
            } else {
                CNNZ_BLOCK(0, 0)
            }
        }
#undef CNNZ_BLOCK
    }
}

CNNZ_AVX2_TARGET void cnnz_qs8_dwconv_row_8c2__avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy,
                                                    size_t count, const int16_t *packed, int32_t zero_point,
                                                    int16_t *rows, const cnnz_qs8_output *out, int8_t *c) {
    size_t row_bytes = w->out_width * w->channels;
    /* Two rows share their pairs only at vertical stride 1 without dilation. */
    if (count == 2 && (w->stride_height != 1 || w->dilation_height != 1)) {
        cnnz_qs8_dwconv_row_8c2__avx2(image, w, oy, 1, packed, zero_point, rows, out, c);
        cnnz_qs8_dwconv_row_8c2__avx2(image, w, oy + 1, 1, packed, zero_point, rows, out, c + row_bytes);
        return;
    }
    size_t all_pairs = dwconv_pairs(w->kernel_height);
    /* One row: the pairs of its window rows; two: of rows y0...y0 + kernel_height. */
    size_t pairs = count == 2 ? all_pairs : (w->kernel_height + 1) / 2;
    size_t padded = dwconv_padded_width(w), blocks = (w->channels + 7) / 8;
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    for (size_t q = 0; q < pairs; q++) {
        const int8_t *lines[2];
        for (size_t e = 0; e < 2; e++) {
            ptrdiff_t iy = y0 + (ptrdiff_t)((2 * q + e) * w->dilation_height);
            lines[e] = iy >= 0 && iy < (ptrdiff_t)w->height ? image + (size_t)iy * w->width * w->channels : NULL;
        }
        build_pair(lines[0], lines[1], w, padded, zero_point, rows + q * padded * blocks * 16);
    }
    dw_blocks(rows, packed, w, pairs, all_pairs, padded, count == 2, out, c, c + row_bytes);
}
#else
void cnnz_qs8_dwconv_row_8c2__avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy, size_t count,
                                   const int16_t *packed, int32_t zero_point, int16_t *rows,
                                   const cnnz_qs8_output *out, int8_t *c) {
    /* Only where the CPU has AVX2 (never on this architecture). */
    (void)image, (void)w, (void)oy, (void)count, (void)packed, (void)zero_point, (void)rows, (void)out, (void)c;
    __builtin_trap();
}
#endif
