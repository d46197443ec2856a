/* The indirect and row convolutions (int8_igemm_vnni.c) with a 2x2, stride-2 max pooling after
 * them (see include/CInt8Kernels.h): the pointers list each pooled pixel's four convolution
 * pixels in a row, so one tile of 8 rows holds the windows of two pooled pixels, and its store
 * takes the largest int32 sum of each window per column and requantizes that one.
 *
 * Why the bytes are those of the convolution stored, then pooled: a column's store is a
 * non-decreasing function of its int32 sum s (the bias included; the value the reference
 * requantizes, which these kernels compute exactly, wrapping as it does). TensorFlow Lite's
 * rounding doubling high multiply by a multiplier m >= 0 (Requantization.multiplier gives m in
 * [2^30, 2^31) or 0), the rounding right shift, the zero point's addition (exact, in 64 bits)
 * and the clamp are each non-decreasing; the float forms are proved equal to it for every int32
 * sum. For a non-decreasing f, max(f(a), f(b)) = f(max(a, b)): the pooling of the stored bytes is
 * the store of the largest sum. What the engine checks before fusing (Conv2DInt8.fusesMaxPool):
 * no left shift (x << left wraps in int32, which is not monotone), no activation table (a table
 * need not be monotone), the pooling's output quantization its input's and no activation of its
 * own (so it is the plain maximum of the bytes), no padding and an output of floor(h / 2) x
 * floor(w / 2) (each window holds four convolution pixels; an odd last row or column is dropped,
 * and those pixels are not computed at all). */
#include "int8_igemm_vnni.h"

#include <string.h>

/* The input rows pooled pixels first..<first + count read (those of their convolution rows). */
static void pooled_input_rows(const cnnz_qs8_window *w, size_t first, size_t count, size_t *first_row,
                              size_t *rows) {
    size_t pooled_width = w->out_width / 2;
    size_t top = first / pooled_width * 2, bottom = (first + count - 1) / pooled_width * 2 + 1;
    cnnz_igemm_input_rows(w, top * w->out_width, (bottom - top + 1) * w->out_width, first_row, rows);
}

/* The indirect convolution's pointers for pooled pixels first..<first + count: row r = 4 i + 2 dy
 * + dx is pooled pixel first + i's convolution pixel (2 py + dy, 2 px + dx), its tap t at
 * taps[t * 4 count + r]. Per run of pooled pixels along one pooled row and per tap, the four
 * pointers of each pooled pixel in a row, each a compare against the image's columns: no
 * division (dividing per pixel made the pointers a fifth of fashion_cnn's time; per range, as
 * int8_igemm_vnni.c's indirection does, twice as many ranges as there and each range's stores 4
 * pointers apart, 7 % of it against 4.8 % for the unfused indirection; now 3.9 %). */
static void pooled_indirection(const cnnz_qs8_window *w, size_t first, size_t count, const uint8_t *copy,
                               size_t first_row, const uint8_t *padding, const uint8_t **taps) {
    size_t kh = w->kernel_height, kw = w->kernel_width, pooled_width = w->out_width / 2, m = 4 * count;
    size_t py = first / pooled_width, px = first % pooled_width, width = w->width;
    ptrdiff_t sw = (ptrdiff_t)w->stride_width, channels = (ptrdiff_t)w->channels;
    for (size_t q = 0; q < count;) {
        size_t run = pooled_width - px < count - q ? pooled_width - px : count - q;
        for (size_t ky = 0; ky < kh; ky++) {
            const uint8_t *lines[2];
            int inside[2];
            for (size_t dy = 0; dy < 2; dy++) {
                ptrdiff_t iy = (ptrdiff_t)((2 * py + dy) * w->stride_height) - w->pad_top +
                               (ptrdiff_t)(ky * w->dilation_height);
                inside[dy] = iy >= 0 && iy < (ptrdiff_t)w->height;
                lines[dy] = inside[dy] ? copy + ((size_t)iy - first_row) * width * w->channels + w->group_offset
                                       : padding;
            }
            for (size_t kx = 0; kx < kw; kx++) {
                const uint8_t **d = taps + (ky * kw + kx) * m + 4 * q;
                ptrdiff_t ix = (ptrdiff_t)(2 * px * w->stride_width) - w->pad_left + (ptrdiff_t)(kx * w->dilation_width);
                for (size_t i = 0; i < run; i++, d += 4, ix += 2 * sw) {
                    /* (a pointer formed only inside the copy) */
                    int left = (size_t)ix < width, right = (size_t)(ix + sw) < width;
                    d[0] = inside[0] && left ? lines[0] + ix * channels : padding;
                    d[1] = inside[0] && right ? lines[0] + (ix + sw) * channels : padding;
                    d[2] = inside[1] && left ? lines[1] + ix * channels : padding;
                    d[3] = inside[1] && right ? lines[1] + (ix + sw) * channels : padding;
                }
            }
        }
        q += run;
        px = 0;
        py++;
    }
}

