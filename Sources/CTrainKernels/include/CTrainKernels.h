/* The trainer's memory-bound loops that Swift does not vectorize (2x2 max pooling), in C that
 * compilers vectorize. Internal to cnnz's trainer: no stable API. */
#ifndef CTRAINKERNELS_H
#define CTRAINKERNELS_H

#include <stdint.h>

/* 2x2, stride 2 max pooling of `batch` NHWC images of h x w x c into (h / 2) x (w / 2) x c:
 * y gets the maxima, best the winner's place in its window (0 top left, 1 top right,
 * 2 bottom left, 3 bottom right; the first of equal values wins). */
void cnnz_train_maxpool2x2_forward(const float *x, float *y, int32_t *best, long batch, long h, long w, long c);

/* The gradient of that pooling: each window's winner gets dy, the others 0; when `masks`,
 * dy counts only where y > 0 (the ReLU before the pooling). Writes every input of the
 * windows; rows and columns past 2 * (h / 2), 2 * (w / 2) are left alone. */
void cnnz_train_maxpool2x2_backward(const float *dy, const float *y, const int32_t *best, float *dx, long batch,
                                    long h, long w, long c, int masks);

#endif
