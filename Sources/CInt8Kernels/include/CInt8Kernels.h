/* Int8 microkernels for cnnz's int8 layers (issue 14). Internal to cnnz: no stable API. Every
 * variant computes the same integers. The `level` arguments say which instructions the caller's
 * run-time CPU check allows: CNNZ_INT8_PORTABLE (plain C, every CPU), CNNZ_INT8_AVX2 (AVX2,
 * after cnnz_cpu_has_avx2_fma()), CNNZ_INT8_AVX512 (AVX-512 F/BW/DQ/VL, after
 * cnnz_cpu_has_avx512()). The VNNI GEMMs are called only after cnnz_cpu_has_avx512_vnni()
 * (512-bit) or cnnz_cpu_has_avx_vnni() (256-bit). */
#ifndef CINT8KERNELS_H
#define CINT8KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* How int32 sums become int8 outputs, per output column n: add bias[n], multiply by
 * multiplier[n] * 2^(shift[n] - 31) with TensorFlow Lite's rounding (a rounding doubling
 * high multiply, ties toward +infinity, then a rounding right shift, ties away from zero),
 * add zero_point, clamp to [min, max] (the exact sum's clamp: nothing wraps around, however close
 * to either end of int32 the requantized value is), and, when table is not NULL, map q to
 * table[q + 128]. */
#define CNNZ_INT8_PORTABLE 0
#define CNNZ_INT8_AVX2 1
#define CNNZ_INT8_AVX512 2

typedef struct {
    const int32_t *bias;
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t zero_point;
    int32_t min;
    int32_t max;
    const int8_t *table;
} cnnz_qs8_output;

/* Packed weights: panels of 8 columns; in panel p, for each pair of rows kp, 16 int16:
 * w[2kp][8p+0], w[2kp+1][8p+0], w[2kp][8p+1], w[2kp+1][8p+1], ... (zero past k and n).
 * a: m rows of 2*kpairs int16 (the input minus its zero point; zero past k), row stride lda.
 * c: m rows of n int8, row stride ldc. */
void cnnz_qs8_gemm_portable(size_t m, size_t n, size_t kpairs, const int16_t *a, size_t lda, const int16_t *packed,
                            const cnnz_qs8_output *out, int8_t *c, size_t ldc);
void cnnz_qs8_gemm_avx2(size_t m, size_t n, size_t kpairs, const int16_t *a, size_t lda, const int16_t *packed,
                        const void *stage, const cnnz_qs8_output *out, int8_t *c, size_t ldc);

/* A column's output stage as the float form (int8_requant_float.c; the AVX2 GEMM tiles' and
 * depthwise rows' store where every column of a group or block has one): the byte is
 * clamp(cvtps2dq(fma(float(x), scale, x < 0 ? constant_negative : constant)), min, max). split:
 * whether the constants differ (else constant_negative == constant). */
typedef struct {
    float scale, constant, constant_negative;
    int32_t split;
} cnnz_requant_float;

typedef struct {
    int32_t zero_point, min, max;
} cnnz_requant_float_column;

/* A float form giving the same byte as the reference store for every int32 sum, for multiplier m
 * and shift (only right shifts 1...23), if the search finds one (1; else 0, and nothing written).
 * Only where the CPU has AVX2 and FMA (it evaluates candidates with them; 0 where the package has
 * no AVX2 code). */
int cnnz_requant_float_find(int32_t m, int32_t shift, const cnnz_requant_float_column *col, cnnz_requant_float *form);

/* The AVX2 GEMMs' output stage (cnnz_qs8_gemm_avx2, cnnz_qs8_rowconv_4x16c2__avx2,
 * cnnz_qu8_gemm_4x16c4__avx2_maddubs: their `stage`) prepared once from out for its n columns:
 * each group of 16 columns' constants and form. cnnz_qs8_store_avx2_bytes(n) bytes, 32-byte
 * aligned; valid while out's arrays keep their values (out itself is still passed: the table and,
 * for one row, the plain store read it). The kernels require it (no NULL: the engine prepares it
 * with the weights, Int8PackedWeights.stage). 0 bytes and nothing done where the package has no
 * AVX2 code. Only after cnnz_cpu_has_avx2_fma(). */
size_t cnnz_qs8_store_avx2_bytes(size_t n);
void cnnz_qs8_store_avx2_prepare(size_t n, const cnnz_qs8_output *out, void *stage, int float_forms);

