import CInt8Kernels
import Foundation
import Testing

@testable import Cnnz

/// Every int8 kernel against its integer reference twin (Int8Reference), bit
/// for bit, through the whole engine: a one-layer int8 model whose float input
/// is exactly representable (`scale * (q - zeroPoint)`, so the input quantize
/// recovers `q`) and whose dequantized output is turned back into `q`. Shapes
/// are randomized (odd sizes, strides, dilation, groups, depthwise multipliers,
/// "same" padding's asymmetric split, batch > 1); each case runs on 1 and on 3
/// threads; zero points include both extremes and output scales are small
/// enough to saturate at both ends.
@Suite struct Int8KernelTests {
    typealias Activation8 = Int8Reference.Activation

    /// A random int8 activation with a scale that is a float32.
    static func activation(_ shape: TensorShape, batch: Int, zeroPoint: Int32, scale: Float, _ rng: inout SplitMix64)
        -> Activation8
    {
        Activation8(
            shape: shape, batch: batch,
            values: (0..<(batch * shape.elementCount)).map { _ in Int8.random(in: .min ... .max, using: &rng) },
            scale: Double(scale), zeroPoint: zeroPoint)
    }

    static func zeroPoint(_ rng: inout SplitMix64) -> Int32 {
        [-128, 127, 0, Int32.random(in: -128...127, using: &rng)].randomElement(using: &rng)!
    }

    /// Every (threads, microkernel variant) a case runs with: every variant this CPU
    /// has (portable, AVX2, VNNI 256 and 512 bits), forced in turn.
    static let runs = [1, 3].flatMap { threads in Int8GEMM.available.map { (threads, $0) } }

    /// Runs `model` (one int8 input value, value 0) on `input` and returns the
    /// last value's int8 elements, recovered from the dequantized output; the
    /// kernels are prepared with `variant` (nil: the fastest).
    static func run(
        _ model: ModelDescription, _ input: Activation8, threads: Int, variant: Int8GEMM.Variant? = nil
    ) throws -> [Int8] {
        let loaded = try Int8GEMM.$forced.withValue(variant) { try Model(model) }
        // Split by layers: with a batch of at least `threads` images, a session would split by images.
        let session = try loaded.makeSession(
            batchCapacity: input.batch, threads: threads, minimumWorkPerPart: 1, splitBatches: false)
        let x = input.values.map { Float(Int32($0) - input.zeroPoint) * Float(input.scale) }
        let y = try session.run(x, batch: input.batch)
        let out = model.activationQuantization.last!!
        return y.map { Int8(clamping: Int32(($0 / out.scale).rounded()) + out.zeroPoint) }
    }

    /// A layer's int8 weights (per-channel scales on the last axis, zero points 0) and int32
    /// bias (scales `inputScale * weightScale`), as the converter quantizes them.
    static func perChannelTensors(
        kernelShape: [Int], weights: [Int8], weightScales: [Float], bias: [Int32], inputScale: Float
    ) -> [Tensor] {
        let filters = weightScales.count
        let biasScales = weightScales.map { Float(Double(inputScale) * Double($0)) }
        return [
            Tensor(
                shape: kernelShape, int8: weights,
                quantization: Quantization(
                    scales: weightScales, zeroPoints: .init(repeating: 0, count: filters),
                    axis: kernelShape.count - 1)),
            Tensor(
                shape: [filters], int32: bias,
                quantization: Quantization(
                    scales: biasScales, zeroPoints: .init(repeating: 0, count: filters), axis: 0)),
        ]
    }

    static func model(
        input: TensorShape, _ inputQ: ActivationQuantization, layers: [Layer], tensors: [Tensor] = [],
        outputs: [ActivationQuantization]
    ) -> ModelDescription {
        ModelDescription(
            name: "", labels: [], preprocessing: .identity, graph: Graph(inputShape: input, layers: layers),
            tensors: tensors, selfTest: nil, activationQuantization: [inputQ] + outputs)
    }

