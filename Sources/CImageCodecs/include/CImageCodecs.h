// PNG and JPEG decoding through the system libpng and libjpeg-turbo, for the
// Cnnz target only (no stable API). Both libraries report errors by longjmp;
// every such jump lands in the C function that set it up, so nothing but a
// status and a message ever reaches Swift. Decoding is from memory, in two
// steps: the header (size and channels, so that the caller can check them
// against its caps and allocate), then the pixels into the caller's buffer.
#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What a decoder returns.
typedef enum {
  CIMG_OK = 0,
  /// Not a valid image of the format (a corrupt or truncated file).
  CIMG_ERROR_FORMAT = 1,
  /// A valid image of a kind this reader does not decode (CMYK JPEG, 12-bit JPEG).
  CIMG_ERROR_UNSUPPORTED = 2,
  /// The decoder's working memory would exceed its cap, or an allocation failed.
  CIMG_ERROR_MEMORY = 3,
  /// The caller's buffer does not match the header.
  CIMG_ERROR_ARGUMENT = 4
} cimg_status;

/// An image's size and the layout of its decoded samples.
typedef struct {
  uint32_t width;
  uint32_t height;
  /// Channels after decoding: 1 (gray) or 3 (RGB); alpha is dropped, palettes are expanded.
  uint32_t channels;
  /// 8, or 16 for 16-bit PNG (samples then big-endian, two bytes each).
  uint32_t bit_depth;
  /// On an error: a one-line message, NUL-terminated.
  char message[200];
} cimg_info;

/// Reads a PNG's header into `info`.
cimg_status cimg_png_header(const uint8_t *data, size_t size, cimg_info *info);
/// Decodes a PNG into `pixels` (height x width x channels samples of bit_depth / 8 bytes,
/// row-major); `capacity` must be exactly that many bytes, as `cimg_png_header` reported.
cimg_status cimg_png_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity, cimg_info *info);

/// Reads a JPEG's header into `info`.
cimg_status cimg_jpeg_header(const uint8_t *data, size_t size, cimg_info *info);
/// Decodes a baseline or progressive JPEG into `pixels` (8 bits per sample), as `cimg_png_decode`.
cimg_status cimg_jpeg_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity, cimg_info *info);

#ifdef __cplusplus
}
#endif
#endif
