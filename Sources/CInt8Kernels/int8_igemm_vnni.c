/* The indirect 512-bit VNNI convolution (see include/CInt8Kernels.h): no im2col matrix. The
 * input rows a block of output pixels reads are copied once as q xor 0x80 (a fraction of the
 * im2col's bytes, which repeat every input byte kernel_height * kernel_width times), then the
 * GEMM reads each output pixel's taps through pointers into that copy, or into one row of the
 * padding byte for taps outside the image. With group_channels a multiple of 4 a group of 4 k
 * never straddles two taps, so the packed weights are the GEMM's (the im2col order). Xoring in
 * the GEMM's inner loop instead costs one more instruction per broadcast, which measured about
 * 15 % slower than the copy. */
#include "int8_igemm_vnni.h"

#include <string.h>

/* The input rows output pixels first..<first + count read: first_row ..< first_row + rows (clipped). */
void cnnz_igemm_input_rows(const cnnz_qs8_window *w, size_t first, size_t count, size_t *first_row, size_t *rows) {
    ptrdiff_t top = (ptrdiff_t)(first / w->out_width * w->stride_height) - w->pad_top;
    ptrdiff_t bottom = (ptrdiff_t)((first + count - 1) / w->out_width * w->stride_height) - w->pad_top +
                       (ptrdiff_t)((w->kernel_height - 1) * w->dilation_height);
    if (top < 0) top = 0;
    if (bottom >= (ptrdiff_t)w->height) bottom = (ptrdiff_t)w->height - 1;
    *first_row = (size_t)top;
    *rows = bottom >= top ? (size_t)(bottom - top + 1) : 0;
}

size_t cnnz_qu8_igemm_scratch(const cnnz_qs8_window *w, size_t count) {
    size_t taps = w->kernel_height * w->kernel_width;
    /* count pixels starting anywhere in a row span at most this many output rows. */
    size_t out_rows = (count + w->out_width - 2) / w->out_width + 1;
    size_t rows = (out_rows - 1) * w->stride_height + (w->kernel_height - 1) * w->dilation_height + 1;
    if (rows > w->height) rows = w->height;
    size_t bytes = count * taps * sizeof(void *) + ((w->group_channels + 63) / 64) * 64 + rows * w->width * w->channels;
    return (bytes + 63) / 64 * 64; /* each thread's scratch starts this many bytes after the last's */
}

/* Pointers for output pixels first..<first + count: pixel r's tap t at taps[t * count + r]. Per
 * run of pixels along one output row and per tap, the pixels whose tap is inside the image form
 * one range (padding before and after it), whose pointers step by stride_width pixels. */
static void indirection(const cnnz_qs8_window *w, size_t first, size_t count, const uint8_t *copy, size_t first_row,
                        const uint8_t *padding, const uint8_t **taps) {
    size_t kh = w->kernel_height, kw = w->kernel_width, out_width = w->out_width;
    size_t oy = first / out_width, ox = first % out_width;
    ptrdiff_t sw = (ptrdiff_t)w->stride_width, width = (ptrdiff_t)w->width;
    for (size_t r = 0; r < count;) {
        size_t run = out_width - ox < count - r ? out_width - ox : count - r;
        for (size_t ky = 0; ky < kh; ky++) {
            ptrdiff_t iy = (ptrdiff_t)(oy * w->stride_height) - w->pad_top + (ptrdiff_t)(ky * w->dilation_height);
            int row_inside = iy >= 0 && iy < (ptrdiff_t)w->height;
            const uint8_t *line =
                row_inside ? copy + ((size_t)iy - first_row) * w->width * w->channels + w->group_offset : padding;
            for (size_t kx = 0; kx < kw; kx++) {
                const uint8_t **d = taps + (ky * kw + kx) * count + r;
                /* Pixel i of the run reads column ix0 + i * sw: inside for i in lo..<hi. */
                ptrdiff_t ix0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left + (ptrdiff_t)(kx * w->dilation_width);
                ptrdiff_t lo = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
                ptrdiff_t hi = ix0 >= width ? 0 : (width - ix0 + sw - 1) / sw;
                if (!row_inside) lo = hi = 0;
                if (hi > (ptrdiff_t)run) hi = (ptrdiff_t)run;
                if (lo > hi) lo = hi;
                ptrdiff_t i = 0;
                for (; i < lo; i++) d[i] = padding;
                if (lo < hi) { /* (a pointer formed only inside the copy) */
                    const uint8_t *p = line + (ix0 + lo * sw) * (ptrdiff_t)w->channels;
                    for (; i < hi; i++, p += sw * (ptrdiff_t)w->channels) d[i] = p;
                }
                for (; i < (ptrdiff_t)run; i++) d[i] = padding;
            }
        }
        r += run;
        ox = 0;
        oy++;
    }
}

