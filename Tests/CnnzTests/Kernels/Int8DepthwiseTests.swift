import CInt8Kernels
import Testing

@testable import Cnnz

/// The depthwise pixel kernel (depth multiplier 1, channels innermost): the
/// portable, AVX2 and AVX-512 levels give the same bytes as a plain loop, on
/// channel counts around and between the blocks of 32, 16 and 8; and the row
/// kernel likewise (the engine test in Int8KernelTests runs the whole layers,
/// every variant in turn).
@Suite struct Int8DepthwiseTests {
    @Test func pixelVariantsMatchAPlainLoop() throws {
        var rng = SplitMix64(seed: 1414)
        let counts = [1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 47, 64, 71]
        for (trial, n) in counts.enumerated() {
            let taps = Int.random(in: 0...9, using: &rng)
            let inputs = (0..<taps).map { _ in (0..<n).map { _ in Int8.random(in: .min ... .max, using: &rng) } }
            let weights = (0..<taps).map { _ in (0..<n).map { _ in Int32.random(in: -127...127, using: &rng) } }
            let bias = (0..<n).map { _ in Int32.random(in: -40000...40000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.0001...0.02, using: &rng) }
            let inputZero = [-128, 127, Int32.random(in: -128...127, using: &rng)][trial % 3]
            let outputZero = Int32.random(in: -128...127, using: &rng)
            let stage = try Int8PackedWeights(
                k: 0, n: n, element: { _, _ in 0 }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                activation: Int8Activation(.linear, output: ActivationQuantization(scale: 1, zeroPoint: outputZero)))
            var expected = [Int8](repeating: 0, count: n)
            for j in 0..<n {
                var sum = bias[j]
                for t in 0..<taps { sum += (Int32(inputs[t][j]) - inputZero) * weights[t][j] }
                expected[j] = Int8Reference.clamp(Int8Reference.scaled(sum, by: reals[j]) + outputZero, -128...127)
            }
            for variant in Int8GEMM.available {
                let c = Self.pixel(variant, n: n, inputs: inputs, weights: weights, zero: inputZero, stage: stage)
                #expect(c == expected, "\(variant) n=\(n) taps=\(taps)")
            }
        }
    }

