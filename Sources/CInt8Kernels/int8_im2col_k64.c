/* The VNNI GEMM's im2col for rows of at most 64 bytes (the first layers: 1 to 12 input channels)
 * with AVX-512: per output row, the kernel rows inside the image and their lanes are found once;
 * each pixel's row is then built in one register (a masked load per kernel row, the taps outside
 * the image masked to the padding byte, xor 0x80) and stored whole. Against cnnz_qu8_im2col's
 * AVX-512 path, that leaves out the per-pixel window arithmetic and the masked stores (measured
 * 7-10 % faster for im2col + GEMM on seed002's and the first layers' shapes). The same bytes up
 * to k (see include/CInt8Kernels.h). */
#include "int8_avx512.h"

#ifdef CNNZ_HAVE_AVX2

typedef struct {
    const int8_t *image;
    const cnnz_qs8_window *w;
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
        __mmask64 columns = 0, pixel = w->channels >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << w->channels) - 1);
        for (size_t kx = 0; kx < w->kernel_width; kx++) {
            ptrdiff_t ix = x0 + (ptrdiff_t)kx;
            if (ix >= 0 && ix < (ptrdiff_t)w->width) columns |= pixel << (kx * w->channels);
        }
        inside = 0;
        for (size_t ky = 0; ky < w->kernel_height; ky++) inside |= columns << (ky * s->segment);
    }
    __m512i v = _mm512_setzero_si512();
    for (size_t i = 0; i < t->rows; i++)
        v = _mm512_or_si512(v, _mm512_maskz_loadu_epi8(t->lanes[i] & inside, t->line[i] + (intptr_t)x));
    return _mm512_xor_si512(_mm512_mask_mov_epi8(v, t->outside | (s->k_lanes & ~inside), s->padding), s->sign);
}

static CNNZ_AVX512 smallk_rows rows_of(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte) {
    size_t segment = w->kernel_width * w->group_channels, k = w->kernel_height * segment;
    smallk_rows s;
    s.image = image;
    s.w = w;
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
    return s;
}

/* The rows, each built as above and stored whole, its bytes past lda landing in the next row,
 * which is written after it; the block's last rows are stored masked. Bytes from k to lda are 0x80, against zero weights. Windows with dilation
 * across or groups take cnnz_qu8_im2col. */
CNNZ_AVX512 void cnnz_qu8_im2col_k64__avx512(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                             size_t first, size_t count, uint8_t *a, size_t lda) {
    smallk_rows s = rows_of(image, w, padding_byte);
    if (!s.fast || lda > 64) {
        cnnz_qu8_im2col(CNNZ_INT8_AVX512, image, w, padding_byte, first, count, a, lda);
        return;
    }
    const __mmask64 row_lanes = lda >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << lda) - 1);
    size_t width = w->out_width, oy = first / width, ox = first % width, r = 0;
    /* Rows from `whole` on would run past the block. */
    size_t whole = count * lda >= 64 ? (count * lda - 64) / lda + 1 : 0;
    smallk_taps t;
    while (r < count) {
        size_t end = width - ox < count - r ? width : ox + (count - r);
        taps_of_row(&s, oy, &t);
        for (; ox < end; ox++, r++) {
            __m512i v = pixel_row(&s, &t, ox);
            if (r < whole)
                _mm512_storeu_si512(a + r * lda, v);
            else
                _mm512_mask_storeu_epi8(a + r * lda, row_lanes, v);
        }
        if (ox == width) ox = 0, oy++;
    }
}

#else
/* Not x86: never called (the CPU checks say no); the plain im2col. */
void cnnz_qu8_im2col_k64__avx512(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte, size_t first,
                                 size_t count, uint8_t *a, size_t lda) {
    cnnz_qu8_im2col(CNNZ_INT8_PORTABLE, image, w, padding_byte, first, count, a, lda);
}
#endif
