/* cnnz_qs8_dwconv_row_8c2__avx2 (include/CInt8Kernels.h): output rows of a depthwise convolution
 * with depth multiplier 1 on AVX2, 8 channels per vector, two taps per vpmaddwd.
 *
 * The kernel it replaces (int8_depthwise_avx2.c, since removed) multiplied in 32-bit lanes: per tap and 8
 * channels a sign extension, a vpmulld and an add, then the general requantization (27 vector
 * instructions for a 3x3 window, and some 25 for the store). Here, as in the VNNI row kernel
 * (int8_dwconv_vnni.c), the taps of a window column are gathered per channel lane: 2 rows of it
 * as the two int16 of a 32-bit lane, so one vpmaddwd adds 2 taps of 8 channels. The input rows
 * the window needs are built once, in pairs, into `rows`: for each block of 8 channels and pixel
 * (with the padding columns), 16 int16 of the pair's two rows, interleaved (q itself; the zero
 * point's share is in the packed stage); rows and columns outside the image are the zero point,
 * so no tap is checked. Every output pixel then reads, per pair and window column, one 32-byte
 * vector at a constant displacement (a memory operand of vpmaddwd). One call runs any number of
 * consecutive rows: the pairs the next two output rows share with these are kept.
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

/* The output stage of each block of 8 channels, worked out at prepare time (it was per call and
 * block): 9 vectors of 8 int32. The sums start at `start`: the bias (the short form; store_columns8
 * adds it itself) minus the zero point's share, zero point * (the channel's sum of weights) mod
 * 2^32 (`rows` holds q itself, the zero point where outside the image; both parities of the
 * packed weights hold every tap once, so one share serves both output rows). Then the short
 * form's constants as requant8_parameters (int8_requant256.h) makes them, and a header: the
 * form (0 store_columns8, 1 the short form, 2 with the negative step; 1 and 2 for whole blocks
 * only), min, max, and the form in round-to-nearest: 3 the float form (int8_requant_float.c), 4
 * with a constant per sign, where each of the block's 8 channels has one, else the same as the
 * first. Then the float form's scales and constants (float bits). */
enum { STAGE_START = 0, STAGE_MULTIPLIER = 8, STAGE_MULTIPLIER_ODD = 16, STAGE_CONSTANT_EVEN = 24,
       STAGE_CONSTANT_ODD = 32, STAGE_SHIFT_EVEN = 40, STAGE_SHIFT_ODD = 48, STAGE_OFFSET = 56, STAGE_HEADER = 64,
       STAGE_FLOAT_SCALE = 72, STAGE_FLOAT_CONSTANT = 80, STAGE_FLOAT_NEGATIVE = 88, STAGE_BLOCK = 96 };

size_t cnnz_qs8_dwconv_8c2_stage_count(size_t channels) { return (channels + 7) / 8 * STAGE_BLOCK; }

