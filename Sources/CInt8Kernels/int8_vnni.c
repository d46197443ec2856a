/* The 512-bit VNNI int8 GEMMs: u8 x s8 vpdpbusd (AVX512-VNNI), with bias,
 * requantization and clamp in the store (see include/CInt8Kernels.h). Each function carries its
 * instruction set as a target attribute, so the package builds with no CPU flags; the callers run
 * them only after the run-time CPU check. */
#include "int8_vnni_store.h"

#include <math.h>
#include <string.h>

#ifdef CNNZ_HAVE_AVX2

/* 16 values of the Add by its linear form from their int8 operands q (the GEMM's) and o. */
CNNZ_INLINE CNNZ_VNNI512 __m128i linear16(__m128i q, __m128i o, const cnnz_residual16 *t) {
    __m512i x = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_cvtepi8_epi32(q), t->linear_result),
                                 _mm512_mullo_epi32(_mm512_cvtepi8_epi32(o), t->linear_other));
    x = _mm512_sra_epi32(_mm512_add_epi32(x, t->linear_constant), t->linear_shift);
    return _mm_min_epi8(_mm_max_epi8(_mm512_cvtsepi32_epi8(x), t->linear_min), t->linear_max);
}

/* The Add by its linear form (t->linear) in place over rows x width (width <= 64) of c, the
 * GEMM's stored int8, with the other operand's rows at r: clamp((q * mq + o * mo + constant) >>
 * shift) as cnnz_qs8_add2_linear computes it, two vpmulld per 16 values where the exact terms
 * (residual16_rows_as) take about 25 instructions (their two terms, the 64-bit store). */
static CNNZ_VNNI512 __attribute__((noinline)) void linear16_rows(size_t rows, size_t width, int8_t *c, size_t ldc,
                                                                const int8_t *r, const cnnz_residual16 *t) {
    size_t full = width / 16 * 16;
    __mmask16 lanes = (__mmask16)((1u << (width - full)) - 1);
    for (size_t i = 0; i < rows; i++, c += ldc, r += t->ldr) {
        /* Whole vectors unmasked, the tail masked (masked loads and stores throughout measured
         * the same on the Zen 4: p3 + Add 18.3 us either way). */
        for (size_t j = 0; j < full; j += 16) {
            __m128i q = _mm_loadu_si128((const __m128i *)(c + j)), o = _mm_loadu_si128((const __m128i *)(r + j));
            _mm_storeu_si128((__m128i *)(c + j), linear16(q, o, t));
        }
        if (lanes)
            _mm_mask_storeu_epi8(c + full, lanes,
                                 linear16(_mm_maskz_loadu_epi8(lanes, c + full), _mm_maskz_loadu_epi8(lanes, r + full), t));
    }
}

/* residual16_rows_as in t's forms, each form's loop apart (tests nothing per vector). */
static CNNZ_VNNI512 __attribute__((noinline)) void residual16_rows(size_t rows, size_t width, int8_t *c, size_t ldc,
                                                                  const int8_t *r, const cnnz_residual16 *t) {
    if (t->linear) {
        linear16_rows(rows, width, c, ldc, r, t);
        return;
    }
    const int terms = !t->fits2 ? CNNZ_TERMS_GENERAL : t->halves ? CNNZ_TERMS_HALVES : CNNZ_TERMS_FITS2;
#define CNNZ_ROWS(TERMS)                                                                                   \
    do {                                                                                                   \
        if (t->sum_kind == CNNZ_REQUANT_FAST)                                                              \
            residual16_rows_as(rows, width, c, ldc, r, t, TERMS, CNNZ_REQUANT_FAST);                       \
        else if (t->sum_kind == CNNZ_REQUANT_FAST_CORRECTS)                                                \
            residual16_rows_as(rows, width, c, ldc, r, t, TERMS, CNNZ_REQUANT_FAST_CORRECTS);              \
        else                                                                                               \
            residual16_rows_as(rows, width, c, ldc, r, t, TERMS, CNNZ_REQUANT_GENERAL);                    \
    } while (0)
    if (terms == CNNZ_TERMS_HALVES)
        CNNZ_ROWS(CNNZ_TERMS_HALVES);
    else if (terms == CNNZ_TERMS_FITS2)
        CNNZ_ROWS(CNNZ_TERMS_FITS2);
    else
        CNNZ_ROWS(CNNZ_TERMS_GENERAL);
#undef CNNZ_ROWS
}

