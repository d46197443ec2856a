/// Everything fixed at load time: shapes, element types, prepared kernels,
/// and where each value lives in the activation arena. Immutable, shared by
/// all sessions.
final class ExecutionPlan: Sendable {
    /// The shape of every value of the graph (index 0: the input, `i + 1`: layer `i`'s output).
    let shapes: [TensorShape]
    /// Per value: the element type its kernel writes (the model input is float32).
    /// Values past the graph's (index > layer count) are int8 models' conversions.
    let elementTypes: [ElementType]
    let kernels: [any Kernel]
    /// Per kernel: the layer it runs (or converts an operand of), for profiling.
    let kernelLayers: [Int]
    /// Per layer: the element type its kernel computes on.
    let layerTypes: [ElementType]
    /// Per kernel: the value it writes.
    let kernelOutputs: [Int]
    /// Per kernel: the layer it computes too (a residual Add fused into a convolution, see
    /// `ResidualAdd`, or a max pooling, see `MaxPoolFusion`), or nil.
    let kernelFusedLayers: [Int?]
    /// Per kernel: for a float32 convolution with a fused Add, how to run the two apart
    /// (`run(input:batch:visiting:)` shows the convolution's value too), or nil.
    let residualSplits: [ResidualSplit?]
    /// Per kernel: the bytes of the activations it reads and writes, per image (what moves
    /// between cores when its work is split: see `LayerSplit.parts`).
    let kernelActivationBytes: [Int]
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
    /// `recycling`: the mapping a model's file was read into, done with, which the prepared
    /// weights take over when it has room for them (`PageArena.recycle`).
    init(
        _ model: ModelDescription, shapes: [TensorShape], budget: inout MemoryBudget, recycling: PageArena? = nil
    ) throws(CnnzError) {
        let graph = model.graph
        self.shapes = shapes

        // Flatten moves no data: its output is its input's storage.
        var root = Array(0..<(graph.layers.count + 1))
        for (i, layer) in graph.layers.enumerated() where layer.kind == .flatten && layer.activation == .linear {
            root[i + 1] = root[layer.inputs[0]]
        }

        // Kernels by (operator, input type); each output's type follows from its registration.
        // Int8 models add conversion steps (ExecutionSteps): the plan's values past the
        // graph's are their outputs.
        let steps = try ExecutionSteps(model, shapes: shapes, root: root)
        let shapes = shapes + steps.extraShapes
        let types = steps.types
        let valueCount = types.count
        root += (graph.layers.count + 1..<valueCount)
        outputValue = steps.outputValue
        // A fused convolution's value is never written on its own: it shares the Add's memory
        // (where `run(input:batch:visiting:)` computes it before adding).
        for (convolution, add) in steps.fusedValues { root[convolution] = add }
        guard types[outputValue] == .float32 else {
            throw .unsupported("the model's output is \(types[outputValue]); outputs must be float32")
        }
        elementTypes = types
        kernelLayers = steps.list.map(\.layer)
        kernelOutputs = steps.list.map(\.output)
        kernelFusedLayers = steps.list.map { $0.residual?.layer ?? $0.pool?.layer }
        kernelActivationBytes = steps.list.map { step in
            (step.inputs + [step.output]).reduce(0) { $0 + shapes[$1].elementCount * types[$1].byteCount }
        }
        layerTypes = steps.layerTypes

        var firstStep = [Int](repeating: -1, count: valueCount)
        var lastStep = [Int](repeating: -1, count: valueCount)
        for step in steps.list {
            firstStep[step.output] = step.order
            for value in step.inputs { lastStep[root[value]] = max(lastStep[root[value]], step.order) }
        }
        for (i, layer) in graph.layers.enumerated() where root[i + 1] != i + 1 {
            for value in layer.inputs { lastStep[root[value]] = max(lastStep[root[value]], ExecutionSteps.order(i)) }
        }
        lastStep[root[outputValue]] = ExecutionSteps.order(graph.layers.count)  // alive until copied out
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

        // Every kernel's prepared weights are reserved first, then carved from one
        // `PageArena` of their total rounded up to whole 2 MB pages (a fresh 4 KB page costs
        // microseconds on a virtual machine; see PageArena), the rounding charged to the
        // budget too. Where the budget has no room for it, the arena stops at the last whole
        // 2 MB page and the rest comes from malloc. (Stopping there always took 500 more
        // faults on cifar_vgg's second load in a process, 1,281 against 774.)
        var preparedBytes = 0
        for step in steps.list {
            preparedBytes += try step.reserve(model, shapes: shapes, budget: &budget)
        }
        var arenaBytes = PageArena.wholePagesAbove(preparedBytes)
        if preparedBytes < PageArena.minimumBytes || arenaBytes - preparedBytes > budget.limit - budget.used {
            arenaBytes = PageArena.wholePagesBelow(preparedBytes)
        } else {
            try budget.reserve(arenaBytes - preparedBytes, for: "the prepared weights' last 2 MB page")
        }
        // The file's mapping when it has room (its pages are in memory: see PageArena.recycle;
        // else it is given back here, before the packing), or a new one. Either way
        // `arenaBytes`, so the budget holds the same.
        let recycled = recycling?.recycle(bytes: arenaBytes) == true && arenaBytes >= PageArena.minimumBytes
        let arena = recycled ? recycling : PageArena.make(bytes: arenaBytes)
        var kernels: [any Kernel] = []
        for step in steps.list {
            kernels.append(try step.prepare(model, shapes: shapes, arena: arena))
        }
        self.kernels = kernels
        residualSplits = zip(steps.list, kernels).map { step, kernel in
            guard let residual = step.residual, kernel is any ResidualConvolution, types[step.output] == .float32
            else { return nil }
            let convolution = graph.layers[residual.layer].inputs[residual.convolutionOperand]
            return ResidualSplit(step: step, convolutionValue: convolution, shape: shapes[step.output])
        }
        scratchBytes = kernels.map(\.scratchBytes).max() ?? 0
    }
}

/// A float32 convolution with a fused residual Add, run as the two layers would be: the
/// convolution alone into the Add's memory (its value's, see `ExecutionPlan`), then the Add
/// in place, reading that memory as the convolution's operand. What the calibrating
/// `run(input:batch:visiting:)` needs to see the convolution's value; the same bits as the
/// fused kernel, which the tests check.
struct ResidualSplit: Sendable {
    /// The convolution's value (its memory is the Add's).
    let convolutionValue: Int
    /// The Add, in place.
    let add: AddKernel

    init(step: ExecutionSteps.Step, convolutionValue: Int, shape: TensorShape) {
        self.convolutionValue = convolutionValue
        let residual = step.residual!
        var inputs = [step.inputs[1], step.inputs[1]]
        inputs[residual.convolutionOperand] = step.output
        add = AddKernel(
            operands: KernelOperands(
                inputs: inputs, inputShapes: [shape, shape], output: step.output, outputShape: shape),
            activation: residual.activation)
    }
}

/// A convolution kernel that can compute a fused residual Add (`KernelSetup.residual`).
protocol ResidualConvolution: Kernel {
    /// Runs the convolution alone, on the caller's thread, into the output value's memory:
    /// its own (linear) result, without the residual and the Add's activation.
    func runWithoutResidual(_ context: RunContext)
}