void cnnz_qs8_dwconv_8c2_pack_stage(size_t kernel_height, size_t kernel_width, size_t channels, const int8_t *weights,
                                    int32_t zero_point, const cnnz_qs8_output *out, int32_t *stage) {
    size_t taps = kernel_height * kernel_width;
    for (size_t g = 0; g < (channels + 7) / 8; g++) {
        int32_t *b = stage + g * STAGE_BLOCK;
        memset(b, 0, STAGE_BLOCK * sizeof(int32_t));
        size_t width = channels - 8 * g < 8 ? channels - 8 * g : 8;
        /* The short form for whole blocks only (a partial one goes through store_columns8). */
        int fast = !out->table && width == 8;
        for (size_t i = 0; i < width; i++) {
            int32_t shift = out->shift[8 * g + i];
            if (shift > -1 || shift < -23) fast = 0;
        }
        for (size_t i = 0; i < 8; i++) {
            size_t channel = 8 * g + i;
            int inside = i < width;
            uint32_t sum = 0;
            for (size_t t = 0; inside && t < taps; t++) sum += (uint32_t)weights[t * channels + channel];
            uint32_t bias = inside && fast ? (uint32_t)out->bias[channel] : 0;
            b[STAGE_START + i] = (int32_t)(bias - (uint32_t)zero_point * sum);
            /* Lanes past width: multiplier 0, right shift 1 (a valid short form, never stored). */
            int32_t m = inside ? out->multiplier[channel] : 0;
            int r = inside && fast ? -out->shift[channel] : 1, total = 31 + r;
            b[STAGE_MULTIPLIER + i] = m;
            if (i % 2) b[STAGE_MULTIPLIER_ODD + i - 1] = m;
            uint64_t constant = ((uint64_t)1 << 63) + ((uint64_t)1 << 30) + ((uint64_t)1 << (r + 30)) +
                                ((uint64_t)(int64_t)out->zero_point << total);
            int64_t shift = i % 2 ? total - 32 : total;
            memcpy(b + (i % 2 ? STAGE_CONSTANT_ODD : STAGE_CONSTANT_EVEN) + i / 2 * 2, &constant, 8);
            memcpy(b + (i % 2 ? STAGE_SHIFT_ODD : STAGE_SHIFT_EVEN) + i / 2 * 2, &shift, 8);
            b[STAGE_OFFSET + i] = (int32_t)(1u << (32 - r));
        }
        b[STAGE_HEADER] = !fast ? 0 : out->min < out->zero_point ? 2 : 1;
        b[STAGE_HEADER + 1] = out->min;
        b[STAGE_HEADER + 2] = out->max;
        b[STAGE_HEADER + 3] = b[STAGE_HEADER];
        cnnz_requant_float_column col = {out->zero_point, out->min, out->max};
        int forms = fast, split = 0;
        for (size_t i = 0; forms && i < 8; i++) {
            cnnz_requant_float form;
            forms = cnnz_requant_float_find(out->multiplier[8 * g + i], out->shift[8 * g + i], &col, &form);
            if (!forms) break;
            memcpy(b + STAGE_FLOAT_SCALE + i, &form.scale, 4);
            memcpy(b + STAGE_FLOAT_CONSTANT + i, &form.constant, 4);
            memcpy(b + STAGE_FLOAT_NEGATIVE + i, &form.constant_negative, 4);
            split |= form.split;
        }
        if (forms) b[STAGE_HEADER + 3] = split ? 4 : 3;
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
/* FMA too, for the float form. */
#undef CNNZ_AVX2_TARGET
#undef CNNZ_AVX2_INLINE
#define CNNZ_AVX2_TARGET CNNZ_AVX2F_TARGET
#define CNNZ_AVX2_INLINE CNNZ_AVX2F_INLINE

/* Pair p of `rows` from image lines a and b (outside the image: a line of the zero point). The
 * values are q itself (the zero point where outside), the zero point's share taken off the sums
 * (the stage's start): each vector is then two loads, a vpunpcklbw and a vpmovsxbw. Block-major:
 * block g's padded pixels one after another (16 int16 each), so a window column's vector is a
 * constant displacement from the output pixel's (not a multiple of the channel count, which
 * kept six offsets in registers or on the stack). */
static CNNZ_AVX2_TARGET void build_pair(const int8_t *a, const int8_t *b, const cnnz_qs8_window *w, size_t padded,
                                        int32_t zero_point, int16_t *pair) {
    size_t n = w->channels, blocks = (n + 7) / 8, full = n / 8, block = padded * 16;
    const __m256i zero = _mm256_set1_epi16((int16_t)zero_point);
    /* Columns left and right of the image: the zero point. */
    size_t left = (size_t)w->pad_left, right = left + w->width;
    for (size_t g = 0; g < blocks; g++) {
        int16_t *d = pair + g * block;
        for (size_t i = 0; i < left; i++) _mm256_storeu_si256((__m256i *)(d + 16 * i), zero);
        for (size_t i = right; i < padded; i++) _mm256_storeu_si256((__m256i *)(d + 16 * i), zero);
    }
    int16_t *o = pair + left * 16;
    size_t width = w->width, g = 0;
#define CNNZ_PAIR(LA, LB) _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(LA, LB))
    /* Two blocks per 16-byte load, pixels innermost. */
    for (; g + 2 <= full; g += 2) {
        const int8_t *pa = a + 8 * g, *pb = b + 8 * g;
        int16_t *d = o + g * block;
        for (size_t x = 0; x < width; x++, pa += n, pb += n) {
            __m128i va = _mm_loadu_si128((const __m128i *)pa), vb = _mm_loadu_si128((const __m128i *)pb);
            _mm256_storeu_si256((__m256i *)(d + 16 * x), _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(va, vb)));
            _mm256_storeu_si256((__m256i *)(d + block + 16 * x), _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(va, vb)));
        }
    }
    if (g < full) {
        for (size_t x = 0; x < width; x++)
            _mm256_storeu_si256((__m256i *)(o + g * block + 16 * x),
                                CNNZ_PAIR(_mm_loadl_epi64((const __m128i *)(a + x * n + 8 * g)),
                                          _mm_loadl_epi64((const __m128i *)(b + x * n + 8 * g))));
        g++;
    }
    if (g < blocks) {
        /* The last n % 8 channels through buffers (nothing read past the image). */
        for (size_t x = 0; x < width; x++) {
            int8_t ba[8], bb[8];
            memset(ba, zero_point, 8);
            memset(bb, zero_point, 8);
            memcpy(ba, a + x * n + 8 * g, n - 8 * g);
            memcpy(bb, b + x * n + 8 * g, n - 8 * g);
            _mm256_storeu_si256((__m256i *)(o + g * block + 16 * x),
                                CNNZ_PAIR(_mm_loadl_epi64((const __m128i *)ba), _mm_loadl_epi64((const __m128i *)bb)));
        }
    }
#undef CNNZ_PAIR
}

