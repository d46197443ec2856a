import Cnnz
import CnnzConvert

/// One layer of a trainable architecture, with its weights when the model.json gives them.
public struct LayerSpec: Sendable {
    public enum Kind: Equatable, Sendable {
        case conv2D(window: Window, filters: Int, useBias: Bool)
        case dense(units: Int, useBias: Bool)
        case maxPool2D(window: Window)
        case flatten
        case dropout(rate: Float)
        case batchNormalization(epsilon: Float, momentum: Float, center: Bool, scale: Bool)
        /// `relu`, `linear` or (last layer only) `softmax`.
        case activation(String)
    }
    public var kind: Kind
    /// Applied after the layer: `linear`, `relu` or `softmax`.
    public var activation: String
    /// Given weights in Keras's order, or nil to initialize them.
    public var weights: [Tensor]?
    /// False when the config says `"trainable": false`.
    public var trainable: Bool
    /// The JSON layer object, written back with trained weights.
    public var json: [String: JSONValue]
    /// "layer J (ClassName)", J counting the model.json's layers from 0, for messages.
    public var label: String
}

/// A model.json (docs/model-json.md) read for training: a sequential stack of
/// the layers the trainer has backward passes for. Weights may be left out.
public struct Architecture: Sendable {
    public var inputShape: TensorShape
    public var preprocessing: Preprocessing
    public var labels: [String]
    public var name: String
    public var layers: [LayerSpec]
    /// The top-level JSON object, written back with trained weights.
    public var json: [String: JSONValue]
    /// The epochs a model.json written by `train` was trained for (its `"training"` record), or 0.
    public var epochsDone: Int {
        guard case .object(let record)? = json["training"], case .number(let n)? = record["epochs"], n >= 0,
            n <= 1e9
        else { return 0 }
        return Int(n)
    }

    /// Parses model.json bytes; errors name the layer and what is not supported.
    public init(json bytes: [UInt8]) throws(CnnzError) {
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch { throw .format(error.description) }
        guard case .object(let top) = root else { throw .format("model.json: the top level is not an object") }
        json = top
        guard case .string("cnnz-json")? = top["format"], case .number(1)? = top["version"] else {
            throw .format("model.json: needs \"format\": \"cnnz-json\" and \"version\": 1")
        }
        guard case .object(let input)? = top["input"], case .array(let shapeValues)? = input["shape"],
            shapeValues.count == 3
        else { throw .format("model.json: \"input.shape\" must be [height, width, channels]") }
        let shape = try shapeValues.map { (v: JSONValue) throws(CnnzError) -> Int in try Self.integer(v, "input.shape")
        }
        guard shape.allSatisfy({ $0 >= 1 && $0 <= Limits.maxDimension }) else {
            throw .format("model.json: \"input.shape\" holds a size outside 1...\(Limits.maxDimension)")
        }
        inputShape = TensorShape(height: shape[0], width: shape[1], channels: shape[2])
        preprocessing = .identity
        if case .object(let p)? = top["preprocess"] {
            if case .number(let s)? = p["scale"] { preprocessing.scale = Float(s) }
            if let m = p["mean"] { preprocessing.mean = try Self.floats(m, "preprocess.mean") }
            if let s = p["std"] { preprocessing.std = try Self.floats(s, "preprocess.std") }
            try preprocessing.validate(channels: inputShape.channels)
        }
        labels = []
        if case .array(let items)? = top["labels"] {
            for item in items {
                guard case .string(let s) = item else { throw .format("model.json: \"labels\" holds a non-string") }
                labels.append(s)
            }
        }
        name = ""
        if case .string(let s)? = top["name"] { name = s }
        guard case .array(let items)? = top["layers"], !items.isEmpty else {
            throw .format("model.json: \"layers\" is missing or empty")
        }
        layers = []
        for (j, item) in items.enumerated() {
            guard case .object(let object) = item, case .string(let className)? = object["class_name"] else {
                throw .format("layer \(j): not an object with a \"class_name\"")
            }
            if className == "InputLayer" { continue }
            layers.append(try Self.layer(object, className: className, label: "layer \(j) (\(className))"))
        }
        guard !layers.isEmpty else { throw .format("model.json: no layer to train") }
    }

