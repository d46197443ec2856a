/* The AVX2 int16 row convolution (see include/CInt8Kernels.h): the int16 GEMM's tiles
 * (int8_tile_avx2.h) with A read through one pointer per (output pixel, kernel row) into a copy
 * of the input lines as int16 q - zero point, zeros in the padding columns and in a padding line
 * for rows outside the image. A kernel row's kernel_width * channels values lie side by side in a
 * line, so the im2col matrix (which repeats every input value kernel_height * kernel_width times,
 * and for few channels copies runs too short for vectors: 6 or 9 int16) is never built; the
 * copy widens each input value once. The weights' k is padded per kernel row to a whole number
 * of pairs: a row's last pair may read one value past it (the next pixel's, or the line's
 * padding or slack), which meets a zero weight. The VNNI 512 row convolution
 * (int8_igemm_vnni.c) is the same idea on bytes in groups of 4. */
#include "int8_tile_avx2.h"

#include <string.h>

/* The input rows output pixels first..<first + count read: first_row ..< first_row + rows (clipped). */
static void input_rows_s16(const cnnz_qs8_window *w, size_t first, size_t count, size_t *first_row, size_t *rows) {
    ptrdiff_t top = (ptrdiff_t)(first / w->out_width * w->stride_height) - w->pad_top;
    ptrdiff_t bottom = (ptrdiff_t)((first + count - 1) / w->out_width * w->stride_height) - w->pad_top +
                       (ptrdiff_t)((w->kernel_height - 1) * w->dilation_height);
    if (top < 0) top = 0;
    if (bottom >= (ptrdiff_t)w->height) bottom = (ptrdiff_t)w->height - 1;
    *first_row = (size_t)top;
    *rows = bottom >= top ? (size_t)(bottom - top + 1) : 0;
}

/* A padded line, in int16: columns -pad_left ..< width + right, where `right` covers the last
 * output column's window; `slack` int16 after the padding line and the last line copied (the
 * last pair's over-read, at most one value). */
static size_t line_left(const cnnz_qs8_window *w) { return w->pad_left > 0 ? (size_t)w->pad_left : 0; }
static size_t line_s16(const cnnz_qs8_window *w) {
    ptrdiff_t end = (ptrdiff_t)((w->out_width - 1) * w->stride_width) - w->pad_left + (ptrdiff_t)w->kernel_width;
    size_t right = end > (ptrdiff_t)w->width ? (size_t)(end - (ptrdiff_t)w->width) : 0;
    return (line_left(w) + w->width + right) * w->channels;
}
enum { line_slack = 16 };

static size_t pointer_bytes(const cnnz_qs8_window *w, size_t block) {
    return (block * w->kernel_height * sizeof(void *) + 63) / 64 * 64;
}
static size_t padding_bytes(const cnnz_qs8_window *w) { return ((line_s16(w) + line_slack) * 2 + 63) / 64 * 64; }

size_t cnnz_qs8_rowconv_scratch(const cnnz_qs8_window *w, size_t block) {
    size_t lines = (w->height * line_s16(w) + line_slack) * 2;
    return (pointer_bytes(w, block) + padding_bytes(w) + lines + 63) / 64 * 64;
}

static void widen_plain(int16_t *d, const int8_t *s, size_t n, int16_t zero_point) {
    for (size_t i = 0; i < n; i++) d[i] = (int16_t)(s[i] - zero_point);
}

#ifdef CNNZ_HAVE_AVX2
static CNNZ_T2 void widen(int16_t *d, const int8_t *s, size_t n, int16_t zero_point) {
    const __m256i zero = _mm256_set1_epi16(zero_point);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(s + i)));
        _mm256_storeu_si256((__m256i *)(d + i), _mm256_sub_epi16(v, zero));
    }
    widen_plain(d + i, s + i, n - i, zero_point);
}
#else
static void widen(int16_t *d, const int8_t *s, size_t n, int16_t zero_point) { widen_plain(d, s, n, zero_point); }

