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
