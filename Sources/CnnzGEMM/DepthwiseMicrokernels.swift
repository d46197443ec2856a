// Compiled twice, as GEMMMicrokernels.swift is: in CnnzGEMM (baseline) and,
// through a symbolic link, in CnnzGEMMAVX2 (`-target-cpu haswell`, CNNZ_FMA).

/// Depthwise convolution (channel multiplier 1), NHWC, one output row per
/// call: for each output pixel and each block of 16, 8 or 1 channels, the
/// accumulators start at the bias, take every valid tap in (ky, kx) order in
/// registers (padding taps are skipped, never read), and are stored once,
/// clamped (XNNPACK's `f32_dwconv_minmax` scheme, with the taps' bounds
/// computed per pixel instead of an indirection buffer). The order of the
/// sum is fixed, so results do not depend on how rows are split across
/// threads.
public enum DepthwiseMicrokernels {
    /// The geometry of one layer; all counts in elements.
    @frozen public struct Geometry {
        public let inputHeight: Int
        public let inputWidth: Int
        public let channels: Int
        public let outputWidth: Int
        public let kernelHeight: Int
        public let kernelWidth: Int
        public let strideHeight: Int
        public let strideWidth: Int
        public let dilationHeight: Int
        public let dilationWidth: Int
        public let padTop: Int
        public let padLeft: Int

        public init(
            inputHeight: Int, inputWidth: Int, channels: Int, outputWidth: Int, kernelHeight: Int, kernelWidth: Int,
            strideHeight: Int, strideWidth: Int, dilationHeight: Int, dilationWidth: Int, padTop: Int, padLeft: Int
        ) {
            self.inputHeight = inputHeight
            self.inputWidth = inputWidth
            self.channels = channels
            self.outputWidth = outputWidth
            self.kernelHeight = kernelHeight
            self.kernelWidth = kernelWidth
            self.strideHeight = strideHeight
            self.strideWidth = strideWidth
            self.dilationHeight = dilationHeight
            self.dilationWidth = dilationWidth
            self.padTop = padTop
            self.padLeft = padLeft
        }
    }

    /// The taps `first..<end` of a window starting at `origin` (step
    /// `dilation`, `count` taps) that fall inside `0..<size`.
    @inline(__always)
    static func validTaps(origin: Int, count: Int, dilation: Int, size: Int) -> Range<Int> {
        var first = 0
        while first < count && origin + first * dilation < 0 { first += 1 }
        var end = count
        while end > first && origin + (end - 1) * dilation >= size { end -= 1 }
        return first..<end
    }

    /// Output row `oy` of one image: `input` is the image, `weights` is
    /// `[kernelHeight * kernelWidth, channels]`, `output` the row's first pixel.
    public static func f32DWConvRow(
        _ g: Geometry, oy: Int, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, clamp: GEMMMicrokernels.Clamp
    ) {
        let channels = g.channels
        let iy0 = oy * g.strideHeight - g.padTop
        let rowTaps = validTaps(origin: iy0, count: g.kernelHeight, dilation: g.dilationHeight, size: g.inputHeight)
        let rowStride = g.inputWidth * channels
        let rowStep = g.dilationHeight * rowStride
        let top = input + iy0 * rowStride
        // The interior pixels (every tap inside the image) of a 3x3 row, four at a time:
        // four independent chains of nine FMAs per 8 (AVX-512: 16) channels instead of one,
        // whose 36-cycle latency bounded the pixel-by-pixel loop (22-25 GFLOP/s on MobileNet's
        // depthwise layers, 19-25 on Zen 4's AVX-512 build, which had skipped this path);
        // the nine weight vectors stay in registers across the row. The top and bottom rows
        // of a same-padded layer too (their valid window rows only): pixel by pixel, they
        // took as long as all the interior rows together.
        #if CNNZ_FMA
            // The FMA builds: the whole row, borders included, in tiles of eight or four
            // pixels (`f32DWConv3x3RowTilesFMA`; on AVX2, 8 channels a tile, mobile_res's six
            // depthwise layers took 57 us before, 40 after; on AVX-512, 16 channels a zmm
            // tile, 34 us on the 16-lane interior loop and per-pixel borders below, 26 after,
            // Zen 4). Other rows keep the paths below.
            if !rowTaps.isEmpty && rowTilesFit(g) {
                f32DWConv3x3RowTilesFMA(
                    g, rows: rowTaps, top: top, rowStep: rowStep, weights: weights, bias: bias, output: output,
                    clamp: clamp)
                return
            }
        #endif
        var interior = 0..<0
        if g.kernelHeight == 3 && g.kernelWidth == 3 && !rowTaps.isEmpty {
            // Pixels whose window starts at column 0 or later and ends inside the image.
            let first = min((g.padLeft + g.strideWidth - 1) / g.strideWidth, g.outputWidth)
            let lastStart = g.inputWidth - 1 - 2 * g.dilationWidth + g.padLeft
            let end = lastStart < 0 ? 0 : min(lastStart / g.strideWidth + 1, g.outputWidth)
            if end > first {
                interior = first..<end
                f32DWConv3x3Interior(
                    g, pixels: interior, rows: rowTaps, top: top, rowStep: rowStep, weights: weights, bias: bias,
                    output: output, clamp: clamp)
            }
        }
        // The border pixels, before and after the interior (every pixel when it is empty): a loop
        // over every pixel that skipped the interior ones took a third as long as the interior's
        // eight-pixel tiles on a 48-pixel row.
        @inline(__always)
        func border(_ ox: Int) {
            let ix0 = ox * g.strideWidth - g.padLeft
            let columnTaps = validTaps(origin: ix0, count: g.kernelWidth, dilation: g.dilationWidth, size: g.inputWidth)
            f32DWConvPixel(
                g, iy0: iy0, ix0: ix0, rowTaps: rowTaps, columnTaps: columnTaps, input: input, weights: weights,
                bias: bias, out: output + ox * channels, clamp: clamp)
        }
        for ox in 0..<interior.lowerBound { border(ox) }
        for ox in interior.upperBound..<g.outputWidth { border(ox) }
    }

