/// Decodes `.cnnz` bytes from any source, trusted or not (docs/SECURITY.md).
/// Every count, shape, offset and index is checked before it is used; the
/// graph is then checked as a whole by `ShapeInference`.
public enum ModelReader {
    /// Decodes and validates `.cnnz` bytes (any alignment; nothing is kept),
    /// refusing a file whose payload or weights exceed `options.maxMemory`.
    public static func decode(_ bytes: UnsafeRawBufferPointer, options: LoadOptions = .default) throws(CnnzError)
        -> ModelDescription
    {
        let description = try decodeUnvalidated(bytes, options: options)
        try description.validate(options: options)
        return description
    }

    /// Decodes `.cnnz` bytes, checking every field and byte range but not the
    /// model as a whole: `Model.init` validates what this returns. With `mutable` (the same
    /// bytes, the caller's to overwrite: a file read into a `LoadBuffer`), a payload of stored
    /// blocks is inflated in place (`Compression.inflateStoredInPlace`), over the file's bytes.
    static func decodeUnvalidated(
        _ bytes: UnsafeRawBufferPointer, options: LoadOptions, mutable: UnsafeMutableRawBufferPointer? = nil
    ) throws(CnnzError) -> ModelDescription {
        precondition(
            mutable.map { UnsafeRawPointer($0.baseAddress) == bytes.baseAddress && $0.count == bytes.count } ?? true,
            "mutable must be the same bytes")
        let options = try options.validated()
        var header = ByteReader(bytes, section: "header")
        guard bytes.count >= ModelFormat.headerSize else {
            if bytes.count >= 8, !zip(bytes.prefix(8), ModelFormat.magic).allSatisfy({ $0 == $1 }) {
                throw .format("not a cnnz model: the file does not start with the cnnz magic bytes")
            }
            throw .format(
                "header: the file is \(bytes.count) bytes, shorter than the \(ModelFormat.headerSize)-byte header")
        }
        guard zip(bytes.prefix(8), ModelFormat.magic).allSatisfy({ $0 == $1 }) else {
            throw .format("not a cnnz model: the file does not start with the cnnz magic bytes")
        }
        try header.skip(8, "magic")
        let version = try header.u32("version")
        let flags = try header.u32("flags")
        let payloadSize = try header.u64("payload size")
        let compressedSize = try header.u64("compressed size")
        let payloadCRC = try header.u32("payload crc32")
        let compressedCRC = try header.u32("compressed crc32")
        let headerCRC = try header.u32("header crc32")
        let reserved = try header.u32("reserved")
        let computedHeaderCRC = Compression.crc32(UnsafeRawBufferPointer(rebasing: bytes[0..<40]))
        guard headerCRC == computedHeaderCRC else {
            throw .format(
                "header: checksum mismatch (stored \(hex(headerCRC)), computed \(hex(computedHeaderCRC))): the file is corrupt"
            )
        }
        guard version >= 1 else { throw .format("header: format version \(version) is invalid") }
        guard version <= ModelFormat.version else {
            throw .unsupported(
                "header: the file has format version \(version), newer than this cnnz reads (up to \(ModelFormat.version)); upgrade cnnz"
            )
        }
        guard flags == 0, reserved == 0 else {
            throw .unsupported("header: unknown flags \(hex(flags)) or reserved field \(hex(reserved))")
        }
        let available = bytes.count - ModelFormat.headerSize
        guard compressedSize == UInt64(available) else {
            throw .format(
                "header: declares a \(compressedSize)-byte compressed payload, the file has \(available) bytes after the header"
            )
        }
        guard payloadSize <= UInt64(Limits.maxPayloadBytes) else {
            throw .memory(
                "header: declared payload size \(payloadSize) exceeds the cap of \(Limits.maxPayloadBytes) bytes")
        }
        guard payloadSize <= UInt64(available) * UInt64(ModelFormat.maxCompressionRatio) + 1024 else {
            throw .format(
                "header: declared payload size \(payloadSize) is impossible for \(available) compressed bytes")
        }
        // The inflated payload and the weights decoded from it are alive together: both count.
        var budget = MemoryBudget(limit: options.maxMemory)
        try budget.reserve(Int(payloadSize), for: "loading: the \(payloadSize)-byte payload")
        let compressed = UnsafeRawBufferPointer(rebasing: bytes[ModelFormat.headerSize...])
        let size = Int(payloadSize)
        // A stream of stored blocks (weights that do not compress): both checksums in one pass
        // over its bytes (`Compression.storedChecksums`), checked in the same order; the
        // payload's is of the bytes the blocks hold, which inflating (in place or by zlib) yields.
        let stored = Compression.storedChecksums(bytes, streamStart: ModelFormat.headerSize, payloadCount: size)
        let computedCompressedCRC = stored?.stream ?? Compression.crc32(compressed)
        guard compressedCRC == computedCompressedCRC else {
            throw .format(
                "payload: compressed-data checksum mismatch (stored \(hex(compressedCRC)), computed \(hex(computedCompressedCRC))): the file is corrupt"
            )
        }
        let body: UnsafeMutableRawBufferPointer
        let crc: UInt32
        var payload: LoadBuffer?
        defer { withExtendedLifetime(payload) {} }
        if let mutable, let stored,
            Compression.inflateStoredInPlace(mutable, streamStart: ModelFormat.headerSize, payloadCount: size)
        {
            // `bytes` now hold the payload from their start: nothing below reads the file's.
            body = UnsafeMutableRawBufferPointer(rebasing: mutable[0..<size])
            crc = stored.payload
        } else {
            // From 2 MB up in a mapping of its own, in 2 MB pages (PageArena says why).
            let buffer = try LoadBuffer(count: size)
            payload = buffer
            body = buffer.bytes
            try Compression.inflate(compressed, into: body)
            crc = stored?.payload ?? Compression.crc32(UnsafeRawBufferPointer(body))
        }
        guard crc == payloadCRC else {
            throw .format(
                "payload: checksum mismatch (stored \(hex(payloadCRC)), computed \(hex(crc))): the file is corrupt")
        }
        return try decodePayload(UnsafeRawBufferPointer(body), version: version, budget: &budget)
    }

