/// Serializes a `ModelDescription` to `.cnnz` bytes (docs/FORMAT.md).
public enum ModelWriter {
    /// The `.cnnz` bytes of `model`: deterministic, so equal models give equal files.
    public static func encode(_ model: ModelDescription) throws(CnnzError) -> [UInt8] {
        // Float32 models stay version 1, readable by every cnnz; quantized ones need version 2.
        let version = model.precision == .float32 ? ModelFormat.float32Version : ModelFormat.version
        var payload = ByteWriter()
        func section(_ tag: ModelFormat.SectionTag, _ body: (inout ByteWriter, Int) -> Void) {
            payload.align(ModelFormat.alignment)
            payload.u32(tag.rawValue)
            payload.u32(0)
            let lengthAt = payload.bytes.count
            payload.u64(0)
            let start = payload.bytes.count
            body(&payload, start)
            let length = UInt64(payload.bytes.count - start)
            withUnsafeBytes(of: length.littleEndian) {
                payload.bytes.replaceSubrange(lengthAt..<(lengthAt + 8), with: $0)
            }
        }

        section(.metadata) { w, _ in
            w.string(model.name)
            w.int(model.graph.inputShape.height)
            w.int(model.graph.inputShape.width)
            w.int(model.graph.inputShape.channels)
            w.f32(model.preprocessing.scale)
            w.int(model.preprocessing.mean.count)
            w.floats(model.preprocessing.mean)
            w.int(model.preprocessing.std.count)
            w.floats(model.preprocessing.std)
            w.int(model.labels.count)
            for label in model.labels { w.string(label) }
        }
        section(.graph) { w, _ in
            w.int(model.graph.layers.count)
            for layer in model.graph.layers { encode(layer, into: &w) }
        }
        section(.tensors) { w, start in
            w.int(model.tensors.count)
            // The table first, with offsets patched once the data is placed.
            var offsetFields: [Int] = []
            for tensor in model.tensors {
                let dataType: ModelFormat.DataType
                switch tensor.elementType {
                case .float32: dataType = .float32
                case .int8: dataType = .int8
                case .int32: dataType = .int32
                }
                w.u32(dataType.rawValue)
                w.int(tensor.shape.count)
                for d in tensor.shape { w.int(d) }
                offsetFields.append(w.bytes.count)
                w.u64(0)
                w.u64(UInt64(tensor.byteCount))
                encode(tensor.quantization, into: &w)
            }
            for (tensor, field) in zip(model.tensors, offsetFields) {
                w.align(ModelFormat.alignment)
                let offset = UInt64(w.bytes.count)
                withUnsafeBytes(of: offset.littleEndian) { w.bytes.replaceSubrange(field..<(field + 8), with: $0) }
                switch tensor.storage {
                case .float32(let values): w.floats(values)
                case .int8(let values): w.bytes.append(contentsOf: values.map { UInt8(bitPattern: $0) })
                case .int32(let values): for v in values { w.u32(UInt32(bitPattern: v)) }
                }
            }
        }
        if let test = model.selfTest {
            section(.selfTest) { w, _ in
                w.int(test.input.count)
                w.floats(test.input)
                w.int(test.output.count)
                w.floats(test.output)
                w.f32(test.tolerance)
            }
        }

        if !model.activationQuantization.isEmpty {
            section(.quantization) { w, _ in
                w.int(model.activationQuantization.count)
                for value in model.activationQuantization {
                    w.u32(value == nil ? 0 : 1)
                    w.f32(value?.scale ?? 0)
                    w.u32(UInt32(bitPattern: value?.zeroPoint ?? 0))
                    w.f32(value?.preActivationScale ?? 0)
                    w.u32(UInt32(bitPattern: value?.preActivationZeroPoint ?? 0))
                }
            }
        }

        return try file(payload: payload.bytes, version: version)
    }

    /// A TENS entry's quantization field: the scheme, then its parameters.
    private static func encode(_ quantization: Quantization?, into w: inout ByteWriter) {
        guard let quantization else {
            w.u32(ModelFormat.QuantizationScheme.unquantized.rawValue)
            return
        }
        if let axis = quantization.axis {
            w.u32(ModelFormat.QuantizationScheme.perAxis.rawValue)
            w.int(axis)
            w.floats(quantization.scales)
            for z in quantization.zeroPoints { w.u32(UInt32(bitPattern: z)) }
        } else {
            w.u32(ModelFormat.QuantizationScheme.perTensor.rawValue)
            w.f32(quantization.scales[0])
            w.u32(UInt32(bitPattern: quantization.zeroPoints[0]))
        }
    }

