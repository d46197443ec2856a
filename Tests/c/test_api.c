/*
 * Exercises every function of include/cnnz.h, every status it documents, and
 * the misuse it promises to survive. Checks outputs against the golden
 * examples' expected values (the same files the Swift tests use).
 *
 *   test_api FIXTURES_DIR WORK_DIR EXAMPLE_MODEL EXAMPLE_IMAGE
 *
 * WORK_DIR holds tiny.cnnz and tiny-graph.cnnz converted from the fixtures.
 * Built with -std=c99 -Wall -Wextra -Werror -pedantic by Tests/c/run.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "cnnz.h"

static char path_buffer[4096];
static const char *join(const char *dir, const char *name) {
  snprintf(path_buffer, sizeof path_buffer, "%s/%s", dir, name);
  return path_buffer;
}

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long length = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc((size_t)length + 1);
  *size = fread(data, 1, (size_t)length, f);
  fclose(f);
  return data;
}

/* Every number in a JSON file, in order (the fixtures are nested arrays). */
static float *read_numbers(const char *path, size_t *count) {
  size_t size = 0;
  char *text = (char *)read_file(path, &size);
  if (text == NULL) return NULL;
  text[size] = '\0';
  float *values = malloc(size * sizeof *values);
  *count = 0;
  char *p = text;
  while (*p) {
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
      values[(*count)++] = strtof(p, &p);
    } else {
      p++;
    }
  }
  free(text);
  return values;
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fix_header_crc(unsigned char *file) {
  put32(file + 40, (uint32_t)crc32(0, file, 40));
}

static void test_golden(const char *fixtures, const char *work, const char *name) {
  char model_name[256], input_name[256], expected_name[256];
  snprintf(model_name, sizeof model_name, "%s.cnnz", name);
  snprintf(input_name, sizeof input_name, "%s.input.json", name);
  snprintf(expected_name, sizeof expected_name, "%s.expected.json", name);

  cnnz_model *model = NULL;
  CHECK_STATUS(cnnz_model_load(join(work, model_name), &model), CNNZ_OK);
  if (model == NULL) return;
  size_t input_count = 0, expected_count = 0;
  float *input = read_numbers(join(fixtures, input_name), &input_count);
  float *expected = read_numbers(join(fixtures, expected_name), &expected_count);
  int32_t h = 0, w = 0, c = 0;
  CHECK_STATUS(cnnz_model_input_shape(model, &h, &w, &c), CNNZ_OK);
  CHECK((size_t)(h * w * c) == input_count);
  CHECK(cnnz_model_output_size(model) == expected_count);

  /* Batch 3 of the same input in a session of capacity 2: chunking, and every copy equal. */
  cnnz_session *session = NULL;
  CHECK_STATUS(cnnz_session_create_with(model, 2, 3, &session), CNNZ_OK);
  CHECK(cnnz_session_thread_count(session) == 3);
  float *batch = malloc(3 * input_count * sizeof *batch);
  for (int b = 0; b < 3; b++) memcpy(batch + b * input_count, input, input_count * sizeof *input);
  float *output = malloc(3 * expected_count * sizeof *output);
  CHECK_STATUS(cnnz_run(session, batch, 3 * input_count, 3, output, 3 * expected_count), CNNZ_OK);
  for (size_t b = 0; b < 3; b++) {
    for (size_t i = 0; i < expected_count; i++) {
      if (fabsf(output[b * expected_count + i] - expected[i]) > 1e-5f) {
        fprintf(stderr, "%s: output %zu of image %zu is %g, expected %g\n", name, i, b,
                output[b * expected_count + i], expected[i]);
        failures++;
      }
    }
  }
  float difference = -1;
  CHECK_STATUS(cnnz_model_selftest(model, &difference), CNNZ_OK);
  CHECK(difference >= 0 && difference <= 1e-4f);
  free(batch);
  free(output);
  free(input);
  free(expected);
  cnnz_session_free(session);
  cnnz_model_free(model);
}