    /// Decodes and validates `.cnnz` bytes.
    public static func decode(_ bytes: [UInt8], options: LoadOptions = .default) throws(CnnzError) -> ModelDescription {
        let result: Result<ModelDescription, CnnzError> = bytes.withUnsafeBytes { b in
            Result { () throws(CnnzError) -> ModelDescription in try decode(b, options: options) }
        }
        return try result.get()
    }

    /// Reads a whole file, refusing directories and files above the payload
    /// cap or the memory budget.
    public static func readFile(_ path: String, options: LoadOptions = .default) throws(CnnzError) -> [UInt8] {
        if options.maxMemory < Limits.maxPayloadBytes {
            return try FileIO.readFile(
                path, limit: max(options.maxMemory, 0),
                limitName: "the memory budget of \(MemoryBudget.describe(options.maxMemory))")
        }
        return try FileIO.readFile(path, limit: Limits.maxPayloadBytes)
    }

    /// Calls `body` with a whole file's bytes, as `readFile` reads them; a regular file of
    /// 2 MB or more goes into a mapping in 2 MB pages rather than an array (PageArena), and
    /// `body` gets the bytes a second time as `mutable`, its to overwrite (nil otherwise).
    static func withFile<R>(
        _ path: String, options: LoadOptions,
        _ body: (_ bytes: UnsafeRawBufferPointer, _ mutable: UnsafeMutableRawBufferPointer?) throws(CnnzError) -> R
    ) throws(CnnzError) -> R {
        let limit = options.maxMemory < Limits.maxPayloadBytes ? max(options.maxMemory, 0) : Limits.maxPayloadBytes
        if let (buffer, count) = try FileIO.readLarge(path, limit: limit) {
            defer { withExtendedLifetime(buffer) {} }
            let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[0..<count])
            return try body(UnsafeRawBufferPointer(bytes), bytes)
        }
        let bytes = try readFile(path, options: options)
        let result: Result<R, CnnzError> = bytes.withUnsafeBytes { b in
            Result { () throws(CnnzError) -> R in try body(b, nil) }
        }
        return try result.get()
    }

    private static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    /// Decodes the sections of a payload; `budget` already holds the payload.
    static func decodePayload(
        _ payload: UnsafeRawBufferPointer, version: UInt32 = ModelFormat.version, budget: inout MemoryBudget
    ) throws(CnnzError)
        -> ModelDescription
    {
        var reader = ByteReader(payload, section: "payload")
        var sections: [ModelFormat.SectionTag: ByteReader] = [:]
        while reader.remaining > 0 {
            let padding = (ModelFormat.alignment - reader.position % ModelFormat.alignment) % ModelFormat.alignment
            if padding > 0 {
                let count = min(padding, reader.remaining)
                for _ in 0..<count {
                    // Padding is zeros: anything else is corruption or a crafted file.
                    guard try reader.byte("section padding") == 0 else {
                        throw .format("payload: non-zero padding byte at payload offset \(reader.position - 1)")
                    }
                }
                if reader.remaining == 0 { break }
            }
            let tagValue = try reader.u32("section tag")
            _ = try reader.u32("section reserved")
            let length = try reader.u64("section length")
            guard length <= UInt64(reader.remaining) else {
                throw .format("payload: section \(hex(tagValue)) declares \(length) bytes, \(reader.remaining) left")
            }
            guard let tag = ModelFormat.SectionTag(rawValue: tagValue) else {
                // An unknown section: written by a later minor revision, skipped.
                try reader.skip(Int(length), "unknown section")
                continue
            }
            guard sections[tag] == nil else { throw .format("payload: section \(tag.name) appears twice") }
            sections[tag] = try reader.subreader(Int(length), section: tag.name)
        }
        guard var meta = sections[.metadata] else { throw .format("payload: the META section is missing") }
        guard var graphReader = sections[.graph] else { throw .format("payload: the GRPH section is missing") }
        guard var tensorReader = sections[.tensors] else { throw .format("payload: the TENS section is missing") }

        // META
        let name = try meta.string("name")
        let dims = Limits.maxDimension
        let inputShape = TensorShape(
            height: try meta.int("input height", in: 1...dims), width: try meta.int("input width", in: 1...dims),
            channels: try meta.int("input channels", in: 1...dims))
        let scale = try meta.f32("preprocess scale")
        let meanCount = try meta.count("preprocess mean count", limit: dims, minimumElementBytes: 4)
        let mean = try meta.floats("preprocess mean", count: meanCount)
        let stdCount = try meta.count("preprocess std count", limit: dims, minimumElementBytes: 4)
        let std = try meta.floats("preprocess std", count: stdCount)
        let preprocessing = Preprocessing(scale: scale, mean: mean, std: std)
        let labelCount = try meta.count("label count", limit: Limits.maxLabels, minimumElementBytes: 4)
        // A String and the C API's copy of each label: its bytes twice and about 48 bytes more.
        try budget.reserve(meta.remaining * 2 + labelCount * 48, for: "loading: \(labelCount) labels")
        var labels: [String] = []
        labels.reserveCapacity(labelCount)
        for i in 0..<labelCount { labels.append(try meta.string("label \(i)")) }
        try meta.expectEnd()

        // TENS: the table, then every tensor's data inside the section, after
        // the table, 64-byte aligned, no two ranges overlapping (so the decoded
        // weights never exceed the section's bytes).
        let tensorCount = try tensorReader.count("tensor count", limit: Limits.maxTensors, minimumElementBytes: 28)
        // The table, decoded, holds a shape array and two integers per tensor (at most 96 bytes).
        try budget.reserve(tensorCount * 96, for: "loading: the table of \(tensorCount) tensors")
        defer { budget.release(tensorCount * 96) }
        var entries: [(shape: [Int], offset: Int, bytes: Int, type: ElementType, quantization: Quantization?)] = []
        entries.reserveCapacity(tensorCount)
        for t in 0..<tensorCount {
            let field = "tensor \(t)"
            let dataTypeValue = try tensorReader.u32(field + " dtype")
            let elementType: ElementType
            switch ModelFormat.DataType(rawValue: dataTypeValue) {
            case .float32: elementType = .float32
            case .int8: elementType = .int8
            case .int32: elementType = .int32
            case nil:
                throw .unsupported("TENS: \(field) has data type \(dataTypeValue), which this cnnz does not support")
            }
            guard elementType == .float32 || version >= 2 else {
                throw .format(
                    "TENS: \(field) is \(elementType), which needs format version 2; the file says \(version)")
            }
            let rank = try tensorReader.int(field + " rank", in: 1...4)
            var shape: [Int] = []
            for d in 0..<rank {
                shape.append(try tensorReader.int(field + " dimension \(d)", in: 1...Limits.maxElements))
            }
            guard let elements = Limits.elementCount(of: shape) else {
                throw .memory("TENS: \(field) has more than \(Limits.maxElements) elements")
            }
            let offset = try tensorReader.u64(field + " offset")
            let byteLength = try tensorReader.u64(field + " byte length")
            let quantization = try decodeQuantization(&tensorReader, field: field, shape: shape, version: version)
            try budget.reserve((quantization?.scales.count ?? 0) * 12, for: "loading: \(field)'s quantization")
            guard (quantization == nil) == (elementType == .float32) else {
                throw .format(
                    "TENS: \(field) is \(elementType) \(quantization == nil ? "without" : "with") a quantization")
            }
            let bytes = elements * elementType.byteCount
            guard byteLength == UInt64(bytes) else {
                throw .format("TENS: \(field) has \(byteLength) data bytes, its shape needs \(bytes)")
            }
            entries.append((shape, Int(clamping: offset), bytes, elementType, quantization))
        }
        let dataStart = tensorReader.payloadOffset
        let dataEnd = tensorReader.payloadEnd
        for (t, entry) in entries.enumerated() {
            guard entry.offset % ModelFormat.alignment == 0, entry.offset >= dataStart, entry.offset <= dataEnd,
                entry.bytes <= dataEnd - entry.offset
            else {
                throw .format(
                    "TENS: tensor \(t) data at payload offset \(entry.offset) (\(entry.bytes) bytes) is misaligned or outside the section's data (payload offsets \(dataStart)..<\(dataEnd))"
                )
            }
        }
        let byOffset = entries.indices.sorted { entries[$0].offset < entries[$1].offset }
        for (previous, next) in zip(byOffset, byOffset.dropFirst())
        where entries[previous].offset + entries[previous].bytes > entries[next].offset {
            throw .format("TENS: the data of tensors \(previous) and \(next) overlap")
        }
        var tensors: [Tensor] = []
        tensors.reserveCapacity(tensorCount)
        for (t, entry) in entries.enumerated() {
            try budget.reserve(entry.bytes, for: "loading: tensor \(t)")
            let bytes = UnsafeRawBufferPointer(rebasing: payload[entry.offset..<(entry.offset + entry.bytes)])
            // Probed first: a Swift array that cannot be allocated aborts the process.
            try AlignedBuffer.probe(bytes.count)
            let count = entry.bytes / entry.type.byteCount
            switch entry.type {
            case .float32:
                let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    #if _endian(little)
                        // The file's byte order: one copy.
                        if count > 0 {
                            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(
                                from: bytes.baseAddress!, byteCount: count * 4)
                        }
                    #else
                        for i in 0..<count {
                            buffer[i] = Float(
                                bitPattern: UInt32(
                                    littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                        }
                    #endif
                    initialized = count
                }
                tensors.append(Tensor(shape: entry.shape, values: values))
            case .int8:
                let values = [Int8](unsafeUninitializedCapacity: count) { buffer, initialized in
                    for i in 0..<count { buffer[i] = Int8(bitPattern: bytes[i]) }
                    initialized = count
                }
                tensors.append(Tensor(shape: entry.shape, int8: values, quantization: entry.quantization!))
            case .int32:
                let values = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
                    for i in 0..<count {
                        buffer[i] = Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                    }
                    initialized = count
                }
                tensors.append(Tensor(shape: entry.shape, int32: values, quantization: entry.quantization!))
            }
        }

        // GRPH
        let layerCount = try graphReader.count("layer count", limit: Limits.maxLayers, minimumElementBytes: 36)
        // A decoded layer holds about 256 bytes beside its inputs, weights and name (in Int-sized elements).
        try budget.reserve(layerCount * 256 + graphReader.remaining * 2, for: "loading: \(layerCount) layers")
        var layers: [Layer] = []
        layers.reserveCapacity(layerCount)
        for i in 0..<layerCount { layers.append(try decodeLayer(&graphReader, index: i)) }
        try graphReader.expectEnd()

        // TEST (its sizes and values are checked by `ModelDescription.validate`)
        var selfTest: SelfTestVector?
        if var test = sections[.selfTest] {
            let inputCount = try test.count("input count", limit: Limits.maxElements, minimumElementBytes: 4)
            try budget.reserve(inputCount * 4, for: "loading: the self-test input")
            let input = try test.floats("input", count: inputCount)
            let outputCount = try test.count("output count", limit: Limits.maxElements, minimumElementBytes: 4)
            try budget.reserve(outputCount * 4, for: "loading: the self-test output")
            let output = try test.floats("output", count: outputCount)
            let tolerance = try test.f32("tolerance")
            try test.expectEnd()
            selfTest = SelfTestVector(input: input, output: output, tolerance: tolerance)
        }

        // QUAN (version 2; its count and values are checked by `ModelDescription.validate`)
        var activationQuantization: [ActivationQuantization?] = []
        if var quan = sections[.quantization] {
            guard version >= 2 else {
                throw .format("payload: a QUAN section needs format version 2; the file says \(version)")
            }
            let count = try quan.count("value count", limit: Limits.maxLayers + 1, minimumElementBytes: 20)
            try budget.reserve(count * 24, for: "loading: the quantization of \(count) values")
            activationQuantization.reserveCapacity(count)
            for v in 0..<count {
                let kind = try quan.u32("value \(v) kind")
                let scale = try quan.f32("value \(v) scale")
                let zeroPoint = Int32(bitPattern: try quan.u32("value \(v) zero point"))
                let preScale = try quan.f32("value \(v) pre-activation scale")
                let preZeroPoint = Int32(bitPattern: try quan.u32("value \(v) pre-activation zero point"))
                switch kind {
                case 0:
                    guard scale == 0, zeroPoint == 0, preScale == 0, preZeroPoint == 0 else {
                        throw .format("QUAN: value \(v) is float32 but has quantization parameters")
                    }
                    activationQuantization.append(nil)
                case 1:
                    activationQuantization.append(
                        ActivationQuantization(
                            scale: scale, zeroPoint: zeroPoint, preActivationScale: preScale,
                            preActivationZeroPoint: preZeroPoint))
                default:
                    throw .unsupported("QUAN: value \(v) has kind \(kind), which this cnnz does not know")
                }
            }
            try quan.expectEnd()
            guard !activationQuantization.isEmpty else { throw .format("QUAN: the section lists no values") }
        }

        return ModelDescription(
            name: name, labels: labels, preprocessing: preprocessing,
            graph: Graph(inputShape: inputShape, layers: layers), tensors: tensors, selfTest: selfTest,
            activationQuantization: activationQuantization)
    }
}
