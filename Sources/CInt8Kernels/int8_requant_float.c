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
 * kernels run. The split form is non-decreasing only on each side of 0, so each side is proved on
 * its own domain, with two more points: h(0) >= g(0) and h(-1) < g(-1) + 1. That is at most
 * 2 * 255 + 2 points per column, and it proves h = g on all of int32.
 *
 * f starts as m / 2^(31 - shift) rounded to float, then its neighbours up to 2 ulps away; for
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

/* The points to check, as arrays of 8-lane vectors: h(x[i]) >= j[i] where at[i] is -1, h(x[i]) <
 * j[i] where it is 0; count rounded up to 8 with points that always hold. */
typedef struct {
    int32_t x[528], j[528], at[528];
    size_t count;
} requant_points;

static void requant_point_add(requant_points *p, int32_t x, int32_t j, int at) {
    p->x[p->count] = x;
    p->j[p->count] = j;
    p->at[p->count] = at ? -1 : 0;
    p->count++;
}

/* Whether every point of the side (0: x >= 0, 1: x < 0, 2: both) holds with f and the constants
 * (c_negative where x < 0): h with the kernels' instructions (requant8_float_as), 8 points a pass. */
static CNNZ_AVX2F_TARGET int requant_points_hold(const requant_points *p, int side, float f, float c,
                                                 float c_negative, const cnnz_requant_float_column *col) {
    const __m256 scale = _mm256_set1_ps(f), constant = _mm256_set1_ps(c), negative = _mm256_set1_ps(c_negative);
    const __m256i low = _mm256_set1_epi32(col->min), high = _mm256_set1_epi32(col->max);
    const __m256i all = _mm256_set1_epi32(-1);
    for (size_t i = 0; i < p->count; i += 8) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(p->x + i));
        __m256i j = _mm256_loadu_si256((const __m256i *)(p->j + i));
        __m256i at = _mm256_loadu_si256((const __m256i *)(p->at + i));
        __m256 cs = _mm256_blendv_ps(constant, negative, _mm256_castsi256_ps(x));
        __m256i v = _mm256_cvtps_epi32(_mm256_fmadd_ps(_mm256_cvtepi32_ps(x), scale, cs));
        v = _mm256_min_epi32(_mm256_max_epi32(v, low), high);
        /* Wrong where (v >= j) differs from at. */
        __m256i bad = _mm256_xor_si256(_mm256_xor_si256(_mm256_cmpgt_epi32(j, v), all), at);
        __m256i negatives = _mm256_cmpgt_epi32(_mm256_setzero_si256(), x);
        if (side == 0) bad = _mm256_andnot_si256(negatives, bad);
        if (side == 1) bad = _mm256_and_si256(negatives, bad);
        if (!_mm256_testz_si256(bad, bad)) return 0;
    }
    return 1;
}

/* The interval of c each side's points allow with f (their real-number inequalities,
 * c >= j - 1/2 - x f where h(x) >= j is wanted, c < j - 1/2 - x f where h(x) < j): low[side],
 * high[side] for sides 0 (x >= 0) and 1 (x < 0), in one pass over the points, 4 a step. */