    /// The interior pixels of a 3x3 row (`f32DWConvRow`'s fast path, taps in the
    /// same order), 8 channels of four pixels at a time (in the FMA builds, of eight
    /// first, as many blocks of eight as the row holds), then the channels past
    /// the last multiple of 8 pixel by pixel. `rows`: the window rows inside the
    /// image (all three but in a padded layer's first and last rows), counted from
    /// `top`, the window's first row (above the image when row 0 is not valid).
    static func f32DWConv3x3Interior(
        _ g: Geometry, pixels: Range<Int>, rows: Range<Int>, top: UnsafePointer<Float>, rowStep: Int,
        weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        clamp: GEMMMicrokernels.Clamp
    ) {
        let channels = g.channels
        // Predictable branches (the same for the whole row) around each window row's taps.
        let row0 = rows.lowerBound == 0
        let row1 = rows.contains(1)
        let row2 = rows.upperBound == 3
        let d = g.dilationWidth * channels
        let step = g.strideWidth * channels
        var c = 0
        #if CNNZ_AVX512
            // One zmm per 16 channels; the same sum, tap by tap, as the 8-wide loop below.
            while c + 16 <= channels {
                let w = weights + c
                let w0 = load16(w)
                let w1 = load16(w + channels)
                let w2 = load16(w + 2 * channels)
                let w3 = load16(w + 3 * channels)
                let w4 = load16(w + 4 * channels)
                let w5 = load16(w + 5 * channels)
                let w6 = load16(w + 6 * channels)
                let w7 = load16(w + 7 * channels)
                let w8 = load16(w + 8 * channels)
                let b = load16(bias + c)
                var ox = pixels.lowerBound
                if row0 && row1 && row2 {
                    // Every window row inside the image (all rows but a padded layer's first
                    // and last): eight pixels at a time, tap by tap, without the row tests.
                    // Eight chains hide the FMA latency; four left the FMA unit idle between
                    // taps (this core retires one 16-float FMA a cycle, with 4 cycles latency).
                    while d == step && ox + 8 <= pixels.upperBound {
                        // Dilation equal to the stride (stride 1, MobileNet's common case): a
                        // pixel's second and third columns are the next pixels' first, so each
                        // window row loads 10 vectors for the 24 multiply-adds instead of 24
                        // (one 64-byte load a cycle is this core's limit: it was the bottleneck).
                        let p = top + (ox * g.strideWidth - g.padLeft) * channels + c
                        var s: Pixels8 = (b, b, b, b, b, b, b, b)
                        row8(&s, p, step, w0, w1, w2)
                        row8(&s, p + rowStep, step, w3, w4, w5)
                        row8(&s, p + 2 * rowStep, step, w6, w7, w8)
                        store8(s, output + ox * channels + c, channels, clamp)
                        ox += 8
                    }
                    while ox + 8 <= pixels.upperBound {
                        let p = top + (ox * g.strideWidth - g.padLeft) * channels + c
                        var s: Pixels8 = (b, b, b, b, b, b, b, b)
                        tap8(&s, p, step, w0)
                        tap8(&s, p + d, step, w1)
                        tap8(&s, p + 2 * d, step, w2)
                        tap8(&s, p + rowStep, step, w3)
                        tap8(&s, p + rowStep + d, step, w4)
                        tap8(&s, p + rowStep + 2 * d, step, w5)
                        tap8(&s, p + 2 * rowStep, step, w6)
                        tap8(&s, p + 2 * rowStep + d, step, w7)
                        tap8(&s, p + 2 * rowStep + 2 * d, step, w8)
                        store8(s, output + ox * channels + c, channels, clamp)
                        ox += 8
                    }
                }
                f32DWConv3x3FourThenOne(
                    g, from: ox, to: pixels.upperBound, rows: (row0, row1, row2), top: top + c, step: step, d: d,
                    rowStep: rowStep, weights: (w0, w1, w2, w3, w4, w5, w6, w7, w8), bias: b, output: output + c,
                    clamp: clamp)
                c += 16
            }
        #endif
        while c + 8 <= channels {
            let w = weights + c
            let w0 = load8(w)
            let w1 = load8(w + channels)
            let w2 = load8(w + 2 * channels)
            let w3 = load8(w + 3 * channels)
            let w4 = load8(w + 4 * channels)
            let w5 = load8(w + 5 * channels)
            let w6 = load8(w + 6 * channels)
            let w7 = load8(w + 7 * channels)
            let w8 = load8(w + 8 * channels)
            let b = load8(bias + c)
            var ox = pixels.lowerBound
            #if CNNZ_FMA
                // Whole blocks of eight pixels first (`f32DWConv3x3Row8x8FMA`), then what is left
                // four and one at a time below; rows of fewer than 16 interior pixels four at a
                // time only (MobileNet's 12-pixel rows: one block of eight and two single pixels
                // took 1.2 times as long as four, four, one and one).
                let blocks = pixels.count >= 16 ? pixels.count / 8 * 8 : 0
                if blocks > 0 {
                    f32DWConv3x3Row8x8FMA(
                        pixels: blocks, origin: top + (ox * g.strideWidth - g.padLeft) * channels + c, step: step, d: d,
                        rows: rows, rowStep: rowStep, weights: w, channels: channels, bias: b,
                        out: output + ox * channels + c, clamp: clamp)
                    ox += blocks
                }
            #endif
            f32DWConv3x3FourThenOne(
                g, from: ox, to: pixels.upperBound, rows: (row0, row1, row2), top: top + c, step: step, d: d,
                rowStep: rowStep, weights: (w0, w1, w2, w3, w4, w5, w6, w7, w8), bias: b, output: output + c,
                clamp: clamp)
            c += 8
        }
        if c < channels {
            for ox in pixels {
                // `top` is the window's first row: rows counted from it.
                rowRemainder(
                    g, from: c, iy0: 0, ix0: ox * g.strideWidth - g.padLeft, rowTaps: rows, columnTaps: 0..<3,
                    input: top, weights: weights, bias: bias, out: output + ox * channels, clamp: clamp)
            }
        }
    }

