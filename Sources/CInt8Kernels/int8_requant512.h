/* Private to CInt8Kernels: the output stage of the int8 kernels around the GEMMs (direct
 * convolution, depthwise, Add) with AVX-512 in fewer instructions than store16_panel, the same
 * integers. TensorFlow Lite's two roundings, h = floor((x * m + 2^30) / 2^31) (the rounding
 * doubling high multiply: gemmlowp's nudge then truncation is this floor) and the rounding right
 * shift of h by r (ties away from zero: floor((h + 2^(r-1) - [h < 0]) / 2^r) for r >= 1), are one
 * floor of a 64-bit quotient, since floor(floor(a / b) + c) / d) = floor((a + c b) / (b d)):
 *     floor((x * m + 2^30 + 2^(r+30) - [x * m < -2^30] * 2^31) / 2^(31 + r))   (r >= 1)
 *     floor((x * m + 2^30) / 2^31)                                              (r = 0)
 * (h < 0 exactly when x * m + 2^30 < 0). |x * m| < 2^62 and the constant is below 2^62, so
 * nothing overflows. The clamp is applied to the bytes after the saturating conversion, which
 * is the same since min and max are within [-128, 127]. */
#ifndef CNNZ_INT8_REQUANT512_H
#define CNNZ_INT8_REQUANT512_H

#include "int8_avx512.h"

#ifdef CNNZ_HAVE_AVX2

/* One panel's 16 columns of parameters, laid out for requant16. */
typedef struct {
    __m512i bias;
    __m512i multiplier_even, multiplier_odd; /* m in the low half of each 64-bit lane */
    __m512i constant_even, constant_odd;     /* 2^30 + 2^(r+30) (r >= 1) or 2^30 */
    __m512i step_even, step_odd;             /* 2^31 where r >= 1, else 0 */
    __m512i total_even, total_odd;           /* 31 + r */
    __m512i left;                            /* the left shift (shift > 0), else 0 */
    __m128i min, max;
    __m512i zero_point;
    __mmask16 lanes;
    int shifts_left;
    /* Whether the [x * m < -2^30] step can change a byte: not when the clamp's low bound is at
     * least the zero point (ReLU, ReLU6). The step only moves results at or below 0 (h < 0
     * gives a result <= 0 with or without it), and those all clamp to min. */
    int corrects;
    /* Whether a column of lanes has no right shift (r = 0), so that its requantized values can
     * reach either end of int32 (requant16 clamps them before adding the zero point). */
    int near_limits;
    /* The short form, when every column of `lanes` has a right shift r in 1...23 (no left shift):
     * the zero point joins the constant, zero point * 2^(31 + r), which keeps the 64-bit sum
     * below 2^62 + 2^61 + 2^55 (|x * m| < 2^62), and the quotient is then below 2^30 in size
     * plus the zero point, never wrapping int32. The odd lanes shift by r - 1 = 31 + r - 32,
     * which leaves floor(q / 2^(31 + r)) in their high dword (floor(floor(q / 2^(r - 1)) / 2^32)),
     * where a blend takes it: no vpermt2d. Columns past `lanes` are anything (never stored). */
    int fast;
    __m512i fast_even, fast_odd; /* constant + zero point * 2^(31 + r) */
    __m512i odd_total;          /* r - 1 */
} cnnz_requant16;

/* The requant16 forms a kernel picks once per panel (requant16_kind), for code without a test
 * per vector: the general one (any shift; the zero point added after), the short form with the
 * negative ties' step and without it (corrects false). */
enum { CNNZ_REQUANT_GENERAL = 0, CNNZ_REQUANT_FAST = 1, CNNZ_REQUANT_FAST_CORRECTS = 2 };

/* The parameters of columns column..<column + width (width <= 16) of out; lanes past width
 * get multiplier 0 (their bytes are 0 + zero point, for the caller to drop or overwrite). */
