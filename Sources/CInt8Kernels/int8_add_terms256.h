/* Private to CInt8Kernels: the int8 Add of two inputs on AVX2 (8 int32 lanes), shared by the Add
 * kernel (cnnz_qs8_add2__avx2, int8_add_quantize.c) and the Add fused into the store of the AVX2
 * int16 GEMM's tiles (int8_tile_avx2.h): TensorFlow Lite's requantize((q - zero point) << 20,
 * multiplier, shift) per input, the terms added, then the short form of the sum's store. */
#ifndef CNNZ_INT8_ADD_TERMS256_H
#define CNNZ_INT8_ADD_TERMS256_H

#include "int8_add_terms.h"
#include "int8_requant256.h"

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

static inline int16_t add_split_low(uint32_t v) { return (int16_t)(v & 2047); }
static inline int16_t add_split_high(uint32_t v) { return (int16_t)((v >> 11) * 16); }

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

/* The term of 8 values q (int32 lanes, each in [-128, 127]) without its offset. signs (a
 * constant): whether the negative ties' step can apply (r > 0 and a zero point above -128: else
 * q - zero point < 0 never holds with a step, and the three instructions go). halves (a
 * constant): the input's multiplier is 2^30 with shift 0 (the input of the larger scale), whose
 * term is exactly (q - zero point) << 19 (the rounding doubling high multiply of an even
 * number's half; int8_vnni.c's CNNZ_TERMS_HALVES): q << 19, the offset -zero point << 19. */
CNNZ_AVX2_INLINE __m256i add_term8_of32(__m256i x, const cnnz_add_term8 *t, const int signs, const int halves) {
    if (halves) return _mm256_slli_epi32(x, 19);
    __m256i pairs = _mm256_blend_epi16(x, _mm256_slli_epi32(x, 23), 0xAA); /* (q, 128 q) */
    __m256i c = t->c_positive;
    if (signs) c = _mm256_add_epi32(c, _mm256_and_si256(_mm256_cmpgt_epi32(t->zero_point, x), t->c_step));
    __m256i low = _mm256_sra_epi32(_mm256_add_epi32(_mm256_madd_epi16(pairs, t->low), c), t->shift);
    return _mm256_add_epi32(_mm256_madd_epi16(pairs, t->high), low);
}

/* The same of 8 int8 at q. */
CNNZ_AVX2_INLINE __m256i add_term8_of(const int8_t *q, const cnnz_add_term8 *t, const int signs, const int halves) {
    return add_term8_of32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)), t, signs, halves);
}

/* The vector Add's constants, in memory together (see add_run), and its form: which of the
 * vector forms computes it (a constant for the loops, CNNZ_ADD8_*), or -1 (add_one per value). */
typedef struct {
    cnnz_add_term8 a, b;
    __m256i offset;
    cnnz_requant8 sum;
    int form;
} cnnz_add_constants8;

/* The form's bits: the sum's correcting step (cnnz_requant8.corrects), the terms' negative ties'
 * step, and input a's and b's terms halvings (the input of the larger scale, both when the scales
 * are equal). */
enum { CNNZ_ADD8_CORRECTS = 1, CNNZ_ADD8_SIGNS = 2, CNNZ_ADD8_HALVES_A = 4, CNNZ_ADD8_HALVES_B = 8 };

/* The constants of the Add p with output out (column 0's store in every lane), and its form:
 * -1 unless the vector terms and the short form apply (add_vectorizes, shifts down to -11, the
 * output's right shift in 1...23). */
