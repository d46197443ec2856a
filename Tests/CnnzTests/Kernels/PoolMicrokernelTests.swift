import Testing

@testable import Cnnz

/// The float32 max and average pooling microkernels of every build this CPU
/// runs (portable, AVX2, AVX-512) against a plain loop, bit for bit (the same
/// comparisons and the same sums in the same order), on seeded random shapes:
/// channel counts around the 4-, 8- and 16-float blocks (seed002's 12 and 25),
/// odd sizes, strides, windows larger than their stride, and same padding.
/// (KernelTests checks the chosen build through whole models across threads.)
@Suite struct PoolMicrokernelTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var height: Int
        var width: Int
        var channels: Int
        var window: Window
        var isMax: Bool
        var testDescription: String {
            "\(isMax ? "max" : "average") \(height)x\(width)x\(channels) \(window)"
        }
    }

    static let cases: [Case] = {
        var rng = SplitMix64(seed: 1515)
        var cases: [Case] = []
        for channels in [1, 3, 4, 5, 7, 8, 12, 15, 16, 17, 25, 31, 33, 50] {
            for isMax in [true, false] {
                let k = (Int.random(in: 1...4, using: &rng), Int.random(in: 1...4, using: &rng))
                let s = (Int.random(in: 1...3, using: &rng), Int.random(in: 1...3, using: &rng))
                let window = Window(
                    kernelHeight: k.0, kernelWidth: k.1, strideHeight: s.0, strideWidth: s.1, dilationHeight: 1,
                    dilationWidth: 1, padding: Bool.random(using: &rng) ? .same : .valid)
                cases.append(
                    Case(
                        height: Int.random(in: k.0...11, using: &rng), width: Int.random(in: k.1...11, using: &rng),
                        channels: channels, window: window, isMax: isMax))
            }
        }
        // The benchmark models' 2x2 / 2 pools, odd sizes (the last column and row dropped).
        for (size, channels) in [(15, 12), (9, 25), (7, 50), (6, 32)] {
            for padding in [Padding.valid, .same] {
                cases.append(
                    Case(
                        height: size, width: size + 2, channels: channels,
                        window: Window(
                            kernelHeight: 2, kernelWidth: 2, strideHeight: 2, strideWidth: 2, dilationHeight: 1,
                            dilationWidth: 1, padding: padding), isMax: true))
            }
        }
        return cases
    }()

    @Test(arguments: cases)
    func rowMicrokernelsMatchAPlainLoop(_ c: Case) throws {
        var rng = SplitMix64(seed: UInt64(c.height * 1000 + c.width * 100 + c.channels))
        let (rows, columns) = try #require(c.window.geometry(height: c.height, width: c.width))
        let x = TensorShape(height: c.height, width: c.width, channels: c.channels)
        let y = TensorShape(height: rows.output, width: columns.output, channels: c.channels)
        var input = [Float].random(x.elementCount, &rng)
        // Ties and infinities: the maximum must not depend on which equal tap wins.
        input[0] = -.infinity
        if input.count > 2 { input[2] = input[1] }
        let operands = KernelOperands(inputs: [0], inputShapes: [x], output: 1, outputShape: y)
        let layer = Pool2D(operands: operands, window: c.window, mode: c.isMax ? .max : .average, activation: .linear)

        // The plain loop: the valid taps in (row, column) order.
        var expected = [Float](repeating: 0, count: y.elementCount)
        for oy in 0..<y.height {
            for ox in 0..<y.width {
                for ch in 0..<c.channels {
                    var value: Float = c.isMax ? -.infinity : 0
                    var count = 0
                    for ky in 0..<c.window.kernelHeight {
                        for kx in 0..<c.window.kernelWidth {
                            let iy = oy * c.window.strideHeight - rows.padBefore + ky
                            let ix = ox * c.window.strideWidth - columns.padBefore + kx
                            guard iy >= 0, iy < x.height, ix >= 0, ix < x.width else { continue }
                            let tap = input[(iy * x.width + ix) * x.channels + ch]
                            value = c.isMax ? (tap > value ? tap : value) : value + tap
                            count += 1
                        }
                    }
                    expected[(oy * y.width + ox) * c.channels + ch] = c.isMax ? value : value * (1 / Float(count))
                }
            }
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
                            layer.run(context, part: 0, of: 2, microkernel: microkernel)
                            layer.run(context, part: 1, of: 2, microkernel: microkernel)
                        }
                    }
                }
            }
            let mismatch = (0..<y.elementCount).first { output[$0].bitPattern != expected[$0].bitPattern }
            #expect(
                mismatch == nil,
                "\(microkernel) at \(mismatch ?? -1): plain loop \(expected[mismatch ?? 0]), microkernel \(output[mismatch ?? 0]), \(c.testDescription)"
            )
        }
    }

    /// GlobalPool2D's average (the pooling microkernel with one window over the whole
    /// image) and max, in every build this CPU runs, against a plain loop bit for bit
    /// (the sum from zero in pixel order, times 1 / pixels) and the average against a
    /// Double sum, two images split as two threads would split them.
    @Test(arguments: [
        (1, 1, 5), (2, 3, 1), (6, 6, 256), (3, 5, 13), (4, 4, 17), (7, 2, 33), (5, 5, 8), (6, 6, 40),
    ])
    func globalPoolMatchesAPlainLoop(_ shape: (Int, Int, Int)) {
        let (height, width, channels) = shape
        var rng = SplitMix64(seed: UInt64(height * 1000 + width * 100 + channels))
        let x = TensorShape(height: height, width: width, channels: channels)
        let y = TensorShape(height: 1, width: 1, channels: channels)
        let input = [Float].random(2 * x.elementCount, &rng)
        let operands = KernelOperands(inputs: [0], inputShapes: [x], output: 1, outputShape: y)
        for isMax in [false, true] {
            let layer = GlobalPool2D(operands: operands, mode: isMax ? .max : .average, activation: .linear)
            var expected = [Float](repeating: 0, count: 2 * channels)
            var exact = [Double](repeating: 0, count: 2 * channels)
            for image in 0..<2 {
                for ch in 0..<channels {
                    var value: Float = isMax ? -.infinity : 0
                    var sum = 0.0
                    for p in 0..<x.pixels {
                        let tap = input[image * x.elementCount + p * channels + ch]
                        value = isMax ? max(value, tap) : value + tap
                        sum += Double(tap)
                    }
                    expected[image * channels + ch] = isMax ? value : value * (1 / Float(x.pixels))
                    exact[image * channels + ch] = isMax ? Double(value) : sum / Double(x.pixels)
                }
            }
            for microkernel in GEMM.available {
                var output = [Float](repeating: .nan, count: 2 * channels)
                var scratch = [Float](repeating: 0, count: 16)
                input.withUnsafeBufferPointer { i in
                    output.withUnsafeMutableBufferPointer { o in
                        scratch.withUnsafeMutableBufferPointer { s in
                            var values: [UnsafeMutableRawPointer] = [
                                UnsafeMutableRawPointer(mutating: i.baseAddress!),
                                UnsafeMutableRawPointer(o.baseAddress!),
                            ]
                            values.withUnsafeMutableBufferPointer { v in
                                let context = RunContext(values: v.baseAddress!, batch: 2, scratch: s.baseAddress!)
                                layer.run(context, part: 0, of: 2, microkernel: microkernel)
                                layer.run(context, part: 1, of: 2, microkernel: microkernel)
                            }
                        }
                    }
                }
                for i in 0..<(2 * channels) {
                    #expect(
                        output[i].bitPattern == expected[i].bitPattern
                            && abs(Double(output[i]) - exact[i]) <= 1e-5 * max(1, abs(exact[i])),
                        """
                        \(microkernel) \(isMax ? "max" : "average") \(height)x\(width)x\(channels) at \(i): \
                        plain loop \(expected[i]), Double \(exact[i]), kernel \(output[i])
                        """)
                }
            }
        }
    }
}
