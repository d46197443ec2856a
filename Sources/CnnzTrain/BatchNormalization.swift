import Cnnz

/// BatchNormalization on the last axis (Keras's defaults: `axis` -1). While
/// training, each channel is normalized with the mean and (biased) variance of
/// the batch — of each slice of it (the trainer cuts a mini-batch into slices
/// for its threads), as data-parallel Keras does per replica — and the moving averages follow them
/// (`moving = moving * momentum + batch * (1 - momentum)`); otherwise, and
/// when the layer is frozen (`"trainable": false`, as Keras 3 runs a frozen
/// BatchNormalization), the moving averages are used.
public final class BatchNormalizationLayer: TrainingLayer {
    public let inputShape: TensorShape
    public var outputShape: TensorShape { inputShape }
    public let parameters: [Parameter]
    let gamma: Parameter?
    let beta: Parameter?
    let movingMean: Parameter
    let movingVariance: Parameter
    let epsilon: Float
    let momentum: Float
    let frozen: Bool
    private var normalized: [Float] = []
    /// Per channel, `1 / sqrt(variance + epsilon)` of the last forward pass.
    private var inverseDeviation: [Float] = []
    private var mean: [Float] = []
    private var sums: [Double] = []
    /// Per channel, the sums of dY and of dY * x̂ over the batch (for the backward pass).
    private var sumGradient: [Float] = []
    private var sumGradientTimesNormalized: [Float] = []
    /// gamma, or ones when the layer has no scale; beta, or zeros.
    private let ones: [Float]
    private let zeros: [Float]
    private var usedBatchStatistics = false
    private var output: [Float] = []
    private var inputGradient: [Float] = []

    /// `gamma` and `beta` are nil when the config says `scale` or `center` false.
    public init(
        input: TensorShape, gamma: Parameter?, beta: Parameter?, movingMean: Parameter, movingVariance: Parameter,
        epsilon: Float, momentum: Float
    ) {
        inputShape = input
        self.gamma = gamma
        self.beta = beta
        self.movingMean = movingMean
        self.movingVariance = movingVariance
        self.epsilon = epsilon
        self.momentum = momentum
        frozen = !(gamma?.trainable ?? beta?.trainable ?? movingMean.trainable)
        // The moving statistics are state, not trained: the optimizer leaves them alone.
        movingMean.trainable = false
        movingVariance.trainable = false
        parameters = [gamma, beta].compactMap { $0 } + [movingMean, movingVariance]
        ones = [Float](repeating: 1, count: input.channels)
        zeros = [Float](repeating: 0, count: input.channels)
    }

    var channels: Int { inputShape.channels }

    public func forward(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float] {
        let c = channels
        let rows = batch * inputShape.pixels
        output.resize(to: rows * c)
        normalized.resize(to: rows * c)
        mean.resize(to: c)
        inverseDeviation.resize(to: c)
        usedBatchStatistics = training && !frozen
        if usedBatchStatistics {
            // Two passes, summed in Double per channel: exact enough for any batch.
            if sums.count != c { sums = [Double](repeating: 0, count: c) }
            for j in 0..<c { sums[j] = 0 }
            // Through buffer pointers: indexing the stored arrays in the loop checks exclusivity per element.
            input.withUnsafeBufferPointer { x in
                sums.withUnsafeMutableBufferPointer { sums in
                    mean.withUnsafeMutableBufferPointer { mean in
                        for r in 0..<rows { for j in 0..<c { sums[j] += Double(x[r * c + j]) } }
                        for j in 0..<c { mean[j] = Float(sums[j] / Double(rows)) }
                        for j in 0..<c { sums[j] = 0 }
                        for r in 0..<rows {
                            for j in 0..<c {
                                let d = Double(x[r * c + j] - mean[j])
                                sums[j] += d * d
                            }
                        }
                    }
                }
            }
            for j in 0..<c {
                let variance = Float(sums[j] / Double(rows))
                inverseDeviation[j] = 1 / (variance + epsilon).squareRoot()
                movingMean.value[j] = movingMean.value[j] * momentum + mean[j] * (1 - momentum)
                movingVariance.value[j] = movingVariance.value[j] * momentum + variance * (1 - momentum)
            }
        } else {
            for j in 0..<c {
                mean[j] = movingMean.value[j]
                inverseDeviation[j] = 1 / (movingVariance.value[j] + epsilon).squareRoot()
            }
        }
        let scale = gamma?.value ?? ones
        let shift = beta?.value ?? zeros
        input.withUnsafeBufferPointer { x in
            normalized.withUnsafeMutableBufferPointer { n in
                output.withUnsafeMutableBufferPointer { y in
                    mean.withUnsafeBufferPointer { mean in
                        inverseDeviation.withUnsafeBufferPointer { inverseDeviation in
                            for r in 0..<rows {
                                for j in 0..<c {
                                    let v = (x[r * c + j] - mean[j]) * inverseDeviation[j]
                                    n[r * c + j] = v
                                    y[r * c + j] = v * scale[j] + shift[j]
                                }
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float] {
        let c = channels
        let rows = batch * inputShape.pixels
        sumGradient.resize(to: c)
        sumGradientTimesNormalized.resize(to: c)
        sumGradient.zero()
        sumGradientTimesNormalized.zero()
        outputGradient.withUnsafeBufferPointer { dy in
            normalized.withUnsafeBufferPointer { n in
                sumGradient.withUnsafeMutableBufferPointer { sumGradient in
                    sumGradientTimesNormalized.withUnsafeMutableBufferPointer { sumGradientTimesNormalized in
                        for r in 0..<rows {
                            for j in 0..<c {
                                sumGradient[j] += dy[r * c + j]
                                sumGradientTimesNormalized[j] += dy[r * c + j] * n[r * c + j]
                            }
                        }
                    }
                }
            }
        }
        if let gamma, gamma.trainable { for j in 0..<c { gamma.gradient[j] += sumGradientTimesNormalized[j] } }
        if let beta, beta.trainable { for j in 0..<c { beta.gradient[j] += sumGradient[j] } }
        let scale = gamma?.value ?? ones
        inputGradient.resize(to: rows * c)
        let statistics = usedBatchStatistics
        outputGradient.withUnsafeBufferPointer { dy in
            normalized.withUnsafeBufferPointer { n in
                inputGradient.withUnsafeMutableBufferPointer { dx in
                    inverseDeviation.withUnsafeBufferPointer { inverseDeviation in
                        sumGradient.withUnsafeBufferPointer { sumGradient in
                            sumGradientTimesNormalized.withUnsafeBufferPointer { sumGradientTimesNormalized in
                                let count = Float(rows)
                                for r in 0..<rows {
                                    for j in 0..<c {
                                        let i = r * c + j
                                        let factor = scale[j] * inverseDeviation[j]
                                        // With batch statistics the mean and variance depend on x too.
                                        dx[i] =
                                            statistics
                                            ? factor
                                                * (dy[i] - sumGradient[j] / count - n[i]
                                                    * sumGradientTimesNormalized[j] / count)
                                            : factor * dy[i]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return inputGradient
    }
}
