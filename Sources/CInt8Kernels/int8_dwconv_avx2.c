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

/* Room for 2 * P pairs (P for one row or two at stride 1, ceil(kernel_height / 2) + 1 <= 2 * P
 * at stride 2) and a line of the zero point. */
size_t cnnz_qs8_dwconv_8c2_rows_bytes(const cnnz_qs8_window *w) {
    return 2 * dwconv_pairs(w->kernel_height) * dwconv_padded_width(w) * ((w->channels + 7) / 8) * 32 +
           w->width * w->channels;
}

#ifdef CNNZ_HAVE_AVX2

/* Pair p of `rows` from image lines a and b (outside the image: a line of the zero point). The
 * values are q itself (the zero point where outside), the zero point's share taken off the sums
 * (dw_block): each vector is then two loads, a vpunpcklbw and a vpmovsxbw. */
static CNNZ_AVX2_TARGET void build_pair(const int8_t *a, const int8_t *b, const cnnz_qs8_window *w, size_t padded,
                                        int32_t zero_point, int16_t *pair) {
    size_t n = w->channels, blocks = (n + 7) / 8, full = n / 8;
    const __m256i zero = _mm256_set1_epi16((int16_t)zero_point);
    /* Columns left and right of the image: the zero point. */
    size_t left = (size_t)w->pad_left, right = left + w->width;
    for (size_t i = 0; i < left * blocks; i++) _mm256_storeu_si256((__m256i *)(pair + 16 * i), zero);
    for (size_t i = right * blocks; i < padded * blocks; i++) _mm256_storeu_si256((__m256i *)(pair + 16 * i), zero);
    int16_t *o = pair + left * blocks * 16;
#define CNNZ_PAIR(LA, LB) _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(LA, LB))
    if (full == blocks) {
        /* 8 | n: the image's row as one run, int16 pairs in the bytes' order. */
        size_t bytes = w->width * n, i = 0;
        for (; i + 16 <= bytes; i += 16) {
            __m128i va = _mm_loadu_si128((const __m128i *)(a + i)), vb = _mm_loadu_si128((const __m128i *)(b + i));
            _mm256_storeu_si256((__m256i *)(o + 2 * i), _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(va, vb)));
            _mm256_storeu_si256((__m256i *)(o + 2 * i + 16), _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(va, vb)));
        }
        if (i < bytes)
            _mm256_storeu_si256((__m256i *)(o + 2 * i), CNNZ_PAIR(_mm_loadl_epi64((const __m128i *)(a + i)),
                                                                  _mm_loadl_epi64((const __m128i *)(b + i))));
        return;
    }
    for (size_t x = 0; x < w->width; x++, o += blocks * 16) {
        const int8_t *pa = a + x * n, *pb = b + x * n;
        size_t g = 0;
        for (; g < full; g++)
            _mm256_storeu_si256((__m256i *)(o + 16 * g), CNNZ_PAIR(_mm_loadl_epi64((const __m128i *)(pa + 8 * g)),
                                                                   _mm_loadl_epi64((const __m128i *)(pb + 8 * g))));
        /* The last n % 8 channels through buffers (nothing read past the image). */
        int8_t ba[8], bb[8];
        memset(ba, zero_point, 8);
        memset(bb, zero_point, 8);
        memcpy(ba, pa + 8 * g, n - 8 * g);
        memcpy(bb, pb + 8 * g, n - 8 * g);
        _mm256_storeu_si256((__m256i *)(o + 16 * g), CNNZ_PAIR(_mm_loadl_epi64((const __m128i *)ba),
                                                               _mm_loadl_epi64((const __m128i *)bb)));
    }
#undef CNNZ_PAIR
}

/* Stores sums x of channels column..<column + width at c (the bias included for the short form,
 * not for store_columns8). kind: 0 store_columns8, 1 the short form, 2 the short form with the
 * negative step; full: width is 8 (constants where inlined). */
CNNZ_AVX2_INLINE void dw_store8(__m256i x, const cnnz_requant8 *p, size_t column, size_t width,
                                const cnnz_qs8_output *out, const int kind, const int full, int8_t *c) {
    if (kind == 0) {
        store_columns8(x, column, width, out, c);
        return;
    }
    __m128i bytes = requant8_bytes(requant8_fast_as(x, p, kind == 2, 0), p);
    if (full) {
        _mm_storel_epi64((__m128i *)c, bytes);
    } else {
        int8_t b[16];
        _mm_storeu_si128((__m128i *)b, bytes);
        memcpy(c, b, width);
    }
}

