import Cnnz

/// Turns a float32 model into an int8 one (TensorFlow Lite's scheme, docs/FORMAT.md
/// section 4) or into a weights-int8 one.
public enum Quantizer {
    /// How each activation's range is taken from the calibration images.
    public enum RangeMethod: Equatable, Sendable {
        /// The smallest and largest value seen.
        case minMax
        /// The values at `percentile` and `100 - percentile` percent of what was
        /// seen (from a 2,048-bin histogram over the min/max range): clips outliers.
        case percentile(Double)
    }

    /// Int8 weights, symmetric, in -127...127: `scale = max |w| / 127` (1/127 for zeros),
    /// `q = round(w / scale)`, per output channel along `axis`, or with `axis` nil one
    /// scale for the tensor. With `bits` 7, in -63...63 (`/ 63`): what AVX2 CPUs without
    /// VNNI multiply exactly with `vpmaddubsw` (docs/QUANTIZATION.md).
    public static func quantizeKernel(_ tensor: Tensor, axis: Int?, bits: Int = 8) -> Tensor {
        let top = Float((1 << (bits - 1)) - 1)
        guard let axis else {
            let largest = tensor.values.reduce(0) { max($0, abs($1)) }
            let scale = largest > 0 ? largest / top : 1 / top
            let q = tensor.values.map { Int8(max(-top, min(top, ($0 / scale).rounded(.toNearestOrAwayFromZero)))) }
            return Tensor(shape: tensor.shape, int8: q, quantization: Quantization(scale: scale, zeroPoint: 0))
        }
        let channels = tensor.shape[axis]
        let inner = tensor.shape[(axis + 1)...].reduce(1, *)
        let values = tensor.values
        var largest = [Float](repeating: 0, count: channels)
        for (i, v) in values.enumerated() {
            let c = (i / inner) % channels
            largest[c] = max(largest[c], abs(v))
        }
        let scales = largest.map { $0 > 0 ? $0 / top : 1 / top }
        let q = values.enumerated().map { i, v in
            Int8(max(-top, min(top, (v / scales[(i / inner) % channels]).rounded(.toNearestOrAwayFromZero))))
        }
        return Tensor(
            shape: tensor.shape, int8: q,
            quantization: Quantization(scales: scales, zeroPoints: .init(repeating: 0, count: channels), axis: axis))
    }

    /// An int32 bias with `scale[c] = inputScale * weightScale[c]`, rounded and saturated.
    static func quantizeBias(_ tensor: Tensor, inputScale: Float, weightScales: [Float], perInput: Int) -> Tensor {
        let scales = (0..<tensor.elementCount).map { c in
            Float(Double(inputScale) * Double(weightScales.count == 1 ? weightScales[0] : weightScales[c / perInput]))
        }
        let q = tensor.values.enumerated().map { c, b in
            Int32(max(Double(Int32.min), min(Double(Int32.max), (Double(b) / Double(scales[c])).rounded())))
        }
        return Tensor(
            shape: tensor.shape, int32: q,
            quantization: Quantization(scales: scales, zeroPoints: .init(repeating: 0, count: scales.count), axis: 0))
    }

    /// Whether an int8 layer with `activation` requantizes its sums to their own
    /// (pre-activation) parameters first: every activation but linear and the
    /// clamps (ReLU with a maximum or none, no slope or threshold).
    static func computesThroughTable(_ activation: Activation) -> Bool {
        switch activation {
        case .linear: return false
        case .relu(_, let slope, let threshold): return !(slope == 0 && threshold == 0)
        default: return true
        }
    }

    /// The axis of a layer's kernel that holds its output channels, or nil for a layer without a kernel.
    static func kernelAxis(_ kind: LayerKind) -> Int? {
        switch kind {
        case .conv2D: return 3
        case .depthwiseConv2D: return 2
        case .dense: return 1
        default: return nil
        }
    }

