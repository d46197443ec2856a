/* Private to CInt8Kernels: the 512-bit VNNI GEMMs' output stage (int8_vnni.c, int8_igemm_vnni.c),
 * the same integers as store() in int8_common.h with fewer instructions than store16:
 *
 * - The requantization is int8_requant512.h's (TensorFlow Lite's two roundings as one floor of
 *   a 64-bit quotient), its per-column constants computed once per panel for all the row strips,
 *   in the form (requant16_kind) chosen once per panel: each tile has the code of every form
 *   and branches once per panel, not per vector. The sums start at the bias (no add in the store).
 * - The short form narrows each row with vpmovsdb and clamps its bytes. The general form: the
 *   zero point, the clamp and the narrowing for four rows together: saturating packs to int16,
 *   the zero point added with int16 saturation, packs to int8, the clamp on bytes, then a
 *   dword transpose so each row's 16 bytes are one 128-bit lane. Saturating early gives the
 *   reference's bytes: a value that saturates int16 is beyond any int8 bound either way.
 *
 * - The float form (int8_requant_float.c's, proved for every int32 sum at load), for panels
 *   whose every column has one in the stage cnnz_qu8_store_vnni512_prepare made: cvtdq2ps, one
 *   vfmadd, cvtps2dq (a masked load of the second constant for sums below zero in the split
 *   form), then the short form's vpmovsdb and byte clamp. All three with embedded round to
 *   nearest even ({rn-sae}), the proof's rounding, so unlike the AVX2 tiles nothing depends on
 *   MXCSR at run time (the stage holds no constant small enough for DAZ or FTZ to matter).
 *   3 instructions a vector (5 split) where the short form takes 8 (12 with its step below
 *   zero): mobile_res's pointwise layers 4 to 21 % faster. Columns of small multipliers
 *   (below about 0.002 with all 255 levels) often have no form (a float's 24 bits place the
 *   levels' thresholds only so finely), so fashion_cnn and cifar_vgg keep the integer forms.
 *
 * No VBMI (Cascade Lake has VNNI without it): the transpose is vpermd. */
#ifndef CNNZ_INT8_VNNI_STORE_H
#define CNNZ_INT8_VNNI_STORE_H

#include "int8_add_terms.h"

/* A panel's (16 columns') float forms in the stage of cnnz_qu8_store_vnni512_prepare (64-byte
 * aligned, 256 bytes a panel): form 1 (one constant) or 2 (split: constant_negative for sums
 * below zero) when every column of the panel has one, else 0 (the integer forms). Lanes past n:
 * scale 0, constants the zero point (never stored). columns: bit i set where column i has its
 * own form (its scale and constants filled in), also in a panel of form 0: the pixel-lane
 * convolution, one vector per column, takes each column's form apart. */
typedef struct {
    float scale[16], constant[16], constant_negative[16];
    int32_t form;
    uint32_t columns;
    int32_t reserved[14];
} cnnz_requant16_float;

#ifdef CNNZ_HAVE_AVX2

/* A residual Add after the store (cnnz_qu8_gemm_vnni512_add): the constants of the Add's terms
 * of the GEMM's result and of the other operand, and of the store of their sum. */
typedef struct {
    /* How the terms are computed: both as add_term2 (one multiply fewer) or else add_term, and
     * whether the result's multiplier is 1/2 (2^30, shift 0: the operand of the larger scale),
     * whose term is exactly (q - zero point) << 19: the rounding doubling high multiply of
     * (q - zero point) << 20 by 2^30 halves an even number. */
    int fits2, halves;
    cnnz_add_term2 result2, other2;
    /* The add_term2s' offsets; with halves, -zero point << 19 (wrapping) for the result's. */
    __m512i offset;
    cnnz_add_term result, other;
    cnnz_requant16 sum;
    int sum_kind; /* requant16_kind of sum */
    size_t ldr;   /* the other operand's row stride */
    /* With a linear form (cnnz_qs8_add_linear, which gives the same bytes), only these: the
     * multipliers of the result and of the other operand, the constant, shift and clamp. */
    int linear;
    __m512i linear_result, linear_other, linear_constant;
    __m128i linear_shift, linear_min, linear_max;
} cnnz_residual16;

enum { CNNZ_TERMS_GENERAL = 0, CNNZ_TERMS_FITS2 = 1, CNNZ_TERMS_HALVES = 2 };

