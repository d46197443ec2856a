import Cnnz

/// Typed access to one layer's Keras `config`, with Keras's defaults and
/// errors that name the layer and the key.
struct LayerConfig {
    let label: String
    let config: [String: JSONValue]

    private func fail(_ key: String, _ detail: String) -> CnnzError { .format("\(label): \"\(key)\" \(detail)") }

    func int(_ key: String, default fallback: Int?, min: Int) throws(CnnzError) -> Int {
        guard let value = config[key], value != .null else {
            guard let fallback else { throw fail(key, "is missing") }
            return fallback
        }
        guard case .number(let d) = value, d == d.rounded(), d >= Double(min), d <= Double(Limits.maxDimension) else {
            throw fail(key, "must be an integer in \(min)...\(Limits.maxDimension)")
        }
        return Int(d)
    }

    func bool(_ key: String, default fallback: Bool) throws(CnnzError) -> Bool {
        guard let value = config[key], value != .null else { return fallback }
        guard case .bool(let b) = value else { throw fail(key, "is \(value.typeName), not a boolean") }
        return b
    }

    func optionalFloat(_ key: String) throws(CnnzError) -> Float? {
        guard let value = config[key], value != .null else { return nil }
        guard case .number(let d) = value, Float(d).isFinite else { throw fail(key, "must be a finite number") }
        return Float(d)
    }

    /// An integer or a two-element list `[h, w]`, each at least 1.
    func pair(_ key: String, default fallback: [Int]?) throws(CnnzError) -> [Int] {
        guard let value = config[key], value != .null else {
            guard let fallback else { throw fail(key, "is missing") }
            return fallback
        }
        switch value {
        case .number(let d):
            guard d == d.rounded(), d >= 1, d <= Double(Limits.maxDimension) else {
                throw fail(key, "must be an integer in 1...\(Limits.maxDimension)")
            }
            return [Int(d), Int(d)]
        case .array(let items):
            guard items.count == 2 else { throw fail(key, "must have two elements, has \(items.count)") }
            var result: [Int] = []
            for item in items {
                guard case .number(let d) = item, d == d.rounded(), d >= 1, d <= Double(Limits.maxDimension) else {
                    throw fail(key, "must hold integers in 1...\(Limits.maxDimension)")
                }
                result.append(Int(d))
            }
            return result
        default:
            throw fail(key, "is \(value.typeName), not an integer or a list")
        }
    }

    func padding() throws(CnnzError) -> Padding {
        guard let value = config["padding"], value != .null else { return .valid }
        switch value {
        case .string("valid"): return .valid
        case .string("same"): return .same
        default: throw fail("padding", "must be \"valid\" or \"same\"")
        }
    }

    func window(kernelKey: String, defaultKernel: [Int]?, stridesDefault: [Int]?, dilation: Bool) throws(CnnzError)
        -> Window
    {
        let kernel = try pair(kernelKey, default: defaultKernel)
        let strides = try pair("strides", default: stridesDefault ?? [1, 1])
        let dilationRate = dilation ? try pair("dilation_rate", default: [1, 1]) : [1, 1]
        if dilationRate != [1, 1] && strides != [1, 1] {
            // Keras refuses this combination too; TensorFlow's same-padding rule is undefined for it.
            throw .format("\(label): strides above 1 together with dilation_rate above 1 are not supported")
        }
        return Window(
            kernelHeight: kernel[0], kernelWidth: kernel[1], strideHeight: strides[0], strideWidth: strides[1],
            dilationHeight: dilationRate[0], dilationWidth: dilationRate[1], padding: try padding())
    }

    func rejectChannelsFirst() throws(CnnzError) {
        if let value = config["data_format"], value != .null, value != .string("channels_last") {
            throw fail("data_format", "is not \"channels_last\" (only channels-last is supported)")
        }
    }

    /// The `axis` (default -1) of a layer that works on the last axis only:
    /// -1, or the input's rank counting the batch axis (3 for `[H, W, C]`,
    /// 1 for `[N]`), which the decoder checks once shapes are known.
    func lastAxis() throws(CnnzError) -> Int {
        guard let value = config["axis"], value != .null else { return -1 }
        var axis: Double
        switch value {
        case .number(let d): axis = d
        case .array(let items) where items.count == 1:
            guard case .number(let d) = items[0] else { throw fail("axis", "must be an integer") }
            axis = d
        default: throw fail("axis", "must be an integer")
        }
        guard axis == -1 || axis == 3 || axis == 1 else {
            // Int(axis) would trap on 1e39 or NaN: print the number as it came.
            let shown = Int(exactly: axis).map(String.init) ?? String(axis)
            throw fail("axis", "is \(shown); only the last axis (-1) is supported")
        }
        return Int(axis)
    }

    func axisError(_ axis: Int) -> CnnzError {
        fail("axis", "is \(axis); only the last axis (-1) is supported")
    }

    func activation() throws(CnnzError) -> Activation {
        guard let value = config["activation"], value != .null else { return .linear }
        guard case .string(let name) = value else { throw fail("activation", "is \(value.typeName), not a string") }
        switch name {
        case "linear": return .linear
        case "relu": return .plainReLU
        case "relu6": return .relu(maxValue: 6, negativeSlope: 0, threshold: 0)
        case "leaky_relu": return .relu(maxValue: .infinity, negativeSlope: 0.2, threshold: 0)
        case "elu": return .elu(alpha: 1)
        case "selu": return .selu
        case "sigmoid": return .sigmoid
        case "hard_sigmoid": return .hardSigmoid
        case "tanh": return .tanh
        case "swish", "silu": return .swish
        case "hard_swish", "hard_silu": return .hardSwish
        case "gelu": return .gelu
        case "softmax": return .softmax
        default: throw .format("\(label): unknown activation \"\(name)\"")
        }
    }

    func zeroPadding() throws(CnnzError) -> (Int, Int, Int, Int) {
        guard let value = config["padding"], value != .null else { return (1, 1, 1, 1) }
        func integer(_ v: JSONValue) throws(CnnzError) -> Int {
            guard case .number(let d) = v, d == d.rounded(), d >= 0, d <= Double(Limits.maxDimension) else {
                throw fail("padding", "must hold integers in 0...\(Limits.maxDimension)")
            }
            return Int(d)
        }
        switch value {
        case .number:
            let p = try integer(value)
            return (p, p, p, p)
        case .array(let items) where items.count == 2:
            if case .array(let rows) = items[0], case .array(let columns) = items[1], rows.count == 2,
                columns.count == 2
            {
                return (try integer(rows[0]), try integer(rows[1]), try integer(columns[0]), try integer(columns[1]))
            }
            let h = try integer(items[0])
            let w = try integer(items[1])
            return (h, h, w, w)
        default:
            throw fail("padding", "must be an integer, [ph, pw] or [[top, bottom], [left, right]]")
        }
    }
}
