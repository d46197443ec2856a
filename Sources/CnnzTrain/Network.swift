import Cnnz
import CnnzConvert
import Foundation

/// A sequential network built from an `Architecture`, with parameters
/// initialized as Keras does where the model.json gives no weights.
public final class Network {
    public let architecture: Architecture
    public let layers: [TrainingLayer]
    /// For each spec layer, its parameters (kernel, then bias), for writing back.
    let specParameters: [[Parameter]]
    /// The number of classes (the last layer's outputs).
    public var classes: Int { layers.last!.outputShape.elementCount }

    /// - Parameters:
    ///   - seed: drives the initialization and dropout, so a run repeats exactly.
    ///   - replica: a copy for another thread: the same initialization, its own dropout masks.
    public init(_ architecture: Architecture, seed: UInt64, replica: Int = 0) throws(CnnzError) {
        self.architecture = architecture
        var random = SplitMix64(seed: seed)
        var shape = architecture.inputShape
        var layers: [TrainingLayer] = []
        var specParameters: [[Parameter]] = []
        for (index, spec) in architecture.layers.enumerated() {
            let label = spec.label
            var parameters: [Parameter] = []
            func weights(_ shapes: [[Int]], fanIn: Int, fanOut: Int) throws(CnnzError) -> [Parameter] {
                if let given = spec.weights {
                    guard given.count == shapes.count else {
                        throw .format("\(label): needs \(shapes.count) weight tensors, has \(given.count)")
                    }
                    for (t, s) in zip(given, shapes) where t.shape != s {
                        throw .format("\(label): a weight has shape \(t.shape), expected \(s)")
                    }
                    return given.map { Parameter(shape: $0.shape, value: $0.values, trainable: spec.trainable) }
                }
                // Glorot uniform kernel, zero bias (Keras's defaults).
                let limit = Float((6 / Double(fanIn + fanOut)).squareRoot())
                let count = shapes[0].reduce(1, *)
                let kernel = (0..<count).map { _ in (random.nextFloat() * 2 - 1) * limit }
                var result = [Parameter(shape: shapes[0], value: kernel, trainable: spec.trainable)]
                if shapes.count > 1 {
                    result.append(
                        Parameter(
                            shape: shapes[1], value: [Float](repeating: 0, count: shapes[1][0]),
                            trainable: spec.trainable))
                }
                return result
            }
            let layer: TrainingLayer
            switch spec.kind {
            case .conv2D(let window, let filters, let useBias):
                guard shape.rank == 3 else { throw .format("\(label): needs an [H, W, C] input, gets \(shape)") }
                let taps = window.kernelHeight * window.kernelWidth
                let kernelShape = [window.kernelHeight, window.kernelWidth, shape.channels, filters]
                parameters = try weights(
                    useBias ? [kernelShape, [filters]] : [kernelShape], fanIn: taps * shape.channels,
                    fanOut: taps * filters)
                layer = Conv2DLayer(
                    input: shape, window: window, filters: filters, kernel: parameters[0],
                    bias: useBias ? parameters[1] : nil)
            case .dense(let units, let useBias):
                let inputs = shape.channels
                parameters = try weights(
                    useBias ? [[inputs, units], [units]] : [[inputs, units]], fanIn: inputs, fanOut: units)
                layer = DenseLayer(
                    input: shape, units: units, kernel: parameters[0], bias: useBias ? parameters[1] : nil)
            case .maxPool2D(let window):
                guard shape.rank == 3 else { throw .format("\(label): needs an [H, W, C] input, gets \(shape)") }
                layer = MaxPoolLayer(input: shape, window: window)
            case .flatten:
                layer = FlattenLayer(input: shape)
            case .batchNormalization(let epsilon, let momentum, let center, let scale):
                let c = shape.channels
                let shapes = [[c], [c]].prefix((scale ? 1 : 0) + (center ? 1 : 0)) + [[c], [c]]
                if spec.weights != nil {
                    parameters = try weights(Array(shapes), fanIn: 0, fanOut: 0)
                } else {
                    // Keras's initial values: gamma 1, beta 0, moving mean 0, moving variance 1.
                    let initial: [Float] = (scale ? [1] : []) + (center ? [0] : []) + [0, 1]
                    parameters = initial.map {
                        Parameter(shape: [c], value: [Float](repeating: $0, count: c), trainable: spec.trainable)
                    }
                }
                var next = 0
                func take() -> Parameter {
                    defer { next += 1 }
                    return parameters[next]
                }
                let gamma = scale ? take() : nil
                let beta = center ? take() : nil
                layer = BatchNormalizationLayer(
                    input: shape, gamma: gamma, beta: beta, movingMean: take(), movingVariance: take(),
                    epsilon: epsilon, momentum: momentum)
            case .dropout(let rate):
                layer = DropoutLayer(input: shape, rate: rate, seed: random.next() &+ UInt64(replica) &* 0x9E37_79B9)
            case .activation(let name):
                layer = try Self.activation(name, shape: shape, isLast: index == architecture.layers.count - 1, label)
            }
            guard layer.outputShape.elementCount > 0 else { throw .format("\(label): its output is empty") }
            layers.append(layer)
            shape = layer.outputShape
            if case .activation = spec.kind {
            } else if spec.activation != "linear" {
                layers.append(
                    try Self.activation(
                        spec.activation, shape: shape, isLast: index == architecture.layers.count - 1, label))
            }
            specParameters.append(parameters)
        }
        guard layers.last is SoftmaxOutput else {
            throw .format("model.json: the last layer must end in softmax (the loss is categorical cross-entropy)")
        }
        Self.fuseReLUs(layers)
        // Nobody needs the gradient with respect to the images.
        if let first = layers.first as? Conv2DLayer { first.needsInputGradient = false }
        if let first = layers.first as? DenseLayer { first.needsInputGradient = false }
        self.layers = layers
        self.specParameters = specParameters
        parameters = layers.flatMap(\.parameters)
    }

