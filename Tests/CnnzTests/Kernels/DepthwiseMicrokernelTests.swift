import Testing

@testable import Cnnz

/// The depthwise row microkernel of every build this CPU runs (portable, and
/// AVX2 + FMA where present) against a plain loop, on seeded random shapes
/// whose channel counts miss the 8- and 16-float vector widths, with and
/// without the fused ReLU/ReLU6 clamp. (KernelTests checks the chosen build
/// through whole models, across thread counts.)
@Suite struct DepthwiseMicrokernelTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var height: Int
        var width: Int
        var channels: Int
        var window: Window
        var activation: Activation
        var testDescription: String {
            "\(height)x\(width)x\(channels) \(window) activation=\(activation.name)"
        }
    }

    static let cases: [Case] = {
        var rng = SplitMix64(seed: 2024)
        var cases: [Case] = []
        for channels in [1, 5, 8, 13, 16, 17, 24, 31, 33, 40] {
            let k = (Int.random(in: 1...5, using: &rng), Int.random(in: 1...5, using: &rng))
            let s = (Int.random(in: 1...2, using: &rng), Int.random(in: 1...2, using: &rng))
            let d = s == (1, 1) ? (Int.random(in: 1...2, using: &rng), 1) : (1, 1)
            let padding: Padding = Bool.random(using: &rng) ? .same : .valid
            let window = Window(
                kernelHeight: k.0, kernelWidth: k.1, strideHeight: s.0, strideWidth: s.1, dilationHeight: d.0,
                dilationWidth: d.1, padding: padding)
            let activation: Activation = [
                .linear, .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0), .sigmoid,
            ].randomElement(using: &rng)!
            cases.append(
                Case(
                    height: Int.random(in: ((k.0 - 1) * d.0 + 1)...11, using: &rng),
                    width: Int.random(in: ((k.1 - 1) * d.1 + 1)...11, using: &rng), channels: channels,
                    window: window, activation: activation))
        }
        // MobileNet's: 3x3, stride 1 and 2, same padding, ReLU6.
        for (c, s) in [(16, 1), (32, 2), (24, 1)] {
            cases.append(
                Case(
                    height: 9, width: 10, channels: c,
                    window: Window(
                        kernelHeight: 3, kernelWidth: 3, strideHeight: s, strideWidth: s, dilationHeight: 1,
                        dilationWidth: 1, padding: .same),
                    activation: .relu(maxValue: 6, negativeSlope: 0, threshold: 0)))
        }
        // Rows long enough for the eight-pixel paths (AVX-512) and their leftovers: 8 + 8 + 4 + 1
        // interior pixels, 64 and 48 channels (the border pixels' four-block loops), and a
        // dilation equal to the stride (windows that overlap by a column at stride 2).
        // The FMA builds' eight-pixel tiles (rows of 16 interior pixels or more) at stride 1 and 2,
        // with a dilation (stride 1 and 2: the generic and the overlapping loads), channels past
        // the last multiple of 8, and pixels left after the last block of eight.
        for (c, s, d, width, padding) in [
            (64, 1, 1, 23, Padding.same), (48, 1, 1, 19, .valid), (16, 2, 1, 23, .same), (32, 2, 2, 25, .same),
            (128, 1, 1, 12, .same), (24, 2, 1, 41, .same), (13, 1, 1, 37, .valid), (16, 1, 2, 30, .same),
            (8, 2, 2, 45, .valid), (40, 1, 1, 18, .same),
            // The FMA builds' whole-row tiles: rows of 4 to 7 pixels (tiles of four that
            // overlap, a tile with both a padding column first and last), 12 and 13 (a tile
            // of four, an overlapping tile of eight), stride 2 with a padding column on the
            // left (odd widths), channels past the last multiple of 8 (and of 16: the AVX-512
            // build's 16-channel tiles, then a block of 8).
            (16, 1, 1, 5, .same), (21, 1, 1, 4, .same), (32, 2, 1, 13, .same), (24, 2, 1, 9, .valid),
            (16, 1, 1, 6, .valid), (37, 1, 1, 12, .same), (16, 1, 1, 13, .same), (29, 2, 1, 27, .same),
            (16, 2, 1, 7, .same), (64, 2, 1, 24, .same), (128, 2, 1, 12, .same), (56, 1, 1, 11, .same),
            (45, 2, 1, 14, .same), (96, 1, 1, 7, .valid),
            // Tiles of six pixels (rows of 6, and 8 + 6): inside the image and with a
            // padding column last, stride 1 and 2, channels past the last multiple of 16 and 8.
            (128, 1, 1, 6, .same), (16, 1, 1, 8, .valid), (48, 2, 1, 13, .valid), (33, 1, 1, 14, .same),
            (24, 2, 1, 28, .same), (21, 1, 1, 6, .same), (40, 2, 1, 11, .same),
        ] {
            cases.append(
                Case(
                    height: 5, width: width, channels: c,
                    window: Window(
                        kernelHeight: 3, kernelWidth: 3, strideHeight: s, strideWidth: s, dilationHeight: d,
                        dilationWidth: d, padding: padding),
                    activation: .relu(maxValue: 6, negativeSlope: 0, threshold: 0)))
        }
        return cases
    }()

    @Test(arguments: cases)
    func rowMicrokernelsMatchAPlainLoop(_ c: Case) throws {
        var rng = SplitMix64(seed: UInt64(c.height * 1000 + c.width * 100 + c.channels))
        let (rows, columns) = try #require(c.window.geometry(height: c.height, width: c.width))
        let x = TensorShape(height: c.height, width: c.width, channels: c.channels)
        let y = TensorShape(height: rows.output, width: columns.output, channels: c.channels)
        let taps = c.window.kernelHeight * c.window.kernelWidth
        let kernel = Tensor(
            shape: [c.window.kernelHeight, c.window.kernelWidth, c.channels, 1],
            values: .random(taps * c.channels, &rng))
        let bias = Tensor(shape: [c.channels], values: .random(c.channels, &rng))
        let input = [Float].random(x.elementCount, &rng)
        let operands = KernelOperands(inputs: [0], inputShapes: [x], output: 1, outputShape: y)
        let layer = try DepthwiseConv2DDirect(
            operands: operands, window: c.window, multiplier: 1, activation: c.activation, kernel: kernel, bias: bias)

        // The plain loop: every tap of the window, padding read as zero, in Double.
        var expected = [Double](repeating: 0, count: y.elementCount)
        for oy in 0..<y.height {
            for ox in 0..<y.width {
                for ch in 0..<c.channels {
                    var sum = Double(bias.values[ch])
                    for ky in 0..<c.window.kernelHeight {
                        for kx in 0..<c.window.kernelWidth {
                            let iy = oy * c.window.strideHeight - rows.padBefore + ky * c.window.dilationHeight
                            let ix = ox * c.window.strideWidth - columns.padBefore + kx * c.window.dilationWidth
                            guard iy >= 0, iy < x.height, ix >= 0, ix < x.width else { continue }
                            sum +=
                                Double(input[(iy * x.width + ix) * x.channels + ch])
                                * Double(kernel.values[(ky * c.window.kernelWidth + kx) * c.channels + ch])
                        }
                    }
                    expected[(oy * y.width + ox) * c.channels + ch] = sum
                }
            }
        }
        var activated = expected.map(Float.init)
        activated.withUnsafeMutableBufferPointer {
            ActivationFunction.apply(
                c.activation, to: $0.baseAddress!, rows: y.pixels, columns: c.channels, stride: c.channels)
        }

        for microkernel in GEMM.available {
            var output = [Float](repeating: .nan, count: y.elementCount)
            var scratch = [Float](repeating: 0, count: 16)
            input.withUnsafeBufferPointer { i in
                output.withUnsafeMutableBufferPointer { o in
                    scratch.withUnsafeMutableBufferPointer { s in
                        var values: [UnsafeMutableRawPointer] = [
                            UnsafeMutableRawPointer(mutating: i.baseAddress!), UnsafeMutableRawPointer(o.baseAddress!),
                        ]
                        values.withUnsafeMutableBufferPointer { v in
                            let context = RunContext(values: v.baseAddress!, batch: 1, scratch: s.baseAddress!)
                            // Two uneven parts: rows split as threads would split them.
                            layer.runRows(context, part: 0, of: 2, microkernel: microkernel)
                            layer.runRows(context, part: 1, of: 2, microkernel: microkernel)
                        }
                    }
                }
            }
            for i in 0..<y.elementCount {
                let tolerance = Float(max(1e-5, abs(expected[i]) * 1e-5))
                #expect(
                    abs(output[i] - activated[i]) <= tolerance,
                    "\(microkernel) at \(i): plain loop \(activated[i]), microkernel \(output[i]), \(c.testDescription)"
                )
            }
        }
    }
}
