/* Int8 global pooling's reduction over the pixels, per channel (cnnz_qs8_channel_reduce, see
 * include/CInt8Kernels.h): AVX-512, AVX2 or plain C.
 *
 * The pixels are rows of `channels` bytes, so the vectors run along the channels and the loop
 * over the pixels adds (or takes the maximum) into accumulators kept in registers: 64 channels a
 * block with AVX-512 (four int32 vectors of sums, or one byte vector of maxima), 32 with AVX2.
 * The maximum of int8 values is one of them, so it is taken on the bytes and widened once. Sums
 * wrap in int32 as the plain loop's. mobile_res's 6x6x256 average: 1.8 us -> see the README. */
#include "int8_avx512.h"

#ifdef CNNZ_HAVE_AVX2

static CNNZ_AVX512 void reduce_avx512(size_t pixels, size_t channels, const int8_t *x, int is_max, int32_t *acc) {
    for (size_t j = 0; j < channels; j += 64) {
        size_t width = channels - j < 64 ? channels - j : 64;
        __mmask64 lanes = width == 64 ? ~(__mmask64)0 : (((__mmask64)1 << width) - 1);
        const int8_t *column = x + j;
        if (is_max) {
            __m512i m = _mm512_set1_epi8(-128);
            for (size_t p = 0; p < pixels; p++, column += channels)
                m = _mm512_max_epi8(m, _mm512_maskz_loadu_epi8(lanes, column));
            __m128i parts[4] = {_mm512_castsi512_si128(m), _mm512_extracti32x4_epi32(m, 1),
                                _mm512_extracti32x4_epi32(m, 2), _mm512_extracti32x4_epi32(m, 3)};
            for (size_t k = 0; k < width; k += 16) {
                __mmask16 part = (__mmask16)(width - k >= 16 ? 0xFFFF : (1u << (width - k)) - 1);
                _mm512_mask_storeu_epi32(acc + j + k, part, _mm512_cvtepi8_epi32(parts[k / 16]));
            }
            continue;
        }
        /* In int16 over runs of up to 256 pixels (|sum| <= 128 * 256 = 2^15: -32768 fits, and
         * 127 * 256 does), then into int32: two widenings a pixel instead of four. */
        __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t start = 0; start < pixels; start += 256) {
            size_t end = pixels - start < 256 ? pixels : start + 256;
            __m512i h0 = _mm512_setzero_si512(), h1 = h0;
            for (size_t p = start; p < end; p++, column += channels) {
                __m512i bytes = _mm512_maskz_loadu_epi8(lanes, column);
                h0 = _mm512_add_epi16(h0, _mm512_cvtepi8_epi16(_mm512_castsi512_si256(bytes)));
                h1 = _mm512_add_epi16(h1, _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(bytes, 1)));
            }
            s0 = _mm512_add_epi32(s0, _mm512_cvtepi16_epi32(_mm512_castsi512_si256(h0)));
            s1 = _mm512_add_epi32(s1, _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(h0, 1)));
            s2 = _mm512_add_epi32(s2, _mm512_cvtepi16_epi32(_mm512_castsi512_si256(h1)));
            s3 = _mm512_add_epi32(s3, _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(h1, 1)));
        }
        __m512i sums[4] = {s0, s1, s2, s3};
        for (size_t k = 0; k < width; k += 16) {
            __mmask16 part = (__mmask16)(width - k >= 16 ? 0xFFFF : (1u << (width - k)) - 1);
            _mm512_mask_storeu_epi32(acc + j + k, part, sums[k / 16]);
        }
    }
}

static __attribute__((target("avx2"))) size_t reduce_avx2(size_t pixels, size_t channels, const int8_t *x,
                                                          int is_max, int32_t *acc) {
    size_t j = 0;
    for (; j + 32 <= channels; j += 32) {
        const int8_t *column = x + j;
        if (is_max) {
            __m256i m = _mm256_set1_epi8(-128);
            for (size_t p = 0; p < pixels; p++, column += channels)
                m = _mm256_max_epi8(m, _mm256_loadu_si256((const __m256i *)column));
            __m128i low = _mm256_castsi256_si128(m), high = _mm256_extracti128_si256(m, 1);
            _mm256_storeu_si256((__m256i *)(acc + j), _mm256_cvtepi8_epi32(low));
            _mm256_storeu_si256((__m256i *)(acc + j + 8), _mm256_cvtepi8_epi32(_mm_srli_si128(low, 8)));
            _mm256_storeu_si256((__m256i *)(acc + j + 16), _mm256_cvtepi8_epi32(high));
            _mm256_storeu_si256((__m256i *)(acc + j + 24), _mm256_cvtepi8_epi32(_mm_srli_si128(high, 8)));
            continue;
        }
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t p = 0; p < pixels; p++, column += channels) {
            s0 = _mm256_add_epi32(s0, _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)column)));
            s1 = _mm256_add_epi32(s1, _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(column + 8))));
            s2 = _mm256_add_epi32(s2, _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(column + 16))));
            s3 = _mm256_add_epi32(s3, _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(column + 24))));
        }
        _mm256_storeu_si256((__m256i *)(acc + j), s0);
        _mm256_storeu_si256((__m256i *)(acc + j + 8), s1);
        _mm256_storeu_si256((__m256i *)(acc + j + 16), s2);
        _mm256_storeu_si256((__m256i *)(acc + j + 24), s3);
    }
    return j;
}
#endif

/* Channels first..<channels, plain C. */
static void reduce_portable(size_t first, size_t pixels, size_t channels, const int8_t *x, int is_max,
                            int32_t *acc) {
    for (size_t j = first; j < channels; j++) acc[j] = is_max ? -128 : 0;
    for (size_t p = 0; p < pixels; p++) {
        const int8_t *row = x + p * channels;
        if (is_max) {
            for (size_t j = first; j < channels; j++) acc[j] = row[j] > acc[j] ? row[j] : acc[j];
        } else {
            for (size_t j = first; j < channels; j++) acc[j] = (int32_t)((uint32_t)acc[j] + (uint32_t)row[j]);
        }
    }
}

void cnnz_qs8_channel_reduce(int level, size_t pixels, size_t channels, const int8_t *x, int is_max, int32_t *acc) {
    size_t first = 0;
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX512) {
        reduce_avx512(pixels, channels, x, is_max, acc);
        return;
    }
    if (level >= CNNZ_INT8_AVX2) first = reduce_avx2(pixels, channels, x, is_max, acc);
#endif
    (void)level;
    reduce_portable(first, pixels, channels, x, is_max, acc);
}