/* The output pixels of one block of 8 channels (g) from `pairs` pairs of rows and kw window
 * columns (constants 2 and 3 for the common window where inlined): the first output row from
 * rows r0 with weights k0, the second (two) from r1 with k1 (at vertical stride 1 r1 is r0, and
 * each vector read serves both). */
CNNZ_AVX2_INLINE void dw_block(const int16_t *r0, const int16_t *r1, const int16_t *k0, const int16_t *k1,
                               const cnnz_qs8_window *w, size_t g, size_t pairs, size_t kw, size_t padded,
                               const int two, const int shared, int32_t zero_point, const cnnz_requant8 *p,
                               const cnnz_qs8_output *out, const int kind, const int full, int8_t *c, int8_t *c2) {
    size_t n = w->channels, blocks = (n + 7) / 8, column = 8 * g, width = n - column < 8 ? n - column : 8;
    /* Vector strides (16 int16): a pixel, a window column, an output pixel, a pair. */
    size_t pixel = blocks * 16, dx = w->dilation_width * pixel, sx = w->stride_width * pixel;
    size_t pair = padded * pixel;
    /* The sums start at the bias (the short form; store_columns8 adds it) minus the zero point's
     * share of each output row (its weights' sum times the zero point): the same int32 modulo
     * 2^32 as the reference's sum plus bias. */
    const __m256i zero = _mm256_set1_epi16((int16_t)zero_point);
    __m256i start = kind ? p->bias : _mm256_setzero_si256();
    __m256i share0 = _mm256_setzero_si256(), share1 = _mm256_setzero_si256();
    for (size_t t = 0; t < pairs * kw; t++) {
        share0 = _mm256_add_epi32(share0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(k0 + 16 * t)), zero));
        if (two)
            share1 =
                _mm256_add_epi32(share1, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(k1 + 16 * t)), zero));
    }
    const int16_t *x0 = r0 + 16 * g, *x1 = r1 + 16 * g;
    for (size_t ox = 0; ox < w->out_width; ox++, x0 += sx, x1 += sx) {
        __m256i s0 = _mm256_sub_epi32(start, share0), s1 = _mm256_setzero_si256();
        __m256i t0 = _mm256_sub_epi32(start, share1), t1 = _mm256_setzero_si256();
        for (size_t q = 0; q < pairs; q++) {
            for (size_t kx = 0; kx < kw; kx++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(x0 + q * pair + kx * dx));
                size_t k = (q * kw + kx) * 16;
                __m256i product = _mm256_madd_epi16(v, _mm256_loadu_si256((const __m256i *)(k0 + k)));
                /* Two chains per row: the adds' latency hides behind the other's. */
                if (kx % 2 == 0)
                    s0 = _mm256_add_epi32(s0, product);
                else
                    s1 = _mm256_add_epi32(s1, product);
                if (two) {
                    if (!shared) v = _mm256_loadu_si256((const __m256i *)(x1 + q * pair + kx * dx));
                    __m256i second = _mm256_madd_epi16(v, _mm256_loadu_si256((const __m256i *)(k1 + k)));
                    if (kx % 2 == 0)
                        t0 = _mm256_add_epi32(t0, second);
                    else
                        t1 = _mm256_add_epi32(t1, second);
                }
            }
        }
        dw_store8(_mm256_add_epi32(s0, s1), p, column, width, out, kind, full, c + ox * n + column);
        if (two) dw_store8(_mm256_add_epi32(t0, t1), p, column, width, out, kind, full, c2 + ox * n + column);
    }
}

/* One block in the store's form, for the common 3x3 window with constant loop bounds. */
#define CNNZ_DW_BLOCK(TWO, SHARED, KIND, FULL)                                                                      \
    if (common)                                                                                                    \
        dw_block(r0, r1, k0, k1, w, g, 2, 3, padded, TWO, SHARED, zero_point, &p, out, KIND, FULL, c, c2);                      \
    else                                                                                                           \
        dw_block(r0, r1, k0, k1, w, g, pairs, kw, padded, TWO, SHARED, zero_point, &p, out, KIND, FULL, c, c2);

