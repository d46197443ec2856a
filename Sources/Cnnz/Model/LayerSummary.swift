/// One row of a model summary: what `convert --inspect` prints.
public struct LayerSummary: Sendable {
    /// The layer's position in execution order.
    public var index: Int
    /// The layer, after folding.
    public var layer: Layer
    /// The shape of its output for one image.
    public var outputShape: TensorShape
    /// Weights stored for the layer (after folding).
    public var parameters: Int
    /// Multiply-accumulates for one image.
    public var macs: Int
    /// The arithmetic it runs in: "float32" or "int8"; in an int8 model, a layer
    /// without an int8 kernel says "float32 (fallback)", and a weights-int8
    /// model's layers with int8 weights "float32 (int8 weights)".
    public var precision: String
    /// Int8 models: the quantization of the layer's output (nil when it is float32).
    public var outputQuantization: ActivationQuantization?
}

extension Model {
    /// A row per layer, in execution order.
    public var layerSummaries: [LayerSummary] {
        let shapes = plan.shapes
        return contents.graph.layers.enumerated().map { i, layer in
            let output = shapes[i + 1]
            let input = shapes[layer.inputs[0]]
            let parameters = layer.weights.reduce(0) { $0 + contents.tensors[$1].elementCount }
            let macs: Int
            switch layer.kind {
            case .conv2D(let w, _, let groups, _):
                macs = output.elementCount * w.kernelHeight * w.kernelWidth * (input.channels / groups)
            case .depthwiseConv2D(let w, _, _):
                macs = output.elementCount * w.kernelHeight * w.kernelWidth
            case .dense:
                macs = output.elementCount * input.channels
            default:
                macs = 0
            }
            var precision = plan.layerTypes[i].description
            if contents.precision == .int8 && plan.layerTypes[i] == .float32 && layer.kind != .flatten {
                precision += " (fallback)"
            }
            if layer.weights.contains(where: { contents.tensors[$0].elementType == .int8 })
                && plan.layerTypes[i] == .float32
            {
                precision += contents.precision == .weightsInt8 ? " (int8 weights)" : ""
            }
            let quantization = contents.activationQuantization.isEmpty ? nil : contents.activationQuantization[i + 1]
            return LayerSummary(
                index: i, layer: layer, outputShape: output, parameters: parameters, macs: macs,
                precision: precision, outputQuantization: quantization)
        }
    }
}

extension ModelReader {
    /// The format version and the declared payload size of `.cnnz` bytes, read
    /// from the header without decoding; nil when the header is not a cnnz header.
    public static func headerInfo(_ bytes: [UInt8]) -> (version: Int, payloadBytes: Int)? {
        guard bytes.count >= ModelFormat.headerSize, Array(bytes[0..<8]) == ModelFormat.magic else { return nil }
        let version = bytes[8..<12].reversed().reduce(0) { $0 << 8 | Int($1) }
        let payload = bytes[16..<24].reversed().reduce(0) { $0 << 8 | Int($1) }
        return (version, payload)
    }
}
