import Testing

@testable import Cnnz

/// An int8 Conv2D with the 2x2, stride-2 MaxPooling2D after it fused in (`MaxPoolFusion`,
/// `Conv2DInt8.fusesMaxPool`): the same bytes as the two layers run apart (the plan built with
/// `ExecutionSteps.$fusesMaxPools` off, whose convolution the int8 kernel tests compare with the
/// reference), on randomized shapes (odd heights and widths, whose last row or column the pooling
/// drops; channels and filters that miss the vector widths; the indirect and the row convolution),
/// batches above 1, on 1 thread, 2 threads split by images and 3 split by layers, for every int8
/// variant this CPU has (only the 512-bit VNNI one fuses). The cases the argument excludes (a left
/// shift, an activation table, a pooling that requantizes) are not fused and still match.
@Suite struct MaxPoolFusionTests {
    /// Input -> Conv2D(activation) -> MaxPooling2D(2x2) -> Flatten.
    static func description(
        input: TensorShape, window: Window, filters: Int, activation: Activation, tensors: [Tensor],
        quantization: [ActivationQuantization]
    ) -> ModelDescription {
        let layers = [
            Layer(
                kind: .conv2D(window: window, filters: filters, groups: 1, hasBias: true), activation: activation,
                inputs: [0], weights: [0, 1]),
            Layer(
                kind: .maxPool2D(window: Window(kernelHeight: 2, kernelWidth: 2, strideHeight: 2, strideWidth: 2)),
                activation: .linear, inputs: [1]),
            Layer(kind: .flatten, activation: .linear, inputs: [2]),
        ]
        return ModelDescription(
            name: "pool", labels: [], preprocessing: .identity, graph: Graph(inputShape: input, layers: layers),
            tensors: tensors, selfTest: nil, activationQuantization: quantization)
    }

    /// Int8 kernel [kh, kw, in, filters] with per-filter scales in `scales`, a float32 bias.
    static func tensors(
        _ shape: [Int], scales: ClosedRange<Float>, bias: ClosedRange<Float> = -0.5...0.5, _ rng: inout SplitMix64
    ) -> [Tensor] {
        let filters = shape.last!
        let count = shape.reduce(1, *)
        return [
            Tensor(
                shape: shape, int8: (0..<count).map { _ in Int8.random(in: -127...127, using: &rng) },
                quantization: Quantization(
                    scales: (0..<filters).map { _ in Float.random(in: scales, using: &rng) },
                    zeroPoints: .init(repeating: 0, count: filters), axis: 3)),
            Tensor(shape: [filters], values: (0..<filters).map { _ in Float.random(in: bias, using: &rng) }),
        ]
    }

    /// The model's outputs for `x` on one thread, 2 threads split by images, 3 split by layers.
    static func outputs(_ model: Model, _ x: [Float], batch: Int) throws -> [[UInt32]] {
        let one = try model.makeSession(batchCapacity: batch)
        let images = try model.makeSession(batchCapacity: batch, threads: 2)
        let layers = try model.makeSession(
            batchCapacity: batch, threads: 3, minimumWorkPerPart: 1, splitBatches: false)
        // Every layer split (a session's own first runs split none: `LayerSplit`).
        layers.fixedSplit = .every
        return try [one, images, layers].map { try $0.run(x, batch: batch).map(\.bitPattern) }
    }

