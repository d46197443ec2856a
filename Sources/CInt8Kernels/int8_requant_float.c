/* The float form of a column's output stage (int8_requant256.h, requant8_float_as), found and
 * proved at prepare time.
 *
 * The output byte of a column is g(x) = clamp(requantize(x, m, shift) + zero point, min, max)
 * (int8_common.h's store without the table), a non-decreasing function of the int32 sum x (m >= 0:
 * both roundings are monotone). The float form is
 * h(x) = clamp(cvtps2dq(fma(cvtdq2ps(x), f, c)), min, max), c taken from c_negative where x < 0
 * (split: TensorFlow Lite rounds ties away from zero, so sums below zero round on the other side),
 * 3 vector instructions per 8 values (4 split) where the 64-bit short form takes 9 (15 with its
 * step below zero). Each step of h is non-decreasing too, in round-to-nearest: the conversions
 * and the fma round correctly (f > 0), and with shift <= -1, |fma| < 2^30 + 256, so cvtps2dq never
 * gives its out-of-range value.
 *
 * Two non-decreasing functions on int32 are the same iff for every level j in (min, max] they
 * first reach j at the same x. So for each j the search finds t, the least x with g(x) >= j
 * (from a double estimate, moved until g(t - 1) < j <= g(t), with the reference requantize),
 * and the form is used only if h(t - 1) < j <= h(t) too (or, where g never reaches j, h(INT32_MAX) < j;
 * where g(INT32_MIN) >= j already, h(INT32_MIN) >= j), each evaluated with the instructions the
 * kernels run. That is at most 2 * 255 points per column, and it proves h = g on all of int32.
 *
 * f starts as m / 2^(31 - shift) rounded to float, then its neighbours up to 4 ulps away; for
 * each f, the c allowed by the points' real-number inequalities (c >= j - 1/2 - x f, and
 * c < j - 1/2 - x f) give an interval, whose middle and the floats next to it are tried. A float
 * f carries 24 bits, so thresholds 1/F apart over 255 levels are not always all placed right:
 * for F = m / 2^(31 - shift) below about 0.002 the search often finds nothing, and the column keeps
 * the exact 64-bit form.
 *
 * It assumes the default rounding mode (round to nearest even) both here and when the kernels
 * run: the kernels check MXCSR per call and use the 64-bit form otherwise. */
#include "int8_requant256.h"

#include <math.h>

#ifdef CNNZ_HAVE_AVX2

/* g: the reference byte (before any table). */
static int32_t requant_exact(int32_t x, int32_t m, int32_t shift, const cnnz_requant_float_column *col) {
    int64_t v = (int64_t)requantize(x, m, shift) + col->zero_point;
    return v < col->min ? col->min : v > col->max ? col->max : (int32_t)v;
}

/* h, with the kernels' instructions (requant8_float_as on one lane). */
static CNNZ_AVX2F_TARGET int32_t requant_float_at(int32_t x, float f, float c, const cnnz_requant_float_column *col) {
    __m128 y = _mm_fmadd_ss(_mm_cvtsi32_ss(_mm_setzero_ps(), x), _mm_set_ss(f), _mm_set_ss(c));
    int32_t v = _mm_cvtss_si32(y);
    return v < col->min ? col->min : v > col->max ? col->max : v;
}

/* A point to check: h(x) >= j (at) or h(x) < j. */
typedef struct {
    int32_t x, j, at;
} requant_point;

/* Whether every point of the side (0: x >= 0, 1: x < 0, 2: both) holds with f and c. */
static int requant_points_hold(const requant_point *p, size_t count, int side, float f, float c,
                               const cnnz_requant_float_column *col) {
    for (size_t i = 0; i < count; i++) {
        if (side != 2 && (p[i].x < 0) != side) continue;
        int32_t v = requant_float_at(p[i].x, f, c, col);
        if (p[i].at ? v < p[i].j : v >= p[i].j) return 0;
    }
    return 1;
}

/* A c for f on one side: the middle of the interval the points allow, or a float next to it
 * (up to 8 steps), or 0 (*found 0). */
