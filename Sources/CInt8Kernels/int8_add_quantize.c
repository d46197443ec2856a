/* The int8 Add of two inputs and the input quantize with AVX-512 and AVX2,
 * the same integers as the plain C (see include/CInt8Kernels.h). */
#include "int8_add_terms.h"
#include "int8_add_terms256.h"

#include <math.h>

#ifdef CNNZ_HAVE_AVX2
CNNZ_AVX512 void cnnz_qs8_add2_avx512(size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add *p,
                                      const cnnz_qs8_output *out, int8_t *c) {
    if (!add_vectorizes(p, out)) {
        for (size_t i = 0; i < n; i++) c[i] = add_one(a[i], b[i], p, out);
        return;
    }
    cnnz_add_term ta = add_term(p->zero_point[0], p->multiplier[0], p->shift[0]);
    cnnz_add_term tb = add_term(p->zero_point[1], p->multiplier[1], p->shift[1]);
    cnnz_requant16 sum = add_sum_parameters(out);
    size_t i = 0;
    if (add_term2_fits(p->multiplier[0], p->shift[0]) && add_term2_fits(p->multiplier[1], p->shift[1])) {
        cnnz_add_term2 a2 = add_term2(p->zero_point[0], p->multiplier[0], p->shift[0]);
        cnnz_add_term2 b2 = add_term2(p->zero_point[1], p->multiplier[1], p->shift[1]);
        const __m512i offset = _mm512_set1_epi32((int32_t)((uint32_t)a2.offset + (uint32_t)b2.offset));
        for (; i + 16 <= n; i += 16) {
            __m512i x = _mm512_add_epi32(add_term2_of(_mm_loadu_si128((const __m128i *)(a + i)), &a2),
                                         add_term2_of(_mm_loadu_si128((const __m128i *)(b + i)), &b2));
            _mm_storeu_si128((__m128i *)(c + i), requant16(_mm512_add_epi32(x, offset), &sum, 0));
        }
    }
    for (; i + 16 <= n; i += 16) {
        __m512i x = _mm512_add_epi32(add_term_of(_mm_loadu_si128((const __m128i *)(a + i)), &ta),
                                     add_term_of(_mm_loadu_si128((const __m128i *)(b + i)), &tb));
        _mm_storeu_si128((__m128i *)(c + i), requant16(x, &sum, 0));
    }
    if (i < n) {
        __mmask16 lanes = (__mmask16)((1u << (n - i)) - 1);
        __m512i x = _mm512_add_epi32(add_term_of(_mm_maskz_loadu_epi8(lanes, a + i), &ta),
                                     add_term_of(_mm_maskz_loadu_epi8(lanes, b + i), &tb));
        _mm_mask_storeu_epi8(c + i, lanes, requant16(x, &sum, 0));
    }
}

/* round(t) half away from zero, exactly, as trunc(t + copysign(0.49999997, t)) (the float below
 * 0.5: checked against roundf on every finite float32), three instructions where t - trunc(t)
 * and a compare took six. 16 values per vector, the bytes of full vectors stored unmasked
 * (vpmovsdb to memory with a mask is slow on Zen 4): 27648 values (mobile_res's 96x96x3 input)
 * in 3.7 us against 4.7, best of 200 in a C loop on the Zen 4; the division's throughput is
 * most of what is left (x times 1 / scale rounds differently). */
CNNZ_INLINE CNNZ_AVX512 __m128i quantize16(__m512 x, __m512 s, __m512 z) {
    const __m512 low = _mm512_set1_ps(-128.0f), high = _mm512_set1_ps(127.0f);
    const __m512i below_half = _mm512_set1_epi32(0x3EFFFFFF), sign = _mm512_set1_epi32((int)0x80000000u);
    __m512 t = _mm512_div_ps(x, s);
    /* (t & sign) | below_half: 0.49999997 with t's sign. */
    __m512 bias = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(t), sign, below_half, 0xEA));
    __m512 r = _mm512_roundscale_ps(_mm512_add_ps(t, bias), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, z), low), high);
    /* NaN (from a NaN input or 0 / 0) becomes the zero point. */
    v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(t, t, _CMP_UNORD_Q), z);
    return _mm512_cvtsepi32_epi8(_mm512_cvttps_epi32(v));
}

static CNNZ_AVX512 void quantize_avx512(size_t n, const float *x, float scale, float zero_point, int8_t *q) {
    const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(zero_point);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm_storeu_si128((__m128i *)(q + i), quantize16(_mm512_loadu_ps(x + i), s, z));
    if (i < n) {
        __mmask16 lanes = (__mmask16)((1u << (n - i)) - 1);
        _mm_mask_storeu_epi8(q + i, lanes, quantize16(_mm512_maskz_loadu_ps(lanes, x + i), s, z));
    }
}

#endif

#ifdef CNNZ_HAVE_AVX2
/* The first n / 16 * 16 values of the Add in form (a constant, CNNZ_ADD8_*). The constants are
 * read through a pointer made opaque at each pass, so that they stay operands in memory: held in
 * registers, twenty of them spilled and came back through extra loads (6.1 instructions a value,
 * 4.2 then). In place (c = a or b): each 16 are read before they are written. */
