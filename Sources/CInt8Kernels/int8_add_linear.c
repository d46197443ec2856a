/* The int8 Add of two inputs as one linear form of the two bytes (see include/CInt8Kernels.h).
 *
 * TensorFlow Lite's Add (three roundings: each input's term, then the sum's store) is a function
 * of two bytes, so whether a cheaper formula gives the same bytes can be checked on all 65536
 * pairs. The terms carry 20 bits more than the output, so the function is a rounded plane up to
 * tiny errors, and floor((a * ma + b * mb + constant) / 2^shift) with ma, mb about 2^shift times
 * its two slopes matches it whenever no pair lies closer to a rounding boundary than the form's
 * own error (both adds of mobile_res: shift 20 to 22). cnnz_qs8_add_linear_prepare tries the
 * largest shifts whose multipliers fit and the multipliers next to the slopes, and for each
 * takes the constant from the interval every pair allows, or reports that none is found (the
 * caller keeps cnnz_qs8_add2).
 *
 * With AVX2 the form is two vpmaddwd per 8 values on int16 pairs (a, b): the multipliers split
 * as high * 256 + low (high in int16, low in 0...255), (a * high_a + b * high_b) << 8 plus
 * (a * low_a + b * low_b), in wrapping int32, which is exact since every true value of the sum
 * fits int32 (checked). About 40 instructions per 32 values against about 150 for
 * cnnz_qs8_add2__avx2's exact terms and 64-bit store (mobile_res's fused Adds, 1 thread, batch
 * 64: about 1.4 ms of the 21). */
#include "int8_common.h"

#include <math.h>
#include <stdlib.h>

/* floor(u / 2^shift) without relying on the arithmetic shift of negative numbers. */
static inline int64_t floor_shift(int64_t u, int shift) { return u >= 0 ? u >> shift : -((-u - 1) >> shift) - 1; }

static inline int8_t linear_one(int8_t a, int8_t b, const cnnz_qs8_add_linear *f) {
    int64_t v = floor_shift((int64_t)a * f->multiplier[0] + (int64_t)b * f->multiplier[1] + f->constant, f->shift);
    return (int8_t)(v < f->min ? f->min : v > f->max ? f->max : v);
}

#ifdef CNNZ_HAVE_AVX2
/* The constant that makes (shift, ma, mb) give every pair's byte e[a + 128 + 256 (b + 128)]
 * (min and max: any value at or beyond them), with every sum within int32; 0 if none. In int32
 * lanes, 8 pairs a pass (the plain loop in int64 took about 0.15 ms of a model's load per Add):
 * the caller keeps 129 * 2^shift + 128 (|ma| + |mb|) below 2^31, so every bound fits. */
static __attribute__((target("avx2"))) int linear_constant(const int8_t *e, int shift, int32_t ma, int32_t mb,
                                                          int32_t min, int32_t max, int32_t *constant) {
    const __m128i count = _mm_cvtsi32_si128(shift);
    const __m256i vmin = _mm256_set1_epi32(min), vmax = _mm256_set1_epi32(max);
    const __m256i below = _mm256_set1_epi32(INT32_MIN), above = _mm256_set1_epi32(INT32_MAX);
    const __m256i unit_less_one = _mm256_set1_epi32((int32_t)((1u << shift) - 1));
    __m256i lo = below, hi = above;
    for (int b = -128; b < 128; b++) {
        const int8_t *row = e + 256 * (b + 128);
        __m256i u = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_setr_epi32(-128, -127, -126, -125, -124, -123, -122, -121),
                                                        _mm256_set1_epi32(ma)),
                                     _mm256_set1_epi32(b * mb));
        const __m256i step = _mm256_set1_epi32(8 * ma);
        for (int a = 0; a < 256; a += 8, u = _mm256_add_epi32(u, step)) {
            __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + a)));
            __m256i l = _mm256_sub_epi32(_mm256_sll_epi32(q, count), u);
            __m256i h = _mm256_add_epi32(l, unit_less_one);
            /* q above min: floor((u + C) / 2^shift) >= q; below max: <= q. */
            lo = _mm256_max_epi32(lo, _mm256_blendv_epi8(below, l, _mm256_cmpgt_epi32(q, vmin)));
            hi = _mm256_min_epi32(hi, _mm256_blendv_epi8(above, h, _mm256_cmpgt_epi32(vmax, q)));
        }
    }
    int32_t los[8], his[8];
    _mm256_storeu_si256((__m256i *)los, lo);
    _mm256_storeu_si256((__m256i *)his, hi);
    int64_t l = INT32_MIN, h = INT32_MAX;
    for (int j = 0; j < 8; j++) {
        if (los[j] > l) l = los[j];
        if (his[j] < h) h = his[j];
    }
    if (l > h) return 0;
    int64_t c = l == INT32_MIN ? h : h == INT32_MAX ? l : l + (h - l) / 2;
    /* Every sum within int32 (a bound: |a|, |b| <= 128). */
    if (128 * ((int64_t)abs(ma) + abs(mb)) + (c > 0 ? c : -c) >= ((int64_t)1 << 31)) return 0;
    *constant = (int32_t)c;
    return 1;
}
#endif

