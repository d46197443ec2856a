/// The output size and padding of one axis of a sliding window.
public struct AxisGeometry: Equatable, Sendable {
    /// Output positions along the axis.
    public var output: Int
    /// Zeros (or skipped positions) before the first input position and after the last.
    public var padBefore: Int
    public var padAfter: Int

    /// TensorFlow's rules: "valid" keeps windows inside the input; "same" gives
    /// `ceil(input / stride)` outputs and puts the smaller half of the padding first.
    /// Returns nil when the window does not fit (valid padding, input too small).
    public static func compute(input: Int, kernel: Int, stride: Int, dilation: Int, padding: Padding) -> AxisGeometry? {
        let span = (kernel - 1) * dilation + 1
        switch padding {
        case .valid:
            guard input >= span else { return nil }
            return AxisGeometry(output: (input - span) / stride + 1, padBefore: 0, padAfter: 0)
        case .same:
            let output = (input + stride - 1) / stride
            let total = max((output - 1) * stride + span - input, 0)
            return AxisGeometry(output: output, padBefore: total / 2, padAfter: total - total / 2)
        }
    }
}

extension Window {
    /// The output rows and columns, with their padding, over an input of
    /// `height` x `width`; nil when the window does not fit (valid padding).
    public func geometry(height: Int, width: Int) -> (rows: AxisGeometry, columns: AxisGeometry)? {
        guard
            let rows = AxisGeometry.compute(
                input: height, kernel: kernelHeight, stride: strideHeight, dilation: dilationHeight, padding: padding),
            let columns = AxisGeometry.compute(
                input: width, kernel: kernelWidth, stride: strideWidth, dilation: dilationWidth, padding: padding)
        else { return nil }
        return (rows, columns)
    }
}

/// Infers and checks the shape of every value of a graph, once, at load or conversion time.
/// After it succeeds, kernels can be prepared and run without further checks.
public enum ShapeInference {
    /// Returns the shape of every value: index 0 is the model input, `i + 1` the output of layer `i`.
    /// - Parameter layerLabel: names layer `i` in error messages (the converter names JSON layers);
    ///   by default "layer i (ClassName)".
    public static func infer(
        _ graph: Graph, tensors: [Tensor], layerLabel: ((Int) -> String)? = nil
    ) throws(CnnzError) -> [TensorShape] {
        let input = graph.inputShape
        guard input.rank == 3, Self.dimensionOK(input.height), Self.dimensionOK(input.width),
            Self.dimensionOK(input.channels)
        else {
            throw .format("input shape \(input) is invalid: each dimension must be 1...\(Limits.maxDimension)")
        }
        guard input.elementCount <= Limits.maxElements else {
            throw .memory("input shape \(input) exceeds the cap of \(Limits.maxElements) elements")
        }
        guard !graph.layers.isEmpty else { throw .format("the graph has no layers") }
        guard graph.layers.count <= Limits.maxLayers else {
            throw .memory("the graph has \(graph.layers.count) layers; the cap is \(Limits.maxLayers)")
        }
        var shapes = [input]
        shapes.reserveCapacity(graph.layers.count + 1)
        for (index, layer) in graph.layers.enumerated() {
            let label = layerLabel?(index) ?? "layer \(index) (\(layer.kind.className))"
            let shape = try Self.outputShape(of: layer, index: index, shapes: shapes, tensors: tensors, label: label)
            guard shape.height >= 1, shape.width >= 1, shape.channels >= 1 else {
                throw .format("\(label): output shape \(shape) is invalid")
            }
            guard shape.height <= Limits.maxDimension, shape.width <= Limits.maxDimension,
                shape.rank == 1 || shape.channels <= Limits.maxDimension
            else {
                throw .memory("\(label): output shape \(shape) exceeds the cap of \(Limits.maxDimension) per dimension")
            }
            guard shape.elementCount <= Limits.maxElements else {
                throw .memory(
                    "\(label): output shape \(shape) exceeds the cap of \(Limits.maxElements) elements per image")
            }
            shapes.append(shape)
        }
        return shapes
    }

    static func dimensionOK(_ value: Int) -> Bool { value >= 1 && value <= Limits.maxDimension }

