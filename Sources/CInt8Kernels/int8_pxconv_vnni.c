/* The pixel-lane 512-bit VNNI convolution (see include/CInt8Kernels.h) for layers of 4, 8 or 12
 * output channels at horizontal stride 1: each int32 lane is an output pixel, each vector one
 * output channel of 16 pixels along an output row. The tiles of the GEMM-shaped kernels put the
 * channels in the lanes, so with 12 channels a quarter of every vpdpbusd and of every vector of
 * the output stage is idle, and the output stage runs once per pixel (16 lanes requantized, 12
 * kept, one masked store); here every lane is used and the output stage runs once per channel
 * and 16 pixels, then the bytes are transposed to NHWC in registers.
 *
 * The input lines are copied once per call as planes of dwords: plane j of a line holds, for each
 * padded column, channels 4j..4j+3 of that pixel (q xor 0x80; the padding byte in the columns
 * outside the image and in the bytes past the channels, whose weights are 0). The 16 pixels'
 * dwords for tap (ky, kx) and channel group j are then one unaligned load at column x0 + kx of
 * plane j of line ky, and each output channel one vpdpbusd with that channel's 4 weights
 * broadcast from the packed panel. No VBMI: the copy and the transpose are vpermd, vpermt2d and
 * vpshufb. */
#include "int8_vnni_store.h"

#include <string.h>

/* A plane line: the padded columns 0 ..< px_columns (column x + kx for output column x), the
 * last block's 16 lanes included, in bytes rounded to 64. */
static size_t px_groups(const cnnz_qs8_window *w) { return (w->channels + 3) / 4; }
static size_t px_columns(const cnnz_qs8_window *w) { return (w->out_width + 15) / 16 * 16 + w->kernel_width - 1; }
static size_t px_plane(const cnnz_qs8_window *w) { return (px_columns(w) * 4 + 63) / 64 * 64; }
static size_t px_taps(const cnnz_qs8_window *w) { return w->kernel_height * w->kernel_width * px_groups(w); }

#ifdef CNNZ_HAVE_AVX2

/* Per call: each channel's output stage broadcast to 16 lanes (its bias, the integer form's
 * constants, the float form), the transpose's indices, the taps' pointers. */
typedef struct {
    cnnz_requant16 q;
    cnnz_requant16_float f;
} px_channel;

typedef struct {
    px_channel channel[12];
    __m512i index[3];   /* output vector r's dwords from the transposed channel groups */
    __mmask16 from2[3]; /* its lanes from group 2 (12 channels) */
    __m512i zero_point16, min, max;
} px_setup;

#endif

size_t cnnz_qu8_pxconv_scratch(const cnnz_qs8_window *w) {
    size_t lines = (w->height + 1) * px_groups(w) * px_plane(w);
    size_t setup = 0;
#ifdef CNNZ_HAVE_AVX2
    setup = (sizeof(px_setup) + 63) / 64 * 64;
#endif
    return 64 + setup + (2 * px_taps(w) * sizeof(void *) + 63) / 64 * 64 + lines;
}

#ifdef CNNZ_HAVE_AVX2

/* The input rows output pixels first..<first + count read (int8_igemm_vnni.c's input_rows). */
static void px_input_rows(const cnnz_qs8_window *w, size_t first, size_t count, size_t *first_row, size_t *rows) {
    ptrdiff_t top = (ptrdiff_t)(first / w->out_width * w->stride_height) - w->pad_top;
    ptrdiff_t bottom = (ptrdiff_t)((first + count - 1) / w->out_width * w->stride_height) - w->pad_top +
                       (ptrdiff_t)((w->kernel_height - 1) * w->dilation_height);
    if (top < 0) top = 0;
    if (bottom >= (ptrdiff_t)w->height) bottom = (ptrdiff_t)w->height - 1;
    *first_row = (size_t)top;
    *rows = bottom >= top ? (size_t)(bottom - top + 1) : 0;
}