#ifdef CNNZ_HAVE_AVX2

CNNZ_INLINE CNNZ_AVX512 void xor_rows(uint8_t *d, const int8_t *s, size_t n) {
    const __m512i sign = _mm512_set1_epi8((char)0x80);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) _mm512_storeu_si512(d + i, _mm512_xor_si512(_mm512_loadu_si512(s + i), sign));
    if (i < n) {
        __mmask64 lanes = (__mmask64)(((uint64_t)1 << (n - i)) - 1);
        _mm512_mask_storeu_epi8(d + i, lanes, _mm512_xor_si512(_mm512_maskz_loadu_epi8(lanes, s + i), sign));
    }
}

/* An mr x np tile: for each tap, mr row pointers, tap_groups groups of 4 bytes from each. pool
 * (a constant): mr is 4 or 8 and each 4 rows are the window of one pixel of a 2x2 max pooling,
 * whose maximum sum is stored as one row (c's rows are the pooled pixels; the argument that this
 * is the same byte as pooling the stored bytes: cnnz_qu8_igemm_maxpool2_8x32c4__avx512vnni). */
CNNZ_INLINE CNNZ_VNNI512 void itile512(const int mr, const int np, const int pool, size_t taps, size_t tap_groups,
                                       const uint8_t *const *pointers, size_t stride, const int8_t *w, size_t panel_bytes,
                                       size_t n, size_t column, const cnnz_requant16 *parameters,
                                       const cnnz_requant16_float *forms, const cnnz_qs8_output *out, int8_t *c,
                                       size_t ldc, int kind) {
    __m512i acc[8][4];
    for (int p = 0; p < np; p++) {
        __m512i start = tile512_start(parameters, p);
        for (int r = 0; r < mr; r++) acc[r][p] = start;
    }
    /* do-while loops (taps and tap_groups are at least 1): with for loops, which may run no
     * time, clang copied every accumulator at each tap. */
    const int8_t *wg = w;
    size_t t = 0;
    do {
        const uint8_t *rows[8];
        for (int r = 0; r < mr; r++) rows[r] = pointers[t * stride + (size_t)r];
        size_t offset = 0;
        do {
            __m512i b[4];
            for (int p = 0; p < np; p++) b[p] = _mm512_loadu_si512(wg + p * panel_bytes);
            for (int r = 0; r < mr; r++) {
                int32_t v;
                memcpy(&v, rows[r] + offset, 4);
                __m512i x = _mm512_set1_epi32(v);
                for (int p = 0; p < np; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], x, b[p]);
            }
            wg += 64;
            offset += 4;
        } while (offset < 4 * tap_groups);
    } while (++t < taps);
    /* The store reads a copy: handing it acc itself kept acc in memory, stored at every group. */
    __m512i sums[8][4];
    if (pool) {
        /* The sums start at the bias except in the per-row store (parameters NULL), which adds it:
         * there the maximum is taken of the sums with the bias (the int32 values the reference
         * requantizes, wrapping alike), and the bias taken off again for store16 to add. */
        for (int p = 0; p < np; p++) {
            size_t first = column + 16 * (size_t)p;
            if (parameters || first >= n) {
                for (int i = 0; i < mr / 4; i++)
                    sums[i][p] = _mm512_max_epi32(_mm512_max_epi32(acc[4 * i][p], acc[4 * i + 1][p]),
                                                  _mm512_max_epi32(acc[4 * i + 2][p], acc[4 * i + 3][p]));
                continue;
            }
            size_t width = n - first < 16 ? n - first : 16;
            __m512i bias =
                _mm512_maskz_loadu_epi32((__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1), out->bias + first);
            for (int i = 0; i < mr / 4; i++) {
                __m512i a = _mm512_max_epi32(_mm512_add_epi32(acc[4 * i][p], bias),
                                             _mm512_add_epi32(acc[4 * i + 1][p], bias));
                __m512i b = _mm512_max_epi32(_mm512_add_epi32(acc[4 * i + 2][p], bias),
                                             _mm512_add_epi32(acc[4 * i + 3][p], bias));
                sums[i][p] = _mm512_sub_epi32(_mm512_max_epi32(a, b), bias);
            }
        }
        tile512_store_as(mr / 4, np, sums, n, column, parameters, forms, out, c, ldc, kind);
        return;
    }
    for (int r = 0; r < mr; r++)
        for (int p = 0; p < np; p++) sums[r][p] = acc[r][p];
    tile512_store_as(mr, np, sums, n, column, parameters, forms, out, c, ldc, kind);
}

