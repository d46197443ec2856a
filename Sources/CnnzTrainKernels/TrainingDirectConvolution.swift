// Direct convolution of single-channel images (a first Conv2D on grayscale
// input), compiled into CnnzTrainKernels and, through symbolic links, into
// CnnzTrainKernelsAVX2 and CnnzTrainKernelsAVX512 (8-float vectors in all three).
//
// With one input channel, im2col makes rows of only kh*kw values (9 for 3x3):
// the GEMM then spends more time storing its tiles and the gather copying runs
// of 3 floats than multiplying. These loops read the taps straight from the
// image, padded once so that no tap needs a bounds check.

extension TrainingMicrokernels {
    /// `y[b, oy, ox, f] = bias[f] + Σ x[b, oy + ky, ox + kx] · w[ky, kw, f]` (stride 1),
    /// then `max(·, 0)` when `relu`, for `images` images of `x`, each padded to
    /// `(outHeight + kernelHeight - 1) x paddedWidth` floats. The taps are summed in
    /// im2col's order (ky, then kx), as `multiply` sums them. Needs `filters` a
    /// multiple of 16 and `outWidth` at least 4.
    public static func convolveSingleChannel(
        images: Int, x: UnsafePointer<Float>, paddedWidth: Int, outHeight: Int, outWidth: Int, kernelHeight: Int,
        kernelWidth: Int, weights: UnsafePointer<Float>, filters: Int, bias: UnsafePointer<Float>?, relu: Bool,
        y: UnsafeMutablePointer<Float>
    ) {
        precondition(filters % 16 == 0 && outWidth >= 4)
        let imageSize = (outHeight + kernelHeight - 1) * paddedWidth
        let rowBytes = filters * 4
        for b in 0..<images {
            let image = x + b * imageSize
            let out = y + b * outHeight * outWidth * filters
            for oy in 0..<outHeight {
                var ox = 0
                while ox < outWidth {
                    // Four pixels at a time; the last four overlap the group before
                    // when the width is not a multiple of 4 (the same values, written twice).
                    let x0 = min(ox, outWidth - 4)
                    for f0 in stride(from: 0, to: filters, by: 16) {
                        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
                        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
                        for ky in 0..<kernelHeight {
                            let row = image + (oy + ky) * paddedWidth + x0
                            let w = UnsafeRawPointer(weights + ky * kernelWidth * filters + f0)
                            for kx in 0..<kernelWidth {
                                let w0 = w.loadUnaligned(fromByteOffset: kx &* rowBytes, as: SIMD8<Float>.self)
                                let w1 = w.loadUnaligned(fromByteOffset: kx &* rowBytes &+ 32, as: SIMD8<Float>.self)
                                var s = SIMD8(repeating: row[kx])
                                directFMA(&c00, s, w0)
                                directFMA(&c01, s, w1)
                                s = SIMD8(repeating: row[kx + 1])
                                directFMA(&c10, s, w0)
                                directFMA(&c11, s, w1)
                                s = SIMD8(repeating: row[kx + 2])
                                directFMA(&c20, s, w0)
                                directFMA(&c21, s, w1)
                                s = SIMD8(repeating: row[kx + 3])
                                directFMA(&c30, s, w0)
                                directFMA(&c31, s, w1)
                            }
                        }
                        let target = out + (oy * outWidth + x0) * filters + f0
                        let b = bias.map { $0 + f0 }
                        directStore(c00, c01, target, b, relu)
                        directStore(c10, c11, target + filters, b, relu)
                        directStore(c20, c21, target + 2 * filters, b, relu)
                        directStore(c30, c31, target + 3 * filters, b, relu)
                    }
                    ox = x0 + 4
                }
            }
        }
    }

