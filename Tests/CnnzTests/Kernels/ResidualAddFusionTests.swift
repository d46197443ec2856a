import CInt8Kernels
import Testing

@testable import Cnnz

/// A residual Add fused into the convolution that computes one of its operands
/// (`ResidualAdd`): the same bits as the two layers run apart (the plan built with
/// `ExecutionSteps.$fusesResidualAdds` off), for whole models in float32 and int8
/// (every int8 GEMM variant this CPU has) on 1 and more threads, split by layers and by
/// images, batches above 1; the calibrating run still shows the convolution's value;
/// and the fused stores themselves (float32 GEMM microkernels, the 512-bit VNNI GEMM)
/// against their unfused kernel followed by the Add's formula in a plain loop.
@Suite struct ResidualAddFusionTests {
    /// Float outputs as bits (NaN payloads included).
    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// A model's outputs for `x` on one thread, 3 threads split by layers and 2 split by images.
    static func outputs(_ model: Model, _ x: [Float], batch: Int) throws -> [[UInt32]] {
        let one = try model.makeSession(batchCapacity: batch)
        let layers = try model.makeSession(
            batchCapacity: batch, threads: 3, minimumWorkPerPart: 1, splitBatches: false)
        let images = try model.makeSession(batchCapacity: batch, threads: 2)
        return try [one, layers, images].map { bits(try $0.run(x, batch: batch)) }
    }

    /// Input [h, w, c] -> the Add's two operands -> Add -> a Sigmoid reading the sum. Operand
    /// layouts: 0, the fused convolution reads the input and the other operand (a ReLU of the
    /// input) is computed after it; 1, the other operand is a convolution of the input and the
    /// fused convolution reads it. `convolution` is the fused one's kind; its activation linear.
    static func graph(
        input: TensorShape, convolution: LayerKind, layout: Int, convolutionFirstInAdd: Bool, activation: Activation
    ) -> (layers: [Layer], add: Int) {
        let fused = Layer(kind: convolution, activation: .linear, inputs: [layout == 0 ? 0 : 1], weights: [0, 1])
        let other =
            layout == 0
            ? Layer(kind: .activation, activation: .plainReLU, inputs: [0])
            : Layer(
                kind: .conv2D(
                    window: Window(kernelHeight: 1, kernelWidth: 1), filters: input.channels, groups: 1, hasBias: true),
                activation: .plainReLU, inputs: [0], weights: [2, 3])
        let operands = layout == 0 ? [1, 2] : [2, 1]  // the fused convolution's value, the other's
        let add = Layer(
            kind: .add, activation: activation,
            inputs: convolutionFirstInAdd ? operands : [operands[1], operands[0]])
        let layers = layout == 0 ? [fused, other, add] : [other, fused, add]
        return (layers + [Layer(kind: .activation, activation: .sigmoid, inputs: [3])], 2)
    }

