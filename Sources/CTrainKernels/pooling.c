#include "include/CTrainKernels.h"

#include <string.h>

/* Four floats or four int32 (GCC and Clang vector extensions): SSE2 on any x86-64, NEON on ARM. */
typedef float f4 __attribute__((vector_size(16)));
typedef int32_t i4 __attribute__((vector_size(16)));

static f4 load(const float *p) {
  f4 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static i4 load_i(const int32_t *p) {
  i4 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static void store(float *p, f4 v) { memcpy(p, &v, sizeof v); }
static void store_i(int32_t *p, i4 v) { memcpy(p, &v, sizeof v); }

/* `value` where `mask` is all ones, else 0. */
static f4 keep(f4 value, i4 mask) { return (f4)((i4)value & mask); }

void cnnz_train_maxpool2x2_forward(const float *x, float *y, int32_t *best, long batch, long h, long w, long c) {
  const long oh = h / 2, ow = w / 2, vectors = c / 4 * 4;
  for (long b = 0; b < batch; b++) {
    for (long oy = 0; oy < oh; oy++) {
      for (long ox = 0; ox < ow; ox++) {
        const long base = ((b * oh + oy) * ow + ox) * c;
        const float *x0 = x + ((b * h + 2 * oy) * w + 2 * ox) * c;
        const float *x1 = x0 + c, *x2 = x0 + w * c, *x3 = x2 + c;
        long ch = 0;
        for (; ch < vectors; ch += 4) {
          /* The first of equal values wins. */
          f4 v = load(x0 + ch);
          i4 q = {0, 0, 0, 0};
          const f4 a1 = load(x1 + ch), a2 = load(x2 + ch), a3 = load(x3 + ch);
          i4 wins = a1 > v;
          q = (q & ~wins) | (wins & 1);
          v = (f4)(((i4)v & ~wins) | ((i4)a1 & wins));
          wins = a2 > v;
          q = (q & ~wins) | (wins & 2);
          v = (f4)(((i4)v & ~wins) | ((i4)a2 & wins));
          wins = a3 > v;
          q = (q & ~wins) | (wins & 3);
          v = (f4)(((i4)v & ~wins) | ((i4)a3 & wins));
          store(y + base + ch, v);
          store_i(best + base + ch, q);
        }
        for (; ch < c; ch++) {
          float v = x0[ch];
          int32_t q = 0;
          if (x1[ch] > v) { v = x1[ch]; q = 1; }
          if (x2[ch] > v) { v = x2[ch]; q = 2; }
          if (x3[ch] > v) { v = x3[ch]; q = 3; }
          y[base + ch] = v;
          best[base + ch] = q;
        }
      }
    }
  }
}

void cnnz_train_maxpool2x2_backward(const float *dy, const float *y, const int32_t *best, float *dx, long batch,
                                    long h, long w, long c, int masks) {
  const long oh = h / 2, ow = w / 2, vectors = c / 4 * 4;
  const f4 zero = {0, 0, 0, 0};
  for (long b = 0; b < batch; b++) {
    for (long oy = 0; oy < oh; oy++) {
      for (long ox = 0; ox < ow; ox++) {
        const long base = ((b * oh + oy) * ow + ox) * c;
        float *d0 = dx + ((b * h + 2 * oy) * w + 2 * ox) * c;
        float *d1 = d0 + c, *d2 = d0 + w * c, *d3 = d2 + c;
        long ch = 0;
        for (; ch < vectors; ch += 4) {
          f4 g = load(dy + base + ch);
          if (masks) g = keep(g, load(y + base + ch) > zero);
          const i4 q = load_i(best + base + ch);
          store(d0 + ch, keep(g, q == 0));
          store(d1 + ch, keep(g, q == 1));
          store(d2 + ch, keep(g, q == 2));
          store(d3 + ch, keep(g, q == 3));
        }
        for (; ch < c; ch++) {
          const float g = !masks || y[base + ch] > 0 ? dy[base + ch] : 0.0f;
          const int32_t q = best[base + ch];
          d0[ch] = q == 0 ? g : 0.0f;
          d1[ch] = q == 1 ? g : 0.0f;
          d2[ch] = q == 2 ? g : 0.0f;
          d3[ch] = q == 3 ? g : 0.0f;
        }
      }
    }
  }
}
