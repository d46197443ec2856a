import Testing

@testable import Cnnz

/// Int8 convolutions with few output pixels (cifar_vgg's 8x8 layers: one block of 64 at batch 1)
/// split into blocks of fewer rows between threads (`Conv2DInt8.blockRows(pixels:images:parts:)`):
/// on 1, 2, 3 and 4 threads, every variant this CPU has, the reference's bytes. The deep inputs
/// (16 to 48 channels) keep these layers off the first-layer row and pixel-lane convolutions, so
/// they run the im2col GEMM or, with VNNI, the indirect GEMM.
@Suite struct Int8SmallLayerSplitTests {
    @Test func smallLayersSplitBetweenThreadsGiveTheReferencesBytes() throws {
        var rng = SplitMix64(seed: 2112)
        for trial in 0..<12 {
            let side = [3, 4, 5, 7, 8, 9][trial % 6]
            let shape = TensorShape(
                height: side, width: side + trial % 3, channels: [16, 20, 32, 48][trial % 4])
            let filters = [16, 24, 40][trial % 3]
            let window = Window(
                kernelHeight: trial % 4 == 3 ? 1 : 3, kernelWidth: trial % 4 == 3 ? 1 : 3,
                padding: trial % 2 == 0 ? .same : .valid)
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let input = Int8KernelTests.activation(
                shape, batch: trial % 5 == 4 ? 2 : 1, zeroPoint: Int8KernelTests.zeroPoint(&rng), scale: inScale,
                &rng)
            let weights = (0..<(window.kernelHeight * window.kernelWidth * shape.channels * filters)).map { _ in
                Int8.random(in: -127...127, using: &rng)
            }
            let weightScales = (0..<filters).map { _ in Float.random(in: 0.001...0.02, using: &rng) }
            let bias = (0..<filters).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let outScale = Float.random(in: 0.05...0.5, using: &rng)
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let tensors = Int8KernelTests.perChannelTensors(
                kernelShape: [window.kernelHeight, window.kernelWidth, shape.channels, filters], weights: weights,
                weightScales: weightScales, bias: bias, inputScale: inScale)
            let kind = LayerKind.conv2D(window: window, filters: filters, groups: 1, hasBias: true)
            let model = Int8KernelTests.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [Layer(kind: kind, inputs: [0], weights: [0, 1])], tensors: tensors,
                outputs: [ActivationQuantization(scale: outScale, zeroPoint: outZero)])
            let expected = Int8Reference.conv2D(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: window,
                groups: 1, filters: filters, outputScale: Double(outScale), outputZeroPoint: outZero,
                clamp: -128...127
            ).values
            for variant in Int8GEMM.available {
                for threads in 1...4 {
                    let got = try Int8KernelTests.run(model, input, threads: threads, variant: variant)
                    let wrong = zip(got, expected).filter { $0 != $1 }.count
                    #expect(
                        wrong == 0 && got.count == expected.count,
                        "trial \(trial): \(shape) x\(input.batch), \(window.kernelHeight)x\(window.kernelWidth) \(window.padding), \(filters) filters, \(variant), \(threads) threads: \(wrong) of \(expected.count) bytes differ"
                    )
                }
            }
        }
    }

    /// The same for layers the row convolutions take (VNNI 512 bytes, AVX2 int16: few channels,
    /// not whole groups of 4), seed002 int8's conv9 (6x6x50, 2x2 valid, 100 filters: 25 pixels,
    /// one block of 64) among them: split in blocks of 8 rows on 2 to 4 threads, the reference's
    /// bytes and 1 thread's, and the layer has a block per thread.
    @Test func smallRowConvolutionsSplitBetweenThreadsGiveTheReferencesBytes() throws {
        var rng = SplitMix64(seed: 2525)
        let cases = [(6, 50, 2, 100), (5, 10, 3, 24), (4, 3, 3, 16), (7, 6, 2, 40), (9, 5, 3, 12)]
        for trial in 0..<10 {
            let (side, channels, kernel, filters) = cases[trial % cases.count]
            let shape = TensorShape(height: side, width: side + trial % 2, channels: channels)
            let window = Window(
                kernelHeight: kernel, kernelWidth: kernel, padding: trial % 2 == 0 ? .valid : .same)
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let batch = trial >= 5 ? 2 : 1
            let input = Int8KernelTests.activation(
                shape, batch: batch, zeroPoint: Int8KernelTests.zeroPoint(&rng), scale: inScale, &rng)
            let weights = (0..<(kernel * kernel * channels * filters)).map { _ in
                Int8.random(in: -127...127, using: &rng)
            }
            let weightScales = (0..<filters).map { _ in Float.random(in: 0.001...0.02, using: &rng) }
            let bias = (0..<filters).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let outScale = Float.random(in: 0.05...0.5, using: &rng)
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let tensors = Int8KernelTests.perChannelTensors(
                kernelShape: [kernel, kernel, channels, filters], weights: weights, weightScales: weightScales,
                bias: bias, inputScale: inScale)
            let kind = LayerKind.conv2D(window: window, filters: filters, groups: 1, hasBias: true)
            let model = Int8KernelTests.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [Layer(kind: kind, inputs: [0], weights: [0, 1])], tensors: tensors,
                outputs: [ActivationQuantization(scale: outScale, zeroPoint: outZero)])
            let expected = Int8Reference.conv2D(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: window,
                groups: 1, filters: filters, outputScale: Double(outScale), outputZeroPoint: outZero,
                clamp: -128...127
            ).values
            for variant in Int8GEMM.available {
                let convolution = try #require(
                    try Int8GEMM.$forced.withValue(variant) { try Model(model) }.plan.kernels.lazy.compactMap {
                        $0 as? Conv2DInt8
                    }.first)
                // The row convolutions' variants take every case (few channels, not whole groups of 4;
                // `avx2Maddubs` runs `avx2` on these 8-bit weights).
                #expect(
                    convolution.isRowConv == (convolution.variant == .vnni512 || convolution.variant == .avx2),
                    "trial \(trial) \(variant): row convolution \(convolution.isRowConv)")
                let pixels = (expected.count / filters)
                #expect(convolution.workload(batch: batch).items == (pixels / batch + 7) / 8 * batch)
                var one: [Int8] = []
                for threads in 1...4 {
                    let got = try Int8KernelTests.run(model, input, threads: threads, variant: variant)
                    if threads == 1 { one = got }
                    let wrong = zip(got, expected).filter { $0 != $1 }.count
                    #expect(
                        wrong == 0 && got.count == expected.count && got == one,
                        "trial \(trial): \(shape) x\(batch), \(kernel)x\(kernel) \(window.padding), \(filters) filters, \(variant) (row convolution \(convolution.isRowConv)), \(threads) threads: \(wrong) of \(expected.count) bytes differ"
                    )
                }
            }
        }
    }
}
