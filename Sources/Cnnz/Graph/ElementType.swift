/// The type of a tensor's or an activation's elements.
public enum ElementType: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE 754 single precision: every float model, and the input and output of every model.
    case float32
    /// Signed 8-bit integers with a `Quantization`: quantized weights and activations.
    case int8
    /// Signed 32-bit integers: the biases of int8 layers (scale = input scale x weight scale).
    case int32

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .float32, .int32: return 4
        case .int8: return 1
        }
    }

    /// `float32`, `int8` or `int32`.
    public var description: String {
        switch self {
        case .float32: return "float32"
        case .int8: return "int8"
        case .int32: return "int32"
        }
    }
}

/// How integer elements stand for real numbers: `real = scale * (q - zeroPoint)`,
/// with one scale and zero point for the whole tensor or one per index along `axis`
/// (TensorFlow Lite's int8 scheme: weights per output channel, activations per tensor).
public struct Quantization: Equatable, Sendable {
    /// One positive, finite scale per tensor (count 1) or per index along `axis`.
    public var scales: [Float]
    /// As many zero points as scales, each within the element type's range.
    public var zeroPoints: [Int32]
    /// nil: one scale and zero point for the whole tensor; otherwise the dimension they run along.
    public var axis: Int?

    /// One scale and zero point for the whole tensor.
    public init(scale: Float, zeroPoint: Int32) {
        scales = [scale]
        zeroPoints = [zeroPoint]
        axis = nil
    }

    /// One scale and zero point per index along dimension `axis`.
    public init(scales: [Float], zeroPoints: [Int32], axis: Int) {
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.axis = axis
    }

    /// Checks the parameters against the tensor they describe: the axis is one
    /// of its dimensions and there is a scale per index of it (or one in all),
    /// scales are positive and finite, and zero points fit `elementType`.
    func validate(shape: [Int], elementType: ElementType, name: String) throws(CnnzError) {
        let expected: Int
        if let axis {
            guard shape.indices.contains(axis) else {
                throw .format("\(name) is quantized along axis \(axis), but its shape \(shape) has no such axis")
            }
            expected = shape[axis]
        } else {
            expected = 1
        }
        guard scales.count == expected, zeroPoints.count == expected else {
            throw .format(
                "\(name) has \(scales.count) scales and \(zeroPoints.count) zero points; its quantization needs \(expected) of each"
            )
        }
        if let bad = scales.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
            throw .format("\(name) scale \(bad) is \(scales[bad]), not a positive finite number")
        }
        let range: ClosedRange<Int32> = elementType == .int8 ? -128...127 : Int32.min...Int32.max
        if let bad = zeroPoints.firstIndex(where: { !range.contains($0) }) {
            throw .format("\(name) zero point \(bad) is \(zeroPoints[bad]), outside \(elementType)'s range")
        }
    }
}
