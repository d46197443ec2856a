import Testing

@testable import Cnnz

/// Int8 max pooling that keeps its input's parameters (`cnnz_qs8_maxpool_row`: the AVX-512
/// row's interior columns from per-row tap offsets, 128-bit vectors up to 16 channels, 2x2 and
/// 3x3 windows unrolled; the border columns and other windows tap by tap) against the integer
/// reference, bit for bit, through the engine: channel counts around 16 and 64 (1 to 5, 12,
/// 16, 17, 25, 33, 64, 65, 100), windows 1x1 to 3x3 and a few of more than 16 taps, strides 1
/// to 3, "same" (border columns and rows on every side) and "valid", widths up to 40 that miss
/// the vector widths, batches of up to 3, on 1, 2 and 3 threads, with every variant this CPU has.
@Suite struct Int8MaxPoolTests {
    @Test func maxPoolingMatchesTheReference() throws {
        var rng = SplitMix64(seed: 2718)
        for trial in 0..<36 {
            let channels = [1, 2, 3, 4, 5, 12, 16, 17, 25, 33, 64, 65, 100][trial % 13]
            let shape = TensorShape(
                height: Int.random(in: 1...9, using: &rng), width: Int.random(in: 1...40, using: &rng),
                channels: channels)
            let wide = trial % 9 == 8
            let window = Window(
                kernelHeight: min(shape.height, wide ? 4 : Int.random(in: 1...3, using: &rng)),
                kernelWidth: min(shape.width, wide ? 5 : Int.random(in: 1...3, using: &rng)),
                strideHeight: Int.random(in: 1...3, using: &rng), strideWidth: Int.random(in: 1...3, using: &rng),
                padding: trial % 2 == 0 ? .same : .valid)
            let scale = Float.random(in: 0.01...0.05, using: &rng)
            let input = Int8KernelTests.activation(
                shape, batch: Int.random(in: 1...3, using: &rng), zeroPoint: Int8KernelTests.zeroPoint(&rng),
                scale: scale, &rng)
            let parameters = ActivationQuantization(scale: scale, zeroPoint: input.zeroPoint)
            let kind = LayerKind.maxPool2D(window: window)
            let m = Int8KernelTests.model(
                input: shape, parameters, layers: [Layer(kind: kind, inputs: [0])], outputs: [parameters])
            let expected = Int8Reference.pool(
                input, window: window, max: true, outputScale: Double(scale), outputZeroPoint: input.zeroPoint
            ).values
            for (threads, variant) in Int8KernelTests.runsOn1To3Threads {
                let got = try Int8KernelTests.run(m, input, threads: threads, variant: variant)
                let wrong = zip(got, expected).filter { $0 != $1 }.count
                #expect(
                    wrong == 0 && got.count == expected.count,
                    """
                    trial \(trial): \(wrong) wrong of \(expected.count); input \(shape) batch \(input.batch), \
                    \(window), threads \(threads) \(variant)
                    """)
            }
        }
    }
}
