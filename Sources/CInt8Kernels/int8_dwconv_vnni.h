/* Private to CInt8Kernels: the pieces of the 512-bit VNNI depthwise row kernel
 * (int8_dwconv_vnni.c) around its tap loops: the column gather (4 rows of 16 channels into
 * vpdpbusd's 4 bytes a lane) and the output stage of a block of 16 channels in each of its
 * forms. */
#ifndef CNNZ_INT8_DWCONV_VNNI_H
#define CNNZ_INT8_DWCONV_VNNI_H

#include "int8_vnni_store.h"

/* The output stage's float forms (int8_requant_float.c) come from the stage the VNNI GEMMs use,
 * made once at load by cnnz_qu8_store_vnni512_prepare (int8_vnni_store.h's cnnz_requant16_float,
 * 256 bytes per block of 16 channels): where every channel of a block has one, 3 instructions
 * per 16 sums (4 split) where the short integer form takes 8, and no requant16 parameters per
 * call. The kernels' forms: after CNNZ_REQUANT_GENERAL, _FAST and _FAST_CORRECTS (0 to 2),
 * DW_FLOAT, DW_FLOAT_SPLIT (a constant per sign), and the same two where min is -128 and max 127
 * (_WIDE: the narrowing's saturation is then the clamp). */
enum { DW_FLOAT = 3, DW_FLOAT_SPLIT = 4, DW_FLOAT_WIDE = 5, DW_FLOAT_SPLIT_WIDE = 6 };

#ifdef CNNZ_HAVE_AVX2


/* The 4 rows' 16 bytes (lane r: row r) as 16 channels of 4 taps, xor 0x80: out dword 4L + r is
 * in dword 4r + L (vpermd), then in each lane byte 4c + r is byte 4r + c (vpshufb). */
typedef struct {
    __m512i dwords, bytes, flip;
} cnnz_dw_transpose;

CNNZ_INLINE CNNZ_VNNI512 cnnz_dw_transpose dw_transpose(void) {
    cnnz_dw_transpose t;
    t.dwords = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    t.bytes = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    t.flip = _mm512_set1_epi8((char)0x80);
    /* Opaque to the compiler: knowing the indices, clang rewrote the two shuffles as ten. */
    __asm__("" : "+v"(t.dwords), "+v"(t.bytes));
    return t;
}

/* One window column's taps (rows p[0..<count], count 3 or 4, at byte offset x) for channels
 * j..<j + 16 (p already at channel j); the lanes of a missing fourth row are anything (its
 * weights are 0). full: all 16 channels exist, else only `lanes` are read. */
CNNZ_INLINE CNNZ_VNNI512 __m512i dw_column(const int8_t *const *p, int count, size_t x, int full, __mmask16 lanes,
                                           const cnnz_dw_transpose *t) {
#define CNNZ_ROW(R) (full ? _mm_loadu_si128((const __m128i *)(p[R] + x)) : _mm_maskz_loadu_epi8(lanes, p[R] + x))
    __m512i z = _mm512_zextsi128_si512(CNNZ_ROW(0));
    z = _mm512_inserti32x4(z, CNNZ_ROW(1), 1);
    z = _mm512_inserti32x4(z, CNNZ_ROW(2), 2);
    if (count > 3) z = _mm512_inserti32x4(z, CNNZ_ROW(3), 3);
#undef CNNZ_ROW
    z = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(t->dwords, z), t->bytes);
    return _mm512_xor_si512(z, t->flip);
}

/* A block's output stage: q, the integer forms' parameters (of the float forms only bias, lanes,
 * min and max are set), and the float forms' vectors (from the stage). */
typedef struct {
    cnnz_requant16 q;
    __m512 scale, constant, negative;
} dw_stage;

