import CInt8Kernels
import Testing

@testable import Cnnz

/// The float form in the 512-bit VNNI kernels' store (`int8_vnni_store.h`, `requant16_float`:
/// cvtdq2ps, vfmadd, cvtps2dq with embedded rounding, from the stage of
/// `cnnz_qu8_store_vnni512_prepare`), against the reference, bit for bit: the GEMM on row counts
/// 1...20 (one or two rows: four panels at a time; up to 8-row strips, then the rest) and column
/// counts that miss the 16-column panels, output stages drawn where the search finds forms (split
/// forms below the clamp's low bound), some panels with a column without one beside panels with
/// (each panel its own form); then the indirect and row convolutions through the engine.
@Suite struct Int8FloatFormVNNITests {
    /// The form of panel `p` in a stage (0: the integer forms, 1 or 2: float, split).
    static func form(_ stage: UnsafeRawPointer, panel p: Int) -> Int32 {
        stage.load(fromByteOffset: p * 256 + 192, as: Int32.self)
    }

    @Test func vnni512GEMMInTheFloatFormMatchesTheReference() throws {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 5151)
        var (floatPanels, integerPanels, mixed) = (0, 0, 0)
        for trial in 0..<160 {
            let m = Int.random(in: 1...20, using: &rng)
            let n = Int.random(in: 1...70, using: &rng)
            let k = Int.random(in: 1...12, using: &rng)
            let (_, _, col) = Int8FloatFormTests.draw(&rng, scales: 0.002...0.05)
            // A column without a form (a left shift: the general integer form) in some panels of
            // every other trial.
            var reals = (0..<n).map { _ in Double.random(in: 0.003...0.05, using: &rng) }
            if trial % 2 == 1 {
                for p in 0..<(n + 15) / 16 where Bool.random(using: &rng) {
                    reals[p * 16 + Int.random(in: 0..<min(16, n - p * 16), using: &rng)] = 1.5
                }
            }
            let w = (0..<(k * n)).map { _ in Int8.random(in: -127...127, using: &rng) }
            let bias = (0..<n).map { _ in Int32.random(in: -30000...30000, using: &rng) }
            let activation = Int8Activation(
                .linear, output: ActivationQuantization(scale: 1, zeroPoint: col.zero_point))
            let packed = try Int8PackedWeights(
                k: k, n: n, element: { w[$0 * n + $1] }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                activation: activation, variant: .vnni512, inputZeroPoint: Int32.random(in: -20...20, using: &rng))
            // The clamp drawn (below the zero point for the split form), its stage made here.
            var out = packed.output
            out.min = col.min
            out.max = col.max
            let stage = UnsafeMutableRawPointer.allocate(byteCount: cnnz_qu8_store_vnni512_bytes(n), alignment: 64)
            defer { stage.deallocate() }
            cnnz_qu8_store_vnni512_prepare(n, &out, stage)
            let forms = (0..<(n + 15) / 16).map { Self.form(stage, panel: $0) }
            floatPanels += forms.filter { $0 != 0 }.count
            integerPanels += forms.filter { $0 == 0 }.count
            if forms.contains(0) && forms.contains(where: { $0 != 0 }) { mixed += 1 }
            let lda = 4 * packed.kGroups
            let a = (0..<(m * lda)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let ldc = n + trial % 3
            var expected = [Int8](repeating: 0x55, count: m * ldc)
            for r in 0..<m {
                for j in 0..<n {
                    var sum = out.bias[j]
                    for i in 0..<k { sum &+= Int32(a[r * lda + i]) * Int32(w[i * n + j]) }
                    let column = cnnz_requant_float_column(zero_point: out.zero_point, min: out.min, max: out.max)
                    expected[r * ldc + j] = Int8(
                        Int8FloatFormTests.reference(sum, out.multiplier[j], out.shift[j], column))
                }
            }
            var c = [Int8](repeating: 0x55, count: m * ldc)
            let panels = UnsafePointer(packed.panels.assumingMemoryBound(to: Int8.self))
            cnnz_qu8_gemm_vnni512(m, n, packed.kGroups, a, lda, panels, stage, &out, &c, ldc)
            #expect(c == expected, "trial \(trial) m=\(m) n=\(n) k=\(k) forms \(forms) clamp \(col)")
        }
        #expect(floatPanels > 150 && integerPanels > 60 && mixed > 15, "\(floatPanels) \(integerPanels) \(mixed)")
    }

    /// The indirect convolution (channels a multiple of 4, K above 64) and the row convolution (1
    /// to 3 channels) through the engine, scales where most columns have a float form, at least
    /// 16 output pixels (the layers that get a stage), ReLU (one constant) or not (split forms
    /// where the zero point is high), against the reference, every variant this CPU has.
    @Test func vnni512ConvolutionsInTheFloatFormMatchTheReference() throws {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 6161)
        var floatColumns = 0
        for trial in 0..<16 {
            let rowConv = trial % 2 == 1
            let channels = rowConv ? Int.random(in: 1...3, using: &rng) : [8, 12, 20][trial % 3]
            let filters = Int.random(in: 1...40, using: &rng)
            let shape = TensorShape(
                height: Int.random(in: 5...12, using: &rng), width: Int.random(in: 5...12, using: &rng),
                channels: channels)
            let window = Window(
                kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: Int.random(in: 1...2, using: &rng),
                padding: trial % 4 < 2 ? .same : .valid)
            let inScale: Float = 0.02
            let outScale: Float = 0.1
            let input = Int8KernelTests.activation(
                shape, batch: Int.random(in: 1...2, using: &rng), zeroPoint: Int8KernelTests.zeroPoint(&rng),
                scale: inScale, &rng)
            let weights = (0..<(9 * channels * filters)).map { _ in Int8.random(in: -127...127, using: &rng) }
            // Multipliers 0.003...0.05 (inScale * weightScale / outScale).
            let weightScales = (0..<filters).map { _ in Float.random(in: 0.015...0.25, using: &rng) }
            floatColumns +=
                weightScales.filter {
                    let (mult, shift) = Requantization.multiplier(Double(inScale) * Double($0) / Double(outScale))
                    var f = cnnz_requant_float()
                    let col = cnnz_requant_float_column(zero_point: 0, min: -128, max: 127)
                    return cnnz_requant_float_find(mult, shift, [col], &f) == 1
                }.count
            let bias = (0..<filters).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let relu = trial % 3 == 0
            let clamp: ClosedRange<Int32> = relu ? outZero...127 : -128...127
            let tensors = Int8KernelTests.perChannelTensors(
                kernelShape: [3, 3, channels, filters], weights: weights, weightScales: weightScales, bias: bias,
                inputScale: inScale)
            let kind = LayerKind.conv2D(window: window, filters: filters, groups: 1, hasBias: true)
            let model = Int8KernelTests.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [Layer(kind: kind, activation: relu ? .plainReLU : .linear, inputs: [0], weights: [0, 1])],
                tensors: tensors, outputs: [ActivationQuantization(scale: outScale, zeroPoint: outZero)])
            let expected = Int8Reference.conv2D(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias, window: window,
                groups: 1, filters: filters, outputScale: Double(outScale), outputZeroPoint: outZero, clamp: clamp
            ).values
            for (threads, variant) in Int8KernelTests.runs {
                let got = try Int8KernelTests.run(model, input, threads: threads, variant: variant)
                #expect(
                    got == expected,
                    "trial \(trial) \(shape) \(kind) relu \(relu) zero point \(outZero) threads \(threads) \(variant)")
            }
        }
        #expect(floatColumns > 200, "columns with a float form: \(floatColumns)")
    }
}
