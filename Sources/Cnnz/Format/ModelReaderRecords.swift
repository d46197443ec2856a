/// The records inside a payload section that have a layout of their own: a TENS entry's
/// quantization parameters and a GRPH layer. Split from ModelReader.swift, which reads the
/// container and the sections; the same bounded `ByteReader` checks every count before use.
extension ModelReader {
    /// A TENS entry's quantization field and its parameters.
    static func decodeQuantization(_ r: inout ByteReader, field: String, shape: [Int], version: UInt32)
        throws(CnnzError) -> Quantization?
    {
        let schemeValue = try r.u32(field + " quantization")
        guard schemeValue == 0 || version >= 2 else {
            throw .format("TENS: \(field) has quantization scheme \(schemeValue), which needs format version 2")
        }
        switch ModelFormat.QuantizationScheme(rawValue: schemeValue) {
        case .unquantized: return nil
        case .perTensor:
            let scale = try r.f32(field + " scale")
            let zeroPoint = Int32(bitPattern: try r.u32(field + " zero point"))
            return Quantization(scale: scale, zeroPoint: zeroPoint)
        case .perAxis:
            let axis = try r.int(field + " quantization axis", in: 0...(shape.count - 1))
            let count = shape[axis]
            // The counts come from the shape; the bytes must be there before anything is allocated.
            guard count <= r.remaining / 8 else {
                throw .format("TENS: \(field) needs \(count) scales and zero points, the section ends first")
            }
            let scales = try r.floats(field + " scales", count: count)
            var zeroPoints: [Int32] = []
            zeroPoints.reserveCapacity(count)
            for i in 0..<count { zeroPoints.append(Int32(bitPattern: try r.u32(field + " zero point \(i)"))) }
            return Quantization(scales: scales, zeroPoints: zeroPoints, axis: axis)
        case nil:
            throw .unsupported(
                "TENS: \(field) has quantization scheme \(schemeValue), which this cnnz does not support")
        }
    }

    /// A GRPH layer: its kind, name, activation, inputs and weights' tensor indices (the graph
    /// is checked as a whole afterwards).
    static func decodeLayer(_ r: inout ByteReader, index: Int) throws(CnnzError) -> Layer {
        let field = "layer \(index)"
        let codeValue = try r.u32(field + " kind")
        guard let code = ModelFormat.LayerCode(rawValue: codeValue) else {
            throw .unsupported("GRPH: \(field) has layer kind \(codeValue), which this cnnz does not know")
        }
        let name = try r.string(field + " name")
        let activationValue = try r.u32(field + " activation")
        let a0 = try r.f32(field + " activation parameter 0")
        let a1 = try r.f32(field + " activation parameter 1")
        let a2 = try r.f32(field + " activation parameter 2")
        let activation: Activation
        switch ModelFormat.ActivationCode(rawValue: activationValue) {
        case .linear: activation = .linear
        case .relu: activation = .relu(maxValue: a0, negativeSlope: a1, threshold: a2)
        case .elu: activation = .elu(alpha: a0)
        case .selu: activation = .selu
        case .sigmoid: activation = .sigmoid
        case .hardSigmoid: activation = .hardSigmoid
        case .tanh: activation = .tanh
        case .swish: activation = .swish
        case .hardSwish: activation = .hardSwish
        case .gelu: activation = .gelu
        case .softmax: activation = .softmax
        case nil: throw .unsupported("GRPH: \(field) has activation \(activationValue), which this cnnz does not know")
        }
        let inputCount = try r.count(field + " input count", limit: Limits.maxLayerInputs, minimumElementBytes: 4)
        var inputs: [Int] = []
        for i in 0..<inputCount { inputs.append(try r.int(field + " input \(i)", in: 0...index)) }
        let weightCount = try r.count(field + " weight count", limit: 4, minimumElementBytes: 4)
        var weights: [Int] = []
        for i in 0..<weightCount { weights.append(Int(try r.u32(field + " weight \(i)"))) }
        let paramCount = try r.count(field + " parameter count", limit: 16, minimumElementBytes: 4)
        var p: [Int] = []
        for i in 0..<paramCount { p.append(Int(try r.u32(field + " parameter \(i)"))) }

        func need(_ n: Int) throws(CnnzError) {
            guard p.count == n else { throw .format("GRPH: \(field) (\(code)) has \(p.count) parameters, needs \(n)") }
        }
        func flag(_ v: Int) throws(CnnzError) -> Bool {
            guard v == 0 || v == 1 else { throw .format("GRPH: \(field) (\(code)) has flag value \(v), needs 0 or 1") }
            return v == 1
        }
        func padding(_ v: Int) throws(CnnzError) -> Padding {
            guard let padding = Padding(rawValue: UInt32(v)) else {
                throw .format("GRPH: \(field) has padding code \(v)")
            }
            return padding
        }
        let kind: LayerKind
        switch code {
        case .conv2D:
            try need(10)
            kind = .conv2D(
                window: Window(
                    kernelHeight: p[0], kernelWidth: p[1], strideHeight: p[2], strideWidth: p[3], dilationHeight: p[4],
                    dilationWidth: p[5], padding: try padding(p[6])), filters: p[7], groups: p[8],
                hasBias: try flag(p[9]))
        case .depthwiseConv2D:
            try need(9)
            kind = .depthwiseConv2D(
                window: Window(
                    kernelHeight: p[0], kernelWidth: p[1], strideHeight: p[2], strideWidth: p[3], dilationHeight: p[4],
                    dilationWidth: p[5], padding: try padding(p[6])), multiplier: p[7], hasBias: try flag(p[8]))
        case .dense:
            try need(2)
            kind = .dense(units: p[0], hasBias: try flag(p[1]))
        case .maxPool2D, .averagePool2D:
            try need(5)
            let window = Window(
                kernelHeight: p[0], kernelWidth: p[1], strideHeight: p[2], strideWidth: p[3], padding: try padding(p[4])
            )
            kind = code == .maxPool2D ? .maxPool2D(window: window) : .averagePool2D(window: window)
        case .globalAveragePool2D:
            try need(1)
            kind = .globalAveragePool2D(keepDims: try flag(p[0]))
        case .globalMaxPool2D:
            try need(1)
            kind = .globalMaxPool2D(keepDims: try flag(p[0]))
        case .zeroPadding2D:
            try need(4)
            kind = .zeroPadding2D(top: p[0], bottom: p[1], left: p[2], right: p[3])
        case .flatten:
            try need(0)
            kind = .flatten
        case .channelAffine:
            try need(0)
            kind = .channelAffine
        case .activation:
            try need(0)
            kind = .activation
        case .add:
            try need(0)
            kind = .add
        case .concatenate:
            try need(0)
            kind = .concatenate
        }
        return Layer(kind: kind, activation: activation, inputs: inputs, weights: weights, name: name)
    }
}
