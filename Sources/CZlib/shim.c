// CRC-32 (zlib's polynomial, reflected) by carry-less multiplication, for loading models: zlib 1.2's
// crc32() is a table loop at about 1 GB/s, and a 3 MB model checks two CRCs of its size.
//
// The method is Gopal, Ozturk et al., "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
// Instruction" (Intel, 2009): fold four 128-bit lanes 64 bytes at a time, fold the four into one,
// then 128 -> 64 bits and a Barrett reduction to 32. The constants are x^k mod P(x) for the
// bit-reflected polynomial 0x104C11DB7 (k = 4*128+32, 4*128-32, 128+32, 128-32, 64) and
// P'(x) = x^64 / P(x), as in the paper's appendix.
#include "include/CZlib.h"

#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define CZLIB_PCLMUL __attribute__((target("pclmul,sse4.1")))

// `crc` is the register value (the complement of a finished CRC); `count` is at least 64 and a
// multiple of 16.
CZLIB_PCLMUL static uint32_t czlib_crc32_fold(uint32_t crc, const unsigned char *bytes, size_t count) {
  const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
  const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);
  const __m128i polynomial = _mm_set_epi64x(0x01f7011641, 0x01db710641);
  const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);

  __m128i x1 = _mm_loadu_si128((const __m128i *)(bytes + 0));
  __m128i x2 = _mm_loadu_si128((const __m128i *)(bytes + 16));
  __m128i x3 = _mm_loadu_si128((const __m128i *)(bytes + 32));
  __m128i x4 = _mm_loadu_si128((const __m128i *)(bytes + 48));
  x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
  bytes += 64;
  count -= 64;

  // Four independent lanes keep the multiplier busy (its latency is several cycles).
  while (count >= 64) {
    __m128i l1 = _mm_clmulepi64_si128(x1, k1k2, 0x00), h1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
    __m128i l2 = _mm_clmulepi64_si128(x2, k1k2, 0x00), h2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
    __m128i l3 = _mm_clmulepi64_si128(x3, k1k2, 0x00), h3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
    __m128i l4 = _mm_clmulepi64_si128(x4, k1k2, 0x00), h4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(l1, h1), _mm_loadu_si128((const __m128i *)(bytes + 0)));
    x2 = _mm_xor_si128(_mm_xor_si128(l2, h2), _mm_loadu_si128((const __m128i *)(bytes + 16)));
    x3 = _mm_xor_si128(_mm_xor_si128(l3, h3), _mm_loadu_si128((const __m128i *)(bytes + 32)));
    x4 = _mm_xor_si128(_mm_xor_si128(l4, h4), _mm_loadu_si128((const __m128i *)(bytes + 48)));
    bytes += 64;
    count -= 64;
  }

  // Four lanes into one, then any remaining 16-byte blocks.
  __m128i next[3] = {x2, x3, x4};
  for (int i = 0; i < 3; i++) {
    __m128i low = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), next[i]), low);
  }
  while (count >= 16) {
    __m128i low = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), _mm_loadu_si128((const __m128i *)bytes)),
                       low);
    bytes += 16;
    count -= 16;
  }

  // 128 bits to 64.
  x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
  x2 = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, low32), k5, 0x00), x2);

  // Barrett reduction to 32 bits.
  x2 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), polynomial, 0x10);
  x2 = _mm_clmulepi64_si128(_mm_and_si128(x2, low32), polynomial, 0x00);
  return (uint32_t)_mm_extract_epi32(_mm_xor_si128(x1, x2), 1);
}

