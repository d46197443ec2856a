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
        let tapStride = g.dilationWidth * channels
        // 3x3 windows with every tap inside the image (all but the border
        // pixels of a MobileNet): the nine taps unrolled, offsets computed once.
        let unrolled3x3 = g.kernelHeight == 3 && g.kernelWidth == 3 && rowTaps == 0..<3
        let rowStep = g.dilationHeight * rowStride
        let top = input + iy0 * rowStride
        // The interior pixels (every tap inside the image) of a 3x3 row, four at a time:
        // four independent chains of nine FMAs per 8 (AVX-512: 16) channels instead of one,
        // whose 36-cycle latency bounded the pixel-by-pixel loop (22-25 GFLOP/s on MobileNet's
        // depthwise layers, 19-25 on Zen 4's AVX-512 build, which had skipped this path);
        // the nine weight vectors stay in registers across the row. The top and bottom rows
        // of a same-padded layer too (their valid window rows only): pixel by pixel, they
        // took as long as all the interior rows together.
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
        for ox in 0..<g.outputWidth {
            if interior.contains(ox) { continue }
            let ix0 = ox * g.strideWidth - g.padLeft
            let out = output + ox * channels
            if unrolled3x3 && ix0 >= 0 && ix0 + 2 * g.dilationWidth < g.inputWidth {
                let p0 = top + ix0 * channels
                let p1 = p0 + rowStep
                let p2 = p1 + rowStep
                let d = tapStride
                var c = 0
                #if CNNZ_AVX512
                    // One zmm per 16 channels; the same sum, tap by tap, as the 8-wide code.
                    while c + 16 <= channels {
                        var sum = load16(bias + c)
                        let w = weights + c
                        accumulate16(&sum, load16(p0 + c), load16(w))
                        accumulate16(&sum, load16(p0 + d + c), load16(w + channels))
                        accumulate16(&sum, load16(p0 + 2 * d + c), load16(w + 2 * channels))
                        accumulate16(&sum, load16(p1 + c), load16(w + 3 * channels))
                        accumulate16(&sum, load16(p1 + d + c), load16(w + 4 * channels))
                        accumulate16(&sum, load16(p1 + 2 * d + c), load16(w + 5 * channels))
                        accumulate16(&sum, load16(p2 + c), load16(w + 6 * channels))
                        accumulate16(&sum, load16(p2 + d + c), load16(w + 7 * channels))
                        accumulate16(&sum, load16(p2 + 2 * d + c), load16(w + 8 * channels))
                        GEMMMicrokernels.store16(sum, out + c, 16, clamp)
                        c += 16
                    }
                #endif
                while c + 8 <= channels {
                    var sum = load8(bias + c)
                    let w = weights + c
                    GEMMMicrokernels.accumulate(&sum, load8(p0 + c), load8(w))
                    GEMMMicrokernels.accumulate(&sum, load8(p0 + d + c), load8(w + channels))
                    GEMMMicrokernels.accumulate(&sum, load8(p0 + 2 * d + c), load8(w + 2 * channels))
                    GEMMMicrokernels.accumulate(&sum, load8(p1 + c), load8(w + 3 * channels))
                    GEMMMicrokernels.accumulate(&sum, load8(p1 + d + c), load8(w + 4 * channels))
                    GEMMMicrokernels.accumulate(&sum, load8(p1 + 2 * d + c), load8(w + 5 * channels))
                    GEMMMicrokernels.accumulate(&sum, load8(p2 + c), load8(w + 6 * channels))
                    GEMMMicrokernels.accumulate(&sum, load8(p2 + d + c), load8(w + 7 * channels))
                    GEMMMicrokernels.accumulate(&sum, load8(p2 + 2 * d + c), load8(w + 8 * channels))
                    GEMMMicrokernels.store(sum, out + c, 8, clamp)
                    c += 8
                }
                if c < channels {
                    rowRemainder(
                        g, from: c, iy0: iy0, ix0: ix0, rowTaps: rowTaps, columnTaps: 0..<3, input: input,
                        weights: weights, bias: bias, out: out, clamp: clamp)
                }
                continue
            }
            let columnTaps = validTaps(origin: ix0, count: g.kernelWidth, dilation: g.dilationWidth, size: g.inputWidth)
            // The first valid tap of each valid window row, in the input and in the weights.
            let origin = input + ix0 * channels
            var c = 0
            while c + 16 <= channels {
                var low = load8(bias + c)
                var high = load8(bias + c + 8)
                for ky in rowTaps {
                    var p = origin + (iy0 + ky * g.dilationHeight) * rowStride + columnTaps.lowerBound * tapStride + c
                    var w = weights + (ky * g.kernelWidth + columnTaps.lowerBound) * channels + c
                    for _ in columnTaps {
                        GEMMMicrokernels.accumulate(&low, load8(p), load8(w))
                        GEMMMicrokernels.accumulate(&high, load8(p + 8), load8(w + 8))
                        p += tapStride
                        w += channels
                    }
                }
                GEMMMicrokernels.store16(low, high, out + c, 16, clamp)
                c += 16
            }
            if c + 8 <= channels {
                var sum = load8(bias + c)
                for ky in rowTaps {
                    var p = origin + (iy0 + ky * g.dilationHeight) * rowStride + columnTaps.lowerBound * tapStride + c
                    var w = weights + (ky * g.kernelWidth + columnTaps.lowerBound) * channels + c
                    for _ in columnTaps {
                        GEMMMicrokernels.accumulate(&sum, load8(p), load8(w))
                        p += tapStride
                        w += channels
                    }
                }
                GEMMMicrokernels.store(sum, out + c, 8, clamp)
                c += 8
            }
            if c < channels {
                rowRemainder(
                    g, from: c, iy0: iy0, ix0: ix0, rowTaps: rowTaps, columnTaps: columnTaps, input: input,
                    weights: weights, bias: bias, out: out, clamp: clamp)
            }
        }
    }

    /// The interior pixels of a 3x3 row (`f32DWConvRow`'s fast path, taps in the
    /// same order), 8 channels of four pixels at a time, then the channels past
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
                @inline(__always)
                func taps(_ sum: inout SIMD16<Float>, _ p0: UnsafePointer<Float>) {
                    let p1 = p0 + rowStep
                    let p2 = p1 + rowStep
                    if row0 {
                        accumulate16(&sum, load16(p0), w0)
                        accumulate16(&sum, load16(p0 + d), w1)
                        accumulate16(&sum, load16(p0 + 2 * d), w2)
                    }
                    if row1 {
                        accumulate16(&sum, load16(p1), w3)
                        accumulate16(&sum, load16(p1 + d), w4)
                        accumulate16(&sum, load16(p1 + 2 * d), w5)
                    }
                    if row2 {
                        accumulate16(&sum, load16(p2), w6)
                        accumulate16(&sum, load16(p2 + d), w7)
                        accumulate16(&sum, load16(p2 + 2 * d), w8)
                    }
                }
                var ox = pixels.lowerBound
                while ox + 4 <= pixels.upperBound {
                    let p = top + (ox * g.strideWidth - g.padLeft) * channels + c
                    var s0 = b
                    var s1 = b
                    var s2 = b
                    var s3 = b
                    taps(&s0, p)
                    taps(&s1, p + step)
                    taps(&s2, p + 2 * step)
                    taps(&s3, p + 3 * step)
                    let out = output + ox * channels + c
                    GEMMMicrokernels.store16(s0, out, 16, clamp)
                    GEMMMicrokernels.store16(s1, out + channels, 16, clamp)
                    GEMMMicrokernels.store16(s2, out + 2 * channels, 16, clamp)
                    GEMMMicrokernels.store16(s3, out + 3 * channels, 16, clamp)
                    ox += 4
                }
                while ox < pixels.upperBound {
                    var s0 = b
                    taps(&s0, top + (ox * g.strideWidth - g.padLeft) * channels + c)
                    GEMMMicrokernels.store16(s0, output + ox * channels + c, 16, clamp)
                    ox += 1
                }
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
            @inline(__always)
            func taps(_ sum: inout SIMD8<Float>, _ p0: UnsafePointer<Float>) {
                let p1 = p0 + rowStep
                let p2 = p1 + rowStep
                if row0 {
                    GEMMMicrokernels.accumulate(&sum, load8(p0), w0)
                    GEMMMicrokernels.accumulate(&sum, load8(p0 + d), w1)
                    GEMMMicrokernels.accumulate(&sum, load8(p0 + 2 * d), w2)
                }
                if row1 {
                    GEMMMicrokernels.accumulate(&sum, load8(p1), w3)
                    GEMMMicrokernels.accumulate(&sum, load8(p1 + d), w4)
                    GEMMMicrokernels.accumulate(&sum, load8(p1 + 2 * d), w5)
                }
                if row2 {
                    GEMMMicrokernels.accumulate(&sum, load8(p2), w6)
                    GEMMMicrokernels.accumulate(&sum, load8(p2 + d), w7)
                    GEMMMicrokernels.accumulate(&sum, load8(p2 + 2 * d), w8)
                }
            }
            while ox + 4 <= pixels.upperBound {
                let p = top + (ox * g.strideWidth - g.padLeft) * channels + c
                var s0 = b
                var s1 = b
                var s2 = b
                var s3 = b
                taps(&s0, p)
                taps(&s1, p + step)
                taps(&s2, p + 2 * step)
                taps(&s3, p + 3 * step)
                let out = output + ox * channels + c
                GEMMMicrokernels.store(s0, out, 8, clamp)
                GEMMMicrokernels.store(s1, out + channels, 8, clamp)
                GEMMMicrokernels.store(s2, out + 2 * channels, 8, clamp)
                GEMMMicrokernels.store(s3, out + 3 * channels, 8, clamp)
                ox += 4
            }
            while ox < pixels.upperBound {
                var s0 = b
                taps(&s0, top + (ox * g.strideWidth - g.padLeft) * channels + c)
                GEMMMicrokernels.store(s0, output + ox * channels + c, 8, clamp)
                ox += 1
            }
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

    /// Channels `first..<channels` of one output pixel, one at a time (fewer than 8 are left).
    @inline(never)
    static func rowRemainder(
        _ g: Geometry, from first: Int, iy0: Int, ix0: Int, rowTaps: Range<Int>, columnTaps: Range<Int>,
        input: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, clamp: GEMMMicrokernels.Clamp
    ) {
        let channels = g.channels
        let rowStride = g.inputWidth * channels
        let tapStride = g.dilationWidth * channels
        let origin = input + ix0 * channels
        for c in first..<channels {
            var sum = bias[c]
            for ky in rowTaps {
                var p = origin + (iy0 + ky * g.dilationHeight) * rowStride + columnTaps.lowerBound * tapStride + c
                var w = weights + (ky * g.kernelWidth + columnTaps.lowerBound) * channels + c
                for _ in columnTaps {
                    #if CNNZ_FMA
                        sum.addProduct(p.pointee, w.pointee)
                    #else
                        sum += p.pointee * w.pointee
                    #endif
                    p += tapStride
                    w += channels
                }
            }
            if clamp.isActive {
                let low = sum > clamp.minimum ? sum : clamp.minimum
                sum = low < clamp.maximum ? low : clamp.maximum
            }
            out[c] = sum
        }
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
