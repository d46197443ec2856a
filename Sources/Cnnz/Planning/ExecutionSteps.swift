/// The kernels of a plan in execution order, with the conversions an int8
/// model needs between them (TensorFlow Lite's scheme): a layer runs in int8
/// when its output and every input are quantized and the registry has an int8
/// kernel for it; otherwise in float32, between a dequantize of its int8
/// inputs and, when a later int8 layer reads its output, a quantize. The model
/// input is quantized where an int8 layer first reads it and the output is
/// dequantized at the end. A layer with a softmax runs its int8 sums through
/// a dequantize that applies the softmax in float. Float32 models get exactly
/// one step per layer (but a linear Flatten), as before.
struct ExecutionSteps {
    /// One kernel to prepare.
    struct Step {
        enum Action {
            /// Layer `index`'s kernel, with `activation` fused (the layer's own, or
            /// linear when a later step applies a softmax) and, for an int8 kernel,
            /// the quantization of what it writes.
            case layer(
                KernelRegistration, activation: Activation, inputs: [ActivationQuantization],
                output: ActivationQuantization?)
            case quantize(ActivationQuantization)
            case dequantize(ActivationQuantization, softmax: Bool)
        }
        let action: Action
        /// The layer this step runs or converts an operand of.
        let layer: Int
        /// Its position in time for the buffer planner (see `ExecutionSteps.order`).
        let order: Int
        let inputs: [Int]
        let output: Int
    }

    private(set) var list: [Step] = []
    /// Per value: its element type. Values past the graph's are conversions.
    private(set) var types: [ElementType]
    /// The shapes of the values past the graph's.
    private(set) var extraShapes: [TensorShape] = []
    /// Where the float32 output is.
    private(set) var outputValue: Int
    /// Per layer: the element type its kernel computes on (a linear Flatten: its input's).
    private(set) var layerTypes: [ElementType] = []

    /// The buffer planner's step for layer `i`'s kernel; its input conversions
    /// run one earlier, a softmax one later, so lifetimes keep their order.
    static func order(_ layer: Int) -> Int { layer * 4 + 1 }

    init(_ model: ModelDescription, shapes: [TensorShape], root: [Int]) throws(CnnzError) {
        let layers = model.graph.layers
        let quantization = model.activationQuantization
        types = [ElementType](repeating: .float32, count: layers.count + 1)
        outputValue = layers.count
        // What value v holds when it is int8 (a Flatten's is its input's).
        func parameters(_ v: Int) -> ActivationQuantization? {
            quantization.isEmpty ? nil : (quantization[root[v]] ?? quantization[v])
        }
        var converted: [Int: Int] = [:]
        func value(_ v: Int, as type: ElementType, layer: Int) -> Int {
            if types[v] == type { return v }
            if let c = converted[v] { return c }
            let new = types.count
            types.append(type)
            extraShapes.append(shapes[v])
            let p = parameters(v)!
            list.append(
                Step(
                    action: type == .int8 ? .quantize(p) : .dequantize(p, softmax: false), layer: layer,
                    order: Self.order(layer) - 1, inputs: [v], output: new))
            converted[v] = new
            return new
        }

        for (i, layer) in layers.enumerated() {
            let input = types[layer.inputs[0]]
            layerTypes.append(input)
            if root[i + 1] != i + 1 {
                types[i + 1] = input
                continue
            }
            let op = Operator(layer.kind)
            let shape = KernelShape(
                layer: layer, inputShapes: layer.inputs.map { shapes[$0] }, outputShape: shapes[i + 1])
            let int8 =
                parameters(i + 1) != nil && layer.inputs.allSatisfy { parameters($0) != nil }
                ? KernelRegistry.registration(op, input: .int8, shape: shape) : nil
            if let int8, let output = quantization[i + 1] {
                layerTypes[i] = .int8
                let inputs = layer.inputs.map { value($0, as: .int8, layer: i) }
                let inputParameters = layer.inputs.map { parameters($0)! }
                if layer.activation == .softmax {
                    let sums = types.count
                    types.append(.int8)
                    extraShapes.append(shapes[i + 1])
                    list.append(
                        Step(
                            action: .layer(
                                int8, activation: .linear, inputs: inputParameters, output: output.preActivation),
                            layer: i,
                            order: Self.order(i), inputs: inputs, output: sums))
                    list.append(
                        Step(
                            action: .dequantize(output.preActivation, softmax: true), layer: i,
                            order: Self.order(i) + 1, inputs: [sums], output: i + 1))
                    types[i + 1] = .float32
                } else {
                    list.append(
                        Step(
                            action: .layer(
                                int8, activation: layer.activation, inputs: inputParameters, output: output), layer: i,
                            order: Self.order(i), inputs: inputs, output: i + 1))
                    types[i + 1] = int8.output
                }
                continue
            }
            guard let registration = KernelRegistry.registration(op, input: .float32, shape: shape) else {
                throw .unsupported("layer \(i) (\(layer.kind.className)): no kernel takes float32 inputs")
            }
            let inputs = layer.inputs.map { value($0, as: .float32, layer: i) }
            layerTypes[i] = .float32
            list.append(
                Step(
                    action: .layer(registration, activation: layer.activation, inputs: [], output: nil), layer: i,
                    order: Self.order(i), inputs: inputs, output: i + 1))
            types[i + 1] = registration.output
        }
        if !layers.isEmpty {
            outputValue = value(layers.count, as: .float32, layer: layers.count - 1)
        }
    }
}

extension ExecutionSteps.Step {
    /// Prepares this step's kernel (`shapes`: every value's, conversions included),
    /// reserving its prepared weights in `budget` first. A float32 kernel of a
    /// quantized model gets its weights dequantized here, once.
    func prepare(_ model: ModelDescription, shapes: [TensorShape], budget: inout MemoryBudget) throws(CnnzError)
        -> any Kernel
    {
        let operands = KernelOperands(
            inputs: inputs, inputShapes: inputs.map { shapes[$0] }, output: output, outputShape: shapes[output])
        switch action {
        case .quantize(let p):
            return QuantizeKernel(operands: operands, quantization: p)
        case .dequantize(let p, let softmax):
            return DequantizeKernel(operands: operands, quantization: p, softmax: softmax)
        case .layer(let registration, let activation, let inputQuantization, let outputQuantization):
            var layer = model.graph.layers[self.layer]
            layer.activation = activation
            var weights = layer.weights.map { model.tensors[$0] }
            if registration.input == .float32 {
                for (w, tensor) in weights.enumerated() where tensor.elementType != .float32 {
                    try budget.reserve(tensor.elementCount * 4, for: "layer \(self.layer)'s dequantized weights")
                    weights[w] = tensor.dequantized
                }
            }
            let setup = KernelSetup(
                index: self.layer, layer: layer, operands: operands, input: registration.input,
                output: registration.output, weights: weights,
                inputQuantization: inputQuantization,
                outputQuantization: outputQuantization)
            try budget.reserve(registration.kernel.preparedBytes(setup), for: "\(setup.label)'s prepared weights")
            return try registration.kernel.init(setup)
        }
    }
}
