/// How one activation value of an int8 model is stored: int8 with one scale
/// and zero point for the whole tensor (`real = scale * (q - zeroPoint)`).
///
/// A layer whose activation is neither linear nor a clamp (ReLU, ReLU6) is
/// computed in two steps: its sum is requantized to the *pre-activation*
/// parameters, then a 256-entry table built at load maps that to the output's
/// (softmax instead runs in float on the dequantized sums). For every other
/// value the pre-activation parameters equal the output's.
public struct ActivationQuantization: Equatable, Sendable {
    /// The output's scale, positive and finite.
    public var scale: Float
    /// The output's zero point, in -128...127.
    public var zeroPoint: Int32
    /// The scale of the layer's sum before its activation.
    public var preActivationScale: Float
    /// The zero point of the layer's sum before its activation.
    public var preActivationZeroPoint: Int32

    /// Parameters for a value whose layer's activation is linear or a clamp.
    public init(scale: Float, zeroPoint: Int32) {
        self.init(scale: scale, zeroPoint: zeroPoint, preActivationScale: scale, preActivationZeroPoint: zeroPoint)
    }

    /// Parameters with their own pre-activation scale and zero point.
    public init(scale: Float, zeroPoint: Int32, preActivationScale: Float, preActivationZeroPoint: Int32) {
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.preActivationScale = preActivationScale
        self.preActivationZeroPoint = preActivationZeroPoint
    }

    /// The parameters of the pre-activation sum as a value of their own.
    public var preActivation: ActivationQuantization {
        ActivationQuantization(scale: preActivationScale, zeroPoint: preActivationZeroPoint)
    }

    /// The parameters that fit the real range `[low, high]` (widened to hold
    /// 0, so that zero padding is exact), TensorFlow Lite's choice for int8
    /// activations: `scale = (high - low) / 255`, the zero point rounded and
    /// clamped into -128...127.
    public static func covering(_ low: Float, _ high: Float) -> ActivationQuantization {
        let low = min(low.isFinite ? low : 0, 0)
        let high = max(high.isFinite ? high : 0, 0)
        let range = Double(high) - Double(low)
        let scale = range > 0 ? range / 255 : 1.0 / 255
        let zero = (-128 - Double(low) / scale).rounded()
        let zeroPoint = Int32(min(max(zero, -128), 127))
        return ActivationQuantization(scale: Float(scale), zeroPoint: zeroPoint)
    }

    func validate(name: String) throws(CnnzError) {
        for (what, scale, zero) in [
            ("scale", scale, zeroPoint), ("pre-activation scale", preActivationScale, preActivationZeroPoint),
        ] {
            guard scale.isFinite, scale > 0, scale >= Float.leastNormalMagnitude else {
                throw .format("\(name) has \(what) \(scale), not a positive finite number")
            }
            guard (-128...127).contains(zero) else {
                throw .format("\(name) has zero point \(zero) with its \(what), outside int8's range -128...127")
            }
        }
    }
}

/// What a model computes in: its `Model.precision`.
public enum ModelPrecision: String, Equatable, Sendable {
    /// Float32 weights and activations.
    case float32 = "float32"
    /// Int8 weights and activations, int32 biases, integer kernels.
    case int8 = "int8"
    /// Int8 weights in the file, dequantized at load; float32 compute.
    case weightsInt8 = "weights-int8"
}

extension ModelDescription {
    /// `int8` when the activations are quantized, `weights-int8` when only
    /// weights are, `float32` otherwise.
    public var precision: ModelPrecision {
        if !activationQuantization.isEmpty { return .int8 }
        return tensors.contains { $0.elementType != .float32 } ? .weightsInt8 : .float32
    }
}

extension Tensor {
    /// The real numbers an int8 or int32 tensor stands for, as a float32
    /// tensor (`scale * (q - zeroPoint)`, per index along the quantization's
    /// axis); a float32 tensor is returned unchanged.
    public var dequantized: Tensor {
        guard let quantization, elementType != .float32 else { return self }
        let count = elementCount
        // Elements per index of the axis, and the stride of the axis.
        var inner = 1
        var axisSize = 1
        if let axis = quantization.axis {
            axisSize = shape[axis]
            inner = shape[(axis + 1)...].reduce(1, *)
        }
        func real(_ q: Int32, _ i: Int) -> Float {
            let channel = axisSize == 1 ? 0 : (i / inner) % axisSize
            return Float(Double(quantization.scales[channel]) * (Double(q) - Double(quantization.zeroPoints[channel])))
        }
        var values = [Float](repeating: 0, count: count)
        switch storage {
        case .int8(let q): for i in 0..<count { values[i] = real(Int32(q[i]), i) }
        case .int32(let q): for i in 0..<count { values[i] = real(q[i], i) }
        case .float32: break
        }
        return Tensor(shape: shape, values: values)
    }
}
