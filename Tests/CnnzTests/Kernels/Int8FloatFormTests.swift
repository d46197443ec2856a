import CInt8Kernels
import Testing

@testable import Cnnz

/// The float form of the AVX2 int8 output stage (`int8_requant_float.c`: a prepare-time search
/// for `f` and `c` such that `clamp(round(fma(Float(x), f, c)), min, max)` is the reference byte
/// for every int32 sum, a constant per sign where needed). The search against a plain Swift twin
/// of the form (`Float.addingProduct`, a fused multiply-add, rounded to nearest even) and the
/// reference requantization, at every level's threshold and its neighbours, the ends of Int32
/// and random sums; then the GEMM tiles and the depthwise rows with output stages drawn where it
/// finds forms (scales 0.002 to 0.05, zero points below the clamp's low bound for the split
/// form), against the reference; the vpmaddubsw GEMM too (it shares the tiles' store).
@Suite struct Int8FloatFormTests {
    /// The reference byte: requantized, the zero point added, clamped.
    static func reference(_ x: Int32, _ m: Int32, _ shift: Int32, _ col: cnnz_requant_float_column) -> Int32 {
        let v = Int64(Int8Reference.requantize(x, multiplier: m, shift: Int(shift))) + Int64(col.zero_point)
        return Int32(min(max(v, Int64(col.min)), Int64(col.max)))
    }

    /// The form's byte, as the kernels compute it (cvtdq2ps, vfmadd, cvtps2dq in round to nearest).
    static func form(_ x: Int32, _ f: cnnz_requant_float, _ col: cnnz_requant_float_column) -> Int32 {
        let c = x < 0 ? f.constant_negative : f.constant
        let y = c.addingProduct(Float(x), f.scale).rounded(.toNearestOrEven)
        return Int32(min(max(y, Float(col.min)), Float(col.max)))
    }

    /// A column drawn as a layer's: multiplier and shift from a real scale, a clamp that is
    /// ReLU-like (at the zero point) or lower (the split form).
    static func draw(_ rng: inout SplitMix64, scales: ClosedRange<Double>) -> (Int32, Int32, cnnz_requant_float_column)
    {
        let (m, shift) = Requantization.multiplier(Double.random(in: scales, using: &rng))
        let zero = Int32.random(in: -128...100, using: &rng)
        let low = Bool.random(using: &rng) ? zero : max(-128, zero - Int32.random(in: 1...100, using: &rng))
        let high = Bool.random(using: &rng) ? 127 : Int32.random(in: (zero + 1)...127, using: &rng)
        return (m, shift, cnnz_requant_float_column(zero_point: zero, min: low, max: high))
    }

