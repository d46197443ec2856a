/* The int8 Add of two inputs and the input quantize with AVX-512 and AVX2,
 * the same integers as the plain C (see include/CInt8Kernels.h). */
#include "int8_add_terms.h"
#include "int8_requant256.h"

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
/* add_term2 (int8_add_terms.h) with AVX2 and no 32-bit multiply (vpmulld: 2 uops): an Add input's
 * term is q * high + ((q * low + c) >> S) + offset, and with each 32-bit lane holding the int16
 * pair (q, 128 q) one vpmaddwd computes q * v for any v < 2^22 from the pair (v & 2047,
 * (v >> 11) * 16): q * (v & 2047) + 128 q * 16 (v >> 11), every int16 in range (|128 q| <= 16384,
 * (v >> 11) * 16 < 2^15). low < 2^S <= 2^22 and high < 2^31 / 2^11. */
typedef struct {
    __m256i high, low, zero_point, c_positive, c_step;
    __m128i shift;
} cnnz_add_term8;

static int16_t add_split_low(uint32_t v) { return (int16_t)(v & 2047); }
static int16_t add_split_high(uint32_t v) { return (int16_t)((v >> 11) * 16); }

CNNZ_AVX2_INLINE cnnz_add_term8 add_term8(int32_t zero_point, int32_t multiplier, int32_t shift, int32_t *offset) {
    cnnz_add_term8 t;
    int r = -shift, s = 11 + r;
    uint32_t high = (uint32_t)multiplier >> s, low = (uint32_t)multiplier & ((1u << s) - 1);
    uint32_t c = (1u << 10) + (r > 0 ? (1u << (r + 10)) : 0) - (uint32_t)zero_point * low;
    t.high = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)add_split_low(high) |
                                         ((uint32_t)(uint16_t)add_split_high(high) << 16)));
    t.low = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)add_split_low(low) |
                                        ((uint32_t)(uint16_t)add_split_high(low) << 16)));
    t.zero_point = _mm256_set1_epi32(zero_point);
    t.c_positive = _mm256_set1_epi32((int32_t)c);
    /* c_negative - c_positive: -2^11 where r > 0 (the negative ties' step), else 0. */
    t.c_step = _mm256_set1_epi32(r > 0 ? -(1 << 11) : 0);
    t.shift = _mm_cvtsi32_si128(s);
    *offset = (int32_t)(0u - (uint32_t)zero_point * high);
    return t;
}

/* The term of 8 int8 at q without its offset, as int32 lanes. signs (a constant): whether the
 * negative ties' step can apply (r > 0 and a zero point above -128: else q - zero point < 0
 * never holds with a step, and the three instructions go). */
CNNZ_AVX2_INLINE __m256i add_term8_of(const int8_t *q, const cnnz_add_term8 *t, const int signs) {
    __m256i x = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q));
    __m256i pairs = _mm256_blend_epi16(x, _mm256_slli_epi32(x, 23), 0xAA); /* (q, 128 q) */
    __m256i c = t->c_positive;
    if (signs) c = _mm256_add_epi32(c, _mm256_and_si256(_mm256_cmpgt_epi32(t->zero_point, x), t->c_step));
    __m256i low = _mm256_sra_epi32(_mm256_add_epi32(_mm256_madd_epi16(pairs, t->low), c), t->shift);
    return _mm256_add_epi32(_mm256_madd_epi16(pairs, t->high), low);
}

/* The vector Add's constants, in memory together (see add_run). */
typedef struct {
    cnnz_add_term8 a, b;
    __m256i offset;
    cnnz_requant8 sum;
} cnnz_add_constants8;

/* 16 values of the Add: the terms, then the short form of the sum's store. */
CNNZ_AVX2_INLINE __m128i add16(const int8_t *a, const int8_t *b, const cnnz_add_constants8 *k, const int corrects,
                               const int signs) {
    __m256i x0 = _mm256_add_epi32(_mm256_add_epi32(add_term8_of(a, &k->a, signs), add_term8_of(b, &k->b, signs)),
                                  k->offset);
    __m256i x1 = _mm256_add_epi32(
        _mm256_add_epi32(add_term8_of(a + 8, &k->a, signs), add_term8_of(b + 8, &k->b, signs)), k->offset);
    return requant8_bytes16(requant8_fast(x0, &k->sum, corrects), requant8_fast(x1, &k->sum, corrects), &k->sum);
}

/* The first n / 16 * 16 values. The constants are read through a pointer made opaque at each
 * pass, so that they stay operands in memory: held in registers, twenty of them spilled and
 * came back through extra loads (6.1 instructions a value, 4.2 now). In place (c = a or b):
 * each 16 are read before they are written. */
CNNZ_AVX2_INLINE size_t add_run(size_t n, const int8_t *a, const int8_t *b, const cnnz_add_constants8 *constants,
                                int8_t *c, const int corrects, const int signs) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const cnnz_add_constants8 *k = constants;
        __asm__ volatile("" : "+r"(k));
        _mm_storeu_si128((__m128i *)(c + i), add16(a + i, b + i, k, corrects, signs));
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
    /* Column 0's parameters in every lane (its bias is 0). */
    int32_t bias[8] = {0}, multiplier[8], shift[8];
    for (int j = 0; j < 8; j++) multiplier[j] = out->multiplier[0], shift[j] = out->shift[0];
    cnnz_qs8_output same = *out;
    same.bias = bias;
    same.multiplier = multiplier;
    same.shift = shift;
    cnnz_requant8 sum = requant8_parameters(0, 8, &same);
    if (add_vectorizes(p, out) && add_term2_fits(p->multiplier[0], p->shift[0]) &&
        add_term2_fits(p->multiplier[1], p->shift[1]) && sum.fast) {
        int32_t oa, ob;
        cnnz_add_constants8 k;
        k.a = add_term8(p->zero_point[0], p->multiplier[0], p->shift[0], &oa);
        k.b = add_term8(p->zero_point[1], p->multiplier[1], p->shift[1], &ob);
        k.offset = _mm256_set1_epi32((int32_t)((uint32_t)oa + (uint32_t)ob));
        k.sum = sum;
        int signs = (p->shift[0] < 0 && p->zero_point[0] > -128) || (p->shift[1] < 0 && p->zero_point[1] > -128);
        if (sum.corrects)
            i = signs ? add_run(n, a, b, &k, c, 1, 1) : add_run(n, a, b, &k, c, 1, 0);
        else
            i = signs ? add_run(n, a, b, &k, c, 0, 1) : add_run(n, a, b, &k, c, 0, 0);
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
/* quantize_avx512 with AVX2, eight at a time: the same float32 operations, so the same bits. */
static __attribute__((target("avx2"))) void quantize_avx2(size_t n, const float *x, float scale, float zero_point,
                                                         int8_t *q) {
    const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps(zero_point);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 low = _mm256_set1_ps(-128.0f), high = _mm256_set1_ps(127.0f);
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 t = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
        __m256 r = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m256 fraction = _mm256_andnot_ps(sign, _mm256_sub_ps(t, r));
        __m256 away = _mm256_cmp_ps(fraction, half, _CMP_GE_OQ);
        __m256 step = _mm256_or_ps(one, _mm256_and_ps(t, sign));
        r = _mm256_add_ps(r, _mm256_and_ps(away, step));
        __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, z), low), high);
        v = _mm256_blendv_ps(v, z, _mm256_cmp_ps(t, t, _CMP_UNORD_Q));
        __m256i w = _mm256_cvttps_epi32(v);
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
