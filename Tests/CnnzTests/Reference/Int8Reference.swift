@testable import Cnnz

/// Integer reference operations for the int8 kernels to come, test-only and
/// slow on purpose (TensorFlow Lite's `reference_integer_ops`): each int8
/// kernel must match these bit for bit. The scheme is TensorFlow Lite's:
/// `real = scale * (q - zeroPoint)`; weights symmetric per output channel;
/// a per-channel real multiplier `inputScale * weightScale / outputScale`
/// applied as a 32-bit fixed-point multiplier and a power-of-two shift.
enum Int8Reference {
    /// `multiplier * 2^(shift - 31)` approximates `real`, with `multiplier`
    /// in `[2^30, 2^31)` (TFLite's `QuantizeMultiplier`); `(0, 0)` for 0.
    static func quantizeMultiplier(_ real: Double) -> (multiplier: Int32, shift: Int) {
        guard real > 0 else { return (0, 0) }
        var shift = Int(real.exponent) + 1  // real = fraction * 2^shift, fraction in [0.5, 1)
        var fixed = (real * Double(sign: .plus, exponent: 31 - shift, significand: 1)).rounded(
            .toNearestOrAwayFromZero)
        if fixed == 2_147_483_648 {
            fixed /= 2
            shift += 1
        }
        guard shift >= -31 else { return (0, 0) }
        return (Int32(fixed), shift)
    }

    /// `round(a * b / 2^31)`, ties toward +infinity, saturating the one
    /// overflowing case `Int32.min * Int32.min` (gemmlowp's
    /// `SaturatingRoundingDoublingHighMul`).
    static func roundingDoublingHighMultiply(_ a: Int32, _ b: Int32) -> Int32 {
        if a == .min && b == .min { return .max }
        let product = Int64(a) * Int64(b)
        let nudge: Int64 = product >= 0 ? 1 << 30 : 1 - (1 << 30)
        return Int32((product + nudge) / (1 << 31))  // Swift's division truncates, as C++'s
    }

    /// `round(x / 2^exponent)`, ties away from zero (gemmlowp's `RoundingDivideByPOT`).
    static func roundingDivide(_ x: Int32, byPowerOfTwo exponent: Int) -> Int32 {
        let mask = Int32((Int64(1) << exponent) - 1)
        let remainder = x & mask
        let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
        return (x >> Int32(exponent)) + (remainder > threshold ? 1 : 0)
    }

    /// `x * multiplier * 2^(shift - 31)`, rounded (TFLite's `MultiplyByQuantizedMultiplier`).
    static func requantize(_ x: Int32, multiplier: Int32, shift: Int) -> Int32 {
        let left = max(shift, 0)
        let right = max(-shift, 0)
        return roundingDivide(roundingDoublingHighMultiply(x &* (1 << Int32(left)), multiplier), byPowerOfTwo: right)
    }

    /// One int8 activation tensor: NHWC values with its per-tensor quantization.
    struct Activation {
        var shape: TensorShape
        var batch: Int
        var values: [Int8]
        var scale: Double
        var zeroPoint: Int32
    }

    /// Conv2D on int8 (TFLite's `ConvPerChannel`): `weights` in Keras's layout
    /// `[kh, kw, in/groups, filters]` with one scale per filter and zero point
    /// 0, `bias` int32 with scale `input.scale * weightScales[f]`; the output
    /// has `outputScale` and `outputZeroPoint` and is clamped to `clamp`
    /// (the fused ReLU or ReLU6, or the whole int8 range). Padded positions
    /// count as the input's zero point: they add nothing to the sum.
    ///
    /// The accumulator: each product `(q - zeroPoint) * w` is at most
    /// 255 * 128 = 32,640 in magnitude, so an Int32 holds at least 65,793 of
    /// them; the tests stay far below that.
    static func conv2D(
        _ input: Activation, weights: [Int8], weightScales: [Double], bias: [Int32]?, window: Window, groups: Int,
        filters: Int, outputScale: Double, outputZeroPoint: Int32, clamp: ClosedRange<Int32> = -128...127
    ) -> Activation {
        let x = input.shape
        let (rows, columns) = window.geometry(height: x.height, width: x.width)!
        let y = TensorShape(height: rows.output, width: columns.output, channels: filters)
        let inPerGroup = x.channels / groups
        let outPerGroup = filters / groups
        let multipliers = weightScales.map { quantizeMultiplier(input.scale * $0 / outputScale) }
        var out = [Int8](repeating: 0, count: input.batch * y.elementCount)
        for b in 0..<input.batch {
            for oy in 0..<y.height {
                for ox in 0..<y.width {
                    for f in 0..<filters {
                        let g = f / outPerGroup
                        var sum = bias?[f] ?? 0
                        for ky in 0..<window.kernelHeight {
                            let iy = oy * window.strideHeight - rows.padBefore + ky * window.dilationHeight
                            guard iy >= 0, iy < x.height else { continue }
                            for kx in 0..<window.kernelWidth {
                                let ix = ox * window.strideWidth - columns.padBefore + kx * window.dilationWidth
                                guard ix >= 0, ix < x.width else { continue }
                                for ci in 0..<inPerGroup {
                                    let q = input.values[
                                        b * x.elementCount + (iy * x.width + ix) * x.channels + g * inPerGroup + ci]
                                    let w = weights[((ky * window.kernelWidth + kx) * inPerGroup + ci) * filters + f]
                                    sum += (Int32(q) - input.zeroPoint) * Int32(w)
                                }
                            }
                        }
                        let (multiplier, shift) = multipliers[f]
                        // The zero point added in Int64: the clamp of the exact value, as the kernels
                        // store it, even where the requantized value is near either end of Int32.
                        let requantized = requantize(sum, multiplier: multiplier, shift: shift)
                        let scaled = Int64(requantized) + Int64(outputZeroPoint)
                        out[b * y.elementCount + (oy * y.width + ox) * filters + f] = Int8(
                            min(max(scaled, Int64(clamp.lowerBound)), Int64(clamp.upperBound)))
                    }
                }
            }
        }
        return Activation(
            shape: y, batch: input.batch, values: out, scale: outputScale, zeroPoint: outputZeroPoint)
    }
}