/* The Add in place over rows x width (width <= 64) of c, the GEMM's stored int8, with the other
 * operand's rows at r (stride t->ldr): what the Add kernel (cnnz_qs8_add2_avx512) computes,
 * each 16 bytes read back right after the tile's store wrote them (in L1). Adding the rows in
 * the store while the sums are in registers (as before) measured the same (mobile_res's
 * p3 + Add 27.2 us either way) and kept a copy of all this code in every tile.
 * terms and sum_kind are constants (CNNZ_TERMS_*, CNNZ_REQUANT_*). */
CNNZ_INLINE CNNZ_VNNI512 void residual16_rows_as(size_t rows, size_t width, int8_t *c, size_t ldc, const int8_t *r,
                                                 const cnnz_residual16 *t, const int terms, const int sum_kind) {
    for (size_t i = 0; i < rows; i++, c += ldc, r += t->ldr) {
        for (size_t j = 0; j < width; j += 16) {
            __mmask16 lanes = (__mmask16)(width - j >= 16 ? 0xFFFF : (1u << (width - j)) - 1);
            __m512i q, o;
            if (lanes == 0xFFFF) {
                q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + j)));
                o = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(r + j)));
            } else {
                q = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, c + j));
                o = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, r + j));
            }
            __m512i x;
            if (terms == CNNZ_TERMS_GENERAL) {
                x = _mm512_add_epi32(add_term_of32(q, &t->result), add_term_of32(o, &t->other));
            } else {
                __m512i term = terms == CNNZ_TERMS_HALVES ? _mm512_slli_epi32(q, 19) : add_term2_of32(q, &t->result2);
                x = _mm512_add_epi32(_mm512_add_epi32(term, add_term2_of32(o, &t->other2)), t->offset);
            }
            __m128i sum = requant16_as(x, &t->sum, sum_kind);
            if (lanes == 0xFFFF)
                _mm_storeu_si128((__m128i *)(c + j), sum);
            else
                _mm_mask_storeu_epi8(c + j, lanes, sum);
        }
    }
}

/* The float forms' kinds, beside requant16_kind's CNNZ_REQUANT_* (0 to 2). */
enum { CNNZ_REQUANT_FLOAT = 3, CNNZ_REQUANT_FLOAT_SPLIT = 4 };

/* Round to nearest even, exceptions suppressed: the proof's rounding, whatever MXCSR says. */
#define CNNZ_RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* The float form of sums x (bias included), int32: the short form's values where they are inside
 * [min, max], and on the same side of it where not (int8_requant_float.c). split: a constant. */
CNNZ_INLINE CNNZ_AVX512 __m512i requant16_float(__m512i x, const cnnz_requant16_float *f, const int split) {
    __m512 c = _mm512_loadu_ps(f->constant);
    if (split) c = _mm512_mask_loadu_ps(c, _mm512_cmplt_epi32_mask(x, _mm512_setzero_si512()), f->constant_negative);
    __m512 y = _mm512_fmadd_round_ps(_mm512_cvt_roundepi32_ps(x, CNNZ_RN), _mm512_loadu_ps(f->scale), c, CNNZ_RN);
    return _mm512_cvt_roundps_epi32(y, CNNZ_RN);
}

/* Rows 0..<rows (1 to 4) of sums s0..s3 (their bias included), columns p's lanes, stored at c,
 * c + ldc, ... kind: a constant, requant16_kind of p, or a float kind (f's form; p then holds
 * only lanes, min and max). */
