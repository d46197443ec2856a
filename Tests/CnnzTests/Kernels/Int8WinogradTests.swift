import Testing

@testable import Cnnz

/// The exact integer Winograd F(2x2, 3x3) (`Conv2DInt8Winograd`, `cnnz_qs8_wino2x2`) against the
/// integer reference, bit for bit, through the engine: input channels from its smallest (16) up
/// with odd counts and counts that miss the AVX2 transform's 16 (its padded last vector), filter counts
/// that miss the panels of 8 and groups of 16, odd output sizes (partial tiles at the right and
/// bottom), "same" and "valid" padding, batches of up to 3, zero points at both ends, every kind
/// of activation (linear, ReLU, ReLU6, a table), on 1, 2 and 3 threads with every variant this
/// CPU has (portable: the plain C twin; AVX2 and maddubs: the AVX2 kernel). Some trials take the
/// extremes: every weight -128 or 127 and every input -128 or 127 against the opposite zero
/// point (|d| = 255), and one the most channels it accepts, where |4 S| is just under 2^31.
@Suite struct Int8WinogradTests {
    @Test func winogradMatchesTheReference() throws {
        var rng = SplitMix64(seed: 2323)
        let trials = 30
        var taken = 0
        for trial in 0..<trials {
            let extreme = trial % 5 == 4
            let widest = trial == 9
            let channels =
                widest ? Conv2DInt8Winograd.maxChannels : [16, 17, 19, 24, 31, 32, 33, 40, 47, 64][trial % 10]
            let filters = widest ? 3 : [1, 7, 8, 9, 16, 17, 25, 33, 40][trial % 9]
            let shape = TensorShape(
                height: widest ? 3 : Int.random(in: 4...11, using: &rng),
                width: widest ? 4 : Int.random(in: 4...13, using: &rng), channels: channels)
            let window = Window(
                kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                padding: trial % 2 == 0 || widest ? .same : .valid)
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let batch = widest ? 1 : Int.random(in: 1...3, using: &rng)
            var input = Int8KernelTests.activation(
                shape, batch: batch, zeroPoint: Int8KernelTests.zeroPoint(&rng), scale: inScale, &rng)
            let weightValue: Int8 = trial % 10 == 4 ? 127 : -128
            if extreme || widest {
                // d = q - zeroPoint = ±255 everywhere, weights all at one end.
                let high = trial % 4 < 2
                input = Int8Reference.Activation(
                    shape: shape, batch: batch, values: .init(repeating: high ? 127 : -128, count: input.values.count),
                    scale: input.scale, zeroPoint: high ? -128 : 127)
            }
            let count = 9 * channels * filters
            let weights =
                extreme || widest
                ? [Int8](repeating: weightValue, count: count)
                : (0..<count).map { _ in
                    Int8.random(in: trial % 3 == 1 ? -64...63 : -128...127, using: &rng)
                }
            let weightScales = (0..<filters).map { _ in Float.random(in: 0.001...0.02, using: &rng) }
            let bias = (0..<filters).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let outScale = widest ? 2000 : Float.random(in: 0.002...0.3, using: &rng)
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let activation: Cnnz.Activation = [
                .linear, .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0), .sigmoid,
            ][trial % 4]
            var output = ActivationQuantization(scale: outScale, zeroPoint: outZero)
            var clamp: ClosedRange<Int32> = -128...127
            switch activation {
            case .relu(let maxValue, _, _):
                clamp = Int8KernelTests.reluClamp(
                    maxValue: maxValue.isFinite ? Double(maxValue) : nil, scale: outScale, zeroPoint: outZero)
            case .sigmoid:
                output = ActivationQuantization(
                    scale: 1 / 256, zeroPoint: -128, preActivationScale: outScale, preActivationZeroPoint: outZero)
            default: break
            }
            let tensors = Int8KernelTests.perChannelTensors(
                kernelShape: [3, 3, channels, filters], weights: weights, weightScales: weightScales, bias: bias,
                inputScale: inScale)
            let kind = LayerKind.conv2D(window: window, filters: filters, groups: 1, hasBias: true)
            let layer = Layer(kind: kind, activation: activation, inputs: [0], weights: [0, 1])
            let m = Int8KernelTests.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint), layers: [layer],
                tensors: tensors, outputs: [output])
            var expected = Int8Reference.conv2D(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: window,
                groups: 1, filters: filters, outputScale: Double(outScale), outputZeroPoint: outZero, clamp: clamp
            ).values
            if activation == .sigmoid {
                let table = Int8Activation.table(.sigmoid, input: output.preActivation, output: output)
                expected = expected.map { table[Int($0) + 128] }
            }
            let (rows, columns) = window.geometry(height: shape.height, width: shape.width)!
            let outputShape = TensorShape(height: rows.output, width: columns.output, channels: filters)
            // (With the int16 variants: a VNNI CPU's own variant keeps `Conv2DInt8`.)
            let shapeOf = KernelShape(layer: layer, inputShapes: [shape], outputShape: outputShape)
            if Int8GEMM.$forced.withValue(.portable, operation: { Conv2DInt8Winograd.accepts(shapeOf) }) { taken += 1 }
            for (threads, variant) in Int8KernelTests.runsOn1To3Threads {
                let got = try Int8KernelTests.run(m, input, threads: threads, variant: variant)
                let wrong = zip(got, expected).filter { $0 != $1 }.count
                #expect(
                    wrong == 0 && got.count == expected.count,
                    """
                    trial \(trial): \(wrong) wrong of \(expected.count); input \(shape) batch \(batch) zero point \
                    \(input.zeroPoint), filters \(filters), \(window.padding), \(activation.name), threads \
                    \(threads) \(variant)
                    """)
            }
        }
        #expect(taken == trials, "\(taken) of \(trials) trials take the Winograd kernel")
    }

    /// The layers it leaves to `Conv2DInt8`: fewer than 16 input channels, outputs 1 pixel high
    /// or wide, strides, dilation, groups, other windows.
    @Test func acceptsOnlyTheLayersItIsFasterOn() {
        func accepts(_ window: Window, channels: Int, height: Int = 8, width: Int = 8, groups: Int = 1) -> Bool {
            let shape = TensorShape(height: height, width: width, channels: channels)
            let layer = Layer(
                kind: .conv2D(window: window, filters: 32, groups: groups, hasBias: true), activation: .linear,
                inputs: [0], weights: [0, 1])
            let (rows, columns) = window.geometry(height: height, width: width)!
            let output = TensorShape(height: rows.output, width: columns.output, channels: 32)
            return Int8GEMM.$forced.withValue(.portable) {
                Conv2DInt8Winograd.accepts(KernelShape(layer: layer, inputShapes: [shape], outputShape: output))
            }
        }
        let same = Window(kernelHeight: 3, kernelWidth: 3, padding: .same)
        let valid = Window(kernelHeight: 3, kernelWidth: 3, padding: .valid)
        #expect(accepts(same, channels: 16))
        #expect(accepts(valid, channels: 32, height: 4, width: 4))
        #expect(!accepts(same, channels: 15))
        #expect(!accepts(same, channels: Conv2DInt8Winograd.maxChannels + 1))
        #expect(!accepts(valid, channels: 32, height: 3, width: 9))
        #expect(!accepts(valid, channels: 32, height: 9, width: 3))
        #expect(!accepts(Window(kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2), channels: 32))
        #expect(!accepts(Window(kernelHeight: 3, kernelWidth: 3, dilationHeight: 2, padding: .same), channels: 32))
        #expect(!accepts(same, channels: 32, groups: 2))
        #expect(!accepts(Window(kernelHeight: 2, kernelWidth: 2), channels: 32))
    }

    /// The weight transform's bound: every `U'` within int16 (|U'| <= 1152) at the extremes.
    @Test func transformedWeightsStayWithinTheirBound() {
        for v in [Int32(-128), 127] {
            let t = Conv2DInt8Winograd.gPrime(v, v, v)
            for row in [t.0, t.1, t.2, t.3] {
                let u = Conv2DInt8Winograd.gPrime(row, row, row)
                #expect([u.0, u.1, u.2, u.3].allSatisfy { abs($0) <= 1152 })
            }
        }
    }
}
