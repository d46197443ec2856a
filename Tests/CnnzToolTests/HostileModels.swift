import Foundation

@testable import Cnnz

/// Crafted `.cnnz` files, each under 64 KB with valid checksums, that aim at
/// the loader's memory and time: what an attacker would send. The same bytes
/// are committed in Tests/Fuzz/hostile as fuzzing seeds (`HostileModelTests`
/// checks that they are current).
enum HostileModels {
    /// Name, bytes, and whether the file must be refused whatever the budget.
    static func all() throws -> [(name: String, bytes: [UInt8], alwaysRefused: Bool)] {
        [
            ("overlapping-tensors", try overlappingTensors(), true),
            ("tensor-outside-tens", try tensorOutsideTENS(), true),
            ("huge-activations-1gib", try hugeActivations(side: 16383), false),
            ("huge-activations-64mib", try hugeActivations(side: 4096), false),
            ("two-million-labels", try manyLabels(count: 1 << 20, length: 8), false),
            ("long-strings", try longStrings(), false),
            ("layer-cap-graph", try layerCapGraph(), false),
            ("huge-pooling-work", try hugePoolingWork(), true),
        ]
    }

    /// 64 Dense layers of [1024, 1024] whose tensors all point at one 4 MiB block
    /// of zeros: 256 MiB of weights from 4 MiB of payload (the 31x).
    static func overlappingTensors() throws -> [UInt8] {
        let width = 1024
        let layers = (0..<64).map { Layer(kind: .dense(units: width, hasBias: false), inputs: [$0], weights: [$0]) }
        let graph = Graph(inputShape: TensorShape(height: 1, width: 1, channels: width), layers: layers)
        return try file(graph: graph, tensors: .init(repeating: [width, width], count: 64), sharedData: true)
    }

    /// A tensor whose data offset points into META.
    static func tensorOutsideTENS() throws -> [UInt8] {
        let graph = Graph(
            inputShape: TensorShape(height: 1, width: 1, channels: 4),
            layers: [Layer(kind: .dense(units: 4, hasBias: false), inputs: [0], weights: [0])])
        return try file(graph: graph, tensors: [[4, 4]], dataOffset: 0)
    }

    /// A 1x1x1 input padded to side x side: side^2 floats of activations from a few hundred bytes.
    static func hugeActivations(side: Int) throws -> [UInt8] {
        let half = (side - 1) / 2
        let graph = Graph(
            inputShape: TensorShape(height: 1, width: 1, channels: 1),
            layers: [
                Layer(
                    kind: .zeroPadding2D(top: half, bottom: side - 1 - half, left: half, right: side - 1 - half),
                    inputs: [0]),
                Layer(kind: .globalMaxPool2D(keepDims: false), inputs: [1]),
            ])
        return try file(graph: graph, tensors: [], selfTest: SelfTestVector(input: [2], output: [2], tolerance: 0))
    }

    /// A Dense layer of `count` units with a label for each.
    static func manyLabels(count: Int, length: Int) throws -> [UInt8] {
        let graph = Graph(
            inputShape: TensorShape(height: 1, width: 1, channels: 1),
            layers: [Layer(kind: .dense(units: count, hasBias: false), inputs: [0], weights: [0])])
        let label = String(repeating: "x", count: length)
        return try file(graph: graph, tensors: [[1, count]], labels: .init(repeating: label, count: count))
    }

    /// A name and 64 layer names at the 65,536-byte cap.
    static func longStrings() throws -> [UInt8] {
        let long = String(repeating: "n", count: Limits.maxStringBytes)
        let layers = (0..<64).map { Layer(kind: .activation, activation: .tanh, inputs: [$0], name: long) }
        let graph = Graph(inputShape: TensorShape(height: 1, width: 1, channels: 1), layers: layers)
        var output: Float = 0.5
        for _ in 0..<64 { output = tanh(output) }
        return try file(
            graph: graph, tensors: [], name: long,
            selfTest: SelfTestVector(input: [0.5], output: [output], tolerance: 1e-5))
    }

