/* The int8 convolutions whose im2col row fits one 512-bit register (k <= 64 bytes: the first
 * layers, 1 to 12 input channels) with at most 64 filters, without an im2col in memory: each
 * output pixel's row of q xor 0x80 is built in a register (one masked load per kernel row), its
 * groups of 4 bytes broadcast with vpermd and multiplied by the VNNI panels (vpdpbusd), and the
 * sums requantized and stored as bytes. Against im2col + GEMM this saves the row's store and
 * reloads and, for 12 or 25 filters, the partial stores: a pixel's 16-byte store may run into
 * the next pixel's columns, which are written after it (only the call's last pixel is masked,
 * so no other thread's pixels are touched). The same integers as cnnz_qu8_im2col followed by
 * cnnz_qu8_gemm_vnni512 (see include/CInt8Kernels.h). */
#include "int8_requant512.h"

#include <string.h>

#ifdef CNNZ_HAVE_AVX2

/* The row of output pixel (oy, ox) taps one by one (the plain im2col's order), padding_byte at taps
 * outside the image, 0 past k: for dilated or grouped windows. */
static CNNZ_AVX512 __m512i plain_row(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte, size_t oy,
                                     size_t ox) {
    uint8_t row[64];
    memset(row, 0, sizeof row);
    size_t cin = w->group_channels, kw = w->kernel_width;
    uint8_t *d = row;
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
    for (size_t ky = 0; ky < w->kernel_height; ky++) {
        ptrdiff_t iy = y0 + (ptrdiff_t)(ky * w->dilation_height);
        for (size_t kx = 0; kx < kw; kx++, d += cin) {
            ptrdiff_t ix = x0 + (ptrdiff_t)(kx * w->dilation_width);
            if (iy < 0 || iy >= (ptrdiff_t)w->height || ix < 0 || ix >= (ptrdiff_t)w->width) {
                memset(d, padding_byte, cin);
            } else {
                const int8_t *s = image + ((size_t)iy * w->width + (size_t)ix) * w->channels + w->group_offset;
                for (size_t j = 0; j < cin; j++) d[j] = (uint8_t)s[j] ^ 0x80;
            }
        }
    }
    return _mm512_loadu_si512(row);
}

typedef struct {
    const int8_t *image;
    const cnnz_qs8_window *w;
    uint8_t padding_byte;
    size_t segment, line_bytes;
    __mmask64 segment_lanes, k_lanes;
    __m512i padding, sign;
    /* The taps of a kernel row are adjacent bytes (dilation 1 across, every channel, at most 16
     * kernel rows): rows are built from masked loads. */
    int fast;
    /* Output columns ox_first..<ox_end have every tap inside the image horizontally. */
    size_t ox_first, ox_end;
} smallk_rows;

/* The kernel rows of one output row that are inside the image: where each one's bytes start
 * (shifted back by its offset in the register) and its lanes; `outside`: the other lanes of k. */
typedef struct {
    const int8_t *line[16];
    __mmask64 lanes[16];
    size_t rows;
    __mmask64 outside;
} smallk_taps;

static inline void taps_of_row(const smallk_rows *s, size_t oy, smallk_taps *t) {
    const cnnz_qs8_window *w = s->w;
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    t->rows = 0;
    t->outside = s->k_lanes;
    for (size_t ky = 0; ky < w->kernel_height; ky++) {
        ptrdiff_t iy = y0 + (ptrdiff_t)(ky * w->dilation_height);
        if (iy < 0 || iy >= (ptrdiff_t)w->height) continue;
        __mmask64 lanes = s->segment_lanes << (ky * s->segment);
        t->outside &= ~lanes;
        /* Masked loads from it do not read the lanes before the row's own. */
        t->line[t->rows] = s->image + (size_t)iy * s->line_bytes - ky * s->segment;
        t->lanes[t->rows++] = lanes;
    }
}

/* The row of output pixel (oy, ox) on the fast path: each kernel row inside the image merged in
 * with one masked load (masked lanes do not fault), the padding byte at the other lanes of k,
 * xor 0x80. Columns with taps outside the image horizontally mask those taps out too. */
