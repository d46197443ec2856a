import Cnnz

/// Dense on the last axis: kernel `[in, units]`, bias `[units]`; on `[H, W, C]` it acts at every position.
public final class DenseLayer: TrainingLayer {
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public let parameters: [Parameter]
    let units: Int
    private var input: [Float] = []

    public init(input: TensorShape, units: Int, kernel: Parameter, bias: Parameter?) {
        inputShape = input
        self.units = units
        outputShape =
            input.rank == 1
            ? TensorShape(flat: units) : TensorShape(height: input.height, width: input.width, channels: units)
        parameters = [kernel] + (bias.map { [$0] } ?? [])
    }

    public func forward(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float] {
        self.input = input
        let (m, k) = (batch * inputShape.pixels, inputShape.channels)
        var output = [Float](repeating: 0, count: m * units)
        try input.withUnsafeBufferPointer { x throws(CnnzError) in
            try parameters[0].value.withUnsafeBufferPointer { w throws(CnnzError) in
                try output.withUnsafeMutableBufferPointer { y throws(CnnzError) in
                    try multiply(x, w, m: m, k: k, n: units, transposeB: false, into: y)
                }
            }
        }
        if parameters.count > 1 { addBias(parameters[1].value, to: &output, rows: m) }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float] {
        let (m, k) = (batch * inputShape.pixels, inputShape.channels)
        if parameters.count > 1 { sumRows(outputGradient, rows: m, into: &parameters[1].gradient) }
        var transposed = [Float](repeating: 0, count: m * k)
        var kernelGradient = [Float](repeating: 0, count: k * units)
        var inputGradient = [Float](repeating: 0, count: m * k)
        try outputGradient.withUnsafeBufferPointer { dy throws(CnnzError) in
            input.withUnsafeBufferPointer { x in
                transposed.withUnsafeMutableBufferPointer { t in transpose(x, rows: m, columns: k, into: t) }
            }
            try transposed.withUnsafeBufferPointer { t throws(CnnzError) in
                try kernelGradient.withUnsafeMutableBufferPointer { g throws(CnnzError) in
                    try multiply(t, dy, m: k, k: m, n: units, transposeB: false, into: g)
                }
            }
            try parameters[0].value.withUnsafeBufferPointer { w throws(CnnzError) in
                try inputGradient.withUnsafeMutableBufferPointer { dx throws(CnnzError) in
                    try multiply(dy, w, m: m, k: units, n: k, transposeB: true, into: dx)
                }
            }
        }
        accumulate(kernelGradient, into: &parameters[0].gradient)
        return inputGradient
    }
}

/// MaxPooling2D; padded positions never win; the gradient goes to the winning input.
public final class MaxPoolLayer: TrainingLayer {
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public var parameters: [Parameter] { [] }
    let window: Window
    let padTop: Int
    let padLeft: Int
    /// For each output, the index of the input that won, in the last forward batch.
    private var winners: [Int] = []

    public init(input: TensorShape, window: Window) {
        inputShape = input
        self.window = window
        let rows = windowAxis(
            input: input.height, kernel: window.kernelHeight, stride: window.strideHeight, padding: window.padding)
        let cols = windowAxis(
            input: input.width, kernel: window.kernelWidth, stride: window.strideWidth, padding: window.padding)
        padTop = rows.before
        padLeft = cols.before
        outputShape = TensorShape(height: rows.output, width: cols.output, channels: input.channels)
    }

    public func forward(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float] {
        let (h, w, c) = (inputShape.height, inputShape.width, inputShape.channels)
        let (oh, ow) = (outputShape.height, outputShape.width)
        var output = [Float](repeating: -.infinity, count: batch * outputShape.elementCount)
        var winners = [Int](repeating: 0, count: output.count)
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                winners.withUnsafeMutableBufferPointer { best in
                    for b in 0..<batch {
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                let base = ((b * oh + oy) * ow + ox) * c
                                for ky in 0..<window.kernelHeight {
                                    let iy = oy * window.strideHeight + ky - padTop
                                    guard iy >= 0, iy < h else { continue }
                                    for kx in 0..<window.kernelWidth {
                                        let ix = ox * window.strideWidth + kx - padLeft
                                        guard ix >= 0, ix < w else { continue }
                                        let offset = ((b * h + iy) * w + ix) * c
                                        for ch in 0..<c where x[offset + ch] > y[base + ch] {
                                            y[base + ch] = x[offset + ch]
                                            best[base + ch] = offset + ch
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        self.winners = winners
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float] {
        var inputGradient = [Float](repeating: 0, count: batch * inputShape.elementCount)
        for i in 0..<outputGradient.count { inputGradient[winners[i]] += outputGradient[i] }
        return inputGradient
    }
}

/// Flatten: the data does not move, only the shape changes.
public final class FlattenLayer: TrainingLayer {
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public var parameters: [Parameter] { [] }

    public init(input: TensorShape) {
        inputShape = input
        outputShape = TensorShape(flat: input.elementCount)
    }

    public func forward(_ input: [Float], batch: Int, training: Bool) -> [Float] { input }
    public func backward(_ outputGradient: [Float], batch: Int) -> [Float] { outputGradient }
}

/// ReLU: `max(x, 0)`; the gradient passes where the output is positive.
public final class ReLULayer: TrainingLayer {
    public let inputShape: TensorShape
    public var outputShape: TensorShape { inputShape }
    public var parameters: [Parameter] { [] }
    private var output: [Float] = []

    public init(input: TensorShape) { inputShape = input }

    public func forward(_ input: [Float], batch: Int, training: Bool) -> [Float] {
        var y = input
        y.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = max($0[i], 0) } }
        output = y
        return y
    }

    public func backward(_ outputGradient: [Float], batch: Int) -> [Float] {
        var g = outputGradient
        g.withUnsafeMutableBufferPointer { dy in
            output.withUnsafeBufferPointer { y in for i in dy.indices where y[i] <= 0 { dy[i] = 0 } }
        }
        return g
    }
}

/// Dropout: while training, zeroes each value with probability `rate` and scales
/// the rest by `1 / (1 - rate)` (Keras's inverted dropout); the identity otherwise.
public final class DropoutLayer: TrainingLayer {
    public let inputShape: TensorShape
    public var outputShape: TensorShape { inputShape }
    public var parameters: [Parameter] { [] }
    let rate: Float
    var random: SplitMix64
    private var mask: [Float] = []

    public init(input: TensorShape, rate: Float, seed: UInt64) {
        inputShape = input
        self.rate = rate
        random = SplitMix64(seed: seed)
    }

    public func forward(_ input: [Float], batch: Int, training: Bool) -> [Float] {
        guard training, rate > 0 else {
            mask = []
            return input
        }
        let keep = 1 / (1 - rate)
        mask = (0..<input.count).map { _ in random.nextFloat() < rate ? 0 : keep }
        return zip(input, mask).map { $0 * $1 }
    }

    public func backward(_ outputGradient: [Float], batch: Int) -> [Float] {
        mask.isEmpty ? outputGradient : zip(outputGradient, mask).map { $0 * $1 }
    }
}

/// A small, fast, seedable generator (SplitMix64), so that runs repeat exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 24 bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