    @Test func searchGivesTheReferenceByteForEverySum() {
        guard Int8GEMM.available.contains(.avx2) else { return }
        var rng = SplitMix64(seed: 4242)
        var found = 0
        var split = 0
        // A third at the scales where the search's check rejects most candidates (a float's 24
        // bits just enough): a form must then be found by that check, not by the interval alone.
        for trial in 0..<900 {
            let scales = [0.0001...0.5, 0.002...0.05, 0.0008...0.003][trial % 3]
            let (m, shift, col) = Self.draw(&rng, scales: scales)
            var f = cnnz_requant_float()
            guard cnnz_requant_float_find(m, shift, [col], &f) == 1 else { continue }
            found += 1
            if f.split != 0 { split += 1 }
            var xs: [Int32] = [.min, .min + 1, -1, 0, 1, .max - 1, .max]
            // Each level's threshold (by bisection on the reference) and its neighbours.
            for j in (col.min + 1)...max(col.min + 1, col.max) where col.min < col.max {
                var (lo, hi) = (Int64(Int32.min), Int64(Int32.max) + 1)
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if Self.reference(Int32(mid), m, shift, col) >= j { hi = mid } else { lo = mid + 1 }
                }
                for d in Int64(-2)...1 where lo + d >= Int64(Int32.min) && lo + d <= Int64(Int32.max) {
                    xs.append(Int32(lo + d))
                }
            }
            // Every sum near 0, where the split form changes constant.
            xs.append(contentsOf: -2048...2048)
            for _ in 0..<500 { xs.append(Int32.random(in: -300_000...300_000, using: &rng)) }
            for _ in 0..<100 { xs.append(Int32.random(in: .min ... .max, using: &rng)) }
            let wrong = xs.first { Self.form($0, f, col) != Self.reference($0, m, shift, col) }
            #expect(
                wrong == nil,
                "trial \(trial) m=\(m) shift=\(shift) zero \(col.zero_point) clamp \(col.min)...\(col.max) f=\(f.scale) c=\(f.constant),\(f.constant_negative) at \(wrong ?? 0)"
            )
        }
        // Realistic scales mostly have a form, and some need a constant per sign.
        #expect(found > 450 && split > 30, "found \(found) split \(split)")
    }

    @Test func gemmTilesInTheFloatFormMatchTheReference() {
        guard Int8GEMM.available.contains(.avx2) else { return }
        var rng = SplitMix64(seed: 77)
        var floatGroups = 0
        for trial in 0..<120 {
            let m = Int.random(in: 1...13, using: &rng)
            let n = Int.random(in: 1...40, using: &rng)
            let pairs = Int.random(in: 1...3, using: &rng)
            let base = Self.draw(&rng, scales: 0.002...0.05)
            let columns = (0..<n).map { _ in
                Requantization.multiplier(Double.random(in: 0.002...0.05, using: &rng))
            }
            let multiplier = columns.map(\.0)
            let shift = columns.map(\.1)
            let col = base.2
            let bias = (0..<n).map { _ in Int32.random(in: -20000...20000, using: &rng) }
            let w = (0..<(2 * pairs * n)).map { _ in Int16.random(in: -128...127, using: &rng) }
            let a = (0..<(2 * pairs * m)).map { _ in Int16.random(in: -255...255, using: &rng) }
            var packed = [Int16](repeating: 0, count: (n + 7) / 8 * pairs * 16)
            for j in 0..<n {
                for k in 0..<(2 * pairs) { packed[((j / 8) * pairs + k / 2) * 16 + (j % 8) * 2 + k % 2] = w[k * n + j] }
            }
            var expected = [Int8](repeating: 0, count: m * n)
            for r in 0..<m {
                for j in 0..<n {
                    var sum = bias[j]
                    for k in 0..<(2 * pairs) { sum &+= Int32(a[r * 2 * pairs + k]) * Int32(w[k * n + j]) }
                    expected[r * n + j] = Int8(Self.reference(sum, multiplier[j], shift[j], col))
                }
            }
            for g in stride(from: 0, to: n, by: 16) {
                var f = cnnz_requant_float()
                if (g..<min(g + 16, n)).allSatisfy({
                    cnnz_requant_float_find(multiplier[$0], shift[$0], [col], &f) == 1
                }) {
                    floatGroups += 1
                }
            }
            withQS8Output(
                bias: bias, multiplier: multiplier, shift: shift, zeroPoint: col.zero_point, low: col.min,
                high: col.max, table: nil
            ) { out in
                var words = [UInt64](repeating: 0, count: cnnz_qs8_store_avx2_bytes(n) / 8 + 4)
                words.withUnsafeMutableBytes { raw in
                    let base = raw.baseAddress!
                    let stage = base + (32 - Int(bitPattern: base) % 32) % 32
                    cnnz_qs8_store_avx2_prepare(n, &out, stage, 1)
                    var c = [Int8](repeating: 0, count: m * n)
                    cnnz_qs8_gemm_avx2(m, n, pairs, a, 2 * pairs, packed, stage, &out, &c, n)
                    #expect(c == expected, "trial \(trial) m=\(m) n=\(n) pairs \(pairs) clamp \(col)")
                    // The vpmaddubsw GEMM (its store is the same tiles'): one group of 4 rows of
                    // k, the first value of each, bytes by 7-bit weights.
                    let x7 = a.map { UInt8(truncatingIfNeeded: abs(Int($0))) }
                    let w7 = w.map { Int8(clamping: $0 / 2) }
                    var packed7 = [Int8](repeating: 0, count: (n + 15) / 16 * 64)
                    for j in 0..<n { packed7[(j / 16) * 64 + (j % 16) * 4] = w7[j] }
                    var a7 = [UInt8](repeating: 0, count: m * 4)
                    for r in 0..<m { a7[r * 4] = x7[r * 2 * pairs] }
                    var expected7 = [Int8](repeating: 0, count: m * n)
                    for r in 0..<m {
                        for j in 0..<n {
                            let sum = bias[j] &+ Int32(a7[r * 4]) * Int32(w7[j])
                            expected7[r * n + j] = Int8(Self.reference(sum, multiplier[j], shift[j], col))
                        }
                    }
                    var c7 = [Int8](repeating: 0, count: m * n)
                    cnnz_qu8_gemm_4x16c4__avx2_maddubs(m, n, 1, a7, 4, packed7, stage, &out, &c7, n)
                    #expect(c7 == expected7, "maddubs trial \(trial) m=\(m) n=\(n) clamp \(col)")
                }
            }
        }
        #expect(floatGroups > 60, "groups in the float form: \(floatGroups)")
    }

    @Test func depthwiseRowsInTheFloatFormMatchTheReference() throws {
        guard Int8GEMM.available.contains(.avx2) else { return }
        var rng = SplitMix64(seed: 919)
        var floatBlocks = 0
        for trial in 0..<40 {
            let n = [8, 16, 17, 24, 33][trial % 5]
            let (sh, sw) = (trial % 2 + 1, (trial / 2) % 2 + 1)
            let (height, width) = (Int.random(in: 3...9, using: &rng), Int.random(in: 3...11, using: &rng))
            let outHeight = (height + 2 - 3) / sh + 1
            let outWidth = (width + 2 - 3) / sw + 1
            // Small values: sums near the thresholds rather than saturated.
            let image = (0..<(height * width * n)).map { _ in Int8.random(in: -40...40, using: &rng) }
            let weights = (0..<(9 * n)).map { _ in Int8.random(in: -60...60, using: &rng) }
            let bias = (0..<n).map { _ in Int32.random(in: -3000...3000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.003...0.03, using: &rng) }
            let inputZero = Int32.random(in: -20...20, using: &rng)
            let outputZero = Int32.random(in: -128...0, using: &rng)
            let activation = Int8DepthwiseRowReference.activation(trial % 2, outputZero: outputZero)
            let stage = try Int8PackedWeights(
                k: 0, n: n, element: { _, _ in 0 }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                activation: activation)
            let col = cnnz_requant_float_column(
                zero_point: stage.output.zero_point, min: stage.output.min, max: stage.output.max)
            for g in stride(from: 0, to: n - 7, by: 8) {
                var f = cnnz_requant_float()
                if (g..<g + 8).allSatisfy({
                    cnnz_requant_float_find(stage.output.multiplier![$0], stage.output.shift![$0], [col], &f) == 1
                }) {
                    floatBlocks += 1
                }
            }
            var packed = [Int16](repeating: 0, count: cnnz_qs8_dwconv_8c2_packed_count(3, 3, n))
            cnnz_qs8_dwconv_8c2_pack(3, 3, n, weights, &packed)
            var packedStage = [Int32](repeating: 0, count: cnnz_qs8_dwconv_8c2_stage_count(n))
            withUnsafePointer(to: stage.output) { out in
                cnnz_qs8_dwconv_8c2_pack_stage(3, 3, n, weights, inputZero, out, &packedStage)
            }
            var window = cnnz_qs8_window(
                height: height, width: width, channels: n, kernel_height: 3, kernel_width: 3, stride_height: sh,
                stride_width: sw, dilation_height: 1, dilation_width: 1, pad_top: 1, pad_left: 1,
                out_width: outWidth, group_offset: 0, group_channels: n)
            let scratchBytes = cnnz_qs8_dwconv_8c2_rows_bytes(&window)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 16)
            defer { scratch.deallocate() }
            let rows = scratch.bindMemory(to: Int16.self, capacity: scratchBytes / 2)
            var expected: [Int8] = []
            for oy in 0..<outHeight {
                expected += Int8DepthwiseRowReference.row(
                    oy, window, image: image, weights: weights, bias: bias, reals: reals, inputZero: inputZero,
                    activation: activation)
            }
            var c = [Int8](repeating: 0, count: outHeight * outWidth * n)
            withUnsafePointer(to: stage.output) { out in
                cnnz_qs8_dwconv_row_8c2__avx2(
                    image, &window, 0, outHeight, packed, packedStage, inputZero, rows, out, &c)
            }
            #expect(c == expected, "trial \(trial) n=\(n) \(height)x\(width) stride \(sh),\(sw) zero \(outputZero)")
        }
        #expect(floatBlocks > 40, "blocks in the float form: \(floatBlocks)")
    }

    /// The 512-bit VNNI depthwise rows (`cnnz_qu8_dwconv_row_16c4__avx512vnni`) with the float
    /// forms of its packing's stage (`cnnz_qu8_store_vnni512_prepare`), against the reference: channel counts that miss
    /// the blocks of 16, odd widths, 3x3 windows at strides 1 and 2 (its sliding path, one row or
    /// two), other windows (its general path), padding on either side or none, ReLU6 and linear
    /// (the split form where the clamp is below the zero point).
    @Test func vnniDepthwiseRowsInTheFloatFormMatchTheReference() throws {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 4711)
        var (floatBlocks, splitBlocks) = (0, 0)
        for trial in 0..<48 {
            let n = [5, 16, 17, 24, 33, 48][trial % 6]
            let square = trial % 4 != 3
            let (kh, kw) = square ? (3, 3) : (Int.random(in: 1...5, using: &rng), Int.random(in: 1...5, using: &rng))
            let (sh, sw) = (Int.random(in: 1...2, using: &rng), (trial / 2) % 2 + 1)
            let (padTop, padLeft) = (Int.random(in: 0..<kh, using: &rng), Int.random(in: 0..<kw, using: &rng))
            let (padBottom, padRight) = (Int.random(in: 0..<kh, using: &rng), Int.random(in: 0..<kw, using: &rng))
            let height = max(Int.random(in: 1...7, using: &rng), kh - padTop - padBottom)
            let width = max([1, 3, 5, 7, 11, 13][Int.random(in: 0..<6, using: &rng)], kw - padLeft - padRight)
            let outHeight = (height + padTop + padBottom - kh) / sh + 1
            let outWidth = (width + padLeft + padRight - kw) / sw + 1
            let image = (0..<(height * width * n)).map { _ in Int8.random(in: -40...40, using: &rng) }
            let weights = (0..<(kh * kw * n)).map { _ in Int8.random(in: -60...60, using: &rng) }
            let bias = (0..<n).map { _ in Int32.random(in: -3000...3000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.003...0.03, using: &rng) }
            let inputZero = Int32.random(in: -20...20, using: &rng)
            let outputZero = Int32.random(in: -128...0, using: &rng)
            let activation = Int8DepthwiseRowReference.activation(trial % 2, outputZero: outputZero)
            let packed = try DepthwiseConv2DInt8.vnniWeights(
                kernelHeight: kh, kernelWidth: kw, channels: n, weight: { weights[$0] }, bias: { bias[$0] },
                realMultiplier: { reals[$0] }, activation: activation, inputZeroPoint: inputZero)
            let stage = packed.stage!
            for g in stride(from: 0, to: n, by: 16) {
                // Each block's form: the int32 after its 48 floats (1, or 2 split; 0 none).
                let form = stage.load(fromByteOffset: g * 16 + 192, as: Int32.self)
                if form != 0 { floatBlocks += 1 }
                if form == 2 { splitBlocks += 1 }
            }
            var window = cnnz_qs8_window(
                height: height, width: width, channels: n, kernel_height: kh, kernel_width: kw, stride_height: sh,
                stride_width: sw, dilation_height: 1, dilation_width: 1, pad_top: padTop, pad_left: padLeft,
                out_width: outWidth, group_offset: 0, group_channels: n)
            var expected: [Int8] = []
            for oy in 0..<outHeight {
                expected += Int8DepthwiseRowReference.row(
                    oy, window, image: image, weights: weights, bias: bias, reals: reals, inputZero: inputZero,
                    activation: activation)
            }
            var padding = [Int8](repeating: 0, count: width * n)
            // Two rows a call (one for the last where the count is odd), and one a call.
            for rowsPerCall in [2, 1] {
                var c = [Int8](repeating: 0, count: outHeight * outWidth * n)
                for oy in stride(from: 0, to: outHeight, by: rowsPerCall) {
                    let count = min(rowsPerCall, outHeight - oy)
                    c.withUnsafeMutableBufferPointer { out in
                        withUnsafePointer(to: packed.output) { o in
                            cnnz_qu8_dwconv_row_16c4__avx512vnni(
                                image, &window, oy, count, packed.panels.assumingMemoryBound(to: Int8.self), stage,
                                inputZero, &padding, o, out.baseAddress! + oy * outWidth * n)
                        }
                    }
                }
                #expect(
                    c == expected,
                    "trial \(trial) n=\(n) \(height)x\(width) kernel \(kh)x\(kw) stride \(sh),\(sw) pad \(padTop),\(padLeft) zero \(outputZero) rows per call \(rowsPerCall)"
                )
            }
        }
        #expect(floatBlocks > 60 && splitBlocks > 5, "blocks in the float form: \(floatBlocks), split \(splitBlocks)")
    }
}
