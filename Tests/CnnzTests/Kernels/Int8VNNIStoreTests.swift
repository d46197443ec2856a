import CInt8Kernels
import Testing

@testable import Cnnz

/// The 512-bit VNNI GEMM's store (`int8_vnni_store.h`: one 64-bit rounding instead of
/// the reference's two, four rows narrowed together) against the reference's
/// requantization, over the values where a folded rounding could go wrong: sums at
/// and next to every rounding tie for right shifts 1...31, both signs, `Int32.min`
/// and `.max` (wrapping bias), left shifts, multipliers from 2^30 to `Int32.max`,
/// zero points and clamps at both ends. Row counts 1...13 and column counts 1...40
/// cover the tiles' 4-row groups, 8-row strips and partial panels; the output rows
/// are `n + 3` apart and the gap must stay untouched.
@Suite struct Int8VNNIStoreTests {
    @Test func vnni512StoreIsTheReferenceRequantization() {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 2026)
        Self.check(trials: 300, rows: 1...13, rng: &rng) { trial, rng in
            Int32(trial % 7 == 0 ? Int.random(in: 0...3, using: &rng) : -Int.random(in: 0...31, using: &rng))
        }
    }

    /// The store's short form (`requant16_fast`: the zero point in the 64-bit constant, no
    /// vpermt2d), which a tile takes when every column of its panels shifts right by 1...23:
    /// with and without the negative ties' correction (clamps below the zero point and not),
    /// and next to it panels with one column outside (0 or -24: the general form).
    @Test func vnni512StoreShortFormIsTheReferenceRequantization() {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 2027)
        Self.check(trials: 300, rows: 3...13, rng: &rng) { trial, rng in
            if trial % 5 == 4 && Int.random(in: 0..<24, using: &rng) == 0 { return [0, -24][trial % 2] }
            return -Int32([1, 23, Int.random(in: 1...23, using: &rng)][Int.random(in: 0...2, using: &rng)])
        }
    }

    /// Trials of cnnz_qu8_gemm_vnni512 with m in `rows`, column shifts from `shiftOf`.
    static func check(
        trials: Int, rows: ClosedRange<Int>, rng: inout SplitMix64,
        shiftOf: (Int, inout SplitMix64) -> Int32
    ) {
        for trial in 0..<trials {
            let m = Int.random(in: rows, using: &rng)
            let n = Int.random(in: 1...40, using: &rng)
            // One group of 4 rows of k: column j's weight w[j] in row 0, the others 0. Columns
            // with a weight of 0 have sums of exactly their bias.
            let w = (0..<n).map { _ in Bool.random(using: &rng) ? 0 : Int8.random(in: -128...127, using: &rng) }
            let aBytes = (0..<m).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let shift = (0..<n).map { _ in shiftOf(trial, &rng) }
            let draw = Int8StoreDraw(trial: trial, shift: shift, rng: &rng)
            var packed = [Int8](repeating: 0, count: (n + 15) / 16 * 64)
            for j in 0..<n { packed[(j / 16) * 64 + (j % 16) * 4] = w[j] }
            var a = [UInt8](repeating: 0, count: m * 4)
            for r in 0..<m { a[r * 4] = aBytes[r] }
            let ldc = n + 3
            var c = [Int8](repeating: 99, count: m * ldc)
            var expected = c
            for r in 0..<m {
                for j in 0..<n { expected[r * ldc + j] = draw.expected(Int32(aBytes[r]) &* Int32(w[j]), column: j) }
            }
            draw.withOutput(table: nil) { out in cnnz_qu8_gemm_vnni512(m, n, 1, a, 4, packed, nil, &out, &c, ldc) }
            #expect(
                c == expected,
                "trial \(trial) m=\(m) n=\(n) zero point \(draw.zeroPoint) clamp \(draw.low)...\(draw.high) shifts \(shift) multipliers \(draw.multiplier) biases \(draw.bias)"
            )
        }
    }
}