CNNZ_INLINE CNNZ_VNNI512 void rows16_store4(__m512i s0, __m512i s1, __m512i s2, __m512i s3, const int rows,
                                            const cnnz_requant16 *p, const cnnz_requant16_float *f, int8_t *c,
                                            size_t ldc, const int kind) {
    /* After the packs, 128-bit lane L holds rows 0..3's columns 4L..4L+3 as dwords L*4 + r. */
    const __m512i transpose = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
#define CNNZ_VALUES(S)                                                                                 \
    (kind >= CNNZ_REQUANT_FLOAT      ? requant16_float(S, f, kind == CNNZ_REQUANT_FLOAT_SPLIT)              \
     : kind == CNNZ_REQUANT_GENERAL ? requant16_sums(S, p, 0)                                          \
                                    : requant16_fast(S, p, kind == CNNZ_REQUANT_FAST_CORRECTS))
    __m512i v0 = CNNZ_VALUES(s0);
    __m512i v1 = rows > 1 ? CNNZ_VALUES(s1) : v0;
    __m512i v2 = rows > 2 ? CNNZ_VALUES(s2) : v0;
    __m512i v3 = rows > 3 ? CNNZ_VALUES(s3) : v0;
#undef CNNZ_VALUES
    /* The short and float forms (zero point included, no int32 wrap) narrow each row with vpmovsdb: on
     * Zen 4 one per cycle like each pack or vpermd, and the packs cost seven shuffles per 4
     * rows (two vpackssdw, a vpacksswb, four vpermd) against four; the byte clamps are on xmm.
     * mobile_res's pointwise layers 5-8 % faster than with the packs. */
    if (kind != CNNZ_REQUANT_GENERAL) {
#define CNNZ_ROW(V, C)                                                                      \
    do {                                                                                    \
        __m128i bytes = _mm_min_epi8(_mm_max_epi8(_mm512_cvtsepi32_epi8(V), p->min), p->max); \
        if (p->lanes == 0xFFFF)                                                             \
            _mm_storeu_si128((__m128i *)(C), bytes);                                        \
        else                                                                                \
            _mm_mask_storeu_epi8(C, p->lanes, bytes);                                       \
    } while (0)
        CNNZ_ROW(v0, c);
        if (rows > 1) CNNZ_ROW(v1, c + ldc);
        if (rows > 2) CNNZ_ROW(v2, c + 2 * ldc);
        if (rows > 3) CNNZ_ROW(v3, c + 3 * ldc);
#undef CNNZ_ROW
        return;
    }
    __m512i a = _mm512_packs_epi32(v0, v1), b = _mm512_packs_epi32(v2, v3);
    if (kind == CNNZ_REQUANT_GENERAL) { /* (the short form has the zero point already) */
        const __m512i zero_point = _mm512_packs_epi32(p->zero_point, p->zero_point); /* as int16 */
        a = _mm512_adds_epi16(a, zero_point);
        b = _mm512_adds_epi16(b, zero_point);
    }
    __m512i q = _mm512_packs_epi16(a, b);
    q = _mm512_min_epi8(_mm512_max_epi8(q, _mm512_broadcast_i32x4(p->min)), _mm512_broadcast_i32x4(p->max));
    q = _mm512_permutexvar_epi32(transpose, q);
    if (p->lanes == 0xFFFF) {
        _mm_storeu_si128((__m128i *)c, _mm512_castsi512_si128(q));
        if (rows > 1) _mm_storeu_si128((__m128i *)(c + ldc), _mm512_extracti32x4_epi32(q, 1));
        if (rows > 2) _mm_storeu_si128((__m128i *)(c + 2 * ldc), _mm512_extracti32x4_epi32(q, 2));
        if (rows > 3) _mm_storeu_si128((__m128i *)(c + 3 * ldc), _mm512_extracti32x4_epi32(q, 3));
    } else {
        _mm_mask_storeu_epi8(c, p->lanes, _mm512_castsi512_si128(q));
        if (rows > 1) _mm_mask_storeu_epi8(c + ldc, p->lanes, _mm512_extracti32x4_epi32(q, 1));
        if (rows > 2) _mm_mask_storeu_epi8(c + 2 * ldc, p->lanes, _mm512_extracti32x4_epi32(q, 2));
        if (rows > 3) _mm_mask_storeu_epi8(c + 3 * ldc, p->lanes, _mm512_extracti32x4_epi32(q, 3));
    }
}

/* How a tile stores: per row through store16 (no parameters: an activation table, or one or two
 * rows in the integer forms, too few to repay requant16_parameters), or each panel p in its own
 * form, CNNZ_REQUANT_* in bits 4p..4p+3 of `kinds`, chosen once per panel group so the stores
 * test nothing per vector, and per panel so that a panel with float forms uses them beside one
 * without (mobile_res: about a quarter of the panels lack one, which as a pair's choice took the
 * float form from half of the others too). */
enum { CNNZ_TILE_STORE16 = -1 };

/* The tile's initial sums: the bias of each panel (its store then adds none), or 0 (store16). */
CNNZ_INLINE CNNZ_VNNI512 __m512i tile512_start(const cnnz_requant16 *parameters, int p) {
    return parameters ? parameters[p].bias : _mm512_setzero_si512();
}

/* Panel p of an mr-row tile of sums (acc[r][p], biases included) stored at c (the panel's first
 * column of row 0) in form kind (a constant CNNZ_REQUANT_*; f: the panel's float forms). */