    /// `dw[ky, kx, f] += Σ x[b, oy + ky, ox + kx] · dy[b, oy, ox, f]` over every
    /// pixel of `images` images (stride 1; `x` padded as for `convolveSingleChannel`):
    /// the kernel's gradient, tiles of 6 taps x 16 filters summed in registers over
    /// all the pixels. Needs `filters` a multiple of 16.
    public static func accumulateSingleChannelKernelGradient(
        images: Int, x: UnsafePointer<Float>, paddedWidth: Int, outHeight: Int, outWidth: Int, kernelHeight: Int,
        kernelWidth: Int, dy: UnsafePointer<Float>, filters: Int, dw: UnsafeMutablePointer<Float>
    ) {
        precondition(filters % 16 == 0)
        let taps = kernelHeight * kernelWidth
        let imageSize = (outHeight + kernelHeight - 1) * paddedWidth
        func offset(_ tap: Int) -> Int {
            let t = min(tap, taps - 1)
            return t / kernelWidth * paddedWidth + t % kernelWidth
        }
        for t0 in stride(from: 0, to: taps, by: 6) {
            // Taps past the last alias it; only valid rows of dw are stored.
            let (o0, o1, o2) = (offset(t0), offset(t0 + 1), offset(t0 + 2))
            let (o3, o4, o5) = (offset(t0 + 3), offset(t0 + 4), offset(t0 + 5))
            let valid = min(6, taps - t0)
            for f0 in stride(from: 0, to: filters, by: 16) {
                var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
                var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
                var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
                for b in 0..<images {
                    for oy in 0..<outHeight {
                        var ar = x + b * imageSize + oy * paddedWidth
                        var br = UnsafeRawPointer(dy + ((b * outHeight + oy) * outWidth) * filters + f0)
                        for _ in 0..<outWidth {
                            let b0 = br.loadUnaligned(as: SIMD8<Float>.self)
                            let b1 = br.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                            var s = SIMD8(repeating: ar[o0])
                            directFMA(&c00, s, b0)
                            directFMA(&c01, s, b1)
                            s = SIMD8(repeating: ar[o1])
                            directFMA(&c10, s, b0)
                            directFMA(&c11, s, b1)
                            s = SIMD8(repeating: ar[o2])
                            directFMA(&c20, s, b0)
                            directFMA(&c21, s, b1)
                            s = SIMD8(repeating: ar[o3])
                            directFMA(&c30, s, b0)
                            directFMA(&c31, s, b1)
                            s = SIMD8(repeating: ar[o4])
                            directFMA(&c40, s, b0)
                            directFMA(&c41, s, b1)
                            s = SIMD8(repeating: ar[o5])
                            directFMA(&c50, s, b0)
                            directFMA(&c51, s, b1)
                            ar += 1
                            br += filters &* 4
                        }
                    }
                }
                let out = dw + t0 * filters + f0
                directAccumulate(c00, c01, out)
                if valid > 1 { directAccumulate(c10, c11, out + filters) }
                if valid > 2 { directAccumulate(c20, c21, out + 2 * filters) }
                if valid > 3 { directAccumulate(c30, c31, out + 3 * filters) }
                if valid > 4 { directAccumulate(c40, c41, out + 4 * filters) }
                if valid > 5 { directAccumulate(c50, c51, out + 5 * filters) }
            }
        }
    }
}

@inline(__always)
private func directFMA(_ sum: inout SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
    #if CNNZ_FMA
        sum.addProduct(a, b)
    #else
        sum += a * b
    #endif
}

/// Stores 16 sums with `multiply`'s epilogue: plus `bias`, then ReLU.
@inline(__always)
private func directStore(
    _ low: SIMD8<Float>, _ high: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?,
    _ relu: Bool
) {
    var (low, high) = (low, high)
    if let bias {
        low += UnsafeRawPointer(bias).loadUnaligned(as: SIMD8<Float>.self)
        high += UnsafeRawPointer(bias).loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
    }
    if relu {
        low = low.replacing(with: 0, where: low .< 0)
        high = high.replacing(with: 0, where: high .< 0)
    }
    let raw = UnsafeMutableRawPointer(out)
    raw.storeBytes(of: low, as: SIMD8<Float>.self)
    raw.storeBytes(of: high, toByteOffset: 32, as: SIMD8<Float>.self)
}

/// `out[0..<16] += (low, high)`.
@inline(__always)
private func directAccumulate(_ low: SIMD8<Float>, _ high: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>) {
    let raw = UnsafeMutableRawPointer(out)
    raw.storeBytes(of: low + raw.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
    raw.storeBytes(
        of: high + raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), toByteOffset: 32, as: SIMD8<Float>.self
    )
}