typedef void (*cnnz_itile512)(size_t, size_t, const uint8_t *const *, size_t, const int8_t *, size_t, size_t, size_t,
                              const cnnz_requant16 *, const cnnz_requant16_float *, const cnnz_qs8_output *, int8_t *,
                              size_t, int);

#define CNNZ_ITILE512(MR, NP)                                                                                      \
    static CNNZ_VNNI512 void itile512_##MR##x##NP(size_t taps, size_t tap_groups, const uint8_t *const *pointers,   \
                                                  size_t stride,                                                   \
                                                  const int8_t *w, size_t panel_bytes, size_t n, size_t column,    \
                                                  const cnnz_requant16 *parameters,                                \
                                                  const cnnz_requant16_float *forms, const cnnz_qs8_output *out,   \
                                                  int8_t *c, size_t ldc, int kind) {                               \
        itile512(MR, NP, 0, taps, tap_groups, pointers, stride, w, panel_bytes, n, column, parameters, forms,    \
                 out, c, ldc, kind);                                                                               \
    }
/* The pooling tiles (mr 4 or 8: one or two pooled pixels). */
#define CNNZ_ITILE512_POOL(MR, NP)                                                                                 \
    static CNNZ_VNNI512 void ptile512_##MR##x##NP(size_t taps, size_t tap_groups, const uint8_t *const *pointers,   \
                                                  size_t stride,                                                   \
                                                  const int8_t *w, size_t panel_bytes, size_t n, size_t column,    \
                                                  const cnnz_requant16 *parameters,                                \
                                                  const cnnz_requant16_float *forms, const cnnz_qs8_output *out,   \
                                                  int8_t *c, size_t ldc, int kind) {                               \
        itile512(MR, NP, 1, taps, tap_groups, pointers, stride, w, panel_bytes, n, column, parameters, forms,    \
                 out, c, ldc, kind);                                                                               \
    }
CNNZ_ITILE512_POOL(4, 1)
CNNZ_ITILE512_POOL(8, 1)
CNNZ_ITILE512_POOL(4, 2)
CNNZ_ITILE512_POOL(8, 2)
CNNZ_ITILE512(1, 4)
CNNZ_ITILE512(2, 4)
CNNZ_ITILE512(1, 2)
CNNZ_ITILE512(2, 2)
CNNZ_ITILE512(3, 2)
CNNZ_ITILE512(4, 2)
CNNZ_ITILE512(5, 2)
CNNZ_ITILE512(6, 2)
CNNZ_ITILE512(7, 2)
CNNZ_ITILE512(8, 2)
CNNZ_ITILE512(1, 1)
CNNZ_ITILE512(2, 1)
CNNZ_ITILE512(3, 1)
CNNZ_ITILE512(4, 1)
CNNZ_ITILE512(5, 1)
CNNZ_ITILE512(6, 1)
CNNZ_ITILE512(7, 1)
CNNZ_ITILE512(8, 1)

/* np panels (their store constants once; forms: their float forms in the stage, or NULL),
 * strips of 8 output pixels. */
