/// A weight tensor: its shape, its elements (float32, int8 or int32) and, for
/// the integer types, how they stand for real numbers.
///
/// Float32 tensors pay nothing for the other types: their elements are one
/// `[Float]` in `storage`, and `values` reads and modifies that array in place.
public struct Tensor: Equatable, Sendable {
    /// The elements, row-major, in their own type.
    public enum Storage: Equatable, Sendable {
        case float32([Float])
        case int8([Int8])
        case int32([Int32])
    }

    /// Dimensions, outermost first (Keras's layout for each weight).
    public var shape: [Int]
    /// The elements; their count is the product of `shape`.
    public var storage: Storage
    /// Scales and zero points of an int8 or int32 tensor; nil for float32.
    public var quantization: Quantization?

    /// A float32 tensor; the caller keeps `values.count` equal to the product of `shape`.
    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.storage = .float32(values)
        self.quantization = nil
    }

    /// An int8 tensor with its quantization.
    public init(shape: [Int], int8 values: [Int8], quantization: Quantization) {
        self.shape = shape
        self.storage = .int8(values)
        self.quantization = quantization
    }

    /// An int32 tensor (a bias of an int8 layer) with its quantization.
    public init(shape: [Int], int32 values: [Int32], quantization: Quantization) {
        self.shape = shape
        self.storage = .int32(values)
        self.quantization = quantization
    }

    /// The type of the elements.
    public var elementType: ElementType {
        switch storage {
        case .float32: return .float32
        case .int8: return .int8
        case .int32: return .int32
        }
    }

    /// How many elements `storage` holds.
    public var elementCount: Int {
        switch storage {
        case .float32(let v): return v.count
        case .int8(let v): return v.count
        case .int32(let v): return v.count
        }
    }

    /// The bytes of the elements.
    public var byteCount: Int { elementCount * elementType.byteCount }

    /// The elements of a float32 tensor (empty for the other types). Modified
    /// in place, without a copy; assigning makes the tensor float32 (and drops
    /// any quantization).
    public var values: [Float] {
        get {
            if case .float32(let values) = storage { return values }
            return []
        }
        _modify {
            var values: [Float] = []
            if case .float32(let existing) = storage { values = existing }
            // Leaves `values` the array's only owner, so element writes do not copy it.
            storage = .float32([])
            defer {
                storage = .float32(values)
                quantization = nil
            }
            yield &values
        }
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
