/// The one check of a model's contents. Every path into the engine goes
/// through it: `ModelReader.decode`, `Model.init` (and so `Model(bytes:)`,
/// `Model(contentsOfFile:)` and the C API) and the converter. After it
/// succeeds, kernels can be prepared and run without further checks.
extension ModelDescription {
    /// Checks everything a model's contents must satisfy, without allocating
    /// more than a few arrays per layer: preprocessing constants; each
    /// tensor's rank, dimensions, element count (it must equal `values.count`),
    /// finiteness and quantization (and every activation's, `validateQuantization`); names and labels within their caps; the graph (order,
    /// weights, shapes, windows) by `ShapeInference`; one label per output;
    /// the self-test vector's sizes; and the work per image against
    /// `options.maxOperationsPerImage`. Memory is checked when a `Model` plans it.
    /// - Parameter layerLabel: names layer `i` in messages (the converter names JSON layers).
    /// - Returns: the shape of every value: index 0 is the input, `i + 1` the output of layer `i`.
    @discardableResult
    public func validate(options: LoadOptions = .default, layerLabel: ((Int) -> String)? = nil) throws(CnnzError)
        -> [TensorShape]
    {
        let options = try options.validated()
        try preprocessing.validate(channels: graph.inputShape.channels)
        guard name.utf8.count <= Limits.maxStringBytes else {
            throw .memory("the model name has \(name.utf8.count) bytes; the cap is \(Limits.maxStringBytes)")
        }
        guard labels.count <= Limits.maxLabels else {
            throw .memory("the model has \(labels.count) labels; the cap is \(Limits.maxLabels)")
        }
        for (i, label) in labels.enumerated() where label.utf8.count > Limits.maxStringBytes {
            throw .memory("label \(i) has \(label.utf8.count) bytes; the cap is \(Limits.maxStringBytes)")
        }
        for (i, layer) in graph.layers.enumerated() where layer.name.utf8.count > Limits.maxStringBytes {
            throw .memory("layer \(i) has a \(layer.name.utf8.count)-byte name; the cap is \(Limits.maxStringBytes)")
        }
        guard tensors.count <= Limits.maxTensors else {
            throw .memory("the model has \(tensors.count) tensors; the cap is \(Limits.maxTensors)")
        }
        for (t, tensor) in tensors.enumerated() {
            try tensor.validate(name: "tensor \(t)")
        }
        let shapes = try ShapeInference.infer(graph, tensors: tensors, layerLabel: layerLabel)
        try validateQuantization(shapes: shapes)
        let outputSize = shapes.last!.elementCount
        guard labels.isEmpty || labels.count == outputSize else {
            throw .format("\(labels.count) labels for \(outputSize) outputs")
        }
        if let test = selfTest {
            guard test.input.count == graph.inputShape.elementCount else {
                throw .format(
                    "self-test: the input has \(test.input.count) values, the model input needs \(graph.inputShape.elementCount)"
                )
            }
            guard test.output.count == outputSize else {
                throw .format(
                    "self-test: the output has \(test.output.count) values, the model has \(outputSize) outputs")
            }
            guard test.tolerance >= 0, test.tolerance.isFinite, test.input.allSatisfy(\.isFinite),
                test.output.allSatisfy(\.isFinite)
            else { throw .format("self-test: the vector holds a value that is not a finite number") }
        }
        var operations = 0
        for (i, layer) in graph.layers.enumerated() {
            let work = layer.operations(input: shapes[layer.inputs[0]], output: shapes[i + 1])
            let (sum, overflow) = operations.addingReportingOverflow(work)
            operations = overflow ? .max : sum
        }
        guard operations <= options.maxOperationsPerImage else {
            throw .memory(
                "the model needs \(operations == .max ? "more than 2^63" : String(operations)) operations per image; the cap is \(options.maxOperationsPerImage)"
            )
        }
        return shapes
    }
}

extension ModelDescription {
    /// What the decoded contents hold in memory, as the budget counts it: the
    /// weights, the self-test vector, about 256 bytes per layer, and each label's
    /// bytes twice (the C API keeps a copy) with 48 bytes more.
    var retainedBytes: Int {
        var bytes = tensors.reduce(0) { $0 + $1.byteCount }
        bytes += ((selfTest?.input.count ?? 0) + (selfTest?.output.count ?? 0)) * 4
        bytes += graph.layers.reduce(0) { $0 + 256 + ($1.inputs.count + $1.weights.count) * 8 + $1.name.utf8.count }
        bytes += labels.reduce(0) { $0 + 2 * $1.utf8.count + 48 } + name.utf8.count
        return bytes
    }
}