int cnnz_qs8_add_linear_prepare(int level, const cnnz_qs8_add *p, const cnnz_qs8_output *out,
                                cnnz_qs8_add_linear *form) {
#ifdef CNNZ_HAVE_AVX2
    if (level < CNNZ_INT8_AVX2 || out->table || out->bias[0] != 0) return 0;
    int8_t *e = (int8_t *)malloc(65536);
    if (!e) return 0;
    /* Every pair's byte, a row of 256 a per b. */
    int8_t a[256], b[256];
    for (int i = 0; i < 256; i++) a[i] = (int8_t)(i - 128);
    for (int row = 0; row < 256; row++) {
        for (int i = 0; i < 256; i++) b[i] = (int8_t)(row - 128);
        cnnz_qs8_add2(level, 256, a, b, p, out, e + 256 * row);
    }
    /* The slopes: requantize(x, m, s) is about x m 2^(s - 31), the term's x is d 2^left_shift. */
    double slope[2];
    for (int k = 0; k < 2; k++)
        slope[k] = ldexp((double)p->multiplier[k] * (double)out->multiplier[0],
                         p->left_shift + p->shift[k] + out->shift[0] - 62);
    static const int steps[9][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {1, 1}, {-1, 1}, {1, -1}};
    int found = 0, tried = 0;
    for (int shift = 23; shift >= 0 && !found && tried < 3; shift--) {
        double ma = nearbyint(ldexp(slope[0], shift)), mb = nearbyint(ldexp(slope[1], shift));
        /* Multipliers below 2^23 (an int16 high part), and the bounds within int32. */
        if (fabs(ma) + 1 >= ldexp(1, 23) || fabs(mb) + 1 >= ldexp(1, 23) ||
            129 * ldexp(1, shift) + 128 * (fabs(ma) + fabs(mb) + 2) >= ldexp(1, 31))
            continue;
        tried++;
        for (int s = 0; s < 9 && !found; s++) {
            int32_t ca = (int32_t)ma + steps[s][0], cb = (int32_t)mb + steps[s][1], constant;
            if (linear_constant(e, shift, ca, cb, out->min, out->max, &constant)) {
                form->multiplier[0] = ca;
                form->multiplier[1] = cb;
                form->constant = constant;
                form->shift = shift;
                form->min = out->min;
                form->max = out->max;
                found = 1;
            }
        }
    }
    free(e);
    return found;
#else
    (void)level;
    (void)p;
    (void)out;
    (void)form;
    return 0;
#endif
}

#ifdef CNNZ_HAVE_AVX2
typedef struct {
    __m256i high, low, constant;
    __m128i shift;
} linear_constants;

/* 8 values' form from their int16 pairs (a, b). */
static inline __attribute__((always_inline, target("avx2"))) __m256i linear8(__m256i pairs,
                                                                            const linear_constants *k) {
    __m256i high = _mm256_slli_epi32(_mm256_madd_epi16(pairs, k->high), 8);
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(high, _mm256_madd_epi16(pairs, k->low)), k->constant);
    return _mm256_sra_epi32(sum, k->shift);
}

static __attribute__((target("avx2"))) size_t add2_linear_avx2(size_t n, const int8_t *a, const int8_t *b,
                                                                const cnnz_qs8_add_linear *f, int8_t *c) {
    linear_constants k;
    /* Each dword: a's multiplier's part in the low word, b's in the high word (a pair's order). */
    uint32_t high[2], low[2];
    for (int j = 0; j < 2; j++) {
        high[j] = (uint32_t)(uint16_t)(int16_t)(f->multiplier[j] >> 8);
        low[j] = (uint32_t)(f->multiplier[j] & 255);
    }
    k.high = _mm256_set1_epi32((int32_t)(high[0] | high[1] << 16));
    k.low = _mm256_set1_epi32((int32_t)(low[0] | low[1] << 16));
    k.constant = _mm256_set1_epi32(f->constant);
    k.shift = _mm_cvtsi32_si128(f->shift);
    const __m256i min = _mm256_set1_epi8((char)f->min), max = _mm256_set1_epi8((char)f->max);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i + 16)));
        __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i + 16)));
        /* The unpacks work within 128-bit lanes: low holds values 0-3 | 8-11 of each 16, high
         * 4-7 | 12-15, and vpackssdw (also per lane) puts them back in order. */
        __m256i w0 = _mm256_packs_epi32(linear8(_mm256_unpacklo_epi16(a0, b0), &k),
                                        linear8(_mm256_unpackhi_epi16(a0, b0), &k));
        __m256i w1 = _mm256_packs_epi32(linear8(_mm256_unpacklo_epi16(a1, b1), &k),
                                        linear8(_mm256_unpackhi_epi16(a1, b1), &k));
        /* Lane 0: values 0-7, 16-23; lane 1: 8-15, 24-31; qwords 0, 2, 1, 3 are in order. */
        __m256i q = _mm256_permute4x64_epi64(_mm256_packs_epi16(w0, w1), 0xD8);
        q = _mm256_min_epi8(_mm256_max_epi8(q, min), max);
        _mm256_storeu_si256((__m256i *)(c + i), q);
    }
    return i;
}
#endif

void cnnz_qs8_add2_linear(int level, size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add_linear *form,
                          int8_t *c) {
    size_t i = 0;
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX2) i = add2_linear_avx2(n, a, b, form, c);
#endif
    (void)level;
    for (; i < n; i++) c[i] = linear_one(a[i], b[i], form);
}
