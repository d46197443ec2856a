import CInt8Kernels

/// TensorFlow Lite's integer requantization: a real multiplier `M` (e.g.
/// `inputScale * weightScale / outputScale`) becomes a 32-bit fixed-point
/// multiplier in `[2^30, 2^31)` and a power-of-two shift, and `x * M` is
/// computed in integers only (`cnnz_qs8_requantize`: a rounding doubling high
/// multiply, ties toward +infinity, then a rounding right shift, ties away from
/// zero), so results are the same on every machine, build and thread count.
enum Requantization {
    /// `multiplier * 2^(shift - 31)` approximates `real` (TFLite's `QuantizeMultiplier`);
    /// `(0, 0)` for 0 and for multipliers below 2^-32, which round to nothing.
    static func multiplier(_ real: Double) -> (multiplier: Int32, shift: Int32) {
        guard real > 0, real.isFinite else { return (0, 0) }
        var shift = Int(real.exponent) + 1  // real = fraction * 2^shift, fraction in [0.5, 1)
        var fixed = (real * Double(sign: .plus, exponent: 31 - shift, significand: 1)).rounded(
            .toNearestOrAwayFromZero)
        if fixed == 2_147_483_648 {
            fixed /= 2
            shift += 1
        }
        // Shifts outside -31...30 are outside the helper's contract (TFLite's too).
        guard shift >= -31 else { return (0, 0) }
        guard shift <= 30 else { return (.max, 30) }
        return (Int32(fixed), Int32(shift))
    }

    /// `x * multiplier * 2^(shift - 31)`, rounded as documented above: the same
    /// integers as `cnnz_qs8_requantize` (the GEMM's), inlined into the Swift kernels.
    @inline(__always) static func apply(_ x: Int32, multiplier: Int32, shift: Int32) -> Int32 {
        let left = max(shift, 0)
        let right = max(-shift, 0)
        let a = x &<< left
        if a == .min && multiplier == .min { return .max }
        let product = Int64(a) * Int64(multiplier)
        let nudge: Int64 = product >= 0 ? 1 << 30 : 1 - (1 << 30)
        let high = Int32(truncatingIfNeeded: (product + nudge) / (1 << 31))
        let mask = Int32(truncatingIfNeeded: (Int64(1) << Int64(right)) - 1)
        let threshold = (mask >> 1) + (high < 0 ? 1 : 0)
        return (high >> right) + ((high & mask) > threshold ? 1 : 0)
    }

    /// `q` as an int8 value with `zeroPoint` added and clamped to `bounds`: the clamp of the
    /// exact sum (as the C kernels' store), computed as `clamp(x, bounds - zeroPoint) + zeroPoint`
    /// so that an `x` near either end of Int32 cannot wrap around.
    @inline(__always) static func store(_ x: Int32, zeroPoint: Int32, bounds: ClosedRange<Int32>) -> Int8 {
        let v = min(max(x, bounds.lowerBound &- zeroPoint), bounds.upperBound &- zeroPoint) &+ zeroPoint
        return Int8(truncatingIfNeeded: v)
    }
}

/// What an int8 kernel does after its integer sums: the activation as a clamp
/// (linear, ReLU, ReLU6) or as a 256-entry table built here from the
/// pre-activation quantization (every other elementwise activation).
struct Int8Activation {
    /// The zero point and clamp of the requantized value.
    let zeroPoint: Int32
    let bounds: ClosedRange<Int32>
    /// The scale the sums are requantized to: the output's, or the pre-activation one.
    let scale: Float
    /// `table[q + 128]`: the output for pre-activation value `q`, or nil.
    let table: [Int8]?

    /// The clamp or table for `activation` with output quantization `output`.
    init(_ activation: Activation, output: ActivationQuantization) {
        switch activation {
        case .linear:
            (zeroPoint, bounds, scale, table) = (output.zeroPoint, -128...127, output.scale, nil)
        case .relu(let maxValue, let slope, let threshold) where slope == 0 && threshold == 0:
            let low = max(-128, min(127, output.zeroPoint))
            var high: Int32 = 127
            if maxValue.isFinite {
                let top = (Double(maxValue) / Double(output.scale)).rounded() + Double(output.zeroPoint)
                high = Int32(min(max(top, Double(low)), 127))
            }
            (zeroPoint, bounds, scale, table) = (output.zeroPoint, low...high, output.scale, nil)
        default:
            let pre = output.preActivation
            (zeroPoint, bounds, scale) = (pre.zeroPoint, -128...127, pre.scale)
            table = Self.table(activation, input: pre, output: output)
        }
    }

    /// The 256 outputs of `activation` for every int8 input: dequantized with
    /// `input`, computed in float32 by the float kernels' own function, and
    /// quantized with `output` (rounded to nearest, ties away from zero).
    static func table(_ activation: Activation, input: ActivationQuantization, output: ActivationQuantization)
        -> [Int8]
    {
        var reals = (0..<256).map { Float(Double(input.scale) * Double($0 - 128 - Int(input.zeroPoint))) }
        reals.withUnsafeMutableBufferPointer {
            ActivationFunction.applyElementwise(activation, $0.baseAddress!, count: 256)
        }
        return reals.map { y in
            let q = (Double(y) / Double(output.scale)).rounded() + Double(output.zeroPoint)
            return Int8(min(max(q.isNaN ? Double(output.zeroPoint) : q, -128), 127))
        }
    }
}
