// A shim over the system zlib for Swift. No stable API: used by the Cnnz
// target only. inflateInit/deflateInit are macros in zlib.h, so they are
// re-exported here as functions Swift can call.
#ifndef CZLIB_H
#define CZLIB_H
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

static inline int czlib_inflate_init(z_streamp stream) {
  return inflateInit(stream);
}

static inline int czlib_deflate_init(z_streamp stream, int level) {
  return deflateInit(stream, level);
}

/// The CRC-32 of `count` bytes continued from `crc` (0 to start), equal to zlib's crc32(): by
/// PCLMULQDQ folding where the CPU has it (about 10x zlib 1.2's table loop), else by zlib.
uint32_t czlib_crc32(uint32_t crc, const void *bytes, size_t count);

/// zlib's own crc32() over any length: the reference the folded path is tested against.
uint32_t czlib_crc32_table(uint32_t crc, const void *bytes, size_t count);

/// The CRC-32 of bytes A then B from A's CRC, B's CRC (each started from 0) and B's length: zlib's
/// crc32_combine, by its method since 1.2.12 (a multiplication by x^(8 len2) modulo the
/// polynomial), which older zlib computes with 32x32 bit matrices, far more work per call.
uint32_t czlib_crc32_combine(uint32_t crc1, uint32_t crc2, size_t len2);

/// The two halves of czlib_crc32_combine, for many combines over one length (a zlib stream's
/// stored blocks are mostly 65,535 bytes): czlib_crc32_combine(crc1, crc2, len2) ==
/// czlib_crc32_shift(crc1, czlib_crc32_power(len2)) ^ crc2.
uint32_t czlib_crc32_power(size_t len);
uint32_t czlib_crc32_shift(uint32_t crc, uint32_t power);

/// 1 when czlib_crc32 folds with PCLMULQDQ on this CPU.
int czlib_crc32_is_folded(void);

/// zlib's uncompress2 (the same statuses and lengths) without computing or checking the
/// stream's Adler-32, for callers that check the inflated bytes themselves.
int czlib_uncompress_unverified(unsigned char *destination, size_t *destinationLength, const unsigned char *source,
                                size_t *sourceLength);

static inline Bytef *czlib_bytef(void *pointer) { return (Bytef *)pointer; }
#endif
