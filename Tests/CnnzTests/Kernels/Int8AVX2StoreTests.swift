import CInt8Kernels
import Testing

@testable import Cnnz

/// The AVX2 int16 GEMM's store (`int8_tile_avx2.h`: constants per panel, the short form's one
/// 64-bit floor by a logical shift, four rows narrowed together, partial panels stored whole over
/// later rows) against the reference's requantization, over the values where a folded rounding
/// could go wrong (Int8VNNIStoreTests' sums at and next to the ties for right shifts 1...31,
/// `Int32.min` and `.max`, left shifts, multipliers from 2^30 to `Int32.max`, zero points and
/// clamps at both ends), with and without an activation table. Rows 2...13 and columns 1...40
/// cover the 4-row tiles, 8- and 16-column panel groups and their partial forms. Rows `n` apart
/// (whole stores over the next row) and `n + 3` apart (exact stores): the gap and the bytes past
/// the last row must stay untouched. Each trial runs the int16 GEMM (`cnnz_qs8_gemm_avx2`) and the
/// 7-bit `vpmaddubsw` GEMM (`cnnz_qu8_gemm_4x16c4__avx2_maddubs`, which shares the store), with
/// the constants prepared as the engine prepares them with the weights (`cnnz_qs8_store_avx2_prepare`).
@Suite struct Int8AVX2StoreTests {
    @Test func avx2StoreIsTheReferenceRequantization() {
        guard Int8GEMM.available.contains(.avx2) else { return }
        var rng = SplitMix64(seed: 3031)
        for trial in 0..<600 {
            let shortForm = trial % 2 == 0
            let m = Int.random(in: 2...13, using: &rng)
            let n = Int.random(in: 1...40, using: &rng)
            // One pair of k: column j's weight w[j] on the first value, 0 on the second.
            let w = (0..<n).map { _ in Bool.random(using: &rng) ? 0 : Int16.random(in: -128...127, using: &rng) }
            let x = (0..<m).map { _ in Int16.random(in: -255...255, using: &rng) }
            // The maddubs GEMM's: activations 0...255 (bytes), weights that fit vpmaddubsw.
            let w7 = w.map { Int8(clamping: $0 / 2) }
            let x7 = x.map { UInt8(truncatingIfNeeded: abs(Int($0))) }
            let shift = (0..<n).map { _ -> Int32 in
                if shortForm {
                    if Int.random(in: 0..<40, using: &rng) == 0 { return [0, -24][trial % 4 / 2] }
                    return -Int32([1, 23, Int.random(in: 1...23, using: &rng)][Int.random(in: 0...2, using: &rng)])
                }
                return Int32(trial % 7 == 0 ? Int.random(in: 0...3, using: &rng) : -Int.random(in: 0...31, using: &rng))
            }
            let draw = Int8StoreDraw(trial: trial, shift: shift, rng: &rng)
            let table = trial % 11 == 10 ? (0..<256).map { _ in Int8.random(in: .min ... .max, using: &rng) } : nil
            var packed = [Int16](repeating: 0, count: (n + 7) / 8 * 16)
            for j in 0..<n { packed[(j / 8) * 16 + (j % 8) * 2] = w[j] }
            var a = [Int16](repeating: 0, count: m * 2)
            for r in 0..<m { a[r * 2] = x[r] }
            var packed7 = [Int8](repeating: 0, count: (n + 15) / 16 * 64)
            for j in 0..<n { packed7[(j / 16) * 64 + (j % 16) * 4] = w7[j] }
            var a7 = [UInt8](repeating: 0, count: m * 4)
            for r in 0..<m { a7[r * 4] = x7[r] }
            let ldc = trial % 3 == 2 ? n + 3 : n
            let untouched = [Int8](repeating: 99, count: m * ldc + 32)
            func expected(_ sum: (Int, Int) -> Int32) -> [Int8] {
                var e = untouched
                for r in 0..<m {
                    for j in 0..<n {
                        let q = draw.expected(sum(r, j), column: j)
                        e[r * ldc + j] = table.map { $0[Int(q) + 128] } ?? q
                    }
                }
                return e
            }
            let expected16 = expected { r, j in Int32(x[r]) &* Int32(w[j]) }
            let expected7 = expected { r, j in Int32(x7[r]) &* Int32(w7[j]) }
            draw.withOutput(table: table) { out in
                // The stage wants 32-byte alignment: from the first such byte of the buffer.
                var words = [UInt64](repeating: 0, count: cnnz_qs8_store_avx2_bytes(n) / 8 + 4)
                words.withUnsafeMutableBytes { raw in
                    let base = raw.baseAddress!
                    let stage = base + (32 - Int(bitPattern: base) % 32) % 32
                    cnnz_qs8_store_avx2_prepare(n, &out, stage, 1)
                    var c = untouched
                    cnnz_qs8_gemm_avx2(m, n, 1, a, 2, packed, stage, &out, &c, ldc)
                    var c7 = untouched
                    cnnz_qu8_gemm_4x16c4__avx2_maddubs(m, n, 1, a7, 4, packed7, stage, &out, &c7, ldc)
                    #expect(
                        c == expected16 && c7 == expected7,
                        """
                        trial \(trial) int16 \(c == expected16) maddubs \(c7 == expected7) m=\(m) n=\(n) \
                        ldc=\(ldc) zero point \(draw.zeroPoint) clamp \(draw.low)...\(draw.high) \
                        table \(table != nil) shifts \(shift) multipliers \(draw.multiplier) biases \(draw.bias)
                        """)
                }
            }
        }
    }
}
