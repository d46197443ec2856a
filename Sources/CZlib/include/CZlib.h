// A shim over the system zlib for Swift. No stable API: used by the Cnnz
// target only. inflateInit/deflateInit are macros in zlib.h, so they are
// re-exported here as functions Swift can call.
#ifndef CZLIB_H
#define CZLIB_H
#include <zlib.h>

static inline int czlib_inflate_init(z_streamp stream) {
  return inflateInit(stream);
}

static inline int czlib_deflate_init(z_streamp stream, int level) {
  return deflateInit(stream, level);
}

static inline Bytef *czlib_bytef(void *pointer) { return (Bytef *)pointer; }
#endif
