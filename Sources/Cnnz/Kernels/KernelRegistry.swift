/// Every kernel the engine has, chosen by (operator, input element type) in
/// this one table (TensorFlow Lite Micro's `Register_CONV_2D`, ncnn's
/// `ncnn_add_layer`). `ExecutionPlan` looks each layer up here and nowhere else.
///
/// Adding a kernel, say an int8 Conv2D, touches:
/// 1. one kernel file, `Kernels/Int8/Conv2DInt8.swift`: a `final class` conforming
///    to `RegisteredKernel` (its `init(_:)` is the prepare step, with its
///    `preparedBytes(_:)`; its `run` reads `context.int8(_:)`);
/// 2. its reference twin in the tests, `Tests/CnnzTests/Reference/`, and the
///    test that compares the two bit for bit;
/// 3. one line in `all` below: `.init(.conv2D, .int8, Conv2DInt8.self)`.
/// A kernel that only handles some shapes (a Winograd 3x3, a first-layer
/// direct convolution) says so in its `accepts(_:)` and goes above the general
/// kernel for its operator: the first registration that accepts a layer wins.
/// The planner, the arena and the session need no change: they size and place
/// each value by the element type its kernel's registration produces.
enum KernelRegistry {
    /// One registration per (operator, input type); the first match wins.
    static let all: [KernelRegistration] = [
        .init(.conv2D, .float32, Conv2DWinograd.self),
        .init(.conv2D, .float32, Conv2DDirect.self),
        .init(.conv2D, .float32, Conv2DIm2ColGEMM.self),
        .init(.depthwiseConv2D, .float32, DepthwiseConv2DDirect.self),
        .init(.dense, .float32, DenseGEMM.self),
        .init(.maxPool2D, .float32, Pool2D.self),
        .init(.averagePool2D, .float32, Pool2D.self),
        .init(.globalAveragePool2D, .float32, GlobalPool2D.self),
        .init(.globalMaxPool2D, .float32, GlobalPool2D.self),
        .init(.zeroPadding2D, .float32, ZeroPadding2D.self),
        .init(.flatten, .float32, ActivationKernel.self),
        .init(.channelAffine, .float32, ChannelAffineKernel.self),
        .init(.activation, .float32, ActivationKernel.self),
        .init(.add, .float32, AddKernel.self),
        .init(.concatenate, .float32, ConcatenateKernel.self),
        .init(.conv2D, .int8, Conv2DInt8Winograd.self),
        .init(.conv2D, .int8, Conv2DInt8.self),
        .init(.depthwiseConv2D, .int8, DepthwiseConv2DInt8.self),
        .init(.dense, .int8, DenseInt8.self),
        .init(.maxPool2D, .int8, Pool2DInt8.self),
        .init(.averagePool2D, .int8, Pool2DInt8.self),
        .init(.globalAveragePool2D, .int8, GlobalPool2DInt8.self),
        .init(.globalMaxPool2D, .int8, GlobalPool2DInt8.self),
        .init(.flatten, .int8, ActivationInt8.self),
        .init(.activation, .int8, ActivationInt8.self),
        .init(.add, .int8, AddInt8.self),
        .init(.concatenate, .int8, ConcatenateInt8.self),
    ]

    /// The kernel for `op` on inputs of type `input`, or nil when there is none:
    /// the first registration for them whose kernel accepts `shape`.
    static func registration(_ op: Operator, input: ElementType, shape: KernelShape) -> KernelRegistration? {
        all.first { $0.op == op && $0.input == input && $0.kernel.accepts(shape) }
    }
}

/// One row of `KernelRegistry.all`.
struct KernelRegistration: Sendable {
    let op: Operator
    /// The element type of every input the kernel reads.
    let input: ElementType
    /// The element type of the value it writes.
    let output: ElementType
    let kernel: any RegisteredKernel.Type

    /// A kernel that reads `input` and writes `output` (by default the same type).
    init(_ op: Operator, _ input: ElementType, _ kernel: any RegisteredKernel.Type, output: ElementType? = nil) {
        self.op = op
        self.input = input
        self.output = output ?? input
        self.kernel = kernel
    }
}

/// What a layer computes, without its parameters: the registry's key.
enum Operator: Hashable, Sendable, CaseIterable {
    case conv2D, depthwiseConv2D, dense, maxPool2D, averagePool2D, globalAveragePool2D, globalMaxPool2D
    case zeroPadding2D, flatten, channelAffine, activation, add, concatenate

