// Times the first N loads of a .cnnz model in a fresh process through libcnnz: what a
// program that loads a model once sees (the first includes the library's own first use).
// For each load prints wall ms / CPU ms / page faults (getrusage's minor faults).
// Build and run: see first_loads.sh.
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "cnnz.h"

static double milliseconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static long faults(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.cnnz [LOADS]\n", argv[0]);
    return 2;
  }
  int loads = argc > 2 ? atoi(argv[2]) : 2;
  for (int i = 0; i < loads; i++) {
    cnnz_model *model = NULL;
    long f0 = faults();
    double c0 = milliseconds(CLOCK_PROCESS_CPUTIME_ID), t0 = milliseconds(CLOCK_MONOTONIC);
    cnnz_status status = cnnz_model_load(argv[1], &model);
    double t1 = milliseconds(CLOCK_MONOTONIC), c1 = milliseconds(CLOCK_PROCESS_CPUTIME_ID);
    long f1 = faults();
    if (status != CNNZ_OK) {
      fprintf(stderr, "%s: load failed with status %d\n", argv[1], (int)status);
      return 1;
    }
    printf("%.2f/%.2f/%ld%s", t1 - t0, c1 - c0, f1 - f0, i + 1 < loads ? " " : "\n");
    cnnz_model_free(model);
  }
  return 0;
}
