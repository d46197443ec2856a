import Cnnz

/// Dense on the last axis: kernel `[in, units]`, bias `[units]`; on `[H, W, C]` it acts at every position.
public final class DenseLayer: TrainingLayer {
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public let parameters: [Parameter]
    let units: Int
    /// False for the first layer, whose input gradient nobody needs (it is then not computed).
    public var needsInputGradient = true
    /// True when a ReLU follows: the GEMM's store applies it (the ReLU layer then passes values through).
    var appliesReLU = false
    /// The last training batch's input (the previous layer's buffer), released by `backward`.
    private var input: [Float] = []
    private var output: [Float] = []
    private var packed: [Float] = []
    /// The packs of the weights, shared with the other replicas' copies of this layer (set by the trainer).
    var forwardPack: SharedPack?
    var transposedPack: SharedPack?
    private var inputGradient: [Float] = []
    /// Set by the trainer for large kernels: `backward` leaves the kernel's gradient to
    /// `accumulateDeferredGradient`, called during the optimizer step with the whole
    /// batch's slices, so that no replica keeps (and the step gathers) a kernel-sized gradient.
    var defersWeightGradient = false
    /// What `accumulateDeferredGradient` needs from the last `backward`: its output
    /// gradient and rows (the input is kept in `input`); released by `releaseDeferred`.
    private var deferredOutputGradient: [Float] = []
    private var deferredRows = 0
    /// Set by the trainer in the replicas of a layer that defers its kernel's gradient: the
    /// network's kernel, read instead of the replica's own (which then holds no values), so
    /// that the optimizer step does not copy the new weights into every replica.
    var sharedKernel: Parameter?

    public init(input: TensorShape, units: Int, kernel: Parameter, bias: Parameter?) {
        inputShape = input
        self.units = units
        outputShape =
            input.rank == 1
            ? TensorShape(flat: units) : TensorShape(height: input.height, width: input.width, channels: units)
        parameters = [kernel] + (bias.map { [$0] } ?? [])
    }

    public func forward(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float] {
        if training { self.input = input }
        let (m, k, units) = (batch * inputShape.pixels, inputShape.channels, units)
        output.resize(to: m * units)
        let weights = sharedKernel ?? parameters[0]
        func multiply(_ b: UnsafePointer<Float>, ldb: Int) {
            withBias { bias in
                input.withUnsafeBufferPointer { x in
                    output.withUnsafeMutableBufferPointer { y in
                        Kernels.multiply(
                            m: m, k: k, n: units, x.baseAddress!, lda: k, packed: b, y.baseAddress!, ldc: units,
                            bias: bias, relu: appliesReLU, ldb: ldb)
                    }
                }
            }
        }
        if Kernels.forwardReadsInPlace(k: k, n: units) {
            weights.value.withUnsafeBufferPointer { multiply($0.baseAddress!, ldb: units) }
        } else {
            withPack(forwardPack, &packed) { (target: inout [Float]) in
                weights.value.withUnsafeBufferPointer { w in
                    Kernels.pack(k: k, n: units, w.baseAddress!, ldb: units, transposed: false, into: &target)
                }
            } _: {
                multiply($0, ldb: 0)
            }
        }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float] {
        let (m, k, units) = (batch * inputShape.pixels, inputShape.channels, units)
        let deferring = defersWeightGradient && parameters[0].trainable
        defer {
            if deferring {
                // Kept, not copied, until the optimizer step has used them.
                deferredOutputGradient = outputGradient
                deferredRows = m
            } else {
                input = []
            }
        }
        if parameters.count > 1, parameters[1].trainable {
            sumRows(outputGradient, rows: m, into: &parameters[1].gradient)
        }
        inputGradient.resize(to: m * k)
        outputGradient.withUnsafeBufferPointer { dy in
            if parameters[0].trainable && !deferring {
                input.withUnsafeBufferPointer { x in
                    parameters[0].gradient.withUnsafeMutableBufferPointer { g in
                        Kernels.accumulateTransposedA(
                            rows: m, k: k, n: units, x.baseAddress!, lda: k, dy.baseAddress!, ldb: units,
                            g.baseAddress!, ldc: units)
                    }
                }
            }
            guard needsInputGradient else { return }
            let weights = sharedKernel ?? parameters[0]
            withPack(transposedPack, &packed) { (target: inout [Float]) in
                weights.value.withUnsafeBufferPointer { w in
                    Kernels.pack(k: units, n: k, w.baseAddress!, ldb: units, transposed: true, into: &target)
                }
            } _: { p in
                inputGradient.withUnsafeMutableBufferPointer { dx in
                    Kernels.multiply(
                        m: m, k: units, n: k, dy.baseAddress!, lda: units, packed: p, dx.baseAddress!, ldc: k)
                }
            }
        }
        return inputGradient
    }