    /// 65,536 layers, the cap, each a ReLU of the input (identical layers compress
    /// to almost nothing; a chain's distinct indices would not fit in 64 KB).
    static func layerCapGraph() throws -> [UInt8] {
        let layers = (0..<Limits.maxLayers).map { _ in
            Layer(
                kind: .activation, activation: .relu(maxValue: .infinity, negativeSlope: 0, threshold: 0), inputs: [0])
        }
        let graph = Graph(inputShape: TensorShape(height: 1, width: 1, channels: 1), layers: layers)
        return try file(
            graph: graph, tensors: [], selfTest: SelfTestVector(input: [0.25], output: [0.25], tolerance: 0))
    }

    /// An 8192x8192 max pooling window sliding one step at a time over a padded
    /// input: 2^52 window reads per image from a few hundred bytes.
    static func hugePoolingWork() throws -> [UInt8] {
        let graph = Graph(
            inputShape: TensorShape(height: 1, width: 1, channels: 1),
            layers: [
                Layer(kind: .zeroPadding2D(top: 8191, bottom: 8192, left: 8191, right: 8192), inputs: [0]),
                Layer(
                    kind: .maxPool2D(
                        window: Window(
                            kernelHeight: 8192, kernelWidth: 8192, strideHeight: 1, strideWidth: 1, padding: .valid)),
                    inputs: [1]),
            ])
        return try file(graph: graph, tensors: [])
    }

    /// The file of `graph` with zero-filled tensors of the given shapes, written by hand
    /// so that tensor offsets can be crafted: `sharedData` points every tensor at the
    /// first one's bytes; `dataOffset` places the first tensor at that payload offset.
    static func file(
        graph: Graph, tensors shapes: [[Int]], name: String = "hostile", labels: [String] = [],
        selfTest: SelfTestVector? = nil, sharedData: Bool = false, dataOffset: Int? = nil
    ) throws -> [UInt8] {
        // META and GRPH as the writer writes them, from a model without tensors or self-test.
        let skeleton = ModelDescription(
            name: name, labels: labels, preprocessing: .identity, graph: graph, tensors: [], selfTest: nil)
        let written = try ModelWriter.encode(skeleton)
        var payload = try ModelWriter.payload(ofFile: written)
        let tensStart = stride(from: 0, to: payload.count, by: 64).first {
            Array(payload[$0..<($0 + 4)]) == Array("TENS".utf8)
        }!
        payload.removeSubrange(tensStart...)
        var body = ByteWriter()
        body.int(shapes.count)
        var offsetFields: [Int] = []
        for shape in shapes {
            body.u32(ModelFormat.DataType.float32.rawValue)
            body.int(shape.count)
            for d in shape { body.int(d) }
            offsetFields.append(body.bytes.count)
            body.u64(0)
            body.u64(UInt64(shape.reduce(1, *) * 4))
            body.u32(0)
        }
        let bodyStart = tensStart + 16
        var offsets: [Int] = []
        for (i, shape) in shapes.enumerated() {
            if sharedData && i > 0 {
                offsets.append(offsets[0])
                continue
            }
            while (bodyStart + body.bytes.count) % 64 != 0 { body.bytes.append(0) }
            offsets.append(bodyStart + body.bytes.count)
            body.bytes.append(contentsOf: [UInt8](repeating: 0, count: shape.reduce(1, *) * 4))
        }
        if let dataOffset, !offsets.isEmpty { offsets[0] = dataOffset }
        for (field, offset) in zip(offsetFields, offsets) {
            withUnsafeBytes(of: UInt64(offset).littleEndian) {
                body.bytes.replaceSubrange(field..<(field + 8), with: $0)
            }
        }
        var section = ByteWriter()
        section.u32(ModelFormat.SectionTag.tensors.rawValue)
        section.u32(0)
        section.u64(UInt64(body.bytes.count))
        payload += section.bytes + body.bytes
        if let test = selfTest {
            while payload.count % 64 != 0 { payload.append(0) }
            var t = ByteWriter()
            t.int(test.input.count)
            t.floats(test.input)
            t.int(test.output.count)
            t.floats(test.output)
            t.f32(test.tolerance)
            var header = ByteWriter()
            header.u32(ModelFormat.SectionTag.selfTest.rawValue)
            header.u32(0)
            header.u64(UInt64(t.bytes.count))
            payload += header.bytes + t.bytes
        }
        return try wrap(payload)
    }

    /// A complete file around `payload`, with correct sizes and checksums.
    static func wrap(_ payload: [UInt8]) throws -> [UInt8] { try ModelWriter.file(payload: payload) }
}
