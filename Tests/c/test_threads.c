/*
 * One model, eight threads, each with its own session, thousands of runs:
 * every output must equal the single-threaded result for the same input.
 * With a second argument N, each session also splits its runs over N
 * engine threads (8 x N threads on this machine's cores): batches of 1 to 4
 * images, so that both splits run, by layers (batch 1) and by images.
 *
 *   test_threads MODEL.cnnz [N]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnz.h"

enum { THREADS = 8, RUNS = 2000, INPUTS = 16, MAX_BATCH = 4 };

static const cnnz_model *model;
static size_t engine_threads = 1;
static size_t input_size, output_size;
static float *inputs;   /* INPUTS inputs */
static float *expected; /* their single-threaded outputs */

/* Misuse: two threads share one session. Each call must either run alone and
 * give the right output, or be refused with CNNZ_ERROR_ARGUMENT; never a wrong
 * output or a crash. */
static cnnz_session *shared_session;
static size_t refused[2];

static void *sharer(void *arg) {
  size_t id = (size_t)arg;
  float *output = malloc(output_size * sizeof *output);
  size_t wrong = 0;
  for (size_t run = 0; run < RUNS; run++) {
    size_t which = (run + id) % INPUTS;
    cnnz_status status = cnnz_run(shared_session, inputs + which * input_size, input_size, 1, output, output_size);
    if (status == CNNZ_ERROR_ARGUMENT && strstr(cnnz_last_error(), "in use by another thread") != NULL) {
      refused[id]++;
    } else if (status != CNNZ_OK || memcmp(output, expected + which * output_size, output_size * sizeof *output) != 0) {
      wrong++;
    }
  }
  free(output);
  return (void *)wrong;
}

static void *worker(void *arg) {
  size_t id = (size_t)arg;
  cnnz_session *session = NULL;
  size_t capacity = engine_threads > 1 ? MAX_BATCH : 1;
  if (cnnz_session_create_with(model, capacity, engine_threads, &session) != CNNZ_OK) return (void *)1;
  float *output = malloc(MAX_BATCH * output_size * sizeof *output);
  size_t mismatches = 0;
  for (size_t run = 0; run < RUNS; run++) {
    size_t batch = 1 + (run + id) % capacity;
    size_t which = (run * 7 + id) % (INPUTS - batch + 1);
    if (cnnz_run(session, inputs + which * input_size, batch * input_size, batch, output, batch * output_size) !=
        CNNZ_OK) {
      mismatches++;
      continue;
    }
    if (memcmp(output, expected + which * output_size, batch * output_size * sizeof *output) != 0) mismatches++;
  }
  free(output);
  cnnz_session_free(session);
  return (void *)mismatches;
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) return 2;
  if (argc == 3) engine_threads = (size_t)strtoul(argv[2], NULL, 10);
  cnnz_model *loaded = NULL;
  if (cnnz_model_load(argv[1], &loaded) != CNNZ_OK) {
    fprintf(stderr, "load: %s\n", cnnz_last_error());
    return 1;
  }
  model = loaded;
  int32_t h, w, c;
  cnnz_model_input_shape(model, &h, &w, &c);
  input_size = (size_t)(h * w * c);
  output_size = cnnz_model_output_size(model);
  inputs = malloc(INPUTS * input_size * sizeof *inputs);
  expected = malloc(INPUTS * output_size * sizeof *expected);
  unsigned state = 12345;
  for (size_t i = 0; i < INPUTS * input_size; i++) {
    state = state * 1103515245u + 12345u;
    inputs[i] = (float)((state >> 8) & 0xFFFF) / 65535.0f * 2.0f - 1.0f;
  }
  cnnz_session *session = NULL;
  cnnz_session_create(model, &session);
  for (size_t i = 0; i < INPUTS; i++) {
    if (cnnz_run(session, inputs + i * input_size, input_size, 1, expected + i * output_size, output_size) != CNNZ_OK) {
      fprintf(stderr, "run: %s\n", cnnz_last_error());
      return 1;
    }
  }
  cnnz_session_free(session);

  pthread_t threads[THREADS];
  for (size_t t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, worker, (void *)t);
  size_t total = 0;
  for (size_t t = 0; t < THREADS; t++) {
    void *result;
    pthread_join(threads[t], &result);
    total += (size_t)result;
  }

  size_t wrong = 0;
  if (cnnz_session_create(model, &shared_session) != CNNZ_OK) return 1;
  pthread_t pair[2];
  for (size_t t = 0; t < 2; t++) pthread_create(&pair[t], NULL, sharer, (void *)t);
  for (size_t t = 0; t < 2; t++) {
    void *result;
    pthread_join(pair[t], &result);
    wrong += (size_t)result;
  }
  cnnz_session_free(shared_session);
  if (wrong != 0) {
    fprintf(stderr, "test_threads: a shared session gave %zu wrong results\n", wrong);
    return 1;
  }
  printf("test_threads: one session shared by 2 threads: %zu calls refused as in use, no wrong output\n",
         refused[0] + refused[1]);

  cnnz_model_free(loaded);
  free(inputs);
  free(expected);
  if (total != 0) {
    fprintf(stderr, "test_threads: %zu of %d runs differ from the single-threaded result\n", total, THREADS * RUNS);
    return 1;
  }
  printf("test_threads: %d threads x %d runs (sessions of %zu engine threads), every output equal to the "
         "single-threaded result\n", THREADS, RUNS, engine_threads);
  return 0;
}