/* Lines source, source + line, ... (`lines` of them, width pixels of w->channels bytes each) as
 * their planes from d on, `G` planes a line (a constant: the vectors stay in registers). */
CNNZ_INLINE CNNZ_AVX512 void px_copy_as(const int G, const int8_t *source, size_t lines, const cnnz_qs8_window *w,
                                        uint8_t padding_byte, uint8_t *d) {
    size_t plane = px_plane(w), columns = px_columns(w), channels = w->channels, line = w->width * channels;
    const __m512i pad = _mm512_set1_epi8((char)padding_byte), sign = _mm512_set1_epi8((char)0x80);
    size_t left = (size_t)w->pad_left < columns ? (size_t)w->pad_left : columns;
    size_t width = w->width < columns - left ? w->width : columns - left;
    size_t tail = 4 * (left + width) / 64 * 64;
    /* 1 to 3 channels (G 1): 128-bit lane L holds pixels 4L..4L+3, bytes 4LC.. of the loaded
     * vector (its dwords L*C on), spread to a dword each. 4G channels: plane j, lane p is dword
     * p * G + j of the 16 pixels' 16 G dwords (the low 5 bits index a pair of vectors; high:
     * those past the first pair). */
    const int c = (int)channels;
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, c, c + 1, c + 2, c + 3, 2 * c, 2 * c + 1, 2 * c + 2, 2 * c + 3,
                                            3 * c, 3 * c + 1, 3 * c + 2, 3 * c + 3);
    char slots[16];
    for (int i = 0; i < 16; i++) slots[i] = i % 4 < c ? (char)(i / 4 * c + i % 4) : -1;
    const __m512i spread = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)slots));
    __m512i index[4];
    __mmask16 high[4];
    for (int j = 0; j < G; j++) {
        int32_t dwords[16];
        for (int p = 0; p < 16; p++) dwords[p] = p * G + j;
        index[j] = _mm512_loadu_si512(dwords);
        high[j] = _mm512_cmpge_epi32_mask(index[j], _mm512_set1_epi32(32));
    }
    for (size_t y = 0; y < lines; y++, source += line, d += G * plane) {
        /* The padding: the columns before and after the pixels (the 64 bytes around each edge
         * whole, the pixels written after). */
        for (int j = 0; j < G; j++) {
            for (size_t i = 0; i < 4 * left; i += 64) _mm512_storeu_si512(d + j * plane + i, pad);
            for (size_t i = tail; i < plane; i += 64) _mm512_storeu_si512(d + j * plane + i, pad);
        }
        uint8_t *start = d + 4 * left;
        for (size_t x = 0; x < width; x += 16) {
            size_t n = width - x < 16 ? width - x : 16;
            __mmask16 stored = (__mmask16)((1u << n) - 1);
            if (channels < 4) {
                size_t bytes = n * channels;
                __mmask64 valid = bytes >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << bytes) - 1);
                __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(valid, source + x * channels), sign);
                v = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(lanes, v), spread);
                if (n == 16)
                    _mm512_storeu_si512(start + 4 * x, v);
                else
                    _mm512_mask_storeu_epi32(start + 4 * x, stored, v);
                continue;
            }
            size_t dwords = n * (size_t)G;
            __m512i s[4];
            for (int k = 0; k < G; k++) {
                size_t have = dwords > 16 * (size_t)k ? dwords - 16 * (size_t)k : 0;
                __mmask16 valid = have >= 16 ? 0xFFFF : (__mmask16)((1u << have) - 1);
                s[k] = _mm512_xor_si512(_mm512_maskz_loadu_epi32(valid, source + (x * G + 16 * (size_t)k) * 4), sign);
            }
            for (int k = G; k < 4; k++) s[k] = s[0];
            for (int j = 0; j < G; j++) {
                __m512i v = s[0];
                if (G > 1) v = _mm512_permutex2var_epi32(s[0], index[j], s[1]);
                if (G > 2) v = _mm512_mask_mov_epi32(v, high[j], _mm512_permutex2var_epi32(s[2], index[j], s[3]));
                if (n == 16)
                    _mm512_storeu_si512(d + j * plane + 4 * (left + x), v);
                else
                    _mm512_mask_storeu_epi32(d + j * plane + 4 * (left + x), stored, v);
            }
        }
    }
}

