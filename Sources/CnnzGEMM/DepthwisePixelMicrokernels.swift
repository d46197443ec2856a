// Compiled three times, as DepthwiseMicrokernels.swift is: in CnnzGEMM (baseline)
// and, through symbolic links, in CnnzGEMMAVX2 and CnnzGEMMAVX512.

extension DepthwiseMicrokernels {
    /// One output pixel, every channel: the pixels of a row that
    /// `f32DWConv3x3Interior` does not take (a 3x3 window cut by the image's
    /// left or right border, or any pixel of another kernel size). The taps
    /// `rowTaps` x `columnTaps` (the window's rows and columns inside the image)
    /// in (ky, kx) order, as everywhere else, so a pixel's result does not depend
    /// on which path took it. Up to four channel blocks at a time, each in its own
    /// accumulator: one block alone is a chain of dependent FMAs (four cycles
    /// each), and these few pixels took a quarter of MobileNet's depthwise time.
    static func f32DWConvPixel(
        _ g: Geometry, iy0: Int, ix0: Int, rowTaps: Range<Int>, columnTaps: Range<Int>, input: UnsafePointer<Float>,
        weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        clamp: GEMMMicrokernels.Clamp
    ) {
        let channels = g.channels
        let rowStride = g.inputWidth * channels
        let tapStride = g.dilationWidth * channels
        // The first valid tap of the window's first valid row, in the input and in the weights.
        let firstInput =
            input + (iy0 + rowTaps.lowerBound * g.dilationHeight) * rowStride
            + (ix0 + columnTaps.lowerBound * g.dilationWidth) * channels
        let firstWeight = weights + (rowTaps.lowerBound * g.kernelWidth + columnTaps.lowerBound) * channels
        let inputRowStep = g.dilationHeight * rowStride
        let weightRowStep = g.kernelWidth * channels
        let rows = rowTaps.count
        let columns = columnTaps.count
        var c = 0
        #if CNNZ_AVX512
            while c + 64 <= channels {
                var s0 = load16(bias + c)
                var s1 = load16(bias + c + 16)
                var s2 = load16(bias + c + 32)
                var s3 = load16(bias + c + 48)
                var pRow = firstInput + c
                var wRow = firstWeight + c
                for _ in 0..<rows {
                    var p = pRow
                    var w = wRow
                    for _ in 0..<columns {
                        accumulate16(&s0, load16(p), load16(w))
                        accumulate16(&s1, load16(p + 16), load16(w + 16))
                        accumulate16(&s2, load16(p + 32), load16(w + 32))
                        accumulate16(&s3, load16(p + 48), load16(w + 48))
                        p += tapStride
                        w += channels
                    }
                    pRow += inputRowStep
                    wRow += weightRowStep
                }
                GEMMMicrokernels.store16(s0, out + c, 16, clamp)
                GEMMMicrokernels.store16(s1, out + c + 16, 16, clamp)
                GEMMMicrokernels.store16(s2, out + c + 32, 16, clamp)
                GEMMMicrokernels.store16(s3, out + c + 48, 16, clamp)
                c += 64
            }
        #endif
        // Four blocks of 8 (the AVX-512 build: what 64 left over), then two, then one.
        while c + 32 <= channels {
            var s0 = load8(bias + c)
            var s1 = load8(bias + c + 8)
            var s2 = load8(bias + c + 16)
            var s3 = load8(bias + c + 24)
            var pRow = firstInput + c
            var wRow = firstWeight + c
            for _ in 0..<rows {
                var p = pRow
                var w = wRow
                for _ in 0..<columns {
                    GEMMMicrokernels.accumulate(&s0, load8(p), load8(w))
                    GEMMMicrokernels.accumulate(&s1, load8(p + 8), load8(w + 8))
                    GEMMMicrokernels.accumulate(&s2, load8(p + 16), load8(w + 16))
                    GEMMMicrokernels.accumulate(&s3, load8(p + 24), load8(w + 24))
                    p += tapStride
                    w += channels
                }
                pRow += inputRowStep
                wRow += weightRowStep
            }
            GEMMMicrokernels.store16(s0, s1, out + c, 16, clamp)
            GEMMMicrokernels.store16(s2, s3, out + c + 16, 16, clamp)
            c += 32
        }
        if c + 16 <= channels {
            var low = load8(bias + c)
            var high = load8(bias + c + 8)
            var pRow = firstInput + c
            var wRow = firstWeight + c
            for _ in 0..<rows {
                var p = pRow
                var w = wRow
                for _ in 0..<columns {
                    GEMMMicrokernels.accumulate(&low, load8(p), load8(w))
                    GEMMMicrokernels.accumulate(&high, load8(p + 8), load8(w + 8))
                    p += tapStride
                    w += channels
                }
                pRow += inputRowStep
                wRow += weightRowStep
            }
            GEMMMicrokernels.store16(low, high, out + c, 16, clamp)
            c += 16
        }
        if c + 8 <= channels {
            var sum = load8(bias + c)
            var pRow = firstInput + c
            var wRow = firstWeight + c
            for _ in 0..<rows {
                var p = pRow
                var w = wRow
                for _ in 0..<columns {
                    GEMMMicrokernels.accumulate(&sum, load8(p), load8(w))
                    p += tapStride
                    w += channels
                }
                pRow += inputRowStep
                wRow += weightRowStep
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
}
