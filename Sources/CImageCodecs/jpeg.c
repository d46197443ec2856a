// JPEG through libjpeg-turbo, from memory. libjpeg reports errors through
// error_exit, which longjmps back into cimg_jpeg_run: no jump leaves this file.
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
/* After jpeglib.h, which it needs: the message codes. */
#include <jerror.h>

#include "CImageCodecs.h"
#include "message.h"

/// A progressive JPEG has about ten scans; thousands make decoding slow without making a better image.
#define CIMG_JPEG_MAX_SCANS 1000
/// libjpeg's working memory (a progressive image's coefficients take 2 bytes per sample, 3 x 2^26 samples at most).
#define CIMG_JPEG_MAX_MEMORY (640L << 20)

typedef struct {
  struct jpeg_error_mgr manager; /* first: libjpeg sees only this part */
  jmp_buf jump;
  cimg_info *info;
  cimg_status status;
} cimg_jpeg_failure;

static void cimg_jpeg_fail(j_common_ptr cinfo, cimg_status status, const char *message) {
  cimg_jpeg_failure *failure = (cimg_jpeg_failure *)cinfo->err;
  cimg_set_message(failure->info, "JPEG", message);
  failure->status = status;
  longjmp(failure->jump, 1);
}

static void cimg_jpeg_error_exit(j_common_ptr cinfo) {
  char text[JMSG_LENGTH_MAX];
  int code = cinfo->err->msg_code;
  if (code == JERR_NO_BACKING_STORE) {
    /* libjpeg's way of saying that max_memory_to_use is exceeded. */
    cimg_jpeg_fail(cinfo, CIMG_ERROR_MEMORY, "decoding needs more than the 640 MiB working-memory cap");
  }
  (*cinfo->err->format_message)(cinfo, text);
  if (code == JERR_OUT_OF_MEMORY) cimg_jpeg_fail(cinfo, CIMG_ERROR_MEMORY, text);
  /* Valid JPEGs of kinds an 8-bit libjpeg does not decode: 12-bit samples, lossless and hierarchical processes. */
  if (code == JERR_BAD_PRECISION || code == JERR_SOF_UNSUPPORTED) cimg_jpeg_fail(cinfo, CIMG_ERROR_UNSUPPORTED, text);
  cimg_jpeg_fail(cinfo, CIMG_ERROR_FORMAT, text);
}

// Warnings ("corrupt JPEG data: extraneous bytes") and traces: libjpeg would print them on stderr.
static void cimg_jpeg_emit_message(j_common_ptr cinfo, int level) {
  (void)cinfo;
  (void)level;
}

static void cimg_jpeg_progress(j_common_ptr cinfo) {
  if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > CIMG_JPEG_MAX_SCANS) {
    char text[80];
    snprintf(text, sizeof text, "more than %d scans", CIMG_JPEG_MAX_SCANS);
    cimg_jpeg_fail(cinfo, CIMG_ERROR_FORMAT, text);
  }
}

static void cimg_jpeg_source_init(j_decompress_ptr cinfo) { (void)cinfo; }

// All bytes were given at the start: needing more means the file is cut short.
static boolean cimg_jpeg_source_fill(j_decompress_ptr cinfo) {
  cimg_jpeg_fail((j_common_ptr)cinfo, CIMG_ERROR_FORMAT, "the file ends early (truncated)");
  return FALSE;
}

static void cimg_jpeg_source_skip(j_decompress_ptr cinfo, long count) {
  struct jpeg_source_mgr *source = cinfo->src;
  if (count <= 0) return;
  if ((unsigned long)count > source->bytes_in_buffer) cimg_jpeg_source_fill(cinfo);
  source->next_input_byte += count;
  source->bytes_in_buffer -= (size_t)count;
}

static void cimg_jpeg_source_term(j_decompress_ptr cinfo) { (void)cinfo; }