static float requant_constant(const requant_point *p, size_t count, int side, float f,
                              const cnnz_requant_float_column *col, int *found) {
    double low = -1e30, high = 1e30;
    for (size_t i = 0; i < count; i++) {
        if (side != 2 && (p[i].x < 0) != side) continue;
        double bound = p[i].j - 0.5 - (double)(float)p[i].x * f;
        if (p[i].at && bound > low) low = bound;
        if (!p[i].at && bound < high) high = bound;
    }
    *found = 0;
    if (!(low <= high)) return 0;
    /* With no bound on a side (no point there), any c in reach. */
    double middle = low < -1e29 ? (high > 1e29 ? 0 : high - 1) : high > 1e29 ? low + 1 : (low + high) / 2;
    float c = (float)middle;
    for (int step = 0; step < 17; step++) {
        int k = (step + 1) / 2;
        float t = c;
        for (int i = 0; i < k; i++) t = nextafterf(t, step % 2 ? INFINITY : -INFINITY);
        if (requant_points_hold(p, count, side, f, t, col)) {
            *found = 1;
            return t;
        }
    }
    return 0;
}

int cnnz_requant_float_find(int32_t m, int32_t shift, const cnnz_requant_float_column *col, cnnz_requant_float *form) {
    if (m < 0 || shift > -1 || shift < -23 || col->min > col->max) return 0;
    int r = -shift;
    double scale = ldexp((double)m, -(31 + r));
    requant_point points[512];
    size_t count = 0;
    for (int32_t j = col->min + 1; j <= col->max; j++) {
        /* The least x with g(x) >= j: near (j - zero point - 1/2 - 2^-(r + 1)) / F (the short
         * form's floor, int8_requant256.h), then moved onto it with g itself. */
        int64_t t;
        if (m == 0) {
            t = requant_exact(0, m, shift, col) >= j ? INT32_MIN : (int64_t)INT32_MAX + 1;
        } else {
            double estimate = ceil((j - col->zero_point - 0.5 - ldexp(1.0, -(r + 1))) / scale);
            t = estimate > (double)INT32_MAX ? (int64_t)INT32_MAX + 1
                : estimate < (double)INT32_MIN ? INT32_MIN
                                               : (int64_t)estimate;
            for (int moves = 0; t <= INT32_MAX && requant_exact((int32_t)t, m, shift, col) < j; moves++, t++)
                if (moves > 64) return 0;
            for (int moves = 0; t > INT32_MIN && requant_exact((int32_t)(t - 1), m, shift, col) >= j; moves++, t--)
                if (moves > 64) return 0;
        }
        if (t > INT32_MAX) {
            points[count++] = (requant_point){INT32_MAX, j, 0};
        } else {
            points[count++] = (requant_point){(int32_t)t, j, 1};
            if (t > INT32_MIN) points[count++] = (requant_point){(int32_t)(t - 1), j, 0};
        }
    }
    float first = (float)scale;
    for (int step = 0; step < 9; step++) {
        int k = (step + 1) / 2;
        float f = first;
        for (int i = 0; i < k; i++) f = nextafterf(f, step % 2 ? INFINITY : 0.0f);
        if (!(f > 0) && m != 0) continue;
        int found;
        /* One constant for both sides, else one each. */
        float c = requant_constant(points, count, 2, f, col, &found);
        if (found) {
            *form = (cnnz_requant_float){f, c, c, 0};
            return 1;
        }
        float positive = requant_constant(points, count, 0, f, col, &found);
        if (!found) continue;
        float negative = requant_constant(points, count, 1, f, col, &found);
        if (!found) continue;
        *form = (cnnz_requant_float){f, positive, negative, 1};
        return 1;
    }
    return 0;
}

#else
int cnnz_requant_float_find(int32_t m, int32_t shift, const cnnz_requant_float_column *col, cnnz_requant_float *form) {
    (void)m, (void)shift, (void)col, (void)form;
    return 0;
}
#endif