static CNNZ_AVX2F_TARGET void requant_intervals(const requant_points *p, float f, double low[2], double high[2]) {
    const __m256d scale = _mm256_set1_pd(f), half = _mm256_set1_pd(0.5);
    const __m256d none_low = _mm256_set1_pd(-1e30), none_high = _mm256_set1_pd(1e30);
    __m256d low0 = none_low, low1 = none_low, high0 = none_high, high1 = none_high;
    /* 4 points a pass (count is a multiple of 8): (double)(float)x * f is exact in double. */
    for (size_t i = 0; i < p->count; i += 4) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p->x + i));
        __m128i at = _mm_loadu_si128((const __m128i *)(p->at + i));
        __m256d j = _mm256_cvtepi32_pd(_mm_loadu_si128((const __m128i *)(p->j + i)));
        __m256d bound = _mm256_sub_pd(_mm256_sub_pd(j, half), _mm256_mul_pd(_mm256_cvtps_pd(_mm_cvtepi32_ps(x)), scale));
        __m256d ats = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(at));
        __m256d negatives = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_cmpgt_epi32(_mm_setzero_si128(), x)));
        __m256d lows = _mm256_blendv_pd(none_low, bound, ats), highs = _mm256_blendv_pd(bound, none_high, ats);
        low0 = _mm256_max_pd(low0, _mm256_blendv_pd(lows, none_low, negatives));
        low1 = _mm256_max_pd(low1, _mm256_blendv_pd(none_low, lows, negatives));
        high0 = _mm256_min_pd(high0, _mm256_blendv_pd(highs, none_high, negatives));
        high1 = _mm256_min_pd(high1, _mm256_blendv_pd(none_high, highs, negatives));
    }
    double l0[4], l1[4], h0[4], h1[4];
    _mm256_storeu_pd(l0, low0);
    _mm256_storeu_pd(l1, low1);
    _mm256_storeu_pd(h0, high0);
    _mm256_storeu_pd(h1, high1);
    low[0] = low[1] = -1e30;
    high[0] = high[1] = 1e30;
    for (int k = 0; k < 4; k++) {
        low[0] = l0[k] > low[0] ? l0[k] : low[0];
        low[1] = l1[k] > low[1] ? l1[k] : low[1];
        high[0] = h0[k] < high[0] ? h0[k] : high[0];
        high[1] = h1[k] < high[1] ? h1[k] : high[1];
    }
}

/* A c in [low, high) for the side (2: both) whose points all hold: the middle, or a float next to
 * it (up to 4 steps either way); *found 0 if none. */
static float requant_constant(const requant_points *p, int side, float f, double low, double high,
                              const cnnz_requant_float_column *col, int *found) {
    *found = 0;
    if (!(low <= high)) return 0;
    /* With no bound on a side (no point there), any c in reach. */
    double middle = low < -1e29 ? (high > 1e29 ? 0 : high - 1) : high > 1e29 ? low + 1 : (low + high) / 2;
    float c = (float)middle;
    /* Near a zero point in practice; the bound keeps |x f + c| < 2^30 + 2^16, inside cvtps2dq's
     * range, which h's monotonicity (and so the proof) needs. */
    if (!(fabs(middle) < 65536)) return 0;
    for (int step = 0; step < 9; step++) {
        int k = (step + 1) / 2;
        float t = c;
        for (int i = 0; i < k; i++) t = nextafterf(t, step % 2 ? INFINITY : -INFINITY);
        if (requant_points_hold(p, side, f, t, t, col)) {
            *found = 1;
            return t;
        }
    }
    return 0;
}

/* Whether g(x) >= j for the reference g: requantize(x) + zero point >= j, j in (min, max]. */
static int requant_reaches(int32_t x, int32_t j, int32_t m, int32_t shift, const cnnz_requant_float_column *col) {
    return (int64_t)requantize(x, m, shift) + col->zero_point >= j;
}

/* The points of every level j in (min, max]: t, the least x with g(x) >= j, and t - 1 (or, where g
 * never reaches j, INT32_MAX; where g(INT32_MIN) >= j, INT32_MIN alone). Levels 8 at a time: t from
 * a double estimate near (j - zero point - 1/2 - 2^-(r + 1)) / F (the short form's floor,
 * int8_requant256.h), checked with requantize8 (int8_common.h, the reference's integers); lanes
 * where it is not the threshold moved onto it with the scalar reference. 0 if that takes long. */