/* The 512-bit VNNI kernels' float forms (cnnz_qu8_gemm_vnni512, _add, the indirect and row
 * convolutions: their `stage`), found and proved per column at load as the AVX2 stage's
 * (cnnz_requant_float_find), 256 bytes per panel of 16 columns, 64-byte aligned, valid while
 * out's arrays keep their values. Panels whose every column has one store in it (cvtdq2ps,
 * vfmadd, cvtps2dq with embedded round to nearest: no MXCSR dependence); the others, and every
 * panel with a NULL stage, in the integer forms. Prepare only after cnnz_cpu_has_avx2_fma(). */
size_t cnnz_qu8_store_vnni512_bytes(size_t n);
void cnnz_qu8_store_vnni512_prepare(size_t n, const cnnz_qs8_output *out, void *stage);

/* The VNNI GEMM, u8 x s8 (vpdpbusd): C[m, n] = the store of A * W. Packed weights: panels of 16
 * columns; in panel p, for each group g of 4 rows, 64 int8: w[4g..4g+3][16p], w[4g..4g+3][16p+1],
 * ..., w[4g..4g+3][16p+15] (zero past k and n). a: m rows of 4*kgroups uint8, row stride lda:
 * q + 128 (q xor 0x80), anything past k (its weights are 0). So the sums are those of (q + 128) * w:
 * out->bias must be the layer's bias minus (zero_point + 128) * (the column's sum of weights),
 * wrapping, which makes every int32 the same as the reference's. */
void cnnz_qu8_gemm_vnni512(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda, const int8_t *packed,
                           const void *stage, const cnnz_qs8_output *out, int8_t *c, size_t ldc);
void cnnz_qu8_gemm_vnni256(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda, const int8_t *packed,
                           const cnnz_qs8_output *out, int8_t *c, size_t ldc);

/* The same GEMM on AVX2 without VNNI (int8_maddubs.c): vpmaddubsw, then vpmaddwd by ones, the
 * same layout, compensation and integers as long as no pair of weights can saturate int16, which
 * the caller checks at prepare: in each column, the weights of rows 2i and 2i + 1 must have
 * positive parts adding up to at most 128 and negative parts to at least -128 (255 * 128 fits
 * int16), as 7-bit weights always do. Tiles of 4 rows x 16 columns, groups of 4 rows of k. */
void cnnz_qu8_gemm_4x16c4__avx2_maddubs(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                                        const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                                        int8_t *c, size_t ldc);

/* A window over an NHWC int8 image: the im2cols of the GEMMs and the depthwise rows. */
typedef struct {
    size_t height, width, channels;
    size_t kernel_height, kernel_width, stride_height, stride_width, dilation_height, dilation_width;
    ptrdiff_t pad_top, pad_left;
    size_t out_width;
    /* The im2col reads channels group_offset..<group_offset + group_channels of each pixel. */
    size_t group_offset, group_channels;
} cnnz_qs8_window;

/* The 512-bit VNNI convolution without an im2col matrix (int8_igemm_vnni.c), for windows whose
 * group_channels is a multiple of 4: output pixels first..<first + count of one image, columns
 * 0..<n of the packed weights (the VNNI GEMM's layout, k in im2col order), rows of c ldc apart.
 * The input rows those pixels read are copied into scratch as q xor 0x80; each pixel's taps are
 * read through pointers into the copy, or into a row of padding_byte (the zero point xor 0x80)
 * for taps outside the image. scratch: cnnz_qu8_igemm_scratch(w, count) bytes for blocks of up
 * to count pixels. Only after cnnz_cpu_has_avx512_vnni(). */
size_t cnnz_qu8_igemm_scratch(const cnnz_qs8_window *w, size_t count);
void cnnz_qu8_igemm_8x32c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                        size_t first, size_t count, void *scratch, size_t n, const int8_t *packed,
                                        const void *stage, const cnnz_qs8_output *out, int8_t *c, size_t ldc);