/* Block g's output stage from its record (cnnz_qs8_dwconv_8c2_pack_stage), as int8_requant256.h's
 * parameters; its form in *kind (the float form's only when rounds, MXCSR rounding to nearest). */
CNNZ_AVX2_INLINE cnnz_requant8 dw_stage(const int32_t *stage, size_t g, int rounds, int *kind) {
    const int32_t *b = stage + g * STAGE_BLOCK;
#define CNNZ_STAGE(AT) _mm256_loadu_si256((const __m256i *)(b + (AT)))
    cnnz_requant8 p;
    p.bias = CNNZ_STAGE(STAGE_START);
    p.multiplier = CNNZ_STAGE(STAGE_MULTIPLIER);
    p.multiplier_odd = CNNZ_STAGE(STAGE_MULTIPLIER_ODD);
    p.constant_even = CNNZ_STAGE(STAGE_CONSTANT_EVEN);
    p.constant_odd = CNNZ_STAGE(STAGE_CONSTANT_ODD);
    p.shift_even = CNNZ_STAGE(STAGE_SHIFT_EVEN);
    p.shift_odd = CNNZ_STAGE(STAGE_SHIFT_ODD);
    p.offset = CNNZ_STAGE(STAGE_OFFSET);
#undef CNNZ_STAGE
    p.float_scale = _mm256_loadu_ps((const float *)(b + STAGE_FLOAT_SCALE));
    p.float_constant = _mm256_loadu_ps((const float *)(b + STAGE_FLOAT_CONSTANT));
    p.float_constant_negative = _mm256_loadu_ps((const float *)(b + STAGE_FLOAT_NEGATIVE));
    p.min = _mm_set1_epi8((char)b[STAGE_HEADER + 1]);
    p.max = _mm_set1_epi8((char)b[STAGE_HEADER + 2]);
    *kind = b[rounds ? STAGE_HEADER + 3 : STAGE_HEADER];
    p.fast = *kind != 0;
    p.corrects = *kind == 2;
    return p;
}

/* The sums x (the start included) of a full block as requantized values plus the zero point in
 * form kind (1 to 4, a constant). */
CNNZ_AVX2_INLINE __m256i dw_value(__m256i x, const cnnz_requant8 *p, const int kind) {
    return kind >= 3 ? requant8_float_as(x, p, kind == 4) : requant8_fast_as(x, p, kind == 2, 0);
}