    @Test func float32ModelsMatchTheUnfusedPlan() throws {
        var rng = SplitMix64(seed: 1729)
        var fusedCount = 0
        for trial in 0..<32 {
            // Conv2DIm2ColGEMM fuses: pointwise (16 or 48 filters: Conv2DDirect takes the others on
            // AVX2), dilated 3x3 (neither Winograd nor Conv2DDirect), grouped (5 or 9 filters per
            // group: partial panels). Trial % 4 == 3: 3x3 "same", 16 filters (Winograd: not fused).
            let kind = trial % 4
            let channels = [16, 48, 10, 18, 16][kind == 2 ? 2 + (trial / 4) % 2 : (kind == 3 ? 4 : (trial / 4) % 2)]
            // Winograd takes 3x3 outputs of at least 4 x 4. Trial % 8 == 4: 48 filters (3 panels) on
            // at most 2 pixels, which 3 threads share by panels (GEMMShare), not by rows.
            let tiny = trial % 8 == 4
            let shape = TensorShape(
                height: Int.random(in: (kind == 3 ? 4 : 1)...(tiny ? 1 : 7), using: &rng),
                width: Int.random(in: (kind == 3 ? 4 : 1)...(tiny ? 2 : 9), using: &rng), channels: channels)
            let window: Window
            var groups = 1
            switch kind {
            case 0: window = Window(kernelHeight: 1, kernelWidth: 1)
            case 1:
                window = Window(kernelHeight: 3, kernelWidth: 3, dilationHeight: 2, dilationWidth: 2, padding: .same)
            case 2:
                window = Window(kernelHeight: 3, kernelWidth: 1, padding: .same)
                groups = 2
            default: window = Window(kernelHeight: 3, kernelWidth: 3, padding: .same)
            }
            let convolution = LayerKind.conv2D(window: window, filters: channels, groups: groups, hasBias: true)
            let activation: Activation = [
                .linear, .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0), .tanh,
            ][trial % 4]
            let (layers, add) = Self.graph(
                input: shape, convolution: convolution, layout: trial % 2, convolutionFirstInAdd: trial % 3 != 0,
                activation: activation)
            let k = window.kernelHeight * window.kernelWidth * channels / groups
            var tensors = [
                Tensor(
                    shape: [window.kernelHeight, window.kernelWidth, channels / groups, channels],
                    values: .random(k * channels, &rng)),
                Tensor(shape: [channels], values: .random(channels, &rng)),
            ]
            if trial % 2 == 1 {
                tensors.append(Tensor(shape: [1, 1, channels, channels], values: .random(channels * channels, &rng)))
                tensors.append(Tensor(shape: [channels], values: .random(channels, &rng)))
            }
            let description = ModelDescription(
                name: "residual", labels: [], preprocessing: .identity,
                graph: Graph(inputShape: shape, layers: layers), tensors: tensors, selfTest: nil)
            let fused = try Model(description)
            let unfused = try ExecutionSteps.$fusesResidualAdds.withValue(false) { try Model(description) }
            let isFused = fused.plan.kernelFusedLayers.contains(add)
            #expect(isFused == (kind != 3), "trial \(trial): fused \(isFused), window \(window)")
            #expect(unfused.plan.kernelFusedLayers.allSatisfy { $0 == nil })
            if isFused {
                fusedCount += 1
                // One kernel fewer, and no memory of its own for the convolution's value.
                #expect(fused.plan.kernels.count == unfused.plan.kernels.count - 1)
                #expect(fused.activationBytesPerImage <= unfused.activationBytesPerImage)
            }
            let batch = Int.random(in: 2...4, using: &rng)
            let x = [Float].random(batch * shape.elementCount, &rng, in: -2...2)
            let expected = try Self.outputs(unfused, x, batch: batch)[0]
            for (i, got) in try Self.outputs(fused, x, batch: batch).enumerated() {
                #expect(
                    got == expected,
                    "trial \(trial) session \(i) \(shape) window \(window) groups \(groups) \(activation.name) layout \(trial % 2) batch \(batch)"
                )
            }
            // The calibrating run shows every value, the fused convolution's too, with the same bits.
            func recorded(_ model: Model) throws -> [Int: [UInt32]] {
                var seen: [Int: [UInt32]] = [:]
                try x.withUnsafeBufferPointer { input in
                    try model.makeSession(batchCapacity: batch).run(input: input, batch: batch) { value, data in
                        seen[value] = Self.bits(Array(data))
                    }
                }
                return seen
            }
            let seen = try recorded(fused)
            #expect(seen == (try recorded(unfused)), "trial \(trial): visited values differ")
            #expect(seen.keys.sorted() == Array(0...4), "trial \(trial): visited \(seen.keys.sorted())")
        }
        #expect(fusedCount == 24)
    }

    @Test func int8ModelsMatchTheUnfusedPlan() throws {
        var rng = SplitMix64(seed: 4242)
        for trial in 0..<24 {
            // Channels that miss the vector widths; pointwise, 3x3 "same" (indirect or im2col),
            // grouped.
            let kind = trial % 3
            let groups = kind == 2 ? 2 : 1
            let channels = groups * [1, 3, 5, 8, 12, 17, 25, 40][trial % 8]
            let shape = TensorShape(
                height: Int.random(in: 1...6, using: &rng), width: Int.random(in: 1...9, using: &rng),
                channels: channels)
            let window =
                kind == 0
                ? Window(kernelHeight: 1, kernelWidth: 1) : Window(kernelHeight: 3, kernelWidth: 3, padding: .same)
            let activation: Activation = [
                .linear, .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0), .sigmoid,
            ][trial % 4]
            let (layers, add) = Self.graph(
                input: shape,
                convolution: .conv2D(window: window, filters: channels, groups: groups, hasBias: true),
                layout: trial % 2, convolutionFirstInAdd: trial % 3 != 1, activation: activation)
            // Int8 kernel [kh, kw, in, filters] (per-filter scales) and a float32 bias.
            func weights(_ shape: [Int]) -> [Tensor] {
                let filters = shape.last!
                let count = shape.reduce(1, *)
                let scales = (0..<filters).map { _ in Float.random(in: 0.001...0.02, using: &rng) }
                return [
                    Tensor(
                        shape: shape, int8: (0..<count).map { _ in Int8.random(in: -127...127, using: &rng) },
                        quantization: Quantization(
                            scales: scales, zeroPoints: .init(repeating: 0, count: filters), axis: 3)),
                    Tensor(
                        shape: [filters], values: (0..<filters).map { _ in Float.random(in: -0.5...0.5, using: &rng) }),
                ]
            }
            var tensors = weights([window.kernelHeight, window.kernelWidth, channels / groups, channels])
            if trial % 2 == 1 { tensors += weights([1, 1, channels, channels]) }
            func q(_ low: Float, _ high: Float) -> ActivationQuantization {
                let zeroPoints: [Int32] = [-128, 127, 0, Int32.random(in: -128...127, using: &rng)]
                return ActivationQuantization(
                    scale: Float.random(in: low...high, using: &rng),
                    zeroPoint: zeroPoints[Int.random(in: 0...3, using: &rng)])
            }
            // The convolution's scale above the other operand's half the time (its term is then
            // the exact shift of the 512-bit store), below it otherwise.
            let convolutionQ = trial % 4 < 2 ? q(0.05, 0.1) : q(0.005, 0.02)
            let otherQ = q(0.02, 0.05)
            var addQ = q(0.01, 0.1)
            if activation == .sigmoid {
                addQ = ActivationQuantization(
                    scale: 1 / 256, zeroPoint: -128, preActivationScale: addQ.scale,
                    preActivationZeroPoint: addQ.zeroPoint)
            }
            // Layers: the fused convolution and the other operand (in the layout's order), the
            // Add, the Sigmoid.
            let sigmoidQ = ActivationQuantization(scale: 1 / 256, zeroPoint: -128)
            let values = (trial % 2 == 0 ? [convolutionQ, otherQ] : [otherQ, convolutionQ]) + [addQ, sigmoidQ]
            let inputQ = ActivationQuantization(scale: 0.02, zeroPoint: Int32.random(in: -20...20, using: &rng))
            let description = ModelDescription(
                name: "residual", labels: [], preprocessing: .identity,
                graph: Graph(inputShape: shape, layers: layers), tensors: tensors, selfTest: nil,
                activationQuantization: [inputQ] + values)
            let batch = Int.random(in: 2...3, using: &rng)
            let x = (0..<(batch * shape.elementCount)).map { _ in Float.random(in: -2...2, using: &rng) }
            for variant in Int8GEMM.available {
                let fused = try Int8GEMM.$forced.withValue(variant) { try Model(description) }
                let unfused = try Int8GEMM.$forced.withValue(variant) {
                    try ExecutionSteps.$fusesResidualAdds.withValue(false) { try Model(description) }
                }
                #expect(fused.plan.kernelFusedLayers.contains(add), "trial \(trial) \(variant): not fused")
                #expect(fused.plan.layerTypes == [ElementType](repeating: .int8, count: 4))
                let expected = try Self.outputs(unfused, x, batch: batch)[0]
                for (i, got) in try Self.outputs(fused, x, batch: batch).enumerated() {
                    #expect(
                        got == expected,
                        "trial \(trial) \(variant) session \(i) \(shape) \(window) groups \(groups) \(activation.name) layout \(trial % 2) conv \(convolutionQ) other \(otherQ) add \(addQ)"
                    )
                }
            }
        }
    }

    /// The planner fuses only an Add of two inputs (no softmax) with a linear Conv2D's value that
    /// nothing else reads; of two such operands, the one computed last. Each model's outputs are
    /// the unfused plan's either way.
    @Test func onlyAnAddOfALinearConvolutionReadByItAloneFuses() throws {
        var rng = SplitMix64(seed: 7)
        let shape = TensorShape(height: 3, width: 5, channels: 16)
        let pointwise = LayerKind.conv2D(
            window: Window(kernelHeight: 1, kernelWidth: 1), filters: 16, groups: 1, hasBias: true)
        func conv(_ activation: Activation, _ input: Int, _ weights: Int) -> Layer {
            Layer(kind: pointwise, activation: activation, inputs: [input], weights: [weights, weights + 1])
        }
        let relu6 = Activation.relu(maxValue: 6, negativeSlope: 0, threshold: 0)
        let cases: [(String, [Layer], [Int?])] = [
            ("fused", [conv(.linear, 0, 0), Layer(kind: .add, activation: relu6, inputs: [0, 1])], [1]),
            (
                "read twice",
                [
                    conv(.linear, 0, 0), Layer(kind: .add, activation: relu6, inputs: [0, 1]),
                    Layer(kind: .add, activation: .linear, inputs: [1, 2]),
                ], [nil, nil, nil]
            ),
            ("relu", [conv(.plainReLU, 0, 0), Layer(kind: .add, activation: .linear, inputs: [1, 0])], [nil, nil]),
            (
                "three inputs", [conv(.linear, 0, 0), Layer(kind: .add, activation: .linear, inputs: [1, 0, 0])],
                [nil, nil]
            ),
            ("softmax", [conv(.linear, 0, 0), Layer(kind: .add, activation: .softmax, inputs: [1, 0])], [nil, nil]),
            (
                "two convolutions",
                [conv(.linear, 0, 0), conv(.linear, 0, 2), Layer(kind: .add, activation: relu6, inputs: [1, 2])],
                [nil, 2]
            ),
        ]
        for (name, layers, expected) in cases {
            let tensors = (0..<2).flatMap { _ in
                [
                    Tensor(shape: [1, 1, 16, 16], values: .random(256, &rng)),
                    Tensor(shape: [16], values: .random(16, &rng)),
                ]
            }
            let description = ModelDescription(
                name: name, labels: [], preprocessing: .identity, graph: Graph(inputShape: shape, layers: layers),
                tensors: tensors, selfTest: nil)
            let fused = try Model(description)
            let unfused = try ExecutionSteps.$fusesResidualAdds.withValue(false) { try Model(description) }
            #expect(fused.plan.kernelFusedLayers == expected, "\(name)")
            let x = [Float].random(2 * shape.elementCount, &rng)
            #expect(try Self.outputs(fused, x, batch: 2) == Self.outputs(unfused, x, batch: 2), "\(name)")
        }
    }

    /// Each float32 GEMM microkernel with a residual against itself without one, then the
    /// Add in a plain loop (`value + residual`, then the clamp as the store applies it).
    @Test func float32MicrokernelsAddTheResidualBeforeTheClamp() throws {
        var rng = SplitMix64(seed: 31)
        let clamps = [
            OutputClamp.none, OutputClamp(minimum: 0, isActive: true),
            OutputClamp(minimum: 0, maximum: 6, isActive: true),
        ]
        for trial in 0..<40 {
            let m = [1, 2, 5, 6, 7, 8, 12, 13, 17][trial % 9]
            let n = [1, 5, 8, 15, 16, 17, 33, 40, 64, 70][trial % 10]
            // The last trials: k past one cache block of panels (GEMM.panelBlockBytes), so each
            // block's residual starts at its own column.
            let k = trial >= 38 ? 4200 : Int.random(in: 1...40, using: &rng)
            let (lda, ldc) = (k + trial % 3, n + trial % 5)
            let clamp = clamps[trial % 3]
            let a = [Float].random(m * lda, &rng)
            let residual = [Float].random(m * ldc, &rng, in: -3...3)
            let w = [Float].random(k * n, &rng)
            let bias = [Float].random(n, &rng)
            for microkernel in GEMM.available {
                let packed = try PackedWeights(
                    k: k, n: n, element: { w[$0 * n + $1] }, bias: { bias[$0] }, panelWidth: microkernel.panelWidth)
                var plain = [Float](repeating: .nan, count: m * ldc)
                GEMM.run(m: m, a: a, lda: lda, weights: packed, c: &plain, ldc: ldc, microkernel: microkernel)
                var expected = plain
                for r in 0..<m {
                    for j in 0..<n {
                        let x = plain[r * ldc + j] + residual[r * ldc + j]
                        let low = !clamp.isActive || x > clamp.minimum ? x : clamp.minimum
                        expected[r * ldc + j] = !clamp.isActive || low < clamp.maximum ? low : clamp.maximum
                    }
                }
                var got = [Float](repeating: .nan, count: m * ldc)
                residual.withUnsafeBufferPointer { r in
                    GEMM.run(
                        m: m, a: a, lda: lda, weights: packed, c: &got, ldc: ldc, clamp: clamp,
                        microkernel: microkernel,
                        residual: r.baseAddress)
                }
                #expect(
                    Self.bits(got) == Self.bits(expected),
                    "\(microkernel) m \(m) n \(n) k \(k) lda \(lda) ldc \(ldc) clamp \(clamp)")
            }
        }
    }

    /// `cnnz_qu8_gemm_vnni512_add` against `cnnz_qu8_gemm_vnni512` and then TensorFlow Lite's
    /// Add in a plain loop: either operand order, multipliers of exactly 1/2 (the exact shift)
    /// and not, right shifts past 11 (the general terms), a table (the in-place fallback),
    /// clamps, odd sizes and a residual row stride wider than the output's. The sum's store
    /// takes each of its forms: right shifts 0 and 24...26 (general), 1...12 with a clamp below
    /// the zero point (the negative ties' correction) and at it (none). Half the trials with the
    /// float forms' stage (the GEMM part's store, where the search finds forms).
    @Test func vnni512StoreAddsAsTheAddKernel() throws {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 577)
        for trial in 0..<48 {
            let m = Int.random(in: 1...20, using: &rng)
            let n = [1, 5, 16, 17, 31, 32, 40, 64, 70][trial % 9]
            let k = Int.random(in: 1...70, using: &rng)
            let ldc = n + trial % 3
            let ldr = n + trial % 4
            let w = (0..<(k * n)).map { _ in Int8.random(in: -127...127, using: &rng) }
            let bias = (0..<n).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.0005...0.01, using: &rng) }
            let zero = Int32.random(in: -128...127, using: &rng)
            let packed = try Int8PackedWeights(
                k: k, n: n, element: { w[$0 * n + $1] }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                activation: Int8Activation(.linear, output: ActivationQuantization(scale: 1, zeroPoint: zero)),
                variant: .vnni512, inputZeroPoint: 3, floatForms: trial % 2 == 0)
            let lda = 4 * packed.kGroups
            let a = (0..<(m * lda)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let other = (0..<(m * ldr)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            let operand = trial % 2
            // The Add: zero points (the convolution's is its output's), multipliers, shifts.
            var zeros: [Int32] = [zero, Int32.random(in: -128...127, using: &rng)]
            var multipliers: [Int32] = [1 << 30, Int32.random(in: (1 << 30)...Int32.max, using: &rng)]
            // Right shifts past 11 (every fourth trial) take the general terms (add_term).
            var shifts: [Int32] = [0, -Int32.random(in: trial % 4 == 3 ? 12...14 : 1...5, using: &rng)]
            if trial % 3 == 2 { multipliers[0] = Int32.random(in: (1 << 30) + 1...Int32.max, using: &rng) }
            if operand == 1 {
                zeros.reverse()
                multipliers.reverse()
                shifts.reverse()
            }
            let outMultiplier = Int32.random(in: (1 << 30)...Int32.max, using: &rng)
            let outShift = -Int32.random(in: trial % 6 == 1 ? 24...26 : 0...12, using: &rng)
            let outZero = Int32.random(in: -128...127, using: &rng)
            let bounds: ClosedRange<Int32> = trial % 2 == 0 ? -128...127 : outZero...min(127, outZero + 90)
            let table: [Int8]? =
                trial % 8 == 5 ? (0..<256).map { _ in Int8.random(in: .min ... .max, using: &rng) } : nil
            var plain = [Int8](repeating: 0, count: m * ldc)
            Int8GEMM.runVNNI(.vnni512, m: m, a: a, lda: lda, weights: packed, c: &plain, ldc: ldc)
            var expected = [Int8](repeating: 0x55, count: m * ldc)
            for r in 0..<m {
                for j in 0..<n {
                    let qs =
                        operand == 0
                        ? [plain[r * ldc + j], other[r * ldr + j]] : [other[r * ldr + j], plain[r * ldc + j]]
                    var sum: Int32 = 0
                    for (i, q) in qs.enumerated() {
                        sum &+= Int8Reference.requantize(
                            (Int32(q) - zeros[i]) << 20, multiplier: multipliers[i], shift: Int(shifts[i]))
                    }
                    let v = Int8Reference.clamp(
                        Int8Reference.requantize(sum, multiplier: outMultiplier, shift: Int(outShift)) + outZero, bounds
                    )
                    expected[r * ldc + j] = table.map { $0[Int(v) + 128] } ?? v
                }
            }
            let got = Self.vnni512Add(
                m: m, a: a, lda: lda, packed: packed, other: other, ldr: ldr, ldc: ldc, operand: operand,
                add: cnnz_qs8_add(
                    zero_point: (zeros[0], zeros[1]), multiplier: (multipliers[0], multipliers[1]),
                    shift: (shifts[0], shifts[1]), left_shift: 20),
                linear: nil, output: (outMultiplier, outShift, outZero), bounds: bounds, table: table)
            #expect(
                got == expected,
                "trial \(trial) m \(m) n \(n) k \(k) ldc \(ldc) ldr \(ldr) operand \(operand) zeros \(zeros) multipliers \(multipliers) shifts \(shifts) out \(outMultiplier) \(outShift) \(outZero) \(bounds) table \(table != nil)"
            )
        }
    }

    /// `cnnz_qu8_gemm_vnni512_add` of `m` rows of `a` by `packed`, into rows `ldc` apart that
    /// start as 0x55, with `other` (rows `ldr` apart) the Add's other operand and the
    /// convolution's result its operand `operand`; the Add's output is `output` (multiplier,
    /// shift, zero point; bias 0) clamped to `bounds`, then looked up in `table` if given;
    /// `linear`: the Add's linear form, if the store is to use it.
    static func vnni512Add(
        m: Int, a: [UInt8], lda: Int, packed: Int8PackedWeights, other: [Int8], ldr: Int, ldc: Int, operand: Int,
        add: cnnz_qs8_add, linear: cnnz_qs8_add_linear?, output: (multiplier: Int32, shift: Int32, zeroPoint: Int32),
        bounds: ClosedRange<Int32>, table: [Int8]?
    ) -> [Int8] {
        var got = [Int8](repeating: 0x55, count: m * ldc)
        var column: (Int32, Int32, Int32) = (0, output.multiplier, output.shift)
        var form = linear ?? cnnz_qs8_add_linear()
        let entries = table ?? []
        withUnsafePointer(to: &column.0) { b in
            withUnsafePointer(to: &column.1) { mp in
                withUnsafePointer(to: &column.2) { sp in
                    entries.withUnsafeBufferPointer { t in
                        var out = cnnz_qs8_output(
                            bias: b, multiplier: mp, shift: sp, zero_point: output.zeroPoint, min: bounds.lowerBound,
                            max: bounds.upperBound, table: table == nil ? nil : t.baseAddress)
                        withUnsafePointer(to: &out) { out in
                            withUnsafePointer(to: &form) { f in
                                other.withUnsafeBufferPointer { o in
                                    var residual = cnnz_qs8_residual(
                                        residual: o.baseAddress, ldr: ldr, convolution_operand: Int32(operand),
                                        add: add, out: out, linear: linear == nil ? nil : f)
                                    withUnsafePointer(to: packed.output) { stage in
                                        cnnz_qu8_gemm_vnni512_add(
                                            m, packed.n, packed.kGroups, a, lda,
                                            packed.panels.assumingMemoryBound(to: Int8.self), packed.stage, stage,
                                            &residual, &got, ldc)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return got
    }
}
