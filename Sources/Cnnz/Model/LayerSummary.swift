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
    /// The arithmetic it runs in: its inputs' element type ("float32").
    public var precision: String
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
            return LayerSummary(
                index: i, layer: layer, outputShape: output, parameters: parameters, macs: macs,
                precision: plan.elementTypes[layer.inputs[0]].description)
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