CNNZ_INLINE CNNZ_AVX512 cnnz_requant16 requant16_parameters(size_t column, size_t width,
                                                            const cnnz_qs8_output *out) {
    cnnz_requant16 p;
    const __m512i zero = _mm512_setzero_si512();
    p.lanes = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
    p.bias = _mm512_maskz_loadu_epi32(p.lanes, out->bias + column);
    __m512i m = _mm512_maskz_loadu_epi32(p.lanes, out->multiplier + column);
    __m512i shift = _mm512_maskz_loadu_epi32(p.lanes, out->shift + column);
    p.left = _mm512_max_epi32(shift, zero);
    p.shifts_left = _mm512_test_epi32_mask(p.left, p.left) != 0;
    __m512i right = _mm512_sub_epi32(zero, _mm512_min_epi32(shift, zero));
    /* Even lanes: the low dword of each 64-bit lane zero-extended; odd lanes: the high one. */
    const __m512i low = _mm512_set1_epi64(0xFFFFFFFF);
    __m512i right_even = _mm512_and_si512(right, low), right_odd = _mm512_srli_epi64(right, 32);
    p.multiplier_even = m; /* vpmuldq reads the low dword */
    p.multiplier_odd = _mm512_srli_epi64(m, 32);
    const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30), one = _mm512_set1_epi64(1);
    __mmask8 rounds_even = _mm512_test_epi64_mask(right_even, right_even);
    __mmask8 rounds_odd = _mm512_test_epi64_mask(right_odd, right_odd);
    /* 2^(r+30) = 1 << (r + 30) where r >= 1. */
    __m512i thirty = _mm512_set1_epi64(30);
    p.constant_even = _mm512_mask_add_epi64(nudge, rounds_even, nudge,
                                            _mm512_sllv_epi64(one, _mm512_add_epi64(right_even, thirty)));
    p.constant_odd = _mm512_mask_add_epi64(nudge, rounds_odd, nudge,
                                           _mm512_sllv_epi64(one, _mm512_add_epi64(right_odd, thirty)));
    const __m512i step = _mm512_set1_epi64((int64_t)1 << 31);
    p.step_even = _mm512_maskz_mov_epi64(rounds_even, step);
    p.step_odd = _mm512_maskz_mov_epi64(rounds_odd, step);
    __m512i thirty_one = _mm512_set1_epi64(31);
    p.total_even = _mm512_add_epi64(right_even, thirty_one);
    p.total_odd = _mm512_add_epi64(right_odd, thirty_one);
    p.min = _mm_set1_epi8((char)out->min);
    p.max = _mm_set1_epi8((char)out->max);
    p.zero_point = _mm512_set1_epi32(out->zero_point);
    p.corrects = out->min < out->zero_point;
    p.near_limits = _mm512_mask_cmpeq_epi32_mask(p.lanes, right, zero) != 0;
    __mmask16 slow = _mm512_mask_cmpgt_epi32_mask(p.lanes, shift, _mm512_set1_epi32(-1)) |
                     _mm512_mask_cmplt_epi32_mask(p.lanes, shift, _mm512_set1_epi32(-23));
    p.fast = slow == 0;
    const __m512i zero_point = _mm512_set1_epi64(out->zero_point);
    p.fast_even = _mm512_add_epi64(p.constant_even, _mm512_sllv_epi64(zero_point, p.total_even));
    p.fast_odd = _mm512_add_epi64(p.constant_odd, _mm512_sllv_epi64(zero_point, p.total_odd));
    p.odd_total = _mm512_sub_epi64(p.total_odd, _mm512_set1_epi64(32));
    return p;
}

CNNZ_INLINE int requant16_kind(const cnnz_requant16 *p) {
    return !p->fast ? CNNZ_REQUANT_GENERAL : p->corrects ? CNNZ_REQUANT_FAST_CORRECTS : CNNZ_REQUANT_FAST;
}

/* The short form (p->fast) of sums x, the bias included: the requantized values plus the zero
 * point, as int32 (exact). corrects: apply the negative ties' step (always exact; needed when
 * p->corrects). */