/* The row convolution's pointers for pooled pixels first..<first + count (rows as above): kernel
 * row ky of row r at pointers[ky * 4 count + r], into the padded lines. */
static void pooled_row_pointers(const cnnz_qs8_window *w, size_t first, size_t count, const uint8_t *copy,
                                size_t first_row, size_t line, const uint8_t *padding, const uint8_t **pointers) {
    size_t kh = w->kernel_height, pooled_width = w->out_width / 2, m = 4 * count;
    size_t py = first / pooled_width, px = first % pooled_width, step = w->stride_width * w->channels;
    for (size_t q = 0; q < count;) {
        size_t run = pooled_width - px < count - q ? pooled_width - px : count - q;
        for (size_t ky = 0; ky < kh; ky++) {
            const uint8_t *lines[2];
            for (size_t dy = 0; dy < 2; dy++) {
                ptrdiff_t iy = (ptrdiff_t)((2 * py + dy) * w->stride_height) - w->pad_top +
                               (ptrdiff_t)(ky * w->dilation_height);
                lines[dy] = iy >= 0 && iy < (ptrdiff_t)w->height ? copy + ((size_t)iy - first_row) * line : padding;
            }
            const uint8_t **d = pointers + ky * m + 4 * q;
            size_t x = 2 * px * step;
            for (size_t i = 0; i < run; i++, d += 4, x += 2 * step) {
                d[0] = lines[0] + x;
                d[1] = lines[0] + x + step;
                d[2] = lines[1] + x;
                d[3] = lines[1] + x + step;
            }
        }
        q += run;
        px = 0;
        py++;
    }
}

size_t cnnz_qu8_igemm_maxpool2_scratch(const cnnz_qs8_window *w, size_t count) {
    size_t taps = w->kernel_height * w->kernel_width, pooled_width = w->out_width / 2;
    /* count pooled pixels starting anywhere in a row span at most this many pooled rows. */
    size_t pooled_rows = (count + pooled_width - 2) / pooled_width + 1;
    size_t rows = (2 * pooled_rows - 1) * w->stride_height + (w->kernel_height - 1) * w->dilation_height + 1;
    if (rows > w->height) rows = w->height;
    size_t bytes =
        4 * count * taps * sizeof(void *) + ((w->group_channels + 63) / 64) * 64 + rows * w->width * w->channels;
    return (bytes + 63) / 64 * 64;
}

void cnnz_qu8_igemm_maxpool2_8x32c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w,
                                                 uint8_t padding_byte, size_t first, size_t count, void *scratch,
                                                 size_t n, const int8_t *packed, const void *stage,
                                                 const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    if (count == 0) return;
    size_t kh = w->kernel_height, kw = w->kernel_width, taps = kh * kw, cin = w->group_channels, m = 4 * count;
    const uint8_t **pointers = (const uint8_t **)scratch;
    uint8_t *padding = (uint8_t *)scratch + m * taps * sizeof(void *);
    uint8_t *copy = padding + ((cin + 63) / 64) * 64;
    size_t first_row, rows;
    pooled_input_rows(w, first, count, &first_row, &rows);
    memset(padding, padding_byte, cin);
    cnnz_igemm_copy_rows(image, w, first_row, rows, copy);
    pooled_indirection(w, first, count, copy, first_row, padding, pointers);
    cnnz_igemm512_maxpool2(m, n, taps, cin / 4, pointers, packed, stage, out, c, ldc);
}

void cnnz_qu8_rowconv_maxpool2_8x32c4__avx512vnni(const int8_t *image, const cnnz_qs8_window *w,
                                                  uint8_t padding_byte, size_t first, size_t count, size_t block,
                                                  void *scratch, size_t n, const int8_t *packed, const void *stage,
                                                  const cnnz_qs8_output *out, int8_t *c, size_t ldc) {
    if (count == 0) return;
    size_t kh = w->kernel_height, line = cnnz_rowconv_line(w), channels = w->channels;
    size_t groups = (w->kernel_width * channels + 3) / 4;
    /* cnnz_qu8_rowconv_8x32c4__avx512vnni's scratch for blocks of 4 * block pixels. */
    const uint8_t **pointers = (const uint8_t **)scratch;
    uint8_t *padding = (uint8_t *)scratch + (4 * block * kh * sizeof(void *) + 63) / 64 * 64;
    uint8_t *copy = padding + (line + rowconv_slack + 63) / 64 * 64;
    size_t first_row, rows;
    pooled_input_rows(w, first, count, &first_row, &rows);
    memset(padding, padding_byte, line);
    cnnz_rowconv_copy(image, w, padding_byte, first_row, rows, copy);
    for (size_t done = 0; done < count;) {
        size_t pooled = count - done < block ? count - done : block, m = 4 * pooled;
        pooled_row_pointers(w, first + done, pooled, copy, first_row, line, padding, pointers);
        cnnz_igemm512_maxpool2(m, n, kh, groups, pointers, packed, stage, out, c + done * ldc, ldc);
        done += pooled;
    }
}
