/*
 * cnnz_classify_image and cnnz_classify_images: encoded images from memory.
 * Every good image's scores must equal cnnz_classify_file's on the same file,
 * bit for bit, whatever the batch capacity; every bad image gets its status,
 * a NaN row and a one-line message; bad arguments (short buffers, offsets
 * out of range) are refused before anything is written.
 *
 *   test_encoded FIXTURES_DIR EXAMPLE_MODEL
 *
 * Built with -std=c99 -Wall -Wextra -Werror -pedantic by Tests/c/run.sh.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cnnz.h"

#define OUTPUTS 10
#define MAX_IMAGES 16

/* The images, back to back in one buffer, as cnnz_classify_images takes them. */
static unsigned char data[1 << 20];
static size_t offsets[MAX_IMAGES + 1];
static const char *paths[MAX_IMAGES]; /* NULL for bytes that are not a file */
static size_t count = 0;

static void add_bytes(const char *path, const unsigned char *bytes, size_t size) {
  if (offsets[count] + size > sizeof data || count == MAX_IMAGES) {
    fprintf(stderr, "test_encoded: too many test images\n");
    exit(1);
  }
  memcpy(data + offsets[count], bytes, size);
  paths[count] = path;
  offsets[count + 1] = offsets[count] + size;
  count++;
}

/* Appends a file; with `keep` below its size, only its first `keep` bytes (and no path to compare with). */
static void add_file(const char *fixtures, const char *name, size_t keep) {
  static char names[MAX_IMAGES][4096];
  snprintf(names[count], sizeof names[count], "%s/%s", fixtures, name);
  FILE *file = fopen(names[count], "rb");
  if (file == NULL) {
    fprintf(stderr, "test_encoded: cannot open %s\n", names[count]);
    exit(1);
  }
  unsigned char *bytes = malloc(1 << 20);
  size_t size = fread(bytes, 1, 1 << 20, file);
  fclose(file);
  add_bytes(keep < size ? NULL : names[count], bytes, keep < size ? keep : size);
  free(bytes);
}

static int same_bits(const float *a, const float *b) { return memcmp(a, b, OUTPUTS * sizeof(float)) == 0; }

