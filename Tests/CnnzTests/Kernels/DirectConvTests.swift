import Testing

@testable import Cnnz

/// `Conv2DDirect` against a plain loop (in Double) and, to the bit, against
/// `Conv2DIm2ColGEMM` on the same layer (they compute the same chain of
/// multiply-adds), on seeded random shapes whose channel and filter counts miss
/// the 8-, 16- and 24-float tiles and the pixel blocks: strides, vertical
/// dilation, padding, fused and second-pass activations, batches of 1 to 3.
/// The output is the same to the bit split into 1, 2 or 3 parts, and image by
/// image at batch 1 as in the batch.
@Suite struct DirectConvTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var height: Int
        var width: Int
        var channels: Int
        var filters: Int
        var batch: Int
        var window: Window
        var hasBias: Bool
        var activation: Activation
        var testDescription: String {
            "\(height)x\(width)x\(channels) -> \(filters) filters, batch \(batch), \(window), bias \(hasBias), "
                + "activation=\(activation.name)"
        }
    }

    static let cases: [Case] = {
        var rng = SplitMix64(seed: 15)
        var cases: [Case] = []
        for i in 0..<48 {
            let k = (Int.random(in: 1...5, using: &rng), Int.random(in: 1...5, using: &rng))
            let s = (Int.random(in: 1...3, using: &rng), Int.random(in: 1...3, using: &rng))
            let d = s.0 == 1 ? Int.random(in: 1...2, using: &rng) : 1
            let padding: Padding = Bool.random(using: &rng) ? .same : .valid
            let window = Window(
                kernelHeight: k.0, kernelWidth: k.1, strideHeight: s.0, strideWidth: s.1, dilationHeight: d,
                dilationWidth: 1, padding: padding)
            // First layers (1 to 4 channels) and wider inputs; filters around 8, 16, 24 and their sums.
            let channels = i % 3 == 2 ? Int.random(in: 5...27, using: &rng) : Int.random(in: 1...4, using: &rng)
            let filters = [1, 3, 7, 8, 9, 12, 15, 16, 17, 23, 25, 31, 33, 41, 50, 57].randomElement(using: &rng)!
            let activation: Activation = [
                .linear, .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0), .sigmoid, .softmax,
            ].randomElement(using: &rng)!
            cases.append(
                Case(
                    height: Int.random(in: ((k.0 - 1) * d + 1)...17, using: &rng),
                    width: Int.random(in: k.1...23, using: &rng), channels: channels, filters: filters,
                    batch: Int.random(in: 1...3, using: &rng), window: window, hasBias: Bool.random(using: &rng),
                    activation: activation))
        }
        // The benchmark models' first layers and seed002's small-filter layers.
        func window(_ k: Int, _ s: Int, _ padding: Padding) -> Window {
            Window(kernelHeight: k, kernelWidth: k, strideHeight: s, strideWidth: s, padding: padding)
        }
        let relu = Activation.plainReLU
        cases.append(
            Case(
                height: 28, width: 28, channels: 1, filters: 32, batch: 2, window: window(3, 1, .same), hasBias: true,
                activation: relu))
        cases.append(
            Case(
                height: 32, width: 32, channels: 3, filters: 32, batch: 1, window: window(3, 1, .same), hasBias: true,
                activation: relu))
        cases.append(
            Case(
                height: 96, width: 96, channels: 3, filters: 16, batch: 1, window: window(3, 2, .same), hasBias: true,
                activation: .relu(maxValue: 6, negativeSlope: 0, threshold: 0)))
        cases.append(
            Case(
                height: 64, width: 64, channels: 3, filters: 12, batch: 2, window: window(2, 1, .valid), hasBias: true,
                activation: relu))
        cases.append(
            Case(
                height: 31, width: 31, channels: 12, filters: 25, batch: 1, window: window(2, 1, .valid), hasBias: true,
                activation: relu))
        cases.append(
            Case(
                height: 6, width: 6, channels: 50, filters: 100, batch: 3, window: window(2, 1, .valid), hasBias: true,
                activation: relu))
        // Multiples of 32 filters (the 32-wide tiles on AVX-512) on odd sizes: pixel counts off the 8-pixel block.
        cases.append(
            Case(
                height: 9, width: 13, channels: 4, filters: 64, batch: 3, window: window(3, 2, .same), hasBias: false,
                activation: .linear))
        cases.append(
            Case(
                height: 7, width: 5, channels: 2, filters: 32, batch: 2, window: window(2, 1, .valid), hasBias: true,
                activation: .sigmoid))
        cases.append(
            Case(
                height: 3, width: 11, channels: 1, filters: 32, batch: 1, window: window(3, 1, .same), hasBias: true,
                activation: .relu(maxValue: 6, negativeSlope: 0, threshold: 0)))
        // Padded layers at stride 2 or more: padding on both sides (5 wide, same), on the right
        // only (even widths, stride 2), wider than a stride (7 wide), rows narrower than the window.
        cases.append(
            Case(
                height: 11, width: 21, channels: 3, filters: 16, batch: 2, window: window(5, 2, .same),
                hasBias: true, activation: relu))
        cases.append(
            Case(
                height: 12, width: 26, channels: 1, filters: 16, batch: 1, window: window(3, 2, .same),
                hasBias: false, activation: .linear))
        cases.append(
            Case(
                height: 9, width: 17, channels: 2, filters: 24, batch: 2, window: window(7, 3, .same),
                hasBias: true, activation: relu))
        cases.append(
            Case(
                height: 8, width: 4, channels: 3, filters: 16, batch: 1, window: window(5, 2, .same),
                hasBias: true, activation: relu))
        // 9 to 16 filters (12 but on pairs: one 16-wide tile of 8 pixels, f32Conv8x16Broadcast, on
        // AVX-512): 1 and 3 channels, strides 1 and 2, padded or not, rows of 5 to 29 pixels
        // (rarely a multiple of 8), whole stores (16) and partial or spilled ones (9 to 15).
        for i in 0..<16 {
            let k = Int.random(in: 1...3, using: &rng) * 2 - 1
            let s = 1 + i % 2
            let padding: Padding = i % 4 < 2 ? .same : .valid
            cases.append(
                Case(
                    height: Int.random(in: k...13, using: &rng),
                    width: Int.random(in: Swift.max(k, 5)...29, using: &rng),
                    channels: i % 3 == 1 ? 1 : 3, filters: [9, 10, 11, 13, 14, 15, 16, 16][i % 8], batch: 1 + i % 2,
                    window: window(k, s, padding), hasBias: i % 5 != 0,
                    activation: i % 3 == 2 ? .plainReLU : .relu(maxValue: 6, negativeSlope: 0, threshold: 0)))
        }
        return cases
    }()

    /// Runs `kernel` on `input` (`batch` images) in `parts` parts, one after another, the
    /// last first: a part that wrote past its share (a spilled store) would show.
    static func run(_ kernel: any Kernel, input: [Float], batch: Int, outputCount: Int, parts: Int) throws -> [Float] {
        var output = [Float](repeating: .nan, count: batch * outputCount)
        let scratch = try AlignedBuffer(bytes: Swift.max(kernel.scratchBytes, 64) * parts)
        input.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o in
                var values: [UnsafeMutableRawPointer] = [
                    UnsafeMutableRawPointer(mutating: i.baseAddress!), UnsafeMutableRawPointer(o.baseAddress!),
                ]
                values.withUnsafeMutableBufferPointer { v in
                    let context = RunContext(values: v.baseAddress!, batch: batch, scratch: scratch.raw)
                    for part in (0..<parts).reversed() { kernel.run(context, part: part, of: parts) }
                }
            }
        }
        return output
    }

    @Test(arguments: cases)
    func directConvolutionMatchesIm2ColAndAPlainLoop(_ c: Case) throws {
        let x = TensorShape(height: c.height, width: c.width, channels: c.channels)
        let layer = Layer(
            kind: .conv2D(window: c.window, filters: c.filters, groups: 1, hasBias: c.hasBias),
            activation: c.activation, inputs: [0], weights: [])
        let (rows, columns) = try #require(c.window.geometry(height: c.height, width: c.width))
        let y = TensorShape(height: rows.output, width: columns.output, channels: c.filters)
        try #require(Conv2DDirect.accepts(KernelShape(layer: layer, inputShapes: [x], outputShape: y)))
        var rng = SplitMix64(seed: UInt64(c.height * 7919 + c.width * 131 + c.channels * 17 + c.filters))
        let k = c.window.kernelHeight * c.window.kernelWidth * c.channels
        let kernel = Tensor(
            shape: [c.window.kernelHeight, c.window.kernelWidth, c.channels, c.filters],
            values: .random(k * c.filters, &rng))
        let bias = c.hasBias ? Tensor(shape: [c.filters], values: .random(c.filters, &rng)) : nil
        let input = [Float].random(c.batch * x.elementCount, &rng)
        let operands = KernelOperands(inputs: [0], inputShapes: [x], output: 1, outputShape: y)
        let direct = try Conv2DDirect(
            operands: operands, window: c.window, activation: c.activation, kernel: kernel, bias: bias)
        let im2col = try Conv2DIm2ColGEMM(
            operands: operands, window: c.window, groups: 1, activation: c.activation, kernel: kernel, bias: bias)

        let actual = try Self.run(direct, input: input, batch: c.batch, outputCount: y.elementCount, parts: 1)
        let gemm = try Self.run(im2col, input: input, batch: c.batch, outputCount: y.elementCount, parts: 1)
        if let i = actual.indices.first(where: { actual[$0].bitPattern != gemm[$0].bitPattern }) {
            Issue.record("output \(i): direct \(actual[i]), im2col + GEMM \(gemm[i]); \(c.testDescription)")
        }
        for parts in 2...3 {
            let split = try Self.run(direct, input: input, batch: c.batch, outputCount: y.elementCount, parts: parts)
            #expect(split.map(\.bitPattern) == actual.map(\.bitPattern), "\(parts) parts; \(c.testDescription)")
        }
        for image in 0..<c.batch {
            let one = try Self.run(
                direct, input: Array(input[(image * x.elementCount)..<((image + 1) * x.elementCount)]), batch: 1,
                outputCount: y.elementCount, parts: 2)
            let inBatch = actual[(image * y.elementCount)..<((image + 1) * y.elementCount)]
            #expect(one.map(\.bitPattern) == inBatch.map(\.bitPattern), "image \(image) alone; \(c.testDescription)")
        }

        // The plain loop: every tap of the window, padding read as zero, in Double.
        var expected = [Float](repeating: 0, count: c.batch * y.elementCount)
        for image in 0..<c.batch {
            for oy in 0..<y.height {
                for ox in 0..<y.width {
                    for f in 0..<c.filters {
                        var sum = Double(bias?.values[f] ?? 0)
                        for ky in 0..<c.window.kernelHeight {
                            let iy = oy * c.window.strideHeight - rows.padBefore + ky * c.window.dilationHeight
                            guard iy >= 0, iy < x.height else { continue }
                            for kx in 0..<c.window.kernelWidth {
                                let ix = ox * c.window.strideWidth - columns.padBefore + kx
                                guard ix >= 0, ix < x.width else { continue }
                                for ch in 0..<c.channels {
                                    let w = kernel.values[
                                        ((ky * c.window.kernelWidth + kx) * c.channels + ch) * c.filters + f]
                                    sum +=
                                        Double(input[image * x.elementCount + (iy * x.width + ix) * x.channels + ch])
                                        * Double(w)
                                }
                            }
                        }
                        expected[image * y.elementCount + (oy * y.width + ox) * c.filters + f] = Float(sum)
                    }
                }
            }
        }
        expected.withUnsafeMutableBufferPointer {
            ActivationFunction.apply(
                c.activation, to: $0.baseAddress!, rows: c.batch * y.pixels, columns: c.filters, stride: c.filters)
        }
        let tolerance = Float(1e-5) * Float(k).squareRoot() * 4
        if let i = actual.indices.first(where: { !(abs(actual[$0] - expected[$0]) <= tolerance) }) {
            Issue.record("output \(i): plain loop \(expected[i]), direct \(actual[i]); \(c.testDescription)")
        }
    }

    /// The tiles cover every filter, at most 7 columns past the last, in widths the microkernels have.
    @Test func tilesCoverTheFilters() {
        for filters in 1...200 {
            let widths = Conv2DDirect.tileVectors(filters: filters)
            let total = widths.reduce(0, +) * 8
            #expect(total >= filters && total < filters + 8, "\(filters) filters: \(widths)")
            // 4 vectors: the 32-wide tiles of multiples of 32 filters on AVX-512.
            let wide = Conv2DDirect.takesWide(filters: filters)
            #expect(
                widths.allSatisfy { [1, 2, 3].contains($0) || ($0 == 4 && wide) }
                    && (widths.count == 1 || !widths.contains(1)))
        }
    }
}