static CNNZ_AVX512 void px_copy_1(const int8_t *s, size_t lines, const cnnz_qs8_window *w, uint8_t pad, uint8_t *d) {
    px_copy_as(1, s, lines, w, pad, d);
}
static CNNZ_AVX512 void px_copy_2(const int8_t *s, size_t lines, const cnnz_qs8_window *w, uint8_t pad, uint8_t *d) {
    px_copy_as(2, s, lines, w, pad, d);
}
static CNNZ_AVX512 void px_copy_3(const int8_t *s, size_t lines, const cnnz_qs8_window *w, uint8_t pad, uint8_t *d) {
    px_copy_as(3, s, lines, w, pad, d);
}
static CNNZ_AVX512 void px_copy_4(const int8_t *s, size_t lines, const cnnz_qs8_window *w, uint8_t pad, uint8_t *d) {
    px_copy_as(4, s, lines, w, pad, d);
}

/* The lines as planes: the vector forms for 1 to 3 channels and 4, 8, 12 or 16; other counts (not
 * chosen by the engine; kept exact) byte by byte. */
static CNNZ_AVX512 void px_copy(const int8_t *source, size_t lines, const cnnz_qs8_window *w, uint8_t padding_byte,
                                uint8_t *d) {
    size_t channels = w->channels, groups = px_groups(w);
    if (channels < 4 || (channels % 4 == 0 && groups <= 4)) {
        static void (*const copies[])(const int8_t *, size_t, const cnnz_qs8_window *, uint8_t, uint8_t *) = {
            px_copy_1, px_copy_2, px_copy_3, px_copy_4};
        copies[groups - 1](source, lines, w, padding_byte, d);
        return;
    }
    size_t plane = px_plane(w), columns = px_columns(w), line = w->width * channels;
    size_t left = (size_t)w->pad_left < columns ? (size_t)w->pad_left : columns;
    size_t width = w->width < columns - left ? w->width : columns - left;
    for (size_t y = 0; y < lines; y++, source += line, d += groups * plane) {
        memset(d, padding_byte, groups * plane);
        for (size_t x = 0; x < width; x++)
            for (size_t c = 0; c < channels; c++)
                d[c / 4 * plane + 4 * (left + x) + c % 4] = (uint8_t)source[x * channels + c] ^ 0x80;
    }
}

/* The forms beyond requant16's and the float ones: the channels' own, the float form where a
 * channel has one (cnnz_requant16_float.columns) and the short integer form (with the step below
 * zero or not) where not, when the panel as a whole has no float form. seed002's conv0 and conv1
 * have a form in 11 of their 12 channels: the store of 16 pixels x 12 channels then takes 11 x 3
 * instructions and 8 rather than 12 x 8. */
enum { PX_MIXED = 5, PX_MIXED_CORRECTS = 6 };

/* The output bytes of a block: channel vectors' values (kind: CNNZ_REQUANT_* or a float kind,
 * a constant), packed 4 channels to a vector (128-bit lane L: channel-major bytes of pixels
 * 4L..4L+3), each lane's 4 x 4 bytes transposed to pixel-major dwords, then the pixels' dwords
 * gathered in order: nv vectors of 16 pixels x 4nv channels, stored whole or the first `valid`
 * pixels. */
