/// How a convolution or pooling window treats the borders (TensorFlow's rules).
public enum Padding: UInt32, Sendable {
    case valid = 0
    case same = 1
}

/// The parameters of a sliding window: kernel, stride, dilation, padding.
public struct Window: Equatable, Sendable {
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideHeight: Int
    public var strideWidth: Int
    public var dilationHeight: Int
    public var dilationWidth: Int
    public var padding: Padding

    public init(
        kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
        dilationHeight: Int = 1, dilationWidth: Int = 1, padding: Padding = .valid
    ) {
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
        self.padding = padding
    }
}

/// What a layer computes. Weights are referenced by index into the model's tensor list.
public enum LayerKind: Equatable, Sendable {
    /// weights: kernel `[kh, kw, in/groups, filters]`, then bias `[filters]` when `hasBias`.
    case conv2D(window: Window, filters: Int, groups: Int, hasBias: Bool)
    /// weights: kernel `[kh, kw, in, multiplier]`, then bias `[in*multiplier]` when `hasBias`.
    case depthwiseConv2D(window: Window, multiplier: Int, hasBias: Bool)
    /// weights: kernel `[in, units]`, then bias `[units]` when `hasBias`. Acts on the last axis.
    case dense(units: Int, hasBias: Bool)
    case maxPool2D(window: Window)
    case averagePool2D(window: Window)
    case globalAveragePool2D(keepDims: Bool)
    case globalMaxPool2D(keepDims: Bool)
    case zeroPadding2D(top: Int, bottom: Int, left: Int, right: Int)
    /// Row-major `[H, W, C]` to `[H*W*C]`: no data moves.
    case flatten
    /// `y = x * scale[c] + shift[c]`: a batch normalization that could not be folded.
    /// weights: scale `[C]`, shift `[C]`.
    case channelAffine
    /// An activation on its own (the layer's `activation` is the function).
    case activation
    case add
    case concatenate

    /// Keras's class name, for display and messages.
    public var className: String {
        switch self {
        case .conv2D: return "Conv2D"
        case .depthwiseConv2D: return "DepthwiseConv2D"
        case .dense: return "Dense"
        case .maxPool2D: return "MaxPooling2D"
        case .averagePool2D: return "AveragePooling2D"
        case .globalAveragePool2D: return "GlobalAveragePooling2D"
        case .globalMaxPool2D: return "GlobalMaxPooling2D"
        case .zeroPadding2D: return "ZeroPadding2D"
        case .flatten: return "Flatten"
        case .channelAffine: return "BatchNormalization"
        case .activation: return "Activation"
        case .add: return "Add"
        case .concatenate: return "Concatenate"
        }
    }

    /// The number of weight tensors the layer needs.
    public var weightCount: Int {
        switch self {
        case .conv2D(_, _, _, let hasBias), .depthwiseConv2D(_, _, let hasBias), .dense(_, let hasBias):
            return hasBias ? 2 : 1
        case .channelAffine: return 2
        default: return 0
        }
    }
}

/// One node of the graph.
public struct Layer: Equatable, Sendable {
    public var kind: LayerKind
    /// Applied to the layer's output (fused into the kernel).
    public var activation: Activation
    /// Value indices: 0 is the model input, `i + 1` the output of layer `i`.
    public var inputs: [Int]
    /// Indices into the model's tensors, in the order `kind` documents.
    public var weights: [Int]
    /// The layer's name, for display (may be empty).
    public var name: String

    public init(
        kind: LayerKind, activation: Activation = .linear, inputs: [Int], weights: [Int] = [], name: String = ""
    ) {
        self.kind = kind
        self.activation = activation
        self.inputs = inputs
        self.weights = weights
        self.name = name
    }
}

/// A float32 weight tensor.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// The shape of one image's activation: `[H, W, C]` (rank 3) or `[C]` (rank 1, stored as 1x1xC).
public struct TensorShape: Equatable, Sendable, CustomStringConvertible {
    public var height: Int
    public var width: Int
    public var channels: Int
    public var rank: Int

    public init(height: Int, width: Int, channels: Int) {
        self.height = height
        self.width = width
        self.channels = channels
        self.rank = 3
    }

    public init(flat count: Int) {
        self.height = 1
        self.width = 1
        self.channels = count
        self.rank = 1
    }

    public var elementCount: Int { height * width * channels }
    public var pixels: Int { height * width }

    public var description: String {
        rank == 1 ? "\(channels)" : "\(height)x\(width)x\(channels)"
    }
}

/// The whole network: an input and layers in execution order.
public struct Graph: Equatable, Sendable {
    public var inputShape: TensorShape
    public var layers: [Layer]

    public init(inputShape: TensorShape, layers: [Layer]) {
        self.inputShape = inputShape
        self.layers = layers
    }
}

/// How pixels (0...255) become network inputs: `x = (pixel * scale - mean[c]) / std[c]`.
public struct Preprocessing: Equatable, Sendable {
    public var scale: Float
    /// One value for every channel, or one per channel.
    public var mean: [Float]
    public var std: [Float]

    public init(scale: Float = 1, mean: [Float] = [0], std: [Float] = [1]) {
        self.scale = scale
        self.mean = mean
        self.std = std
    }

    public static let identity = Preprocessing()
}

/// A known input and the output it must produce.
public struct SelfTestVector: Equatable, Sendable {
    public var input: [Float]
    public var output: [Float]
    public var tolerance: Float

    public init(input: [Float], output: [Float], tolerance: Float) {
        self.input = input
        self.output = output
        self.tolerance = tolerance
    }
}

/// Everything a `.cnnz` file holds.
public struct ModelDescription: Equatable, Sendable {
    public var name: String
    public var labels: [String]
    public var preprocessing: Preprocessing
    public var graph: Graph
    public var tensors: [Tensor]
    public var selfTest: SelfTestVector?

    public init(
        name: String, labels: [String], preprocessing: Preprocessing, graph: Graph, tensors: [Tensor],
        selfTest: SelfTestVector?
    ) {
        self.name = name
        self.labels = labels
        self.preprocessing = preprocessing
        self.graph = graph
        self.tensors = tensors
        self.selfTest = selfTest
    }
}