CNNZ_AVX2_INLINE void add_constants8(const cnnz_qs8_add *p, const cnnz_qs8_output *out, cnnz_add_constants8 *k) {
    int32_t bias[8] = {0}, multiplier[8], shift[8];
    for (int j = 0; j < 8; j++) multiplier[j] = out->multiplier[0], shift[j] = out->shift[0];
    cnnz_qs8_output same = *out;
    same.bias = bias;
    same.multiplier = multiplier;
    same.shift = shift;
    k->sum = requant8_parameters(0, 8, &same);
    k->form = -1;
    if (!(add_vectorizes(p, out) && add_term2_fits(p->multiplier[0], p->shift[0]) &&
          add_term2_fits(p->multiplier[1], p->shift[1]) && k->sum.fast))
        return;
    int32_t oa, ob;
    k->a = add_term8(p->zero_point[0], p->multiplier[0], p->shift[0], &oa);
    k->b = add_term8(p->zero_point[1], p->multiplier[1], p->shift[1], &ob);
    int halves_a = p->multiplier[0] == (1 << 30) && p->shift[0] == 0;
    int halves_b = p->multiplier[1] == (1 << 30) && p->shift[1] == 0;
    /* (q - zero point) << 19 = q << 19 + offset, wrapping as the general form's does. */
    if (halves_a) oa = (int32_t)(0u - ((uint32_t)p->zero_point[0] << 19));
    if (halves_b) ob = (int32_t)(0u - ((uint32_t)p->zero_point[1] << 19));
    k->offset = _mm256_set1_epi32((int32_t)((uint32_t)oa + (uint32_t)ob));
    int signs = (!halves_a && p->shift[0] < 0 && p->zero_point[0] > -128) ||
                (!halves_b && p->shift[1] < 0 && p->zero_point[1] > -128);
    k->form = (k->sum.corrects ? CNNZ_ADD8_CORRECTS : 0) | (signs ? CNNZ_ADD8_SIGNS : 0) |
              (halves_a ? CNNZ_ADD8_HALVES_A : 0) | (halves_b ? CNNZ_ADD8_HALVES_B : 0);
}

/* The sum of 8 values' terms (a's and b's as int32 lanes in [-128, 127]) requantized: the
 * output's value plus its zero point, int32 (the short form). form: a constant. */
CNNZ_AVX2_INLINE __m256i add8_of32(__m256i a, __m256i b, const cnnz_add_constants8 *k, const int form) {
    const int signs = (form & CNNZ_ADD8_SIGNS) != 0;
    __m256i x = _mm256_add_epi32(_mm256_add_epi32(add_term8_of32(a, &k->a, signs, (form & CNNZ_ADD8_HALVES_A) != 0),
                                                  add_term8_of32(b, &k->b, signs, (form & CNNZ_ADD8_HALVES_B) != 0)),
                                 k->offset);
    return requant8_fast(x, &k->sum, (form & CNNZ_ADD8_CORRECTS) != 0);
}

/* The same of 8 int8 at a and b. */
CNNZ_AVX2_INLINE __m256i add8_of(const int8_t *a, const int8_t *b, const cnnz_add_constants8 *k, const int form) {
    return add8_of32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)a)),
                     _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)b)), k, form);
}

/* Calls MACRO(FORM) with form (a run-time value, not -1) as a constant. */
#define CNNZ_ADD8_DISPATCH(form, MACRO)                                                                    \
    switch (form) {                                                                                        \
    case 0: MACRO(0); break;                                                                               \
    case 1: MACRO(1); break;                                                                               \
    case 2: MACRO(2); break;                                                                               \
    case 3: MACRO(3); break;                                                                               \
    case 4: MACRO(4); break;                                                                               \
    case 5: MACRO(5); break;                                                                               \
    case 6: MACRO(6); break;                                                                               \
    case 7: MACRO(7); break;                                                                               \
    case 8: MACRO(8); break;                                                                               \
    case 9: MACRO(9); break;                                                                               \
    case 10: MACRO(10); break;                                                                             \
    case 11: MACRO(11); break;                                                                             \
    case 12: MACRO(12); break;                                                                             \
    case 13: MACRO(13); break;                                                                             \
    case 14: MACRO(14); break;                                                                             \
    default: MACRO(15); break;                                                                             \
    }
#endif

#endif