CNNZ_INLINE CNNZ_VNNI512 void tile512_store_panel(const int mr, const int p, __m512i acc[8][4],
                                                  const cnnz_requant16 *parameters, const cnnz_requant16_float *f,
                                                  int8_t *c, size_t ldc, const int kind) {
#pragma clang loop unroll(full)
    for (int r = 0; r < mr; r += 4) {
        const int rows = mr - r < 4 ? mr - r : 4;
        rows16_store4(acc[r][p], acc[rows > 1 ? r + 1 : r][p], acc[rows > 2 ? r + 2 : r][p],
                      acc[rows > 3 ? r + 3 : r][p], rows, parameters, f, c + r * ldc, ldc, kind);
    }
}

/* The store of an mr x np tile of sums (acc[r][p], row r and panel p, biases included with
 * parameters) in the panels' forms `kinds` (a variable; CNNZ_TILE_STORE16: parameters NULL,
 * store16 per row adding the bias), each form's code inline apart. forms: the panels' float forms
 * (read by the float kinds only). */
CNNZ_INLINE CNNZ_VNNI512 void tile512_store_as(const int mr, const int np, __m512i acc[8][4], size_t n,
                                               size_t column, const cnnz_requant16 *parameters,
                                               const cnnz_requant16_float *forms, const cnnz_qs8_output *out,
                                               int8_t *c, size_t ldc, int kinds) {
    /* Unrolled so that acc stays in registers (the row loop was kept, with acc in memory). */
#pragma clang loop unroll(full)
    for (int p = 0; p < np; p++) {
        size_t first = column + 16 * (size_t)p;
        if (first >= n) break;
        if (kinds == CNNZ_TILE_STORE16) {
            size_t width = n - first < 16 ? n - first : 16;
#pragma clang loop unroll(full)
            for (int r = 0; r < mr; r++) store16(acc[r][p], first, width, out, c + r * ldc + first);
            continue;
        }
        const cnnz_requant16 *q = parameters + p;
        int8_t *cp = c + first;
        switch (kinds >> 4 * p & 15) {
        case CNNZ_REQUANT_FLOAT: tile512_store_panel(mr, p, acc, q, forms + p, cp, ldc, CNNZ_REQUANT_FLOAT); break;
        case CNNZ_REQUANT_FLOAT_SPLIT:
            tile512_store_panel(mr, p, acc, q, forms + p, cp, ldc, CNNZ_REQUANT_FLOAT_SPLIT);
            break;
        case CNNZ_REQUANT_FAST: tile512_store_panel(mr, p, acc, q, NULL, cp, ldc, CNNZ_REQUANT_FAST); break;
        case CNNZ_REQUANT_FAST_CORRECTS:
            tile512_store_panel(mr, p, acc, q, NULL, cp, ldc, CNNZ_REQUANT_FAST_CORRECTS);
            break;
        default: tile512_store_panel(mr, p, acc, q, NULL, cp, ldc, CNNZ_REQUANT_GENERAL); break;
        }
    }
}

/* The forms of panels column / 16 ..< column / 16 + np (forms: their float forms in the stage, or
 * NULL) for m rows, and the store constants they read into parameters: a panel with float forms
 * reads only bias, lanes, min and max (a few loads), the others requant16_parameters's. */
CNNZ_INLINE CNNZ_VNNI512 int tile512_kinds(const int np, size_t m, size_t n, size_t column,
                                          const cnnz_qs8_output *out, const cnnz_requant16_float *forms,
                                          cnnz_requant16 *parameters) {
    if (out->table) return CNNZ_TILE_STORE16;
    int floats = 1;
    for (int p = 0; p < np && column + 16 * (size_t)p < n; p++) floats = floats && forms && forms[p].form;
    if (m <= 2 && !floats) return CNNZ_TILE_STORE16;
    int kinds = 0;
    for (int p = 0; p < np; p++) {
        size_t first = column + 16 * (size_t)p;
        if (first >= n) break;
        size_t width = n - first < 16 ? n - first : 16;
        int kind;
        if (forms && forms[p].form) {
            parameters[p].lanes = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
            parameters[p].bias = _mm512_maskz_loadu_epi32(parameters[p].lanes, out->bias + first);
            parameters[p].min = _mm_set1_epi8((char)out->min);
            parameters[p].max = _mm_set1_epi8((char)out->max);
            kind = forms[p].form == 2 ? CNNZ_REQUANT_FLOAT_SPLIT : CNNZ_REQUANT_FLOAT;
        } else {
            parameters[p] = requant16_parameters(first, width, out);
            kind = requant16_kind(&parameters[p]);
        }
        kinds |= kind << 4 * p;
    }
    return kinds;
}

#endif

#endif
