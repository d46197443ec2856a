/* The exact integer Winograd F(2x2, 3x3) convolution (see include/CInt8Kernels.h and
 * Conv2DInt8Winograd.swift for the arithmetic): 16 multiply-adds per 4 outputs and input
 * channel instead of 36.
 *
 * Per block of tiles (2x2 outputs, numbered across the batch): the input transform V = Bᵀ d B of
 * each tile's 4x4 window of d = q - zero point (0 outside the image) into scratch, 16 matrices
 * [tiles][2 * pairs] int16 (channel pairs side by side, zero past the channels). Then per panel
 * group of 16 output channels and per 4 tiles: the 16 products M[xi] = V[xi] U'[xi] (vpmaddwd on
 * channel pairs, int32, wrapping) into a 4 KB buffer on the stack, then the output transform
 * Y' = Aᵀ M A, S = Y' >> 2 (arithmetic), and the AVX2 GEMM's store (int8_tile_avx2.h: the bias,
 * requantization, clamp or table, the same integers as store() in int8_common.h), each output
 * pixel inside the image written. The portable twin computes the same integers in plain C. */
#include "int8_tile_avx2.h"

#include <string.h>

/* Scratch rows: int16 per tile per matrix (2 * pairs), and matrices a cache line further apart
 * than their size (each tile writes all 16: matrices 4 KB apart share the L1's sets). */
static size_t row_s16(const cnnz_qs8_wino2x2_shape *s) { return (s->channels + 1) / 2 * 2; }
static size_t matrix_s16(const cnnz_qs8_wino2x2_shape *s, size_t block) { return block * row_s16(s) + 32; }

size_t cnnz_qs8_wino2x2_scratch(const cnnz_qs8_wino2x2_shape *s, size_t block) {
    return (16 * matrix_s16(s, block) * 2 + 63) / 64 * 64;
}

/* Tile t's image, and its window's first input row and column (may be outside the image). */
typedef struct {
    const int8_t *image;
    ptrdiff_t y, x;
    size_t oy, ox; /* its first output pixel */
    int8_t *out;   /* that pixel's output */
} tile_place;

static tile_place place(const cnnz_qs8_wino2x2_shape *s, const int8_t *input, int8_t *output, size_t t) {
    tile_place p;
    size_t image = t / s->tiles_per_image, i = t % s->tiles_per_image;
    p.oy = 2 * (i / s->tiles_x);
    p.ox = 2 * (i % s->tiles_x);
    p.image = input + image * s->height * s->width * s->channels;
    p.y = (ptrdiff_t)p.oy - (ptrdiff_t)s->pad_top;
    p.x = (ptrdiff_t)p.ox - (ptrdiff_t)s->pad_left;
    p.out = output + ((image * s->out_height + p.oy) * s->out_width + p.ox) * s->n;
    return p;
}

/* The window's 16 pixels (row-major), NULL outside the image. */
static void window_pixels(const cnnz_qs8_wino2x2_shape *s, const tile_place *p, const int8_t *px[16]) {
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            ptrdiff_t y = p->y + i, x = p->x + j;
            px[4 * i + j] = y >= 0 && y < (ptrdiff_t)s->height && x >= 0 && x < (ptrdiff_t)s->width
                                ? p->image + ((size_t)y * s->width + (size_t)x) * s->channels
                                : NULL;
        }
}

/* Bᵀ d B for one channel, d row-major (rows of Bᵀ: [1,0,-1,0], [0,1,1,0], [0,-1,1,0], [0,1,0,-1]). */
static void transform_plain(const int32_t d[16], int32_t v[16]) {
    int32_t t[16];
    for (int j = 0; j < 4; j++) {
        t[j] = d[j] - d[8 + j];
        t[4 + j] = d[4 + j] + d[8 + j];
        t[8 + j] = d[8 + j] - d[4 + j];
        t[12 + j] = d[4 + j] - d[12 + j];
    }
    for (int i = 0; i < 4; i++) {
        const int32_t *r = t + 4 * i;
        v[4 * i] = r[0] - r[2];
        v[4 * i + 1] = r[1] + r[2];
        v[4 * i + 2] = r[2] - r[1];
        v[4 * i + 3] = r[1] - r[3];
    }
}

