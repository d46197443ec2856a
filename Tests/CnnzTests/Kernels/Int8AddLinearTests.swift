import CInt8Kernels
import Testing

@testable import Cnnz

/// The int8 Add as a linear form of its two bytes (`cnnz_qs8_add2_linear`, int8_add_linear.c):
/// the kernel at every level this CPU has against its formula in a plain loop (random forms,
/// lengths that miss the 32-value pass, in place), and the forms
/// `cnnz_qs8_add_linear_prepare` finds against TensorFlow Lite's Add in a plain loop on every
/// pair of bytes: mobile_res's two Adds (it must find theirs) and Adds of random scales, zero
/// points and clamps.
@Suite struct Int8AddLinearTests {
    /// clamp(floor((a ma + b mb + constant) / 2^shift), min, max), in Int64.
    static func formula(_ a: Int8, _ b: Int8, _ f: cnnz_qs8_add_linear) -> Int8 {
        let u = Int64(a) * Int64(f.multiplier.0) + Int64(b) * Int64(f.multiplier.1) + Int64(f.constant)
        let v = u >> Int64(f.shift)  // Swift's >> on a signed integer is a floor
        return Int8(min(max(v, Int64(f.min)), Int64(f.max)))
    }

    @Test func kernelMatchesItsFormula() {
        var rng = SplitMix64(seed: 31337)
        for trial in 0..<64 {
            let shift = Int32.random(in: 0...23, using: &rng)
            let limit = Int32((1 << 23) - 1)
            let ma = Int32.random(in: -limit...limit, using: &rng)
            let mb = Int32.random(in: -limit...limit, using: &rng)
            // Every sum within int32: 128 (|ma| + |mb|) + |constant| < 2^31.
            let room = (Int64(1) << 31) - 1 - 128 * (Int64(abs(ma)) + Int64(abs(mb)))
            let constant = Int32(Int64.random(in: -room...room, using: &rng))
            let low = Int32.random(in: -128...127, using: &rng)
            let bounds: ClosedRange<Int32> = trial % 2 == 0 ? -128...127 : low...min(127, low + 90)
            let form = cnnz_qs8_add_linear(
                multiplier: (ma, mb), constant: constant, shift: shift, min: bounds.lowerBound, max: bounds.upperBound)
            let count = trial % 4 == 0 ? 65536 + trial % 31 : Int.random(in: 1...200, using: &rng)
            let a = (0..<count).map {
                $0 < 65536 ? Int8(truncatingIfNeeded: $0) : Int8.random(in: .min ... .max, using: &rng)
            }
            let b = (0..<count).map {
                $0 < 65536 ? Int8(truncatingIfNeeded: $0 >> 8) : Int8.random(in: .min ... .max, using: &rng)
            }
            let expected = zip(a, b).map { Self.formula($0, $1, form) }
            for level in Set(Int8GEMM.available.map(\.level)).sorted() {
                var c = [Int8](repeating: 0, count: count)
                withUnsafePointer(to: form) { cnnz_qs8_add2_linear(level, count, a, b, $0, &c) }
                #expect(c == expected, "level \(level) trial \(trial) count \(count) form \(form)")
                // In place over either input.
                var inPlace = trial % 2 == 0 ? a : b
                withUnsafePointer(to: form) { f in
                    inPlace.withUnsafeMutableBufferPointer { x in
                        let other = trial % 2 == 0 ? b : a
                        if trial % 2 == 0 {
                            cnnz_qs8_add2_linear(level, count, x.baseAddress!, other, f, x.baseAddress!)
                        } else {
                            cnnz_qs8_add2_linear(level, count, other, x.baseAddress!, f, x.baseAddress!)
                        }
                    }
                }
                #expect(inPlace == expected, "in place: level \(level) trial \(trial) count \(count)")
            }
        }
    }

    /// TensorFlow Lite's Add of the pair (a, b) with parameters p and output out.
    static func add(_ a: Int8, _ b: Int8, _ p: cnnz_qs8_add, _ out: cnnz_qs8_output) -> Int8 {
        let zeros = [p.zero_point.0, p.zero_point.1]
        let multipliers = [p.multiplier.0, p.multiplier.1]
        let shifts = [p.shift.0, p.shift.1]
        var sum: Int32 = 0
        for (k, q) in [a, b].enumerated() {
            sum &+= Int8Reference.requantize(
                (Int32(q) - zeros[k]) << 20, multiplier: multipliers[k], shift: Int(shifts[k]))
        }
        let v = Int8Reference.requantize(sum, multiplier: out.multiplier[0], shift: Int(out.shift[0])) + out.zero_point
        return Int8Reference.clamp(v, out.min...out.max)
    }