/* The 512-bit VNNI convolution for few input channels (int8_igemm_vnni.c): the indirect one with
 * the kernel's rows as its taps, for windows of one group (group_channels == channels) without
 * dilation across. The packed weights are the VNNI GEMM's for k = kernel_height * kr rows, kr =
 * kernel_width * channels rounded up to a multiple of 4: kernel row ky's weights at rows ky * kr
 * ..< ky * kr + kernel_width * channels, zeros after them. Output pixels first..<first + count of
 * one image, in blocks of up to `block` pixels; the input rows they read are copied into scratch
 * once, as q xor 0x80 with padding_byte (the zero point xor 0x80) in the columns and lines outside
 * the image. scratch: cnnz_qu8_rowconv_scratch(w, block) bytes. Only after
 * cnnz_cpu_has_avx512_vnni(). */
size_t cnnz_qu8_rowconv_scratch(const cnnz_qs8_window *w, size_t block);
void cnnz_qu8_rowconv_8x32c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                         size_t first, size_t count, size_t block, void *scratch, size_t n,
                                         const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                                         int8_t *c, size_t ldc);

/* The pixel-lane 512-bit VNNI convolution (int8_pxconv_vnni.c) for windows of one group with 4, 8
 * or 12 output channels (n), horizontal stride 1, no dilation across, pad_left >= 0, and an
 * output stage without a table: 16 output pixels of a row per vector, one vector per channel.
 * The packed weights are the VNNI GEMM's (one panel) for k = kernel_height * kernel_width * cp
 * rows, cp = channels rounded up to a multiple of 4: tap (ky, kx)'s weights at rows
 * (ky * kernel_width + kx) * cp ..< + channels, zeros after them. Output pixels first..<first +
 * count of one image, stored contiguously at c (n bytes a pixel); the input rows they read are
 * copied into scratch once as planes of 4 channels, q xor 0x80 with padding_byte (the zero point
 * xor 0x80) outside the image. stage: the float forms (cnnz_qu8_store_vnni512_prepare) or NULL.
 * scratch: cnnz_qu8_pxconv_scratch(w) bytes. Only after cnnz_cpu_has_avx512_vnni(). */
size_t cnnz_qu8_pxconv_scratch(const cnnz_qs8_window *w);
void cnnz_qu8_pxconv_16x4n__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                       size_t first, size_t count, void *scratch, size_t n, const int8_t *packed,
                                       const void *stage, const cnnz_qs8_output *out, int8_t *c);

/* The indirect and row convolutions above with a 2x2, stride-2 max pooling of their output fused in
 * (int8_igemm_pool_vnni.c, where the argument is): the pooled image's pixels first..<first + count
 * (its width w->out_width / 2, rows of c ldc apart), each the bytes of the largest of its window's
 * four int32 sums per column, stored once; the same bytes as the convolution's store followed by
 * cnnz_qs8_maxpool_row where out's multipliers are non-negative, its shifts at most 0 (no left
 * shift) and out->table is NULL, which the caller checks. The convolution pixels of an odd last
 * row or column are not computed. scratch: cnnz_qu8_igemm_maxpool2_scratch(w, count) bytes for
 * blocks of up to count pooled pixels; for the row convolution cnnz_qu8_rowconv_scratch(w, 4 *
 * block), block pooled pixels per GEMM call. Only after cnnz_cpu_has_avx512_vnni(). */
size_t cnnz_qu8_igemm_maxpool2_scratch(const cnnz_qs8_window *w, size_t count);
void cnnz_qu8_igemm_maxpool2_8x32c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w,
                                                 uint8_t padding_byte, size_t first, size_t count, void *scratch,
                                                 size_t n, const int8_t *packed, const void *stage,
                                                 const cnnz_qs8_output *out, int8_t *c, size_t ldc);
void cnnz_qu8_rowconv_maxpool2_8x32c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w,
                                                  uint8_t padding_byte, size_t first, size_t count, size_t block,
                                                  void *scratch, size_t n, const int8_t *packed, const void *stage,
                                                  const cnnz_qs8_output *out, int8_t *c, size_t ldc);

/* The AVX2 int16 row convolution (int8_rowconv_avx2.c): cnnz_qu8_rowconv_8x32c4__avx512vnni's
 * scheme on the int16 GEMM (cnnz_qs8_gemm_avx2's tiles), for windows of one group without
 * dilation across. The packed weights are the int16 GEMM's for k = kernel_height * kr rows, kr =
 * kernel_width * channels rounded up to a multiple of 2: kernel row ky's weights at rows ky * kr
 * ..< ky * kr + kernel_width * channels, zero after them. Output pixels first..<first + count of
 * one image, in blocks of up to `block` pixels (the shapes with compiled tiles: runs of one output
 * row, no block), rows of c ldc apart; the input rows they read are
 * copied into scratch once as int16 q - zero_point, 0 in the columns and lines outside the image.
 * scratch: cnnz_qs8_rowconv_scratch(w, block) bytes. Only after cnnz_cpu_has_avx2_fma(). */