/* Not x86: never called (the CPU check says no); the same sums in plain C so the package links. */
static void gemm_pointers(size_t m, size_t n, size_t taps, size_t pairs, const int16_t *const *pointers,
                          const int16_t *packed, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    size_t panel = taps * pairs * 16;
    for (size_t r = 0; r < m; r++) {
        for (size_t j = 0; j < n; j++) {
            const int16_t *w = packed + (j / 8) * panel + 2 * (j % 8);
            uint32_t sum = 0;
            for (size_t t = 0; t < taps; t++)
                for (size_t i = 0; i < 2 * pairs; i++)
                    sum += (uint32_t)(pointers[t * m + r][i] * w[(t * pairs + i / 2) * 16 + i % 2]);
            c[r * ldc + j] = store((int32_t)sum, j, out);
        }
    }
}
#endif

#ifdef CNNZ_HAVE_AVX2
/* The first layers' shapes, kernel rows x pairs per kernel row known when compiled (fashion_cnn
 * conv0: 3x3 on 1 channel, 3 x 2; cifar_vgg conv0 and mobile_res b0: 3x3 on 3, 3 x 5; seed002
 * conv0: 2x2 on 3, 2 x 3): the tiles' loops unroll whole, with no counts, compares or pointer
 * reloads between the pairs (a 4 x 16 tile of 3 x 2 pairs is 6 pairs: the loops' bookkeeping
 * was a fifth of its instructions). Other shapes run cnnz_qs8_gemm_s16_4x16c2__avx2's strips. */
typedef void (*rowconv_strip)(size_t, const int16_t *const *, const int16_t *, size_t, const cnnz_requant8 *, size_t,
                              ptrdiff_t, const int8_t *, int8_t *, size_t);

#define CNNZ_ROWCONV_STRIP(TAPS, PAIRS, NP, KIND)                                                                 \
    static CNNZ_T2 void strip_##TAPS##x##PAIRS##_##NP##_##KIND(                                                   \
        size_t m, const int16_t *const *pointers, const int16_t *w, size_t panel, const cnnz_requant8 *p,         \
        size_t width, ptrdiff_t last_whole, const int8_t *table, int8_t *c, size_t ldc) {                         \
        strip_s16(NP, KIND, m, TAPS, PAIRS, pointers, NULL, 0, w, panel, p, width, last_whole, table, c, ldc);    \
    }