/* Stores sums x (the start included) of channels column..<column + width at c. kind: 0
 * store_columns8 (which adds the bias), 1 the short form, 2 with the negative step, 3 and 4 the
 * float form (width 8). */
CNNZ_AVX2_INLINE void dw_store8(__m256i x, const cnnz_requant8 *p, size_t column, size_t width,
                                const cnnz_qs8_output *out, const int kind, int8_t *c) {
    if (kind == 0) {
        store_columns8(x, column, width, out, c);
        return;
    }
    _mm_storel_epi64((__m128i *)c, requant8_bytes(dw_value(x, p, kind), p));
}

/* Two pixels' sums of a full block in the short form (kind 1 or 2): narrowed together (one pack
 * chain for 16 bytes rather than two for 8), then 8 bytes at each of a and b. */
CNNZ_AVX2_INLINE void dw_store16(__m256i x, __m256i y, const cnnz_requant8 *p, const int kind, int8_t *a,
                                 int8_t *b) {
    __m128i bytes = requant8_bytes16(dw_value(x, p, kind), dw_value(y, p, kind), p);
    _mm_storel_epi64((__m128i *)a, bytes);
    _mm_storeh_pd((double *)b, _mm_castsi128_pd(bytes));
}

/* The sums of the output pixel `at` int16 into each pair's block over `pairs` pairs of rows
 * and kw window columns: the vector of pair q, column kx at p0[q] + at + kx * dx times the
 * weights k0 (16 int16 per tap pair) into s, and the second row's (two) from p1 with k1 into t
 * (shared: p1 is p0, each vector read serving both). */
CNNZ_AVX2_INLINE void dw_pixel(const int16_t *const *p0, const int16_t *const *p1, size_t at, const int16_t *k0,
                               const int16_t *k1, size_t pairs, size_t kw, size_t dx, const int two,
                               const int shared, __m256i *s, __m256i *t) {
    for (size_t q = 0; q < pairs; q++) {
        for (size_t kx = 0; kx < kw; kx++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(p0[q] + at + kx * dx));
            size_t k = (q * kw + kx) * 16;
            *s = _mm256_add_epi32(*s, _mm256_madd_epi16(v, _mm256_loadu_si256((const __m256i *)(k0 + k))));
            if (two) {
                if (!shared) v = _mm256_loadu_si256((const __m256i *)(p1[q] + at + kx * dx));
                *t = _mm256_add_epi32(*t, _mm256_madd_epi16(v, _mm256_loadu_si256((const __m256i *)(k1 + k))));
            }
        }
    }
}

/* The output pixels of one block of 8 channels (g) from `pairs` pairs of rows and kw window
 * columns (constants 2 and 3 for the common window where inlined): the first output row from
 * the pairs p0 with weights k0, the second (two) from p1 with k1 (at vertical stride 1 p1 is
 * p0, and each vector read serves both). Full blocks in the short form go two pixels at a time:
 * four independent sums (two pixels, two rows) and one narrowing per pixel pair. */
CNNZ_AVX2_INLINE void dw_block(const int16_t *const *p0, const int16_t *const *p1, const int16_t *k0,
                               const int16_t *k1, const cnnz_qs8_window *w, size_t g, size_t pairs, size_t kw,
                               size_t dx, size_t padded, const int two, const int shared, const cnnz_requant8 *p,
                               const cnnz_qs8_output *out, const int kind, int8_t *c, int8_t *c2) {
    size_t n = w->channels, column = 8 * g, width = n - column < 8 ? n - column : 8;
    /* In int16: a window column (dx: 16 for the common window, a constant), an output pixel. */
    size_t sx = w->stride_width * 16, at = g * padded * 16;
    c += column;
    c2 += column;
    size_t ox = 0;
    if (kind) {
        for (; ox + 2 <= w->out_width; ox += 2, at += 2 * sx) {
            __m256i s = p->bias, t = p->bias, u = p->bias, v = p->bias;
            dw_pixel(p0, p1, at, k0, k1, pairs, kw, dx, two, shared, &s, &t);
            dw_pixel(p0, p1, at + sx, k0, k1, pairs, kw, dx, two, shared, &u, &v);
            dw_store16(s, u, p, kind, c + ox * n, c + (ox + 1) * n);
            if (two) dw_store16(t, v, p, kind, c2 + ox * n, c2 + (ox + 1) * n);
        }
    }
    for (; ox < w->out_width; ox++, at += sx) {
        __m256i s = p->bias, t = p->bias;
        dw_pixel(p0, p1, at, k0, k1, pairs, kw, dx, two, shared, &s, &t);
        dw_store8(s, p, column, width, out, kind, c + ox * n);
        if (two) dw_store8(t, p, column, width, out, kind, c2 + ox * n);
    }
}