/// Reads the header and, when `pixels` is not NULL, the image.
static cimg_status cimg_jpeg_run(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity, cimg_info *out) {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_source_mgr source;
  struct jpeg_progress_mgr progress;
  cimg_jpeg_failure failure;
  memset(out, 0, sizeof *out);
  memset(&cinfo, 0, sizeof cinfo);
  if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
    cimg_set_message(out, "JPEG", "not a JPEG file (bad signature)");
    return CIMG_ERROR_FORMAT;
  }
  cinfo.err = jpeg_std_error(&failure.manager);
  failure.manager.error_exit = cimg_jpeg_error_exit;
  failure.manager.emit_message = cimg_jpeg_emit_message;
  failure.info = out;
  failure.status = CIMG_ERROR_FORMAT;
  if (setjmp(failure.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return failure.status;
  }
  jpeg_create_decompress(&cinfo);
  cinfo.mem->max_memory_to_use = CIMG_JPEG_MAX_MEMORY;
  source.next_input_byte = data;
  source.bytes_in_buffer = size;
  source.init_source = cimg_jpeg_source_init;
  source.fill_input_buffer = cimg_jpeg_source_fill;
  source.skip_input_data = cimg_jpeg_source_skip;
  source.resync_to_restart = jpeg_resync_to_restart;
  source.term_source = cimg_jpeg_source_term;
  cinfo.src = &source;
  memset(&progress, 0, sizeof progress);
  progress.progress_monitor = cimg_jpeg_progress;
  cinfo.progress = &progress;
  jpeg_read_header(&cinfo, TRUE);
  out->width = cinfo.image_width;
  out->height = cinfo.image_height;
  out->bit_depth = 8;
  if (cinfo.num_components == 1 && cinfo.jpeg_color_space == JCS_GRAYSCALE) {
    out->channels = 1;
    cinfo.out_color_space = JCS_GRAYSCALE;
  } else if (cinfo.num_components == 3 && (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB)) {
    out->channels = 3;
    cinfo.out_color_space = JCS_RGB;
  } else {
    char text[120];
    snprintf(text, sizeof text, "%d-component images (CMYK, YCCK) are not read, only gray and RGB",
             cinfo.num_components);
    cimg_jpeg_fail((j_common_ptr)&cinfo, CIMG_ERROR_UNSUPPORTED, text);
  }
  if (pixels != NULL) {
    size_t row_bytes = (size_t)out->width * out->channels;
    if (capacity / out->height != row_bytes || capacity % out->height != 0) {
      cimg_jpeg_fail((j_common_ptr)&cinfo, CIMG_ERROR_ARGUMENT, "the pixel buffer does not match the header");
    }
    // libjpeg's defaults, as Pillow and djpeg use them: accurate integer IDCT, smooth chroma upsampling.
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width != out->width || cinfo.output_height != out->height ||
        (uint32_t)cinfo.output_components != out->channels) {
      cimg_jpeg_fail((j_common_ptr)&cinfo, CIMG_ERROR_FORMAT, "unexpected output layout");
    }
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = pixels + (size_t)cinfo.output_scanline * row_bytes;
      if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
        cimg_jpeg_fail((j_common_ptr)&cinfo, CIMG_ERROR_FORMAT, "the decoder stopped early");
      }
    }
    // What follows the last scan (normally just the end marker) is not needed.
  }
  jpeg_destroy_decompress(&cinfo);
  return CIMG_OK;
}

cimg_status cimg_jpeg_header(const uint8_t *data, size_t size, cimg_info *info) {
  return cimg_jpeg_run(data, size, NULL, 0, info);
}

cimg_status cimg_jpeg_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity, cimg_info *info) {
  if (pixels == NULL) {
    memset(info, 0, sizeof *info);
    cimg_set_message(info, "JPEG", "no pixel buffer");
    return CIMG_ERROR_ARGUMENT;
  }
  return cimg_jpeg_run(data, size, pixels, capacity, info);
}
