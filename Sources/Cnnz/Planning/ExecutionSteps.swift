/// The kernels of a plan in execution order, with the conversions an int8
/// model needs between them (TensorFlow Lite's scheme): a layer runs in int8
/// when its output and every input are quantized and the registry has an int8
/// kernel for it; otherwise in float32, between a dequantize of its int8
/// inputs and, when a later int8 layer reads its output, a quantize. The model
/// input is quantized where an int8 layer first reads it and the output is
/// dequantized at the end. A layer with a softmax runs its int8 sums through
/// a dequantize that applies the softmax in float. Float32 models get exactly
/// one step per layer (but a linear Flatten), as before.
///
/// A two-input Add one of whose operands is a linear Conv2D's output read by
/// nothing else runs inside that convolution (`ResidualAdd`): one step at the
/// Add's place, whose kernel stores `convolution + other operand` with the Add's
/// activation, when both layers run in the same element type and the
/// convolution's kernel can (`RegisteredKernel.fusesResidualAdd`). The
/// convolution's own value then has no step and no memory of its own (see
/// `fusedValues`).
///
/// Likewise an int8 Conv2D whose only reader is the 2x2, stride-2 MaxPooling2D right after it,
/// a plain maximum of its bytes (`plainMaxPool2x2`), runs as one step at the pooling's place
/// that writes the pooled value (`MaxPoolFusion`), when the convolution's kernel can
/// (`RegisteredKernel.fusesMaxPool`); its own value then has no step and no memory.
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
        /// A convolution with a residual Add fused in: `inputs` are the convolution's
        /// input and the Add's other operand, `output` the Add's value.
        var residual: ResidualAdd? = nil
        /// A convolution with the max pooling after it fused in: `output` is the pooling's value.
        var pool: MaxPoolFusion? = nil
    }

    /// Whether the planner fuses residual Adds into convolutions; tests turn it off to
    /// compare a fused plan with the unfused one (`ExecutionSteps.$fusesResidualAdds`).
    @TaskLocal static var fusesResidualAdds = true
    /// Whether it fuses max poolings into the int8 convolutions before them (tests compare
    /// with `ExecutionSteps.$fusesMaxPools` off).
    @TaskLocal static var fusesMaxPools = true

    private(set) var list: [Step] = []
    /// Per value: its element type. Values past the graph's are conversions.
    private(set) var types: [ElementType]
    /// The shapes of the values past the graph's.
    private(set) var extraShapes: [TensorShape] = []
    /// Where the float32 output is.
    private(set) var outputValue: Int
    /// Per layer: the element type its kernel computes on (a linear Flatten: its input's).
    private(set) var layerTypes: [ElementType] = []
    /// The values of convolutions whose Add is fused in (no step writes them), each with the
    /// Add's value: the plan gives them its memory.
    private(set) var fusedValues: [Int: Int] = [:]

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

        // The registration layer `i` runs with, and its output's quantization when it is int8.
        func choose(_ i: Int) -> (KernelRegistration?, int8: KernelRegistration?, ActivationQuantization?) {
            let layer = layers[i]
            let op = Operator(layer.kind)
            let shape = KernelShape(
                layer: layer, inputShapes: layer.inputs.map { shapes[$0] }, outputShape: shapes[i + 1])
            let int8 =
                parameters(i + 1) != nil && layer.inputs.allSatisfy { parameters($0) != nil }
                ? KernelRegistry.registration(op, input: .int8, shape: shape) : nil
            if let int8, let output = quantization[i + 1] { return (int8, int8, output) }
            return (KernelRegistry.registration(op, input: .float32, shape: shape), nil, nil)
        }
        let fusions = Self.fusions(layers, root: root) { conv, add in
            let (c, cInt8, _) = choose(conv)
            let (a, aInt8, _) = choose(add)
            guard let c, let a, (cInt8 == nil) == (aInt8 == nil), c.output == a.input else { return false }
            let shape = KernelShape(
                layer: layers[conv], inputShapes: [shapes[layers[conv].inputs[0]]], outputShape: shapes[conv + 1])
            return c.kernel.fusesResidualAdd(shape)
        }
        let pools = Self.poolFusions(layers, root: root, skipping: fusions.byConvolution) { conv in
            let (_, cInt8, output) = choose(conv)
            let (_, pInt8, pooled) = choose(conv + 1)
            guard let cInt8, let output, pInt8 != nil, pooled == output,
                let input = parameters(layers[conv].inputs[0]), let kernel = layers[conv].weights.first
            else { return false }
            let shape = KernelShape(
                layer: layers[conv], inputShapes: [shapes[layers[conv].inputs[0]]], outputShape: shapes[conv + 1])
            return cInt8.kernel.fusesMaxPool(shape, kernel: model.tensors[kernel], input: input, output: output)
        }
        // Convolutions whose step waits for their Add's: registration, input value, input and output quantization.
        var waiting: [Int: (KernelRegistration, input: Int, [ActivationQuantization], ActivationQuantization?)] = [:]

        for (i, layer) in layers.enumerated() {
            let input = types[layer.inputs[0]]
            layerTypes.append(input)
            if root[i + 1] != i + 1 {
                types[i + 1] = input
                continue
            }
            if let (add, _) = fusions.byConvolution[i] {
                // Its input converted here, its step at the Add (the other operand may come later).
                let (registration, int8, output) = choose(i)
                let type = registration!.input
                layerTypes[i] = type
                waiting[i] = (
                    registration!, value(layer.inputs[0], as: type, layer: i),
                    int8 == nil ? [] : [parameters(layer.inputs[0])!], output
                )
                types[i + 1] = registration!.output
                fusedValues[i + 1] = add + 1
                continue
            }
            if pools.contains(i) {
                // A convolution whose max pooling (layer i + 1) is fused in: its step is the pooling's.
                let (registration, _, output) = choose(i)
                layerTypes[i] = .int8
                waiting[i] = (
                    registration!, value(layer.inputs[0], as: .int8, layer: i), [parameters(layer.inputs[0])!], output
                )
                types[i + 1] = .int8
                fusedValues[i + 1] = i + 2
                continue
            }
            if pools.contains(i - 1), let (registration, convInput, inputParameters, output) = waiting[i - 1] {
                layerTypes[i] = .int8
                list.append(
                    Step(
                        action: .layer(
                            registration, activation: layers[i - 1].activation, inputs: inputParameters,
                            output: output),
                        layer: i - 1, order: Self.order(i), inputs: [convInput], output: i + 1,
                        pool: MaxPoolFusion(layer: i, convolutionShape: shapes[i])))
                types[i + 1] = .int8
                continue
            }
            if let (conv, operand) = fusions.byAdd[i],
                let (registration, convInput, inputParameters, output) =
                    waiting[conv]
            {
                let type = registration.input
                layerTypes[i] = type
                let residual = value(layer.inputs[1 - operand], as: type, layer: i)
                list.append(
                    Step(
                        action: .layer(registration, activation: .linear, inputs: inputParameters, output: output),
                        layer: conv, order: Self.order(i), inputs: [convInput, residual], output: i + 1,
                        residual: ResidualAdd(
                            layer: i, convolutionOperand: operand, activation: layer.activation,
                            inputQuantization: type == .int8 ? layer.inputs.map { parameters($0)! } : [],
                            outputQuantization: type == .int8 ? quantization[i + 1] : nil)))
                types[i + 1] = registration.output
                continue
            }
            let (chosen, int8, quantized) = choose(i)
            if let int8, let output = quantized {
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
            guard let registration = chosen else {
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

extension ExecutionSteps {
    /// The Adds to fuse: by convolution layer, its Add and which operand of it the convolution
    /// is; by Add layer, the convolution. An Add qualifies with two inputs and no softmax; its
    /// operand, a Conv2D with a linear activation whose value nothing else reads (not even a
    /// Flatten) and that `fits` (same element type as the Add, a kernel that can). When both
    /// operands qualify, the one computed last is fused (the other is then ready).
    static func fusions(_ layers: [Layer], root: [Int], fits: (_ conv: Int, _ add: Int) -> Bool) -> (
        byConvolution: [Int: (add: Int, operand: Int)], byAdd: [Int: (conv: Int, operand: Int)]
    ) {
        var byConvolution: [Int: (add: Int, operand: Int)] = [:]
        var byAdd: [Int: (conv: Int, operand: Int)] = [:]
        guard fusesResidualAdds else { return (byConvolution, byAdd) }
        var readers = [Int](repeating: 0, count: layers.count + 1)
        for layer in layers { for value in layer.inputs { readers[value] += 1 } }
        for (j, layer) in layers.enumerated()
        where layer.kind == .add && layer.inputs.count == 2 && layer.activation != .softmax {
            for operand in [1, 0].sorted(by: { layer.inputs[$0] > layer.inputs[$1] }) {
                let value = layer.inputs[operand]
                guard value >= 1, root[value] == value, readers[value] == 1,
                    case .conv2D = layers[value - 1].kind, layers[value - 1].activation == .linear,
                    fits(value - 1, j)
                else { continue }
                byConvolution[value - 1] = (j, operand)
                byAdd[j] = (value - 1, operand)
                break
            }
        }
        return (byConvolution, byAdd)
    }
}

extension ExecutionSteps {
    /// The convolutions to fuse with the max pooling after them: layer i, a Conv2D whose value
    /// only layer i + 1 reads (not a Flatten, not an Add it is fused into), a plain 2x2 pooling
    /// (`plainMaxPool2x2`), and that `fits` (both int8, the pooling keeping the convolution's
    /// quantization, a kernel that can).
    static func poolFusions(
        _ layers: [Layer], root: [Int], skipping residuals: [Int: (add: Int, operand: Int)], fits: (_ conv: Int) -> Bool
    ) -> Set<Int> {
        var result: Set<Int> = []
        guard fusesMaxPools else { return result }
        var readers = [Int](repeating: 0, count: layers.count + 1)
        for layer in layers { for value in layer.inputs { readers[value] += 1 } }
        for i in layers.indices.dropLast() where residuals[i] == nil {
            guard case .conv2D = layers[i].kind, root[i + 1] == i + 1, readers[i + 1] == 1,
                layers[i + 1].inputs == [i + 1], plainMaxPool2x2(layers[i + 1]), fits(i)
            else { continue }
            result.insert(i)
        }
        return result
    }

    /// A MaxPooling2D of 2x2 windows at stride 2, "valid" padding and no activation: each pooled
    /// pixel is the maximum of four input pixels, an odd last row or column left out.
    static func plainMaxPool2x2(_ layer: Layer) -> Bool {
        guard case .maxPool2D(let w) = layer.kind, layer.activation == .linear else { return false }
        return w.kernelHeight == 2 && w.kernelWidth == 2 && w.strideHeight == 2 && w.strideWidth == 2
            && w.dilationHeight == 1 && w.dilationWidth == 1 && w.padding == .valid
    }
}

/// A max pooling computed by the convolution before it (`ExecutionSteps`): the layer, and the
/// convolution's output shape (the step's output is the pooling's).
struct MaxPoolFusion: Sendable {
    let layer: Int
    let convolutionShape: TensorShape
}

/// A residual Add computed in the store of the convolution that computes one of its operands
/// (TFLite's and XNNPACK's fused Add, ONNX Runtime's FusedConv with Sum): the convolution's
/// result as it would store it (its own activation is linear; int8: requantized to its own
/// output), then the Add's sum with the other operand and the Add's activation, as the Add
/// kernel computes them, so the bits are those of the two layers run apart.
struct ResidualAdd: Sendable {
    /// The Add layer.
    let layer: Int
    /// Which of the Add's inputs the convolution's output is (0 or 1): the order it sums in.
    let convolutionOperand: Int
    /// The Add's activation.
    let activation: Activation
    /// Int8: the quantization of the Add's inputs (in its order) and of its output.
    let inputQuantization: [ActivationQuantization]
    let outputQuantization: ActivationQuantization?
}

extension ExecutionSteps.Step {
    /// Reserves in `budget` what preparing this step's kernel allocates: a float32 kernel of
    /// a quantized model's dequantized weights, and the kernel's prepared weights, whose
    /// bytes it returns (what the plan's `PageArena` is sized by).
    func reserve(_ model: ModelDescription, shapes: [TensorShape], budget: inout MemoryBudget) throws(CnnzError)
        -> Int
    {
        guard case .layer(let registration, _, _, _) = action else { return 0 }
        // The stored weights (not yet dequantized: `preparedBytes` reads only their counts).
        let weights = model.graph.layers[layer].weights.map { model.tensors[$0] }
        let setup = self.setup(model, shapes: shapes, registration: registration, weights: weights, arena: nil)
        if registration.input == .float32 {
            for tensor in weights where tensor.elementType != .float32 {
                try budget.reserve(tensor.elementCount * 4, for: "layer \(self.layer)'s dequantized weights")
            }
        }
        let bytes = registration.kernel.preparedBytes(setup)
        try budget.reserve(bytes, for: "\(setup.label)'s prepared weights")
        return bytes
    }

    /// Prepares this step's kernel (`shapes`: every value's, conversions included), its
    /// prepared weights carved from `arena` when there is one; `reserve` has charged them to
    /// the memory budget. A float32 kernel of a quantized model gets its weights dequantized
    /// here, once.
    func prepare(_ model: ModelDescription, shapes: [TensorShape], arena: PageArena?) throws(CnnzError)
        -> any Kernel
    {
        switch action {
        case .quantize(let p):
            return QuantizeKernel(operands: operands(shapes), quantization: p)
        case .dequantize(let p, let softmax):
            return DequantizeKernel(operands: operands(shapes), quantization: p, softmax: softmax)
        case .layer(let registration, _, _, _):
            var weights = model.graph.layers[self.layer].weights.map { model.tensors[$0] }
            if registration.input == .float32 {
                for (w, tensor) in weights.enumerated() where tensor.elementType != .float32 {
                    weights[w] = tensor.dequantized
                }
            }
            return try registration.kernel.init(
                setup(model, shapes: shapes, registration: registration, weights: weights, arena: arena))
        }
    }

    private func operands(_ shapes: [TensorShape]) -> KernelOperands {
        KernelOperands(
            inputs: inputs, inputShapes: inputs.map { shapes[$0] }, output: output, outputShape: shapes[output])
    }

    /// A layer step's setup, with `weights` as the kernel takes them.
    private func setup(
        _ model: ModelDescription, shapes: [TensorShape], registration: KernelRegistration, weights: [Tensor],
        arena: PageArena?
    ) -> KernelSetup {
        guard case .layer(_, let activation, let inputQuantization, let outputQuantization) = action else {
            preconditionFailure("only a layer step has a kernel setup")
        }
        var layer = model.graph.layers[self.layer]
        layer.activation = activation
        return KernelSetup(
            index: self.layer, layer: layer, operands: operands(shapes), input: registration.input,
            output: registration.output, weights: weights, inputQuantization: inputQuantization,
            outputQuantization: outputQuantization, residual: residual, pool: pool, arena: arena)
    }
}