    init(_ kind: LayerKind) {
        switch kind {
        case .conv2D: self = .conv2D
        case .depthwiseConv2D: self = .depthwiseConv2D
        case .dense: self = .dense
        case .maxPool2D: self = .maxPool2D
        case .averagePool2D: self = .averagePool2D
        case .globalAveragePool2D: self = .globalAveragePool2D
        case .globalMaxPool2D: self = .globalMaxPool2D
        case .zeroPadding2D: self = .zeroPadding2D
        case .flatten: self = .flatten
        case .channelAffine: self = .channelAffine
        case .activation: self = .activation
        case .add: self = .add
        case .concatenate: self = .concatenate
        }
    }
}

/// What the registry knows of a layer when it picks a kernel: the layer (its
/// kind, configuration and activation) and its operands' shapes.
struct KernelShape {
    let layer: Layer
    let inputShapes: [TensorShape]
    let outputShape: TensorShape
}

/// A kernel the registry can prepare from a layer.
protocol RegisteredKernel: Kernel {
    /// Whether this kernel computes `shape` (default: every layer of its
    /// operator). A specialised kernel registered above a general one returns
    /// false for the shapes it does not handle or would run slower.
    static func accepts(_ shape: KernelShape) -> Bool
    /// The prepare step (TFLM's Prepare, ncnn's `create_pipeline`): checks the
    /// weights' element types, repacks them and sizes the scratch.
    init(_ setup: KernelSetup) throws(CnnzError)
    /// The bytes `init` allocates for prepared weights, reserved in the model's
    /// memory budget before it runs.
    static func preparedBytes(_ setup: KernelSetup) -> Int
    /// Whether this kernel, for a Conv2D of `shape` (linear), can compute a residual Add
    /// in its store (`KernelSetup.residual`, see `ResidualAdd`). Default: no.
    static func fusesResidualAdd(_ shape: KernelShape) -> Bool
    /// Whether this kernel, for a Conv2D of `shape` with these weights and quantization, can
    /// compute the plain 2x2 max pooling after it (`KernelSetup.pool`, see `MaxPoolFusion`).
    /// Default: no.
    static func fusesMaxPool(
        _ shape: KernelShape, kernel: Tensor, input: ActivationQuantization, output: ActivationQuantization
    ) -> Bool
}

extension RegisteredKernel {
    static func preparedBytes(_ setup: KernelSetup) -> Int { 0 }
    static func accepts(_ shape: KernelShape) -> Bool { true }
    static func fusesResidualAdd(_ shape: KernelShape) -> Bool { false }
    static func fusesMaxPool(
        _ shape: KernelShape, kernel: Tensor, input: ActivationQuantization, output: ActivationQuantization
    ) -> Bool { false }
}

/// Everything a kernel's prepare step reads: the layer, where its operands
/// live, their element types and its weight tensors.
struct KernelSetup {
    /// The layer's position in the graph, for messages.
    let index: Int
    let layer: Layer
    let operands: KernelOperands
    /// The element type of the inputs, and of the output the registration promised.
    let input: ElementType
    let output: ElementType
    /// The layer's weights, in the order its `LayerKind` documents.
    let weights: [Tensor]
    /// Int8 kernels: the quantization of each input, and of the output it writes
    /// (`preActivationScale` and zero point: of its sums before a table activation).
    var inputQuantization: [ActivationQuantization] = []
    var outputQuantization: ActivationQuantization? = nil
    /// A convolution that computes a residual Add too (only for kernels whose
    /// `fusesResidualAdd` said yes): `operands.inputs[1]` is the Add's other operand and
    /// `operands.output` the Add's value; `layer.activation` and the quantizations above
    /// stay the convolution's own.
    var residual: ResidualAdd? = nil
    /// A convolution that computes the max pooling after it too (only for kernels whose
    /// `fusesMaxPool` said yes): `operands.output` is the pooling's value and `outputShape` its
    /// shape; the convolution's own is `pool.convolutionShape`.
    var pool: MaxPoolFusion? = nil
    /// Where the kernel allocates its prepared weights (`AlignedBuffer`s): the plan's
    /// `PageArena`, or nil (tests, small models) for malloc.
    var arena: PageArena? = nil

    /// `layer 3 (Conv2D)`.
    var label: String { "layer \(index) (\(layer.kind.className))" }

    /// The error for a registration that points at the wrong kernel (a bug, never a file's fault).
    var mismatch: CnnzError { .unsupported("\(label): registered with a kernel for another operator") }

    /// Weight `i`, which this kernel needs as `type`.
    func weight(_ i: Int, as type: ElementType) throws(CnnzError) -> Tensor {
        let tensor = weights[i]
        guard tensor.elementType == type else {
            throw .unsupported("\(label): weight \(i) is \(tensor.elementType); this kernel takes \(type) weights")
        }
        return tensor
    }
}