#define CNNZ_DW_KINDS(TWO, SHARED)                                                                                 \
    if (kind == 1 && full) {                                                                                       \
        CNNZ_DW_BLOCK(TWO, SHARED, 1, 1)                                                                           \
    } else if (kind == 2 && full) {                                                                                \
        CNNZ_DW_BLOCK(TWO, SHARED, 2, 1)                                                                           \
    } else {                                                                                                       \
        CNNZ_DW_BLOCK(TWO, SHARED, 0, 0)                                                                           \
    }

/* The blocks of 8 channels: one output row (mode 0), two sharing their pairs (1, vertical
 * stride 1) or two from pairs one apart (2, vertical stride 2). */
static CNNZ_AVX2_TARGET void dw_blocks(const int16_t *rows, const int16_t *packed, const cnnz_qs8_window *w,
                                       size_t pairs, size_t all_pairs, size_t padded, int mode, int32_t zero_point,
                                       const cnnz_qs8_output *out, int8_t *c, int8_t *c2) {
    size_t n = w->channels, blocks = (n + 7) / 8, kw = w->kernel_width;
    int common = kw == 3 && pairs == 2;
    size_t pair = padded * blocks * 16;
    for (size_t g = 0; g < blocks; g++) {
        size_t column = 8 * g, width = n - column < 8 ? n - column : 8;
        cnnz_requant8 p = requant8_parameters(column, width, out);
        int kind = !p.fast ? 0 : p.corrects ? 2 : 1, full = width == 8;
        const int16_t *k0 = packed + g * 2 * all_pairs * kw * 16;
        const int16_t *k1 = mode == 1 ? k0 + all_pairs * kw * 16 : k0;
        const int16_t *r0 = rows, *r1 = mode == 2 ? rows + pair : rows;
        if (mode == 0) {
            CNNZ_DW_KINDS(0, 1)
        } else if (mode == 1) {
            CNNZ_DW_KINDS(1, 1)
        } else {
            CNNZ_DW_KINDS(1, 0)
        }
    }
}
#undef CNNZ_DW_KINDS
#undef CNNZ_DW_BLOCK

CNNZ_AVX2_TARGET void cnnz_qs8_dwconv_row_8c2__avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy,
                                                    size_t count, const int16_t *packed, int32_t zero_point,
                                                    int16_t *rows, const cnnz_qs8_output *out, int8_t *c) {
    size_t row_bytes = w->out_width * w->channels;
    /* Two rows share pairs of rows at vertical stride 1 or 2 without dilation. */
    int mode = count < 2 ? 0 : w->dilation_height != 1 ? -1 : w->stride_height == 1 ? 1 : w->stride_height == 2 ? 2 : -1;
    if (mode < 0) {
        cnnz_qs8_dwconv_row_8c2__avx2(image, w, oy, 1, packed, zero_point, rows, out, c);
        cnnz_qs8_dwconv_row_8c2__avx2(image, w, oy + 1, 1, packed, zero_point, rows, out, c + row_bytes);
        return;
    }
    size_t all_pairs = dwconv_pairs(w->kernel_height), own = (w->kernel_height + 1) / 2;
    /* Pairs used per output row, and built: one row's window rows; at stride 1 those of rows
     * y0...y0 + kernel_height; at stride 2 one more pair (the second row's window starts 2 rows down). */
    size_t pairs = mode == 1 ? all_pairs : own, built = mode == 2 ? own + 1 : pairs;
    size_t padded = dwconv_padded_width(w), blocks = (w->channels + 7) / 8;
    size_t line = w->width * w->channels;
    /* After the pairs: a line of the zero point, for rows outside the image (filled when needed). */
    int8_t *zero_line = (int8_t *)(rows + dwconv_pairs(w->kernel_height) * 2 * padded * blocks * 16);
    int zero_filled = 0;
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    for (size_t q = 0; q < built; q++) {
        const int8_t *lines[2];
        for (size_t e = 0; e < 2; e++) {
            ptrdiff_t iy = y0 + (ptrdiff_t)((2 * q + e) * w->dilation_height);
            if (iy >= 0 && iy < (ptrdiff_t)w->height) {
                lines[e] = image + (size_t)iy * line;
            } else {
                if (!zero_filled) memset(zero_line, zero_point, line), zero_filled = 1;
                lines[e] = zero_line;
            }
        }
        build_pair(lines[0], lines[1], w, padded, zero_point, rows + q * padded * blocks * 16);
    }
    dw_blocks(rows, packed, w, pairs, all_pairs, padded, mode, zero_point, out, c, c + row_bytes);
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
