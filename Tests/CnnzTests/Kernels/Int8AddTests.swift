import CInt8Kernels
import Testing

@testable import Cnnz

/// The two-input int8 Add (`cnnz_qs8_add2`) at every level this CPU has against
/// TensorFlow Lite's formula in a plain loop, bit for bit: every pair of input
/// bytes, input zero points at both extremes, input multipliers from 2^30 to
/// 2^31 - 1 with right shifts 0 to 13 (the AVX-512 kernel takes a shorter path up
/// to 11 and the general one beyond), output shifts from -24 to 1, the output multiplier 2^30
/// (ties of its rounding), either input or both with the multiplier 2^30 and shift 0, clamps, lengths
/// that miss the vector width, and trials where a term one off changes the output.
@Suite struct Int8AddTests {
    @Test func add2LevelsMatchAPlainLoop() {
        var rng = SplitMix64(seed: 2718)
        // Every (a, b) pair, then a few more so the length is not a multiple of 16.
        let pairs = (0..<65536).map { (Int8(truncatingIfNeeded: $0), Int8(truncatingIfNeeded: $0 >> 8)) }
        for trial in 0..<48 {
            let count = trial % 3 == 0 ? Int.random(in: 1...70, using: &rng) : 65536 + trial % 16
            let a = (0..<count).map { $0 < 65536 ? pairs[$0].0 : Int8.random(in: .min ... .max, using: &rng) }
            let b = (0..<count).map { $0 < 65536 ? pairs[$0].1 : Int8.random(in: .min ... .max, using: &rng) }
            var zeros = (0..<2).map { k in [-128, 127, 0, Int32.random(in: -128...127, using: &rng)][(trial + k) % 4] }
            var multipliers = (0..<2).map { k in
                [1 << 30, Int32.max, Int32.random(in: (1 << 30)...Int32.max, using: &rng)][(trial + k) % 3]
            }
            var shifts = (0..<2).map { k in Int32(-((trial * 3 + k * 5) % 14)) }
            // Every fourth trial the output multiplier 2^30, whose products land on ties of the
            // output's rounding (its negative ties' step, which the short forms take apart).
            let outMultiplier = trial % 4 == 1 ? 1 << 30 : Int32.random(in: (1 << 30)...Int32.max, using: &rng)
            var outShift = Int32(trial % 8 == 7 ? 1 : -Int.random(in: 0...24, using: &rng))
            // A term one off rarely changes the output (the terms carry 20 bits more): with both
            // inputs' parameters equal, the pairs with b - zero point = -(a - zero point) add up
            // to a few units, and output shifts of 0 to -3 keep them, so every term's rounding
            // shows, and the output's rounding of ties.
            let sensitive = trial % 3 == 1
            if sensitive {
                zeros = [Int32.random(in: -20...20, using: &rng)]
                zeros.append(zeros[0])
                // Not 2^30 or 2^31 - 1, whose terms are multiples of 2^19 without ties to round.
                multipliers = [Int32.random(in: (1 << 30) + 1...Int32.max - 1, using: &rng)]
                multipliers.append(multipliers[0])
                shifts = [Int32(-((trial / 3) % 14)), Int32(-((trial / 3) % 14))]
                outShift = -Int32(trial % 4)
            }
            // The input of the larger scale (every Add has one) has the multiplier 2^30 and shift
            // 0, whose term the AVX2 kernel takes as (q - zero point) << 19; both inputs when the
            // scales are equal.
            if trial % 8 == 5 {
                (multipliers[0], shifts[0]) = (1 << 30, 0)
                if trial % 16 == 5 { (multipliers[1], shifts[1]) = (1 << 30, 0) }
            }
            let outZero = Int32.random(in: -128...127, using: &rng)
            let bounds: ClosedRange<Int32> = trial % 2 == 0 ? -128...127 : outZero...min(127, outZero + 90)
            var expected = [Int8](repeating: 0, count: count)
            for i in 0..<count {
                var sum: Int32 = 0
                for (k, q) in [a[i], b[i]].enumerated() {
                    sum &+= Int8Reference.requantize(
                        (Int32(q) - zeros[k]) << 20, multiplier: multipliers[k], shift: Int(shifts[k]))
                }
                let v = Int8Reference.requantize(sum, multiplier: outMultiplier, shift: Int(outShift)) + outZero
                expected[i] = Int8Reference.clamp(v, bounds)
            }
            var parameters = cnnz_qs8_add(
                zero_point: (zeros[0], zeros[1]), multiplier: (multipliers[0], multipliers[1]),
                shift: (shifts[0], shifts[1]), left_shift: 20)
            var column: (Int32, Int32, Int32) = (0, outMultiplier, outShift)
            for level in Set(Int8GEMM.available.map(\.level)).sorted() {
                var c = [Int8](repeating: 0, count: count)
                withUnsafePointer(to: &column.0) { bias in
                    withUnsafePointer(to: &column.1) { multiplier in
                        withUnsafePointer(to: &column.2) { shift in
                            var out = cnnz_qs8_output(
                                bias: bias, multiplier: multiplier, shift: shift, zero_point: outZero,
                                min: bounds.lowerBound, max: bounds.upperBound, table: nil)
                            cnnz_qs8_add2(level, count, a, b, &parameters, &out, &c)
                        }
                    }
                }
                #expect(
                    c == expected,
                    """
                    level \(level) trial \(trial) count \(count) zeros \(zeros) multipliers \(multipliers) \
                    shifts \(shifts) out \(outMultiplier) \(outShift) \(outZero) \(bounds) sensitive \(sensitive)
                    """)
            }
        }
    }
}
