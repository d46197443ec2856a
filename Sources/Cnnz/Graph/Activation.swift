/// An activation function, fused into the layer before it or run on its own.
///
/// The ReLU family (`relu`, `relu6`, `leaky_relu`, Keras's `ReLU` and
/// `LeakyReLU` layers) is one case with three parameters, as Keras computes it:
/// `y = min(x, maxValue)` if `x > threshold`, else `negativeSlope * (x - threshold)`.
public enum Activation: Equatable, Sendable {
    case linear
    case relu(maxValue: Float, negativeSlope: Float, threshold: Float)
    case elu(alpha: Float)
    case selu
    case sigmoid
    case hardSigmoid
    case tanh
    case swish
    case hardSwish
    case gelu
    /// Softmax over the last (channel) axis.
    case softmax

    /// `max(x, 0)`.
    public static let plainReLU = Activation.relu(maxValue: .infinity, negativeSlope: 0, threshold: 0)

    /// The Keras name, for display.
    public var name: String {
        switch self {
        case .linear: return "linear"
        case .relu(let maxValue, let slope, let threshold):
            if slope == 0 && threshold == 0 {
                if maxValue == .infinity { return "relu" }
                if maxValue == 6 { return "relu6" }
            }
            if maxValue == .infinity && threshold == 0 { return "leaky_relu(\(slope))" }
            return "relu(max \(maxValue), slope \(slope), threshold \(threshold))"
        case .elu: return "elu"
        case .selu: return "selu"
        case .sigmoid: return "sigmoid"
        case .hardSigmoid: return "hard_sigmoid"
        case .tanh: return "tanh"
        case .swish: return "swish"
        case .hardSwish: return "hard_swish"
        case .gelu: return "gelu"
        case .softmax: return "softmax"
        }
    }

    var isElementwise: Bool { self != .softmax }
}
