/* This core's peak: float32 fused multiply-adds and int8 multiply-adds per second, from loops
 * of independent vector instructions with no memory traffic (compiled by run.sh with
 * -O2 -march=native). Prints two lines: "fma_gflops X" (2 operations per FMA lane) and
 * "int8_gops X" (2 operations per int8 multiply-add), one thread each. */
#include <stdio.h>
#include <time.h>
#include <immintrin.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Twelve named accumulators (an array would be kept in memory): enough independent chains
 * to cover the FMA latency on two ports. The empty asm keeps the compiler from folding them. */
#define REPEAT12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define KEEP(v)                                                                                          \
    __asm__ volatile("" : "+x"(v##0), "+x"(v##1), "+x"(v##2), "+x"(v##3), "+x"(v##4), "+x"(v##5),          \
                     "+x"(v##6), "+x"(v##7), "+x"(v##8), "+x"(v##9), "+x"(v##10), "+x"(v##11))

static double fma_peak(long iterations) {
#define DECLARE_F(i) __m256 f##i = _mm256_set1_ps((float)(i) * 1e-3f);
    REPEAT12(DECLARE_F)
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    double start = now();
    for (long n = 0; n < iterations; n++) {
#define STEP_F(i) f##i = _mm256_fmadd_ps(f##i, a, b);
        REPEAT12(STEP_F)
        KEEP(f);
    }
    double seconds = now() - start;
    float sink[8];
    __m256 sum = _mm256_setzero_ps();
#define SUM_F(i) sum = _mm256_add_ps(sum, f##i);
    REPEAT12(SUM_F)
    _mm256_storeu_ps(sink, sum);
    if (sink[0] == 12345.f) puts("");
    return (double)iterations * 12 * 8 * 2 / seconds / 1e9;
}

/* int8: VNNI's vpdpbusd (4 multiply-adds per 32-bit lane) where the CPU has it, else AVX2's
 * vpmaddubsw + vpmaddwd + vpaddd (the sequence int8 GEMMs use without VNNI). */
static double int8_peak(long iterations) {
#define DECLARE_Q(i) __m256i q##i = _mm256_set1_epi32(i);
    REPEAT12(DECLARE_Q)
    const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
#if defined(__AVXVNNI__)
#define STEP_Q(i) q##i = _mm256_dpbusd_avx_epi32(q##i, a, b);
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define STEP_Q(i) q##i = _mm256_dpbusd_epi32(q##i, a, b);
#else
    /* The accumulator is also an operand: otherwise the products would be hoisted out of the loop. */
    const __m256i ones = _mm256_set1_epi16(1);
    (void)b;
#define STEP_Q(i) q##i = _mm256_add_epi32(q##i, _mm256_madd_epi16(_mm256_maddubs_epi16(a, q##i), ones));
#endif
    double start = now();
    for (long n = 0; n < iterations; n++) {
        REPEAT12(STEP_Q)
        KEEP(q);
    }
    double seconds = now() - start;
    int sink[8];
    __m256i sum = _mm256_setzero_si256();
#define SUM_Q(i) sum = _mm256_add_epi32(sum, q##i);
    REPEAT12(SUM_Q)
    _mm256_storeu_si256((__m256i *)sink, sum);
    if (sink[0] == 12345) puts("");
    return (double)iterations * 12 * 32 * 2 / seconds / 1e9;
}

int main(void) {
    double best_fma = 0, best_int8 = 0;
    for (int round = 0; round < 5; round++) { /* the best of five: other tenants only slow it down */
        double f = fma_peak(20000000), q = int8_peak(20000000);
        if (f > best_fma) best_fma = f;
        if (q > best_int8) best_int8 = q;
    }
#if defined(__AVXVNNI__) || defined(__AVX512VNNI__) && defined(__AVX512VL__)
    const char *int8_kind = "vpdpbusd";
#else
    const char *int8_kind = "vpmaddubsw+vpmaddwd";
#endif
    printf("fma_gflops %.2f\nint8_gops %.2f\nint8_instruction %s\n", best_fma, best_int8, int8_kind);
    return 0;
}
