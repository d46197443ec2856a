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

    /// One update of every trainable parameter; clears every gradient.
    public func step(_ parameters: [Parameter]) {
        steps += 1
        for p in parameters {
            defer { p.gradient = [Float](repeating: 0, count: p.value.count) }
            guard p.trainable else { continue }
            let id = ObjectIdentifier(p)
            var m = first[id] ?? [Float](repeating: 0, count: p.value.count)
            switch optimizer {
            case .sgd(let lr, let momentum):
                for i in 0..<m.count {
                    m[i] = momentum * m[i] - lr * p.gradient[i]
                    p.value[i] += m[i]
                }
            case .adam(let lr, let beta1, let beta2, let epsilon):
                var v = second[id] ?? [Float](repeating: 0, count: p.value.count)
                // Keras's form: the bias corrections folded into the step size.
                let t = Double(steps)
                let rate = Float(Double(lr) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
                for i in 0..<m.count {
                    let g = p.gradient[i]
                    m[i] += (g - m[i]) * (1 - beta1)
                    v[i] += (g * g - v[i]) * (1 - beta2)
                    p.value[i] -= rate * m[i] / (v[i].squareRoot() + epsilon)
                }
                second[id] = v
            }
            first[id] = m
        }
    }
}