static CNNZ_VNNI512 void ipanels512(const int np, const cnnz_itile512 *tiles, size_t m, size_t n, size_t taps,
                                    size_t tap_groups, const uint8_t *const *pointers, const int8_t *w,
                                    size_t panel_bytes, size_t column, const cnnz_requant16_float *forms,
                                    const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    cnnz_requant16 parameters[4];
    int kind = tile512_kinds(np, m, n, column, out, forms, parameters);
    for (size_t row = 0; row < m; row += 8) {
        size_t mr = m - row < 8 ? m - row : 8;
        tiles[mr - 1](taps, tap_groups, pointers + row, m, w, panel_bytes, n, column,
                      kind == CNNZ_TILE_STORE16 ? NULL : parameters, forms, out, c + row * ldc, ldc, kind);
    }
}

/* ipanels512 for the pooling tiles: m (a multiple of 4) rows, each 4 one pooled pixel's window,
 * strips of 8 (two pooled pixels), c's rows the pooled pixels. */
static CNNZ_VNNI512 void ppanels512(const int np, const cnnz_itile512 *tiles, size_t m, size_t n, size_t taps,
                                    size_t tap_groups, const uint8_t *const *pointers, const int8_t *w,
                                    size_t panel_bytes, size_t column, const cnnz_requant16_float *forms,
                                    const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    cnnz_requant16 parameters[4];
    int kind = tile512_kinds(np, m / 4, n, column, out, forms, parameters);
    for (size_t row = 0; row < m; row += 8) {
        size_t mr = m - row < 8 ? 4 : 8;
        tiles[mr / 4 - 1](taps, tap_groups, pointers + row, m, w, panel_bytes, n, column,
                          kind == CNNZ_TILE_STORE16 ? NULL : parameters, forms, out, c + row / 4 * ldc, ldc, kind);
    }
}

CNNZ_VNNI512 void cnnz_igemm512_maxpool2(size_t m, size_t n, size_t taps, size_t tap_groups,
                                         const uint8_t *const *pointers, const int8_t *packed, const void *stage,
                                         const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    const cnnz_requant16_float *forms = (const cnnz_requant16_float *)stage;
    static const cnnz_itile512 two[] = {ptile512_4x2, ptile512_8x2};
    static const cnnz_itile512 one[] = {ptile512_4x1, ptile512_8x1};
    size_t panels = (n + 15) / 16, panel_bytes = taps * tap_groups * 64, p = 0;
    for (; p + 2 <= panels; p += 2)
        ppanels512(2, two, m, n, taps, tap_groups, pointers, packed + p * panel_bytes, panel_bytes, 16 * p,
                   forms ? forms + p : NULL, out, c, ldc);
    if (p < panels)
        ppanels512(1, one, m, n, taps, tap_groups, pointers, packed + p * panel_bytes, panel_bytes, 16 * p,
                   forms ? forms + p : NULL, out, c, ldc);
}

static CNNZ_VNNI512 void igemm512(size_t m, size_t n, size_t taps, size_t tap_groups, const uint8_t *const *pointers,
                                  const int8_t *packed, const void *stage, const cnnz_qs8_output *out, int8_t *c,
                                  size_t ldc) {
    const cnnz_requant16_float *forms = (const cnnz_requant16_float *)stage;
#define CNNZ_FORMS (forms ? forms + p : NULL)
    static const cnnz_itile512 four[] = {itile512_1x4, itile512_2x4};
    static const cnnz_itile512 two[] = {itile512_1x2, itile512_2x2, itile512_3x2, itile512_4x2,
                                        itile512_5x2, itile512_6x2, itile512_7x2, itile512_8x2};
    static const cnnz_itile512 one[] = {itile512_1x1, itile512_2x1, itile512_3x1, itile512_4x1,
                                        itile512_5x1, itile512_6x1, itile512_7x1, itile512_8x1};
    size_t panels = (n + 15) / 16, panel_bytes = taps * tap_groups * 64, p = 0;
    if (m <= 2) {
        for (; p + 4 <= panels; p += 4)
            ipanels512(4, four, m, n, taps, tap_groups, pointers, packed + p * panel_bytes, panel_bytes, 16 * p,
                       CNNZ_FORMS, out, c, ldc);
    }
    for (; p + 2 <= panels; p += 2)
        ipanels512(2, two, m, n, taps, tap_groups, pointers, packed + p * panel_bytes, panel_bytes, 16 * p,
                   CNNZ_FORMS, out, c, ldc);
    if (p < panels)
        ipanels512(1, one, m, n, taps, tap_groups, pointers, packed + p * panel_bytes, panel_bytes, 16 * p,
                   CNNZ_FORMS, out, c, ldc);
#undef CNNZ_FORMS
}