static CNNZ_AVX2F_TARGET int requant_thresholds(int32_t m, int32_t shift, const cnnz_requant_float_column *col,
                                                requant_points *p) {
    int r = -shift;
    double inverse = m ? ldexp(1.0, 31 + r) / (double)m : 0;
    double base = col->zero_point + 0.5 + ldexp(1.0, -(r + 1));
    const __m256i mv = _mm256_set1_epi32(m), sv = _mm256_set1_epi32(shift), one = _mm256_set1_epi32(1);
    p->count = 0;
    for (int32_t j0 = col->min + 1; j0 <= col->max; j0 += 8) {
        int32_t t[8], levels[8];
        int64_t wide[8];
        for (int i = 0; i < 8; i++) {
            levels[i] = j0 + i <= col->max ? j0 + i : col->max;
            double estimate = m ? ceil((levels[i] - base) * inverse) : 0;
            wide[i] = estimate > (double)INT32_MAX   ? (int64_t)INT32_MAX + 1
                      : estimate <= (double)INT32_MIN ? INT32_MIN
                                                      : (int64_t)estimate;
            t[i] = wide[i] > INT32_MAX || wide[i] == INT32_MIN ? 0 : (int32_t)wide[i];
        }
        __m256i tv = _mm256_loadu_si256((const __m256i *)t);
        __m256i jz = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)levels), _mm256_set1_epi32(col->zero_point));
        __m256i at = requantize8(tv, mv, sv), below = requantize8(_mm256_sub_epi32(tv, one), mv, sv);
        /* The threshold where requantize(t) >= j - zero point > requantize(t - 1). */
        __m256i good = _mm256_andnot_si256(_mm256_cmpgt_epi32(jz, at), _mm256_cmpgt_epi32(jz, below));
        int mask = _mm256_movemask_ps(_mm256_castsi256_ps(good));
        for (int i = 0; i < 8 && j0 + i <= col->max; i++) {
            int32_t j = j0 + i;
            int64_t x = wide[i];
            if (!(mask >> i & 1) || x > INT32_MAX || x == INT32_MIN) {
                for (int moves = 0; x <= INT32_MAX && !requant_reaches((int32_t)x, j, m, shift, col); moves++, x++)
                    if (moves > 64) return 0;
                for (int moves = 0; x > INT32_MIN && requant_reaches((int32_t)(x - 1), j, m, shift, col); moves++, x--)
                    if (moves > 64) return 0;
            }
            if (x > INT32_MAX) {
                requant_point_add(p, INT32_MAX, j, 0);
            } else {
                requant_point_add(p, (int32_t)x, j, 1);
                if (x > INT32_MIN) requant_point_add(p, (int32_t)(x - 1), j, 0);
            }
        }
    }
    /* The split form's two sides are each non-decreasing, not h as a whole, so each side is
     * checked on its own domain: x >= 0 must also start at g(0) (levels reached below 0) and
     * x < 0 stay below g(-1) + 1 (levels first reached at or above 0, or never). With these two
     * points every level's threshold is fixed on both domains. They hold for g, so they cost the
     * one-constant form nothing. */
    int32_t at_zero = (int32_t)((int64_t)requantize(0, m, shift) + col->zero_point);
    int32_t below_zero = (int32_t)((int64_t)requantize(-1, m, shift) + col->zero_point);
    if (at_zero > col->min) requant_point_add(p, 0, at_zero > col->max ? col->max : at_zero, 1);
    if (below_zero < col->max) requant_point_add(p, -1, below_zero < col->min ? col->min + 1 : below_zero + 1, 0);
    while (p->count % 8) requant_point_add(p, 0, -1000, 1);
    return 1;
}

int cnnz_requant_float_find(int32_t m, int32_t shift, const cnnz_requant_float_column *col, cnnz_requant_float *form) {
    if (m < 0 || shift > -1 || shift < -23 || col->min > col->max) return 0;
    requant_points points;
    if (!requant_thresholds(m, shift, col, &points)) return 0;
    float first = (float)ldexp((double)m, shift - 31);
    for (int step = 0; step < 5; step++) {
        int k = (step + 1) / 2;
        float f = first;
        for (int i = 0; i < k; i++) f = nextafterf(f, step % 2 ? INFINITY : 0.0f);
        if (!(f > 0) && m != 0) continue;
        int found;
        double low[2], high[2];
        requant_intervals(&points, f, low, high);
        /* One constant for both sides, else one each. */
        float c = requant_constant(&points, 2, f, low[0] > low[1] ? low[0] : low[1],
                                   high[0] < high[1] ? high[0] : high[1], col, &found);
        if (found) {
            *form = (cnnz_requant_float){f, c, c, 0};
            return 1;
        }
        float positive = requant_constant(&points, 0, f, low[0], high[0], col, &found);
        if (!found) continue;
        float negative = requant_constant(&points, 1, f, low[1], high[1], col, &found);
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