/* Channels first..<channels of one tile's V (and the zero pair past odd channels) at v, matrices stride apart. */
static void input_plain(const cnnz_qs8_wino2x2_shape *s, const int8_t *const px[16], size_t first, int16_t *v,
                        size_t stride) {
    for (size_t c = first; c < row_s16(s); c++) {
        int32_t d[16], r[16];
        for (int i = 0; i < 16; i++) d[i] = px[i] && c < s->channels ? px[i][c] - s->zero_point : 0;
        transform_plain(d, r);
        for (int i = 0; i < 16; i++) v[(size_t)i * stride + c] = (int16_t)r[i];
    }
}

/* Weight (channel k, column j) of matrix xi in the packed layout (see the header). */
static int32_t weight(const int16_t *packed, size_t pairs, size_t xi, size_t k, size_t j) {
    size_t g = j / 16, h = j % 16 / 8;
    return packed[((g * 16 + xi) * pairs + k / 2) * 32 + h * 16 + (j % 8) * 2 + k % 2];
}

/* Aᵀ M A (rows of Aᵀ: [1,1,1,0], [0,1,-1,-1]), wrapping, for one channel: y row-major 2x2. */
static void output_plain(const uint32_t m[16], uint32_t y[4]) {
    uint32_t r0[4], r1[4];
    for (int j = 0; j < 4; j++) {
        r0[j] = m[j] + m[4 + j] + m[8 + j];
        r1[j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
    y[0] = r0[0] + r0[1] + r0[2];
    y[1] = r0[1] - r0[2] - r0[3];
    y[2] = r1[0] + r1[1] + r1[2];
    y[3] = r1[1] - r1[2] - r1[3];
}

static void wino_portable(const cnnz_qs8_wino2x2_shape *s, const int8_t *input, size_t first, size_t count,
                          size_t block, void *scratch, const int16_t *packed, const cnnz_qs8_output *out,
                          int8_t *output) {
    int16_t *v = (int16_t *)scratch;
    size_t row = row_s16(s), stride = matrix_s16(s, block), pairs = row / 2;
    for (size_t done = 0; done < count; done += block) {
        size_t tiles = count - done < block ? count - done : block;
        for (size_t t = 0; t < tiles; t++) {
            tile_place p = place(s, input, output, first + done + t);
            const int8_t *px[16];
            window_pixels(s, &p, px);
            input_plain(s, px, 0, v + t * row, stride);
        }
        for (size_t t = 0; t < tiles; t++) {
            tile_place p = place(s, input, output, first + done + t);
            for (size_t j = 0; j < s->n; j++) {
                uint32_t m[16], y[4];
                for (size_t xi = 0; xi < 16; xi++) {
                    const int16_t *a = v + xi * stride + t * row;
                    uint32_t sum = 0;
                    for (size_t k = 0; k < row; k++) sum += (uint32_t)(a[k] * weight(packed, pairs, xi, k, j));
                    m[xi] = sum;
                }
                output_plain(m, y);
                for (size_t i = 0; i < 4; i++) {
                    size_t oy = p.oy + i / 2, ox = p.ox + i % 2;
                    if (oy < s->out_height && ox < s->out_width)
                        p.out[((i / 2) * s->out_width + i % 2) * s->n + j] = store((int32_t)y[i] >> 2, j, out);
                }
            }
        }
    }
}

#ifdef CNNZ_HAVE_AVX2
/* V of 16 channels from the window's pixels px (at px[i] + c; zero where NULL), stored at v + c. */
CNNZ_T2_INLINE void input_16(const int8_t *const px[16], size_t c, __m256i zero, int16_t *v, size_t stride) {
    __m256i d[16], t[16];
    for (int i = 0; i < 16; i++)
        d[i] = px[i] ? _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(px[i] + c))), zero)
                     : _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
        t[j] = _mm256_sub_epi16(d[j], d[8 + j]);
        t[4 + j] = _mm256_add_epi16(d[4 + j], d[8 + j]);
        t[8 + j] = _mm256_sub_epi16(d[8 + j], d[4 + j]);
        t[12 + j] = _mm256_sub_epi16(d[4 + j], d[12 + j]);
    }
    for (int i = 0; i < 4; i++) {
        const __m256i *r = t + 4 * i;
        __m256i o[4] = {_mm256_sub_epi16(r[0], r[2]), _mm256_add_epi16(r[1], r[2]), _mm256_sub_epi16(r[2], r[1]),
                        _mm256_sub_epi16(r[1], r[3])};
        for (int j = 0; j < 4; j++) _mm256_storeu_si256((__m256i *)(v + (size_t)(4 * i + j) * stride + c), o[j]);
    }
}

