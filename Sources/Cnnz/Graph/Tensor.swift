/// A float32 weight tensor.
public struct Tensor: Equatable, Sendable {
    /// Dimensions, outermost first (Keras's layout for each weight).
    public var shape: [Int]
    /// Row-major values; `values.count` is the product of `shape`.
    public var values: [Float]

    /// A tensor; the caller keeps `values.count` equal to the product of `shape`.
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
    /// 3 for `[H, W, C]`, 1 for a flat `[C]` (what Flatten and global pooling make).
    public var rank: Int

    /// An `[H, W, C]` shape.
    public init(height: Int, width: Int, channels: Int) {
        self.height = height
        self.width = width
        self.channels = channels
        self.rank = 3
    }

    /// A flat `[count]` shape.
    public init(flat count: Int) {
        self.height = 1
        self.width = 1
        self.channels = count
        self.rank = 1
    }

    /// Floats per image.
    public var elementCount: Int { height * width * channels }
    /// Spatial positions per image.
    public var pixels: Int { height * width }

    /// `HxWxC`, or `C` for a flat shape.
    public var description: String {
        rank == 1 ? "\(channels)" : "\(height)x\(width)x\(channels)"
    }
}
