import CInt8Kernels
import Testing

@testable import Cnnz

/// The float form proved on a column's reachable sums only (`cnnz_requant_float_find_in`,
/// `Int8PackedWeights.sumBounds`): first layers' few taps bound their sums to a few hundred
/// thousand, where a float's 24 bits place every level even for scales that leave no form on all
/// of int32. The search against the reference at every level's threshold inside the bounds and
/// its neighbours, the bounds' ends, every sum near 0 and random ones, on bounds drawn as first
/// layers' (bias plus K * 255 * 127 either way, K from 3 to 64, or all on one side of 0); then
/// first-layer convolutions (3x3 and 2x2 on 1 to 3 channels, stride 1 and 2, "same" and "valid",
/// the pixel-lane, row and im2col paths) with such scales through the engine against the integer
/// reference, every variant, 1 to 3 threads.
@Suite struct Int8FloatFormBoundsTests {
    @Test func boundedSearchGivesTheReferenceByteInsideTheBounds() {
        guard Int8GEMM.available.contains(.avx2) else { return }
        var rng = SplitMix64(seed: 9090)
        var (found, onlyBounded) = (0, 0)
        for trial in 0..<600 {
            let scales = [0.00005...0.002, 0.0002...0.01, 0.002...0.05][trial % 3]
            let (m, shift, col) = Int8FloatFormTests.draw(&rng, scales: scales)
            let k = Int64.random(in: 3...64, using: &rng)
            let bias = Int64.random(in: -300_000...300_000, using: &rng)
            var low = bias - k * 255 * Int64.random(in: 0...127, using: &rng)
            var high = bias + k * 255 * Int64.random(in: 0...127, using: &rng)
            if trial % 5 == 4 { (low, high) = (max(low, 1), max(high, 2)) }  // every sum above 0
            if trial % 7 == 6 { (low, high) = (min(low, -2), min(high, -1)) }  // every sum below 0
            let (lo, hi) = (Int32(low), Int32(high))
            var f = cnnz_requant_float()
            guard cnnz_requant_float_find_in(m, shift, [col], lo, hi, &f) == 1 else { continue }
            found += 1
            var whole = cnnz_requant_float()
            if cnnz_requant_float_find(m, shift, [col], &whole) == 0 { onlyBounded += 1 }
            var xs: [Int32] = [lo, lo &+ 1, hi &- 1, hi]
            for j in (col.min + 1)...max(col.min + 1, col.max) where col.min < col.max {
                var (a, b) = (low, high + 1)
                while a < b {
                    let mid = (a + b) >> 1
                    if Int8FloatFormTests.reference(Int32(mid), m, shift, col) >= j { b = mid } else { a = mid + 1 }
                }
                for d in Int64(-2)...1 where a + d >= low && a + d <= high { xs.append(Int32(a + d)) }
            }
            xs.append(contentsOf: (-2048...2048).filter { $0 >= lo && $0 <= hi })
            for _ in 0..<1000 { xs.append(Int32.random(in: lo...hi, using: &rng)) }
            let wrong = xs.first {
                Int8FloatFormTests.form($0, f, col) != Int8FloatFormTests.reference($0, m, shift, col)
            }
            #expect(
                wrong == nil,
                """
                trial \(trial) m=\(m) shift=\(shift) zero \(col.zero_point) clamp \(col.min)...\(col.max) \
                sums \(lo)...\(hi) f=\(f.scale) c=\(f.constant),\(f.constant_negative) at \(wrong ?? 0)
                """)
        }
        // The bounds pay: forms found where all of int32 has none.
        // (Few: what a float misses is mostly the 255 levels' thresholds, which these bounds still
        // hold, rather than large sums.)
        #expect(found > 400 && onlyBounded > 5, "found \(found), only on the bounds \(onlyBounded)")
    }

    @Test func firstLayersWithBoundedFormsMatchTheReference() throws {
        var rng = SplitMix64(seed: 3131)
        var boundedColumns = 0
        // Pixel-lane layers whose channels take both forms (the store's mixed kinds).
        var mixed = 0
        for trial in 0..<36 {
            // Every third trial a 3x3 pixel-lane layer of 12 filters on 3 channels (K 27, sums that
            // reach every level) at scales where some channels have no form: the mixed kinds.
            let boundary = trial % 3 == 0
            let channels = boundary ? 3 : [3, 3, 1, 2][trial % 4]
            let filters = boundary ? 12 : [12, 32, 16, 8, 4, 5][trial % 6]
            let size = boundary ? 3 : [2, 2, 3, 3][trial % 4]
            // (Those widths fill the pixel-lane blocks well enough for it to run.)
            let widths = boundary ? [14...18, 28...34][trial % 2] : size...37
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
            let outScale: Float = boundary ? 0.5 : Float.random(in: 0.2...1.5, using: &rng)
            let weightScales = (0..<filters).map { _ in
                boundary
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
            // Columns whose form exists only on their bounds (as the engine computes them).
            let bounds = weights.withUnsafeBufferPointer {
                Int8PackedWeights.sumBounds(
                    k: k, n: filters, weights: $0.baseAddress!, rowStride: filters, bias: { bias[$0] },
                    inputZeroPoint: input.zeroPoint)
            }
            let col = cnnz_requant_float_column(zero_point: outZero, min: clamp.lowerBound, max: clamp.upperBound)
            var formed = 0
            for j in 0..<filters {
                let (mult, shift) = Requantization.multiplier(
                    Double(inScale) * Double(weightScales[j]) / Double(outScale))
                var f = cnnz_requant_float()
                if cnnz_requant_float_find(mult, shift, [col], &f) == 0
                    && cnnz_requant_float_find_in(mult, shift, [col], bounds.low[j], bounds.high[j], &f) == 1
                {
                    boundedColumns += 1
                }
                if cnnz_requant_float_find_in(mult, shift, [col], bounds.low[j], bounds.high[j], &f) == 1 {
                    formed += 1
                }
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
            let runs = [1, 2, 3].flatMap { threads in Int8GEMM.available.map { (threads, $0) } }
            for (threads, variant) in runs {
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
        #expect(boundedColumns >= 60, "columns with a form only on their bounds: \(boundedColumns)")
        #expect(mixed >= 2, "pixel-lane layers with channels of both forms: \(mixed)")
    }
}