static void test_metadata_and_errors(const char *fixtures, const char *work, const char *example_model,
                                     const char *example_image) {
  CHECK(strcmp(cnnz_version(), "0.3.0") == 0);
  CHECK(strncmp(cnnz_status_string(CNNZ_OK), "CNNZ_OK", 7) == 0);
  CHECK(strncmp(cnnz_status_string(CNNZ_ERROR_MEMORY), "CNNZ_ERROR_MEMORY", 17) == 0);
  CHECK(strcmp(cnnz_status_string((cnnz_status)42), "unknown status") == 0);

  /* Loading: NULLs, missing files, directories, a PGM, truncated and crafted bytes. */
  cnnz_model *model = (cnnz_model *)0x1;
  CHECK_STATUS(cnnz_model_load(NULL, &model), CNNZ_ERROR_ARGUMENT);
  CHECK(model == (cnnz_model *)0x1); /* out_ parameters are untouched on failure */
  CHECK_STATUS(cnnz_model_load(example_model, NULL), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_model_load("/nonexistent/model.cnnz", &model), CNNZ_ERROR_IO);
  CHECK(strstr(cnnz_last_error(), "no such file") != NULL);
  CHECK_STATUS(cnnz_model_load(work, &model), CNNZ_ERROR_IO);
  CHECK(strstr(cnnz_last_error(), "directory") != NULL);
  CHECK_STATUS(cnnz_model_load(example_image, &model), CNNZ_ERROR_FORMAT);
  CHECK(strstr(cnnz_last_error(), "magic") != NULL);
  CHECK_STATUS(cnnz_model_load_memory(NULL, 10, &model), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_model_load_memory(NULL, 0, &model), CNNZ_ERROR_FORMAT);
  CHECK_STATUS(cnnz_model_load_memory("CNNZ", (size_t)-1, &model), CNNZ_ERROR_ARGUMENT);

  size_t size = 0;
  unsigned char *bytes = read_file(example_model, &size);
  CHECK(bytes != NULL && size > 100);
  for (size_t cut = 0; cut < size; cut += 97) {
    CHECK_STATUS(cnnz_model_load_memory(bytes, cut, &model), CNNZ_ERROR_FORMAT);
  }
  /* No alignment requirement: load from an odd address, then free the buffer at once. */
  unsigned char *odd = malloc(size + 1);
  memcpy(odd + 1, bytes, size);
  CHECK_STATUS(cnnz_model_load_memory(odd + 1, size, &model), CNNZ_OK);
  memset(odd, 0xAB, size + 1);
  free(odd);

  /* Metadata. */
  int32_t h = 0, w = 0, c = 0;
  CHECK_STATUS(cnnz_model_input_shape(model, &h, &w, &c), CNNZ_OK);
  CHECK(h == 28 && w == 28 && c == 1);
  CHECK_STATUS(cnnz_model_input_shape(model, NULL, NULL, NULL), CNNZ_OK);
  CHECK_STATUS(cnnz_model_input_shape(NULL, &h, &w, &c), CNNZ_ERROR_ARGUMENT);
  CHECK(cnnz_model_output_size(model) == 10);
  CHECK(cnnz_model_output_size(NULL) == 0);
  CHECK(strcmp(cnnz_model_label(model, 0), "T-shirt/top") == 0);
  CHECK(strcmp(cnnz_model_label(model, 9), "Ankle boot") == 0);
  CHECK(cnnz_model_label(model, 10) == NULL);
  CHECK(cnnz_model_label(model, (size_t)-1) == NULL);
  CHECK(cnnz_model_label(NULL, 0) == NULL);
  CHECK(strcmp(cnnz_model_name(model), "fashion-mnist-small") == 0);
  CHECK(cnnz_model_name(NULL) == NULL);
  CHECK(strcmp(cnnz_model_precision(model), "float32") == 0);
  CHECK(cnnz_model_precision(NULL) == NULL);

  /* A model with no labels. */
  cnnz_model *graph = NULL;
  CHECK_STATUS(cnnz_model_load(join(work, "tiny-graph.cnnz"), &graph), CNNZ_OK);
  CHECK(cnnz_model_label(graph, 0) == NULL);
  cnnz_model_free(graph);

  /* An int8 model (format version 2): the same calls, floats in and out. */
  cnnz_model *int8_model = NULL;
  CHECK_STATUS(cnnz_model_load(join(fixtures, "format-v2/tiny-graph-int8.cnnz"), &int8_model), CNNZ_OK);
  CHECK(strcmp(cnnz_model_precision(int8_model), "int8") == 0);
  cnnz_session *int8_session = NULL;
  CHECK_STATUS(cnnz_session_create(int8_model, &int8_session), CNNZ_OK);
  float int8_input[6 * 7 * 3] = {0};
  float int8_output[3] = {0};
  CHECK_STATUS(cnnz_run(int8_session, int8_input, 6 * 7 * 3, 1, int8_output, 3), CNNZ_OK);
  CHECK(int8_output[0] >= 0.0f && int8_output[0] <= 1.0f); /* a sigmoid's output */
  cnnz_session_free(int8_session);
  cnnz_model_free(int8_model);

  /* A newer format version: CNNZ_ERROR_UNSUPPORTED, with a message that says so. */
  unsigned char *newer = malloc(size);
  memcpy(newer, bytes, size);
  put32(newer + 8, 3);
  fix_header_crc(newer);
  CHECK_STATUS(cnnz_model_load_memory(newer, size, &graph), CNNZ_ERROR_UNSUPPORTED);
  CHECK(strstr(cnnz_last_error(), "newer") != NULL);
  /* A declared payload of 2^62 bytes: CNNZ_ERROR_MEMORY, nothing allocated. */
  memcpy(newer, bytes, size);
  put32(newer + 16, 0);
  put32(newer + 20, 0x40000000u);
  fix_header_crc(newer);
  CHECK_STATUS(cnnz_model_load_memory(newer, size, &graph), CNNZ_ERROR_MEMORY);
  /* A flipped payload byte: CNNZ_ERROR_FORMAT. */
  memcpy(newer, bytes, size);
  newer[size / 2] ^= 0x10;
  CHECK_STATUS(cnnz_model_load_memory(newer, size, &graph), CNNZ_ERROR_FORMAT);

  /* A self-test vector that this engine cannot reproduce: CNNZ_ERROR_INTERNAL. */
  {
    uLongf payload_size = (uLongf)get32(bytes + 16);
    unsigned char *payload = malloc(payload_size);
    CHECK(uncompress(payload, &payload_size, bytes + 48, (uLong)(size - 48)) == Z_OK);
    size_t test = 0;
    for (size_t at = 0; at + 4 <= payload_size; at += 64) {
      if (memcmp(payload + at, "TEST", 4) == 0) test = at + 16;
    }
    CHECK(test > 0);
    uint32_t input_count = get32(payload + test);
    size_t first_output = test + 4 + 4 * (size_t)input_count + 4;
    float bumped;
    uint32_t bits = get32(payload + first_output);
    memcpy(&bumped, &bits, 4);
    bumped += 0.5f;
    memcpy(&bits, &bumped, 4);
    put32(payload + first_output, bits);
    uLongf bound = compressBound(payload_size);
    unsigned char *file = malloc(48 + bound);
    memcpy(file, bytes, 48);
    CHECK(compress2(file + 48, &bound, payload, payload_size, 9) == Z_OK);
    put32(file + 24, (uint32_t)bound);
    put32(file + 28, 0);
    put32(file + 32, (uint32_t)crc32(0, payload, (uInt)payload_size));
    put32(file + 36, (uint32_t)crc32(0, file + 48, (uInt)bound));
    fix_header_crc(file);
    CHECK_STATUS(cnnz_model_load_memory(file, 48 + bound, &graph), CNNZ_OK);
    float difference = 0;
    CHECK_STATUS(cnnz_model_selftest(graph, &difference), CNNZ_ERROR_INTERNAL);
    CHECK(difference > 0.49f && difference < 0.51f);
    CHECK(strstr(cnnz_last_error(), "self-test failed") != NULL);
    cnnz_model_free(graph);
    free(file);
    free(payload);
  }
  free(newer);
  CHECK_STATUS(cnnz_model_selftest(NULL, NULL), CNNZ_ERROR_ARGUMENT);

  /* Load options (C API 0.2): a memory budget, an operation cap, the struct's size. */
  {
    cnnz_load_options options = CNNZ_LOAD_OPTIONS_INIT;
    cnnz_model *limited = NULL;
    CHECK(options.struct_size == sizeof options && options.max_memory == 0);
    CHECK_STATUS(cnnz_model_load_with(example_model, &options, &limited), CNNZ_OK);
    cnnz_model_free(limited);
    CHECK_STATUS(cnnz_model_load_with(example_model, NULL, &limited), CNNZ_OK);
    cnnz_model_free(limited);
    options.max_memory = 20000; /* the example's weights alone are 524 KB */
    CHECK_STATUS(cnnz_model_load_with(example_model, &options, &limited), CNNZ_ERROR_MEMORY);
    CHECK(strstr(cnnz_last_error(), "memory budget") != NULL && strstr(cnnz_last_error(), "20000 bytes") != NULL);
    CHECK_STATUS(cnnz_model_load_memory_with(bytes, size, &options, &limited), CNNZ_ERROR_MEMORY);
    /* A budget the model fits, but not a session of 10,000 images. */
    options.max_memory = 4u << 20;
    CHECK_STATUS(cnnz_model_load_memory_with(bytes, size, &options, &limited), CNNZ_OK);
    cnnz_session *big = NULL;
    CHECK_STATUS(cnnz_session_create_with(limited, 10000, 1, &big), CNNZ_ERROR_MEMORY);
    CHECK(strstr(cnnz_last_error(), "batch 10000") != NULL);
    CHECK(big == NULL);
    CHECK_STATUS(cnnz_session_create_with(limited, 8, 1, &big), CNNZ_OK);
    cnnz_session_free(big);
    cnnz_model_free(limited);
    /* The example takes 5,719,808 multiply-adds per image (convert --inspect). */
    options.max_memory = 0;
    options.max_operations_per_image = 50000;
    CHECK_STATUS(cnnz_model_load_with(example_model, &options, &limited), CNNZ_ERROR_MEMORY);
    CHECK(strstr(cnnz_last_error(), "operations per image") != NULL);
    /* struct_size: an older, smaller struct is read as far as it goes; nonsense is refused. */
    options.struct_size = sizeof(size_t) * 2; /* max_memory only: the operation cap keeps its default */
    CHECK_STATUS(cnnz_model_load_with(example_model, &options, &limited), CNNZ_OK);
    cnnz_model_free(limited);
    options.struct_size = 0;
    CHECK_STATUS(cnnz_model_load_with(example_model, &options, &limited), CNNZ_ERROR_ARGUMENT);
    CHECK(strstr(cnnz_last_error(), "struct_size") != NULL);
    options.struct_size = (size_t)-1;
    CHECK_STATUS(cnnz_model_load_memory_with(bytes, size, &options, &limited), CNNZ_ERROR_ARGUMENT);
    CHECK_STATUS(cnnz_model_load_with(NULL, NULL, &limited), CNNZ_ERROR_ARGUMENT);
    CHECK_STATUS(cnnz_model_load_with(example_model, NULL, NULL), CNNZ_ERROR_ARGUMENT);
    CHECK_STATUS(cnnz_model_load_memory_with(NULL, 5, NULL, &limited), CNNZ_ERROR_ARGUMENT);
  }

  /* Sessions and runs: every argument error. */
  cnnz_session *session = NULL;
  CHECK_STATUS(cnnz_session_create(NULL, &session), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_create(model, NULL), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_create_with(model, 0, 1, &session), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_create_with(model, (size_t)-1, 1, &session), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_create_with(model, 4, 0, &session), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_create_with(model, 4, 65, &session), CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "thread count") != NULL);
  CHECK_STATUS(cnnz_session_create_with(model, 4, 1, &session), CNNZ_OK);
  CHECK(cnnz_session_thread_count(session) == 1);
  CHECK(cnnz_session_thread_count(NULL) == 0);

  float input[2 * 784];
  unsigned char pixels[2 * 784];
  float output[20];
  for (int i = 0; i < 2 * 784; i++) {
    pixels[i] = (unsigned char)(i * 7);
    /* As the model's preprocessing computes it (pixel * scale), to the bit: a Winograd
       convolution's rounding depends on the input's bits, so inputs 1 ulp apart
       (pixel / 255) can give probabilities more than 1e-6 apart. */
    input[i] = (float)pixels[i] * (1.0f / 255.0f);
  }
  CHECK_STATUS(cnnz_run(NULL, input, 784, 1, output, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_run(session, NULL, 784, 1, output, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_run(session, input, 784, 1, NULL, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_run(session, input, 784, 0, output, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_run(session, input, 2 * 784, 2, output, 19), CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "capacity") != NULL);
  CHECK_STATUS(cnnz_run(session, input, (size_t)-1, (size_t)-1, output, 20), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_run(session, input, (size_t)-1, ((size_t)-1) / 8, output, (size_t)-1), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_run(session, input, 2 * 784, 2, output, 20), CNNZ_OK);
  /* An input shorter than batch x H x W x C: refused before anything reads it (C API 0.2). */
  CHECK_STATUS(cnnz_run(session, input, 2 * 784 - 1, 2, output, 20), CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "input holds 1567 values") != NULL);
  CHECK_STATUS(cnnz_run(session, input, 0, 1, output, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_run_u8(session, pixels, 783, 1, output, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_run(session, input, 2 * 784 + 5, 1, output, 10), CNNZ_OK); /* more is fine */

  /* run_u8 applies the model's preprocessing (scale 1/255): equal to run on the prepared floats. */
  float from_pixels[20];
  CHECK_STATUS(cnnz_run_u8(session, pixels, 2 * 784, 2, from_pixels, 20), CNNZ_OK);
  for (int i = 0; i < 20; i++) CHECK(fabsf(from_pixels[i] - output[i]) < 1e-6f);
  CHECK_STATUS(cnnz_run_u8(session, NULL, 784, 1, from_pixels, 20), CNNZ_ERROR_ARGUMENT);

  /* classify_file: the shipped image, and bad files. */
  float scores[10];
  CHECK_STATUS(cnnz_classify_file(session, example_image, scores, 10), CNNZ_OK);
  size_t best = 0;
  for (size_t k = 1; k < 10; k++) if (scores[k] > scores[best]) best = k;
  CHECK(strcmp(cnnz_model_label(model, best), "Bag") == 0);
  /* The same pixels as PNG give the same scores to the bit; the JPEG is close (lossy). */
  float png_scores[10], jpeg_scores[10];
  CHECK_STATUS(cnnz_classify_file(session, join(fixtures, "images/examples/bag.png"), png_scores, 10), CNNZ_OK);
  CHECK(memcmp(png_scores, scores, sizeof scores) == 0);
  CHECK_STATUS(cnnz_classify_file(session, join(fixtures, "images/examples/bag.jpg"), jpeg_scores, 10), CNNZ_OK);
  CHECK(fabsf(jpeg_scores[best] - scores[best]) < 0.05f);
  CHECK_STATUS(cnnz_classify_file(session, join(fixtures, "images/jpeg-cmyk.jpg"), jpeg_scores, 10),
               CNNZ_ERROR_UNSUPPORTED);
  CHECK_STATUS(cnnz_classify_file(session, NULL, scores, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_classify_file(session, example_image, scores, 9), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_classify_file(session, "/nonexistent.pgm", scores, 10), CNNZ_ERROR_IO);
  CHECK_STATUS(cnnz_classify_file(session, example_model, scores, 10), CNNZ_ERROR_FORMAT);
  CHECK(strstr(cnnz_last_error(), "looks like a cnnz model; cnnz reads PNG, JPEG and Netpbm") != NULL);
  CHECK_STATUS(cnnz_classify_file(session, work, scores, 10), CNNZ_ERROR_IO);

  /* image_size: the size cnnz_classify_file sees, and the same errors. */
  int32_t image_width = 0, image_height = 0, image_channels = 0;
  CHECK_STATUS(cnnz_image_size(example_image, &image_width, &image_height, &image_channels), CNNZ_OK);
  CHECK(image_width == 28 && image_height == 28 && image_channels == 1);
  CHECK_STATUS(cnnz_image_size(example_image, NULL, NULL, NULL), CNNZ_OK);
  CHECK_STATUS(cnnz_image_size(NULL, &image_width, &image_height, &image_channels), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_image_size("/nonexistent.pgm", &image_width, NULL, NULL), CNNZ_ERROR_IO);
  CHECK_STATUS(cnnz_image_size(example_model, &image_width, NULL, NULL), CNNZ_ERROR_FORMAT);

  /* Sessions outlive their model. */
  cnnz_model_free(model);
  CHECK_STATUS(cnnz_run(session, input, 2 * 784, 2, output, 20), CNNZ_OK);

  /* Freed and foreign pointers are detected, not dereferenced; free(NULL) is a no-op. */
  CHECK(cnnz_model_output_size(model) == 0);
  CHECK(strstr(cnnz_last_error(), "not a live cnnz_model") != NULL);
  cnnz_model_free(model); /* double free: ignored */
  int not_a_handle = 0;
  CHECK(cnnz_model_output_size((const cnnz_model *)&not_a_handle) == 0);
  cnnz_session_free(session);
  CHECK_STATUS(cnnz_run(session, input, 784, 1, output, 10), CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "not a live cnnz_session") != NULL);
  cnnz_session_free(session);
  CHECK_STATUS(cnnz_run((cnnz_session *)&not_a_handle, input, 784, 1, output, 10), CNNZ_ERROR_ARGUMENT);
  cnnz_model_free(NULL);
  cnnz_session_free(NULL);
  free(bytes);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s FIXTURES WORK EXAMPLE_MODEL EXAMPLE_IMAGE\n", argv[0]);
    return 2;
  }
  test_golden(argv[1], argv[2], "tiny");
  test_golden(argv[1], argv[2], "tiny-graph");
  test_metadata_and_errors(argv[1], argv[2], argv[3], argv[4]);
  if (failures > 0) {
    fprintf(stderr, "test_api: %d failures\n", failures);
    return 1;
  }
  printf("test_api: all checks passed\n");
  return 0;
}