    /// Lets each ReLU's neighbours do its work: a Conv2D or Dense before it
    /// applies it in its GEMM's store, a MaxPooling2D after it masks the
    /// gradient. Results are the same to the bit; two passes over the
    /// activations are saved.
    private static func fuseReLUs(_ layers: [TrainingLayer]) {
        for (i, layer) in layers.enumerated() {
            guard let relu = layer as? ReLULayer else { continue }
            if i > 0, let conv = layers[i - 1] as? Conv2DLayer {
                conv.appliesReLU = true
                relu.inputIsRectified = true
            } else if i > 0, let dense = layers[i - 1] as? DenseLayer {
                dense.appliesReLU = true
                relu.inputIsRectified = true
            }
            if i + 1 < layers.count, let pool = layers[i + 1] as? MaxPoolLayer {
                pool.masksGradient = true
                relu.gradientMaskedByNext = true
            }
        }
    }

    private static func activation(_ name: String, shape: TensorShape, isLast: Bool, _ label: String) throws(CnnzError)
        -> TrainingLayer
    {
        switch name {
        case "relu": return ReLULayer(input: shape)
        case "linear": return IdentityLayer(input: shape)
        default:
            guard isLast, shape.rank == 1 else {
                throw .unsupported("\(label): softmax is trainable only as the last layer, on a flat output")
            }
            return SoftmaxOutput(input: shape)
        }
    }

    /// Gives every dropout layer a generator of its own drawn from `random`.
    func reseedDropout(_ random: SplitMix64) {
        var random = random
        for case let dropout as DropoutLayer in layers { dropout.random = SplitMix64(seed: random.next()) }
    }

    /// Every parameter, in layer order (made once: the trainer reads it every step).
    public let parameters: [Parameter]

    /// When set, `logits` and `backward` add each layer's thread CPU time to
    /// `profile` (the trainer's `--profile`); off, they read no clock.
    public var profiling = false
    /// Per layer, the thread CPU seconds of its training forward and backward passes.
    public private(set) var profile: [(forward: Double, backward: Double)] = []