/* The stage of channels j..<j + width (width <= 16) in form `kind` (dw_form). */
CNNZ_INLINE CNNZ_VNNI512 dw_stage dw_stage_of(size_t j, size_t width, const cnnz_requant16_float *stage,
                                              const cnnz_qs8_output *out, int kind) {
    dw_stage s;
    if (kind < DW_FLOAT) {
        s.q = requant16_parameters(j, width, out);
        s.scale = s.constant = s.negative = _mm512_setzero_ps();
        return s;
    }
    const cnnz_requant16_float *b = stage + j / 16;
    s.q.lanes = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
    s.q.bias = _mm512_maskz_loadu_epi32(s.q.lanes, out->bias + j);
    s.q.min = _mm_set1_epi8((char)out->min);
    s.q.max = _mm_set1_epi8((char)out->max);
    s.scale = _mm512_loadu_ps(b->scale);
    s.constant = _mm512_loadu_ps(b->constant);
    s.negative = _mm512_loadu_ps(b->constant_negative);
    return s;
}

/* The form of channels j..<j + 16: the stage's float form where it has one (its proof assumes
 * round to nearest even, which the instructions' own rounding gives whatever MXCSR says), else
 * the short integer form for full blocks without a table, else the general one. */
CNNZ_INLINE int dw_form(size_t j, int full, const cnnz_requant16_float *stage, const cnnz_qs8_output *out) {
    if (out->table) return CNNZ_REQUANT_GENERAL;
    int form = stage ? stage[j / 16].form : 0; /* 1 or 2: DW_FLOAT or DW_FLOAT_SPLIT */
    if (form) return (form == 2 ? DW_FLOAT_SPLIT : DW_FLOAT) + (out->min == -128 && out->max == 127 ? 2 : 0);
    if (!full) return CNNZ_REQUANT_GENERAL;
    return -1; /* the caller's requant16_kind */
}

/* Stores the 16 (or `lanes`) output bytes of sums x (bias included); table: out->table's. kind:
 * a requant16 form of s->q or DW_FLOAT / DW_FLOAT_SPLIT (a constant: CNNZ_REQUANT_GENERAL where
 * the caller does not choose). The float form: clamp(cvtps2dq(fma(float(x), scale, c))), c the
 * constant below zero where x < 0 (split), each step rounding to nearest even. */
CNNZ_INLINE CNNZ_VNNI512 void dw_store(__m512i x, const dw_stage *s, const cnnz_qs8_output *out, int full,
                                       int table, int kind, int8_t *c) {
    const cnnz_requant16 *p = &s->q;
    __m128i bytes;
    if (kind >= DW_FLOAT) {
        int split = kind == DW_FLOAT_SPLIT || kind == DW_FLOAT_SPLIT_WIDE;
        __m512 k = split ? _mm512_mask_blend_ps(_mm512_movepi32_mask(x), s->constant, s->negative) : s->constant;
        /* CNNZ_RN (int8_vnni_store.h): the proof's rounding whatever MXCSR says. */
        __m512 v = _mm512_fmadd_round_ps(_mm512_cvt_roundepi32_ps(x, CNNZ_RN), s->scale, k, CNNZ_RN);
        bytes = _mm512_cvtsepi32_epi8(_mm512_cvt_roundps_epi32(v, CNNZ_RN));
        if (kind <= DW_FLOAT_SPLIT) bytes = _mm_min_epi8(_mm_max_epi8(bytes, p->min), p->max);
        /* Kept in a register: clang otherwise stores with vpmovsdb's memory form, which Zen 4
         * runs as several micro-ops (whole passes measured the same either way; kept). */
        __asm__("" : "+v"(bytes));
    } else {
        bytes = requant16_as(x, p, kind);
    }
    if (table) {
        /* The table maps each clamped byte q to table[q + 128]. */
        int8_t q[16];
        _mm_storeu_si128((__m128i *)q, bytes);
        size_t width = (size_t)__builtin_popcount(p->lanes);
        for (size_t i = 0; i < width; i++) c[i] = out->table[q[i] + 128];
    } else if (full) {
        _mm_storeu_si128((__m128i *)c, bytes);
    } else {
        _mm_mask_storeu_epi8(c, p->lanes, bytes);
    }
}

#endif

#endif
