/*
 * Classifies images (PNG, JPEG or Netpbm) with a .cnnz model through the C API.
 *
 *   swift build -c release --product cnnz
 *   cc -std=c99 -Iinclude Examples/c/classify.c -L.build/release -lcnnz \
 *      -Wl,-rpath,"$PWD/.build/release" -o .build/classify
 *   .build/classify Examples/fashion-mnist-small.cnnz Examples/images/bag.pgm
 *
 * Prints, per image, "<file>: <label> (<probability>)".
 */
#include <stdio.h>
#include <stdlib.h>

#include "cnnz.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s model.cnnz image [more images...]\n", argv[0]);
    return 2;
  }
  cnnz_model *model = NULL;
  if (cnnz_model_load(argv[1], &model) != CNNZ_OK) {
    fprintf(stderr, "error: %s\n", cnnz_last_error());
    return 1;
  }
  cnnz_session *session = NULL;
  if (cnnz_session_create(model, &session) != CNNZ_OK) {
    fprintf(stderr, "error: %s\n", cnnz_last_error());
    cnnz_model_free(model);
    return 1;
  }
  size_t outputs = cnnz_model_output_size(model);
  float *scores = malloc(outputs * sizeof *scores);
  int status = scores == NULL ? 1 : 0;
  for (int i = 2; i < argc && status == 0; i++) {
    if (cnnz_classify_file(session, argv[i], scores, outputs) != CNNZ_OK) {
      fprintf(stderr, "error: %s\n", cnnz_last_error());
      status = 1;
      break;
    }
    size_t best = 0;
    for (size_t k = 1; k < outputs; k++) {
      if (scores[k] > scores[best]) best = k;
    }
    const char *label = cnnz_model_label(model, best);
    if (label != NULL) {
      printf("%s: %s (%.4f)\n", argv[i], label, scores[best]);
    } else {
      printf("%s: class %zu (%.4f)\n", argv[i], best, scores[best]);
    }
  }
  free(scores);
  cnnz_session_free(session);
  cnnz_model_free(model);
  return status;
}