    /// Whole depthwise rows (`cnnz_qs8_depthwise_row`) at every level this CPU has
    /// against a plain loop: windows up to 5x5 (3x3 every other trial: the AVX2 and
    /// AVX-512 kernels keep its nine weights in registers), strides and dilations 1
    /// and 2, padding on either side or none, channel counts around the blocks of 8
    /// and 16, input zero points at both extremes, outputs that saturate, and an activation
    /// table (the AVX2 and AVX-512 3x3 paths once stored the values before it).
    @Test func rowLevelsMatchAPlainLoop() throws {
        var rng = SplitMix64(seed: 31)
        let counts = [1, 7, 8, 9, 15, 16, 17, 24, 33, 64]
        var saturated: Set<Int8> = []
        for trial in 0..<40 {
            let n = counts[trial % counts.count]
            let square = trial % 2 == 0
            let kh = square ? 3 : Int.random(in: 1...5, using: &rng)
            let kw = square ? 3 : Int.random(in: 1...5, using: &rng)
            let (sh, sw) = (Int.random(in: 1...2, using: &rng), Int.random(in: 1...2, using: &rng))
            let (dh, dw) = trial % 5 == 1 ? (2, 2) : (1, 1)
            let (spanH, spanW) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
            let (padTop, padLeft) = (Int.random(in: 0..<spanH, using: &rng), Int.random(in: 0..<spanW, using: &rng))
            let (padBottom, padRight) = (Int.random(in: 0..<spanH, using: &rng), Int.random(in: 0..<spanW, using: &rng))
            let height = max(Int.random(in: 1...9, using: &rng), spanH - padTop - padBottom)
            let width = max(Int.random(in: 1...9, using: &rng), spanW - padLeft - padRight)
            let outHeight = (height + padTop + padBottom - spanH) / sh + 1
            let outWidth = (width + padLeft + padRight - spanW) / sw + 1
            let image = (0..<(height * width * n)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            let weights = (0..<(kh * kw * n)).map { _ in Int32.random(in: -127...127, using: &rng) }
            let bias = (0..<n).map { _ in Int32.random(in: -40000...40000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.0001...0.02, using: &rng) }
            let inputZero = [-128, 127, Int32.random(in: -128...127, using: &rng)][trial % 3]
            let outputZero = Int32.random(in: -128...127, using: &rng)
            // Every fourth trial (3x3) through an activation table (sigmoid).
            let activation =
                trial % 4 == 2
                ? Int8Activation(
                    .sigmoid,
                    output: ActivationQuantization(
                        scale: 1.0 / 256, zeroPoint: -128, preActivationScale: 0.05, preActivationZeroPoint: outputZero)
                )
                : Int8Activation(.linear, output: ActivationQuantization(scale: 1, zeroPoint: outputZero))
            let stage = try Int8PackedWeights(
                k: 0, n: n, element: { _, _ in 0 }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                activation: activation)
            var window = cnnz_qs8_window(
                height: height, width: width, channels: n, kernel_height: kh, kernel_width: kw, stride_height: sh,
                stride_width: sw, dilation_height: dh, dilation_width: dw, pad_top: padTop, pad_left: padLeft,
                out_width: outWidth, group_offset: 0, group_channels: n)
            let x = UnsafeMutablePointer<Int8>.allocate(capacity: image.count)
            x.initialize(from: image, count: image.count)
            defer { x.deallocate() }
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: (n + 1) / 2 * 8 + kh * kw * 16, alignment: 16)
            defer { scratch.deallocate() }
            for oy in 0..<outHeight {
                let expected = Int8DepthwiseRowReference.row(
                    oy, window, image: image, weights: weights, bias: bias, reals: reals, inputZero: inputZero,
                    activation: activation)
                saturated.formUnion(expected.filter { $0 == -128 || $0 == 127 })
                for level in Set(Int8GEMM.available.map(\.level)) {
                    var c = [Int8](repeating: 0, count: outWidth * n)
                    withUnsafePointer(to: stage.output) { out in
                        cnnz_qs8_depthwise_row(level, x, &window, oy, weights, inputZero, scratch, out, &c)
                    }
                    #expect(
                        c == expected,
                        "level \(level) n=\(n) \(height)x\(width) kernel \(kh)x\(kw) stride \(sh),\(sw) dilation \(dh) pad \(padTop),\(padLeft) row \(oy) zero \(inputZero) table \(activation.table != nil)"
                    )
                }
            }
        }
        #expect(saturated == [-128, 127])
    }

    /// The AVX512-VNNI row kernel (`cnnz_qu8_dwconv_row_16c4__avx512vnni`, weights packed by
    /// `DepthwiseConv2DInt8.vnniWeights`) against a plain loop: channel counts around and
    /// between its blocks of 16 (1, 5, 15, 16, 17, 33, 64, 65, 128), widths 1 to 13, 3x3 windows at
    /// strides 1 and 2 (its sliding path) and others (1x1 up to 7x7: two groups of 4 rows; its
    /// ring of column vectors where the stride is below the width),
    /// dilation 2, padding on either side or none, weights down to -128, input zero points at
    /// both extremes, and the three output stages: a plain clamp (the requantization's
    /// rounding step for negative values), ReLU6 (without it) and an activation table; each with
    /// the integer output stage alone (no stage) and with the float forms the packing proves
    /// (`cnnz_qu8_store_vnni512_prepare`; Int8FloatFormTests draws scales where most blocks have
    /// them).
    @Test func vnniRowMatchesAPlainLoop() throws {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 1601)
        let counts = [1, 5, 15, 16, 17, 33, 64, 65, 128]
        var saturated: Set<Int8> = []
        for trial in 0..<72 {
            let n = counts[trial % counts.count]
            let square = trial % 3 != 2
            let kh = square ? 3 : [1, 2, 4, 5, 7][Int.random(in: 0..<5, using: &rng)]
            let kw = square ? 3 : Int.random(in: 1...5, using: &rng)
            let (sh, sw) = (Int.random(in: 1...2, using: &rng), trial % 2 + 1)
            let (dh, dw) = trial % 7 == 3 ? (2, 2) : (1, 1)
            let (spanH, spanW) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
            let (padTop, padLeft) = (Int.random(in: 0..<spanH, using: &rng), Int.random(in: 0..<spanW, using: &rng))
            let (padBottom, padRight) = (Int.random(in: 0..<spanH, using: &rng), Int.random(in: 0..<spanW, using: &rng))
            let height = max(Int.random(in: 1...6, using: &rng), spanH - padTop - padBottom)
            let width = max(Int.random(in: 1...13, using: &rng), spanW - padLeft - padRight)
            let outHeight = (height + padTop + padBottom - spanH) / sh + 1
            let outWidth = (width + padLeft + padRight - spanW) / sw + 1
            let image = (0..<(height * width * n)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            let weights = (0..<(kh * kw * n)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            let bias = (0..<n).map { _ in Int32.random(in: -40000...40000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.0001...0.02, using: &rng) }
            let inputZero = [-128, 127, Int32.random(in: -128...127, using: &rng)][trial % 3]
            let outputZero = Int32.random(in: -128...127, using: &rng)
            let activation = Int8DepthwiseRowReference.activation(trial, outputZero: outputZero)
            let packed = try DepthwiseConv2DInt8.vnniWeights(
                kernelHeight: kh, kernelWidth: kw, channels: n, weight: { weights[$0] }, bias: { bias[$0] },
                realMultiplier: { reals[$0] }, activation: activation, inputZeroPoint: inputZero)
            var window = cnnz_qs8_window(
                height: height, width: width, channels: n, kernel_height: kh, kernel_width: kw, stride_height: sh,
                stride_width: sw, dilation_height: dh, dilation_width: dw, pad_top: padTop, pad_left: padLeft,
                out_width: outWidth, group_offset: 0, group_channels: n)
            // The image and the padding row in buffers of exactly their size (a sanitizer build
            // sees any access past them).
            let x = UnsafeMutablePointer<Int8>.allocate(capacity: image.count)
            x.initialize(from: image, count: image.count)
            defer { x.deallocate() }
            let padding = UnsafeMutablePointer<Int8>.allocate(capacity: width * n)
            defer { padding.deallocate() }
            var expected = [[Int8]](repeating: [], count: outHeight)
            for oy in 0..<outHeight {
                let row = Int8DepthwiseRowReference.row(
                    oy, window, image: image, weights: weights, bias: bias, reals: reals, inputZero: inputZero,
                    activation: activation)
                saturated.formUnion(row.filter { $0 == -128 || $0 == 127 })
                expected[oy] = row
            }
            // Each row alone, and with the next one (the kernel's pairs of rows) where there is one.
            for oy in 0..<outHeight {
                for count in oy + 1 < outHeight ? [1, 2] : [1] {
                    for withStage in [false, true] {
                        var c = [Int8](repeating: 0, count: count * outWidth * n)
                        withUnsafePointer(to: packed.output) { out in
                            cnnz_qu8_dwconv_row_16c4__avx512vnni(
                                x, &window, oy, count, packed.panels.assumingMemoryBound(to: Int8.self),
                                withStage ? packed.stage : nil, inputZero, padding, out, &c)
                        }
                        #expect(
                            c == Array(expected[oy..<oy + count].joined()),
                            "trial \(trial) n=\(n) \(height)x\(width) kernel \(kh)x\(kw) stride \(sh),\(sw) dilation \(dh) pad \(padTop),\(padLeft),\(padBottom),\(padRight) rows \(oy)..<\(oy + count) zero \(inputZero) activation \(trial % 4) stage \(withStage)"
                        )
                    }
                }
            }
        }
        #expect(saturated == [-128, 127])
    }

    /// One call of the C kernel on copies of `inputs` and `weights`.
    static func pixel(
        _ variant: Int8GEMM.Variant, n: Int, inputs: [[Int8]], weights: [[Int32]], zero: Int32,
        stage: Int8PackedWeights
    ) -> [Int8] {
        // Each row in a buffer of exactly n elements (a sanitizer build sees any read past it).
        func copy<T>(_ row: [T]) -> UnsafePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: row.count)
            p.initialize(from: row, count: row.count)
            return UnsafePointer(p)
        }
        let x = inputs.map(copy)
        let w = weights.map(copy)
        defer {
            for p in x { p.deallocate() }
            for p in w { p.deallocate() }
        }
        var sums = [Int32](repeating: 0, count: n)
        var c = [Int8](repeating: 0, count: n)
        let xs: [UnsafePointer<Int8>?] = x
        let ws: [UnsafePointer<Int32>?] = w
        withUnsafePointer(to: stage.output) { out in
            cnnz_qs8_depthwise_pixel(variant.level, n, xs.count, xs, ws, zero, &sums, out, &c)
        }
        return c
    }
}
