/// How pixels (0...255) become network inputs: `x = (pixel * scale - mean[c]) / std[c]`.
public struct Preprocessing: Equatable, Sendable {
    /// Multiplies the 0...255 pixel first.
    public var scale: Float
    /// One value for every channel, or one per channel.
    public var mean: [Float]
    /// One value for every channel, or one per channel; never 0.
    public var std: [Float]

    /// Preprocessing constants; the defaults leave pixels unchanged.
    public init(scale: Float = 1, mean: [Float] = [0], std: [Float] = [1]) {
        self.scale = scale
        self.mean = mean
        self.std = std
    }

    /// `x = pixel`.
    public static let identity = Preprocessing()

    /// The network input for a pixel value in 0...255 on channel `channel`.
    @inline(__always)
    public func apply(_ pixel: Float, channel: Int) -> Float {
        (pixel * scale - (mean.count == 1 ? mean[0] : mean[channel])) / (std.count == 1 ? std[0] : std[channel])
    }
}

/// A known input and the output it must produce.
public struct SelfTestVector: Equatable, Sendable {
    /// One prepared image, `H * W * C` floats.
    public var input: [Float]
    /// The outputs it must produce.
    public var output: [Float]
    /// The largest absolute difference allowed per output.
    public var tolerance: Float

    /// A self-test vector.
    public init(input: [Float], output: [Float], tolerance: Float) {
        self.input = input
        self.output = output
        self.tolerance = tolerance
    }
}

/// Everything a `.cnnz` file holds.
public struct ModelDescription: Equatable, Sendable {
    /// Free text from the model.json.
    public var name: String
    /// One label per output, or none.
    public var labels: [String]
    /// How pixels become inputs.
    public var preprocessing: Preprocessing
    /// The network.
    public var graph: Graph
    /// The weights, referenced by index from the layers.
    public var tensors: [Tensor]
    /// A known input and output, when the file holds one.
    public var selfTest: SelfTestVector?
    /// Int8 models: the quantization of every value (index 0: the input,
    /// `i + 1`: layer `i`'s output; nil for a value kept in float32). Empty
    /// for float32 and weights-int8 models.
    public var activationQuantization: [ActivationQuantization?]

    /// A model's contents; `Model.init` validates them.
    public init(
        name: String, labels: [String], preprocessing: Preprocessing, graph: Graph, tensors: [Tensor],
        selfTest: SelfTestVector?, activationQuantization: [ActivationQuantization?] = []
    ) {
        self.name = name
        self.labels = labels
        self.preprocessing = preprocessing
        self.graph = graph
        self.tensors = tensors
        self.selfTest = selfTest
        self.activationQuantization = activationQuantization
    }
}
