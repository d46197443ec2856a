/// The engine's documented caps. They bound every allocation that a model
/// file, a model.json or an image can cause (docs/SECURITY.md).
public enum Limits {
    /// Largest decompressed model payload: 1 GiB.
    public static let maxPayloadBytes = 1 << 30
    /// Largest height, width or channel count of any tensor or activation.
    public static let maxDimension = 1 << 16
    /// Largest element count of one weight tensor or one activation (per image): 2^28 floats (1 GiB).
    public static let maxElements = 1 << 28
    /// Largest activation memory one image may need after planning: 1 GiB (the planner counts bytes).
    public static let maxArenaBytesPerImage = 1 << 30
    /// The same cap in float32 elements: 2^28 floats.
    public static let maxArenaFloatsPerImage = maxArenaBytesPerImage / 4
    /// Largest number of layers in a graph.
    public static let maxLayers = 1 << 16
    /// Largest number of inputs of one layer (Add, Concatenate).
    public static let maxLayerInputs = 1 << 10
    /// Largest number of weight tensors.
    public static let maxTensors = 1 << 20
    /// Largest number of labels.
    public static let maxLabels = 1 << 20
    /// Largest label or name, in UTF-8 bytes.
    public static let maxStringBytes = 1 << 16
    /// The element count of a tensor of `shape` (dimensions already known to be at least 1),
    /// or nil when it exceeds `maxElements`; computed without overflow, for sizes read from files.
    public static func elementCount(of shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= maxElements else { return nil }
            count = product
        }
        return count
    }

    /// Largest image the image readers accept (PNG, JPEG, Netpbm): 2^26 pixels (8192 x 8192), 3 channels at most.
    public static let maxImagePixels = 1 << 26
}
