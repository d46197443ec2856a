/// Constants of the `.cnnz` file format. docs/FORMAT.md is the specification.
enum ModelFormat {
    static let magic: [UInt8] = [0x89, 0x43, 0x4E, 0x4E, 0x5A, 0x0D, 0x0A, 0x1A]  // \x89 C N N Z \r \n \x1a
    /// The newest version this build reads, and the one it writes for models
    /// with int8 or int32 tensors or quantized activations.
    static let version: UInt32 = 2
    /// The version written for float32 models: version 1 readers read them.
    static let float32Version: UInt32 = 1
    static let headerSize = 48
    /// Sections and tensor data start at multiples of this many bytes of the payload.
    static let alignment = 64
    /// zlib's deflate cannot compress better than about 1032:1; a header that
    /// declares more is refused before anything is allocated.
    static let maxCompressionRatio = 1032

    enum SectionTag: UInt32 {
        case metadata = 0x4154_454D  // "META"
        case graph = 0x4850_5247  // "GRPH"
        case tensors = 0x534E_4554  // "TENS"
        case selfTest = 0x5453_4554  // "TEST"
        case quantization = 0x4E41_5551  // "QUAN" (version 2)

        var name: String {
            switch self {
            case .metadata: return "META"
            case .graph: return "GRPH"
            case .tensors: return "TENS"
            case .selfTest: return "TEST"
            case .quantization: return "QUAN"
            }
        }
    }

    enum DataType: UInt32 {
        case float32 = 1
        /// Version 2: int8 with a quantization.
        case int8 = 2
        /// Version 2: int32 (the biases of int8 layers) with a quantization.
        case int32 = 3
    }

    /// How a TENS entry's integers stand for real numbers (version 2).
    enum QuantizationScheme: UInt32 {
        case unquantized = 0
        /// f32 scale, i32 zero point.
        case perTensor = 1
        /// u32 axis, then as many f32 scales and as many i32 zero points as the axis has indices.
        case perAxis = 2
    }

    enum LayerCode: UInt32 {
        case conv2D = 1, depthwiseConv2D, dense, maxPool2D, averagePool2D, globalAveragePool2D, globalMaxPool2D,
            zeroPadding2D, flatten, channelAffine, activation, add, concatenate
    }

    enum ActivationCode: UInt32 {
        case linear = 0, relu, elu, selu, sigmoid, hardSigmoid, tanh, swish, hardSwish, gelu, softmax
    }
}