CNNZ_INLINE CNNZ_AVX512 __m512i requant16_fast(__m512i x, const cnnz_requant16 *p, const int corrects) {
    __m512i even = _mm512_mul_epi32(x, p->multiplier_even);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), p->multiplier_odd);
    __m512i q_even = _mm512_add_epi64(even, p->fast_even);
    __m512i q_odd = _mm512_add_epi64(odd, p->fast_odd);
    if (corrects) {
        const __m512i limit = _mm512_set1_epi64(-((int64_t)1 << 30)), step = _mm512_set1_epi64((int64_t)1 << 31);
        q_even = _mm512_mask_sub_epi64(q_even, _mm512_cmplt_epi64_mask(even, limit), q_even, step);
        q_odd = _mm512_mask_sub_epi64(q_odd, _mm512_cmplt_epi64_mask(odd, limit), q_odd, step);
    }
    q_even = _mm512_srav_epi64(q_even, p->total_even);
    q_odd = _mm512_srav_epi64(q_odd, p->odd_total);
    return _mm512_mask_blend_epi32(0xAAAA, q_even, q_odd);
}

/* The requantized sums x (the bias not yet added when add_bias), before the zero point. */
CNNZ_INLINE CNNZ_AVX512 __m512i requant16_sums(__m512i x, const cnnz_requant16 *p, int add_bias) {
    if (add_bias) x = _mm512_add_epi32(x, p->bias);
    if (p->shifts_left) x = _mm512_sllv_epi32(x, p->left);
    const __m512i limit = _mm512_set1_epi64(-((int64_t)1 << 30));
    __m512i even = _mm512_mul_epi32(x, p->multiplier_even);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), p->multiplier_odd);
    __m512i q_even = _mm512_add_epi64(even, p->constant_even);
    __m512i q_odd = _mm512_add_epi64(odd, p->constant_odd);
    if (p->corrects) {
        q_even = _mm512_mask_sub_epi64(q_even, _mm512_cmplt_epi64_mask(even, limit), q_even, p->step_even);
        q_odd = _mm512_mask_sub_epi64(q_odd, _mm512_cmplt_epi64_mask(odd, limit), q_odd, p->step_odd);
    }
    q_even = _mm512_srav_epi64(q_even, p->total_even);
    q_odd = _mm512_srav_epi64(q_odd, p->total_odd);
    /* The low dwords: even lanes from q_even, odd lanes from q_odd's. */
    const __m512i interleave = _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
    return _mm512_permutex2var_epi32(q_even, interleave, q_odd);
}

/* The 16 output bytes of sums x (the bias not yet added when add_bias). Adding the zero point
 * in int32 could wrap around only where a column has no right shift (r = 0): otherwise |v| <=
 * 2^(31 - r) + 1 <= 2^30 + 1. Where one has (near_limits), v is first clamped to +-2^16, which
 * changes no byte (|zero point| <= 128) and leaves no value near either end of int32. */
CNNZ_INLINE CNNZ_AVX512 __m128i requant16(__m512i x, const cnnz_requant16 *p, int add_bias) {
    __m512i v = requant16_sums(x, p, add_bias);
    if (p->near_limits)
        v = _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(1 << 16)), _mm512_set1_epi32(-(1 << 16)));
    v = _mm512_add_epi32(v, p->zero_point);
    __m128i bytes = _mm512_cvtsepi32_epi8(v);
    return _mm_min_epi8(_mm_max_epi8(bytes, p->min), p->max);
}

/* requant16 of sums x (bias included) in form `kind` (a constant: requant16_kind of p). */
CNNZ_INLINE CNNZ_AVX512 __m128i requant16_as(__m512i x, const cnnz_requant16 *p, const int kind) {
    if (kind == CNNZ_REQUANT_GENERAL) return requant16(x, p, 0);
    __m128i bytes = _mm512_cvtsepi32_epi8(requant16_fast(x, p, kind == CNNZ_REQUANT_FAST_CORRECTS));
    return _mm_min_epi8(_mm_max_epi8(bytes, p->min), p->max);
}

#endif

#endif
