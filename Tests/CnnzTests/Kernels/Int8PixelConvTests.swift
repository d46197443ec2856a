import CInt8Kernels
import Testing

@testable import Cnnz

/// The pixel-lane VNNI convolution (`cnnz_qu8_pxconv_16x4n__avx512vnni`: 4, 8 or 12 filters at
/// horizontal stride 1, 16 output pixels per vector) against the integer reference, bit for bit,
/// through the engine: 1 to 4, 8, 12 and 16 input channels (the copy's vector forms) and 5 and
/// 20 (which it leaves to the others), 1 to 3 kernel rows and columns (not 1x1: pointwise),
/// vertical stride 1 and 2 and dilation 2 down the kernel, "same" (padding columns and lines)
/// and "valid", widths from 1 to 70 (blocks of 16 with tails of 1 to 15 pixels, runs that start
/// mid-row in a part; rows too narrow to fill the blocks take the others), every output form: the integer short form with and without its step
/// below zero (ReLU or not), the general one (multipliers of 0.5 and above: no right shift or a
/// left one), the float form (multipliers 0.003 to 0.05, split where not ReLU); a sigmoid (a
/// table: the other kernels); batches of up to 3, 1 to 3 threads, every variant this CPU has (the
/// others take the row convolution or im2col and must agree). The trials it takes are counted.
@Suite struct Int8PixelConvTests {
    @Test func pixelConvolutionMatchesTheReference() throws {
        var rng = SplitMix64(seed: 2412)
        var taken = 0
        var floatColumns = 0
        let trials = 48
        for trial in 0..<trials {
            let channels = [3, 12, 1, 2, 4, 8, 16, 3, 12, 5, 20, 3][trial % 12]
            let filters = [12, 8, 4][trial % 3]
            let shape = TensorShape(
                height: Int.random(in: 2...12, using: &rng),
                width: [1...70, 12...16, 24...40, 4...33][trial % 4].randomElement(using: &rng)!,
                channels: channels)
            let kernelHeight = min(shape.height, Int.random(in: 1...3, using: &rng))
            var kernelWidth = min(shape.width, Int.random(in: 1...3, using: &rng))
            if kernelHeight == 1 && kernelWidth == 1 { kernelWidth = min(shape.width, 2) }
            var window = Window(
                kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideHeight: Int.random(in: 1...2, using: &rng),
                strideWidth: 1, padding: trial % 2 == 0 ? .same : .valid)
            if window.kernelHeight * window.kernelWidth == 1 { window.strideHeight = 2 }  // not pointwise
            if trial % 7 == 3 && shape.height >= 5 {
                window.strideHeight = 1
                window.dilationHeight = 2
                window.padding = .same
            }
            // The output forms: 0 the short integer form, 1 the float form, 2 the general form.
            let form = trial / 3 % 3
            let inScale: Float = form == 1 ? 0.02 : Float.random(in: 0.005...0.05, using: &rng)
            // The general form: multipliers 0.3 to 3 (no right shift for those of 0.5 and above), on
            // small weights and inputs near their zero point, so that most bytes are not clamped.
            let outScale: Float =
                form == 1 ? 0.1 : form == 2 ? inScale * 0.01 : Float.random(in: 0.005...0.3, using: &rng)
            let weightScales = (0..<filters).map { _ in
                form == 1
                    ? Float.random(in: 0.015...0.25, using: &rng)
                    : form == 2
                        ? Float.random(in: 0.003...0.03, using: &rng) : Float.random(in: 0.001...0.03, using: &rng)
            }
            var input = Int8KernelTests.activation(
                shape, batch: Int.random(in: 1...3, using: &rng), zeroPoint: Int8KernelTests.zeroPoint(&rng),
                scale: inScale, &rng)
            if form == 2 {
                let zero = Int(input.zeroPoint)
                input = Int8KernelTests.Activation8(
                    shape: shape, batch: input.batch,
                    values: input.values.map { _ in Int8(clamping: zero + Int.random(in: -6...6, using: &rng)) },
                    scale: input.scale, zeroPoint: input.zeroPoint)
            }
            let k = kernelHeight * kernelWidth * channels
            let weightRange: ClosedRange<Int8> = form == 2 ? -3...3 : -127...127
            let weights = (0..<(k * filters)).map { _ in Int8.random(in: weightRange, using: &rng) }
            let biasRange: ClosedRange<Int32> = form == 2 ? -60...60 : -20000...20000
            let bias = (0..<filters).map { _ in Int32.random(in: biasRange, using: &rng) }
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let relu = trial % 4 == 0 || trial % 4 == 3
            let sigmoid = !relu && trial % 8 == 5
            let clamp: ClosedRange<Int32> = relu ? outZero...127 : -128...127
            if form == 1 {
                floatColumns +=
                    weightScales.filter {
                        let (mult, shift) = Requantization.multiplier(Double(inScale) * Double($0) / Double(outScale))
                        var f = cnnz_requant_float()
                        let col = cnnz_requant_float_column(zero_point: 0, min: -128, max: 127)
                        return cnnz_requant_float_find(mult, shift, [col], &f) == 1
                    }.count
            }
            let output =
                sigmoid
                ? ActivationQuantization(
                    scale: 1 / 256, zeroPoint: -128, preActivationScale: outScale, preActivationZeroPoint: outZero)
                : ActivationQuantization(scale: outScale, zeroPoint: outZero)
            let tensors = Int8KernelTests.perChannelTensors(
                kernelShape: [kernelHeight, kernelWidth, channels, filters], weights: weights,
                weightScales: weightScales, bias: bias, inputScale: inScale)
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
            if Conv2DInt8.takesPixelConv(
                variant: .vnni512, pointwise: false, groups: 1, window: window, channels: channels, filters: filters,
                hasTable: sigmoid, padLeft: columns.padBefore, outWidth: columns.output, height: shape.height)
            {
                taken += 1
            }
            for (threads, variant) in Int8KernelTests.runsOn1To3Threads {
                let got = try Int8KernelTests.run(m, input, threads: threads, variant: variant)
                let wrong = zip(got, expected).filter { $0 != $1 }.count
                #expect(
                    wrong == 0 && got.count == expected.count,
                    """
                    trial \(trial): \(wrong) wrong of \(expected.count); input \(shape) batch \(input.batch) \
                    zero point \(input.zeroPoint), \(kind), form \(form), relu \(relu), sigmoid \(sigmoid), \
                    output scale \(outScale) zero point \(outZero), threads \(threads) \(variant)
                    """)
            }
        }
        #expect(taken >= trials / 2, "\(taken) of \(trials) trials take the pixel-lane convolution")
        #expect(floatColumns >= 60, "columns with a float form: \(floatColumns)")
    }
}