    /// A complete file around a payload: the header with its sizes and
    /// checksums, then the compressed payload. (Tests and the fuzzer re-wrap
    /// crafted payloads with it, so that they reach the parser.)
    /// The inflated payload of a file this writer wrote (the inverse of
    /// `file(payload:)`; tests and the fuzzer take payloads out with it to craft them).
    /// Trusts the header's sizes: not for files from elsewhere.
    static func payload(ofFile file: [UInt8]) throws(CnnzError) -> [UInt8] {
        guard let header = ModelReader.headerInfo(file), header.payloadBytes >= 0 else {
            throw .format("not a cnnz file")
        }
        var out = [UInt8](repeating: 0, count: header.payloadBytes)
        let result: Result<Void, CnnzError> = file.withUnsafeBytes { f in
            out.withUnsafeMutableBytes { o in
                Result { () throws(CnnzError) in
                    try Compression.inflate(UnsafeRawBufferPointer(rebasing: f[ModelFormat.headerSize...]), into: o)
                }
            }
        }
        try result.get()
        return out
    }

    static func file(payload: [UInt8], version: UInt32 = ModelFormat.float32Version) throws(CnnzError) -> [UInt8] {
        let compressed = try Compression.compress(payload)
        var file = ByteWriter()
        file.bytes.append(contentsOf: ModelFormat.magic)
        file.u32(version)
        file.u32(0)
        file.u64(UInt64(payload.count))
        file.u64(UInt64(compressed.count))
        file.u32(payload.withUnsafeBytes { Compression.crc32($0) })
        file.u32(compressed.withUnsafeBytes { Compression.crc32($0) })
        file.u32(file.bytes.withUnsafeBytes { Compression.crc32($0) })
        file.u32(0)  // reserved
        file.bytes.append(contentsOf: compressed)
        return file.bytes
    }

    private static func encode(_ layer: Layer, into w: inout ByteWriter) {
        var params: [Int] = []
        func window(_ win: Window, dilation: Bool) {
            params += [win.kernelHeight, win.kernelWidth, win.strideHeight, win.strideWidth]
            if dilation { params += [win.dilationHeight, win.dilationWidth] }
            params.append(Int(win.padding.rawValue))
        }
        let code: ModelFormat.LayerCode
        switch layer.kind {
        case .conv2D(let win, let filters, let groups, let hasBias):
            code = .conv2D
            window(win, dilation: true)
            params += [filters, groups, hasBias ? 1 : 0]
        case .depthwiseConv2D(let win, let multiplier, let hasBias):
            code = .depthwiseConv2D
            window(win, dilation: true)
            params += [multiplier, hasBias ? 1 : 0]
        case .dense(let units, let hasBias):
            code = .dense
            params += [units, hasBias ? 1 : 0]
        case .maxPool2D(let win):
            code = .maxPool2D
            window(win, dilation: false)
        case .averagePool2D(let win):
            code = .averagePool2D
            window(win, dilation: false)
        case .globalAveragePool2D(let keep):
            code = .globalAveragePool2D
            params = [keep ? 1 : 0]
        case .globalMaxPool2D(let keep):
            code = .globalMaxPool2D
            params = [keep ? 1 : 0]
        case .zeroPadding2D(let t, let b, let l, let r):
            code = .zeroPadding2D
            params = [t, b, l, r]
        case .flatten: code = .flatten
        case .channelAffine: code = .channelAffine
        case .activation: code = .activation
        case .add: code = .add
        case .concatenate: code = .concatenate
        }
        w.u32(code.rawValue)
        w.string(layer.name)
        let (activationCode, p): (ModelFormat.ActivationCode, [Float]) =
            switch layer.activation {
            case .linear: (.linear, [0, 0, 0])
            case .relu(let m, let s, let t): (.relu, [m, s, t])
            case .elu(let a): (.elu, [a, 0, 0])
            case .selu: (.selu, [0, 0, 0])
            case .sigmoid: (.sigmoid, [0, 0, 0])
            case .hardSigmoid: (.hardSigmoid, [0, 0, 0])
            case .tanh: (.tanh, [0, 0, 0])
            case .swish: (.swish, [0, 0, 0])
            case .hardSwish: (.hardSwish, [0, 0, 0])
            case .gelu: (.gelu, [0, 0, 0])
            case .softmax: (.softmax, [0, 0, 0])
            }
        w.u32(activationCode.rawValue)
        w.floats(p)
        w.int(layer.inputs.count)
        for i in layer.inputs { w.int(i) }
        w.int(layer.weights.count)
        for t in layer.weights { w.int(t) }
        w.int(params.count)
        for v in params { w.int(v) }
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same
    /// directory, renamed over the target, so that no half-written file remains.
    public static func write(_ bytes: [UInt8], to path: String) throws(CnnzError) {
        try FileIO.writeAtomically(bytes, to: path)
    }
}