CNNZ_AVX2_INLINE size_t add_run(size_t n, const int8_t *a, const int8_t *b, const cnnz_add_constants8 *constants,
                                int8_t *c, const int form) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const cnnz_add_constants8 *k = constants;
        __asm__ volatile("" : "+r"(k));
        __m256i v0 = add8_of(a + i, b + i, k, form), v1 = add8_of(a + i + 8, b + i + 8, k, form);
        _mm_storeu_si128((__m128i *)(c + i), requant8_bytes16(v0, v1, &k->sum));
    }
    return i;
}

/* The Add of two inputs with AVX2 (cnnz_qs8_add2 at level CNNZ_INT8_AVX2), 16 values at a time
 * where the vector terms and the short form apply (add_vectorizes, shifts down to -11, the
 * output's right shift in 1...23), else 8 at a time with the general requantization; the last
 * n % 16 and tables per element. */
CNNZ_AVX2_TARGET void cnnz_qs8_add2__avx2(size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add *p,
                                          const cnnz_qs8_output *out, int8_t *c) {
    size_t i = 0;
    if (out->table) {
        for (; i < n; i++) c[i] = add_one(a[i], b[i], p, out);
        return;
    }
    cnnz_add_constants8 k;
    add_constants8(p, out, &k);
    if (k.form >= 0) {
#define CNNZ_ADD_RUN(FORM) i = add_run(n, a, b, &k, c, FORM)
        CNNZ_ADD8_DISPATCH(k.form, CNNZ_ADD_RUN)
#undef CNNZ_ADD_RUN
    } else {
        __m256i ma = _mm256_set1_epi32(p->multiplier[0]), sa = _mm256_set1_epi32(p->shift[0]);
        __m256i mb = _mm256_set1_epi32(p->multiplier[1]), sb = _mm256_set1_epi32(p->shift[1]);
        __m256i mo = _mm256_set1_epi32(out->multiplier[0]), so = _mm256_set1_epi32(out->shift[0]);
        const __m128i left = _mm_cvtsi32_si128(p->left_shift);
        for (; i + 8 <= n; i += 8) {
            __m256i xa = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(a + i)));
            __m256i xb = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + i)));
            xa = _mm256_sll_epi32(_mm256_sub_epi32(xa, _mm256_set1_epi32(p->zero_point[0])), left);
            xb = _mm256_sll_epi32(_mm256_sub_epi32(xb, _mm256_set1_epi32(p->zero_point[1])), left);
            __m256i ta = requantize8(xa, ma, sa), tb = requantize8(xb, mb, sb);
            finish8(requantize8(_mm256_add_epi32(ta, tb), mo, so), out, c + i);
        }
    }
    for (; i < n; i++) c[i] = add_one(a[i], b[i], p, out);
}
#endif

#ifdef CNNZ_HAVE_AVX2
/* quantize_avx512 with AVX2: the same float32 operations (round half away from zero as
 * trunc(t + copysign(0.49999997, t)), quantize16's), so the same bits; eight values' clamped
 * integers as int32. */
static inline __attribute__((always_inline, target("avx2"))) __m256i quantize8_avx2(__m256 x, __m256 s, __m256 z) {
    const __m256 low = _mm256_set1_ps(-128.0f), high = _mm256_set1_ps(127.0f);
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    const __m256 below_half = _mm256_castsi256_ps(_mm256_set1_epi32(0x3EFFFFFF));
    __m256 t = _mm256_div_ps(x, s);
    __m256 r = _mm256_round_ps(_mm256_add_ps(t, _mm256_or_ps(_mm256_and_ps(t, sign), below_half)),
                               _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, z), low), high);
    return _mm256_cvttps_epi32(_mm256_blendv_ps(v, z, _mm256_cmp_ps(t, t, _CMP_UNORD_Q)));
}

/* 32 values' bytes from their clamped integers (int32, four vectors): two vpackssdw, one
 * vpacksswb and a vpermd (the packs work within 128-bit lanes: dword d of lane L holds vector
 * d's values 4 L ..< 4 L + 4, and vpermd by 0,4,1,5,2,6,3,7 puts them in order). */
static inline __attribute__((always_inline, target("avx2"))) __m256i bytes32_avx2(__m256i w0, __m256i w1, __m256i w2,
                                                                                 __m256i w3) {
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(w0, w1), _mm256_packs_epi32(w2, w3));
    return _mm256_permutevar8x32_epi32(bytes, order);
}

