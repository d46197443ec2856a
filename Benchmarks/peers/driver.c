/* cnnz from C, for the benchmark: loads a model, makes a session and times calls of cnnz_run
 * in a C loop, so that the Python binding's cost (ctypes, NumPy checks, the output array) is
 * not in the time. Built by run.sh as a shared library and called through ctypes once per
 * chunk of calls (the per-call times are taken here, with clock_gettime).
 *
 * cnnz_run's signature is C API 0.2's: (session, input, input_count, batch, output, capacity). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnnz.h"

typedef struct {
    cnnz_model *model;
    cnnz_session *session;
    float *input, *output;
    size_t input_count, output_count, batch;
} driver;

/* Returns NULL (and leaves cnnz_last_error()) when the model or session cannot be made.
 * `input` holds `batch` prepared images (NHWC floats); it is copied. */
driver *driver_open(const char *path, size_t batch, size_t threads, const float *input) {
    driver *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    int32_t h, w, c;
    if (cnnz_model_load(path, &d->model) != CNNZ_OK) goto fail;
    if (cnnz_session_create_with(d->model, batch, threads, &d->session) != CNNZ_OK) goto fail;
    if (cnnz_model_input_shape(d->model, &h, &w, &c) != CNNZ_OK) goto fail;
    d->batch = batch;
    d->input_count = batch * (size_t)h * (size_t)w * (size_t)c;
    d->output_count = batch * cnnz_model_output_size(d->model);
    d->input = malloc(d->input_count * sizeof(float));
    d->output = malloc(d->output_count * sizeof(float));
    if (!d->input || !d->output) goto fail;
    memcpy(d->input, input, d->input_count * sizeof(float));
    return d;
fail:
    if (d->session) cnnz_session_free(d->session);
    if (d->model) cnnz_model_free(d->model);
    free(d->input);
    free(d->output);
    free(d);
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Runs `calls` passes, writing each one's seconds to `seconds`; returns the first failure's status. */
int driver_time(driver *d, size_t calls, double *seconds) {
    for (size_t i = 0; i < calls; i++) {
        double start = now();
        cnnz_status status = cnnz_run(d->session, d->input, d->input_count, d->batch, d->output, d->output_count);
        seconds[i] = now() - start;
        if (status != CNNZ_OK) return (int)status;
    }
    return 0;
}

/* The outputs of the last call. */
const float *driver_output(const driver *d) { return d->output; }

void driver_close(driver *d) {
    if (!d) return;
    cnnz_session_free(d->session);
    cnnz_model_free(d->model);
    free(d->input);
    free(d->output);
    free(d);
}