CNNZ_AVX512 void cnnz_igemm_copy_rows(const int8_t *image, const cnnz_qs8_window *w, size_t first_row, size_t rows,
                                  uint8_t *copy) {
    size_t line = w->width * w->channels;
    xor_rows(copy, image + first_row * line, rows * line);
}

#else
/* Not x86: never called (the CPU checks say no); plain C so the package links. */
static void igemm512(size_t m, size_t n, size_t taps, size_t tap_groups, const uint8_t *const *pointers,
                     const int8_t *packed, const void *stage, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    (void)stage;
    size_t panel_bytes = taps * tap_groups * 64;
    for (size_t r = 0; r < m; r++) {
        for (size_t j = 0; j < n; j++) {
            const int8_t *w = packed + (j / 16) * panel_bytes + (j % 16) * 4;
            uint32_t sum = 0;
            for (size_t t = 0; t < taps; t++) {
                const uint8_t *x = pointers[t * m + r];
                for (size_t i = 0; i < 4 * tap_groups; i++)
                    sum += (uint32_t)(x[i] * w[(t * tap_groups + i / 4) * 64 + i % 4]);
            }
            c[r * ldc + j] = store((int32_t)sum, j, out);
        }
    }
}

void cnnz_igemm512_maxpool2(size_t m, size_t n, size_t taps, size_t tap_groups, const uint8_t *const *pointers,
                            const int8_t *packed, const void *stage, const cnnz_qs8_output *out, int8_t *c,
                            size_t ldc) {
    (void)stage;
    size_t panel_bytes = taps * tap_groups * 64;
    for (size_t r = 0; r < m; r += 4) {
        for (size_t j = 0; j < n; j++) {
            const int8_t *w = packed + (j / 16) * panel_bytes + (j % 16) * 4;
            int32_t best = INT32_MIN;
            for (size_t d = 0; d < 4; d++) {
                uint32_t sum = (uint32_t)out->bias[j];
                for (size_t t = 0; t < taps; t++) {
                    const uint8_t *x = pointers[t * m + r + d];
                    for (size_t i = 0; i < 4 * tap_groups; i++)
                        sum += (uint32_t)(x[i] * w[(t * tap_groups + i / 4) * 64 + i % 4]);
                }
                if ((int32_t)sum > best) best = (int32_t)sum;
            }
            c[r / 4 * ldc + j] = store((int32_t)((uint32_t)best - (uint32_t)out->bias[j]), j, out);
        }
    }
}

void cnnz_igemm_copy_rows(const int8_t *image, const cnnz_qs8_window *w, size_t first_row, size_t rows, uint8_t *copy) {
    size_t bytes = rows * w->width * w->channels;
    const int8_t *s = image + first_row * w->width * w->channels;
    for (size_t i = 0; i < bytes; i++) copy[i] = (uint8_t)s[i] ^ 0x80;
}
#endif

void cnnz_qu8_igemm_8x32c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                        size_t first, size_t count, void *scratch, size_t n, const int8_t *packed,
                                        const void *stage, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    if (count == 0) return;
    size_t taps = w->kernel_height * w->kernel_width, cin = w->group_channels;
    const uint8_t **pointers = (const uint8_t **)scratch;
    uint8_t *padding = (uint8_t *)scratch + count * taps * sizeof(void *);
    uint8_t *copy = padding + ((cin + 63) / 64) * 64;
    size_t first_row, rows;
    cnnz_igemm_input_rows(w, first, count, &first_row, &rows);
    memset(padding, padding_byte, cin);
    cnnz_igemm_copy_rows(image, w, first_row, rows, copy);
    indirection(w, first, count, copy, first_row, padding, pointers);
    igemm512(count, n, taps, cin / 4, pointers, packed, stage, out, c, ldc);
}