/* ---- The 512-bit VNNI GEMM: tiles of mr rows (up to 8) x np panels of 16 columns (up to 4). The
 * store's per-column constants (parameters: np of them, or NULL with an activation table) come
 * from the caller, which computes them once per panel for all the row strips. */

CNNZ_INLINE CNNZ_VNNI512 void tile512(const int mr, const int np, size_t kgroups, const uint8_t *a, size_t lda,
                                      const int8_t *w, size_t panel_bytes, size_t n, size_t column,
                                      const cnnz_requant16 *parameters, const cnnz_requant16_float *forms,
                                      const cnnz_qs8_output *out, int8_t *c, size_t ldc, int kind) {
    __m512i acc[8][4];
    for (int p = 0; p < np; p++) {
        __m512i start = tile512_start(parameters, p);
        for (int r = 0; r < mr; r++) acc[r][p] = start;
    }
    for (size_t g = 0; g < kgroups; g++) {
        __m512i b[4];
        for (int p = 0; p < np; p++) b[p] = _mm512_loadu_si512(w + p * panel_bytes + g * 64);
        for (int r = 0; r < mr; r++) {
            int32_t v;
            memcpy(&v, a + r * lda + 4 * g, 4);
            __m512i x = _mm512_set1_epi32(v);
            for (int p = 0; p < np; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], x, b[p]);
        }
    }
    tile512_store_as(mr, np, acc, n, column, parameters, forms, out, c, ldc, kind);
}

#define CNNZ_TILE512(MR, NP)                                                                                       \
    static CNNZ_VNNI512 void tile512_##MR##x##NP(size_t kgroups, const uint8_t *a, size_t lda, const int8_t *w,     \
                                                 size_t panel_bytes, size_t n, size_t column,                      \
                                                 const cnnz_requant16 *parameters,                                 \
                                                 const cnnz_requant16_float *forms, const cnnz_qs8_output *out,    \
                                                 int8_t *c, size_t ldc, int kind) {                                \
        tile512(MR, NP, kgroups, a, lda, w, panel_bytes, n, column, parameters, forms, out, c, ldc, kind);        \
    }
CNNZ_TILE512(1, 4)
CNNZ_TILE512(2, 4)
CNNZ_TILE512(1, 2)
CNNZ_TILE512(2, 2)
CNNZ_TILE512(3, 2)
CNNZ_TILE512(4, 2)
CNNZ_TILE512(5, 2)
CNNZ_TILE512(6, 2)
CNNZ_TILE512(7, 2)
CNNZ_TILE512(8, 2)
CNNZ_TILE512(1, 1)
CNNZ_TILE512(2, 1)
CNNZ_TILE512(3, 1)
CNNZ_TILE512(4, 1)
CNNZ_TILE512(5, 1)
CNNZ_TILE512(6, 1)
CNNZ_TILE512(7, 1)
CNNZ_TILE512(8, 1)

typedef void (*cnnz_tile512)(size_t, const uint8_t *, size_t, const int8_t *, size_t, size_t, size_t,
                             const cnnz_requant16 *, const cnnz_requant16_float *, const cnnz_qs8_output *, int8_t *,
                             size_t, int);

/* Panels outer (np at a time, their store constants computed once), strips of 8 rows inner: the
 * rows of A stay in L1 across the panels. With a residual Add (t; out without a table), the Add
 * in place over each tile just stored. forms: the panels' float forms in the stage, or NULL. */
static CNNZ_VNNI512 void panels512(const int np, const cnnz_tile512 *tiles, size_t m, size_t n, size_t kgroups,
                                   const uint8_t *a, size_t lda, const int8_t *w, size_t panel_bytes,
                                   size_t column, const cnnz_requant16_float *forms, const cnnz_qs8_output *out,
                                   int8_t *c, size_t ldc, const cnnz_residual16 *t, const int8_t *residual) {
    cnnz_requant16 parameters[4];
    int kind = tile512_kinds(np, m, n, column, out, forms, parameters);
    size_t width = n - column < 16 * (size_t)np ? n - column : 16 * (size_t)np;
    for (size_t row = 0; row < m; row += 8) {
        size_t mr = m - row < 8 ? m - row : 8;
        tiles[mr - 1](kgroups, a + row * lda, lda, w, panel_bytes, n, column,
                      kind == CNNZ_TILE_STORE16 ? NULL : parameters, forms, out, c + row * ldc, ldc, kind);
        if (t) residual16_rows(mr, width, c + row * ldc + column, ldc, residual + row * t->ldr + column, t);
    }
}