CNNZ_INLINE CNNZ_VNNI512 void px_store(const int nv, const int kind, __m512i acc[12], const px_setup *s, int8_t *c,
                                       size_t valid) {
    const __m512i transpose =
        _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    __m512i q[3];
#pragma clang loop unroll(full)
    for (int g = 0; g < nv; g++) {
        __m512i v[4];
#pragma clang loop unroll(full)
        for (int i = 0; i < 4; i++) {
            const px_channel *ch = &s->channel[4 * g + i];
            if (kind >= PX_MIXED) { /* each channel's own form (a branch taken alike every block) */
                int form = ch->f.form;
                v[i] = form == 1   ? requant16_float(acc[4 * g + i], &ch->f, 0)
                       : form == 2 ? requant16_float(acc[4 * g + i], &ch->f, 1)
                                   : requant16_fast(acc[4 * g + i], &ch->q, kind == PX_MIXED_CORRECTS);
                continue;
            }
            v[i] = kind >= CNNZ_REQUANT_FLOAT      ? requant16_float(acc[4 * g + i], &ch->f, kind == CNNZ_REQUANT_FLOAT_SPLIT)
                   : kind == CNNZ_REQUANT_GENERAL ? requant16_sums(acc[4 * g + i], &ch->q, 0)
                                                  : requant16_fast(acc[4 * g + i], &ch->q, kind == CNNZ_REQUANT_FAST_CORRECTS);
        }
        __m512i a = _mm512_packs_epi32(v[0], v[1]), b = _mm512_packs_epi32(v[2], v[3]);
        if (kind == CNNZ_REQUANT_GENERAL) { /* (rows16_store4's: the zero point added in int16) */
            a = _mm512_adds_epi16(a, s->zero_point16);
            b = _mm512_adds_epi16(b, s->zero_point16);
        }
        __m512i bytes = _mm512_min_epi8(_mm512_max_epi8(_mm512_packs_epi16(a, b), s->min), s->max);
        q[g] = _mm512_shuffle_epi8(bytes, transpose);
    }
    __m512i o[3];
    if (nv == 1) o[0] = q[0];
#pragma clang loop unroll(full)
    for (int r = 0; r < nv && nv > 1; r++) {
        o[r] = _mm512_permutex2var_epi32(q[0], s->index[r], q[1]);
        if (nv == 3) o[r] = _mm512_mask_permutexvar_epi32(o[r], s->from2[r], s->index[r], q[2]);
    }
    if (valid == 16) {
#pragma clang loop unroll(full)
        for (int r = 0; r < nv; r++) _mm512_storeu_si512(c + 64 * r, o[r]);
    } else {
        size_t dwords = valid * (size_t)nv;
#pragma clang loop unroll(full)
        for (int r = 0; r < nv; r++) {
            size_t have = dwords > 16 * (size_t)r ? dwords - 16 * (size_t)r : 0;
            __mmask16 lanes = have >= 16 ? 0xFFFF : (__mmask16)((1u << have) - 1);
            _mm512_mask_storeu_epi32(c + 64 * r, lanes, o[r]);
        }
    }
}

/* One output row's blocks of 16 pixels, columns x..<x + run, at c. taps[t]: tap t's plane line at
 * column kx (add 4 x0 for output column x0); w: the panel, 64 bytes per tap. */
CNNZ_INLINE CNNZ_VNNI512 void px_row(const int nv, const int kind, size_t taps, const uint8_t *const *tap, size_t x,
                                     size_t run, const int8_t *w, const px_setup *s, int8_t *c) {
    for (size_t done = 0; done < run; done += 16) {
        __m512i acc[12];
#pragma clang loop unroll(full)
        for (int j = 0; j < 4 * nv; j++) acc[j] = s->channel[j].q.bias;
        const int8_t *wt = w;
        size_t offset = 4 * (x + done);
        const uint8_t *const *t = tap;
        do {
            __m512i v = _mm512_loadu_si512(*t + offset);
#pragma clang loop unroll(full)
            for (int j = 0; j < 4 * nv; j++) {
                int32_t weights;
                memcpy(&weights, wt + 4 * j, 4);
                acc[j] = _mm512_dpbusd_epi32(acc[j], v, _mm512_set1_epi32(weights));
            }
            wt += 64;
        } while (++t < tap + taps);
        px_store(nv, kind, acc, s, c + done * (size_t)(4 * nv), run - done < 16 ? run - done : 16);
    }
}

