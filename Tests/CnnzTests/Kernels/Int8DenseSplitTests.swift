import Testing

@testable import Cnnz

/// Int8 Dense layers with fewer rows than threads have blocks of 8 (batch 1) split between
/// threads by panels of 16 output columns (`Conv2DInt8.columnShare`): each part runs the GEMM on
/// its columns alone (`Int8PackedWeights.withColumns`: the panels, the prepared stage and the
/// per-column arrays from the part's first column). The split must give the whole GEMM's bytes
/// and the reference's, on every variant this CPU has.
@Suite struct Int8DenseSplitTests {
    /// The GEMM on column ranges cut at random multiples of 16 gives the bytes of the GEMM on all
    /// the columns, and both those of a plain loop: every variant, with and without the 512-bit
    /// stage's float forms, a clamp or an activation table, rows around the tiles' 1, 2, 4 and 8.
    @Test func gemmOnColumnRangesGivesTheWholeMatrixBytes() throws {
        var rng = SplitMix64(seed: 4242)
        for trial in 0..<40 {
            let m = [1, 1, 2, 3, 5, 8, 9, 17][trial % 8]
            let n = Int.random(in: 17...(trial % 2 == 0 ? 80 : 300), using: &rng)
            let k = Int.random(in: 1...(trial % 3 == 0 ? 40 : 500), using: &rng)
            let range: ClosedRange<Int8> = trial % 2 == 1 ? -64...63 : -127...127
            let w = (0..<(k * n)).map { _ in Int8.random(in: range, using: &rng) }
            let bias = (0..<n).map { _ in Int32.random(in: -40000...40000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.0001...0.02, using: &rng) }
            let inputZero = [-128, 127, 0, Int32.random(in: -128...127, using: &rng)][trial % 4]
            let zero = Int32.random(in: -128...127, using: &rng)
            let quantization = ActivationQuantization(
                scale: 1 / 256, zeroPoint: -128, preActivationScale: 1, preActivationZeroPoint: zero)
            let activation: Cnnz.Activation = [.linear, .plainReLU, .sigmoid][trial % 3]
            let stage = Int8Activation(
                activation,
                output: activation == .sigmoid ? quantization : ActivationQuantization(scale: 1, zeroPoint: zero))
            let q = (0..<(m * k)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            var expected = [Int8](repeating: 0, count: m * n)
            for r in 0..<m {
                for j in 0..<n {
                    var sum = bias[j]
                    for c in 0..<k { sum &+= (Int32(q[r * k + c]) - inputZero) * Int32(w[c * n + j]) }
                    let byte = Int8Reference.clamp(Int8Reference.scaled(sum, by: reals[j]) + zero, stage.bounds)
                    expected[r * n + j] = stage.table.map { $0[Int(byte) + 128] } ?? byte
                }
            }
            // Cuts at multiples of 16: 2 to 4 ranges, some of one panel, the last one partial.
            let panels = (n + 15) / 16
            var cuts = Set(
                (0..<Int.random(in: 1...3, using: &rng)).map { _ in Int.random(in: 1..<panels, using: &rng) })
            cuts.formUnion([0, panels])
            let bounds = cuts.sorted().map { min(n, $0 * 16) }
            let ranges = zip(bounds, bounds.dropFirst()).map { $0..<$1 }
            for variant in Int8GEMM.available {
                if variant == .avx2Maddubs
                    && Int8GEMM.variant(variant, k: k, n: n, element: { w[$0 * n + $1] }) != variant
                {
                    continue
                }
                for floatForms in [false, true] {
                    let packed = try Int8PackedWeights(
                        k: k, n: n, element: { w[$0 * n + $1] }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                        activation: stage, variant: variant, inputZeroPoint: inputZero, floatForms: floatForms)
                    var whole = [Int8](repeating: 0, count: m * n)
                    var split = [Int8](repeating: 0x55, count: m * n)
                    if variant.isVNNI {
                        let lda = 4 * packed.kGroups
                        var a = [UInt8](repeating: 0xA5, count: m * lda)
                        for r in 0..<m { for c in 0..<k { a[r * lda + c] = UInt8(bitPattern: q[r * k + c]) ^ 0x80 } }
                        Int8GEMM.runVNNI(variant, m: m, a: a, lda: lda, weights: packed, c: &whole, ldc: n)
                        for columns in ranges {
                            Int8GEMM.runVNNI(
                                variant, m: m, a: a, lda: lda, weights: packed, c: &split, ldc: n, columns: columns)
                        }
                    } else {
                        let lda = 2 * packed.kPairs
                        var a = [Int16](repeating: 0, count: m * lda)
                        for r in 0..<m { for c in 0..<k { a[r * lda + c] = Int16(q[r * k + c]) - Int16(inputZero) } }
                        Int8GEMM.run(variant, m: m, a: a, lda: lda, weights: packed, c: &whole, ldc: n)
                        for columns in ranges {
                            Int8GEMM.run(
                                variant, m: m, a: a, lda: lda, weights: packed, c: &split, ldc: n, columns: columns)
                        }
                    }
                    let wrong = zip(split, whole).filter { $0 != $1 }.count
                    #expect(
                        whole == expected && wrong == 0,
                        "trial \(trial) \(variant) floatForms \(floatForms) \(activation.name) m=\(m) n=\(n) k=\(k) zero \(inputZero) ranges \(ranges): \(wrong) bytes of the split differ, whole \(whole == expected ? "right" : "wrong")"
                    )
                }
            }
        }
    }