    private static func outputShape(
        of layer: Layer, index: Int, shapes: [TensorShape], tensors: [Tensor], label: String
    ) throws(CnnzError) -> TensorShape {
        let multiInput: Bool
        switch layer.kind {
        case .add, .concatenate: multiInput = true
        default: multiInput = false
        }
        if multiInput {
            guard layer.inputs.count >= 2, layer.inputs.count <= Limits.maxLayerInputs else {
                throw .format("\(label): needs 2 to \(Limits.maxLayerInputs) inputs, has \(layer.inputs.count)")
            }
        } else {
            guard layer.inputs.count == 1 else {
                throw .format("\(label): needs exactly 1 input, has \(layer.inputs.count)")
            }
        }
        for value in layer.inputs {
            guard value >= 0, value <= index else {
                throw .format("\(label): input value \(value) is not the model input or an earlier layer")
            }
        }
        guard layer.weights.count == layer.kind.weightCount else {
            throw .format("\(label): needs \(layer.kind.weightCount) weight tensors, has \(layer.weights.count)")
        }
        for tensor in layer.weights {
            guard tensor >= 0, tensor < tensors.count else {
                throw .format("\(label): weight tensor index \(tensor) is out of range (\(tensors.count) tensors)")
            }
        }
        try Self.checkActivation(layer.activation, label: label)
        let x = shapes[layer.inputs[0]]

        func expectWeight(_ position: Int, _ expected: [Int], _ what: String) throws(CnnzError) {
            let shape = tensors[layer.weights[position]].shape
            guard shape == expected else {
                throw .format(
                    "\(label): \(what) has shape \(shape.map(String.init).joined(separator: "x")), expected \(expected.map(String.init).joined(separator: "x"))"
                )
            }
        }
        func spatial(_ window: Window) throws(CnnzError) -> (AxisGeometry, AxisGeometry) {
            guard x.rank == 3 else { throw .format("\(label): needs an [H, W, C] input, got [\(x)]") }
            for (name, value) in [
                ("kernel height", window.kernelHeight), ("kernel width", window.kernelWidth),
                ("stride height", window.strideHeight), ("stride width", window.strideWidth),
                ("dilation height", window.dilationHeight), ("dilation width", window.dilationWidth),
            ] {
                guard Self.dimensionOK(value) else {
                    throw .format("\(label): \(name) \(value) is out of range 1...\(Limits.maxDimension)")
                }
            }
            guard let (h, w) = window.geometry(height: x.height, width: x.width)
            else {
                throw .format(
                    "\(label): a \(window.kernelHeight)x\(window.kernelWidth) window (dilation \(window.dilationHeight)x\(window.dilationWidth)) does not fit the \(x.height)x\(x.width) input with valid padding"
                )
            }
            return (h, w)
        }

        switch layer.kind {
        case .conv2D(let window, let filters, let groups, let hasBias):
            let (h, w) = try spatial(window)
            guard Self.dimensionOK(filters), groups >= 1, groups <= x.channels else {
                throw .format("\(label): filters \(filters) or groups \(groups) out of range")
            }
            guard x.channels % groups == 0, filters % groups == 0 else {
                throw .format(
                    "\(label): groups \(groups) must divide both the input channels \(x.channels) and the filters \(filters)"
                )
            }
            try expectWeight(0, [window.kernelHeight, window.kernelWidth, x.channels / groups, filters], "kernel")
            if hasBias { try expectWeight(1, [filters], "bias") }
            return TensorShape(height: h.output, width: w.output, channels: filters)
        case .depthwiseConv2D(let window, let multiplier, let hasBias):
            let (h, w) = try spatial(window)
            guard Self.dimensionOK(multiplier) else {
                throw .format("\(label): depth multiplier \(multiplier) out of range")
            }
            try expectWeight(0, [window.kernelHeight, window.kernelWidth, x.channels, multiplier], "kernel")
            if hasBias { try expectWeight(1, [x.channels * multiplier], "bias") }
            return TensorShape(height: h.output, width: w.output, channels: x.channels * multiplier)
        case .dense(let units, let hasBias):
            guard units >= 1, units <= Limits.maxElements else {
                throw .format("\(label): units \(units) out of range")
            }
            try expectWeight(0, [x.channels, units], "kernel")
            if hasBias { try expectWeight(1, [units], "bias") }
            var shape = x
            shape.channels = units
            return shape
        case .maxPool2D(let window), .averagePool2D(let window):
            guard window.dilationHeight == 1, window.dilationWidth == 1 else {
                throw .format("\(label): pooling has no dilation")
            }
            let (h, w) = try spatial(window)
            return TensorShape(height: h.output, width: w.output, channels: x.channels)
        case .globalAveragePool2D(let keepDims), .globalMaxPool2D(let keepDims):
            guard x.rank == 3 else { throw .format("\(label): needs an [H, W, C] input, got [\(x)]") }
            return keepDims ? TensorShape(height: 1, width: 1, channels: x.channels) : TensorShape(flat: x.channels)
        case .zeroPadding2D(let top, let bottom, let left, let right):
            guard x.rank == 3 else { throw .format("\(label): needs an [H, W, C] input, got [\(x)]") }
            for value in [top, bottom, left, right] {
                guard value >= 0, value <= Limits.maxDimension else {
                    throw .format("\(label): padding \(value) is out of range 0...\(Limits.maxDimension)")
                }
            }
            return TensorShape(height: x.height + top + bottom, width: x.width + left + right, channels: x.channels)
        case .flatten:
            return TensorShape(flat: x.elementCount)
        case .channelAffine:
            try expectWeight(0, [x.channels], "scale")
            try expectWeight(1, [x.channels], "shift")
            return x
        case .activation:
            return x
        case .add:
            for value in layer.inputs.dropFirst() where shapes[value] != x {
                throw .format("\(label): inputs have different shapes, [\(x)] and [\(shapes[value])]")
            }
            return x
        case .concatenate:
            var channels = 0
            for value in layer.inputs {
                let s = shapes[value]
                guard s.rank == x.rank, s.height == x.height, s.width == x.width else {
                    throw .format("\(label): inputs [\(x)] and [\(s)] differ in more than the last axis")
                }
                channels += s.channels
            }
            var shape = x
            shape.channels = channels
            return shape
        }
    }

    private static func checkActivation(_ activation: Activation, label: String) throws(CnnzError) {
        switch activation {
        case .relu(let maxValue, let slope, let threshold):
            guard maxValue >= 0, !maxValue.isNaN, slope.isFinite, slope >= 0, threshold.isFinite, threshold >= 0 else {
                throw .format(
                    "\(label): ReLU parameters must be 0 or more (max \(maxValue), slope \(slope), threshold \(threshold))"
                )
            }
        case .elu(let alpha):
            guard alpha.isFinite else { throw .format("\(label): elu alpha \(alpha) is not finite") }
        default: break
        }
    }
}