typedef void (*px_rows)(size_t, const uint8_t *const *, size_t, size_t, const int8_t *, const px_setup *, int8_t *);

#define CNNZ_PX_ROW(NV, KIND, NAME)                                                                              \
    static CNNZ_VNNI512 void px_row_##NV##_##NAME(size_t taps, const uint8_t *const *tap, size_t x, size_t run, \
                                                  const int8_t *w, const px_setup *s, int8_t *c) {             \
        px_row(NV, KIND, taps, tap, x, run, w, s, c);                                                            \
    }
#define CNNZ_PX_ROWS(NV)                                                   \
    CNNZ_PX_ROW(NV, CNNZ_REQUANT_GENERAL, general)                         \
    CNNZ_PX_ROW(NV, CNNZ_REQUANT_FAST, fast)                               \
    CNNZ_PX_ROW(NV, CNNZ_REQUANT_FAST_CORRECTS, corrects)                  \
    CNNZ_PX_ROW(NV, CNNZ_REQUANT_FLOAT, float)                             \
    CNNZ_PX_ROW(NV, CNNZ_REQUANT_FLOAT_SPLIT, split)                       \
    CNNZ_PX_ROW(NV, PX_MIXED, mixed)                                       \
    CNNZ_PX_ROW(NV, PX_MIXED_CORRECTS, mixed_corrects)                     \
    static const px_rows px_rows_##NV[] = {px_row_##NV##_general, px_row_##NV##_fast, px_row_##NV##_corrects, \
                                           px_row_##NV##_float, px_row_##NV##_split, px_row_##NV##_mixed,  \
                                           px_row_##NV##_mixed_corrects};
CNNZ_PX_ROWS(1)
CNNZ_PX_ROWS(2)
CNNZ_PX_ROWS(3)

/* The constants of px_setup for n channels; returns the form (CNNZ_REQUANT_*). */
static CNNZ_AVX512 int px_prepare(size_t n, const cnnz_requant16_float *forms, const cnnz_qs8_output *out,
                                  px_setup *s) {
    for (size_t j = 0; j < n; j++) {
        int32_t bias[16], multiplier[16], shift[16];
        for (int i = 0; i < 16; i++) bias[i] = out->bias[j], multiplier[i] = out->multiplier[j], shift[i] = out->shift[j];
        cnnz_qs8_output one = *out;
        one.bias = bias;
        one.multiplier = multiplier;
        one.shift = shift;
        s->channel[j].q = requant16_parameters(0, 16, &one);
        s->channel[j].f.form = 0;
        if (forms && (forms->columns >> j & 1)) {
            for (int i = 0; i < 16; i++) {
                s->channel[j].f.scale[i] = forms->scale[j];
                s->channel[j].f.constant[i] = forms->constant[j];
                s->channel[j].f.constant_negative[i] = forms->constant_negative[j];
            }
            s->channel[j].f.form = forms->constant_negative[j] != forms->constant[j] ? 2 : 1;
        }
    }
    size_t nv = n / 4;
    for (size_t r = 0; r < nv; r++) {
        int32_t index[16];
        __mmask16 from2 = 0;
        for (size_t i = 0; i < 16; i++) {
            size_t o = 16 * r + i, pixel = o / nv, g = o % nv;
            index[i] = (int32_t)(pixel + 16 * (g & 1));
            if (g == 2) from2 |= (__mmask16)(1u << i), index[i] = (int32_t)pixel;
        }
        s->index[r] = _mm512_loadu_si512(index);
        s->from2[r] = from2;
    }
    s->zero_point16 = _mm512_set1_epi16((short)out->zero_point);
    s->min = _mm512_set1_epi8((char)out->min);
    s->max = _mm512_set1_epi8((char)out->max);
    if (forms && forms->form) return forms->form == 2 ? CNNZ_REQUANT_FLOAT_SPLIT : CNNZ_REQUANT_FLOAT;
    cnnz_requant16 panel = requant16_parameters(0, n, out);
    int kind = requant16_kind(&panel);
    if (!forms || !forms->columns || kind == CNNZ_REQUANT_GENERAL) return kind;
    return kind == CNNZ_REQUANT_FAST_CORRECTS ? PX_MIXED_CORRECTS : PX_MIXED;
}