    /// Int8 Dense layers (seed002's 400 -> 750 -> 250 among them) at batch 1 to 3 on 1 to 4
    /// threads, every layer split (`fixedSplit = .every`): the reference's bytes, the same on
    /// every thread count; and the split really is by columns (one part per thread, each with a
    /// column range, disjoint, covering the output).
    @Test func denseLayersSplitByColumnsGiveTheReferencesBytes() throws {
        var rng = SplitMix64(seed: 750)
        let shapes = [(400, 750), (750, 250), (2048, 256), (37, 17), (100, 33), (5, 64), (300, 100), (64, 48)]
        for trial in 0..<16 {
            let (inputs, units) = shapes[trial % shapes.count]
            let batch = [1, 1, 2, 3][trial % 4]
            let shape = TensorShape(height: 1, width: 1, channels: inputs)
            let inScale = Float.random(in: 0.005...0.05, using: &rng)
            let input = Int8KernelTests.activation(
                shape, batch: batch, zeroPoint: Int8KernelTests.zeroPoint(&rng), scale: inScale, &rng)
            let range: ClosedRange<Int8> = trial % 2 == 1 ? -64...63 : -127...127
            let weights = (0..<(inputs * units)).map { _ in Int8.random(in: range, using: &rng) }
            let weightScales = (0..<units).map { _ in Float.random(in: 0.0005...0.005, using: &rng) }
            let bias = (0..<units).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let outScale = Float.random(in: 0.02...0.3, using: &rng)
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let activation: Cnnz.Activation = [.linear, .plainReLU, .sigmoid][trial % 3]
            var output = ActivationQuantization(scale: outScale, zeroPoint: outZero)
            let clamp: ClosedRange<Int32> =
                activation == .plainReLU
                ? Int8KernelTests.reluClamp(maxValue: nil, scale: outScale, zeroPoint: outZero) : -128...127
            if activation == .sigmoid {
                output = ActivationQuantization(
                    scale: 1 / 256, zeroPoint: -128, preActivationScale: outScale, preActivationZeroPoint: outZero)
            }
            let tensors = Int8KernelTests.perChannelTensors(
                kernelShape: [inputs, units], weights: weights, weightScales: weightScales, bias: bias,
                inputScale: inScale)
            let model = Int8KernelTests.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [
                    Layer(
                        kind: .dense(units: units, hasBias: true), activation: activation, inputs: [0], weights: [0, 1])
                ], tensors: tensors, outputs: [output])
            var expected = Int8Reference.conv2D(
                input, weights: weights, weightScales: weightScales.map(Double.init), bias: bias,
                window: Window(kernelHeight: 1, kernelWidth: 1), groups: 1, filters: units,
                outputScale: Double(outScale), outputZeroPoint: outZero, clamp: clamp
            ).values
            if activation == .sigmoid {
                let table = Int8Activation.table(.sigmoid, input: output.preActivation, output: output)
                expected = expected.map { table[Int($0) + 128] }
            }
            let panels = (units + 15) / 16
            for variant in Int8GEMM.available {
                let dense = try #require(
                    try Int8GEMM.$forced.withValue(variant) { try Model(model) }.plan.kernels.lazy.compactMap {
                        $0 as? DenseInt8
                    }.first)
                var one: [Int8] = []
                for threads in 1...4 {
                    let got = try Int8KernelTests.run(model, input, threads: threads, variant: variant)
                    if threads == 1 { one = got }
                    let wrong = zip(got, expected).filter { $0 != $1 }.count
                    let context =
                        "trial \(trial): \(inputs) -> \(units) x\(batch) \(activation.name), \(variant), \(threads) threads"
                    #expect(
                        wrong == 0 && got.count == expected.count && got == one,
                        "\(context): \(wrong) of \(expected.count) bytes differ from the reference, \(got == one ? "same as" : "not") 1 thread's"
                    )
                    // What the session split: one part per thread where there are panels for each.
                    let parts = LayerSplit.parts(
                        dense.workload(batch: batch), activationBytes: 1, threads: threads, minimumWork: 1,
                        choice: .every)
                    #expect(parts == min(threads, panels), "\(context): \(parts) parts for \(panels) panels")
                    guard parts > 1 else { continue }
                    let shares = (0..<parts).compactMap {
                        dense.convolution.columnShare(rows: batch, part: $0, of: parts)
                    }
                    let covered = shares.reduce(0) { $0 + $1.count }
                    #expect(
                        shares.count == parts && covered == units && shares.first?.lowerBound == 0
                            && zip(shares, shares.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound },
                        "\(context): column shares \(shares)")
                }
            }
        }
    }
}