/* One tile's V: 16 channels a vector; the last 1 to 15 from copies padded with the zero point
 * (d = 0, so V = 0 past the channels), all 16 stored: the values past the row land in the next
 * tile's row (written after this one) or, for a block's last tile, in the matrix's slack. */
static CNNZ_T2 void input_tile(const cnnz_qs8_wino2x2_shape *s, const tile_place *p, int16_t *v, size_t stride) {
    const int8_t *px[16];
    window_pixels(s, p, px);
    const __m256i zero = _mm256_set1_epi16((int16_t)s->zero_point);
    size_t c = 0;
    for (; c + 16 <= s->channels; c += 16) input_16(px, c, zero, v, stride);
    if (c == s->channels) return;
    int8_t copies[16][16];
    const int8_t *tail[16];
    for (int i = 0; i < 16; i++) {
        tail[i] = NULL;
        if (!px[i]) continue;
        memset(copies[i], (int8_t)s->zero_point, 16);
        memcpy(copies[i], px[i] + c, s->channels - c);
        tail[i] = copies[i];
    }
    input_16(tail, 0, zero, v + c, stride);
}

/* One pair of channels j for mr tiles (rows `row` int16 apart from a) by np panels at w. */
CNNZ_T2_INLINE void product_pair(const int mr, const int np, __m256i acc[4][2], const int16_t *a, size_t row, size_t j,
                                 const int16_t *w) {
    __m256i b0 = _mm256_loadu_si256((const __m256i *)w);
    __m256i b1 = np > 1 ? _mm256_loadu_si256((const __m256i *)(w + 16)) : b0;
    for (int r = 0; r < mr; r++) {
        int32_t x32;
        memcpy(&x32, a + (size_t)r * row + 2 * j, 4);
        __m256i x = _mm256_set1_epi32(x32);
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(x, b0));
        if (np > 1) acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(x, b1));
    }
}

/* The 16 products of mr tiles (V rows `row` int16 apart in each matrix, matrices `stride` apart)
 * by one panel group's np panels (u), into m[xi][r][16]. */
CNNZ_T2_INLINE void products(const int mr, const int np, const int16_t *v, size_t stride, size_t row, size_t pairs,
                             const int16_t *u, int32_t m[16][4][16]) {
    for (size_t xi = 0; xi < 16; xi++) {
        __m256i acc[4][2];
        for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
        const int16_t *a = v + xi * stride;
        const int16_t *w = u + xi * pairs * 32;
        /* Two pairs per pass (as the GEMM's tiles): the loop's count, compare and branch once. */
        size_t j = 0;
        for (; j + 2 <= pairs; j += 2, w += 64) {
            product_pair(mr, np, acc, a, row, j, w);
            product_pair(mr, np, acc, a, row, j + 1, w + 32);
        }
        if (j < pairs) product_pair(mr, np, acc, a, row, j, w);
        for (int r = 0; r < mr; r++)
            for (int h = 0; h < np; h++) _mm256_storeu_si256((__m256i *)&m[xi][r][8 * h], acc[r][h]);
    }
}

