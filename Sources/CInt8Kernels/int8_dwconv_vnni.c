/* cnnz_qu8_dwconv_row_16c4__avx512vnni (include/CInt8Kernels.h): one output row of a depthwise
 * convolution with depth multiplier 1 on AVX512-VNNI, 16 channels per vector.
 *
 * The kernel it replaces multiplied in 32-bit lanes: per tap and 16 channels a sign extension,
 * a vpmulld and an add (27 vector instructions for a 3x3 window, with the zero point taken off
 * besides). Here the taps of one window column (up to 4 rows: ky = 4g..4g+3) are gathered into
 * the 4 bytes of each channel's 32-bit lane, so one vpdpbusd adds 4 taps of 16 channels: a 3x3
 * window is 3 vpdpbusd. The column vector of an input pixel is built once per output row from
 * 16-byte loads of its rows (dwords moved across lanes by vpermd, then bytes within lanes by
 * vpshufb) and, at stride 1, used by the 3 outputs it belongs to.
 *
 * vpdpbusd multiplies unsigned bytes by signed ones, so the activations are q + 128 (q xor 0x80)
 * and the weights stay signed; the sums are those of (q + 128) * w over every tap, and the bias
 * (Int8PackedWeights' VNNI layout) has (zero point + 128) * (the channel's sum of weights) taken
 * off. Taps outside the image read the zero point (padding_row, and a vector of it for columns
 * outside), which then adds nothing: every int32 is the reference's sum of (q - zero point) * w
 * plus its bias, wrapping alike, so the bytes after the shared requantization are the same. */
#include "int8_dwconv_vnni.h"

#include <string.h>

#ifdef CNNZ_HAVE_AVX2

/* A 3x3 window without dilation at stride 1 or 2 (the common depthwise layer): the three weight
 * vectors stay in registers; inside the image each column vector is built once (stride 1: then
 * slides left) and no tap is checked. pair (stride 1 vertically): two output rows from the same
 * column vectors of 4 input rows, the second row's weights one byte up in each lane. lines2
 * (else NULL): a second output row (c2) with its own lines, after the first, on the same
 * weights and output stage (set up once for both). */
CNNZ_INLINE CNNZ_VNNI512 void dw_row_3x3_as(const int8_t *const *lines, const int8_t *const *lines2,
                                            const cnnz_qs8_window *w, const int8_t *panel, __m512i padding, size_t j,
                                            int full, int table, int pair, __mmask16 lanes,
                                            const cnnz_qs8_output *out, const dw_stage *pp, const int kind,
                                            int8_t *c1, int8_t *c2) {
    const cnnz_dw_transpose t = dw_transpose();
    size_t n = w->channels, stride = w->stride_width, out_width = w->out_width;
    ptrdiff_t width = (ptrdiff_t)w->width, pad = w->pad_left;
    const __m512i k0 = _mm512_loadu_si512(panel), k1 = _mm512_loadu_si512(panel + 64);
    const __m512i k2 = _mm512_loadu_si512(panel + 128);
    const __m512i m0 = _mm512_slli_epi32(k0, 8), m1 = _mm512_slli_epi32(k1, 8), m2 = _mm512_slli_epi32(k2, 8);
    const dw_stage p = *pp;
    for (int pass = 0; pass < (lines2 ? 2 : 1); pass++) {
        const int8_t *const *l = pass ? lines2 : lines;
        const int8_t *rows[4] = {l[0] + j, l[1] + j, l[2] + j, l[3] + j};
        int8_t *c = (pass ? c2 : c1) + j;
        int8_t *next = c + out_width * n;
#define CNNZ_COLUMN(X) dw_column(rows, pair ? 4 : 3, (size_t)(X) * n, full, lanes, &t)
#define CNNZ_CHECKED(X) ((X) >= 0 && (X) < width ? CNNZ_COLUMN(X) : padding)
#define CNNZ_OUTPUT(A, B, E)                                                            \
        do {                                                                            \
            __m512i sum = _mm512_dpbusd_epi32(p.q.bias, A, k0);                         \
            sum = _mm512_dpbusd_epi32(sum, B, k1);                                      \
            sum = _mm512_dpbusd_epi32(sum, E, k2);                                      \
            dw_store(sum, &p, out, full, table, kind, c + ox * n);                      \
            if (pair) {                                                                 \
                __m512i second = _mm512_dpbusd_epi32(p.q.bias, A, m0);                  \
                second = _mm512_dpbusd_epi32(second, B, m1);                            \
                second = _mm512_dpbusd_epi32(second, E, m2);                            \
                dw_store(second, &p, out, full, table, kind, next + ox * n);            \
            }                                                                           \
        } while (0)
        /* The pixels whose 3 columns are inside the image: start..<end. */
        size_t start = 0, end = out_width;
        while (start < end && (ptrdiff_t)(start * stride) < pad) start++;
        while (end > start && (ptrdiff_t)((end - 1) * stride) - pad + 2 >= width) end--;
        size_t ox = 0;
        for (; ox < start; ox++) {
            ptrdiff_t x = (ptrdiff_t)(ox * stride) - pad;
            CNNZ_OUTPUT(CNNZ_CHECKED(x), CNNZ_CHECKED(x + 1), CNNZ_CHECKED(x + 2));
        }
        if (start < end) {
            size_t x = start * stride - (size_t)pad;
            __m512i a = CNNZ_COLUMN(x);
            if (stride == 1) {
                __m512i b = CNNZ_COLUMN(x + 1);
                for (; ox < end; ox++, x++) {
                    __m512i e = CNNZ_COLUMN(x + 2);
                    CNNZ_OUTPUT(a, b, e);
                    a = b;
                    b = e;
                }
            } else {
                for (; ox < end; ox++, x += 2) {
                    __m512i b = CNNZ_COLUMN(x + 1), e = CNNZ_COLUMN(x + 2);
                    CNNZ_OUTPUT(a, b, e);
                    a = e;
                }
            }
        }
        for (; ox < out_width; ox++) {
            ptrdiff_t x = (ptrdiff_t)(ox * stride) - pad;
            CNNZ_OUTPUT(CNNZ_CHECKED(x), CNNZ_CHECKED(x + 1), CNNZ_CHECKED(x + 2));
        }
    }
#undef CNNZ_OUTPUT
#undef CNNZ_CHECKED
#undef CNNZ_COLUMN
}