    /// `f32DWConv3x3Interior`'s pixels four then one at a time, for one block of 8 or 16
    /// channels (`top` and `output` at the block's first channel): each the bias then the
    /// taps of the window rows inside the image (`rows`), in order. Written once for the
    /// 8-lane and the AVX-512 build's 16-lane blocks, inlined into each.
    @inline(__always)
    static func f32DWConv3x3FourThenOne<Vector: TileVector>(
        _ g: Geometry, from start: Int, to end: Int, rows: (Bool, Bool, Bool), top: UnsafePointer<Float>, step: Int,
        d: Int, rowStep: Int, weights w: (Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector, Vector),
        bias b: Vector, output: UnsafeMutablePointer<Float>, clamp: GEMMMicrokernels.Clamp
    ) {
        let channels = g.channels
        @inline(__always)
        func taps(_ sum: inout Vector, _ p0: UnsafePointer<Float>) {
            let p1 = p0 + rowStep
            let p2 = p1 + rowStep
            if rows.0 {
                sum.accumulate(Vector.load(p0), w.0)
                sum.accumulate(Vector.load(p0 + d), w.1)
                sum.accumulate(Vector.load(p0 + 2 * d), w.2)
            }
            if rows.1 {
                sum.accumulate(Vector.load(p1), w.3)
                sum.accumulate(Vector.load(p1 + d), w.4)
                sum.accumulate(Vector.load(p1 + 2 * d), w.5)
            }
            if rows.2 {
                sum.accumulate(Vector.load(p2), w.6)
                sum.accumulate(Vector.load(p2 + d), w.7)
                sum.accumulate(Vector.load(p2 + 2 * d), w.8)
            }
        }
        var ox = start
        while ox + 4 <= end {
            let p = top + (ox * g.strideWidth - g.padLeft) * channels
            var s0 = b
            var s1 = b
            var s2 = b
            var s3 = b
            taps(&s0, p)
            taps(&s1, p + step)
            taps(&s2, p + 2 * step)
            taps(&s3, p + 3 * step)
            let out = output + ox * channels
            s0.store(out, Vector.lanes, clamp)
            s1.store(out + channels, Vector.lanes, clamp)
            s2.store(out + 2 * channels, Vector.lanes, clamp)
            s3.store(out + 3 * channels, Vector.lanes, clamp)
            ox += 4
        }
        while ox < end {
            var s0 = b
            taps(&s0, top + (ox * g.strideWidth - g.padLeft) * channels)
            s0.store(output + ox * channels, Vector.lanes, clamp)
            ox += 1
        }
    }