    /// An Add's output stage: column 0's multiplier and shift (bias 0), zero point, clamp.
    struct Output {
        var multiplier: Int32
        var shift: Int32
        var zeroPoint: Int32
        var bounds: ClosedRange<Int32>

        func with<R>(_ body: (UnsafePointer<cnnz_qs8_output>) -> R) -> R {
            let columns: [Int32] = [0, multiplier, shift]
            return columns.withUnsafeBufferPointer { c in
                var out = cnnz_qs8_output(
                    bias: c.baseAddress!, multiplier: c.baseAddress! + 1, shift: c.baseAddress! + 2,
                    zero_point: zeroPoint, min: bounds.lowerBound, max: bounds.upperBound, table: nil)
                return body(&out)
            }
        }
    }

    @Test func preparedFormsMatchTheAdd() {
        guard Int8GEMM.available.contains(where: { $0.level >= CNNZ_INT8_AVX2 }) else { return }
        var rng = SplitMix64(seed: 4242)
        let a = (0..<65536).map { Int8(truncatingIfNeeded: $0) }
        let b = (0..<65536).map { Int8(truncatingIfNeeded: $0 >> 8) }
        // mobile_res.int8's two Adds (the input of the larger scale second, ReLU6 from zero point -128).
        let known: [(cnnz_qs8_add, Output)] = [
            (
                cnnz_qs8_add(
                    zero_point: (-128, -16), multiplier: (1_099_188_983, 1 << 30), shift: (-1, 0), left_shift: 20),
                Output(multiplier: 1_475_830_452, shift: -18, zeroPoint: -128, bounds: -128...127)
            ),
            (
                cnnz_qs8_add(
                    zero_point: (-128, -14), multiplier: (1_318_470_590, 1 << 30), shift: (-1, 0), left_shift: 20),
                Output(multiplier: 1_317_581_863, shift: -18, zeroPoint: -128, bounds: -128...127)
            ),
        ]
        let trials = known.count + 24
        var found = 0
        for trial in 0..<trials {
            var (p, output) = trial < known.count ? known[trial] : known[0]
            if trial >= known.count {
                // Scales within a factor of 4 of each other, either input the larger.
                let scales = (0..<3).map { _ in Float.random(in: 0.01...0.04, using: &rng) }
                let inputs = (0..<2).map {
                    ActivationQuantization(scale: scales[$0], zeroPoint: Int32.random(in: -128...127, using: &rng))
                }
                let result = ActivationQuantization(
                    scale: scales[2], zeroPoint: Int32.random(in: -128...127, using: &rng))
                let activation: Activation =
                    trial % 2 == 0 ? .linear : .relu(maxValue: 6, negativeSlope: 0, threshold: 0)
                let (zeros, multipliers, shifts, store) = AddInt8.parameters(
                    inputs: inputs, activation: activation, output: result)
                p = AddInt8.pair(zeroPoints: zeros, multipliers: multipliers, shifts: shifts)
                output = Output(
                    multiplier: store.multiplier, shift: store.shift, zeroPoint: store.zeroPoint, bounds: store.bounds)
            }
            var form = cnnz_qs8_add_linear()
            let ok = output.with { out in
                withUnsafePointer(to: p) { cnnz_qs8_add_linear_prepare(CNNZ_INT8_AVX2, $0, out, &form) }
            }
            if trial < known.count { #expect(ok != 0, "mobile_res Add \(trial): no linear form") }
            guard ok != 0 else { continue }
            found += 1
            let expected = output.with { out in (0..<65536).map { Self.add(a[$0], b[$0], p, out.pointee) } }
            for level in Set(Int8GEMM.available.map(\.level)).sorted() {
                var c = [Int8](repeating: 0, count: 65536)
                withUnsafePointer(to: form) { cnnz_qs8_add2_linear(level, 65536, a, b, $0, &c) }
                #expect(c == expected, "level \(level) trial \(trial) form \(form)")
            }
        }
        // Most Adds of such scales have one (this seed: see the count).
        #expect(found >= trials / 2, "linear forms found for \(found) of \(trials) Adds")
        print("Int8AddLinearTests: linear forms for \(found) of \(trials) Adds")
    }
}
