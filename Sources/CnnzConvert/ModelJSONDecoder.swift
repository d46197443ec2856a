import Cnnz
import Foundation

/// Reads the model.json format, version 1 (shared spec; docs/model-json.md).
struct ModelJSONDecoder {
    let root: JSONValue
    var tensors: [Tensor] = []
    var layers: [Layer] = []
    /// The label of each engine layer: "layer J (ClassName)" of the JSON layer it came from.
    var labels: [String] = []
    /// Layers that name an explicit axis, checked against the input's rank once shapes are known.
    var axisChecks: [(layer: Int, axis: Int, config: LayerConfig)] = []

    init(_ root: JSONValue) { self.root = root }

    mutating func decode() throws(CnnzError) -> ModelDescription {
        guard case .object = root else { throw .format("model.json: the top level is \(root.typeName), not an object") }
        guard case .string(let format)? = root["format"] else {
            throw .format("model.json: \"format\" is missing or not a string")
        }
        guard format == "cnnz-json" else {
            throw .format("model.json: \"format\" is \"\(format)\", expected \"cnnz-json\"")
        }
        guard case .number(let version)? = root["version"], version == version.rounded() else {
            throw .format("model.json: \"version\" is missing or not an integer")
        }
        if version > 1 {
            // Int(version) would trap on 1e40: print a version outside Int's range as it came.
            let shown = Int(exactly: version).map(String.init) ?? String(version)
            throw .unsupported("model.json: version \(shown) is newer than this tool reads (1); upgrade cnnz")
        }
        guard version == 1 else { throw .format("model.json: version \(version) is invalid; expected 1") }
        var name = ""
        if let value = root["name"] {
            guard case .string(let s) = value else {
                throw .format("model.json: \"name\" is \(value.typeName), not a string")
            }
            name = s
        }
        guard let shapeValue = root["input"]?["shape"] else { throw .format("model.json: \"input.shape\" is missing") }
        let shape = try intList(shapeValue, "input.shape")
        guard shape.count == 3, shape.allSatisfy({ $0 >= 1 && $0 <= Limits.maxDimension }) else {
            throw .format(
                "model.json: \"input.shape\" must be [height, width, channels], each 1...\(Limits.maxDimension)")
        }
        let inputShape = TensorShape(height: shape[0], width: shape[1], channels: shape[2])
        var preprocessing = Preprocessing.identity
        if let p = root["preprocess"] {
            guard case .object = p else { throw .format("model.json: \"preprocess\" is \(p.typeName), not an object") }
            if let s = p["scale"] { preprocessing.scale = try float(s, "preprocess.scale") }
            if let m = p["mean"] { preprocessing.mean = try floatList(m, "preprocess.mean") }
            if let s = p["std"] { preprocessing.std = try floatList(s, "preprocess.std") }
            try preprocessing.validate(channels: inputShape.channels)
        }
        var labelList: [String] = []
        if let l = root["labels"] {
            guard case .array(let items) = l else {
                throw .format("model.json: \"labels\" is \(l.typeName), not an array")
            }
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else {
                    throw .format("model.json: labels[\(i)] is \(item.typeName), not a string")
                }
                labelList.append(s)
            }
        }
        guard case .array(let jsonLayers)? = root["layers"] else {
            throw .format("model.json: \"layers\" is missing or not an array")
        }
        guard !jsonLayers.isEmpty else {
            throw .format("model.json: \"layers\" is empty; at least one layer is needed")
        }