    /// The axis `quantizeKernel` uses: per output channel for convolutions, one
    /// scale per tensor for Dense (TensorFlow Lite's FULLY_CONNECTED). Measured on
    /// the Fashion-MNIST CNN (Benchmarks/int8): per-tensor Dense weights compress
    /// to about 19 % fewer bytes (the 3136x128 kernel: 296,589 against 364,343
    /// bytes under zlib -9, since most columns then use fewer levels) at no cost
    /// in test accuracy.
    static func quantizationAxis(_ kind: LayerKind) -> Int? {
        if case .dense = kind { return nil }
        return kernelAxis(kind)
    }

    /// Int8 kernels in the file, float32 everything else; dequantized at load.
    public static func weightsInt8(_ model: ModelDescription) -> ModelDescription {
        var out = model
        for layer in model.graph.layers {
            guard kernelAxis(layer.kind) != nil else { continue }
            out.tensors[layer.weights[0]] = quantizeKernel(
                model.tensors[layer.weights[0]], axis: quantizationAxis(layer.kind))
        }
        return out
    }

    /// The int8 model of `model` with every value quantized per tensor over
    /// its range in `ranges` (`ActivationRanges`), int8 kernels and int32 biases.
    /// Max pooling and Flatten keep their input's parameters (their values are
    /// some of the input's, so nothing is lost by requantizing).
    /// `weightBits` 7 quantizes Conv2D and Dense kernels to -63...63 (depthwise kernels,
    /// which no GEMM multiplies, keep 8 bits).
    public static func int8(_ model: ModelDescription, ranges: ActivationRanges, weightBits: Int = 8)
        -> ModelDescription
    {
        var out = model
        let layers = model.graph.layers
        var parameters: [ActivationQuantization] = [ranges.quantization(of: 0)]
        for (i, layer) in layers.enumerated() {
            var p = ranges.quantization(of: i + 1)
            if !Self.computesThroughTable(layer.activation) {
                p = ActivationQuantization(scale: p.scale, zeroPoint: p.zeroPoint)
            }
            switch layer.kind {
            case .maxPool2D, .globalMaxPool2D:
                p = parameters[layer.inputs[0]]
            case .flatten where layer.activation == .linear:
                p = parameters[layer.inputs[0]]
            default: break
            }
            parameters.append(p)
        }
        for layer in layers {
            guard kernelAxis(layer.kind) != nil else { continue }
            var bits = weightBits
            if case .depthwiseConv2D = layer.kind { bits = 8 }
            let kernel = quantizeKernel(model.tensors[layer.weights[0]], axis: quantizationAxis(layer.kind), bits: bits)
            out.tensors[layer.weights[0]] = kernel
            if layer.weights.count > 1 {
                var perInput = 1
                if case .depthwiseConv2D(_, let multiplier, _) = layer.kind { perInput = multiplier }
                out.tensors[layer.weights[1]] = quantizeBias(
                    model.tensors[layer.weights[1]], inputScale: parameters[layer.inputs[0]].scale,
                    weightScales: kernel.quantization!.scales, perInput: perInput)
            }
        }
        out.activationQuantization = parameters
        return out
    }
}

/// The range of every value of a model over calibration images, and, for the
/// layers whose activation is computed from requantized sums (a table or a
/// softmax), the range of those sums.
public struct ActivationRanges: Sendable {
    public var method: Quantizer.RangeMethod
    /// Per value: `[min, max]` of its output, and of its pre-activation sums.
    public var output: [ClosedRange<Float>]
    public var preActivation: [ClosedRange<Float>]

    /// The parameters of value `v`.
    func quantization(of v: Int) -> ActivationQuantization {
        let post = ActivationQuantization.covering(output[v].lowerBound, output[v].upperBound)
        let pre = ActivationQuantization.covering(preActivation[v].lowerBound, preActivation[v].upperBound)
        return ActivationQuantization(
            scale: post.scale, zeroPoint: post.zeroPoint, preActivationScale: pre.scale,
            preActivationZeroPoint: pre.zeroPoint)
    }
}
