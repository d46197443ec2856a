#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Applies activation functions in place. The ReLU family, the common case
/// fused after every convolution, runs on SIMD vectors; the transcendental
/// ones call libm per element.
enum ActivationFunction {
    /// Applies `activation` to `rows` rows of `columns` floats, `stride` floats apart.
    static func apply(
        _ activation: Activation, to base: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int
    ) {
        if activation == .linear { return }
        if activation == .softmax {
            for r in 0..<rows { softmax(base + r * stride, count: columns) }
            return
        }
        if stride == columns {
            applyElementwise(activation, base, count: rows * columns)
        } else {
            for r in 0..<rows { applyElementwise(activation, base + r * stride, count: columns) }
        }
    }

    static func applyElementwise(_ activation: Activation, _ p: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .linear, .softmax:
            return
        case .relu(let maxValue, let slope, let threshold):
            if slope == 0 && threshold == 0 {
                // Compare-and-select, written so LLVM vectorizes it to maxps/minps. (The
                // stdlib's SIMD clamped/pointwiseMax keep IEEE NaN rules lane by lane and
                // ran as scalar calls, 40% of a MobileNet's time.)
                for i in 0..<count {
                    let x = p[i]
                    let low = x > 0 ? x : 0
                    p[i] = low < maxValue ? low : maxValue
                }
            } else {
                for i in 0..<count {
                    let x = p[i]
                    p[i] = x > threshold ? Swift.min(x, maxValue) : slope * (x - threshold)
                }
            }
        case .elu(let alpha):
            for i in 0..<count where p[i] <= 0 { p[i] = alpha * Float(expm1(Double(p[i]))) }
        case .selu:
            let scale: Float = 1.0507009873554805
            let alpha: Float = 1.6732632423543772
            for i in 0..<count {
                let x = p[i]
                p[i] = x > 0 ? scale * x : scale * alpha * Float(expm1(Double(x)))
            }
        case .sigmoid:
            for i in 0..<count { p[i] = sigmoid(p[i]) }
        case .hardSigmoid:
            for i in 0..<count { p[i] = Swift.min(Swift.max(p[i] + 3, 0), 6) / 6 }
        case .tanh:
            for i in 0..<count { p[i] = tanh(p[i]) }
        case .swish:
            for i in 0..<count { p[i] = p[i] * sigmoid(p[i]) }
        case .hardSwish:
            for i in 0..<count { p[i] = p[i] * Swift.min(Swift.max(p[i] + 3, 0), 6) / 6 }
        case .gelu:
            for i in 0..<count {
                let x = Double(p[i])
                p[i] = Float(0.5 * x * (1 + erf(x / 2.0.squareRoot())))
            }
        }
    }

    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        // exp(-x) overflows to +inf for x < -88, giving 1/inf = 0: the right limit.
        1 / (1 + exp(-x))
    }

    /// A numerically stable softmax: the maximum is subtracted before exp.
    static func softmax(_ p: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = -Float.infinity
        for i in 0..<count { maximum = Swift.max(maximum, p[i]) }
        var sum: Float = 0
        for i in 0..<count {
            let e = exp(p[i] - maximum)
            p[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in 0..<count { p[i] *= inverse }
    }
}