/* Aᵀ M A >> 2 of 8 channels (column 8 h of m's rows) of tile r: y[0..3] row-major. */
CNNZ_T2_INLINE void output_tile(int32_t m[16][4][16], int r, int h, __m256i y[4]) {
    __m256i r0[4], r1[4];
    for (int j = 0; j < 4; j++) {
        __m256i m0 = _mm256_loadu_si256((const __m256i *)&m[j][r][8 * h]);
        __m256i m1 = _mm256_loadu_si256((const __m256i *)&m[4 + j][r][8 * h]);
        __m256i m2 = _mm256_loadu_si256((const __m256i *)&m[8 + j][r][8 * h]);
        __m256i m3 = _mm256_loadu_si256((const __m256i *)&m[12 + j][r][8 * h]);
        r0[j] = _mm256_add_epi32(_mm256_add_epi32(m0, m1), m2);
        r1[j] = _mm256_sub_epi32(_mm256_sub_epi32(m1, m2), m3);
    }
    y[0] = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(r0[0], r0[1]), r0[2]), 2);
    y[1] = _mm256_srai_epi32(_mm256_sub_epi32(_mm256_sub_epi32(r0[1], r0[2]), r0[3]), 2);
    y[2] = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(r1[0], r1[1]), r1[2]), 2);
    y[3] = _mm256_srai_epi32(_mm256_sub_epi32(_mm256_sub_epi32(r1[1], r1[2]), r1[3]), 2);
}

/* mr tiles of one panel group: products, then each tile's 4 pixels' width columns stored (those
 * inside the image). kind: a constant (CNNZ_R8_*). */
CNNZ_T2_INLINE void tiles_group(const int mr, const int np, const int kind, const cnnz_qs8_wino2x2_shape *s,
                                const tile_place *places, const int16_t *v, size_t stride, size_t pairs,
                                const int16_t *u, const cnnz_requant8_group *g, size_t column, size_t width,
                                const int8_t *table) {
    int32_t m[16][4][16] __attribute__((aligned(32)));
    products(mr, np, v, stride, 2 * pairs, pairs, u, m);
    const cnnz_requant8 *p = g->panel;
    for (int r = 0; r < mr; r++) {
        __m256i y[2][4];
        for (int h = 0; h < np; h++) {
            output_tile(m, r, h, y[h]);
            for (int i = 0; i < 4; i++)
                y[h][i] = requant8_as(_mm256_add_epi32(y[h][i], p[h].bias), requant8_fresh(p + h), kind);
        }
        const tile_place *t = places + r;
        for (int i = 0; i < 4; i++) {
            size_t oy = t->oy + (size_t)(i / 2), ox = t->ox + (size_t)(i % 2);
            if (oy >= s->out_height || ox >= s->out_width) continue;
            int8_t *c = t->out + ((size_t)(i / 2) * s->out_width + (size_t)(i % 2)) * s->n + column;
            if (np == 2)
                store_row_bytes(requant8_bytes16(y[0][i], y[1][i], p), 16, width, width == 16, table, c);
            else
                store_row_bytes(requant8_bytes(y[0][i], p), 8, width, width == 8, table, c);
        }
    }
}

#define CNNZ_WINO_TILES(MR, NP)                                                                                   \
    switch (g->kind) {                                                                                            \
    case CNNZ_R8_FAST:                                                                                            \
        tiles_group(MR, NP, CNNZ_R8_FAST, s, places, v, stride, pairs, u, g, column, width, out->table);          \
        break;                                                                                                    \
    case CNNZ_R8_FAST_CORRECTS:                                                                                   \
        tiles_group(MR, NP, CNNZ_R8_FAST_CORRECTS, s, places, v, stride, pairs, u, g, column, width, out->table); \
        break;                                                                                                    \
    default:                                                                                                      \
        tiles_group(MR, NP, CNNZ_R8_GENERAL, s, places, v, stride, pairs, u, g, column, width, out->table);       \
        break;                                                                                                    \
    }