    /// The logits (the inputs of the final softmax) for a batch of prepared inputs.
    public func logits(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float] {
        var x = input
        guard profiling, training else {
            for layer in layers { x = try layer.forward(x, batch: batch, training: training) }
            return x
        }
        if profile.count != layers.count { profile = Array(repeating: (0, 0), count: layers.count) }
        for (i, layer) in layers.enumerated() {
            let start = threadProcessorSeconds()
            x = try layer.forward(x, batch: batch, training: training)
            profile[i].forward += threadProcessorSeconds() - start
        }
        return x
    }

    /// Back-propagates the gradient of the loss with respect to the logits.
    public func backward(_ logitGradient: [Float], batch: Int) throws(CnnzError) {
        var g = logitGradient
        guard profiling else {
            for layer in layers.reversed() { g = try layer.backward(g, batch: batch) }
            return
        }
        if profile.count != layers.count { profile = Array(repeating: (0, 0), count: layers.count) }
        for (i, layer) in layers.enumerated().reversed() {
            let start = threadProcessorSeconds()
            g = try layer.backward(g, batch: batch)
            profile[i].backward += threadProcessorSeconds() - start
        }
    }

    /// The architecture with the current weights, as model.json bytes.
    /// - Parameter training: numbers recorded under `"training"` (epochs done, for `--resume`).
    public func modelJSON(labels: [String], training: [String: Int] = [:]) -> [UInt8] {
        var top = architecture.json
        if !labels.isEmpty { top["labels"] = .array(labels.map { .string($0) }) }
        if !training.isEmpty { top["training"] = .object(training.mapValues { .number(Double($0)) }) }
        if case .array(let items)? = top["layers"] {
            var next = 0
            var written: [JSONValue] = []
            for item in items {
                guard case .object(var object) = item else { continue }
                if case .string("InputLayer")? = object["class_name"] {
                    written.append(item)
                    continue
                }
                let parameters = specParameters[next]
                next += 1
                if !parameters.isEmpty {
                    object["weights"] = .array(
                        parameters.map { TensorJSON.encode(Tensor(shape: $0.shape, values: $0.value)) })
                }
                written.append(.object(object))
            }
            top["layers"] = .array(written)
        }
        top["selftest"] = nil
        return Array(JSONWriter.write(.object(top)).utf8)
    }
}

/// The CPU time the calling thread has used, in seconds (for `--profile`).
func threadProcessorSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// `Activation("linear")`: passes values and gradients through.
final class IdentityLayer: TrainingLayer {
    let inputShape: TensorShape
    var outputShape: TensorShape { inputShape }
    var parameters: [Parameter] { [] }
    init(input: TensorShape) { inputShape = input }
    func forward(_ input: [Float], batch: Int, training: Bool) -> [Float] { input }
    func backward(_ outputGradient: [Float], batch: Int) -> [Float] { outputGradient }
}

/// The final softmax: the network's output are its logits (the loss applies it).
final class SoftmaxOutput: TrainingLayer {
    let inputShape: TensorShape
    var outputShape: TensorShape { inputShape }
    var parameters: [Parameter] { [] }
    init(input: TensorShape) { inputShape = input }
    func forward(_ input: [Float], batch: Int, training: Bool) -> [Float] { input }
    func backward(_ outputGradient: [Float], batch: Int) -> [Float] { outputGradient }
}

/// Writes JSON with sorted keys, one layer per line.
enum JSONWriter {
    static func write(_ value: JSONValue, depth: Int = 0) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
        case .string(let s): return quote(s)
        case .array(let items):
            let separator = depth == 1 ? ",\n  " : ", "
            return "[" + items.map { write($0, depth: depth + 1) }.joined(separator: separator) + "]"
        case .object(let o):
            let separator = depth == 0 ? ",\n " : ", "
            var members: [String] = []
            for key in o.keys.sorted() { members.append(quote(key) + ": " + write(o[key]!, depth: depth + 1)) }
            let body: String = members.joined(separator: separator)
            return "{" + body + "}" + (depth == 0 ? "\n" : "")
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
