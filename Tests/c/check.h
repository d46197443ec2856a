/*
 * The C tests' checks: a failed check prints where, what, and cnnz's last
 * error, counts itself in `failures`, and lets the test go on.
 */
#ifndef CNNZ_TESTS_CHECK_H
#define CNNZ_TESTS_CHECK_H

#include <stdio.h>

#include "cnnz.h"

static int failures = 0;

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__,      \
              __LINE__, #cond, cnnz_last_error());                                 \
      failures++;                                                                  \
    }                                                                              \
  } while (0)

#define CHECK_STATUS(call, expected)                                               \
  do {                                                                             \
    cnnz_status status_ = (call);                                                  \
    if (status_ != (expected)) {                                                   \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n",     \
              __FILE__, __LINE__, #call, cnnz_status_string(status_),              \
              cnnz_status_string(expected), cnnz_last_error());                    \
      failures++;                                                                  \
    }                                                                              \
  } while (0)

#endif