/* quantize8_avx2 without the division (vdivps, one a 3 cycles here): t' = x * (1 / scale) is
 * within 3 * 2^-24 |x / scale| of t = x / scale (both rounded once, 1 / scale too), under 2^-11
 * while |t'| <= 1000; so where t' (at most 1000: larger ones clamp alike) is within 0.5 - 2^-11
 * of its nearest integer r, no half-integer lies between t and t', t rounds (half away from
 * zero) to r too, and r + z saturated by the packs is quantize8_avx2's clamp (below -2^31,
 * vcvttps2dq's INT32_MIN saturates as well). *ok: false in every lane that misses the margin
 * (ties; NaN and -infinity, whose t' - r is NaN: vminps returns its second operand, t', on NaN),
 * which quantize8_avx2 then takes. */
static inline __attribute__((always_inline, target("avx2"))) __m256i quantize8_mul_avx2(__m256 x, __m256 inverse,
                                                                                       __m256 z, __m256 *ok) {
    const __m256 high = _mm256_set1_ps(1000.0f), margin = _mm256_set1_ps(0.5f - 1.0f / 2048.0f);
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    __m256 t = _mm256_min_ps(high, _mm256_mul_ps(x, inverse));
    __m256 r = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 off = _mm256_andnot_ps(sign, _mm256_sub_ps(t, r));
    *ok = _mm256_and_ps(*ok, _mm256_cmp_ps(off, margin, _CMP_LT_OQ));
    return _mm256_cvttps_epi32(_mm256_add_ps(r, z));
}

/* quantize_avx2's passes of 32 values by the multiply from i while every value is within its
 * margin: where it stopped (a pass that is not, or the last whole pass done). A function of its
 * own: in one loop with the division's passes, the two sets of constants did not fit the
 * registers and were reloaded from the stack. */
static __attribute__((noinline, target("avx2"))) size_t quantize_mul_passes(size_t i, size_t n, const float *x,
                                                                            float inverse, float zero_point,
                                                                            int8_t *q) {
    const __m256 inv = _mm256_set1_ps(inverse), z = _mm256_set1_ps(zero_point);
    for (; i + 32 <= n; i += 32) {
        __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        __m256i w0 = quantize8_mul_avx2(_mm256_loadu_ps(x + i), inv, z, &ok);
        __m256i w1 = quantize8_mul_avx2(_mm256_loadu_ps(x + i + 8), inv, z, &ok);
        __m256i w2 = quantize8_mul_avx2(_mm256_loadu_ps(x + i + 16), inv, z, &ok);
        __m256i w3 = quantize8_mul_avx2(_mm256_loadu_ps(x + i + 24), inv, z, &ok);
        if (_mm256_movemask_ps(ok) != 0xFF) break;
        _mm256_storeu_si256((__m256i *)(q + i), bytes32_avx2(w0, w1, w2, w3));
    }
    return i;
}

/* 32 values per pass narrowed together (bytes32_avx2, where 8 at a time took an extract and two
 * packs per 8); by the multiply when 1 / scale allows (quantize8_mul_avx2: a normal scale with
 * a normal inverse), a pass whose 32 values are not all within its margin by the division.
 * mobile_res's 96x96x3 input (its pixels as they come, 0...255): 6.3 -> 4.5 us, best of 5 in a C
 * loop on the AVX2-only Zen 4. */
static __attribute__((target("avx2"))) void quantize_avx2(size_t n, const float *x, float scale, float zero_point,
                                                         int8_t *q) {
    const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps(zero_point);
    float inverse = 1.0f / scale;
    int multiplies = isnormal(scale) && scale > 0 && isnormal(inverse);
    size_t i = 0;
    while (i + 32 <= n) {
        if (multiplies) {
            i = quantize_mul_passes(i, n, x, inverse, zero_point, q);
            if (i + 32 > n) break;
        }
        __m256i w0 = quantize8_avx2(_mm256_loadu_ps(x + i), s, z);
        __m256i w1 = quantize8_avx2(_mm256_loadu_ps(x + i + 8), s, z);
        __m256i w2 = quantize8_avx2(_mm256_loadu_ps(x + i + 16), s, z);
        __m256i w3 = quantize8_avx2(_mm256_loadu_ps(x + i + 24), s, z);
        _mm256_storeu_si256((__m256i *)(q + i), bytes32_avx2(w0, w1, w2, w3));
        i += 32;
    }
    for (; i + 8 <= n; i += 8) {
        __m256i w = quantize8_avx2(_mm256_loadu_ps(x + i), s, z);
        __m128i halves = _mm_packs_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(halves, halves));
    }
    for (; i < n; i++) {
        float v = roundf(x[i] / scale) + zero_point;
        q[i] = v != v ? (int8_t)zero_point : (int8_t)(v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v));
    }
}
#endif

void cnnz_qs8_quantize(int level, size_t n, const float *x, float scale, float zero_point, int8_t *q) {
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX512) {
        quantize_avx512(n, x, scale, zero_point, q);
        return;
    }
    if (level >= CNNZ_INT8_AVX2) {
        quantize_avx2(n, x, scale, zero_point, q);
        return;
    }
#endif
    (void)level;
    for (size_t i = 0; i < n; i++) {
        float v = roundf(x[i] / scale) + zero_point;
        q[i] = v != v ? (int8_t)zero_point : (int8_t)(v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v));
    }
}
