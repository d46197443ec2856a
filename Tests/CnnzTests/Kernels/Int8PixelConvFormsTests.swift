import CInt8Kernels
import Testing

@testable import Cnnz

/// Each channel's own output form in the pixel-lane convolution (`cnnz_qu8_pxconv_16x4n__avx512vnni`,
/// `cnnz_requant16_float.columns`): where some channels of a panel have a float form and others
/// not, the store's mixed kinds run the float form on the first and the short integer form on the
/// others. First-layer convolutions (3x3 and 2x2 on 1 to 3 channels, stride 1 and 2, "same" and
/// "valid"; the pixel-lane, row and im2col paths) at scales where about half the channels have a
/// form, through the engine against the integer reference, every variant, 1 to 3 threads.
@Suite struct Int8PixelConvFormsTests {
    @Test func firstLayersWithMixedFormsMatchTheReference() throws {
        var rng = SplitMix64(seed: 3131)
        // Pixel-lane layers whose channels take both forms (the store's mixed kinds).
        var mixed = 0
        for trial in 0..<36 {
            // Every third trial a 3x3 pixel-lane layer of 12 filters on 3 channels (K 27, sums that
            // reach every level) at scales where some channels have no form: the mixed kinds.
            let mixedScales = trial % 3 == 0
            let channels = mixedScales ? 3 : [3, 3, 1, 2][trial % 4]
            let filters = mixedScales ? 12 : [12, 32, 16, 8, 4, 5][trial % 6]
            let size = mixedScales ? 3 : [2, 2, 3, 3][trial % 4]
            // (Those widths fill the pixel-lane blocks well enough for it to run.)
            let widths = mixedScales ? [14...18, 28...34][trial % 2] : size...37
            let shape = TensorShape(
                height: Int.random(in: size...20, using: &rng), width: Int.random(in: widths, using: &rng),
                channels: channels)
            let stride = trial % 3 == 2 ? 2 : 1
            let window = Window(
                kernelHeight: size, kernelWidth: size, strideHeight: stride, strideWidth: stride,
                padding: trial % 2 == 0 ? .same : .valid)
            // Multipliers 0.00003 to 0.005, or 0.0015 to 0.003 (where about half the channels have
            // a form: the pixel-lane store's mixed kinds).
            let inScale: Float = 0.02
            let outScale: Float = mixedScales ? 0.5 : Float.random(in: 0.2...1.5, using: &rng)
            let weightScales = (0..<filters).map { _ in
                mixedScales
                    ? Float.random(in: 0.0015...0.003, using: &rng) * outScale / inScale
                    : Float.random(in: 0.002...0.05, using: &rng)
            }
            let input = Int8KernelTests.activation(
                shape, batch: Int.random(in: 1...2, using: &rng), zeroPoint: Int8KernelTests.zeroPoint(&rng),
                scale: inScale, &rng)
            let k = size * size * channels
            let weights = (0..<(k * filters)).map { _ in Int8.random(in: -127...127, using: &rng) }
            let bias = (0..<filters).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let relu = trial % 3 != 1
            let clamp: ClosedRange<Int32> = relu ? outZero...127 : -128...127
            // Channels with a float form (the pixel-lane store's mixed kinds need some but not all).
            let col = cnnz_requant_float_column(zero_point: outZero, min: clamp.lowerBound, max: clamp.upperBound)
            let formed = (0..<filters).count { j in
                let (mult, shift) = Requantization.multiplier(
                    Double(inScale) * Double(weightScales[j]) / Double(outScale))
                var f = cnnz_requant_float()
                return cnnz_requant_float_find(mult, shift, [col], &f) == 1
            }
            let (_, columns) = window.geometry(height: shape.height, width: shape.width)!
            if Conv2DInt8.takesPixelConv(
                variant: .vnni512, pointwise: false, groups: 1, window: window, channels: channels, filters: filters,
                hasTable: false, padLeft: columns.padBefore, outWidth: columns.output, height: shape.height)
                && formed > 0 && formed < filters
            {
                mixed += 1
            }
            let output = ActivationQuantization(scale: outScale, zeroPoint: outZero)
            let tensors = Int8KernelTests.perChannelTensors(
                kernelShape: [size, size, channels, filters], weights: weights, weightScales: weightScales, bias: bias,
                inputScale: inScale)
            let kind = LayerKind.conv2D(window: window, filters: filters, groups: 1, hasBias: true)
            let m = Int8KernelTests.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [Layer(kind: kind, activation: relu ? .plainReLU : .linear, inputs: [0], weights: [0, 1])],
                tensors: tensors, outputs: [output])
            let expected = Int8Reference.conv2D(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: window,
                groups: 1, filters: filters, outputScale: Double(outScale), outputZeroPoint: outZero, clamp: clamp
            ).values
            for (threads, variant) in Int8KernelTests.runsOn1To3Threads {
                let got = try Int8KernelTests.run(m, input, threads: threads, variant: variant)
                let wrong = zip(got, expected).filter { $0 != $1 }.count
                #expect(
                    wrong == 0 && got.count == expected.count,
                    """
                    trial \(trial): \(wrong) wrong of \(expected.count); input \(shape) batch \(input.batch) \
                    zero point \(input.zeroPoint), \(kind), relu \(relu), output scale \(outScale) \
                    zero point \(outZero), weight scales \(weightScales), threads \(threads) \(variant)
                    """)
            }
        }
        #expect(mixed >= 2, "pixel-lane layers with channels of both forms: \(mixed)")
    }
}