extension Tensor {
    /// Rank 1...4, every dimension at least 1, at most `Limits.maxElements`
    /// elements, exactly that many values: float32 ones finite and without a
    /// quantization, int8 and int32 ones with a valid quantization.
    func validate(name: String) throws(CnnzError) {
        guard (1...4).contains(shape.count), shape.allSatisfy({ $0 >= 1 }) else {
            throw .format("\(name) has shape \(shape): needs rank 1...4 and dimensions of at least 1")
        }
        guard let count = Limits.elementCount(of: shape) else {
            throw .memory("\(name) has more than \(Limits.maxElements) elements")
        }
        guard elementCount == count else {
            throw .format("\(name) has \(elementCount) values, its shape \(shape) needs \(count)")
        }
        if case .float32(let values) = storage {
            if !Self.allFinite(values), let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw .format("\(name) element \(bad) is \(values[bad]), not a finite number")
            }
            guard quantization == nil else { throw .format("\(name) is float32 but has a quantization") }
        } else {
            guard let quantization else { throw .format("\(name) is \(elementType) without a quantization") }
            try quantization.validate(shape: shape, elementType: elementType, name: name)
        }
    }
}

extension Tensor {
    /// True when no value is infinite or NaN: no value's exponent is all ones, checked 16 lanes at
    /// a time (a 3 MB model checks 800K weights at every load, which `firstIndex(where:)` took
    /// about 1 ms for).
    static func allFinite(_ values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { values in
            guard let base = values.baseAddress else { return true }
            let bits = UnsafeRawPointer(base)
            // A float is not finite when its exponent is all ones: its magnitude's bits are
            // 0x7F80_0000 or more, and adding 0x0080_0000 carries into the top bit. Ands, adds
            // and ors of whole vectors (a pointwiseMax, which SSE2 lacks for UInt32, was a call
            // per 16 floats: 0.2 ms of loading cifar_vgg).
            let magnitude = SIMD16<UInt32>(repeating: 0x7FFF_FFFF)
            let carry = SIMD16<UInt32>(repeating: 0x0080_0000)
            var any = SIMD16<UInt32>(repeating: 0)
            var index = 0
            while index + 16 <= values.count {
                let lanes = bits.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<UInt32>.self)
                any |= (lanes & magnitude) &+ carry
                index += 16
            }
            var tail: UInt32 = 0
            while index < values.count {
                tail |= (values[index].bitPattern & 0x7FFF_FFFF) &+ 0x0080_0000
                index += 1
            }
            for lane in 0..<16 { tail |= any[lane] }
            return tail & 0x8000_0000 == 0
        }
    }
}

extension Preprocessing {
    /// Checks the constants: finite, std not 0, one value or one per channel.
    public func validate(channels: Int) throws(CnnzError) {
        guard scale.isFinite else { throw .format("preprocess: scale \(scale) is not a finite number") }
        for (name, values) in [("mean", mean), ("std", std)] {
            guard values.count == 1 || values.count == channels else {
                throw .format(
                    "preprocess: \(name) has \(values.count) values; needs 1 or \(channels) (one per channel)")
            }
            guard values.allSatisfy(\.isFinite) else {
                throw .format("preprocess: \(name) holds a value that is not finite")
            }
        }
        guard !std.contains(0) else { throw .format("preprocess: std holds 0") }
    }
}

extension Layer {
    /// Multiply-accumulates for one image (convolutions and dense layers), as `convert --inspect` shows them.
    /// Saturates at `Int.max`.
    public func multiplyAdds(input: TensorShape, output: TensorShape) -> Int {
        switch kind {
        case .conv2D(let w, _, let groups, _):
            return Self.product([output.elementCount, w.kernelHeight, w.kernelWidth, input.channels / groups])
        case .depthwiseConv2D(let w, _, _):
            return Self.product([output.elementCount, w.kernelHeight, w.kernelWidth])
        case .dense:
            return Self.product([output.elementCount, input.channels])
        default:
            return 0
        }
    }

    /// The work of one image: multiply-adds, plus one per element a pooling
    /// window reads, plus one per output element for every other layer.
    /// Bounds the time a model can take. Saturates at `Int.max`.
    func operations(input: TensorShape, output: TensorShape) -> Int {
        switch kind {
        case .conv2D, .depthwiseConv2D, .dense:
            return multiplyAdds(input: input, output: output)
        case .maxPool2D(let w), .averagePool2D(let w):
            return Self.product([output.elementCount, w.kernelHeight, w.kernelWidth])
        case .globalAveragePool2D, .globalMaxPool2D:
            return input.elementCount
        case .add, .concatenate:
            return Self.product([output.elementCount, inputs.count])
        default:
            return output.elementCount
        }
    }

    private static func product(_ factors: [Int]) -> Int {
        var result = 1
        for factor in factors {
            let (p, overflow) = result.multipliedReportingOverflow(by: factor)
            if overflow { return .max }
            result = p
        }
        return result
    }
}
