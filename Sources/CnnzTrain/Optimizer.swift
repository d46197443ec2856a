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
        steps += 1
        for p in parameters {
            defer { p.gradient.zero() }
            guard p.trainable else { continue }
            let id = ObjectIdentifier(p)
            if first[id] == nil { first[id] = [Float](repeating: 0, count: p.value.count) }
            // Biases and normalization parameters are not decayed (as Keras's kernel_regularizer).
            let decay = p.shape.count >= 2 ? weightDecay : 0
            switch optimizer {
            case .sgd(let lr, let momentum):
                let rate = lr * rateScale
                first[id]!.withUnsafeMutableBufferPointer { m in
                    p.gradient.withUnsafeBufferPointer { g in
                        p.value.withUnsafeMutableBufferPointer { w in
                            for i in 0..<m.count {
                                m[i] = momentum * m[i] - rate * (g[i] + decay * w[i])
                                w[i] += m[i]
                            }
                        }
                    }
                }
            case .adam(let lr, let beta1, let beta2, let epsilon):
                if second[id] == nil { second[id] = [Float](repeating: 0, count: p.value.count) }
                // Keras's form: the bias corrections folded into the step size.
                let t = Double(steps)
                let rate = Float(
                    Double(lr * rateScale) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
                first[id]!.withUnsafeMutableBufferPointer { m in
                    second[id]!.withUnsafeMutableBufferPointer { v in
                        p.gradient.withUnsafeBufferPointer { g in
                            p.value.withUnsafeMutableBufferPointer { w in
                                for i in 0..<m.count {
                                    let g = g[i] + decay * w[i]
                                    m[i] += (g - m[i]) * (1 - beta1)
                                    v[i] += (g * g - v[i]) * (1 - beta2)
                                    w[i] -= rate * m[i] / (v[i].squareRoot() + epsilon)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
