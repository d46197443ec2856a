/*
 * The parts of the C API that are plain C: static strings and the
 * thread-local last error. Compiling this file also checks that
 * include/cnnz.h builds with the package, warnings included.
 */
#include "../../include/cnnz.h"
#include "include/cnnz_internal.h"

#include <string.h>

#define CNNZ_STRINGIFY2(x) #x
#define CNNZ_STRINGIFY(x) CNNZ_STRINGIFY2(x)

const char *cnnz_version(void) {
  return CNNZ_STRINGIFY(CNNZ_VERSION_MAJOR) "." CNNZ_STRINGIFY(CNNZ_VERSION_MINOR) "." CNNZ_STRINGIFY(
      CNNZ_VERSION_PATCH);
}

const char *cnnz_status_string(cnnz_status status) {
  switch (status) {
  case CNNZ_OK: return "CNNZ_OK: success";
  case CNNZ_ERROR_ARGUMENT: return "CNNZ_ERROR_ARGUMENT: invalid argument";
  case CNNZ_ERROR_IO: return "CNNZ_ERROR_IO: a file could not be opened or read";
  case CNNZ_ERROR_FORMAT: return "CNNZ_ERROR_FORMAT: not a valid model or image";
  case CNNZ_ERROR_UNSUPPORTED: return "CNNZ_ERROR_UNSUPPORTED: not supported by this build";
  case CNNZ_ERROR_MEMORY: return "CNNZ_ERROR_MEMORY: above the memory budget or caps, or out of memory";
  case CNNZ_ERROR_INTERNAL: return "CNNZ_ERROR_INTERNAL: internal error or failed self-test";
  }
  return "unknown status";
}

/* Thread-local, so each thread reads its own last failure. */
static _Thread_local char last_error[1024];

void cnnz_internal_set_last_error(const char *message) {
  if (message == NULL) {
    last_error[0] = '\0';
    return;
  }
  strncpy(last_error, message, sizeof last_error - 1);
  last_error[sizeof last_error - 1] = '\0';
}

const char *cnnz_last_error(void) { return last_error; }
