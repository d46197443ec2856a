import CInt8Kernels
import Foundation
import Testing

@testable import Cnnz

/// Int8KernelTests' GEMM variants against a plain loop, and the quantize and requantization
/// helpers against the reference.
extension Int8KernelTests {
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
                // Counts about the AVX2 loop's 32 and 8 values a pass, from an offset that misses
                // them; nothing written past the count.
                for count in [0, 1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 71] where 3 + count <= xs.count {
                    var part = [Int8](repeating: 99, count: count + 1)
                    Array(xs[3..<(3 + count)]).withUnsafeBufferPointer {
                        cnnz_qs8_quantize(level, count, $0.baseAddress, scale, zeroPoint, &part)
                    }
                    #expect(
                        part == Array(expected[3..<(3 + count)]) + [99], "level \(level) count \(count)")
                }
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
