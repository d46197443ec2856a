import Testing

@testable import Cnnz

/// The integer reference the int8 kernels will be compared with, checked
/// against wide-integer and float64 arithmetic.
@Suite struct Int8ReferenceTests {
    /// The exact value of `x * multiplier * 2^(shift - 31)`, as a fraction over 2^(31 + right shift).
    func exact(_ x: Int32, _ multiplier: Int32, _ shift: Int) -> (numerator: Int128, denominatorLog2: Int) {
        (Int128(x) * Int128(multiplier) << max(shift, 0), 31 + max(-shift, 0))
    }

    /// Edge values: zero, ones, the extremes of Int32, and a seeded sample.
    var edgeValues: [Int32] {
        var rng = SplitMix64(seed: 14)
        return [0, 1, -1, 2, -2, 3, -3, 1000, -1000, .max, .min, .max - 1, .min + 1]
            + (0..<40).map { _ in Int32.random(in: .min ... .max, using: &rng) }
    }

    @Test func requantizationIsWithinOneOfTheExactProductAndExactWithoutAShift() {
        let multipliers: [Int32] = [1 << 30, (1 << 30) + 1, 1_518_500_250, .max - 1, .max]
        for x in edgeValues {
            for multiplier in multipliers {
                for shift in [-31, -20, -9, -1, 0, 1, 3] {
                    // A left shift that overflows Int32 is outside the helper's contract (TFLite's too).
                    if shift > 0 && (Int64(x) << shift) != Int64(Int32(truncatingIfNeeded: Int64(x) << shift)) {
                        continue
                    }
                    let got = Int8Reference.requantize(x, multiplier: multiplier, shift: shift)
                    let (numerator, log2) = exact(x, multiplier, shift)
                    let denominator = Int128(1) << log2
                    // |got - exact| <= 1, in integers: |got * 2^log2 - numerator| <= 2^log2.
                    let error = Int128(got) * denominator - numerator
                    #expect(error <= denominator && error >= -denominator, "x=\(x) m=\(multiplier) shift=\(shift)")
                    if shift >= 0 && !(x == .min && multiplier == .min) {
                        // One rounding only: ties toward +infinity.
                        let rounded = (numerator + denominator / 2) >> log2
                        #expect(Int128(got) == rounded, "x=\(x) m=\(multiplier) shift=\(shift)")
                    }
                }
            }
        }
        #expect(Int8Reference.roundingDoublingHighMultiply(.min, .min) == .max)
    }

    @Test func tiesRoundAsDocumented() {
        // 1 * 2^30 / 2^31 = 0.5: the high multiply rounds ties toward +infinity.
        #expect(Int8Reference.requantize(1, multiplier: 1 << 30, shift: 0) == 1)
        #expect(Int8Reference.requantize(-1, multiplier: 1 << 30, shift: 0) == 0)
        // 6 * 2^30 / 2^31 = 3, then 3 / 2 = 1.5: the shift rounds ties away from zero.
        #expect(Int8Reference.requantize(6, multiplier: 1 << 30, shift: -1) == 2)
        #expect(Int8Reference.requantize(-6, multiplier: 1 << 30, shift: -1) == -2)
        #expect(Int8Reference.requantize(10, multiplier: 1 << 30, shift: -1) == 3)  // 2.5 -> 3
        #expect(Int8Reference.requantize(-10, multiplier: 1 << 30, shift: -1) == -3)
        #expect(Int8Reference.roundingDivide(5, byPowerOfTwo: 1) == 3)
        #expect(Int8Reference.roundingDivide(-5, byPowerOfTwo: 1) == -3)
        #expect(Int8Reference.roundingDivide(-4, byPowerOfTwo: 2) == -1)
    }

    @Test func quantizedMultipliersAreWithinHalfAStep() {
        var rng = SplitMix64(seed: 31)
        let reals =
            [1e-9, 0.000_123, 0.5, 0.75, 1 - 1e-12, 1, 1.5, 3.999_999_999_9]
            + (0..<50).map { _ in Double.random(in: 1e-6...2, using: &rng) }
        for real in reals {
            let (multiplier, shift) = Int8Reference.quantizeMultiplier(real)
            #expect(multiplier >= 1 << 30, "\(real)")
            let value = Double(multiplier) * Double(sign: .plus, exponent: shift - 31, significand: 1)
            #expect(abs(value - real) <= Double(sign: .plus, exponent: shift - 32, significand: 1), "\(real)")
        }
        #expect(Int8Reference.quantizeMultiplier(0) == (0, 0))
    }

    struct ConvCase: CustomTestStringConvertible, Sendable {
        var height: Int, width: Int, channels: Int, batch: Int
        var window: Window
        var groups = 1
        var filters: Int
        var inputZeroPoint: Int32
        var outputScale: Double
        var clamp: ClosedRange<Int32> = -128...127

        var testDescription: String {
            "h=\(height) w=\(width) c=\(channels) batch=\(batch) \(window) groups=\(groups) filters=\(filters)"
                + " zp=\(inputZeroPoint) outputScale=\(outputScale) clamp=\(clamp)"
        }
    }