/* Unoptimized (-O0, the test build), where each inlined copy keeps its own locals, the forms'
 * functions are not inlined, so that a stack frame holds one form's copies (the kernel's one
 * frame reached 6 MB, and a test thread's stack overflowed); optimized, they are. */
#ifdef __OPTIMIZE__
#define CNNZ_DW_FORM_FUNCTION CNNZ_INLINE
#else
#define CNNZ_DW_FORM_FUNCTION static __attribute__((noinline))
#endif

/* dw_row_3x3_as in form KIND for the 4 cases of the caller (a full block without a table or not,
 * pair or not): a function per form (CNNZ_DW_FORM_FUNCTION). */
#define CNNZ_DW_3X3_FORM(NAME, KIND)                                                                                 \
    CNNZ_DW_FORM_FUNCTION CNNZ_VNNI512 void NAME(                                                                    \
        const int8_t *const *lines, const int8_t *const *lines2, const cnnz_qs8_window *w, const int8_t *panel,     \
        __m512i padding, size_t j, int full, int table, int pair, __mmask16 lanes, const cnnz_qs8_output *out,      \
        const dw_stage *p, int8_t *c1, int8_t *c2) {                                                                \
        if (full && !table && pair)                                                                                  \
            dw_row_3x3_as(lines, lines2, w, panel, padding, j, 1, 0, 1, lanes, out, p, KIND, c1, c2);                \
        else if (full && !table)                                                                                     \
            dw_row_3x3_as(lines, lines2, w, panel, padding, j, 1, 0, 0, lanes, out, p, KIND, c1, c2);                \
        else if (pair)                                                                                               \
            dw_row_3x3_as(lines, lines2, w, panel, padding, j, 0, table, 1, lanes, out, p, KIND, c1, c2);            \
        else                                                                                                         \
            dw_row_3x3_as(lines, lines2, w, panel, padding, j, 0, table, 0, lanes, out, p, KIND, c1, c2);            \
    }
CNNZ_DW_3X3_FORM(dw_row_3x3_float, DW_FLOAT)
CNNZ_DW_3X3_FORM(dw_row_3x3_float_split, DW_FLOAT_SPLIT)
CNNZ_DW_3X3_FORM(dw_row_3x3_float_wide, DW_FLOAT_WIDE)
CNNZ_DW_3X3_FORM(dw_row_3x3_float_split_wide, DW_FLOAT_SPLIT_WIDE)
CNNZ_DW_3X3_FORM(dw_row_3x3_fast, CNNZ_REQUANT_FAST)
CNNZ_DW_3X3_FORM(dw_row_3x3_fast_corrects, CNNZ_REQUANT_FAST_CORRECTS)
CNNZ_DW_3X3_FORM(dw_row_3x3_general, CNNZ_REQUANT_GENERAL)
#undef CNNZ_DW_3X3_FORM

