import Testing

@testable import Cnnz

/// The indirect VNNI convolution (`cnnz_qu8_igemm_8x32c4__avx512vnni`: channels per group a
/// multiple of 4 and K above 64, so Int8KernelTests' few-channel shapes never reach it)
/// against the integer reference, bit for bit, through the engine: images large enough for
/// several 64-pixel blocks that start mid-row, strides 1 to 3, dilation 2, "same" padding
/// (taps outside the image on every side), 1 x 1 windows with a stride, two groups, filter
/// counts that miss the 16-column panels, batches of up to 3, 1 and 3 threads, every
/// variant this CPU has (the others take the im2col path and must agree).
@Suite struct Int8IndirectConvTests {
    @Test func indirectConvolutionMatchesTheReference() throws {
        var rng = SplitMix64(seed: 4242)
        for trial in 0..<24 {
            let groups = trial % 5 == 4 ? 2 : 1
            let inPerGroup = [8, 12, 20, 36, 68][Int.random(in: 0...4, using: &rng)]
            let channels = groups * inPerGroup
            let filters = groups * Int.random(in: 1...(trial % 2 == 0 ? 40 : 9), using: &rng)
            let shape = TensorShape(
                height: Int.random(in: 3...13, using: &rng), width: Int.random(in: 3...13, using: &rng),
                channels: channels)
            var kernelHeight = min(shape.height, [1, 2, 3, 3][Int.random(in: 0...3, using: &rng)])
            var kernelWidth = min(shape.width, [1, 2, 3, 3][Int.random(in: 0...3, using: &rng)])
            // K above 64 (below it the row convolution takes these channel counts).
            while kernelHeight * kernelWidth * inPerGroup <= 64 && (kernelHeight < 3 || kernelWidth < 3) {
                if kernelHeight < min(3, shape.height) { kernelHeight += 1 } else { kernelWidth += 1 }
            }
            var window = Window(
                kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideHeight: Int.random(in: 1...3, using: &rng),
                strideWidth: Int.random(in: 1...3, using: &rng), padding: Bool.random(using: &rng) ? .same : .valid)
            if kernelHeight * kernelWidth == 1 && window.strideHeight == 1 && window.strideWidth == 1 {
                window.strideWidth = 2  // not the pointwise path
            }
            if trial % 4 == 1 && shape.height >= 5 && shape.width >= 5 {
                window.strideHeight = 1
                window.strideWidth = 1
                window.dilationHeight = 2
                window.dilationWidth = 2
                window.padding = .same
            }
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let input = Int8KernelTests.activation(
                shape, batch: Int.random(in: 1...3, using: &rng), zeroPoint: Int8KernelTests.zeroPoint(&rng),
                scale: inScale, &rng)
            let weights = (0..<(kernelHeight * kernelWidth * inPerGroup * filters)).map { _ in
                Int8.random(in: -127...127, using: &rng)
            }
            let weightScales = (0..<filters).map { _ in Float.random(in: 0.0005...0.01, using: &rng) }
            let bias = (0..<filters).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let outScale = Float.random(in: 0.01...0.5, using: &rng)
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let relu = trial % 3 == 0
            let clamp: ClosedRange<Int32> = relu ? outZero...127 : -128...127
            let tensors = Int8KernelTests.perChannelTensors(
                kernelShape: [kernelHeight, kernelWidth, inPerGroup, filters], weights: weights,
                weightScales: weightScales,
                bias: bias, inputScale: inScale)
            let kind = LayerKind.conv2D(window: window, filters: filters, groups: groups, hasBias: true)
            let m = Int8KernelTests.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [Layer(kind: kind, activation: relu ? .plainReLU : .linear, inputs: [0], weights: [0, 1])],
                tensors: tensors, outputs: [ActivationQuantization(scale: outScale, zeroPoint: outZero)])
            let expected = Int8Reference.conv2D(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: window,
                groups: groups, filters: filters, outputScale: Double(outScale), outputZeroPoint: outZero, clamp: clamp
            ).values
            for (threads, variant) in Int8KernelTests.runs {
                let got = try Int8KernelTests.run(m, input, threads: threads, variant: variant)
                let wrong = zip(got, expected).filter { $0 != $1 }.count
                #expect(
                    wrong == 0 && got.count == expected.count,
                    """
                    trial \(trial): \(wrong) wrong of \(expected.count); input \(shape) batch \(input.batch) \
                    zero point \(input.zeroPoint), \(kind), relu \(relu), output zero point \(outZero), \
                    threads \(threads) \(variant)
                    """)
            }
        }
    }
}