/* ---- The row convolution (see include/CInt8Kernels.h): the taps are the kernel's rows, each
 * kernel_width * channels bytes that lie side by side in an input line, read through one pointer
 * per (pixel, kernel row) into a copy of the lines with their horizontal padding filled in, the
 * weights' k padded per kernel row to a whole number of groups of 4. The groups' bytes past a
 * kernel row's own (at most 3) belong to the next pixel or line and meet zero weights. */

/* A padded line: columns -pad_left ..< width + right, where `right` covers the last output
 * column's window; `slack` bytes after the last line or the padding line for the over-read. */
static size_t rowconv_left(const cnnz_qs8_window *w) { return w->pad_left > 0 ? (size_t)w->pad_left : 0; }
size_t cnnz_rowconv_line(const cnnz_qs8_window *w) {
    ptrdiff_t end =
        (ptrdiff_t)((w->out_width - 1) * w->stride_width) - w->pad_left + (ptrdiff_t)w->kernel_width;
    size_t right = end > (ptrdiff_t)w->width ? (size_t)(end - (ptrdiff_t)w->width) : 0;
    return (rowconv_left(w) + w->width + right) * w->channels;
}

size_t cnnz_qu8_rowconv_scratch(const cnnz_qs8_window *w, size_t block) {
    size_t line = cnnz_rowconv_line(w);
    size_t pointers = (block * w->kernel_height * sizeof(void *) + 63) / 64 * 64;
    size_t lines = (line + rowconv_slack + 63) / 64 * 64 + w->height * line + rowconv_slack;
    return (pointers + lines + 63) / 64 * 64;
}

/* Input rows first_row ..< first_row + rows as padded lines, q xor 0x80, the padding byte left
 * and right. */
void cnnz_rowconv_copy(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte, size_t first_row,
                         size_t rows, uint8_t *copy) {
    size_t line = cnnz_rowconv_line(w), left = rowconv_left(w) * w->channels, bytes = w->width * w->channels;
    for (size_t i = 0; i < rows; i++) {
        uint8_t *d = copy + i * line;
        memset(d, padding_byte, left);
        cnnz_igemm_copy_rows(image, w, first_row + i, 1, d + left);
        memset(d + left + bytes, padding_byte, line - left - bytes);
    }
}

void cnnz_qu8_rowconv_8x32c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                         size_t first, size_t count, size_t block, void *scratch, size_t n,
                                         const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                                         int8_t *c, size_t ldc) {
    if (count == 0) return;
    size_t kh = w->kernel_height, line = cnnz_rowconv_line(w), channels = w->channels;
    size_t groups = (w->kernel_width * channels + 3) / 4;
    const uint8_t **pointers = (const uint8_t **)scratch;
    uint8_t *padding = (uint8_t *)scratch + (block * kh * sizeof(void *) + 63) / 64 * 64;
    uint8_t *copy = padding + (line + rowconv_slack + 63) / 64 * 64;
    size_t first_row, rows;
    cnnz_igemm_input_rows(w, first, count, &first_row, &rows);
    memset(padding, padding_byte, line);
    cnnz_rowconv_copy(image, w, padding_byte, first_row, rows, copy);
    size_t step = w->stride_width * channels, out_width = w->out_width;
    for (size_t done = 0; done < count;) {
        size_t m = count - done < block ? count - done : block;
        size_t pixel = first + done, oy = pixel / out_width, ox = pixel % out_width;
        for (size_t r = 0; r < m;) {
            size_t run = out_width - ox < m - r ? out_width - ox : m - r;
            for (size_t ky = 0; ky < kh; ky++) {
                ptrdiff_t iy = (ptrdiff_t)(oy * w->stride_height) - w->pad_top + (ptrdiff_t)(ky * w->dilation_height);
                const uint8_t *p = iy >= 0 && iy < (ptrdiff_t)w->height ? copy + ((size_t)iy - first_row) * line
                                                                         : padding;
                p += ox * step;
                const uint8_t **d = pointers + ky * m + r;
                for (size_t i = 0; i < run; i++, p += step) d[i] = p;
            }
            r += run;
            ox = 0;
            oy++;
        }
        igemm512(m, n, kh, groups, pointers, packed, stage, out, c + done * ldc, ldc);
        done += m;
    }
}
