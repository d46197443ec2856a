/// Everything fixed at load time: shapes, prepared kernels, and where each
/// value lives in the activation arena. Immutable, shared by all sessions.
final class ExecutionPlan: Sendable {
    let shapes: [TensorShape]
    let kernels: [any Kernel]
    /// Per value: offset in the arena, in floats per image of batch capacity;
    /// -1 for the model input, which lives in the caller's buffer.
    let offsets: [Int]
    let arenaFloatsPerImage: Int
    let scratchFloats: Int
    let outputValue: Int
    /// The model input and the values that alias it (a Flatten of the input).
    let inputValues: [Int]

    /// Plans `model`, already validated (`shapes` are its value shapes), and
    /// prepares its kernels, reserving each kernel's prepared weights in `budget`
    /// before allocating them.
    init(_ model: ModelDescription, shapes: [TensorShape], budget: inout MemoryBudget) throws(CnnzError) {
        let graph = model.graph
        self.shapes = shapes
        let valueCount = graph.layers.count + 1

        // Flatten moves no data: its output is its input's storage.
        var root = Array(0..<valueCount)
        for (i, layer) in graph.layers.enumerated() where layer.kind == .flatten && layer.activation == .linear {
            root[i + 1] = root[layer.inputs[0]]
        }
        var firstStep = [Int](repeating: -1, count: valueCount)
        var lastStep = [Int](repeating: -1, count: valueCount)
        for (i, layer) in graph.layers.enumerated() {
            if root[i + 1] == i + 1 { firstStep[i + 1] = i }
            for value in layer.inputs { lastStep[root[value]] = max(lastStep[root[value]], i) }
        }
        outputValue = graph.layers.count
        lastStep[root[outputValue]] = graph.layers.count  // alive until copied out
        var requests: [BufferPlanner.Request] = []
        var requestValue: [Int] = []
        for value in 1..<valueCount where root[value] == value {
            requests.append(
                .init(
                    size: shapes[value].elementCount, firstStep: firstStep[value],
                    lastStep: max(lastStep[value], firstStep[value])))
            requestValue.append(value)
        }
        let (placed, total) = BufferPlanner.plan(requests)
        guard total <= Limits.maxArenaFloatsPerImage else {
            throw .memory(
                "the network needs \(total) floats of activations per image; the cap is \(Limits.maxArenaFloatsPerImage)"
            )
        }
        var rootOffset = [Int](repeating: -1, count: valueCount)
        for (request, value) in requestValue.enumerated() { rootOffset[value] = placed[request] }
        offsets = (0..<valueCount).map { rootOffset[root[$0]] }
        inputValues = (0..<valueCount).filter { root[$0] == 0 }
        arenaFloatsPerImage = total

        var kernels: [any Kernel] = []
        for (i, layer) in graph.layers.enumerated() {
            let operands = KernelOperands(
                inputs: layer.inputs, inputShapes: layer.inputs.map { shapes[$0] }, output: i + 1,
                outputShape: shapes[i + 1])
            let w = layer.weights.map { model.tensors[$0] }
            try budget.reserve(
                Self.preparedBytes(layer, operands), for: "layer \(i) (\(layer.kind.className))'s prepared weights")
            let kernel: (any Kernel)?
            switch layer.kind {
            case .conv2D(let window, _, let groups, let hasBias):
                kernel = try Conv2DIm2ColGEMM(
                    operands: operands, window: window, groups: groups, activation: layer.activation, kernel: w[0],
                    bias: hasBias ? w[1] : nil)
            case .depthwiseConv2D(let window, let multiplier, let hasBias):
                kernel = try DepthwiseConv2DDirect(
                    operands: operands, window: window, multiplier: multiplier, activation: layer.activation,
                    kernel: w[0], bias: hasBias ? w[1] : nil)
            case .dense(_, let hasBias):
                kernel = try DenseGEMM(
                    operands: operands, activation: layer.activation, kernel: w[0], bias: hasBias ? w[1] : nil)
            case .maxPool2D(let window):
                kernel = Pool2D(operands: operands, window: window, mode: .max, activation: layer.activation)
            case .averagePool2D(let window):
                kernel = Pool2D(operands: operands, window: window, mode: .average, activation: layer.activation)
            case .globalAveragePool2D:
                kernel = GlobalPool2D(operands: operands, mode: .average, activation: layer.activation)
            case .globalMaxPool2D:
                kernel = GlobalPool2D(operands: operands, mode: .max, activation: layer.activation)
            case .zeroPadding2D(let top, _, let left, _):
                kernel = ZeroPadding2D(operands: operands, top: top, left: left, activation: layer.activation)
            case .flatten:
                kernel =
                    layer.activation == .linear
                    ? nil : ActivationKernel(operands: operands, activation: layer.activation)
            case .channelAffine:
                kernel = ChannelAffineKernel(operands: operands, activation: layer.activation, scale: w[0], shift: w[1])
            case .activation:
                kernel = ActivationKernel(operands: operands, activation: layer.activation)
            case .add:
                kernel = AddKernel(operands: operands, activation: layer.activation)
            case .concatenate:
                kernel = ConcatenateKernel(operands: operands, activation: layer.activation)
            }
            if let kernel { kernels.append(kernel) }
        }
        self.kernels = kernels
        scratchFloats = kernels.map(\.scratchFloats).max() ?? 0
    }

    /// The bytes a layer's kernel allocates when it is prepared (packed or copied weights).
    static func preparedBytes(_ layer: Layer, _ operands: KernelOperands) -> Int {
        switch layer.kind {
        case .conv2D(let window, let filters, let groups, _):
            let k = window.kernelHeight * window.kernelWidth * (operands.inputShape.channels / groups)
            return groups * PackedWeights.floatCount(k: k, n: filters / groups) * 4
        case .dense(let units, _):
            return PackedWeights.floatCount(k: operands.inputShape.channels, n: units) * 4
        case .depthwiseConv2D:
            return DepthwiseConv2DDirect.preparedFloats(operands: operands, layer: layer) * 4
        default:
            return 0
        }
    }
}