CNNZ_INLINE CNNZ_AVX512 __m512i pixel_row(const smallk_rows *s, const smallk_taps *t, size_t ox) {
    const cnnz_qs8_window *w = s->w;
    ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
    const int8_t *x = (const int8_t *)((intptr_t)x0 * (intptr_t)w->channels);
    __mmask64 inside = s->k_lanes;
    if (ox < s->ox_first || ox >= s->ox_end) {
        /* The taps inside horizontally, in every kernel row. */
        __mmask64 columns = 0;
        for (size_t kx = 0; kx < w->kernel_width; kx++) {
            ptrdiff_t ix = x0 + (ptrdiff_t)kx;
            if (ix >= 0 && ix < (ptrdiff_t)w->width)
                columns |= ((((__mmask64)1 << w->channels) - 1) << (kx * w->channels));
        }
        inside = 0;
        for (size_t ky = 0; ky < w->kernel_height; ky++) inside |= columns << (ky * s->segment);
    }
    __m512i v = _mm512_setzero_si512();
    for (size_t i = 0; i < t->rows; i++)
        v = _mm512_or_si512(v, _mm512_maskz_loadu_epi8(t->lanes[i] & inside, t->line[i] + (intptr_t)x));
    return _mm512_xor_si512(_mm512_mask_mov_epi8(v, t->outside | (s->k_lanes & ~inside), s->padding), s->sign);
}

/* R pixels (rows of registers, R <= 8) x NP panels of 16 filters. A partial panel's 16-byte
 * store runs into the following pixels' columns, which are written after it, where they are
 * adjacent (ldc == n) and the store ends before `end` (the end of the caller's pixels). */
CNNZ_INLINE CNNZ_VNNI512 void smallk_tile(const int R, const int NP, const __m512i *rows, size_t kgroups,
                                          const int8_t *packed, size_t n, const cnnz_requant16 *panels,
                                          const cnnz_qs8_output *out, int8_t *c, size_t ldc, const int8_t *end) {
    __m512i acc[8][4];
    /* The sums start from the bias (store16 adds it itself, for a table). */
    for (int p = 0; p < NP; p++) {
        __m512i start = out->table ? _mm512_setzero_si512() : panels[p].bias;
        for (int r = 0; r < R; r++) acc[r][p] = start;
    }
    size_t panel_bytes = kgroups * 64;
    for (size_t g = 0; g < kgroups; g++) {
        __m512i index = _mm512_set1_epi32((int)g);
        __m512i x[8];
        for (int r = 0; r < R; r++) x[r] = _mm512_permutexvar_epi32(index, rows[r]);
        for (int p = 0; p < NP; p++) {
            __m512i b = _mm512_loadu_si512(packed + p * panel_bytes + g * 64);
            for (int r = 0; r < R; r++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], x[r], b);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int p = 0; p < NP; p++) {
            int8_t *cr = c + r * ldc + 16 * p;
            if (out->table) {
                store16(acc[r][p], 16 * (size_t)p, n - 16 * (size_t)p < 16 ? n - 16 * (size_t)p : 16, out, cr);
                continue;
            }
            __m128i bytes = requant16(acc[r][p], &panels[p], 0);
            if (panels[p].lanes == 0xFFFF || (ldc == n && cr + 16 <= end))
                _mm_storeu_si128((__m128i *)cr, bytes);
            else
                _mm_mask_storeu_epi8(cr, panels[p].lanes, bytes);
        }
    }
}

/* All the pixels with NP panels, output row by output row: eight pixels at a time for one panel,
 * four for two, else two (enough independent sums to cover vpdpbusd's latency); one at a time at the end of a row and on the plain path. */
CNNZ_INLINE CNNZ_VNNI512 void smallk_pixels(const int NP, const smallk_rows *s, size_t first, size_t count,
                                            size_t kgroups, const int8_t *packed, size_t n,
                                            const cnnz_requant16 *panels, const cnnz_qs8_output *out, int8_t *c,
                                            size_t ldc) {
    const size_t step = NP == 1 ? 8 : NP == 2 ? 4 : 2;
    const int8_t *end_of_block = c + (count - 1) * ldc + n;
    size_t width = s->w->out_width, oy = first / width, ox = first % width, r = 0;
    __m512i rows[8];
    smallk_taps t;
    while (r < count) {
        size_t end = width - ox < count - r ? width : ox + (count - r);
        if (s->fast) {
            taps_of_row(s, oy, &t);
            for (; ox + step <= end; ox += step, r += step) {
                for (size_t i = 0; i < step; i++) rows[i] = pixel_row(s, &t, ox + i);
                if (step == 8)
                    smallk_tile(8, NP, rows, kgroups, packed, n, panels, out, c + r * ldc, ldc, end_of_block);
                else if (step == 4)
                    smallk_tile(4, NP, rows, kgroups, packed, n, panels, out, c + r * ldc, ldc, end_of_block);
                else
                    smallk_tile(2, NP, rows, kgroups, packed, n, panels, out, c + r * ldc, ldc, end_of_block);
            }
        }
        for (; ox < end; ox++, r++) {
            rows[0] = s->fast ? pixel_row(s, &t, ox) : plain_row(s->image, s->w, s->padding_byte, oy, ox);
            smallk_tile(1, NP, rows, kgroups, packed, n, panels, out, c + r * ldc, ldc, end_of_block);
        }
        if (ox == width) ox = 0, oy++;
    }
}