        try decodeLayers(jsonLayers)
        guard !layers.isEmpty else { throw .format("model.json: no layer computes anything (only identity layers)") }
        let graph = Graph(inputShape: inputShape, layers: layers)
        let labelsCopy = labels
        let shapes = try ShapeInference.infer(graph, tensors: tensors, layerLabel: { labelsCopy[$0] })
        for check in axisChecks where check.axis != -1 && check.axis != shapes[layers[check.layer].inputs[0]].rank {
            throw check.config.axisError(check.axis)
        }
        let outputSize = shapes.last!.elementCount
        guard labelList.isEmpty || labelList.count == outputSize else {
            throw .format("model.json: \"labels\" has \(labelList.count) entries, the model has \(outputSize) outputs")
        }
        var selfTest: SelfTestVector?
        if let s = root["selftest"] {
            guard case .object = s else { throw .format("selftest: is \(s.typeName), not an object") }
            guard let inputValue = s["input"], let outputValue = s["output"] else {
                throw .format("selftest: needs \"input\" and \"output\"")
            }
            let input = try tensor(inputValue, "selftest.input")
            guard input.shape == shape || input.shape == [inputShape.elementCount] else {
                throw .format("selftest: input has shape \(input.shape), the model input is \(shape)")
            }
            let output = try tensor(outputValue, "selftest.output")
            guard output.values.count == outputSize else {
                throw .format("selftest: output has \(output.values.count) values, the model has \(outputSize) outputs")
            }
            var tolerance: Float = 1e-4
            if let t = s["tolerance"] {
                tolerance = try float(t, "selftest.tolerance")
                guard tolerance >= 0 else { throw .format("selftest: tolerance \(tolerance) is negative") }
            }
            selfTest = SelfTestVector(input: input.values, output: output.values, tolerance: tolerance)
        }
        let description = ModelDescription(
            name: name, labels: labelList, preprocessing: preprocessing, graph: graph, tensors: tensors,
            selfTest: selfTest)
        // The engine's one check of a model, as every other path in runs it.
        try description.validate(layerLabel: { labelsCopy[$0] })
        return description
    }

    // MARK: Layers

    private mutating func decodeLayers(_ jsonLayers: [JSONValue]) throws(CnnzError) {
        var names: [String: Int] = ["input": 0]
        var previous = 0
        for (j, item) in jsonLayers.enumerated() {
            guard case .object = item else { throw .format("layer \(j): is \(item.typeName), not an object") }
            guard case .string(let className)? = item["class_name"] else {
                throw .format("layer \(j): \"class_name\" is missing or not a string")
            }
            let label = "layer \(j) (\(className))"
            var config: [String: JSONValue] = [:]
            if let c = item["config"] {
                guard case .object(let o) = c else {
                    throw .format("\(label): \"config\" is \(c.typeName), not an object")
                }
                config = o
            }
            var layerName: String?
            if let n = item["name"] {
                guard case .string(let s) = n else {
                    throw .format("\(label): \"name\" is \(n.typeName), not a string")
                }
                layerName = s
            }
            var inputs = [previous]
            if let i = item["inputs"] {
                guard case .array(let list) = i, !list.isEmpty else {
                    throw .format("\(label): \"inputs\" must be a non-empty array of layer names")
                }
                inputs = []
                for entry in list {
                    guard case .string(let ref) = entry else {
                        throw .format("\(label): \"inputs\" holds \(entry.typeName), not a name")
                    }
                    if ref == layerName { throw .format("\(label): names itself (\"\(ref)\") as an input") }
                    guard let value = names[ref] else {
                        throw .format("\(label): input \"\(ref)\" names no earlier layer")
                    }
                    inputs.append(value)
                }
            }
            var weights: [JSONValue]?
            if let w = item["weights"] {
                guard case .array(let list) = w else {
                    throw .format("\(label): \"weights\" is \(w.typeName), not an array")
                }
                weights = list
            }
            let reader = LayerConfig(label: label, config: config)
            if className == "InputLayer" {
                if let n = layerName {
                    if n != "input" {
                        guard names[n] == nil else { throw .format("\(label): a second layer is named \"\(n)\"") }
                        names[n] = 0
                    }
                }
                previous = 0
                continue
            }
            let output = try decodeLayer(
                className, reader: reader, weights: weights, inputs: inputs, name: layerName ?? "")
            if let n = layerName {
                guard names[n] == nil else { throw .format("\(label): a second layer is named \"\(n)\"") }
                names[n] = output
            }
            previous = output
        }
    }

    /// Appends the engine layer for one JSON layer; returns the value it produces.
    private mutating func decodeLayer(
        _ className: String, reader c: LayerConfig, weights: [JSONValue]?, inputs: [Int], name: String
    ) throws(CnnzError) -> Int {
        let label = c.label
        func single() throws(CnnzError) -> Int {
            guard inputs.count == 1 else {
                throw .format("\(label): takes one input, \"inputs\" names \(inputs.count)")
            }
            return inputs[0]
        }
        func noWeights() throws(CnnzError) {
            if let w = weights, !w.isEmpty { throw .format("\(label): takes no weights, has \(w.count)") }
        }
        func needWeights(_ count: Int) throws(CnnzError) -> [Tensor] {
            guard let w = weights else { throw .format("\(label): weights are missing") }
            guard w.count == count else { throw .format("\(label): needs \(count) weight tensors, has \(w.count)") }
            var result: [Tensor] = []
            for (i, value) in w.enumerated() { result.append(try tensor(value, "\(label): weight \(i)")) }
            return result
        }
        func add(_ kind: LayerKind, _ activation: Activation, _ w: [Tensor] = [], inputs: [Int]) -> Int {
            var indices: [Int] = []
            for t in w {
                indices.append(tensors.count)
                tensors.append(t)
            }
            layers.append(Layer(kind: kind, activation: activation, inputs: inputs, weights: indices, name: name))
            labels.append(label)
            return layers.count
        }
        try c.rejectChannelsFirst()

        switch className {
        case "Conv2D":
            let x = try single()
            let window = try c.window(kernelKey: "kernel_size", defaultKernel: nil, stridesDefault: nil, dilation: true)
            let filters = try c.int("filters", default: nil, min: 1)
            let groups = try c.int("groups", default: 1, min: 1)
            let useBias = try c.bool("use_bias", default: true)
            let activation = try c.activation()
            let w = try needWeights(useBias ? 2 : 1)
            return add(
                .conv2D(window: window, filters: filters, groups: groups, hasBias: useBias), activation, w, inputs: [x])
        case "DepthwiseConv2D":
            let x = try single()
            let window = try c.window(kernelKey: "kernel_size", defaultKernel: nil, stridesDefault: nil, dilation: true)
            let multiplier = try c.int("depth_multiplier", default: 1, min: 1)
            let useBias = try c.bool("use_bias", default: true)
            let activation = try c.activation()
            let w = try needWeights(useBias ? 2 : 1)
            return add(
                .depthwiseConv2D(window: window, multiplier: multiplier, hasBias: useBias), activation, w, inputs: [x])
        case "Dense":
            let x = try single()
            let units = try c.int("units", default: nil, min: 1)
            let useBias = try c.bool("use_bias", default: true)
            let activation = try c.activation()
            let w = try needWeights(useBias ? 2 : 1)
            return add(.dense(units: units, hasBias: useBias), activation, w, inputs: [x])
        case "MaxPooling2D", "AveragePooling2D":
            let x = try single()
            try noWeights()
            let pool = try c.pair("pool_size", default: [2, 2])
            let window = try c.window(
                kernelKey: "pool_size", defaultKernel: pool, stridesDefault: pool, dilation: false)
            let kind: LayerKind =
                className == "MaxPooling2D" ? .maxPool2D(window: window) : .averagePool2D(window: window)
            return add(kind, .linear, inputs: [x])
        case "GlobalAveragePooling2D", "GlobalMaxPooling2D":
            let x = try single()
            try noWeights()
            let keep = try c.bool("keepdims", default: false)
            let kind: LayerKind =
                className == "GlobalAveragePooling2D"
                ? .globalAveragePool2D(keepDims: keep) : .globalMaxPool2D(keepDims: keep)
            return add(kind, .linear, inputs: [x])
        case "Flatten":
            let x = try single()
            try noWeights()
            return add(.flatten, .linear, inputs: [x])
        case "Dropout", "SpatialDropout2D", "GaussianNoise":
            try noWeights()
            return try single()
        case "Activation":
            let x = try single()
            try noWeights()
            guard c.config["activation"] != nil else { throw .format("\(label): \"activation\" is missing") }
            return add(.activation, try c.activation(), inputs: [x])
        case "ReLU":
            let x = try single()
            try noWeights()
            let maxValue = try c.optionalFloat("max_value") ?? .infinity
            let slope = try c.optionalFloat("negative_slope") ?? 0
            let threshold = try c.optionalFloat("threshold") ?? 0
            guard maxValue >= 0, slope >= 0, threshold >= 0 else {
                throw .format("\(label): max_value, negative_slope and threshold must each be 0 or more")
            }
            return add(.activation, .relu(maxValue: maxValue, negativeSlope: slope, threshold: threshold), inputs: [x])
        case "LeakyReLU":
            let x = try single()
            try noWeights()
            let keras3Slope = try c.optionalFloat("negative_slope")
            let keras2Slope = try c.optionalFloat("alpha")
            let slope = keras3Slope ?? keras2Slope ?? 0.3
            guard slope >= 0 else { throw .format("\(label): negative_slope \(slope) is negative") }
            return add(.activation, .relu(maxValue: .infinity, negativeSlope: slope, threshold: 0), inputs: [x])
        case "Softmax":
            let x = try single()
            try noWeights()
            let axis = try c.lastAxis()
            axisChecks.append((layers.count, axis, c))
            return add(.activation, .softmax, inputs: [x])
        case "BatchNormalization":
            let x = try single()
            axisChecks.append((layers.count, try c.lastAxis(), c))
            let epsilon = try c.optionalFloat("epsilon") ?? 0.001
            let center = try c.bool("center", default: true)
            let scale = try c.bool("scale", default: true)
            let w = try needWeights(2 + (center ? 1 : 0) + (scale ? 1 : 0))
            var next = 0
            let gamma = scale ? w[next] : nil
            if scale { next += 1 }
            let beta = center ? w[next] : nil
            if center { next += 1 }
            let mean = w[next]
            let variance = w[next + 1]
            let channels = mean.values.count
            for (what, t) in [("gamma", gamma), ("beta", beta), ("moving_mean", mean), ("moving_variance", variance)] {
                if let t, t.shape != [channels] {
                    throw .format("\(label): \(what) has shape \(t.shape), expected [\(channels)]")
                }
            }
            var factor = [Float](repeating: 0, count: channels)
            var shift = [Float](repeating: 0, count: channels)
            for ch in 0..<channels {
                let v = variance.values[ch] + epsilon
                guard v > 0 else {
                    throw .format("\(label): moving_variance + epsilon is \(v) for channel \(ch), not above 0")
                }
                factor[ch] = (gamma?.values[ch] ?? 1) / v.squareRoot()
                shift[ch] = (beta?.values[ch] ?? 0) - mean.values[ch] * factor[ch]
                guard factor[ch].isFinite, shift[ch].isFinite else {
                    throw .format("\(label): folding gives a non-finite value for channel \(ch)")
                }
            }
            return add(
                .channelAffine, .linear,
                [Tensor(shape: [channels], values: factor), Tensor(shape: [channels], values: shift)],
                inputs: [x])
        case "ZeroPadding2D":
            let x = try single()
            try noWeights()
            let (t, b, l, r) = try c.zeroPadding()
            return add(.zeroPadding2D(top: t, bottom: b, left: l, right: r), .linear, inputs: [x])
        case "Add":
            try noWeights()
            guard inputs.count >= 2 else { throw .format("\(label): needs two or more inputs, has \(inputs.count)") }
            return add(.add, .linear, inputs: inputs)
        case "Concatenate":
            try noWeights()
            axisChecks.append((layers.count, try c.lastAxis(), c))
            guard inputs.count >= 2 else { throw .format("\(label): needs two or more inputs, has \(inputs.count)") }
            return add(.concatenate, .linear, inputs: inputs)
        default:
            throw .format("\(label): unknown layer class \"\(className)\"")
        }
    }
}