#define CNNZ_ROWCONV_SHAPE(TAPS, PAIRS)                                                                           \
    CNNZ_ROWCONV_STRIP(TAPS, PAIRS, 1, 0)                                                                         \
    CNNZ_ROWCONV_STRIP(TAPS, PAIRS, 2, 0)                                                                         \
    CNNZ_ROWCONV_STRIP(TAPS, PAIRS, 1, 1)                                                                         \
    CNNZ_ROWCONV_STRIP(TAPS, PAIRS, 2, 1)                                                                         \
    CNNZ_ROWCONV_STRIP(TAPS, PAIRS, 1, 2)                                                                         \
    CNNZ_ROWCONV_STRIP(TAPS, PAIRS, 2, 2)                                                                         \
    static const rowconv_strip strips_##TAPS##x##PAIRS[3][2] = {                                                  \
        {strip_##TAPS##x##PAIRS##_1_0, strip_##TAPS##x##PAIRS##_2_0},                                             \
        {strip_##TAPS##x##PAIRS##_1_1, strip_##TAPS##x##PAIRS##_2_1},                                             \
        {strip_##TAPS##x##PAIRS##_1_2, strip_##TAPS##x##PAIRS##_2_2}};
CNNZ_ROWCONV_SHAPE(3, 2)
CNNZ_ROWCONV_SHAPE(3, 5)
CNNZ_ROWCONV_SHAPE(2, 3)

/* The strips ([kind][np - 1]) compiled for taps x pairs, or NULL. */
static const rowconv_strip (*fixed_strips(size_t taps, size_t pairs))[2] {
    if (taps == 3 && pairs == 2) return strips_3x2;
    if (taps == 3 && pairs == 5) return strips_3x5;
    if (taps == 2 && pairs == 3) return strips_2x3;
    return NULL;
}

/* cnnz_qs8_gemm_s16_4x16c2__avx2 with fixed strips: its panel groups from the last
 * (tile_panel_group: a partial group's rows may be stored whole over the next row's first
 * columns, which a later group writes), each with its constants prepared in stage. */
static CNNZ_T2 void gemm_fixed(const rowconv_strip strips[3][2], size_t m, size_t n, size_t panel,
                               const int16_t *const *pointers, const int16_t *packed, const void *stage,
                               const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    for (size_t g = (n + 15) / 16; g-- > 0;) {
        cnnz_tile_group t = tile_panel_group(stage, g, m, n, ldc);
        strips[t.constants->kind][t.np - 1](m, pointers, packed + 2 * g * panel, panel, t.constants->panel, t.width,
                                            t.last_whole, out->table, c + t.column, ldc);
    }
}
#endif

/* Input rows first_row ..< first_row + rows as padded lines of q - zero point, zeros left and
 * right, then the slack zeroed. */
static void copy_lines(const int8_t *image, const cnnz_qs8_window *w, int16_t zero_point, size_t first_row,
                       size_t rows, int16_t *copy) {
    size_t line = line_s16(w), left = line_left(w) * w->channels, values = w->width * w->channels;
    for (size_t i = 0; i < rows; i++) {
        int16_t *d = copy + i * line;
        memset(d, 0, left * sizeof(int16_t));
        widen(d + left, image + (first_row + i) * values, values, zero_point);
        memset(d + left + values, 0, (line - left - values) * sizeof(int16_t));
    }
    memset(copy + rows * line, 0, line_slack * sizeof(int16_t));
}

void cnnz_qs8_rowconv_4x16c2__avx2(const int8_t *image, const cnnz_qs8_window *w, int16_t zero_point, size_t first,
                                   size_t count, size_t block, void *scratch, size_t n, const int16_t *packed,
                                   const void *stage, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    if (count == 0) return;
    size_t kh = w->kernel_height, line = line_s16(w), channels = w->channels;
    size_t pairs = (w->kernel_width * channels + 1) / 2;
    const int16_t **pointers = (const int16_t **)scratch;
    int16_t *padding = (int16_t *)(void *)((uint8_t *)scratch + pointer_bytes(w, block));
    int16_t *copy = (int16_t *)(void *)((uint8_t *)padding + padding_bytes(w));
    size_t first_row, rows;
    input_rows_s16(w, first, count, &first_row, &rows);
    memset(padding, 0, (line + line_slack) * sizeof(int16_t));
    copy_lines(image, w, zero_point, first_row, rows, copy);
    size_t step = w->stride_width * channels, out_width = w->out_width;
#ifdef CNNZ_HAVE_AVX2
    const rowconv_strip(*fixed)[2] = fixed_strips(kh, pairs);
#endif
    for (size_t done = 0; done < count;) {
        size_t m = count - done < block ? count - done : block;
        size_t pixel = first + done, oy = pixel / out_width, ox = pixel % out_width;
        for (size_t r = 0; r < m;) {
            size_t run = out_width - ox < m - r ? out_width - ox : m - r;
            for (size_t ky = 0; ky < kh; ky++) {
                ptrdiff_t iy = (ptrdiff_t)(oy * w->stride_height) - w->pad_top + (ptrdiff_t)(ky * w->dilation_height);
                const int16_t *p =
                    iy >= 0 && iy < (ptrdiff_t)w->height ? copy + ((size_t)iy - first_row) * line : padding;
                p += ox * step;
                const int16_t **d = pointers + ky * m + r;
                for (size_t i = 0; i < run; i++, p += step) d[i] = p;
            }
            r += run;
            ox = 0;
            oy++;
        }
#ifdef CNNZ_HAVE_AVX2
        if (fixed)
            gemm_fixed(fixed, m, n, kh * pairs * 16, pointers, packed, stage, out, c + done * ldc, ldc);
        else
            cnnz_qs8_gemm_s16_4x16c2__avx2(m, n, kh, pairs, pointers, NULL, 0, packed, stage, out, c + done * ldc,
                                           ldc);
#else
        (void)stage;
        gemm_pointers(m, n, kh, pairs, pointers, packed, out, c + done * ldc, ldc);
#endif
        done += m;
    }
}