/* One block in the store's form, for the common 3x3 window with constant loop bounds. */
#define CNNZ_DW_BLOCK(TWO, SHARED, KIND)                                                                           \
    if (common)                                                                                                    \
        dw_block(p0, p1, k0, k1, w, g, 2, 3, 16, padded, TWO, SHARED, &p, out, KIND, c, c2);                      \
    else                                                                                                           \
        dw_block(p0, p1, k0, k1, w, g, pairs, kw, w->dilation_width * 16, padded, TWO, SHARED, &p, out, KIND, c, c2);

#define CNNZ_DW_KINDS(TWO, SHARED)                                                                                 \
    if (kind == 3) {                                                                                               \
        CNNZ_DW_BLOCK(TWO, SHARED, 3)                                                                              \
    } else if (kind == 4) {                                                                                        \
        CNNZ_DW_BLOCK(TWO, SHARED, 4)                                                                              \
    } else if (kind == 1) {                                                                                        \
        CNNZ_DW_BLOCK(TWO, SHARED, 1)                                                                              \
    } else if (kind == 2) {                                                                                        \
        CNNZ_DW_BLOCK(TWO, SHARED, 2)                                                                              \
    } else {                                                                                                       \
        CNNZ_DW_BLOCK(TWO, SHARED, 0)                                                                              \
    }

/* The blocks of 8 channels: one output row (mode 0), two sharing their pairs (1, vertical
 * stride 1) or two from pairs one apart (2, vertical stride 2); pair q at slots[q]. */