#define CNNZ_SMALLK(NP)                                                                                            \
    static CNNZ_VNNI512 void smallk_pixels_##NP(const smallk_rows *s, size_t first, size_t count, size_t kgroups,   \
                                               const int8_t *packed, size_t n, const cnnz_requant16 *panels,         \
                                               const cnnz_qs8_output *out, int8_t *c, size_t ldc) {                \
        smallk_pixels(NP, s, first, count, kgroups, packed, n, panels, out, c, ldc);                                \
    }
CNNZ_SMALLK(1)
CNNZ_SMALLK(2)
CNNZ_SMALLK(3)
CNNZ_SMALLK(4)

CNNZ_VNNI512 void cnnz_qu8_conv_direct_8x64c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w,
                                                          uint8_t padding_byte, size_t first, size_t count, size_t n,
                                                          size_t kgroups, const int8_t *packed,
                                                          const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    size_t segment = w->kernel_width * w->group_channels, k = w->kernel_height * segment;
    if (count == 0 || n == 0) return;
    smallk_rows s;
    s.image = image;
    s.w = w;
    s.padding_byte = padding_byte;
    s.segment = segment;
    s.line_bytes = w->width * w->channels;
    s.segment_lanes = segment >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << segment) - 1);
    s.k_lanes = k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << k) - 1);
    s.padding = _mm512_set1_epi8((char)(padding_byte ^ 0x80));
    s.sign = _mm512_set1_epi8((char)0x80);
    s.fast = w->dilation_width == 1 && w->group_channels == w->channels && w->kernel_height <= 16;
    /* The interior columns: x0 >= 0 and x0 + kernel_width <= width. */
    s.ox_first = 0;
    while (s.ox_first < w->out_width && (ptrdiff_t)(s.ox_first * w->stride_width) < w->pad_left) s.ox_first++;
    s.ox_end = s.ox_first;
    while (s.ox_end < w->out_width &&
           (ptrdiff_t)(s.ox_end * w->stride_width) - w->pad_left + (ptrdiff_t)w->kernel_width <= (ptrdiff_t)w->width)
        s.ox_end++;
    cnnz_requant16 panels[4];
    for (size_t p = 0; p < (n + 15) / 16; p++)
        panels[p] = requant16_parameters(16 * p, n - 16 * p < 16 ? n - 16 * p : 16, out);
    switch ((n + 15) / 16) {
    case 1: smallk_pixels_1(&s, first, count, kgroups, packed, n, panels, out, c, ldc); break;
    case 2: smallk_pixels_2(&s, first, count, kgroups, packed, n, panels, out, c, ldc); break;
    case 3: smallk_pixels_3(&s, first, count, kgroups, packed, n, panels, out, c, ldc); break;
    default: smallk_pixels_4(&s, first, count, kgroups, packed, n, panels, out, c, ldc); break;
    }
}

#else
/* Not x86: never called (the CPU checks say no); the im2col and the portable VNNI GEMM. */
void cnnz_qu8_conv_direct_8x64c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w,
                                             uint8_t padding_byte, size_t first, size_t count, size_t n,
                                             size_t kgroups, const int8_t *packed, const cnnz_qs8_output *out,
                                             int8_t *c, size_t ldc) {
    uint8_t a[64];
    for (size_t r = 0; r < count; r++) {
        cnnz_qu8_im2col(CNNZ_INT8_PORTABLE, image, w, padding_byte, first + r, 1, a, 4 * kgroups);
        cnnz_qu8_gemm_vnni512(1, n, kgroups, a, 4 * kgroups, packed, out, c + r * ldc, ldc);
    }
}
#endif