/* dw_row_3x3_as with the output stage's constants (stage: the prepared float forms, or NULL):
 * each form's code apart (no test per vector). */
CNNZ_INLINE CNNZ_VNNI512 void dw_row_3x3(const int8_t *const *lines, const int8_t *const *lines2,
                                         const cnnz_qs8_window *w, const int8_t *panel, __m512i padding, size_t j,
                                         int full, int table, int pair, __mmask16 lanes, const cnnz_requant16_float *stage,
                                         const cnnz_qs8_output *out, int8_t *c1, int8_t *c2) {
    size_t width = full ? 16 : (size_t)__builtin_popcount(lanes);
    int kind = dw_form(j, full, stage, out);
    const dw_stage p = dw_stage_of(j, width, stage, out, kind);
    if (kind < 0) kind = requant16_kind(&p.q);
#define CNNZ_AS(F) F(lines, lines2, w, panel, padding, j, full, table, pair, lanes, out, &p, c1, c2)
    if (kind == DW_FLOAT)
        CNNZ_AS(dw_row_3x3_float);
    else if (kind == DW_FLOAT_SPLIT)
        CNNZ_AS(dw_row_3x3_float_split);
    else if (kind == DW_FLOAT_WIDE)
        CNNZ_AS(dw_row_3x3_float_wide);
    else if (kind == DW_FLOAT_SPLIT_WIDE)
        CNNZ_AS(dw_row_3x3_float_split_wide);
    else if (kind == CNNZ_REQUANT_FAST)
        CNNZ_AS(dw_row_3x3_fast);
    else if (kind == CNNZ_REQUANT_FAST_CORRECTS)
        CNNZ_AS(dw_row_3x3_fast_corrects);
    else
        CNNZ_AS(dw_row_3x3_general);
#undef CNNZ_AS
}

/* Any window of at most 16 x 16 taps: groups of 4 rows per column, weights from the panel.
 * Without dilation along the row, the column vectors of a pixel stay in a ring of kernel_width
 * slots and the next pixel builds only the stride's new ones (a 5x5 window at stride 1: 2 builds
 * per output instead of 10). */
CNNZ_INLINE CNNZ_VNNI512 void dw_row_general_as(const int8_t *const *lines, size_t groups,
                                                const cnnz_qs8_window *w, const int8_t *panel, __m512i padding,
                                                size_t j, int full, __mmask16 lanes, const dw_stage *p,
                                                const int kind, const cnnz_qs8_output *out, int8_t *c) {
    const cnnz_dw_transpose t = dw_transpose();
    size_t n = w->channels, kw = w->kernel_width;
    const int8_t *rows[16];
    for (size_t r = 0; r < 4 * groups; r++) rows[r] = lines[r] + j;
    int table = out->table != NULL;
    size_t stride = w->stride_width;
    if (w->dilation_width == 1 && stride < kw) {
        /* ring[slot][g]: window column kx of the current pixel is slot (first + kx) % kw. */
        __m512i ring[16][4];
        size_t first = 0;
        ptrdiff_t x0 = -w->pad_left;
#define CNNZ_FILL(SLOT, X)                                                                                 \
    do {                                                                                                   \
        ptrdiff_t fx = (X);                                                                                \
        int inside = fx >= 0 && fx < (ptrdiff_t)w->width;                                                  \
        for (size_t g = 0; g < groups; g++)                                                                \
            ring[SLOT][g] = inside ? dw_column(rows + 4 * g, 4, (size_t)fx * n, full, lanes, &t) : padding; \
    } while (0)
        for (size_t kx = 0; kx < kw; kx++) CNNZ_FILL(kx, x0 + (ptrdiff_t)kx);
        for (size_t ox = 0; ox < w->out_width; ox++) {
            __m512i sum = p->q.bias;
            for (size_t kx = 0; kx < kw; kx++) {
                size_t slot = first + kx < kw ? first + kx : first + kx - kw;
                for (size_t g = 0; g < groups; g++)
                    sum = _mm512_dpbusd_epi32(sum, ring[slot][g], _mm512_loadu_si512(panel + (kx * groups + g) * 64));
            }
            dw_store(sum, p, out, full, table, kind, c + ox * n + j);
            /* The next pixel's last `stride` columns replace this one's first. */
            for (size_t i = 0; i < stride; i++) {
                CNNZ_FILL(first, x0 + (ptrdiff_t)(kw + i));
                first = first + 1 < kw ? first + 1 : 0;
            }
            x0 += (ptrdiff_t)stride;
        }
#undef CNNZ_FILL
        return;
    }
    for (size_t ox = 0; ox < w->out_width; ox++) {
        ptrdiff_t x0 = (ptrdiff_t)(ox * w->stride_width) - w->pad_left;
        __m512i sum = p->q.bias;
        for (size_t kx = 0; kx < kw; kx++) {
            ptrdiff_t x = x0 + (ptrdiff_t)(kx * w->dilation_width);
            int inside = x >= 0 && x < (ptrdiff_t)w->width;
            for (size_t g = 0; g < groups; g++) {
                __m512i v = inside ? dw_column(rows + 4 * g, 4, (size_t)x * n, full, lanes, &t) : padding;
                sum = _mm512_dpbusd_epi32(sum, v, _mm512_loadu_si512(panel + (kx * groups + g) * 64));
            }
        }
        dw_store(sum, p, out, full, table, kind, c + ox * n + j);
    }
}

