import CInt8Kernels

@testable import Cnnz

/// The output stage the GEMM stores' tests (Int8AVX2StoreTests, Int8VNNIStoreTests) draw for a
/// trial's n columns once they have their shifts, and the reference's value of a sum under it.
struct Int8StoreDraw {
    let shift: [Int32]
    let multiplier: [Int32]
    let bias: [Int32]
    let zeroPoint: Int32
    let low: Int32
    let high: Int32

    init(trial: Int, shift: [Int32], rng: inout SplitMix64) {
        self.shift = shift
        let multiplier = shift.map { _ in
            [Int32(1 << 30), .max, (1 << 30) + 1, Int32.random(in: (1 << 30)...Int32.max, using: &rng)][
                Int.random(in: 0...3, using: &rng)]
        }
        self.multiplier = multiplier
        // Biases that put some sums (exactly, in the columns of weight 0) on a tie of the
        // folded rounding (P + 2^30 an odd multiple of 2^(30 + e)), or next to one; with a
        // multiplier of 2^30 and e = 0 that includes P = -2^30, where y turns negative.
        bias = shift.indices.map { j -> Int32 in
            switch Int.random(in: 0...4, using: &rng) {
            case 0: return [Int32.min, .max, 0, -1, 1][Int.random(in: 0...4, using: &rng)]
            case 1, 2:
                let e = max(-Int(shift[j]), 0)
                let most = min(300, (1 << (31 - e)) / 2)  // |target| below 2^62
                let target =
                    (Int64(Int.random(in: (-most - 1)...most, using: &rng)) * 2 + 1) << (30 + e) - (1 << 30)
                let x = target / Int64(multiplier[j]) + Int64(Int.random(in: -1...1, using: &rng))
                return Int32(truncatingIfNeeded: x)
            default: return Int32.random(in: .min ... .max, using: &rng)
            }
        }
        let zeroPoint = [-128, 127, 0, Int32.random(in: -128...127, using: &rng)][trial % 4]
        self.zeroPoint = zeroPoint
        // Low bounds around the zero point too: at or above it (ReLU) the store may skip
        // the negative ties' correction, one below it it may not.
        low =
            trial % 3 == 0
            ? Int32.random(in: -128...0, using: &rng)
            : trial % 3 == 1 ? max(-128, min(127, zeroPoint + Int32.random(in: -2...1, using: &rng))) : -128
        high = trial % 5 == 0 ? Int32.random(in: low...127, using: &rng) : 127
    }

    /// Column j's output for the product `product` (the bias added, wrapping as the kernels' int32
    /// sums do): requantized, the zero point added and clamped to low...high.
    func expected(_ product: Int32, column j: Int) -> Int8 {
        // In Int64: with e = 0 and a multiplier near 2^31 the value can sit at the top
        // of Int32, where adding the zero point must saturate (the clamp), not wrap.
        let v =
            Int64(Int8Reference.requantize(product &+ bias[j], multiplier: multiplier[j], shift: Int(shift[j])))
            + Int64(zeroPoint)
        return Int8(min(max(v, Int64(low)), Int64(high)))
    }

    /// `body` with the stage as the kernels take it (`table`: 256 entries or nil).
    func withOutput(table: [Int8]?, _ body: (inout cnnz_qs8_output) -> Void) {
        withQS8Output(
            bias: bias, multiplier: multiplier, shift: shift, zeroPoint: zeroPoint, low: low, high: high, table: table,
            body)
    }
}

/// `body` with an output stage's arrays as the kernels take them (`cnnz_qs8_output`; `table`:
/// 256 entries or nil), for the store tests' own draws.
func withQS8Output<R>(
    bias: [Int32], multiplier: [Int32], shift: [Int32], zeroPoint: Int32, low: Int32, high: Int32, table: [Int8]?,
    _ body: (inout cnnz_qs8_output) -> R
) -> R {
    bias.withUnsafeBufferPointer { b in
        multiplier.withUnsafeBufferPointer { mu in
            shift.withUnsafeBufferPointer { s in
                (table ?? []).withUnsafeBufferPointer { t in
                    var out = cnnz_qs8_output(
                        bias: b.baseAddress, multiplier: mu.baseAddress, shift: s.baseAddress,
                        zero_point: zeroPoint, min: low, max: high, table: table == nil ? nil : t.baseAddress)
                    return body(&out)
                }
            }
        }
    }
}
