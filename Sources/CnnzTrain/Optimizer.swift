import Foundation

/// Updates parameters from their gradients (the mean over the mini-batch), then clears the gradients.
public enum Optimizer: Sendable, Equatable {
    /// `v = momentum * v - lr * g; w += v` (Keras's SGD).
    case sgd(learningRate: Float, momentum: Float)
    /// Adam with Keras's defaults for `beta1`, `beta2` and `epsilon`.
    case adam(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7)
}

/// The optimizer's per-parameter state (velocity, or Adam's moments).
public final class OptimizerState {
    public let optimizer: Optimizer
    private var first: [ObjectIdentifier: [Float]] = [:]
    private var second: [ObjectIdentifier: [Float]] = [:]
    private var steps = 0

    public init(_ optimizer: Optimizer) { self.optimizer = optimizer }

    /// One update of every trainable parameter, with the learning rate scaled
    /// by `rateScale` (the schedule) and `weightDecay * w` added to each kernel's
    /// gradient (L2 regularization); clears every gradient. Updates in place:
    /// after the first step, no allocation.
    public func step(_ parameters: [Parameter], rateScale: Float = 1, weightDecay: Float = 0) {
        let rate = beginStep(parameters, rateScale: rateScale)
        for p in parameters {
            let target = self.target(p, weightDecay: weightDecay)
            update(target, 0..<p.value.count, rate: rate)
        }
    }

    /// Starts a step: counts it, makes the state of parameters seen for the first
    /// time, and returns the step size (Adam's bias corrections folded in). Then
    /// `update` every parameter's `target`, in parts, in any order, on any threads.
    func beginStep(_ parameters: [Parameter], rateScale: Float) -> Float {
        steps += 1
        for p in parameters where p.trainable {
            let id = ObjectIdentifier(p)
            if first[id] == nil { first[id] = [Float](repeating: 0, count: p.value.count) }
            if case .adam = optimizer, second[id] == nil {
                second[id] = [Float](repeating: 0, count: p.value.count)
            }
        }
        switch optimizer {
        case .sgd(let lr, _): return lr * rateScale
        case .adam(let lr, let beta1, let beta2, _):
            // Keras's form: the bias corrections folded into the step size.
            let t = Double(steps)
            return Float(
                Double(lr * rateScale) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        }
    }

    /// Where one parameter's update reads and writes: its value, gradient and
    /// state, as pointers taken on one thread (after `beginStep`; valid until
    /// the arrays change size), so that parts can be updated on several threads.
    struct Target: @unchecked Sendable {
        var value: UnsafeMutablePointer<Float>
        var gradient: UnsafeMutablePointer<Float>
        /// nil for a frozen parameter (its gradient is only cleared).
        var first: UnsafeMutablePointer<Float>?
        var second: UnsafeMutablePointer<Float>?
        var decay: Float
    }

    /// `p`'s `Target`; biases and normalization parameters are not decayed (as Keras's kernel_regularizer).
    func target(_ p: Parameter, weightDecay: Float) -> Target {
        let id = ObjectIdentifier(p)
        return Target(
            value: p.value.withUnsafeMutableBufferPointer { $0.baseAddress! },
            gradient: p.gradient.withUnsafeMutableBufferPointer { $0.baseAddress! },
            first: p.trainable ? first[id]?.withUnsafeMutableBufferPointer { $0.baseAddress! } : nil,
            second: p.trainable ? second[id]?.withUnsafeMutableBufferPointer { $0.baseAddress! } : nil,
            decay: p.shape.count >= 2 ? weightDecay : 0)
    }

    /// Updates `range` of a parameter from its gradient with the step size
    /// `beginStep` returned, and clears that part of the gradient.
    func update(_ target: Target, _ range: Range<Int>, rate: Float) {
        let (w, g, decay) = (target.value, target.gradient, target.decay)
        defer { (g + range.lowerBound).update(repeating: 0, count: range.count) }
        guard let m = target.first else { return }
        switch optimizer {
        case .sgd(_, let momentum):
            for i in range {
                m[i] = momentum * m[i] - rate * (g[i] + decay * w[i])
                w[i] += m[i]
            }
        case .adam(_, let beta1, let beta2, let epsilon):
            let (start, v) = (range.lowerBound, target.second!)
            Kernels.adamUpdate(
                count: range.count, w: w + start, g: g + start, m: m + start, v: v + start, rate: rate, beta1: beta1,
                beta2: beta2, epsilon: epsilon, decay: decay)
        }
    }
}
