/* Private to CInt8Kernels: what the indirect and row convolutions (int8_igemm_vnni.c) share with
 * their max-pooling forms (int8_igemm_pool_vnni.c). */
#ifndef CNNZ_INT8_IGEMM_VNNI_H
#define CNNZ_INT8_IGEMM_VNNI_H

#include "int8_vnni_store.h"

/* Bytes after the row convolution's last line and its padding line, for the over-read. */
enum { rowconv_slack = 64 };

/* The input rows output pixels first..<first + count read: first_row ..< first_row + rows (clipped). */
void cnnz_igemm_input_rows(const cnnz_qs8_window *w, size_t first, size_t count, size_t *first_row, size_t *rows);

/* Input rows first_row ..< first_row + rows, q xor 0x80, contiguous at copy (AVX-512 on x86). */
void cnnz_igemm_copy_rows(const int8_t *image, const cnnz_qs8_window *w, size_t first_row, size_t rows,
                          uint8_t *copy);

/* The row convolution's padded line's bytes, and input rows first_row ..< first_row + rows as
 * padded lines (q xor 0x80, the padding byte left and right). */
size_t cnnz_rowconv_line(const cnnz_qs8_window *w);
void cnnz_rowconv_copy(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte, size_t first_row,
                       size_t rows, uint8_t *copy);

/* The 512-bit VNNI GEMM through pointers (pixel r's tap t at pointers[t * m + r]) for m rows, a
 * multiple of 4, each 4 the window of one pixel of a 2x2 max pooling: row r / 4 of c is the
 * store of the largest of the 4 sums per column. Only after cnnz_cpu_has_avx512_vnni(). */
void cnnz_igemm512_maxpool2(size_t m, size_t n, size_t taps, size_t tap_groups, const uint8_t *const *pointers,
                            const int8_t *packed, const void *stage, const cnnz_qs8_output *out, int8_t *c,
                            size_t ldc);

#endif