void cnnz_qu8_pxconv_16x4n__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                       size_t first, size_t count, void *scratch, size_t n, const int8_t *packed,
                                       const void *stage, const cnnz_qs8_output *out, int8_t *c) {
    if (count == 0) return;
    uint8_t *base = (uint8_t *)(((uintptr_t)scratch + 63) / 64 * 64);
    px_setup *s = (px_setup *)base;
    const uint8_t **tap = (const uint8_t **)(base + (sizeof(px_setup) + 63) / 64 * 64);
    size_t groups = px_groups(w), plane = px_plane(w), taps = px_taps(w);
    size_t *offset = (size_t *)(tap + taps);
    uint8_t *padding = (uint8_t *)tap + (2 * taps * sizeof(void *) + 63) / 64 * 64;
    uint8_t *copy = padding + groups * plane;
    int kind = px_prepare(n, (const cnnz_requant16_float *)stage, out, s);
    const px_rows *rows = n == 4 ? px_rows_1 : n == 8 ? px_rows_2 : px_rows_3;
    px_rows row = rows[kind];
    size_t first_row, lines;
    px_input_rows(w, first, count, &first_row, &lines);
    memset(padding, padding_byte, groups * plane);
    px_copy(image + first_row * w->width * w->channels, lines, w, padding_byte, copy);
    size_t out_width = w->out_width, kh = w->kernel_height, kw = w->kernel_width;
    /* A row whose kernel rows are all inside the image: its taps at one line's planes + offset. */
    for (size_t ky = 0; ky < kh; ky++)
        for (size_t kx = 0; kx < kw; kx++)
            for (size_t j = 0; j < groups; j++)
                offset[(ky * kw + kx) * groups + j] = ky * w->dilation_height * groups * plane + j * plane + 4 * kx;
    ptrdiff_t span = (ptrdiff_t)((kh - 1) * w->dilation_height);
    for (size_t done = 0; done < count;) {
        size_t pixel = first + done, oy = pixel / out_width, ox = pixel % out_width;
        size_t run = out_width - ox < count - done ? out_width - ox : count - done;
        ptrdiff_t top = (ptrdiff_t)(oy * w->stride_height) - w->pad_top;
        if (top >= 0 && top + span < (ptrdiff_t)w->height) {
            const uint8_t *line = copy + ((size_t)top - first_row) * groups * plane;
            for (size_t t = 0; t < taps; t++) tap[t] = line + offset[t];
            row(taps, tap, ox, run, packed, s, c + done * n);
            done += run;
            continue;
        }
        for (size_t ky = 0; ky < kh; ky++) {
            ptrdiff_t iy = (ptrdiff_t)(oy * w->stride_height) - w->pad_top + (ptrdiff_t)(ky * w->dilation_height);
            const uint8_t *p = iy >= 0 && iy < (ptrdiff_t)w->height
                                   ? copy + ((size_t)iy - first_row) * groups * plane
                                   : padding;
            for (size_t kx = 0; kx < kw; kx++)
                for (size_t j = 0; j < groups; j++) tap[(ky * kw + kx) * groups + j] = p + j * plane + 4 * kx;
        }
        row(taps, tap, ox, run, packed, s, c + done * n);
        done += run;
    }
}

#else
/* Not x86: never called (the CPU checks say no). */
void cnnz_qu8_pxconv_16x4n__avx512vnni(const int8_t *image, const cnnz_qs8_window *w, uint8_t padding_byte,
                                       size_t first, size_t count, void *scratch, size_t n, const int8_t *packed,
                                       const void *stage, const cnnz_qs8_output *out, int8_t *c) {
    (void)image, (void)w, (void)padding_byte, (void)first, (void)count, (void)scratch, (void)n, (void)packed;
    (void)stage, (void)out, (void)c;
}
#endif
