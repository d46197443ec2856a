import CInt8Kernels
import Foundation
import Testing

@testable import Cnnz

/// Int8KernelTests' depthwise cases: depth multipliers, and multiplier 1 on the shapes of the
/// row kernels, through the whole engine against the reference.
extension Int8KernelTests {
    @Test func depthwiseMatchesTheReference() throws {
        var rng = SplitMix64(seed: 2718)
        for trial in 0..<24 {
            // Every fourth trial: multiplier 1 with channels around the C kernel's blocks of 16 and 8.
            let wide = trial % 4 == 3
            let drawn = Int.random(in: 1...3, using: &rng)
            let multiplier = wide ? 1 : drawn
            let shape = TensorShape(
                height: Int.random(in: 1...8, using: &rng), width: Int.random(in: 1...8, using: &rng),
                channels: wide ? Int.random(in: 10...41, using: &rng) : Int.random(in: 1...9, using: &rng))
            var window = Window(
                kernelHeight: min(shape.height, Int.random(in: 1...3, using: &rng)),
                kernelWidth: min(shape.width, Int.random(in: 1...3, using: &rng)),
                strideHeight: Int.random(in: 1...2, using: &rng), strideWidth: Int.random(in: 1...2, using: &rng),
                padding: Bool.random(using: &rng) ? .same : .valid)
            if trial % 5 == 2 {
                (window.strideHeight, window.strideWidth) = (1, 1)
                (window.dilationHeight, window.dilationWidth, window.padding) = (2, 2, .same)
            }
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let input = Self.activation(
                shape, batch: Int.random(in: 1...3, using: &rng), zeroPoint: Self.zeroPoint(&rng), scale: inScale,
                &rng)
            let outChannels = shape.channels * multiplier
            let weights = (0..<(window.kernelHeight * window.kernelWidth * outChannels)).map { _ in
                Int8.random(in: -127...127, using: &rng)
            }
            let perTensor = trial % 3 == 0
            let weightScales = (0..<(perTensor ? 1 : shape.channels)).map { _ in
                Float.random(in: 0.002...0.03, using: &rng)
            }
            let bias = (0..<outChannels).map { _ in Int32.random(in: -3000...3000, using: &rng) }
            let outScale = Float.random(in: 0.003...0.1, using: &rng)
            let outZero = Self.zeroPoint(&rng)
            let relu6 = trial % 2 == 1
            let clamp = relu6 ? Self.reluClamp(maxValue: 6, scale: outScale, zeroPoint: outZero) : -128...127
            let weightQ =
                perTensor
                ? Quantization(scale: weightScales[0], zeroPoint: 0)
                : Quantization(scales: weightScales, zeroPoints: .init(repeating: 0, count: shape.channels), axis: 2)
            let biasScales = (0..<outChannels).map {
                Float(Double(inScale) * Double(weightScales[perTensor ? 0 : $0 / multiplier]))
            }
            let tensors = [
                Tensor(
                    shape: [window.kernelHeight, window.kernelWidth, shape.channels, multiplier], int8: weights,
                    quantization: weightQ),
                Tensor(
                    shape: [outChannels], int32: bias,
                    quantization: Quantization(
                        scales: biasScales, zeroPoints: .init(repeating: 0, count: outChannels), axis: 0)),
            ]
            let m = Self.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [
                    Layer(
                        kind: .depthwiseConv2D(window: window, multiplier: multiplier, hasBias: true),
                        activation: relu6 ? .relu(maxValue: 6, negativeSlope: 0, threshold: 0) : .linear, inputs: [0],
                        weights: [0, 1])
                ], tensors: tensors, outputs: [ActivationQuantization(scale: outScale, zeroPoint: outZero)])
            let expected = Int8Reference.depthwise(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: window,
                multiplier: multiplier, outputScale: Double(outScale), outputZeroPoint: outZero, clamp: clamp
            ).values
            for (threads, variant) in Self.runs {
                #expect(
                    try Self.run(m, input, threads: threads, variant: variant) == expected,
                    "trial \(trial) threads \(threads) \(variant)")
            }
        }
    }

    /// Depth multiplier 1 through the whole engine on the shapes of the AVX512-VNNI row kernel
    /// (`cnnz_qu8_dwconv_row_16c4__avx512vnni`, which runs two rows at a time where a part of the
    /// work has them): channel counts around and between its blocks of 16, widths 1 to 13, 3x3
    /// windows (its sliding path) at strides 1 and 2 and others up to 7 rows (two groups of 4),
    /// "same" and "valid" padding, batches up to 4, ReLU6, linear and sigmoid (a table); every
    /// variant on 1, 2 and 3 threads (parts that split a pair of rows).
    @Test func depthwiseChannelsInnerMatchTheReference() throws {
        var rng = SplitMix64(seed: 1729)
        let counts = [1, 5, 16, 17, 32, 33, 64, 65, 128]
        for trial in 0..<18 {
            let square = trial % 3 != 2
            let shape = TensorShape(
                height: Int.random(in: 1...9, using: &rng), width: Int.random(in: 1...13, using: &rng),
                channels: counts[trial % counts.count])
            let window = Window(
                kernelHeight: min(shape.height, square ? 3 : [1, 2, 5, 7].randomElement(using: &rng)!),
                kernelWidth: min(shape.width, square ? 3 : Int.random(in: 1...4, using: &rng)),
                strideHeight: Int.random(in: 1...2, using: &rng), strideWidth: trial % 2 + 1,
                padding: trial % 4 < 2 ? .same : .valid)
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let input = Self.activation(
                shape, batch: Int.random(in: 1...4, using: &rng), zeroPoint: Self.zeroPoint(&rng), scale: inScale,
                &rng)
            let channels = shape.channels
            let weights = (0..<(window.kernelHeight * window.kernelWidth * channels)).map { _ in
                Int8.random(in: -127...127, using: &rng)
            }
            let weightScales = (0..<channels).map { _ in Float.random(in: 0.002...0.03, using: &rng) }
            let bias = (0..<channels).map { _ in Int32.random(in: -3000...3000, using: &rng) }
            let outScale = Float.random(in: 0.003...0.1, using: &rng)
            let outZero = Self.zeroPoint(&rng)
            let activation: Cnnz.Activation = [
                .relu(maxValue: 6, negativeSlope: 0, threshold: 0), .linear, .sigmoid,
            ][trial % 3]
            var output = ActivationQuantization(scale: outScale, zeroPoint: outZero)
            var clamp: ClosedRange<Int32> = -128...127
            if activation == .sigmoid {
                output = ActivationQuantization(
                    scale: 1 / 256, zeroPoint: -128, preActivationScale: outScale, preActivationZeroPoint: outZero)
            } else if activation != .linear {
                clamp = Self.reluClamp(maxValue: 6, scale: outScale, zeroPoint: outZero)
            }
            let tensors = [
                Tensor(
                    shape: [window.kernelHeight, window.kernelWidth, channels, 1], int8: weights,
                    quantization: Quantization(
                        scales: weightScales, zeroPoints: .init(repeating: 0, count: channels), axis: 2)),
                Tensor(
                    shape: [channels], int32: bias,
                    quantization: Quantization(
                        scales: weightScales.map { Float(Double(inScale) * Double($0)) },
                        zeroPoints: .init(repeating: 0, count: channels), axis: 0)),
            ]
            let m = Self.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [
                    Layer(
                        kind: .depthwiseConv2D(window: window, multiplier: 1, hasBias: true), activation: activation,
                        inputs: [0], weights: [0, 1])
                ], tensors: tensors, outputs: [output])
            var expected = Int8Reference.depthwise(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: window,
                multiplier: 1, outputScale: Double(outScale), outputZeroPoint: outZero, clamp: clamp
            ).values
            if activation == .sigmoid {
                let table = Int8Activation.table(.sigmoid, input: output.preActivation, output: output)
                expected = expected.map { table[Int($0) + 128] }
            }
            for threads in [1, 2, 3] {
                for variant in Int8GEMM.available {
                    #expect(
                        try Self.run(m, input, threads: threads, variant: variant) == expected,
                        "trial \(trial) \(shape) batch \(input.batch) \(window) \(activation) threads \(threads) \(variant)"
                    )
                }
            }
        }
    }
}
