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
 * conv0: 2x2 on 3, 2 x 3): a run of pixels of one output row at a time, in tiles of 4 pixels x
 * 16 columns whose A rows are the run's kernel-row lines at (pixel * step) (no table of
 * pointers: building it, 3 pointers a pixel, took a tenth of mobile_res b0), the tiles' loops
 * unrolled whole (no counts, compares or pointer reloads between the pairs). The sums are
 * added in the order of the pairs, one vpaddd per vpmaddwd into the tile's 8 accumulators:
 * clang, left free, added pairs of products first and spilled the partial sums (19 stack
 * accesses a pass of a kernel row in the pointer strips). Other shapes run
 * cnnz_qs8_gemm_s16_4x16c2__avx2's strips through the pointers. */
typedef void (*rowconv_run)(size_t, const int16_t *const *, size_t, size_t, ptrdiff_t, const int16_t *, size_t,
                            const cnnz_requant8 *, size_t, const int8_t *, int8_t *, size_t);

/* An mr x np tile of a run (mr pixels, np panels): A row r, kernel row t at lines[t] + r * step,
 * pairs pairs each; the weights' pairs at w (panel int16 apart), 16 int16 a pair. The store
 * as the strips' (tile_s16_store). */
CNNZ_T2_INLINE void run_tile(const int mr, const int np, const int kind, const int taps, const int pairs,
                             const int16_t *const lines[3], size_t step, const int16_t *w, size_t panel,
                             const cnnz_requant8 *p, size_t width, int whole_rows, const int8_t *table, int8_t *c,
                             size_t ldc) {
    __m256i acc[4][2];
    for (int r = 0; r < mr; r++)
        for (int h = 0; h < np; h++) acc[r][h] = p[h].bias;
#pragma clang loop unroll(full)
    for (int t = 0; t < taps; t++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < pairs; j++) {
            const int16_t *wp = w + (size_t)(t * pairs + j) * 16;
            __m256i b0 = _mm256_loadu_si256((const __m256i *)wp);
            __m256i b1 = np > 1 ? _mm256_loadu_si256((const __m256i *)(wp + panel)) : b0;
#pragma clang loop unroll(full)
            for (int r = 0; r < mr; r++) {
                int32_t v;
                memcpy(&v, lines[t] + (size_t)r * step + 2 * j, 4);
                __m256i x = _mm256_set1_epi32(v);
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(x, b0));
                if (np > 1) acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(x, b1));
                /* Each product into its accumulator in turn (see above). */
                __asm__("" : "+x"(acc[r][0]));
                if (np > 1) __asm__("" : "+x"(acc[r][1]));
            }
        }
    }
    __m256i sums[4][2];
    for (int r = 0; r < mr; r++)
        for (int h = 0; h < np; h++) sums[r][h] = acc[r][h];
    tile_s16_store(mr, np, kind, sums, p, width, whole_rows, table, c, ldc);
}

/* A run of count pixels of one output row, one panel group: lines[t] is kernel row t's first
 * pixel's values, pixels step int16 apart; row is the run's first pixel among the call's rows
 * (whose rows up to last_whole may be stored whole, tile_last_whole). Tiles of 4 pixels, then
 * the last 1 to 3. */
CNNZ_T2_INLINE void run_group(const int np, const int kind, const int taps, const int pairs, size_t count,
                              const int16_t *const *lines, size_t step, size_t row, ptrdiff_t last_whole,
                              const int16_t *w, size_t panel, const cnnz_requant8 *p, size_t width,
                              const int8_t *table, int8_t *c, size_t ldc) {
#define CNNZ_WHOLE(ROW)                                                                                               \
    (last_whole < (ptrdiff_t)(ROW)                  ? 0                                                               \
     : last_whole - (ptrdiff_t)(ROW) >= 3 ? 4                                                               \
                                                    : (int)(last_whole - (ptrdiff_t)(ROW)) + 1)
    const int16_t *at[3];
    for (int t = 0; t < taps; t++) at[t] = lines[t];
    size_t i = 0;
    /* Tiles stored whole without a table first (all but a partial group's last rows). */
    if (!table)
        for (; i + 4 <= count && last_whole >= (ptrdiff_t)(row + i) + 3; i += 4) {
            run_tile(4, np, kind, taps, pairs, at, step, w, panel, p, width, 4, NULL, c + i * ldc, ldc);
            for (int t = 0; t < taps; t++) at[t] += 4 * step;
        }
    for (; i + 4 <= count; i += 4) {
        run_tile(4, np, kind, taps, pairs, at, step, w, panel, p, width, CNNZ_WHOLE(row + i), table, c + i * ldc,
                 ldc);
        for (int t = 0; t < taps; t++) at[t] += 4 * step;
    }
    switch (count - i) {
    case 1:
        run_tile(1, np, kind, taps, pairs, at, step, w, panel, p, width, CNNZ_WHOLE(row + i), table, c + i * ldc,
                 ldc);
        break;
    case 2:
        run_tile(2, np, kind, taps, pairs, at, step, w, panel, p, width, CNNZ_WHOLE(row + i), table, c + i * ldc,
                 ldc);
        break;
    case 3:
        run_tile(3, np, kind, taps, pairs, at, step, w, panel, p, width, CNNZ_WHOLE(row + i), table, c + i * ldc,
                 ldc);
        break;
    default: break;
    }
#undef CNNZ_WHOLE
}

