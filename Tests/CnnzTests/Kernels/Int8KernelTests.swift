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
    /// The same on 1, 2 and 3 threads, for the kernels whose split depends on the part count
    /// (pixel-lane, row, Winograd, pooled and max-pool layers).
    static let runsOn1To3Threads = [1, 2, 3].flatMap { threads in Int8GEMM.available.map { (threads, $0) } }

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
        // Every layer split (a session's own first runs split none: `LayerSplit`).
        session.fixedSplit = .every
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
}
