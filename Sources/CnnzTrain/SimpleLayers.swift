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
        if parameters.count > 1 {
            let bias = parameters[1].value
            for row in 0..<m { for u in 0..<units { output[row * units + u] += bias[u] } }
        }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float] {
        let (m, k) = (batch * inputShape.pixels, inputShape.channels)
        if parameters.count > 1 {
            let bias = parameters[1]
            for row in 0..<m { for u in 0..<units { bias.gradient[u] += outputGradient[row * units + u] } }
        }
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
        let kernel = parameters[0]
        for i in 0..<kernelGradient.count { kernel.gradient[i] += kernelGradient[i] }
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
        var output = [Float](repeating: -.infinity, count: batch * outputShape.elementCount)
        winners = [Int](repeating: 0, count: output.count)
        for b in 0..<batch {
            for oy in 0..<outputShape.height {
                for ox in 0..<outputShape.width {
                    let base = ((b * outputShape.height + oy) * outputShape.width + ox) * c
                    for ky in 0..<window.kernelHeight {
                        let y = oy * window.strideHeight + ky - padTop
                        guard y >= 0, y < h else { continue }
                        for kx in 0..<window.kernelWidth {
                            let x = ox * window.strideWidth + kx - padLeft
                            guard x >= 0, x < w else { continue }
                            let offset = ((b * h + y) * w + x) * c
                            for ch in 0..<c where input[offset + ch] > output[base + ch] {
                                output[base + ch] = input[offset + ch]
                                winners[base + ch] = offset + ch
                            }
                        }
                    }
                }
            }
        }
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
        output = input.map { max($0, 0) }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) -> [Float] {
        var g = outputGradient
        for i in 0..<g.count where output[i] <= 0 { g[i] = 0 }
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