static CNNZ_AVX2_TARGET void dw_blocks(const int16_t *const *slots, const int16_t *packed, const int32_t *stage,
                                       const cnnz_qs8_window *w, size_t pairs, size_t all_pairs, size_t padded,
                                       int mode, int rounds, const cnnz_qs8_output *out, int8_t *c, int8_t *c2) {
    size_t n = w->channels, blocks = (n + 7) / 8, kw = w->kernel_width;
    int common = kw == 3 && pairs == 2 && w->dilation_width == 1;
    const int16_t *const *p0 = slots, *const *p1 = mode == 2 ? slots + 1 : slots;
    for (size_t g = 0; g < blocks; g++) {
        int kind;
        cnnz_requant8 p = dw_stage(stage, g, rounds, &kind);
        const int16_t *k0 = packed + g * 2 * all_pairs * kw * 16;
        const int16_t *k1 = mode == 1 ? k0 + all_pairs * kw * 16 : k0;
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

/* Builds pairs from..<to of the window rows starting at image row y0 (pair q: rows y0 + 2q and
 * y0 + 2q + 1, dilated) into slots[q]. */
static CNNZ_AVX2_TARGET void dw_build(const int8_t *image, const cnnz_qs8_window *w, ptrdiff_t y0, size_t from,
                                      size_t to, int32_t zero_point, size_t padded, int8_t *zero_line,
                                      int *zero_filled, int16_t *const *slots) {
    size_t line = w->width * w->channels;
    for (size_t q = from; q < to; q++) {
        const int8_t *lines[2];
        for (size_t e = 0; e < 2; e++) {
            ptrdiff_t iy = y0 + (ptrdiff_t)((2 * q + e) * w->dilation_height);
            if (iy >= 0 && iy < (ptrdiff_t)w->height) {
                lines[e] = image + (size_t)iy * line;
            } else {
                if (!*zero_filled) memset(zero_line, zero_point, line), *zero_filled = 1;
                lines[e] = zero_line;
            }
        }
        build_pair(lines[0], lines[1], w, padded, zero_point, slots[q]);
    }
}

CNNZ_AVX2_TARGET void cnnz_qs8_dwconv_row_8c2__avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy,
                                                    size_t count, const int16_t *packed, const int32_t *stage,
                                                    int32_t zero_point, int16_t *rows, const cnnz_qs8_output *out,
                                                    int8_t *c) {
    size_t row_bytes = w->out_width * w->channels;
    size_t all_pairs = dwconv_pairs(w->kernel_height), own = (w->kernel_height + 1) / 2;
    size_t padded = dwconv_padded_width(w), pair = padded * ((w->channels + 7) / 8) * 16;
    /* After the 2 * all_pairs slots: a line of the zero point, for rows outside the image (filled
     * when needed). */
    int8_t *zero_line = (int8_t *)(rows + 2 * all_pairs * pair);
    int zero_filled = 0;
    int16_t *slots[32];
    int rounds = requant8_rounds_to_nearest();
    for (size_t q = 0; q < 2 * all_pairs; q++) slots[q] = rows + q * pair;
    /* Two rows at a time share pairs of rows at vertical stride 1 or 2 without dilation: mode 1
     * or 2 (dw_blocks). Pairs used per output row, and built per two: one row's window rows; at
     * stride 1 those of rows y0...y0 + kernel_height; at stride 2 one more pair (the second row's
     * window starts 2 rows down). The next two rows' window starts 2 (stride 1) or 4 rows down, 1
     * or 2 pairs: the pairs after those are the next step's first ones, kept (the slots rotate)
     * rather than built again. */
    int mode = w->dilation_height != 1 ? 0 : w->stride_height == 1 ? 1 : w->stride_height == 2 ? 2 : 0;
    size_t done = 0;
    if (mode && count >= 2) {
        size_t pairs = mode == 1 ? all_pairs : own, built = mode == 2 ? own + 1 : pairs;
        size_t advance = (size_t)mode, kept = 0;
        for (; done + 2 <= count; done += 2) {
            ptrdiff_t y0 = (ptrdiff_t)((oy + done) * w->stride_height) - w->pad_top;
            dw_build(image, w, y0, kept, built, zero_point, padded, zero_line, &zero_filled, slots);
            dw_blocks((const int16_t *const *)slots, packed, stage, w, pairs, all_pairs, padded, mode, rounds, out,
                      c + done * row_bytes, c + (done + 1) * row_bytes);
            /* Slots advance..<built become 0..<built - advance. */
            int16_t *moved[32];
            for (size_t q = 0; q < built; q++) moved[q] = slots[(q + advance) % built];
            memcpy(slots, moved, built * sizeof(int16_t *));
            kept = built - advance;
        }
    }
    /* One row at a time (the rest). */
    for (; done < count; done++) {
        ptrdiff_t y0 = (ptrdiff_t)((oy + done) * w->stride_height) - w->pad_top;
        dw_build(image, w, y0, 0, own, zero_point, padded, zero_line, &zero_filled, slots);
        dw_blocks((const int16_t *const *)slots, packed, stage, w, own, all_pairs, padded, 0, rounds, out,
                  c + done * row_bytes, c + done * row_bytes);
    }
}
#else
void cnnz_qs8_dwconv_row_8c2__avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy, size_t count,
                                   const int16_t *packed, const int32_t *stage, int32_t zero_point, int16_t *rows,
                                   const cnnz_qs8_output *out, int8_t *c) {
    /* Only where the CPU has AVX2 (never on this architecture). */
    (void)image, (void)w, (void)oy, (void)count, (void)packed, (void)stage, (void)zero_point, (void)rows, (void)out,
        (void)c;
    __builtin_trap();
}
#endif