    static let convCases: [ConvCase] = [
        .init(
            height: 9, width: 7, channels: 3, batch: 2, window: Window(kernelHeight: 3, kernelWidth: 3, padding: .same),
            filters: 5, inputZeroPoint: -128, outputScale: 0.05),
        .init(
            height: 8, width: 9, channels: 4, batch: 1,
            window: Window(kernelHeight: 2, kernelWidth: 3, strideHeight: 2, strideWidth: 2, padding: .same),
            groups: 2, filters: 6, inputZeroPoint: 127, outputScale: 0.03, clamp: 0...127),
        .init(
            height: 7, width: 7, channels: 2, batch: 1,
            window: Window(kernelHeight: 3, kernelWidth: 3, dilationHeight: 2, dilationWidth: 2), filters: 3,
            inputZeroPoint: 5, outputScale: 0.04),
        // Output scale small enough that many values saturate at both ends.
        .init(
            height: 5, width: 6, channels: 8, batch: 2, window: Window(kernelHeight: 1, kernelWidth: 1), filters: 9,
            inputZeroPoint: 0, outputScale: 0.002),
    ]

    /// The integer reference against float64 arithmetic on the dequantized
    /// values, quantized once at the end: within one step everywhere (the
    /// fixed-point multiplier and its two roundings), exact at the clamps.
    @Test(arguments: convCases)
    func int8ConvolutionMatchesFloatArithmeticWithinOneStep(_ c: ConvCase) {
        var rng = SplitMix64(seed: 7767517)
        let shape = TensorShape(height: c.height, width: c.width, channels: c.channels)
        let input = Int8Reference.Activation(
            shape: shape, batch: c.batch,
            values: (0..<(c.batch * shape.elementCount)).map { _ in Int8.random(in: .min ... .max, using: &rng) },
            scale: 0.02, zeroPoint: c.inputZeroPoint)
        let inPerGroup = c.channels / c.groups
        let weights = (0..<(c.window.kernelHeight * c.window.kernelWidth * inPerGroup * c.filters)).map { _ in
            Int8.random(in: -127...127, using: &rng)
        }
        let weightScales = (0..<c.filters).map { _ in Double.random(in: 0.001...0.01, using: &rng) }
        let bias = (0..<c.filters).map { _ in Int32.random(in: -5000...5000, using: &rng) }
        let output = Int8Reference.conv2D(
            input, weights: weights, weightScales: weightScales, bias: bias, window: c.window, groups: c.groups,
            filters: c.filters, outputScale: c.outputScale, outputZeroPoint: 3, clamp: c.clamp)

        // The same convolution in float64 on the dequantized values.
        let (rows, columns) = c.window.geometry(height: c.height, width: c.width)!
        let y = TensorShape(height: rows.output, width: columns.output, channels: c.filters)
        #expect(output.shape == y)
        var low = 0
        var high = 0
        for b in 0..<c.batch {
            for oy in 0..<y.height {
                for ox in 0..<y.width {
                    for f in 0..<c.filters {
                        let g = f / (c.filters / c.groups)
                        var sum = Double(bias[f]) * input.scale * weightScales[f]
                        for ky in 0..<c.window.kernelHeight {
                            for kx in 0..<c.window.kernelWidth {
                                let iy = oy * c.window.strideHeight - rows.padBefore + ky * c.window.dilationHeight
                                let ix = ox * c.window.strideWidth - columns.padBefore + kx * c.window.dilationWidth
                                guard iy >= 0, iy < c.height, ix >= 0, ix < c.width else { continue }
                                for ci in 0..<inPerGroup {
                                    let q = input.values[
                                        b * shape.elementCount + (iy * c.width + ix) * c.channels + g * inPerGroup + ci]
                                    let w = weights[
                                        ((ky * c.window.kernelWidth + kx) * inPerGroup + ci) * c.filters + f]
                                    sum +=
                                        input.scale * Double(Int32(q) - c.inputZeroPoint) * weightScales[f] * Double(w)
                                }
                            }
                        }
                        let real = (sum / c.outputScale).rounded(.toNearestOrAwayFromZero) + 3
                        let expected = min(max(real, Double(c.clamp.lowerBound)), Double(c.clamp.upperBound))
                        let got = Double(output.values[b * y.elementCount + (oy * y.width + ox) * c.filters + f])
                        #expect(abs(got - expected) <= 1, "b=\(b) y=\(oy) x=\(ox) f=\(f): \(got) vs \(expected)")
                        if real <= Double(c.clamp.lowerBound) - 2 {
                            #expect(got == Double(c.clamp.lowerBound))
                            low += 1
                        }
                        if real >= Double(c.clamp.upperBound) + 2 {
                            #expect(got == Double(c.clamp.upperBound))
                            high += 1
                        }
                    }
                }
            }
        }
        if c.outputScale < 0.01 { #expect(low > 0 && high > 0, "both clamps reached") }
    }
}
