/// How a convolution or pooling window treats the borders (TensorFlow's rules).
public enum Padding: UInt32, Sendable {
    case valid = 0
    case same = 1
}

/// The parameters of a sliding window: kernel, stride, dilation, padding.
public struct Window: Equatable, Sendable {
    /// Kernel (or pool) size, rows and columns.
    public var kernelHeight: Int
    public var kernelWidth: Int
    /// Step between windows, rows and columns.
    public var strideHeight: Int
    public var strideWidth: Int
    /// Spacing between kernel taps (1: contiguous), rows and columns.
    public var dilationHeight: Int
    public var dilationWidth: Int
    public var padding: Padding

    /// A window; stride and dilation default to 1, padding to "valid".
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