static CNNZ_VNNI512 void gemm512(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                 const int8_t *packed, const void *stage, const cnnz_qs8_output *out, int8_t *c,
                                 size_t ldc, const cnnz_residual16 *t, const int8_t *residual) {
    const cnnz_requant16_float *forms = (const cnnz_requant16_float *)stage;
    static const cnnz_tile512 four[] = {tile512_1x4, tile512_2x4};
    static const cnnz_tile512 two[] = {tile512_1x2, tile512_2x2, tile512_3x2, tile512_4x2,
                                       tile512_5x2, tile512_6x2, tile512_7x2, tile512_8x2};
    static const cnnz_tile512 one[] = {tile512_1x1, tile512_2x1, tile512_3x1, tile512_4x1,
                                       tile512_5x1, tile512_6x1, tile512_7x1, tile512_8x1};
    size_t panels = (n + 15) / 16, panel_bytes = kgroups * 64, p = 0;
    /* One or two rows: four panels at a time (more independent sums). */
    if (m <= 2) {
        for (; p + 4 <= panels; p += 4)
            panels512(4, four, m, n, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, 16 * p,
                      forms ? forms + p : NULL, out, c, ldc, t, residual);
    }
    for (; p + 2 <= panels; p += 2)
        panels512(2, two, m, n, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, 16 * p,
                  forms ? forms + p : NULL, out, c, ldc, t, residual);
    if (p < panels)
        panels512(1, one, m, n, kgroups, a, lda, packed + p * panel_bytes, panel_bytes, 16 * p,
                  forms ? forms + p : NULL, out, c, ldc, t, residual);
}

CNNZ_VNNI512 void cnnz_qu8_gemm_vnni512(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                        const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                                        int8_t *c, size_t ldc) {
    gemm512(m, n, kgroups, a, lda, packed, stage, out, c, ldc, NULL, NULL);
}

/* The GEMM's int8 results, then the residual Add in place, row by row (what residual16_rows
 * computes, for the Adds it does not take: a table, parameters outside the vector terms'). */
static void add_rows(size_t m, size_t n, const cnnz_qs8_residual *r, int8_t *c, size_t ldc) {
    for (size_t row = 0; row < m; row++) {
        const int8_t *other = r->residual + row * r->ldr;
        int8_t *result = c + row * ldc;
        if (r->convolution_operand == 0)
            cnnz_qs8_add2(CNNZ_INT8_AVX512, n, result, other, &r->add, r->out, result);
        else
            cnnz_qs8_add2(CNNZ_INT8_AVX512, n, other, result, &r->add, r->out, result);
    }
}

CNNZ_VNNI512 void cnnz_qu8_gemm_vnni512_add(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                            const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                                            const cnnz_qs8_residual *r, int8_t *c, size_t ldc) {
    const cnnz_qs8_add *p = &r->add;
    const int result = r->convolution_operand, other = 1 - result;
    cnnz_residual16 t;
    t.ldr = r->ldr;
    t.linear = !out->table && r->linear;
    if (t.linear) {
        const cnnz_qs8_add_linear *f = r->linear;
        t.linear_result = _mm512_set1_epi32(f->multiplier[result]);
        t.linear_other = _mm512_set1_epi32(f->multiplier[other]);
        t.linear_constant = _mm512_set1_epi32(f->constant);
        t.linear_shift = _mm_cvtsi32_si128(f->shift);
        t.linear_min = _mm_set1_epi8((char)f->min);
        t.linear_max = _mm_set1_epi8((char)f->max);
        gemm512(m, n, kgroups, a, lda, packed, stage, out, c, ldc, &t, r->residual);
        return;
    }
    if (out->table || !add_vectorizes(p, r->out)) {
        gemm512(m, n, kgroups, a, lda, packed, stage, out, c, ldc, NULL, NULL);
        add_rows(m, n, r, c, ldc);
        return;
    }
    t.fits2 = add_term2_fits(p->multiplier[0], p->shift[0]) && add_term2_fits(p->multiplier[1], p->shift[1]);
    t.halves = p->multiplier[result] == (1 << 30) && p->shift[result] == 0;
    if (t.fits2) {
        t.result2 = add_term2(p->zero_point[result], p->multiplier[result], p->shift[result]);
        t.other2 = add_term2(p->zero_point[other], p->multiplier[other], p->shift[other]);
        uint32_t result_offset =
            t.halves ? 0u - ((uint32_t)p->zero_point[result] << 19) : (uint32_t)t.result2.offset;
        t.offset = _mm512_set1_epi32((int32_t)(result_offset + (uint32_t)t.other2.offset));
    }
    t.result = add_term(p->zero_point[result], p->multiplier[result], p->shift[result]);
    t.other = add_term(p->zero_point[other], p->multiplier[other], p->shift[other]);
    t.sum = add_sum_parameters(r->out);
    t.sum_kind = requant16_kind(&t.sum);
    gemm512(m, n, kgroups, a, lda, packed, stage, out, c, ldc, &t, r->residual);
}