size_t cnnz_qs8_rowconv_scratch(const cnnz_qs8_window *w, size_t block);
void cnnz_qs8_rowconv_4x16c2__avx2(const int8_t *image, const cnnz_qs8_window *w, int16_t zero_point, size_t first,
                                   size_t count, size_t block, void *scratch, size_t n, const int16_t *packed,
                                   const void *stage, const cnnz_qs8_output *out, int8_t *c, size_t ldc);

/* The exact integer Winograd F(2x2, 3x3) convolution, 3x3 stride 1, one group (int8_winograd_avx2.c;
 * the arithmetic in Conv2DInt8Winograd.swift): tiles of 2x2 output pixels, numbered across the
 * batch (tile t: image t / tiles_per_image, tile row (t % tiles_per_image) / tiles_x), tiles
 * first..<first + count, in blocks of up to `block` tiles. The same bytes as the int16 GEMM
 * with the same output stage (out, and at level CNNZ_INT8_AVX2 its prepared stage). packed: per
 * panel group of 16 output channels g, per matrix xi (0..<16), per pair of input channels kp,
 * 32 int16: U'[xi][2kp][16g + j], U'[xi][2kp + 1][16g + j] for j = 0..<8, then j = 8..<16 (zero
 * past the channels), U' = G' g G'ᵀ with G' = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]].
 * scratch: cnnz_qs8_wino2x2_scratch(s, block) bytes. */
typedef struct {
    size_t height, width, channels;   /* the input image */
    size_t out_height, out_width, n;  /* the output image, n its channels */
    size_t pad_top, pad_left, tiles_x, tiles_per_image;
    int32_t zero_point;               /* the input's */
} cnnz_qs8_wino2x2_shape;
size_t cnnz_qs8_wino2x2_scratch(const cnnz_qs8_wino2x2_shape *s, size_t block);
void cnnz_qs8_wino2x2(int level, const cnnz_qs8_wino2x2_shape *s, const int8_t *input, size_t first, size_t count,
                      size_t block, void *scratch, const int16_t *packed, const void *stage,
                      const cnnz_qs8_output *out, int8_t *output);

/* Rows first..<first + count of an image's im2col matrix for the VNNI GEMM: per output pixel, the
 * window's taps (row-major, group_channels each) as q xor 0x80, padding_byte (the zero point xor
 * 0x80) at taps outside the image, then zeros up to lda. */
void cnnz_qu8_im2col(int level, const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte, size_t first,
                     size_t count, uint8_t *a, size_t lda);

/* The int16 GEMMs' A (int8_im2col_s16.c): rows first..<first + count of an image's im2col matrix,
 * per output pixel the window's taps (row-major, group_channels each) as q - zero_point, 0 at
 * taps outside the image and from k up to lda; and rows rows of k int8 (row stride ldx) so. */
void cnnz_qs8_im2col_s16(int level, const int8_t *image, const cnnz_qs8_window *w, int16_t zero_point, size_t first,
                         size_t count, int16_t *a, size_t lda);
void cnnz_qs8_rows_s16(int level, size_t rows, size_t k, const int8_t *x, size_t ldx, int16_t zero_point, int16_t *a,
                       size_t lda);

/* cnnz_qu8_im2col at level CNNZ_INT8_AVX512 for rows of at most 64 bytes (int8_im2col_k64.c), the
 * same bytes up to k (from k to lda, anything: the packed weights there are 0). */
void cnnz_qu8_im2col_k64__avx512(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte, size_t first,
                                 size_t count, uint8_t *a, size_t lda);

/* rows rows of k int8 (row stride ldx) as the VNNI GEMM's A: xor 0x80, zeros from k up to lda. */
void cnnz_qu8_rows(int level, size_t rows, size_t k, const int8_t *x, size_t ldx, uint8_t *a, size_t lda);

/* One output row oy of a depthwise convolution with depth multiplier 1 (w->channels channels):
 * cnnz_qs8_depthwise_pixel for each output pixel, over the taps inside the image. weights:
 * [kernel_height * kernel_width][channels] int32; scratch: (channels + 1) / 2 * 2 int32 (the
 * pointers after them 8-byte aligned), then 2 * taps pointers. */
