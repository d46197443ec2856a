// PNG through libpng, from memory. libpng reports errors by calling the error
// function below, which longjmps back into cimg_png_run: no jump leaves this file.
#include <png.h>
#include <setjmp.h>
#include <string.h>

#include "CImageCodecs.h"
#include "message.h"

typedef struct {
  const uint8_t *data;
  size_t size;
  size_t offset;
  cimg_info *info;
  /// The last warning: libpng warns what is wrong in a header, then fails with "Invalid IHDR data".
  char warning[120];
} png_source;

static void cimg_png_read(png_structp png, png_bytep out, size_t count) {
  png_source *source = (png_source *)png_get_io_ptr(png);
  // All bytes were given at the start: needing more means the file is cut short.
  if (count > source->size - source->offset) png_error(png, "the file ends early (truncated)");
  memcpy(out, source->data + source->offset, count);
  source->offset += count;
}

static void cimg_png_error(png_structp png, png_const_charp message) {
  png_source *source = (png_source *)png_get_error_ptr(png);
  if (source->warning[0] != '\0' && strstr(message, "IHDR") != NULL) {
    char text[sizeof source->info->message];
    snprintf(text, sizeof text, "%s (%s)", message, source->warning);
    cimg_set_message(source->info, "PNG", text);
  } else {
    cimg_set_message(source->info, "PNG", message);
  }
  png_longjmp(png, 1);
}

// Warnings (a bad ancillary chunk CRC, say) are not errors, and libpng would print them on stderr:
// the last one is kept for the error message.
static void cimg_png_warning(png_structp png, png_const_charp message) {
  png_source *source = (png_source *)png_get_error_ptr(png);
  snprintf(source->warning, sizeof source->warning, "%s", message);
}

/// Channels (1 or 3) and bits per sample (8 or 16) after the transforms set in cimg_png_run.
static void cimg_png_layout(png_structp png, png_infop info, cimg_info *out) {
  int color = png_get_color_type(png, info);
  out->width = png_get_image_width(png, info);
  out->height = png_get_image_height(png, info);
  out->channels = (color & PNG_COLOR_MASK_COLOR) != 0 ? 3 : 1;
  out->bit_depth = png_get_bit_depth(png, info) == 16 ? 16 : 8;
}

/// Reads the header and, when `pixels` is not NULL, the image.
static cimg_status cimg_png_run(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity, cimg_info *out) {
  png_source source;
  png_structp png;
  png_infop volatile info = NULL;
  memset(out, 0, sizeof *out);
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    cimg_set_message(out, "PNG", "not a PNG file (bad signature)");
    return CIMG_ERROR_FORMAT;
  }
  source.data = data;
  source.size = size;
  source.offset = 0;
  source.info = out;
  source.warning[0] = '\0';
  png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, cimg_png_error, cimg_png_warning);
  if (png == NULL) {
    cimg_set_message(out, "PNG", "out of memory");
    return CIMG_ERROR_MEMORY;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_infop end = info;
    png_destroy_read_struct(&png, &end, NULL);
    return CIMG_ERROR_FORMAT;
  }
  info = png_create_info_struct(png);
  if (info == NULL) png_error(png, "out of memory");
  png_set_read_fn(png, &source, cimg_png_read);
  // The caller checks the size against its own caps; libpng's defaults would refuse first with another message.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  // Only IHDR, PLTE, tRNS, IDAT and IEND are read: text, ICC profiles and the rest are skipped unparsed.
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
#ifdef CNNZ_FUZZING
  // Lets the fuzzer's mutations past the checksums; never in the product.
  png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
  png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
  png_read_info(png, info);
  cimg_png_layout(png, info, out);
  if (pixels == NULL) {
    png_infop end = info;
    png_destroy_read_struct(&png, &end, NULL);
    return CIMG_OK;
  }
  {
    uint32_t y;
    int pass, passes;
    size_t row_bytes = (size_t)out->width * out->channels * (out->bit_depth / 8);
    if (capacity / out->height != row_bytes || capacity % out->height != 0) {
      png_infop end = info;
      png_destroy_read_struct(&png, &end, NULL);
      cimg_set_message(out, "PNG", "the pixel buffer does not match the header");
      return CIMG_ERROR_ARGUMENT;
    }
    // Palette to RGB, 1, 2 and 4-bit gray to 8 bits (exact: 255 / (2^bits - 1) is an integer),
    // alpha dropped (tRNS is not expanded); 16-bit samples stay big-endian.
    if (png_get_color_type(png, info) == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_alpha(png);
    passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != out->channels || png_get_rowbytes(png, info) != row_bytes) {
      png_error(png, "unexpected layout after expansion");
    }
    // Every sample is written: by its row, or for interlaced images by one of the passes, each of which
    // fills its pixels of every row in place. (The buffer is not cleared first: a huge image in a
    // truncated file then costs only the pages actually decoded.)
    for (pass = 0; pass < passes; pass++) {
      for (y = 0; y < out->height; y++) png_read_row(png, pixels + (size_t)y * row_bytes, NULL);
    }
  }
  {
    png_infop end = info;
    png_destroy_read_struct(&png, &end, NULL);
  }
  return CIMG_OK;
}

cimg_status cimg_png_header(const uint8_t *data, size_t size, cimg_info *info) {
  return cimg_png_run(data, size, NULL, 0, info);
}

cimg_status cimg_png_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity, cimg_info *info) {
  if (pixels == NULL) {
    memset(info, 0, sizeof *info);
    cimg_set_message(info, "PNG", "no pixel buffer");
    return CIMG_ERROR_ARGUMENT;
  }
  return cimg_png_run(data, size, pixels, capacity, info);
}