#else
/* Not x86: these are never called (the CPU checks say no), and portable where they have to be. */
void cnnz_qu8_gemm_vnni512(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda, const int8_t *packed,
                           const void *stage, const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    (void)stage;
    size_t panel_bytes = kgroups * 64;
    for (size_t r = 0; r < m; r++) {
        for (size_t j = 0; j < n; j++) {
            const int8_t *w = packed + (j / 16) * panel_bytes + (j % 16) * 4;
            uint32_t sum = 0;
            for (size_t g = 0; g < 4 * kgroups; g++) sum += (uint32_t)(a[r * lda + g] * w[(g / 4) * 64 + g % 4]);
            c[r * ldc + j] = store((int32_t)sum, j, out);
        }
    }
}

void cnnz_qu8_gemm_vnni512_add(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                               const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                               const cnnz_qs8_residual *r, int8_t *c, size_t ldc) {
    cnnz_qu8_gemm_vnni512(m, n, kgroups, a, lda, packed, stage, out, c, ldc);
    for (size_t row = 0; row < m; row++) {
        const int8_t *other = r->residual + row * r->ldr;
        int8_t *result = c + row * ldc;
        for (size_t j = 0; j < n; j++)
            result[j] = r->convolution_operand == 0 ? add_one(result[j], other[j], &r->add, r->out)
                                                    : add_one(other[j], result[j], &r->add, r->out);
    }
}
#endif

/* ---- The 512-bit VNNI GEMMs' float forms, made once at load (include/CInt8Kernels.h). */

size_t cnnz_qu8_store_vnni512_bytes(size_t n) { return (n + 15) / 16 * sizeof(cnnz_requant16_float); }

/* Whether the float form f of a column suits the 512-bit tiles: its constants 0 or of size at
 * least 2^-100, so that no value of the fma is subnormal (x f is a multiple of 2^-47, f being at
 * least 2^-24 with 24 bits; c a multiple of 2^-123): DAZ and FTZ, which embedded rounding leaves
 * in force, then change nothing. Never otherwise in practice (c is near the zero point). */
static int float_form_normal(const cnnz_requant_float *f) {
    const float tiny = 0x1p-100f;
    return (f->constant == 0 || fabsf(f->constant) >= tiny) &&
           (f->constant_negative == 0 || fabsf(f->constant_negative) >= tiny);
}

void cnnz_qu8_store_vnni512_prepare(size_t n, const cnnz_qs8_output *out, void *stage) {
    cnnz_requant16_float *panels = (cnnz_requant16_float *)stage;
    /* The search proves a form with the rounding it runs in: round to nearest, the kernels'. */
    int usable = !out->table;
#ifdef CNNZ_HAVE_AVX2
    usable = usable && (_mm_getcsr() & 0x6000) == 0;
#endif
    cnnz_requant_float_column col = {out->zero_point, out->min, out->max};
    for (size_t p = 0; p < (n + 15) / 16; p++) {
        cnnz_requant16_float *panel = panels + p;
        size_t first = 16 * p, width = n - first < 16 ? n - first : 16;
        memset(panel, 0, sizeof *panel);
        int split = 0;
        uint32_t columns = 0;
        for (size_t i = 0; i < 16; i++) panel->constant[i] = panel->constant_negative[i] = (float)out->zero_point;
        for (size_t i = 0; i < width && usable; i++) {
            cnnz_requant_float f;
            if (!cnnz_requant_float_find(out->multiplier[first + i], out->shift[first + i], &col, &f) ||
                !float_form_normal(&f))
                continue;
            panel->scale[i] = f.scale;
            panel->constant[i] = f.constant;
            panel->constant_negative[i] = f.constant_negative;
            columns |= 1u << i;
            split |= f.split;
        }
        panel->columns = columns;
        panel->form = columns != (1u << width) - 1 ? 0 : split ? 2 : 1;
    }
}
