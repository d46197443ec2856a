/*
 * The layer list and the profiler through the C API: cnnz_model_layer_count,
 * cnnz_model_layer and cnnz_session_profile, with what a model's architecture
 * says they must report, and every argument error.
 *   test_profile TINY_GRAPH_CNNZ EXAMPLE_MODEL
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* tiny-graph: names survive conversion; a folded BatchNormalization and ReLU are not layers. */
static void test_layer_names(const char *tiny_graph) {
  cnnz_model *model = NULL;
  CHECK_STATUS(cnnz_model_load(tiny_graph, &model), CNNZ_OK);
  if (!model) return;
  size_t count = cnnz_model_layer_count(model);
  CHECK(count >= 8);
  const char *name = NULL, *type = NULL;
  uint64_t macs = 0;
  CHECK_STATUS(cnnz_model_layer(model, 0, &name, &type, &macs), CNNZ_OK);
  CHECK(name && strcmp(name, "stem") == 0);
  CHECK(type && strcmp(type, "Conv2D") == 0);
  int32_t h = 0, w = 0, c = 0;
  CHECK_STATUS(cnnz_model_input_shape(model, &h, &w, &c), CNNZ_OK);
  CHECK(macs == (uint64_t)h * w * 4 * 3 * 3 * c); /* 4 filters, 3x3, same padding */
  int found_add = 0, found_dense = 0;
  for (size_t i = 0; i < count; i++) {
    CHECK_STATUS(cnnz_model_layer(model, i, &name, &type, &macs), CNNZ_OK);
    if (strcmp(name, "sum") == 0) {
      found_add = 1;
      CHECK(strcmp(type, "Add") == 0 && macs == 0);
    }
    if (strcmp(type, "Dense") == 0) found_dense = 1;
  }
  CHECK(found_add && found_dense);
  /* Out pointers may be NULL; out of range and dead models are errors and write nothing. */
  CHECK_STATUS(cnnz_model_layer(model, 0, NULL, NULL, NULL), CNNZ_OK);
  name = "untouched";
  CHECK_STATUS(cnnz_model_layer(model, count, &name, &type, &macs), CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "out of range") != NULL);
  CHECK(strcmp(name, "untouched") == 0);
  CHECK_STATUS(cnnz_model_layer(model, (size_t)-1, &name, &type, &macs), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_model_layer(NULL, 0, &name, &type, &macs), CNNZ_ERROR_ARGUMENT);
  CHECK(cnnz_model_layer_count(NULL) == 0);
  cnnz_model_free(model);
}

/* fashion-mnist-small: Conv2D(32, 3x3, same) on 28x28x1, pooling, ..., Flatten, Dense, Dense. */
static void test_profile(const char *example_model, size_t threads) {
  cnnz_model *model = NULL;
  CHECK_STATUS(cnnz_model_load(example_model, &model), CNNZ_OK);
  if (!model) return;
  size_t count = cnnz_model_layer_count(model);
  CHECK(count == 9);
  const char *name = NULL, *type = NULL;
  uint64_t macs = 0;
  CHECK_STATUS(cnnz_model_layer(model, 0, &name, &type, &macs), CNNZ_OK);
  CHECK(strcmp(type, "Conv2D") == 0 && macs == 28 * 28 * 32 * 9);
  CHECK_STATUS(cnnz_model_layer(model, 1, &name, &type, &macs), CNNZ_OK);
  CHECK(strcmp(type, "MaxPooling2D") == 0 && macs == 0);
  CHECK_STATUS(cnnz_model_layer(model, count - 1, &name, &type, &macs), CNNZ_OK);
  CHECK(strcmp(type, "Dense") == 0 && macs == 128 * 10);

  cnnz_session *session = NULL;
  CHECK_STATUS(cnnz_session_create_with(model, 2, threads, &session), CNNZ_OK);
  float input[3 * 28 * 28];
  for (size_t i = 0; i < 3 * 28 * 28; i++) input[i] = (float)(i % 255) / 255.0f;
  double ms[10];
  for (size_t i = 0; i < 10; i++) ms[i] = -1;
  CHECK_STATUS(cnnz_session_profile(session, input, 2 * 28 * 28, 2, 20, ms, 10), CNNZ_OK);
  /* Every layer with a kernel took some time; the Flatten (layer 6) runs none; the slot past
   * the layers is not written. */
  for (size_t i = 0; i < count; i++) {
    CHECK_STATUS(cnnz_model_layer(model, i, &name, &type, &macs), CNNZ_OK);
    if (strcmp(type, "Flatten") == 0) {
      CHECK(ms[i] == 0);
    } else {
      CHECK(ms[i] > 0 && ms[i] < 1000);
    }
  }
  CHECK(ms[9] == -1);

  /* Errors, each before anything is written. */
  ms[0] = -1;
  CHECK_STATUS(cnnz_session_profile(session, input, 2 * 28 * 28, 2, 20, ms, count - 1), CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "layer capacity") != NULL);
  CHECK_STATUS(cnnz_session_profile(session, input, 2 * 28 * 28, 2, 20, NULL, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_profile(session, NULL, 2 * 28 * 28, 2, 20, ms, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_profile(session, input, 2 * 28 * 28 - 1, 2, 20, ms, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_profile(session, input, 2 * 28 * 28, 0, 20, ms, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_profile(session, input, 3 * 28 * 28, 3, 20, ms, 10), CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "batch capacity") != NULL);
  CHECK_STATUS(cnnz_session_profile(session, input, 2 * 28 * 28, 2, 0, ms, 10), CNNZ_ERROR_ARGUMENT);
  CHECK_STATUS(cnnz_session_profile(session, input, 2 * 28 * 28, 2, 1000001, ms, 10), CNNZ_ERROR_ARGUMENT);
  /* A million runs of 8 kernels: over the table's cap, refused before allocating it. */
  CHECK_STATUS(cnnz_session_profile(session, input, 2 * 28 * 28, 2, 1000000, ms, 10), CNNZ_ERROR_ARGUMENT);
  CHECK(strstr(cnnz_last_error(), "exceeds") != NULL);
  CHECK_STATUS(cnnz_session_profile(NULL, input, 2 * 28 * 28, 2, 20, ms, 10), CNNZ_ERROR_ARGUMENT);
  CHECK(ms[0] == -1);

  /* The session still runs, and its outputs are a run's. */
  float out[20];
  CHECK_STATUS(cnnz_run(session, input, 2 * 28 * 28, 2, out, 20), CNNZ_OK);
  cnnz_session_free(session);
  cnnz_model_free(model);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s TINY_GRAPH_CNNZ EXAMPLE_MODEL\n", argv[0]);
    return 2;
  }
  test_layer_names(argv[1]);
  test_profile(argv[2], 1);
  test_profile(argv[2], 2);
  if (failures > 0) {
    fprintf(stderr, "test_profile: %d failures\n", failures);
    return 1;
  }
  printf("test_profile: all checks passed\n");
  return 0;
}