    /// Eight pixels' accumulators of 16 channels (eight zmm registers).
    typealias Pixels8 = (
        SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>,
        SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>
    )

    /// Eight pixels' accumulators, clamped, to `out` and the seven pixels after it.
    @inline(__always)
    static func store8(
        _ s: Pixels8, _ out: UnsafeMutablePointer<Float>, _ channels: Int, _ clamp: GEMMMicrokernels.Clamp
    ) {
        GEMMMicrokernels.store16(s.0, out, 16, clamp)
        GEMMMicrokernels.store16(s.1, out + channels, 16, clamp)
        GEMMMicrokernels.store16(s.2, out + 2 * channels, 16, clamp)
        GEMMMicrokernels.store16(s.3, out + 3 * channels, 16, clamp)
        GEMMMicrokernels.store16(s.4, out + 4 * channels, 16, clamp)
        GEMMMicrokernels.store16(s.5, out + 5 * channels, 16, clamp)
        GEMMMicrokernels.store16(s.6, out + 6 * channels, 16, clamp)
        GEMMMicrokernels.store16(s.7, out + 7 * channels, 16, clamp)
    }

    /// One tap of eight pixels `step` floats apart: `s.i += p[i * step] * w`.
    @inline(__always)
    static func tap8(_ s: inout Pixels8, _ p: UnsafePointer<Float>, _ step: Int, _ w: SIMD16<Float>) {
        accumulate16(&s.0, load16(p), w)
        accumulate16(&s.1, load16(p + step), w)
        accumulate16(&s.2, load16(p + 2 * step), w)
        accumulate16(&s.3, load16(p + 3 * step), w)
        accumulate16(&s.4, load16(p + 4 * step), w)
        accumulate16(&s.5, load16(p + 5 * step), w)
        accumulate16(&s.6, load16(p + 6 * step), w)
        accumulate16(&s.7, load16(p + 7 * step), w)
    }

    /// One window row of eight pixels whose columns are `step` floats apart and
    /// overlap (pixel i's columns are i, i + 1, i + 2): ten loads, 24 multiply-adds,
    /// each pixel's three taps in column order.
    @inline(__always)
    static func row8(
        _ s: inout Pixels8, _ p: UnsafePointer<Float>, _ step: Int, _ wa: SIMD16<Float>, _ wb: SIMD16<Float>,
        _ wc: SIMD16<Float>
    ) {
        let x0 = load16(p)
        let x1 = load16(p + step)
        let x2 = load16(p + 2 * step)
        let x3 = load16(p + 3 * step)
        let x4 = load16(p + 4 * step)
        let x5 = load16(p + 5 * step)
        let x6 = load16(p + 6 * step)
        let x7 = load16(p + 7 * step)
        let x8 = load16(p + 8 * step)
        let x9 = load16(p + 9 * step)
        accumulate16(&s.0, x0, wa)
        accumulate16(&s.1, x1, wa)
        accumulate16(&s.2, x2, wa)
        accumulate16(&s.3, x3, wa)
        accumulate16(&s.4, x4, wa)
        accumulate16(&s.5, x5, wa)
        accumulate16(&s.6, x6, wa)
        accumulate16(&s.7, x7, wa)
        accumulate16(&s.0, x1, wb)
        accumulate16(&s.1, x2, wb)
        accumulate16(&s.2, x3, wb)
        accumulate16(&s.3, x4, wb)
        accumulate16(&s.4, x5, wb)
        accumulate16(&s.5, x6, wb)
        accumulate16(&s.6, x7, wb)
        accumulate16(&s.7, x8, wb)
        accumulate16(&s.0, x2, wc)
        accumulate16(&s.1, x3, wc)
        accumulate16(&s.2, x4, wc)
        accumulate16(&s.3, x5, wc)
        accumulate16(&s.4, x6, wc)
        accumulate16(&s.5, x7, wc)
        accumulate16(&s.6, x8, wc)
        accumulate16(&s.7, x9, wc)
    }

    @inline(__always)
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func accumulate16(_ sum: inout SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>) {
        #if CNNZ_FMA
            sum.addProduct(a, b)
        #else
            sum += a * b
        #endif
    }

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
}
