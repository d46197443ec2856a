import Testing

@testable import Cnnz

/// The VNNI row convolution (`cnnz_qu8_rowconv_8x32c4__avx512vnni`: the first layers' few
/// channels, taps that are whole kernel rows) against the integer reference, bit for bit,
/// through the engine: 1 to 5 input channels and a few wider counts that miss a multiple of 4
/// (or keep k at most 64), 32 and 37 (kernel rows of up to 111 values: 8-bit weights take the
/// int16 row convolution at any width, 7-bit ones keep the maddubs GEMM there), filter counts 1 to 40 with 12, 16 and 25 among them (a part of a
/// 16-column panel, one whole, and one past two), 1 to 3 kernel rows and columns, strides 1
/// and 2, "same" (padding columns on both sides and padding lines) and "valid", widths that
/// miss the vector widths and images of several 64-pixel blocks starting mid-row, dilation 2
/// down the kernel, linear, ReLU and sigmoid (a table) activations, batches of up to 3, on 1,
/// 2 and 3 threads, with every variant this CPU has (the others take the im2col and must
/// agree). The trials that reach the row
/// convolution on a VNNI 512 CPU are counted, so the shapes cannot drift away from it; so are
/// those that reach the AVX2 int16 row convolution (`cnnz_qs8_rowconv_4x16c2__avx2`, kernel
/// rows padded to pairs), which runs whenever the CPU has AVX2 (`avx2` among the variants, and
/// `avx2Maddubs` with the trials' 7-bit weights), and among them those of the shapes it has
/// tiles compiled for (3x3 on 1 and 3 channels, 2x2 on 3: runs along output rows, mid-row
/// starts, tails of 1 to 3 pixels, partial panel groups).
@Suite struct Int8RowConvTests {
    @Test func rowConvolutionMatchesTheReference() throws {
        var rng = SplitMix64(seed: 1515)
        var taken = 0
        var takenAVX2 = 0
        var takenFixed = 0
        let trials = 40
        for trial in 0..<trials {
            let channels = [1, 2, 3, 4, 5, 1, 3, 12, 25, 3, 32, 37][trial % 12]
            let filters = [12, 16, 25, 32, Int.random(in: 1...40, using: &rng)][trial % 5]
            let shape = TensorShape(
                height: Int.random(in: 2...14, using: &rng),
                width: Int.random(in: 2...(trial % 3 == 0 ? 70 : 19), using: &rng),
                channels: channels)
            var kernelHeight = min(shape.height, Int.random(in: 1...3, using: &rng))
            var kernelWidth = min(shape.width, [2, 3, 3, 1][Int.random(in: 0...3, using: &rng)])
            // The shapes the AVX2 row convolution has strips compiled for (kernel rows x pairs:
            // 3 x 2, 3 x 5, 2 x 3) in some trials of each.
            if trial % 12 == 5 || trial % 12 == 6 || trial % 12 == 9 {
                let side = trial % 12 == 9 ? 2 : 3
                (kernelHeight, kernelWidth) = (min(shape.height, side), min(shape.width, side))
            }
            var window = Window(
                kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideHeight: Int.random(in: 1...2, using: &rng),
                strideWidth: Int.random(in: 1...2, using: &rng), padding: trial % 2 == 0 ? .same : .valid)
            if kernelHeight * kernelWidth == 1 && window.strideHeight == 1 && window.strideWidth == 1 {
                window.strideWidth = 2  // not the pointwise path
            }
            if trial % 7 == 3 && shape.height >= 5 {
                window.strideHeight = 1
                window.dilationHeight = 2
                window.padding = .same
            }
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let input = Int8KernelTests.activation(
                shape, batch: Int.random(in: 1...3, using: &rng), zeroPoint: Int8KernelTests.zeroPoint(&rng),
                scale: inScale, &rng)
            let k = kernelHeight * kernelWidth * channels
            // 7-bit weights in some trials: the maddubs variant then hands kernel rows of up to 64
            // values to the AVX2 row convolution too.
            let weightRange: ClosedRange<Int8> = trial % 4 == 1 ? -64...63 : -127...127
            let weights = (0..<(k * filters)).map { _ in Int8.random(in: weightRange, using: &rng) }
            let weightScales = (0..<filters).map { _ in Float.random(in: 0.001...0.03, using: &rng) }
            let bias = (0..<filters).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let outScale = Float.random(in: 0.005...0.3, using: &rng)
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let relu = trial % 3 == 0
            let clamp: ClosedRange<Int32> = relu ? outZero...127 : -128...127
            // A table activation (the tiles' stores byte by byte through it) in some trials.
            let sigmoid = !relu && trial % 4 == 1
            let output =
                sigmoid
                ? ActivationQuantization(
                    scale: 1 / 256, zeroPoint: -128, preActivationScale: outScale, preActivationZeroPoint: outZero)
                : ActivationQuantization(scale: outScale, zeroPoint: outZero)
            let tensors = Int8KernelTests.perChannelTensors(
                kernelShape: [kernelHeight, kernelWidth, channels, filters], weights: weights,
                weightScales: weightScales,
                bias: bias, inputScale: inScale)
            let kind = LayerKind.conv2D(window: window, filters: filters, groups: 1, hasBias: true)
            let m = Int8KernelTests.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [
                    Layer(
                        kind: kind, activation: relu ? .plainReLU : sigmoid ? .sigmoid : .linear, inputs: [0],
                        weights: [0, 1])
                ],
                tensors: tensors, outputs: [output])
            var expected = Int8Reference.conv2D(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: window,
                groups: 1, filters: filters, outputScale: Double(outScale), outputZeroPoint: outZero, clamp: clamp
            ).values
            if sigmoid {
                let table = Int8Activation.table(.sigmoid, input: output.preActivation, output: output)
                expected = expected.map { table[Int($0) + 128] }
            }
            let (_, columns) = window.geometry(height: shape.height, width: shape.width)!
            let rowK = kernelHeight * ((kernelWidth * channels + 3) / 4 * 4)
            if Conv2DInt8.takesRowConv(
                variant: .vnni512, pointwise: false, groups: 1, window: window, channels: channels, k: k, rowK: rowK,
                lineBytes: (columns.padBefore + shape.width + kernelWidth) * channels, height: shape.height)
            {
                taken += 1
            }
            if Conv2DInt8.takesRowConv(
                variant: .avx2, pointwise: false, groups: 1, window: window, channels: channels, k: k,
                rowK: kernelHeight * ((kernelWidth * channels + 1) / 2 * 2),
                lineBytes: (columns.padBefore + shape.width + kernelWidth) * channels, height: shape.height)
            {
                takenAVX2 += 1
                let pairs = (kernelWidth * channels + 1) / 2
                if [[3, 2], [3, 5], [2, 3]].contains([kernelHeight, pairs]) { takenFixed += 1 }
            }
            for (threads, variant) in Int8KernelTests.runsOn1To3Threads {
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
        #expect(taken >= trials * 2 / 3, "\(taken) of \(trials) trials take the row convolution")
        #expect(takenAVX2 >= trials * 2 / 3, "\(takenAVX2) of \(trials) trials take the AVX2 row convolution")
        #expect(takenFixed >= 6, "\(takenFixed) of \(trials) trials take its compiled shapes")
    }
}