    @Test func fusedPlansMatchTheUnfusedOnRandomShapes() throws {
        var rng = SplitMix64(seed: 2718)
        var fusedCount = 0
        var fusable = 0
        for trial in 0..<32 {
            // Even trials: channels and k the indirect convolution takes (channels a multiple of 4,
            // k above 64); odd: the row convolution's (few channels, or 2x2 on 12 or 25 as seed002).
            let shapes = trial % 2 == 0 ? [(8, 3), (12, 3), (32, 3), (20, 2)] : [(1, 3), (3, 3), (12, 2), (25, 2)]
            let (channels, kernel) = shapes[trial / 2 % 4]
            let filters = [12, 16, 25, 33, 50, 64][trial % 6]
            let stride = trial % 5 == 4 ? 2 : 1
            let padding: Padding = trial % 3 == 0 ? .same : .valid
            let window = Window(
                kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride, strideWidth: stride, padding: padding)
            let lowest = padding == .same ? 2 * stride : kernel + 2 * stride - 1
            let input = TensorShape(
                height: Int.random(in: lowest...17, using: &rng), width: Int.random(in: lowest...19, using: &rng),
                channels: channels)
            let activation: Activation = [
                .plainReLU, .linear, .relu(maxValue: 6, negativeSlope: 0, threshold: 0),
            ][trial % 3]
            let tensors = Self.tensors([kernel, kernel, channels, filters], scales: 0.001...0.02, &rng)
            let inputQ = ActivationQuantization(scale: 0.02, zeroPoint: Int32.random(in: -40...40, using: &rng))
            let convQ = ActivationQuantization(
                scale: Float.random(in: 0.02...0.2, using: &rng),
                zeroPoint: [-128, 0, 127, Int32.random(in: -128...127, using: &rng)][trial % 4])
            let description = Self.description(
                input: input, window: window, filters: filters, activation: activation, tensors: tensors,
                quantization: [inputQ, convQ, convQ, convQ])
            let batch = Int.random(in: 2...3, using: &rng)
            let x = (0..<(batch * input.elementCount)).map { _ in Float.random(in: -2...2, using: &rng) }
            // The pixel-lane convolution's layers (12 filters on few channels, stride 1) stay unfused.
            let columns = try #require(window.geometry(height: input.height, width: input.width)).columns
            let pixelConv = Conv2DInt8.takesPixelConv(
                variant: .vnni512, pointwise: false, groups: 1, window: window, channels: channels, filters: filters,
                hasTable: false, padLeft: columns.padBefore, outWidth: columns.output, height: input.height)
            if Int8GEMM.available.contains(.vnni512) && !pixelConv { fusable += 1 }
            for variant in Int8GEMM.available {
                let fused = try Int8GEMM.$forced.withValue(variant) { try Model(description) }
                let unfused = try Int8GEMM.$forced.withValue(variant) {
                    try ExecutionSteps.$fusesMaxPools.withValue(false) { try Model(description) }
                }
                let isFused = fused.plan.kernelFusedLayers.contains(1)
                #expect(isFused == (variant == .vnni512 && !pixelConv), "trial \(trial) \(variant): fused \(isFused)")
                #expect(unfused.plan.kernelFusedLayers.allSatisfy { $0 == nil })
                if isFused {
                    fusedCount += 1
                    #expect(fused.plan.kernels.count == unfused.plan.kernels.count - 1)
                    #expect(fused.activationBytesPerImage <= unfused.activationBytesPerImage)
                }
                let expected = try Self.outputs(unfused, x, batch: batch)[0]
                for (i, got) in try Self.outputs(fused, x, batch: batch).enumerated() {
                    #expect(
                        got == expected,
                        "trial \(trial) \(variant) session \(i) input \(input) window \(window) filters \(filters) \(activation.name) conv \(convQ) input \(inputQ) batch \(batch)"
                    )
                }
            }
        }
        #expect(fusedCount == fusable)
        #expect(fusable >= (Int8GEMM.available.contains(.vnni512) ? 28 : 0))
    }

    /// What the argument needs, else no fusion (and the same outputs): a multiplier without a left
    /// shift (a conv scale below input * weight scale), a clamp rather than a table, a pooling that
    /// keeps the convolution's quantization.
    @Test func onlyMonotoneStoresAndPlainPoolingsFuse() throws {
        var rng = SplitMix64(seed: 99)
        let input = TensorShape(height: 9, width: 7, channels: 8)
        let window = Window(kernelHeight: 3, kernelWidth: 3)
        let inputQ = ActivationQuantization(scale: 0.02, zeroPoint: 3)
        let convQ = ActivationQuantization(scale: 0.05, zeroPoint: -100)
        let sigmoidQ = ActivationQuantization(
            scale: 1 / 256, zeroPoint: -128, preActivationScale: 0.05, preActivationZeroPoint: 0)
        let cases: [(String, Activation, ClosedRange<Float>, [ActivationQuantization], Bool)] = [
            ("fused", .plainReLU, 0.001...0.02, [inputQ, convQ, convQ, convQ], true),
            ("left shift", .plainReLU, 4...8, [inputQ, convQ, convQ, convQ], false),
            ("table", .sigmoid, 0.001...0.02, [inputQ, sigmoidQ, sigmoidQ, sigmoidQ], false),
            (
                "requantizing pooling", .plainReLU, 0.001...0.02,
                [inputQ, convQ, ActivationQuantization(scale: 0.06, zeroPoint: -100), convQ], false
            ),
        ]
        for (name, activation, scales, quantization, fuses) in cases {
            let description = Self.description(
                input: input, window: window, filters: 20, activation: activation,
                tensors: Self.tensors([3, 3, 8, 20], scales: scales, &rng), quantization: quantization)
            let x = (0..<(2 * input.elementCount)).map { _ in Float.random(in: -2...2, using: &rng) }
            for variant in Int8GEMM.available {
                let fused = try Int8GEMM.$forced.withValue(variant) { try Model(description) }
                let unfused = try Int8GEMM.$forced.withValue(variant) {
                    try ExecutionSteps.$fusesMaxPools.withValue(false) { try Model(description) }
                }
                #expect(
                    fused.plan.kernelFusedLayers.contains(1) == (fuses && variant == .vnni512), "\(name) \(variant)")
                let expected = try Self.outputs(unfused, x, batch: 2)
                #expect(try Self.outputs(fused, x, batch: 2) == expected, "\(name) \(variant)")
            }
        }
    }

    /// One or two pooled pixels an image (the tiles' per-row store, which adds the bias itself),
    /// and biases beyond int32 (clamped to its ends, so the sums wrap as the reference's do): the
    /// maximum is taken of the int32 values the reference requantizes either way.
    @Test func tinyImagesAndWrappingSumsMatch() throws {
        var rng = SplitMix64(seed: 5)
        let inputQ = ActivationQuantization(scale: 0.02, zeroPoint: -7)
        let convQ = ActivationQuantization(scale: 0.08, zeroPoint: 20)
        let cases: [(TensorShape, Int, ClosedRange<Float>)] = [
            (TensorShape(height: 4, width: 5, channels: 8), 3, -0.5...0.5),
            (TensorShape(height: 5, width: 7, channels: 12), 3, -0.5...0.5),
            (TensorShape(height: 3, width: 5, channels: 3), 2, -0.5...0.5),
            (TensorShape(height: 9, width: 11, channels: 8), 3, -1e6...1e6),
            (TensorShape(height: 9, width: 11, channels: 1), 3, -1e6...1e6),
            (TensorShape(height: 4, width: 5, channels: 8), 3, -1e6...1e6),
        ]
        for (trial, (input, kernel, bias)) in cases.enumerated() {
            let filters = [20, 33, 12, 40, 17, 24][trial]
            let description = Self.description(
                input: input, window: Window(kernelHeight: kernel, kernelWidth: kernel), filters: filters,
                activation: .linear,
                tensors: Self.tensors(
                    [kernel, kernel, input.channels, filters], scales: 0.001...0.02, bias: bias, &rng),
                quantization: [inputQ, convQ, convQ, convQ])
            let x = (0..<(3 * input.elementCount)).map { _ in Float.random(in: -2...2, using: &rng) }
            for variant in Int8GEMM.available {
                let fused = try Int8GEMM.$forced.withValue(variant) { try Model(description) }
                let unfused = try Int8GEMM.$forced.withValue(variant) {
                    try ExecutionSteps.$fusesMaxPools.withValue(false) { try Model(description) }
                }
                #expect(fused.plan.kernelFusedLayers.contains(1) == (variant == .vnni512), "case \(trial) \(variant)")
                let expected = try Self.outputs(unfused, x, batch: 3)
                #expect(try Self.outputs(fused, x, batch: 3) == expected, "case \(trial) \(variant) \(input)")
            }
        }
    }
}