#define CNNZ_ROWCONV_RUN(TAPS, PAIRS, NP, KIND)                                                                   \
    static CNNZ_T2 void run_##TAPS##x##PAIRS##_##NP##_##KIND(                                                     \
        size_t count, const int16_t *const *lines, size_t step, size_t row, ptrdiff_t last_whole, const int16_t *w, \
        size_t panel, const cnnz_requant8 *p, size_t width, const int8_t *table, int8_t *c, size_t ldc) {         \
        run_group(NP, KIND, TAPS, PAIRS, count, lines, step, row, last_whole, w, panel, p, width, table, c, ldc);  \
    }
#define CNNZ_ROWCONV_SHAPE(TAPS, PAIRS)                                                                           \
    CNNZ_ROWCONV_RUN(TAPS, PAIRS, 1, 0)                                                                           \
    CNNZ_ROWCONV_RUN(TAPS, PAIRS, 2, 0)                                                                           \
    CNNZ_ROWCONV_RUN(TAPS, PAIRS, 1, 1)                                                                           \
    CNNZ_ROWCONV_RUN(TAPS, PAIRS, 2, 1)                                                                           \
    CNNZ_ROWCONV_RUN(TAPS, PAIRS, 1, 2)                                                                           \
    CNNZ_ROWCONV_RUN(TAPS, PAIRS, 2, 2)                                                                           \
    static const rowconv_run runs_##TAPS##x##PAIRS[3][2] = {                                                      \
        {run_##TAPS##x##PAIRS##_1_0, run_##TAPS##x##PAIRS##_2_0},                                                 \
        {run_##TAPS##x##PAIRS##_1_1, run_##TAPS##x##PAIRS##_2_1},                                                 \
        {run_##TAPS##x##PAIRS##_1_2, run_##TAPS##x##PAIRS##_2_2}};
CNNZ_ROWCONV_SHAPE(3, 2)
CNNZ_ROWCONV_SHAPE(3, 5)
CNNZ_ROWCONV_SHAPE(2, 3)

/* The runs ([kind][np - 1]) compiled for taps x pairs, or NULL. */
static const rowconv_run (*fixed_runs(size_t taps, size_t pairs))[2] {
    if (taps == 3 && pairs == 2) return runs_3x2;
    if (taps == 3 && pairs == 5) return runs_3x5;
    if (taps == 2 && pairs == 3) return runs_2x3;
    return NULL;
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

/* Kernel row ky's line for output row oy: the copy's line, or the padding line outside the image. */
static const int16_t *kernel_line(const cnnz_qs8_window *w, size_t oy, size_t ky, const int16_t *copy,
                                  size_t first_row, size_t line, const int16_t *padding) {
    ptrdiff_t iy = (ptrdiff_t)(oy * w->stride_height) - w->pad_top + (ptrdiff_t)(ky * w->dilation_height);
    return iy >= 0 && iy < (ptrdiff_t)w->height ? copy + ((size_t)iy - first_row) * line : padding;
}

#ifdef CNNZ_HAVE_AVX2
/* The compiled shapes (fixed_runs): each run of the call's pixels in one output row, each panel
 * group from the last (tile_panel_group: a partial group's rows may be stored whole over the
 * next row's first columns, which group 0 of that row, written later, overwrites), over the
 * call's count rows. */
static CNNZ_T2 void rowconv_fixed(const rowconv_run runs[3][2], const cnnz_qs8_window *w, size_t first, size_t count,
                                  const int16_t *copy, size_t first_row, size_t line, const int16_t *padding,
                                  size_t pairs, size_t n, const int16_t *packed, const void *stage,
                                  const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    size_t kh = w->kernel_height, step = w->stride_width * w->channels, out_width = w->out_width;
    size_t panel = kh * pairs * 16, groups = (n + 15) / 16;
    for (size_t done = 0; done < count;) {
        size_t pixel = first + done, oy = pixel / out_width, ox = pixel % out_width;
        size_t run = out_width - ox < count - done ? out_width - ox : count - done;
        const int16_t *lines[3];
        for (size_t ky = 0; ky < kh; ky++)
            lines[ky] = kernel_line(w, oy, ky, copy, first_row, line, padding) + ox * step;
        for (size_t g = groups; g-- > 0;) {
            cnnz_tile_group t = tile_panel_group(stage, g, count, n, ldc);
            runs[t.constants->kind][t.np - 1](run, lines, step, done, t.last_whole, packed + 2 * g * panel, panel,
                                              t.constants->panel, t.width, out->table,
                                              c + done * ldc + t.column, ldc);
        }
        done += run;
    }
}
#endif

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
    const rowconv_run(*fixed)[2] = kh <= 3 ? fixed_runs(kh, pairs) : NULL;
    if (fixed) {
        rowconv_fixed(fixed, w, first, count, copy, first_row, line, padding, pairs, n, packed, stage, out, c, ldc);
        return;
    }
#endif
    for (size_t done = 0; done < count;) {
        size_t m = count - done < block ? count - done : block;
        size_t pixel = first + done, oy = pixel / out_width, ox = pixel % out_width;
        for (size_t r = 0; r < m;) {
            size_t run = out_width - ox < m - r ? out_width - ox : m - r;
            for (size_t ky = 0; ky < kh; ky++) {
                const int16_t *p = kernel_line(w, oy, ky, copy, first_row, line, padding) + ox * step;
                const int16_t **d = pointers + ky * m + r;
                for (size_t i = 0; i < run; i++, p += step) d[i] = p;
            }
            r += run;
            ox = 0;
            oy++;
        }
#ifdef CNNZ_HAVE_AVX2
        cnnz_qs8_gemm_s16_4x16c2__avx2(m, n, kh, pairs, pointers, NULL, 0, packed, stage, out, c + done * ldc, ldc);
#else
        (void)stage;
        gemm_pointers(m, n, kh, pairs, pointers, packed, out, c + done * ldc, ldc);
#endif
        done += m;
    }
}
