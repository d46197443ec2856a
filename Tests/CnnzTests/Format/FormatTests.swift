import Foundation
import Testing

@testable import Cnnz
@testable import CnnzConvert

/// `.cnnz` bytes from any source: round trips, then truncated, flipped and
/// crafted files, each of which must give a clear error and nothing else.
@Suite struct FormatTests {
    static let tinyBytes: [UInt8] = try! Converter.convertToCNNZ(json: try! Fixtures.bytes("tiny-graph.json")).1

    /// Sets a little-endian field of the header and fixes the header checksum,
    /// so that the check under test is reached.
    static func patchHeader(_ bytes: [UInt8], at offset: Int, _ value: UInt64, width: Int) -> [UInt8] {
        var b = bytes
        for i in 0..<width { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        let crc = b.withUnsafeBytes { Compression.crc32(UnsafeRawBufferPointer(rebasing: $0[0..<40])) }
        for i in 0..<4 { b[40 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        return b
    }

    /// A complete file around `payload`, with correct sizes and checksums.
    static func wrap(_ payload: [UInt8]) throws -> [UInt8] { try ModelWriter.file(payload: payload) }

    /// The decompressed payload of a valid file.
    static func payload(of file: [UInt8]) throws -> [UInt8] { try ModelWriter.payload(ofFile: file) }

    func expectFormatError(_ bytes: [UInt8], containing text: String, sourceLocation: SourceLocation = #_sourceLocation)
    {
        do {
            _ = try Model(bytes: bytes)
            Issue.record("loaded a model that should have been refused (\(text))", sourceLocation: sourceLocation)
        } catch {
            #expect(error.message.contains(text), "message: \(error.message)", sourceLocation: sourceLocation)
            #expect(!error.message.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test func roundTripPreservesEverything() throws {
        let description = try Converter.convert(json: try Fixtures.bytes("tiny.json"))
        let bytes = try ModelWriter.encode(description)
        #expect(try ModelReader.decode(bytes) == description)
        // Deterministic: the same model gives the same bytes.
        #expect(try ModelWriter.encode(description) == bytes)
    }

    @Test func tensorsAreAlignedInThePayload() throws {
        let payload = try Self.payload(of: Self.tinyBytes)
        let decoded = try ModelReader.decode(Self.tinyBytes)
        // Find each tensor's bytes at a 64-byte aligned offset.
        for tensor in decoded.tensors {
            let needle = tensor.values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
            let found = stride(from: 0, to: payload.count - needle.count + 1, by: 64).contains {
                Array(payload[$0..<($0 + needle.count)]) == needle
            }
            #expect(found, "tensor \(tensor.shape) is not at an aligned offset")
        }
    }

    @Test func everyTruncationIsRefused() {
        for length in 0..<Self.tinyBytes.count {
            do {
                _ = try Model(bytes: Array(Self.tinyBytes[0..<length]))
                Issue.record("a file truncated to \(length) bytes loaded")
            } catch {
                #expect(!error.message.isEmpty)
            }
        }
    }

    @Test func everyFlippedByteIsRefused() {
        for offset in 0..<Self.tinyBytes.count {
            for mask: UInt8 in [0x01, 0x80] {
                var b = Self.tinyBytes
                b[offset] ^= mask
                do {
                    _ = try Model(bytes: b)
                    Issue.record("a file with byte \(offset) flipped by \(mask) loaded")
                } catch {
                    #expect(!error.message.isEmpty)
                }
            }
        }
    }

    /// Loads `bytes`; a refusal must be one line. Returns the message, or nil when the model loaded
    /// (then it must also run: whatever a mutation leaves valid is a model like any other).
    static func loadOrMessage(_ bytes: [UInt8]) -> String? {
        do {
            let model = try Model(bytes: bytes)
            _ = try model.predict([Float](repeating: 0.5, count: model.inputShape.elementCount))
            return nil
        } catch {
            return error.message
        }
    }

    /// The checksums above refuse any damaged file before its payload is parsed. These
    /// re-wrap damaged payloads with valid sizes and checksums so that every field
    /// of every section meets the parser.
    @Test func everyTruncatedPayloadIsRefusedByTheParser() throws {
        let payload = try Self.payload(of: Self.tinyBytes)
        var loaded: [Int] = []
        for length in 0..<payload.count {
            guard let message = Self.loadOrMessage(try Self.wrap(Array(payload[0..<length]))) else {
                loaded.append(length)
                continue
            }
            #expect(!message.contains("checksum") && !message.contains("\n"), "length \(length): \(message)")
        }
        // Only a cut that drops the optional TEST section whole (at its 64-byte aligned start) can leave a valid model.
        let test = Self.sectionBody(payload, "TEST") - 16
        #expect(loaded.allSatisfy { $0 >= test - 63 && $0 <= test }, "truncations that loaded: \(loaded)")
    }

    @Test func everyFlippedPayloadByteIsRefusedOrStillValid() throws {
        let payload = try Self.payload(of: Self.tinyBytes)
        var loaded = 0
        var sections: Set<String> = []
        for offset in 0..<payload.count {
            for mask: UInt8 in [0x01, 0x80] {
                var p = payload
                p[offset] ^= mask
                if let message = Self.loadOrMessage(try Self.wrap(p)) {
                    #expect(!message.contains("checksum") && !message.contains("\n"), "byte \(offset): \(message)")
                    sections.insert(String(message.prefix { $0 != ":" }))
                } else {
                    loaded += 1
                }
            }
        }
        // Flips inside weights and names can leave a valid model; flips in every section's fields are refused there.
        #expect(sections.isSuperset(of: ["payload", "META", "GRPH", "TENS", "TEST"]), "refused in: \(sections)")
        #expect(loaded > 0, "no flip left a valid model: the weights are not being reached")
    }

    @Test func tensorDataMustLieInsideTENSWithoutOverlap() throws {
        let payload = try Self.payload(of: Self.tinyBytes)
        let tens = Self.sectionBody(payload, "TENS")
        // The first table entry: dtype, rank, dims, then the u64 offset.
        let rank = Int(payload[tens + 8])
        let firstOffset = tens + 12 + 4 * rank
        let secondEntry = firstOffset + 8 + 8 + 4
        let secondRank = Int(payload[secondEntry + 4])
        let secondOffset = secondEntry + 8 + 4 * secondRank
        func offset(_ p: [UInt8], at field: Int) -> UInt32 {
            p[field..<(field + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        // Two tensors on the same bytes: refused, however valid their sizes.
        let shared = Self.patchPayload(payload, at: secondOffset, offset(payload, at: firstOffset))
        expectFormatError(try Self.wrap(shared), containing: "overlap")
        // A tensor at payload offset 0, inside META.
        expectFormatError(
            try Self.wrap(Self.patchPayload(payload, at: firstOffset, 0)), containing: "outside the section's data")
    }

    @Test func wrongMagicIsNamed() {
        var b = Self.tinyBytes
        b[1] = UInt8(ascii: "X")
        expectFormatError(b, containing: "not a cnnz model")
        expectFormatError(
            Array("P5\n28 28\n255\n".utf8) + [UInt8](repeating: 0, count: 784), containing: "not a cnnz model")
        expectFormatError([], containing: "shorter than the 48-byte header")
    }

    @Test func hugeDeclaredSizeIsRefusedBeforeAllocating() {
        let b = Self.patchHeader(Self.tinyBytes, at: 16, 1 << 62, width: 8)
        expectFormatError(b, containing: "exceeds the cap")
        let c = Self.patchHeader(Self.tinyBytes, at: 16, 1 << 29, width: 8)
        expectFormatError(c, containing: "impossible for")
        let d = Self.patchHeader(Self.tinyBytes, at: 24, 1 << 40, width: 8)
        expectFormatError(d, containing: "compressed payload")
    }

    @Test func newerVersionIsRefusedWithAMessageThatSaysSo() {
        let b = Self.patchHeader(Self.tinyBytes, at: 8, UInt64(ModelFormat.version + 1), width: 4)
        do {
            _ = try Model(bytes: b)
            Issue.record("a version \(ModelFormat.version + 1) file loaded")
        } catch {
            #expect(error == .unsupported(error.message))
            #expect(error.message.contains("newer than this cnnz reads"))
        }
    }

    @Test func wrongDeclaredPayloadSizeIsRefused() {
        expectFormatError(
            Self.patchHeader(Self.tinyBytes, at: 16, 100, width: 8), containing: "more than the 100 bytes")
        let payloadSize = try! Self.payload(of: Self.tinyBytes).count
        expectFormatError(
            Self.patchHeader(Self.tinyBytes, at: 16, UInt64(payloadSize + 64), width: 8), containing: "declares")
    }

    /// Replaces the 4 bytes at `offset` of the payload with `value`.
    static func patchPayload(_ payload: [UInt8], at offset: Int, _ value: UInt32) -> [UInt8] {
        var p = payload
        for i in 0..<4 { p[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
        return p
    }

    /// The payload offset of the first section body with `tag`.
    static func sectionBody(_ payload: [UInt8], _ tag: String) -> Int {
        let t = Array(tag.utf8)
        var i = 0
        while i + 16 <= payload.count {
            if Array(payload[i..<(i + 4)]) == t { return i + 16 }
            i += 64
        }
        return -1
    }

    @Test func craftedPayloadsAreRefusedWithTheirLocation() throws {
        let payload = try Self.payload(of: Self.tinyBytes)
        let graph = Self.sectionBody(payload, "GRPH")
        let tensors = Self.sectionBody(payload, "TENS")
        let meta = Self.sectionBody(payload, "META")
        #expect(graph > 0 && tensors > 0 && meta > 0)
        // A layer count far above what the bytes can hold.
        expectFormatError(try Self.wrap(Self.patchPayload(payload, at: graph, 60000)), containing: "layer count")
        expectFormatError(
            try Self.wrap(Self.patchPayload(payload, at: graph, 0xFFFF_FFFF)), containing: "exceeds the cap")
        // An unknown layer kind.
        expectFormatError(try Self.wrap(Self.patchPayload(payload, at: graph + 4, 99)), containing: "layer kind 99")
        // A tensor count far above what the bytes can hold.
        expectFormatError(try Self.wrap(Self.patchPayload(payload, at: tensors, 1_000_000)), containing: "tensor count")
        // The first tensor's dtype, rank and first dimension.
        expectFormatError(try Self.wrap(Self.patchPayload(payload, at: tensors + 4, 7)), containing: "data type 7")
        expectFormatError(try Self.wrap(Self.patchPayload(payload, at: tensors + 8, 9)), containing: "rank")
        expectFormatError(
            try Self.wrap(Self.patchPayload(payload, at: tensors + 12, 0x7FFF_FFFF)), containing: "tensor 0")
        expectFormatError(try Self.wrap(Self.patchPayload(payload, at: tensors + 12, 2)), containing: "tensor 0")
        // The input height in META (after the name string: 4 + name length).
        let nameLength = Int(payload[meta]) | Int(payload[meta + 1]) << 8
        expectFormatError(
            try Self.wrap(Self.patchPayload(payload, at: meta + 4 + nameLength, 0)), containing: "input height")
        expectFormatError(
            try Self.wrap(Self.patchPayload(payload, at: meta + 4 + nameLength, 1 << 30)), containing: "input height")
        // A missing section.
        var noGraph = payload
        noGraph[graph - 16] = UInt8(ascii: "X")
        expectFormatError(try Self.wrap(noGraph), containing: "GRPH section is missing")
        // Trailing garbage inside the payload after the last section is padding-checked.
        expectFormatError(
            try Self.wrap(payload + [1, 2, 3, 4, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]),
            containing: "non-zero padding")
    }

    @Test func craftedGraphReferencesAreRefused() throws {
        // A layer that reads a later layer, or a weight that does not exist.
        var description = try Converter.convert(json: try Fixtures.bytes("tiny.json"))
        description.selfTest = nil
        var forward = description
        forward.graph.layers[1].inputs = [3]
        expectFormatError(try ModelWriter.encode(forward), containing: "layer 1 input 0")
        var weight = description
        weight.graph.layers[0].weights = [0, 17]
        expectFormatError(try ModelWriter.encode(weight), containing: "weight tensor index 17")
        var shape = description
        shape.tensors[0] = Tensor(shape: [3, 3, 2, 4], values: .init(repeating: 0, count: 72))
        expectFormatError(try ModelWriter.encode(shape), containing: "kernel has shape 3x3x2x4, expected 3x3x2x3")
        var labels = description
        labels.labels = ["x"]
        expectFormatError(try ModelWriter.encode(labels), containing: "1 labels for 4 outputs")
        var nan = description
        nan.tensors[1].values[0] = .nan
        expectFormatError(try ModelWriter.encode(nan), containing: "not a finite number")
    }

    /// Models built in Swift meet the same check as files: this one trapped in
    /// `DenseGEMM.init` ("Index out of range") before `ModelDescription.validate`.
    @Test func modelsBuiltInSwiftAreValidatedLikeFiles() throws {
        let dense = Layer(kind: .dense(units: 2, hasBias: false), inputs: [0], weights: [0])
        var description = ModelDescription(
            name: "", labels: [], preprocessing: .identity,
            graph: Graph(inputShape: TensorShape(height: 1, width: 1, channels: 3), layers: [dense]),
            tensors: [Tensor(shape: [3, 2], values: [1])], selfTest: nil)
        #expect(throws: CnnzError.format("tensor 0 has 1 values, its shape [3, 2] needs 6")) {
            try Model(description)
        }
        description.tensors[0] = Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, .infinity])
        #expect(throws: CnnzError.format("tensor 0 element 5 is inf, not a finite number")) { try Model(description) }
        description.tensors[0] = Tensor(shape: [3, 0], values: [])
        #expect(throws: CnnzError.self) { try Model(description) }
        description.tensors[0] = Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6])
        description.selfTest = SelfTestVector(input: [1, 2], output: [0, 0], tolerance: 0)
        #expect(throws: CnnzError.format("self-test: the input has 2 values, the model input needs 3")) {
            try Model(description)
        }
        description.selfTest = nil
        description.labels = ["a", "b", "c"]
        #expect(throws: CnnzError.format("3 labels for 2 outputs")) { try Model(description) }
        description.labels = []
        let model = try Model(description)
        #expect(try model.predict([1, 1, 1]) == [9, 12])
        // The converter runs the same check: an operation cap of 5 refuses 6 multiply-adds.
        #expect(throws: CnnzError.self) { try description.validate(options: LoadOptions(maxOperationsPerImage: 5)) }
    }

    @Test func loadFromFileRefusesDirectoriesAndMissingFiles() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: CnnzError.io("cannot read \(directory.path): it is a directory")) {
            try Model(contentsOfFile: directory.path)
        }
        let missing = directory.appendingPathComponent("none.cnnz").path
        #expect(throws: CnnzError.io("cannot open \(missing): no such file")) { try Model(contentsOfFile: missing) }
    }
}