    private static func layer(_ object: [String: JSONValue], className: String, label: String) throws(CnnzError)
        -> LayerSpec
    {
        if object["inputs"] != nil { throw .unsupported("\(label): the trainer takes sequential models only") }
        var config: [String: JSONValue] = [:]
        if case .object(let c)? = object["config"] { config = c }
        let reader = ConfigReader(label: label, config: config)
        let trainable = try reader.bool("trainable", default: true)
        var activation = try reader.string("activation", default: "linear")
        guard ["linear", "relu", "softmax"].contains(activation) else {
            throw .unsupported("\(label): activation \"\(activation)\" (the trainer has linear, relu and softmax)")
        }
        if try reader.string("data_format", default: "channels_last") != "channels_last" {
            throw .unsupported("\(label): only channels_last data is supported")
        }
        let kind: LayerSpec.Kind
        switch className {
        case "Conv2D":
            guard try reader.pair("dilation_rate", default: [1, 1]) == [1, 1], try reader.int("groups", default: 1) == 1
            else { throw .unsupported("\(label): dilated or grouped convolutions are not trainable yet") }
            let size = try reader.pair("kernel_size", default: nil)
            kind = .conv2D(
                window: try reader.window(kernel: size, strides: [1, 1]),
                filters: try reader.int("filters", default: nil), useBias: try reader.bool("use_bias", default: true))
        case "Dense":
            kind = .dense(
                units: try reader.int("units", default: nil), useBias: try reader.bool("use_bias", default: true))
        case "MaxPooling2D":
            let pool = try reader.pair("pool_size", default: [2, 2])
            kind = .maxPool2D(window: try reader.window(kernel: pool, strides: pool, kernelKey: "pool_size"))
        case "Flatten":
            kind = .flatten
        case "Dropout":
            let rate = Float(try reader.number("rate", default: 0.5))
            guard rate >= 0, rate < 1 else { throw .format("\(label): \"rate\" \(rate) is not in [0, 1)") }
            kind = .dropout(rate: rate)
        case "BatchNormalization":
            let axis = try reader.int("axis", default: -1)
            guard axis == -1 || axis == 3 || axis == 1 else {
                throw .unsupported("\(label): BatchNormalization trains on the last axis only (axis -1)")
            }
            let epsilon = Float(try reader.number("epsilon", default: 0.001))
            let momentum = Float(try reader.number("momentum", default: 0.99))
            guard epsilon > 0, epsilon.isFinite, momentum >= 0, momentum < 1 else {
                throw .format("\(label): needs epsilon > 0 and momentum in [0, 1)")
            }
            kind = .batchNormalization(
                epsilon: epsilon, momentum: momentum, center: try reader.bool("center", default: true),
                scale: try reader.bool("scale", default: true))
        case "Activation", "ReLU", "Softmax":
            if className != "Activation" { activation = className == "ReLU" ? "relu" : "softmax" }
            kind = .activation(activation)
            activation = "linear"
        default:
            throw .unsupported(
                "\(label): the trainer has no backward pass for \(className) yet (it trains Conv2D, Dense, BatchNormalization, MaxPooling2D, Flatten, Dropout, ReLU, Activation, Softmax)"
            )
        }
        var weights: [Tensor]?
        if case .array(let list)? = object["weights"], !list.isEmpty {
            weights = try list.enumerated().map { (i, v) throws(CnnzError) -> Tensor in
                try TensorJSON.decode(v, "\(label): weight \(i)")
            }
        }
        return LayerSpec(
            kind: kind, activation: activation, weights: weights, trainable: trainable, json: object, label: label)
    }

    static func integer(_ value: JSONValue, _ what: String) throws(CnnzError) -> Int {
        guard case .number(let d) = value, d == d.rounded(), abs(d) <= Double(Int32.max) else {
            throw .format("\(what): not an integer")
        }
        return Int(d)
    }

    static func floats(_ value: JSONValue, _ what: String) throws(CnnzError) -> [Float] {
        if case .number(let d) = value { return [Float(d)] }
        guard case .array(let items) = value else { throw .format("\(what): not a number or an array") }
        return try items.map { (v: JSONValue) throws(CnnzError) -> Float in
            guard case .number(let d) = v, Float(d).isFinite else { throw .format("\(what): holds a non-number") }
            return Float(d)
        }
    }
}
