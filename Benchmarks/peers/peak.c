/* This core's peak: float32 fused multiply-adds and int8 multiply-adds per second, from loops
 * of independent vector instructions with no memory traffic (compiled by run.sh with
 * -O2 -march=native), 256-bit and, where the CPU has them, 512-bit. Prints "fma_gflops X"
 * (2 operations per FMA lane) and "int8_gops X" (2 per int8 multiply-add), the better width of
 * each on one thread, then each width's figure. */
#include <stdio.h>
#include <time.h>
#include <immintrin.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Twelve named accumulators (an array would be kept in memory): enough independent chains
 * to cover the latency on two ports. The empty asm keeps the compiler from folding them. */
#define REPEAT12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define KEEP(v)                                                                                          \
    __asm__ volatile("" : "+v"(v##0), "+v"(v##1), "+v"(v##2), "+v"(v##3), "+v"(v##4), "+v"(v##5),          \
                     "+v"(v##6), "+v"(v##7), "+v"(v##8), "+v"(v##9), "+v"(v##10), "+v"(v##11))

/* One timing loop per vector width: TYPE, lanes (floats or bytes), SET1 to start, STEP per chain,
 * OPS per lane and step (2 for an FMA: a multiply and an add; 2 for each int8 multiply-add). */
#define PEAK_LOOP(NAME, TYPE, LANES, INIT, STEP)                                                          \
    static double NAME(long iterations) {                                                                 \
        REPEAT12(INIT)                                                                                    \
        double start = now();                                                                             \
        for (long n = 0; n < iterations; n++) {                                                           \
            REPEAT12(STEP)                                                                                \
            KEEP(v);                                                                                      \
        }                                                                                                 \
        double seconds = now() - start;                                                                   \
        TYPE sink[12] = {v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11};                               \
        __asm__ volatile("" : : "r"(sink) : "memory");                                                    \
        return (double)iterations * 12 * (LANES) * 2 / seconds / 1e9;                                     \
    }

#define INIT_F256(i) __m256 v##i = _mm256_set1_ps((float)(i) * 1e-3f);
#define STEP_F256(i) v##i = _mm256_fmadd_ps(v##i, _mm256_set1_ps(0.999999f), _mm256_set1_ps(1e-7f));
PEAK_LOOP(fma256, __m256, 8, INIT_F256, STEP_F256)

#define INIT_Q256(i) __m256i v##i = _mm256_set1_epi32(i);
#if defined(__AVXVNNI__)
#define STEP_Q256(i) v##i = _mm256_dpbusd_avx_epi32(v##i, _mm256_set1_epi8(3), _mm256_set1_epi8(-2));
#define INT8_256 "vpdpbusd ymm"
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define STEP_Q256(i) v##i = _mm256_dpbusd_epi32(v##i, _mm256_set1_epi8(3), _mm256_set1_epi8(-2));
#define INT8_256 "vpdpbusd ymm"
#else
/* The accumulator is also an operand: otherwise the products would be hoisted out of the loop. */
#define STEP_Q256(i)                                                                                      \
    v##i = _mm256_add_epi32(v##i, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(3), v##i),      \
                                                    _mm256_set1_epi16(1)));
#define INT8_256 "vpmaddubsw+vpmaddwd ymm"
#endif
PEAK_LOOP(int8_256, __m256i, 32, INIT_Q256, STEP_Q256)

#if defined(__AVX512F__)
#define INIT_F512(i) __m512 v##i = _mm512_set1_ps((float)(i) * 1e-3f);
#define STEP_F512(i) v##i = _mm512_fmadd_ps(v##i, _mm512_set1_ps(0.999999f), _mm512_set1_ps(1e-7f));
PEAK_LOOP(fma512, __m512, 16, INIT_F512, STEP_F512)
#endif
#if defined(__AVX512VNNI__)
#define INIT_Q512(i) __m512i v##i = _mm512_set1_epi32(i);
#define STEP_Q512(i) v##i = _mm512_dpbusd_epi32(v##i, _mm512_set1_epi8(3), _mm512_set1_epi8(-2));
PEAK_LOOP(int8_512, __m512i, 64, INIT_Q512, STEP_Q512)
#endif

/* The best of 40 short loops (a few milliseconds each, shorter than a scheduler time slice):
 * other tenants of a shared machine only ever slow a loop down. */
static double best_of(double (*loop)(long)) {
    double best = 0;
    for (int round = 0; round < 40; round++) {
        double value = loop(1000000);
        if (value > best) best = value;
    }
    return best;
}

int main(void) {
    double f256 = best_of(fma256), q256 = best_of(int8_256), f512 = 0, q512 = 0;
#if defined(__AVX512F__)
    f512 = best_of(fma512);
#endif
#if defined(__AVX512VNNI__)
    q512 = best_of(int8_512);
#endif
    printf("fma_gflops %.2f\nint8_gops %.2f\n", f512 > f256 ? f512 : f256, q512 > q256 ? q512 : q256);
    printf("fma256_gflops %.2f\nfma512_gflops %.2f\n", f256, f512);
    printf("int8_256_gops %.2f\nint8_512_gops %.2f\nint8_instruction %s\n", q256, q512, INT8_256);
    return 0;
}