/* dw_row_general in the float forms where the stage has them, else the general integer form
 * (CNNZ_DW_FORM_FUNCTION). */
CNNZ_DW_FORM_FUNCTION CNNZ_VNNI512 void dw_row_general(const int8_t *const *lines, size_t groups, const cnnz_qs8_window *w,
                                             const int8_t *panel, __m512i padding, size_t j, int full,
                                             __mmask16 lanes, const cnnz_requant16_float *stage, const cnnz_qs8_output *out,
                                             int8_t *c) {
    int kind = dw_form(j, full, stage, out);
    if (kind < DW_FLOAT) kind = CNNZ_REQUANT_GENERAL;
    const dw_stage p = dw_stage_of(j, full ? 16 : (size_t)__builtin_popcount(lanes), stage, out, kind);
#define CNNZ_AS(KIND) dw_row_general_as(lines, groups, w, panel, padding, j, full, lanes, &p, KIND, out, c)
    if (kind == DW_FLOAT)
        CNNZ_AS(DW_FLOAT);
    else if (kind == DW_FLOAT_SPLIT)
        CNNZ_AS(DW_FLOAT_SPLIT);
    else if (kind == DW_FLOAT_WIDE)
        CNNZ_AS(DW_FLOAT_WIDE);
    else if (kind == DW_FLOAT_SPLIT_WIDE)
        CNNZ_AS(DW_FLOAT_SPLIT_WIDE);
    else
        CNNZ_AS(CNNZ_REQUANT_GENERAL);
#undef CNNZ_AS
}