void cnnz_qs8_depthwise_row(int level, const int8_t *image, const cnnz_qs8_window *w, size_t oy,
                            const int32_t *weights, int32_t zero_point, void *scratch, const cnnz_qs8_output *out,
                            int8_t *c);

/* One output row oy of a depthwise convolution with depth multiplier 1 on AVX512-VNNI (only after
 * cnnz_cpu_has_avx512_vnni()), windows of at most 16 x 16 taps, 16 channels per vector: vpdpbusd
 * on (q + 128) of 4 rows of a window column per channel. packed: the VNNI GEMM's layout
 * (Int8PackedWeights) of k = kernel_width * 4 * groups rows, groups = ceil(kernel_height / 4),
 * row kx * 4 * groups + ky holding w[ky][kx] (0 for ky >= kernel_height); out->bias with
 * (zero_point + 128) * (the channel's sum of weights) taken off (that layout's bias).
 * padding_row: scratch for width * channels bytes. count: 1, or 2 for rows oy and oy + 1 (c then
 * holds both, out_width * channels bytes apart). forms: NULL, or the float forms
 * cnnz_qu8_store_vnni512_prepare made from out (blocks of 16 channels with one store in it). The
 * same bytes as cnnz_qs8_depthwise_row. */
void cnnz_qu8_dwconv_row_16c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, size_t oy, size_t count,
                                          const int8_t *packed, const void *forms, int32_t zero_point,
                                          int8_t *padding_row, const cnnz_qs8_output *out, int8_t *c);

/* The AVX2 depthwise rows (depth multiplier 1, windows of at most 16 x 16 taps; only where the
 * CPU has AVX2): int16 (q - zero point) of two window rows per 32-bit lane, one vpmaddwd per 2
 * taps of 8 channels (int8_dwconv_avx2.c). packed: cnnz_qs8_dwconv_8c2_packed_count int16 made
 * by cnnz_qs8_dwconv_8c2_pack from the [kernel_height * kernel_width][channels] weights; rows:
 * scratch of cnnz_qs8_dwconv_8c2_rows_bytes(w) (32-byte aligned not needed). count: rows
 * oy..<oy + count (c then holds them, out_width * channels bytes apart; consecutive rows share
 * their window's rows). The same bytes as cnnz_qs8_depthwise_row with the weights as int32. */
size_t cnnz_qs8_dwconv_8c2_packed_count(size_t kernel_height, size_t kernel_width, size_t channels);
void cnnz_qs8_dwconv_8c2_pack(size_t kernel_height, size_t kernel_width, size_t channels, const int8_t *weights,
                              int16_t *packed);
/* stage: cnnz_qs8_dwconv_8c2_stage_count(channels) int32 made by cnnz_qs8_dwconv_8c2_pack_stage
 * from the same weights, the input zero point and out (per block of 8 channels: the bias less the
 * zero point's share, and the output stage's constants). */
size_t cnnz_qs8_dwconv_8c2_stage_count(size_t channels);
void cnnz_qs8_dwconv_8c2_pack_stage(size_t kernel_height, size_t kernel_width, size_t channels, const int8_t *weights,
                                    int32_t zero_point, const cnnz_qs8_output *out, int32_t *stage);
size_t cnnz_qs8_dwconv_8c2_rows_bytes(const cnnz_qs8_window *w);
void cnnz_qs8_dwconv_row_8c2__avx2(const int8_t *image, const cnnz_qs8_window *w, size_t oy, size_t count,
                                   const int16_t *packed, const int32_t *stage, int32_t zero_point, int16_t *rows,
                                   const cnnz_qs8_output *out, int8_t *c);

/* One output row oy of a max pooling (window w, no dilation) whose output keeps the input's
 * scale and zero point: the maximum int8 over the taps inside the image, per channel. */
void cnnz_qs8_maxpool_row(int level, const int8_t *image, const cnnz_qs8_window *w, size_t oy, int8_t *c);

/* x as int8: clamp(round(x / scale) + zero_point) to [-128, 127], rounding half away from zero,
 * NaN as the zero point (Swift's QuantizeKernel.quantize, bit for bit). */
void cnnz_qs8_quantize(int level, size_t n, const float *x, float scale, float zero_point, int8_t *q);