static int is_nan_row(const float *row) {
  for (int k = 0; k < OUTPUTS; k++) if (!isnan(row[k])) return 0;
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_encoded FIXTURES_DIR EXAMPLE_MODEL\n");
    return 2;
  }
  const char *fixtures = argv[1];
  cnnz_model *model;
  CHECK_STATUS(cnnz_model_load(argv[2], &model), CNNZ_OK);
  CHECK(cnnz_model_output_size(model) == OUTPUTS);

  /* Good images of every format (one RGB, one 16-bit, one of another size), and bad ones between them. */
  add_file(fixtures, "images/examples/bag.png", SIZE_MAX);
  add_file(fixtures, "images/examples/bag.jpg", SIZE_MAX);
  add_bytes(NULL, (const unsigned char *)"not an image", 12); /* 2: FORMAT, the first failure */
  add_file(fixtures, "images/examples/bag.pillow.pgm", SIZE_MAX);
  add_file(fixtures, "images/jpeg-rgb-420.jpg", SIZE_MAX);
  add_bytes(NULL, (const unsigned char *)"", 0); /* 5: empty */
  add_file(fixtures, "images/gray16.png", SIZE_MAX);
  add_file(fixtures, "images/jpeg-cmyk.jpg", SIZE_MAX);          /* 7: UNSUPPORTED */
  add_file(fixtures, "images/examples/coat.png", 100);            /* 8: truncated PNG */
  add_file(fixtures, "images/palette2-interlaced.png", SIZE_MAX);
  add_file(fixtures, "images/examples/coat.pillow.pgm", 30);      /* 10: truncated Netpbm */
  add_file(fixtures, "images/examples/dress.jpg", SIZE_MAX);
  const cnnz_status expected[] = {CNNZ_OK, CNNZ_OK, CNNZ_ERROR_FORMAT, CNNZ_OK, CNNZ_OK, CNNZ_ERROR_FORMAT,
                                  CNNZ_OK, CNNZ_ERROR_UNSUPPORTED, CNNZ_ERROR_FORMAT, CNNZ_OK, CNNZ_ERROR_FORMAT,
                                  CNNZ_OK};
  CHECK(count == sizeof expected / sizeof expected[0]);

  /* What cnnz_classify_file says for each good image. */
  cnnz_session *single;
  CHECK_STATUS(cnnz_session_create(model, &single), CNNZ_OK);
  static float reference[MAX_IMAGES][OUTPUTS];
  for (size_t i = 0; i < count; i++) {
    if (expected[i] == CNNZ_OK) CHECK_STATUS(cnnz_classify_file(single, paths[i], reference[i], OUTPUTS), CNNZ_OK);
  }

  /* The batch, through sessions of capacity 1, 3 (passes of 3, 3, 3 and a short one) and 16. */
  const size_t capacities[] = {1, 3, 16};
  for (size_t c = 0; c < 3; c++) {
    cnnz_session *session;
    CHECK_STATUS(cnnz_session_create_with(model, capacities[c], 1, &session), CNNZ_OK);
    static float output[MAX_IMAGES][OUTPUTS];
    cnnz_status statuses[MAX_IMAGES];
    CHECK_STATUS(cnnz_classify_images(session, data, offsets[count], offsets, count, &output[0][0],
                                      count * OUTPUTS, statuses),
                 CNNZ_ERROR_FORMAT);
    CHECK(strncmp(cnnz_last_error(), "image 2: unknown image format", 29) == 0);
    CHECK(strchr(cnnz_last_error(), '\n') == NULL);
    for (size_t i = 0; i < count; i++) {
      CHECK(statuses[i] == expected[i]);
      if (expected[i] == CNNZ_OK) {
        if (!same_bits(output[i], reference[i])) {
          fprintf(stderr, "capacity %zu, image %zu (%s): scores differ from cnnz_classify_file's\n", capacities[c],
                  i, paths[i]);
          failures++;
        }
      } else {
        CHECK(is_nan_row(output[i]));
      }
    }
    /* statuses may be NULL; a slice of the buffer (offsets[0] > 0) with only good images is CNNZ_OK. */
    CHECK_STATUS(cnnz_classify_images(session, data, offsets[count], offsets, count, &output[0][0],
                                      count * OUTPUTS, NULL),
                 CNNZ_ERROR_FORMAT);
    CHECK_STATUS(cnnz_classify_images(session, data, offsets[count], offsets + 3, 2, &output[0][0], 2 * OUTPUTS,
                                      statuses),
                 CNNZ_OK);
    CHECK(same_bits(output[0], reference[3]) && same_bits(output[1], reference[4]));
    cnnz_session_free(session);
  }

  /* One image: the same scores as the file; bad bytes are one line. */
  float scores[OUTPUTS];
  CHECK_STATUS(cnnz_classify_image(single, data + offsets[1], offsets[2] - offsets[1], scores, OUTPUTS), CNNZ_OK);
  CHECK(same_bits(scores, reference[1]));
  CHECK_STATUS(cnnz_classify_image(single, "P5\n28 28\n255\n", 13, scores, OUTPUTS), CNNZ_ERROR_FORMAT);
  CHECK(strstr(cnnz_last_error(), "needs 784 bytes of samples") != NULL);
  CHECK(strchr(cnnz_last_error(), '\n') == NULL);
  CHECK_STATUS(cnnz_classify_image(single, "GIF89a", 6, scores, OUTPUTS), CNNZ_ERROR_FORMAT);
  CHECK(strstr(cnnz_last_error(), "looks like a GIF image") != NULL);
  CHECK_STATUS(cnnz_classify_image(single, NULL, 0, scores, OUTPUTS), CNNZ_ERROR_FORMAT);
  CHECK(strstr(cnnz_last_error(), "the image is empty (0 bytes)") != NULL);
  CHECK_STATUS(cnnz_classify_image(single, data + offsets[7], offsets[8] - offsets[7], scores, OUTPUTS),
               CNNZ_ERROR_UNSUPPORTED);
  CHECK_STATUS(cnnz_classify_image(single, NULL, 10, scores, OUTPUTS), CNNZ_ERROR_ARGUMENT);

  /* image_size_memory: the size cnnz_classify_image sees (as cnnz_image_size for the file), and its errors. */
  int32_t width = 0, height = 0, channels = 0, file_width = 0, file_height = 0, file_channels = 0;
  for (size_t i = 0; i < count; i++) {
    if (expected[i] != CNNZ_OK) continue;
    CHECK_STATUS(cnnz_image_size_memory(data + offsets[i], offsets[i + 1] - offsets[i], &width, &height, &channels),
                 CNNZ_OK);
    CHECK_STATUS(cnnz_image_size(paths[i], &file_width, &file_height, &file_channels), CNNZ_OK);
    CHECK(width == file_width && height == file_height && channels == file_channels);
  }
  CHECK_STATUS(cnnz_image_size_memory(data + offsets[1], offsets[2] - offsets[1], NULL, NULL, NULL), CNNZ_OK);
  CHECK_STATUS(cnnz_image_size_memory("GIF89a", 6, &width, NULL, NULL), CNNZ_ERROR_FORMAT);
  CHECK(strstr(cnnz_last_error(), "looks like a GIF image") != NULL);
  CHECK_STATUS(cnnz_image_size_memory(NULL, 0, &width, NULL, NULL), CNNZ_ERROR_FORMAT);
  CHECK_STATUS(cnnz_image_size_memory(NULL, 10, &width, NULL, NULL), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_image_size_memory(data + offsets[7], offsets[8] - offsets[7], &width, NULL, NULL),
               CNNZ_ERROR_UNSUPPORTED);
  CHECK_STATUS(cnnz_classify_image(single, data, offsets[1], scores, OUTPUTS - 1), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_classify_image(single, data, offsets[1], NULL, OUTPUTS), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_classify_image(NULL, data, offsets[1], scores, OUTPUTS), CNNZ_ERROR_ARGUMENT);

  /* Bad arguments are refused before anything is decoded or written. */
  static float untouched[MAX_IMAGES][OUTPUTS];
  for (size_t i = 0; i < MAX_IMAGES; i++) for (int k = 0; k < OUTPUTS; k++) untouched[i][k] = 42.0f;
  cnnz_status statuses[MAX_IMAGES];
  for (size_t i = 0; i < MAX_IMAGES; i++) statuses[i] = (cnnz_status)99;
  float *out = &untouched[0][0];
  /* data_size shorter than the last offset: a short buffer. */
  CHECK_STATUS(cnnz_classify_images(single, data, offsets[count] - 1, offsets, count, out, count * OUTPUTS, statuses),
               CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "outside the") != NULL);
  /* output shorter than count x outputs. */
  CHECK_STATUS(cnnz_classify_images(single, data, offsets[count], offsets, count, out, count * OUTPUTS - 1, statuses),
               CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "output capacity") != NULL);
  size_t backwards[3] = {0, offsets[2], offsets[1]};
  CHECK_STATUS(cnnz_classify_images(single, data, offsets[count], backwards, 2, out, 2 * OUTPUTS, statuses),
               CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "image 1 spans") != NULL);
  CHECK_STATUS(cnnz_classify_images(single, data, offsets[count], offsets, 0, out, 0, statuses), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_classify_images(single, data, offsets[count], offsets, SIZE_MAX, out, SIZE_MAX, statuses),
               CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_classify_images(single, data, offsets[count], NULL, count, out, count * OUTPUTS, statuses),
               CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_classify_images(single, NULL, offsets[count], offsets, count, out, count * OUTPUTS, statuses),
               CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_classify_images(single, data, offsets[count], offsets, count, NULL, count * OUTPUTS, statuses),
               CNNZ_ERROR_ARGUMENT);
  for (size_t i = 0; i < MAX_IMAGES; i++) {
    CHECK(statuses[i] == (cnnz_status)99);
    for (int k = 0; k < OUTPUTS; k++) CHECK(untouched[i][k] == 42.0f);
  }
  /* Empty images with no data at all are images that fail, not bad arguments. */
  size_t empty[3] = {0, 0, 0};
  CHECK_STATUS(cnnz_classify_images(single, NULL, 0, empty, 2, out, 2 * OUTPUTS, statuses), CNNZ_ERROR_FORMAT);
  CHECK(statuses[0] == CNNZ_ERROR_FORMAT && statuses[1] == CNNZ_ERROR_FORMAT);
  CHECK(strncmp(cnnz_last_error(), "image 0: the image is empty", 27) == 0);

  /* A freed session is refused. */
  cnnz_session_free(single);
  CHECK_STATUS(cnnz_classify_images(single, data, offsets[count], offsets, count, out, count * OUTPUTS, statuses),
               CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_classify_image(single, data, offsets[1], scores, OUTPUTS), CNNZ_ERROR_ARGUMENT);
  cnnz_model_free(model);

  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("test_encoded: %zu images in memory, equal to cnnz_classify_file bit for bit\n", count);
  return 0;
}
