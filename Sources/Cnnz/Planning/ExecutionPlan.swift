/// Everything fixed at load time: shapes, element types, prepared kernels,
/// and where each value lives in the activation arena. Immutable, shared by
/// all sessions.
final class ExecutionPlan: Sendable {
    let shapes: [TensorShape]
    /// Per value: the element type its kernel writes (the model input is float32).
    let elementTypes: [ElementType]
    let kernels: [any Kernel]
    /// Per value: offset in the arena, in bytes per image of batch capacity
    /// (a multiple of 64); -1 for the model input, which lives in the caller's buffer.
    let offsets: [Int]
    let arenaBytesPerImage: Int
    /// The largest scratch any kernel needs per thread, in bytes.
    let scratchBytes: Int
    let outputValue: Int
    /// The model input and the values that alias it (a Flatten of the input).
    let inputValues: [Int]

    /// Plans `model`, already validated (`shapes` are its value shapes): picks
    /// each layer's kernel from `KernelRegistry` by its input type, places the
    /// values in the arena by their size in bytes, and prepares the kernels,
    /// reserving each kernel's prepared weights in `budget` before allocating them.
    init(_ model: ModelDescription, shapes: [TensorShape], budget: inout MemoryBudget) throws(CnnzError) {
        let graph = model.graph
        self.shapes = shapes
        let valueCount = graph.layers.count + 1

        // Flatten moves no data: its output is its input's storage.
        var root = Array(0..<valueCount)
        for (i, layer) in graph.layers.enumerated() where layer.kind == .flatten && layer.activation == .linear {
            root[i + 1] = root[layer.inputs[0]]
        }

        // Kernels by (operator, input type); each output's type follows from its registration.
        var types = [ElementType](repeating: .float32, count: valueCount)
        var registrations: [KernelRegistration?] = []
        for (i, layer) in graph.layers.enumerated() {
            let input = types[layer.inputs[0]]
            if let other = layer.inputs.first(where: { types[$0] != input }) {
                throw .unsupported(
                    "layer \(i) (\(layer.kind.className)): inputs of types \(input) and \(types[other]) cannot be mixed"
                )
            }
            if root[i + 1] != i + 1 {
                types[i + 1] = input
                registrations.append(nil)
                continue
            }
            guard let registration = KernelRegistry.registration(Operator(layer.kind), input: input) else {
                throw .unsupported("layer \(i) (\(layer.kind.className)): no kernel takes \(input) inputs")
            }
            types[i + 1] = registration.output
            registrations.append(registration)
        }
        outputValue = graph.layers.count
        guard types[outputValue] == .float32 else {
            throw .unsupported("the model's output is \(types[outputValue]); outputs must be float32")
        }
        elementTypes = types

        var firstStep = [Int](repeating: -1, count: valueCount)
        var lastStep = [Int](repeating: -1, count: valueCount)
        for (i, layer) in graph.layers.enumerated() {
            if root[i + 1] == i + 1 { firstStep[i + 1] = i }
            for value in layer.inputs { lastStep[root[value]] = max(lastStep[root[value]], i) }
        }
        lastStep[root[outputValue]] = graph.layers.count  // alive until copied out
        var requests: [BufferPlanner.Request] = []
        var requestValue: [Int] = []
        for value in 1..<valueCount where root[value] == value {
            requests.append(
                .init(
                    bytes: shapes[value].elementCount * types[value].byteCount, firstStep: firstStep[value],
                    lastStep: max(lastStep[value], firstStep[value])))
            requestValue.append(value)
        }
        let (placed, total) = BufferPlanner.plan(requests)
        guard total <= Limits.maxArenaBytesPerImage else {
            throw .memory(
                "the network needs \(total) bytes of activations per image; the cap is \(Limits.maxArenaBytesPerImage)"
            )
        }
        var rootOffset = [Int](repeating: -1, count: valueCount)
        for (request, value) in requestValue.enumerated() { rootOffset[value] = placed[request] }
        offsets = (0..<valueCount).map { rootOffset[root[$0]] }
        inputValues = (0..<valueCount).filter { root[$0] == 0 }
        arenaBytesPerImage = total

        var kernels: [any Kernel] = []
        for (i, layer) in graph.layers.enumerated() {
            guard let registration = registrations[i] else { continue }
            let setup = KernelSetup(
                index: i, layer: layer,
                operands: KernelOperands(
                    inputs: layer.inputs, inputShapes: layer.inputs.map { shapes[$0] }, output: i + 1,
                    outputShape: shapes[i + 1]),
                input: registration.input, output: registration.output,
                weights: layer.weights.map { model.tensors[$0] })
            try budget.reserve(registration.kernel.preparedBytes(setup), for: "\(setup.label)'s prepared weights")
            kernels.append(try registration.kernel.init(setup))
        }
        self.kernels = kernels
        scratchBytes = kernels.map(\.scratchBytes).max() ?? 0
    }
}