int czlib_crc32_is_folded(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

uint32_t czlib_crc32(uint32_t crc, const void *bytes, size_t count) {
  const unsigned char *next = bytes;
  // Whether the CPU folds, computed on first use. Atomic (relaxed: the int is the only thing
  // shared) because threads may load models at once, and a plain int written by one thread while
  // another reads it is a data race, undefined behaviour in C11 even when both write the same
  // value (ThreadSanitizer reported it here, Tests/c/crc32_threads.c). Every thread computes the
  // same answer, so two first calls at once just both compute it.
  static atomic_int cached = -1;
  int folded = atomic_load_explicit(&cached, memory_order_relaxed);
  if (folded < 0) {
    folded = czlib_crc32_is_folded();
    atomic_store_explicit(&cached, folded, memory_order_relaxed);
  }
  if (folded && count >= 64) {
    size_t whole = count & ~(size_t)15;
    crc = ~czlib_crc32_fold(~crc, next, whole);
    next += whole;
    count -= whole;
  }
  return czlib_crc32_table(crc, next, count);
}
#else
int czlib_crc32_is_folded(void) { return 0; }

uint32_t czlib_crc32(uint32_t crc, const void *bytes, size_t count) { return czlib_crc32_table(crc, bytes, count); }
#endif

// a(x) b(x) modulo the CRC-32 polynomial, bit-reflected (x^0 is the top bit): zlib 1.2.12's multmodp.
static uint32_t czlib_multmodp(uint32_t a, uint32_t b) {
  uint32_t m = (uint32_t)1 << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = b & 1 ? (b >> 1) ^ 0xedb88320u : b >> 1;
  }
  return p;
}

uint32_t czlib_crc32_power(size_t len) {
  // x^(8 len) by squaring x^8, x^16, ...
  uint32_t square = (uint32_t)1 << 30;  // x^1
  for (int k = 0; k < 3; k++) square = czlib_multmodp(square, square);
  uint32_t power = (uint32_t)1 << 31;  // x^0
  for (size_t n = len; n != 0; n >>= 1) {
    if (n & 1) power = czlib_multmodp(square, power);
    square = czlib_multmodp(square, square);
  }
  return power;
}

uint32_t czlib_crc32_shift(uint32_t crc, uint32_t power) { return czlib_multmodp(power, crc); }

// crc(A B) = crc(A) x^(8 len2) + crc(B) (mod P).
uint32_t czlib_crc32_combine(uint32_t crc1, uint32_t crc2, size_t len2) {
  return czlib_crc32_shift(crc1, czlib_crc32_power(len2)) ^ crc2;
}

uint32_t czlib_crc32_table(uint32_t crc, const void *bytes, size_t count) {
  const unsigned char *next = bytes;
  uLong value = crc;
  // zlib takes a uInt length: feed it in chunks below 2^31.
  while (count > 0) {
    uInt chunk = count < (1u << 30) ? (uInt)count : (1u << 30);
    value = crc32(value, next, chunk);
    next += chunk;
    count -= chunk;
  }
  return (uint32_t)value;
}

// zlib's uncompress2 (same statuses and lengths), without the Adler-32 of the inflated bytes:
// the .cnnz header's CRC-32 of the payload checks them, and zlib 1.2's adler32 ran at about
// 2 GB/s, a tenth of loading a 3 MB model whose weights are stored blocks (inflated by copying).
int czlib_uncompress_unverified(unsigned char *destination, size_t *destinationLength, const unsigned char *source,
                                size_t *sourceLength) {
  const size_t most = (uInt)-1;
  size_t sourceLeft = *sourceLength, destinationLeft = *destinationLength;
  unsigned char spare[1];
  int emptyDestination = destinationLeft == 0;
  if (emptyDestination) {
    destinationLeft = 1;
    destination = spare;
  }
  z_stream stream = {0};
  stream.next_in = (Bytef *)source;
  int status = inflateInit(&stream);
  if (status != Z_OK) return status;
  inflateValidate(&stream, 0);
  stream.next_out = destination;
  do {
    if (stream.avail_out == 0) {
      stream.avail_out = (uInt)(destinationLeft > most ? most : destinationLeft);
      destinationLeft -= stream.avail_out;
    }
    if (stream.avail_in == 0) {
      stream.avail_in = (uInt)(sourceLeft > most ? most : sourceLeft);
      sourceLeft -= stream.avail_in;
    }
    status = inflate(&stream, Z_NO_FLUSH);
  } while (status == Z_OK);
  *sourceLength -= sourceLeft + stream.avail_in;
  if (!emptyDestination) {
    *destinationLength = (size_t)stream.total_out;
  } else {
    *destinationLength = 0;
    if (stream.total_out && status == Z_BUF_ERROR) destinationLeft = 1;
  }
  inflateEnd(&stream);
  if (status == Z_STREAM_END) return Z_OK;
  if (status == Z_NEED_DICT) return Z_DATA_ERROR;
  if (status == Z_BUF_ERROR && destinationLeft + stream.avail_out) return Z_DATA_ERROR;
  return status;
}