static CNNZ_T2 void tiles_group_any(size_t mr, int np, const cnnz_qs8_wino2x2_shape *s, const tile_place *places,
                                    const int16_t *v, size_t stride, size_t pairs, const int16_t *u,
                                    const cnnz_requant8_group *g, size_t column, size_t width,
                                    const cnnz_qs8_output *out) {
    /* Each (mr, np) a build of its own: the tile's loops unrolled for its constants. */
#define CNNZ_WINO_ROWS(NP)                                                                                         \
    if (mr == 4) {                                                                                                \
        CNNZ_WINO_TILES(4, NP)                                                                                    \
    } else if (mr == 3) {                                                                                         \
        CNNZ_WINO_TILES(3, NP)                                                                                    \
    } else if (mr == 2) {                                                                                         \
        CNNZ_WINO_TILES(2, NP)                                                                                    \
    } else {                                                                                                      \
        CNNZ_WINO_TILES(1, NP)                                                                                    \
    }
    if (np == 2) {
        CNNZ_WINO_ROWS(2)
    } else {
        CNNZ_WINO_ROWS(1)
    }
#undef CNNZ_WINO_ROWS
}
#undef CNNZ_WINO_TILES

static CNNZ_T2 void cnnz_qs8_wino2x2_4x16c2__avx2(const cnnz_qs8_wino2x2_shape *s, const int8_t *input, size_t first,
                                                  size_t count, size_t block, void *scratch, const int16_t *packed,
                                                  const void *stage, const cnnz_qs8_output *out, int8_t *output) {
    int16_t *v = (int16_t *)scratch;
    size_t row = row_s16(s), stride = matrix_s16(s, block), pairs = row / 2;
    for (size_t done = 0; done < count; done += block) {
        size_t tiles = count - done < block ? count - done : block;
        for (size_t t = 0; t < tiles; t++) {
            tile_place p = place(s, input, output, first + done + t);
            input_tile(s, &p, v + t * row, stride);
        }
        /* Panel groups outer: a group's U' (16 * pairs * 64 bytes) stays in cache across the block. */
        for (size_t gi = 0; gi < (s->n + 15) / 16; gi++) {
            const cnnz_requant8_group *g = (const cnnz_requant8_group *)stage + gi;
            size_t column = 16 * gi, width = s->n - column < 16 ? s->n - column : 16;
            int np = width > 8 ? 2 : 1;
            const int16_t *u = packed + gi * 16 * pairs * 32;
            for (size_t t = 0; t < tiles; t += 4) {
                size_t mr = tiles - t < 4 ? tiles - t : 4;
                tile_place places[4];
                for (size_t r = 0; r < mr; r++) places[r] = place(s, input, output, first + done + t + r);
                tiles_group_any(mr, np, s, places, v + t * row, stride, pairs, u, g, column, width, out);
            }
        }
    }
}
#endif

void cnnz_qs8_wino2x2(int level, const cnnz_qs8_wino2x2_shape *s, const int8_t *input, size_t first, size_t count,
                      size_t block, void *scratch, const int16_t *packed, const void *stage,
                      const cnnz_qs8_output *out, int8_t *output) {
#ifdef CNNZ_HAVE_AVX2
    if (level >= CNNZ_INT8_AVX2 && stage) {
        cnnz_qs8_wino2x2_4x16c2__avx2(s, input, first, count, block, scratch, packed, stage, out, output);
        return;
    }
#endif
    (void)level;
    (void)stage;
    wino_portable(s, input, first, count, block, scratch, packed, out, output);
}