CNNZ_VNNI512 void cnnz_qu8_dwconv_row_16c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, size_t oy,
                                                        size_t count, const int8_t *packed, const void *forms,
                                                        int32_t zero_point, int8_t *padding_row,
                                                        const cnnz_qs8_output *out, int8_t *c) {
    const cnnz_requant16_float *stage = (const cnnz_requant16_float *)forms;
    size_t n = w->channels, kh = w->kernel_height, kw = w->kernel_width;
    size_t groups = (kh + 3) / 4;
    int square = kh == 3 && kw == 3 && w->dilation_width == 1 && w->stride_width <= 2;
    /* Two rows share their column vectors where they overlap in 2 of 3 rows; other 3x3 rows two
     * at a time share the setup of each block of channels (two_rows). */
    int pair = count == 2 && square && w->stride_height == 1 && w->dilation_height == 1;
    int two_rows = count == 2 && square && !pair && w->dilation_height == 1;
    if (count == 2 && !pair && !two_rows) {
        cnnz_qu8_dwconv_row_16c4__avx512vnni(image, w, oy, 1, packed, forms, zero_point, padding_row, out, c);
        cnnz_qu8_dwconv_row_16c4__avx512vnni(image, w, oy + 1, 1, packed, forms, zero_point, padding_row, out,
                                              c + w->out_width * n);
        return;
    }
    ptrdiff_t y0 = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
    /* Each tap row's line, or the padding row (the zero point) where it is outside the image, and
     * past the window (those weights are 0); with pair, the fourth is the second row's last. The
     * padding row is written only when a row of the window needs it. */
    const int8_t *lines[16];
    int padded = 0;
    for (size_t ky = 0; ky < 4 * groups; ky++) {
        ptrdiff_t iy = y0 + (ptrdiff_t)(ky * w->dilation_height);
        lines[ky] = padding_row;
        if (ky >= kh + (size_t)pair) continue; /* weights 0: the bytes do not matter, nor need setting */
        if (iy >= 0 && iy < (ptrdiff_t)w->height)
            lines[ky] = image + (size_t)iy * w->width * n;
        else
            padded = 1;
    }
    /* The second row's three lines (two_rows). */
    const int8_t *lines2[4] = {padding_row, padding_row, padding_row, padding_row};
    for (size_t ky = 0; two_rows && ky < 3; ky++) {
        ptrdiff_t iy = y0 + (ptrdiff_t)w->stride_height + (ptrdiff_t)(ky * w->dilation_height);
        if (iy >= 0 && iy < (ptrdiff_t)w->height)
            lines2[ky] = image + (size_t)iy * w->width * n;
        else
            padded = 1;
    }
    const int8_t *const *second = two_rows ? lines2 : NULL;
    int8_t *c2 = c + w->out_width * n;
    if (padded) memset(padding_row, zero_point, w->width * n);
    const __m512i padding = _mm512_set1_epi8((char)(zero_point ^ 0x80));
    for (size_t j = 0; j < n; j += 16) {
        const int8_t *panel = packed + (j / 16) * kw * groups * 64;
        size_t width = n - j < 16 ? n - j : 16;
        __mmask16 lanes = (__mmask16)((1u << width) - 1);
        if (pair && width == 16 && !out->table)
            dw_row_3x3(lines, NULL, w, panel, padding, j, 1, 0, 1, lanes, stage, out, c, c2);
        else if (pair)
            dw_row_3x3(lines, NULL, w, panel, padding, j, 0, out->table != NULL, 1, lanes, stage, out, c, c2);
        else if (square && width == 16 && !out->table)
            dw_row_3x3(lines, second, w, panel, padding, j, 1, 0, 0, lanes, stage, out, c, c2);
        else if (square)
            dw_row_3x3(lines, second, w, panel, padding, j, 0, out->table != NULL, 0, lanes, stage, out, c, c2);
        else if (width == 16)
            dw_row_general(lines, groups, w, panel, padding, j, 1, lanes, stage, out, c);
        else
            dw_row_general(lines, groups, w, panel, padding, j, 0, lanes, stage, out, c);
    }
}

#else
/* Not x86: never called (the CPU checks say no); plain C on the same layout so the package links. */
void cnnz_qu8_dwconv_row_16c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, size_t oy,
                                          size_t count, const int8_t *packed, const void *forms,
                                          int32_t zero_point, int8_t *padding_row, const cnnz_qs8_output *out,
                                          int8_t *c) {
    (void)padding_row, (void)forms;
    size_t n = w->channels, kh = w->kernel_height, kw = w->kernel_width, groups = (kh + 3) / 4;
    if (count == 2) {
        cnnz_qu8_dwconv_row_16c4__avx512vnni(image, w, oy, 1, packed, forms, zero_point, padding_row, out, c);
        cnnz_qu8_dwconv_row_16c4__avx512vnni(image, w, oy + 1, 1, packed, forms, zero_point, padding_row, out,
                                              c + w->out_width * n);
        return;
    }
    for (size_t ox = 0; ox < w->out_width; ox++) {
        for (size_t j = 0; j < n; j++) {
            const int8_t *panel = packed + (j / 16) * kw * groups * 64 + (j % 16) * 4;
            uint32_t sum = 0;
            for (size_t ky = 0; ky < kh; ky++) {
                for (size_t kx = 0; kx < kw; kx++) {
                    ptrdiff_t iy = (ptrdiff_t)(oy * w->stride_height + ky * w->dilation_height) - w->pad_top;
                    ptrdiff_t ix = (ptrdiff_t)(ox * w->stride_width + kx * w->dilation_width) - w->pad_left;
                    int inside = iy >= 0 && iy < (ptrdiff_t)w->height && ix >= 0 && ix < (ptrdiff_t)w->width;
                    int32_t q = inside ? image[((size_t)iy * w->width + (size_t)ix) * n + j] : zero_point;
                    sum += (uint32_t)((q + 128) * panel[(kx * groups + ky / 4) * 64 + ky % 4]);
                }
            }
            c[ox * n + j] = store((int32_t)sum, j, out);
        }
    }
}
#endif