/* The GEMM's store for one row of n int32 sums (columns 0..<n of out), at the given level.
 * For kernels that compute their own sums (depthwise). */
void cnnz_qs8_store_row(int level, const int32_t *sums, size_t n, const cnnz_qs8_output *out, int8_t *c);

/* One output pixel of a depthwise convolution with depth multiplier 1: for each channel j < n,
 * sum over t < taps of (inputs[t][j] - zero_point) * weights[t][j] (int32, wrapping), then the
 * store above into c[0..<n]. inputs[t] is the pixel under tap t (taps outside the input left out:
 * they add nothing), weights[t] that tap's n weights. From level CNNZ_INT8_AVX2 (the caller checked
 * the CPU) eight channels at a time; sums: scratch for n int32 (the portable path and the tail). */
void cnnz_qs8_depthwise_pixel(int level, size_t n, size_t taps, const int8_t *const *inputs,
                              const int32_t *const *weights, int32_t zero_point, int32_t *sums,
                              const cnnz_qs8_output *out, int8_t *c);

/* TensorFlow Lite's int8 Add of two inputs: term k = requantize((q_k - zero_point[k]) << left_shift,
 * multiplier[k], shift[k]); c = the store above of term 0 + term 1 with out (column 0's bias,
 * which must be 0, multiplier and shift). The terms are below 2^27, so their sum fits int32. */
typedef struct {
    int32_t zero_point[2];
    int32_t multiplier[2];
    int32_t shift[2];
    int left_shift;
} cnnz_qs8_add;
/* c may be a or b (in place: each element is read before it is written). */
void cnnz_qs8_add2(int level, size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add *p,
                   const cnnz_qs8_output *out, int8_t *c);

/* The same Add as one linear form of the two bytes, where one gives every pair's byte (found and
 * checked on all 65536 pairs by cnnz_qs8_add_linear_prepare; int8_add_linear.c):
 * c = clamp((a * ma + b * mb + constant) >> shift, min, max), ma and mb below 2^23 in magnitude,
 * every value of the sum within int32. */
typedef struct {
    int32_t multiplier[2];
    int32_t constant;
    int32_t shift;
    int32_t min, max;
} cnnz_qs8_add_linear;
/* Whether a linear form gives cnnz_qs8_add2's bytes (with p and out) for every pair of inputs;
 * if so, the form in *form. Only from level CNNZ_INT8_AVX2 (else 0): the check runs
 * cnnz_qs8_add2 at level on all pairs (64 KB of scratch, allocated and freed here: at prepare
 * time, not per run) and its search uses AVX2. */
int cnnz_qs8_add_linear_prepare(int level, const cnnz_qs8_add *p, const cnnz_qs8_output *out,
                                cnnz_qs8_add_linear *form);
/* The Add by its linear form: at level CNNZ_INT8_AVX2 and above 32 values a pass with AVX2, else
 * (and the tail) value by value; c may be a or b. */
void cnnz_qs8_add2_linear(int level, size_t n, const int8_t *a, const int8_t *b, const cnnz_qs8_add_linear *form,
                          int8_t *c);

/* A residual Add fused into a convolution's store: the GEMM's int8 results (each as the GEMM
 * would store it) are one operand of the Add above, convolution_operand (0: a, 1: b) says which;
 * the other is residual, laid out as c (rows ldr apart, columns as c's); out is the Add's output
 * stage (column 0's parameters, bias 0). */
typedef struct {
    const int8_t *residual;
    size_t ldr;
    int convolution_operand;
    cnnz_qs8_add add;
    const cnnz_qs8_output *out;
} cnnz_qs8_residual;

/* cnnz_qu8_gemm_vnni512, then the residual Add on each result while it is in registers: the same
 * bytes as the GEMM into c followed by cnnz_qs8_add2 on c and the residual. Only after
 * cnnz_cpu_has_avx512_vnni(). */
void cnnz_qu8_gemm_vnni512_add(size_t m, size_t n, size_t kgroups, const uint8_t *a, size_t lda,
                               const int8_t *packed, const void *stage, const cnnz_qs8_output *out,
                               const cnnz_qs8_residual *r, int8_t *c, size_t ldc);

/* The same int32 -> int8 step for one value (for kernels without a GEMM, and the tests). */
int32_t cnnz_qs8_requantize(int32_t x, int32_t multiplier, int32_t shift);

#endif
