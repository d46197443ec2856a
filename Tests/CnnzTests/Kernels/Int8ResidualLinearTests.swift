import CInt8Kernels
import Testing

@testable import Cnnz

/// `cnnz_qu8_gemm_vnni512_add` with the Add's linear form (`cnnz_qs8_residual.linear`,
/// int8_vnni.c's `linear16_rows`): the GEMM's bytes (`cnnz_qu8_gemm_vnni512`) and the other
/// operand through the form's formula in a plain loop (`Int8AddLinearTests.formula`), with
/// random forms (any multipliers, constant, shift and clamp within the form's limits), either
/// operand order, odd m, n (tails of the 16-column vectors and of the panel pairs), k, and row
/// strides of the output and the residual wider than n. Whether the forms that
/// `cnnz_qs8_add_linear_prepare` finds give TensorFlow Lite's Add is `Int8AddLinearTests`'s, and
/// whole models with fused Adds against the unfused plan `ResidualAddFusionTests`'s.
@Suite struct Int8ResidualLinearTests {
    @Test func vnni512StoreAddsByTheLinearForm() throws {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 8128)
        for trial in 0..<48 {
            let m = Int.random(in: 1...20, using: &rng)
            let n = [1, 5, 16, 17, 31, 32, 40, 64, 70, 100][trial % 10]
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
            // A form within cnnz_qs8_add_linear's limits (every sum within int32): mostly an
            // Add's (slopes 0.1 to 1.9, the second sometimes negative, a constant near a zero
            // point, so the bytes spread over the clamp), every fourth any multipliers and constant.
            let (shift, ma, mb, constant): (Int32, Int32, Int32, Int32)
            if trial % 4 == 3 {
                shift = Int32.random(in: 0...23, using: &rng)
                let limit = Int32((1 << 23) - 1)
                ma = Int32.random(in: -limit...limit, using: &rng)
                mb = Int32.random(in: -limit...limit, using: &rng)
                let room = (Int64(1) << 31) - 1 - 128 * (Int64(abs(ma)) + Int64(abs(mb)))
                constant = Int32(Int64.random(in: -room...room, using: &rng))
            } else {
                shift = Int32.random(in: 0...21, using: &rng)
                let unit = Double(1 << shift)
                ma = Int32(Double.random(in: 0.1...1.9, using: &rng) * unit)
                mb = Int32(Double.random(in: 0.1...1.9, using: &rng) * unit) * (trial % 5 == 1 ? -1 : 1)
                let zero = Int32.random(in: -64...64, using: &rng)
                constant = zero << shift + Int32.random(in: 0...Int32(unit), using: &rng)
            }
            let low = Int32.random(in: -128...127, using: &rng)
            let bounds: ClosedRange<Int32> = trial % 3 == 0 ? -128...127 : low...min(127, low + 90)
            let form = cnnz_qs8_add_linear(
                multiplier: (ma, mb), constant: constant, shift: shift, min: bounds.lowerBound, max: bounds.upperBound)
            var plain = [Int8](repeating: 0, count: m * ldc)
            Int8GEMM.runVNNI(.vnni512, m: m, a: a, lda: lda, weights: packed, c: &plain, ldc: ldc)
            var expected = [Int8](repeating: 0x55, count: m * ldc)
            for r in 0..<m {
                for j in 0..<n {
                    let (q, o) = (plain[r * ldc + j], other[r * ldr + j])
                    expected[r * ldc + j] =
                        operand == 0
                        ? Int8AddLinearTests.formula(q, o, form) : Int8AddLinearTests.formula(o, q, form)
                }
            }
            // The Add's exact parameters: not read with a form (any that add_vectorizes takes).
            let got = ResidualAddFusionTests.vnni512Add(
                m: m, a: a, lda: lda, packed: packed, other: other, ldr: ldr, ldc: ldc, operand: operand,
                add: cnnz_qs8_add(zero_point: (0, 0), multiplier: (1 << 30, 1 << 30), shift: (0, 0), left_shift: 20),
                linear: form, output: (1 << 30, -20, 0), bounds: -128...127, table: nil)
            #expect(
                got == expected,
                "trial \(trial) m \(m) n \(n) k \(k) ldc \(ldc) ldr \(ldr) operand \(operand) float forms \(trial % 2 == 0) form \(form)"
            )
        }
    }
}