    /// The clamp the engine fuses for ReLU (maxValue nil) or ReLU6.
    static func reluClamp(maxValue: Double?, scale: Float, zeroPoint: Int32) -> ClosedRange<Int32> {
        guard let maxValue else { return zeroPoint...127 }
        let top = (maxValue / Double(scale)).rounded() + Double(zeroPoint)
        return zeroPoint...Int32(min(max(top, Double(zeroPoint)), 127))
    }

    @Test func convolutionAndDenseMatchTheReference() throws {
        var rng = SplitMix64(seed: 1414)
        for trial in 0..<48 {
            let dense = trial % 6 == 5
            let groups = dense ? 1 : [1, 1, 2, 3].randomElement(using: &rng)!
            let channels = groups * Int.random(in: 1...(dense ? 40 : 5), using: &rng)
            let filters = groups * Int.random(in: 1...(trial % 3 == 0 ? 40 : 11), using: &rng)
            // Dense acts on the last axis at every position: a 1x1 convolution's GEMM.
            let shape =
                dense
                ? TensorShape(height: trial % 12 == 5 ? 1 : 3, width: trial % 12 == 5 ? 1 : 5, channels: channels)
                : TensorShape(
                    height: Int.random(in: 1...9, using: &rng), width: Int.random(in: 1...9, using: &rng),
                    channels: channels)
            let window =
                dense
                ? Window(kernelHeight: 1, kernelWidth: 1)
                : Window(
                    kernelHeight: min(shape.height, Int.random(in: 1...3, using: &rng)),
                    kernelWidth: min(shape.width, Int.random(in: 1...3, using: &rng)),
                    strideHeight: Int.random(in: 1...2, using: &rng), strideWidth: Int.random(in: 1...2, using: &rng),
                    padding: Bool.random(using: &rng) ? .same : .valid)
            var dilated = window
            if !dense && trial % 4 == 1 && window.strideHeight == 1 && window.strideWidth == 1 {
                dilated.dilationHeight = 2
                dilated.dilationWidth = 2
                dilated.padding = .same
            }
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let input = Self.activation(
                shape, batch: Int.random(in: 1...3, using: &rng), zeroPoint: Self.zeroPoint(&rng), scale: inScale,
                &rng)
            let inPerGroup = channels / groups
            // Odd trials: 7-bit weights (`--weight-bits 7`), which the AVX2 maddubs variant runs.
            let range: ClosedRange<Int8> = trial % 2 == 1 ? -64...63 : -127...127
            let weights = (0..<(window.kernelHeight * window.kernelWidth * inPerGroup * filters)).map { _ in
                Int8.random(in: range, using: &rng)
            }
            let weightScales = (0..<filters).map { _ in Float.random(in: 0.001...0.02, using: &rng) }
            let bias = (0..<filters).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            // Small output scales saturate at both ends.
            let outScale = Float.random(in: 0.002...0.2, using: &rng)
            let outZero = Self.zeroPoint(&rng)
            let activation: Cnnz.Activation = [
                .linear, .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0), .sigmoid,
            ].randomElement(using: &rng)!
            var output = ActivationQuantization(scale: outScale, zeroPoint: outZero)
            var clamp: ClosedRange<Int32> = -128...127
            var referenceScale = outScale
            var referenceZero = outZero
            switch activation {
            case .relu(let maxValue, _, _):
                clamp = Self.reluClamp(
                    maxValue: maxValue.isFinite ? Double(maxValue) : nil, scale: outScale, zeroPoint: outZero)
            case .sigmoid:
                // Sums requantized to their own parameters, then the table.
                output = ActivationQuantization(
                    scale: 1 / 256, zeroPoint: -128, preActivationScale: outScale, preActivationZeroPoint: outZero)
                referenceScale = outScale
                referenceZero = outZero
            default: break
            }
            let kernelShape =
                dense ? [channels, filters] : [window.kernelHeight, window.kernelWidth, inPerGroup, filters]
            let tensors = Self.perChannelTensors(
                kernelShape: kernelShape, weights: weights, weightScales: weightScales, bias: bias, inputScale: inScale)
            let kind: LayerKind =
                dense
                ? .dense(units: filters, hasBias: true)
                : .conv2D(window: dilated, filters: filters, groups: groups, hasBias: true)
            let m = Self.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [Layer(kind: kind, activation: activation, inputs: [0], weights: [0, 1])], tensors: tensors,
                outputs: [output])
            var expected = Int8Reference.conv2D(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: dilated,
                groups: groups, filters: filters, outputScale: Double(referenceScale),
                outputZeroPoint: referenceZero, clamp: clamp
            ).values
            if activation == .sigmoid {
                let table = Int8Activation.table(.sigmoid, input: output.preActivation, output: output)
                expected = expected.map { table[Int($0) + 128] }
            }
            for (threads, variant) in Self.runs {
                let got = try Self.run(m, input, threads: threads, variant: variant)
                #expect(
                    zip(got, expected).filter { $0 != $1 }.count == 0 && got.count == expected.count,
                    "trial \(trial) \(kind) \(activation.name) threads \(threads) \(variant)")
            }
            if trial == 0 {
                #expect(expected.contains(-128) || expected.contains(127) || clamp != -128...127)
            }
        }
    }

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

    @Test func poolingMatchesTheReference() throws {
        var rng = SplitMix64(seed: 3141)
        for trial in 0..<32 {
            let shape = TensorShape(
                height: Int.random(in: 1...9, using: &rng), width: Int.random(in: 1...9, using: &rng),
                // Every eighth trial (max pooling that keeps its input's parameters): channels around
                // the AVX2 kernel's vectors of 32 and 16.
                channels: trial % 8 == 0
                    ? Int.random(in: trial % 16 == 0 ? 32...40 : 14...31, using: &rng)
                    : Int.random(in: 1...7, using: &rng))
            let isMax = trial % 2 == 0
            let global = trial % 4 >= 2
            let window = Window(
                kernelHeight: min(shape.height, Int.random(in: 1...3, using: &rng)),
                kernelWidth: min(shape.width, Int.random(in: 1...3, using: &rng)),
                strideHeight: Int.random(in: 1...3, using: &rng), strideWidth: Int.random(in: 1...3, using: &rng),
                padding: Bool.random(using: &rng) ? .same : .valid)
            let inScale = Float.random(in: 0.01...0.05, using: &rng)
            let input = Self.activation(
                shape, batch: Int.random(in: 1...3, using: &rng), zeroPoint: Self.zeroPoint(&rng), scale: inScale,
                &rng)
            // Half the cases keep the input's parameters (what the converter writes for max pooling).
            let same = trial % 8 < 4
            let outScale = same ? inScale : Float.random(in: 0.005...0.05, using: &rng)
            let outZero = same ? input.zeroPoint : Self.zeroPoint(&rng)
            let kind: LayerKind =
                global
                ? (isMax ? .globalMaxPool2D(keepDims: false) : .globalAveragePool2D(keepDims: false))
                : (isMax ? .maxPool2D(window: window) : .averagePool2D(window: window))
            let m = Self.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [Layer(kind: kind, inputs: [0])],
                outputs: [ActivationQuantization(scale: outScale, zeroPoint: outZero)])
            let expected =
                global
                ? Int8Reference.globalPool(
                    input, max: isMax, outputScale: Double(outScale), outputZeroPoint: outZero
                ).values
                : Int8Reference.pool(
                    input, window: window, max: isMax, outputScale: Double(outScale), outputZeroPoint: outZero
                ).values
            if same && isMax {
                // Max pooling with the input's parameters is exact: the values are the input's.
                #expect(Set(expected).isSubset(of: Set(input.values)))
            }
            for (threads, variant) in Self.runs {
                #expect(
                    try Self.run(m, input, threads: threads, variant: variant) == expected,
                    "trial \(trial) \(kind) threads \(threads) \(variant)")
            }
        }
    }

    /// Add and Concatenate read the model input (value 0) and a rescaled copy
    /// of it (an Activation layer), whose ints are taken from the engine first.
    @Test func addAndConcatenateRescaleAsTheReference() throws {
        var rng = SplitMix64(seed: 1618)
        for trial in 0..<24 {
            let shape = TensorShape(
                height: Int.random(in: 1...6, using: &rng), width: Int.random(in: 1...6, using: &rng),
                channels: Int.random(in: 1...6, using: &rng))
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let input = Self.activation(
                shape, batch: Int.random(in: 1...3, using: &rng), zeroPoint: Self.zeroPoint(&rng), scale: inScale,
                &rng)
            let inputQ = ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint)
            let branchQ = ActivationQuantization(
                scale: Float.random(in: 0.005...0.08, using: &rng), zeroPoint: Self.zeroPoint(&rng))
            let branchLayer = Layer(kind: .activation, activation: .linear, inputs: [0])
            let branch = Activation8(
                shape: shape, batch: input.batch,
                values: try Self.run(
                    Self.model(input: shape, inputQ, layers: [branchLayer], outputs: [branchQ]), input, threads: 1),
                scale: Double(branchQ.scale), zeroPoint: branchQ.zeroPoint)
            let outScale = Float.random(in: 0.003...0.1, using: &rng)
            let outZero = Self.zeroPoint(&rng)
            let isAdd = trial % 2 == 0
            let relu = isAdd && trial % 4 == 0
            let layer = Layer(
                kind: isAdd ? .add : .concatenate, activation: relu ? .plainReLU : .linear, inputs: [0, 1])
            let m = Self.model(
                input: shape, inputQ, layers: [branchLayer, layer],
                outputs: [branchQ, ActivationQuantization(scale: outScale, zeroPoint: outZero)])
            let expected =
                isAdd
                ? Int8Reference.add(
                    [input, branch], outputScale: Double(outScale), outputZeroPoint: outZero,
                    clamp: relu ? Self.reluClamp(maxValue: nil, scale: outScale, zeroPoint: outZero) : -128...127
                ).values
                : Int8Reference.concatenate([input, branch], outputScale: Double(outScale), outputZeroPoint: outZero)
                    .values
            for (threads, variant) in Self.runs {
                #expect(
                    try Self.run(m, input, threads: threads, variant: variant) == expected,
                    "trial \(trial) threads \(threads) \(variant)")
            }
        }
    }

    /// Activation tables: each entry within one step of the function computed
    /// in float64 on the dequantized input, and the kernel applies the table.
    @Test func activationTablesAreWithinOneStepOfTheFunction() throws {
        let input = ActivationQuantization(scale: 0.05, zeroPoint: -3)
        let output = ActivationQuantization(scale: 1.0 / 256, zeroPoint: -128)
        let cases: [(Cnnz.Activation, (Double) -> Double)] = [
            (.sigmoid, { 1 / (1 + exp(-$0)) }), (.tanh, { Foundation.tanh($0) / 2 + 0.5 }),
        ]
        for (activation, function) in cases {
            let out = activation == .tanh ? ActivationQuantization(scale: 2.0 / 255, zeroPoint: 0) : output
            let table = Int8Activation.table(activation, input: input, output: out)
            for q in -128...127 {
                let x = Double(input.scale) * Double(q - Int(input.zeroPoint))
                let y = activation == .tanh ? Foundation.tanh(x) : function(x)
                let exact = min(max(y / Double(out.scale) + Double(out.zeroPoint), -128), 127)
                #expect(abs(Double(table[q + 128]) - exact) <= 0.5 + 1e-3, "\(activation.name) q=\(q)")
            }
        }
    }

    /// Every GEMM variant (portable and AVX2 on int16, AVX2 maddubs and VNNI 256 and
    /// 512 bits on bytes with the zero point folded into the packed bias) gives the
    /// bytes of a plain loop, on sizes around the tiles (8 rows x 32 columns, 4 rows
    /// x 16, K in groups of 4), input zero points at both extremes and sums that
    /// saturate at both ends. Weights: 8-bit, 7-bit, or pairs at the edge of what
    /// `vpmaddubsw` holds (positive parts adding up to 128, negative to -128) against
    /// activations of 255 and 0 (q = 127, -128); the maddubs variant runs the last two
    /// and must refuse the first.
    @Test func gemmVariantsMatchAPlainLoop() throws {
        var rng = SplitMix64(seed: 99)
        var saturated: Set<Int8> = []
        var maddubsRuns = 0
        var fitting = 0
        for trial in 0..<60 {
            let m = Int.random(in: 1...(trial % 2 == 0 ? 13 : 40), using: &rng)
            let n = Int.random(in: 1...(trial % 3 == 0 ? 37 : 100), using: &rng)
            let k = Int.random(in: 1...(trial % 4 == 0 ? 75 : 300), using: &rng)
            let w = Self.gemmWeights(k: k, n: n, kind: trial % 3, &rng)
            let bias = (0..<n).map { _ in Int32.random(in: -40000...40000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.0001...0.02, using: &rng) }
            let inputZero = [-128, 127, 0, Int32.random(in: -128...127, using: &rng)][trial % 4]
            let zero = Int32.random(in: -128...127, using: &rng)
            let stage = Int8Activation(.linear, output: ActivationQuantization(scale: 1, zeroPoint: zero))
            var q = (0..<(m * k)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            // Rows of 255 and of 0 as bytes: each pair's sum at its extremes.
            for r in 0..<min(m, 2) { for col in 0..<k { q[r * k + col] = r == 0 ? 127 : -128 } }
            var expected = [Int8](repeating: 0, count: m * n)
            for r in 0..<m {
                for j in 0..<n {
                    var sum = bias[j]
                    for c in 0..<k { sum += (Int32(q[r * k + c]) - inputZero) * Int32(w[c * n + j]) }
                    expected[r * n + j] = Int8Reference.clamp(
                        Int8Reference.scaled(sum, by: reals[j]) + zero, -128...127)
                }
            }
            saturated.formUnion(expected.filter { $0 == -128 || $0 == 127 })
            let fits = Int8GEMM.fitsMaddubs(k: k, n: n) { w[$0 * n + $1] }
            #expect(
                fits == (trial % 3 != 0 || k == 1), "trial \(trial) k=\(k): 8-bit weights must not fit, others must")
            if fits { fitting += 1 }
            for variant in Int8GEMM.available {
                if variant == .avx2Maddubs {
                    guard Int8GEMM.variant(variant, k: k, n: n, element: { w[$0 * n + $1] }) == variant else {
                        continue
                    }
                    maddubsRuns += 1
                }
                let packed = try Int8PackedWeights(
                    k: k, n: n, element: { w[$0 * n + $1] }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                    activation: stage, variant: variant, inputZeroPoint: inputZero)
                var c = [Int8](repeating: 0, count: m * n)
                if variant.isVNNI {
                    // Rows of 4 * kGroups bytes, q xor 0x80, padded with bytes the zero weights ignore.
                    let lda = 4 * packed.kGroups
                    var a = [UInt8](repeating: 0xA5, count: m * lda)
                    for r in 0..<m { for col in 0..<k { a[r * lda + col] = UInt8(bitPattern: q[r * k + col]) ^ 0x80 } }
                    Int8GEMM.runVNNI(variant, m: m, a: a, lda: lda, weights: packed, c: &c, ldc: n)
                } else {
                    let lda = 2 * packed.kPairs
                    var a = [Int16](repeating: 0, count: m * lda)
                    for r in 0..<m { for col in 0..<k { a[r * lda + col] = Int16(q[r * k + col]) - Int16(inputZero) } }
                    Int8GEMM.run(variant, m: m, a: a, lda: lda, weights: packed, c: &c, ldc: n)
                }
                #expect(c == expected, "\(variant) m=\(m) n=\(n) k=\(k) zero \(inputZero)")
            }
        }
        #expect(saturated == [-128, 127])
        #expect(Int8GEMM.available.contains(.portable))
        #expect(fitting >= 40 && maddubsRuns == (Int8GEMM.available.contains(.avx2Maddubs) ? fitting : 0))
    }

    /// Random k x n weights: kind 0 in -127...127 (8 bits, with a pair of 127s so they
    /// cannot fit `vpmaddubsw`), 1 in -64...63 (7 bits), 2 pairs (rows 2i, 2i + 1) whose
    /// positive parts add up to at most 128 and negative ones to at least -128, many at
    /// exactly those edges.
    static func gemmWeights(k: Int, n: Int, kind: Int, _ rng: inout SplitMix64) -> [Int8] {
        var w = (0..<(k * n)).map { _ in Int8.random(in: kind == 1 ? -64...63 : -127...127, using: &rng) }
        switch kind {
        case 0:
            // A lone last row pairs with 0 and always fits: k 1 fits whatever the weights.
            if k > 1 { (w[0], w[n]) = (127, 127) }
        case 2:
            for row in stride(from: 0, to: k - 1, by: 2) {
                for j in 0..<n {
                    let w0 = Int(w[row * n + j])
                    let edge = w0 >= 0 ? 128 - w0 : -128 - w0
                    let w1 = Bool.random(using: &rng) ? edge : Int.random(in: min(0, edge)...max(0, edge), using: &rng)
                    w[(row + 1) * n + j] = Int8(clamping: w1)
                }
            }
        default: break
        }
        return w
    }

    /// The input quantize at every level (Swift, portable C, AVX-512) gives the
    /// same bytes: ties, NaN, infinities, values far outside the range, and with
    /// scales that are not powers of 2, quotients next to every tie (the floats
    /// either side of `(k + 1/2) * scale`), a count that misses the vectors.
    @Test func quantizeLevelsAgree() {
        var rng = SplitMix64(seed: 7)
        for scale: Float in [0.0625, 0.0137, 1 / 255, 0.3] {
            var xs: [Float] = [0, -0, .nan, .infinity, -.infinity, 1e30, -1e30, .ulpOfOne, 8.03125, -8.03125]
            xs += (-300...300).map { Float($0) * scale / 2 }  // every tie
            xs += (-300...300).flatMap { k -> [Float] in
                let x = Float(k) * scale / 2
                return [x.nextDown, x.nextUp, x.nextDown.nextDown, x.nextUp.nextUp]
            }
            xs += (0..<2000).map { _ in Float.random(in: -20...20, using: &rng) * scale * 16 }
            Self.quantizeLevelsAgree(xs, scale: scale)
        }
    }

    static func quantizeLevelsAgree(_ xs: [Float], scale: Float) {
        for zeroPoint: Float in [-128, 127, 0, 5] {
            let expected = xs.map { QuantizeKernel.quantize($0, scale: scale, zeroPoint: zeroPoint) }
            for level in Set(Int8GEMM.available.map(\.level)) {
                var q = [Int8](repeating: 0, count: xs.count)
                cnnz_qs8_quantize(level, xs.count, xs, scale, zeroPoint, &q)
                #expect(q == expected, "level \(level) scale \(scale) zero point \(zeroPoint)")
            }
        }
    }

    /// The engine's requantization helper is the reference's, over edge values.
    @Test func engineRequantizationIsTheReferences() {
        var rng = SplitMix64(seed: 5)
        let values: [Int32] =
            [0, 1, -1, 2, -2, 1000, -1000, .max, .min, .max - 1, .min + 1]
            + (0..<60).map { _ in Int32.random(in: .min ... .max, using: &rng) }
        let multipliers: [Int32] = [1 << 30, (1 << 30) + 1, 1_518_500_250, .max - 1, .max]
        for x in values {
            for m in multipliers {
                for shift in [-31, -20, -9, -1, 0] {
                    #expect(
                        Requantization.apply(x, multiplier: m, shift: Int32(shift))
                            == Int8Reference.requantize(x, multiplier: m, shift: shift), "x=\(x) m=\(m) s=\(shift)")
                }
            }
        }
        for real in [1e-9, 0.000_123, 0.5, 0.75, 1 - 1e-12, 1, 1.5] {
            let (m, s) = Requantization.multiplier(real)
            let (rm, rs) = Int8Reference.quantizeMultiplier(real)
            #expect(m == rm && Int(s) == rs, "\(real)")
        }
    }
}