    /// `gradient[r, j] += Σ x[i, r] · dY[i, j]` for the kernel rows `rows` (inputs), over the
    /// rows `i` of the last `backward`'s batch, when it deferred the kernel's gradient;
    /// `gradient` points at the kernel's whole `[in, units]` gradient. Slices of a batch
    /// added one after the other, in order, give the sums their per-slice gradients did.
    func accumulateDeferredGradient(rows: Range<Int>, into gradient: UnsafeMutablePointer<Float>) {
        guard deferredRows > 0, !rows.isEmpty else { return }
        let (k, units) = (inputShape.channels, units)
        input.withUnsafeBufferPointer { x in
            deferredOutputGradient.withUnsafeBufferPointer { dy in
                Kernels.accumulateTransposedA(
                    rows: deferredRows, k: rows.count, n: units, x.baseAddress! + rows.lowerBound, lda: k,
                    dy.baseAddress!, ldb: units, gradient + rows.lowerBound * units, ldc: units)
            }
        }
    }

    /// Lets go of what `backward` kept for `accumulateDeferredGradient` (the buffers are other layers').
    func releaseDeferred() {
        input = []
        deferredOutputGradient = []
        deferredRows = 0
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
///
/// The network fuses it with its neighbours where it can: after a Conv2D or
/// Dense the GEMM's store applies it (`inputIsRectified`: the values pass
/// through), and before a MaxPooling2D the pooling's backward pass masks the
/// gradient (`gradientMaskedByNext`: the gradient passes through).
public final class ReLULayer: TrainingLayer {
    public let inputShape: TensorShape
    public var outputShape: TensorShape { inputShape }
    public var parameters: [Parameter] { [] }
    /// The layer before already applied `max(x, 0)`.
    var inputIsRectified = false
    /// The layer after already zeroed the gradient where the output is not positive.
    var gradientMaskedByNext = false
    private var output: [Float] = []
    private var inputGradient: [Float] = []

    public init(input: TensorShape) { inputShape = input }

    public func forward(_ input: [Float], batch: Int, training: Bool) -> [Float] {
        if inputIsRectified {
            // Kept (not copied) for the backward pass, which releases it.
            output = training && !gradientMaskedByNext ? input : []
            return input
        }
        output.resize(to: input.count)
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in for i in y.indices { y[i] = max(x[i], 0) } }
        }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) -> [Float] {
        if gradientMaskedByNext { return outputGradient }
        defer { if inputIsRectified { output = [] } }
        inputGradient.resize(to: outputGradient.count)
        outputGradient.withUnsafeBufferPointer { dy in
            output.withUnsafeBufferPointer { y in
                inputGradient.withUnsafeMutableBufferPointer { dx in
                    for i in dx.indices { dx[i] = y[i] > 0 ? dy[i] : 0 }
                }
            }
        }
        return inputGradient
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
    private var active = false
    private var output: [Float] = []
    private var inputGradient: [Float] = []

    public init(input: TensorShape, rate: Float, seed: UInt64) {
        inputShape = input
        self.rate = rate
        random = SplitMix64(seed: seed)
    }

    public func forward(_ input: [Float], batch: Int, training: Bool) -> [Float] {
        active = training && rate > 0
        guard active else { return input }
        let keep = 1 / (1 - rate)
        // Compared as 24-bit integers: the same draws as `nextFloat() < rate`.
        let threshold = UInt64((rate * Float(1 << 24)).rounded(.up))
        mask.resize(to: input.count)
        output.resize(to: input.count)
        input.withUnsafeBufferPointer { x in
            mask.withUnsafeMutableBufferPointer { m in
                output.withUnsafeMutableBufferPointer { y in
                    for i in x.indices {
                        let scale: Float = random.next() >> 40 < threshold ? 0 : keep
                        m[i] = scale
                        y[i] = x[i] * scale
                    }
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) -> [Float] {
        guard active else { return outputGradient }
        inputGradient.resize(to: outputGradient.count)
        outputGradient.withUnsafeBufferPointer { dy in
            mask.withUnsafeBufferPointer { m in
                inputGradient.withUnsafeMutableBufferPointer { dx in for i in dx.indices { dx[i] = dy[i] * m[i] } }
            }
        }
        return inputGradient
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
