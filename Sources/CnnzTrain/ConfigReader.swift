import Cnnz
import CnnzConvert
import Foundation

/// Reads a layer's Keras config with Keras's defaults; errors name the layer and key.
struct ConfigReader {
    let label: String
    let config: [String: JSONValue]

    private func fail(_ key: String, _ detail: String) -> CnnzError { .format("\(label): \"\(key)\" \(detail)") }

    private func value(_ key: String) -> JSONValue? {
        guard let v = config[key], v != .null else { return nil }
        return v
    }

    func int(_ key: String, default fallback: Int?) throws(CnnzError) -> Int {
        guard let v = value(key) else {
            guard let fallback else { throw fail(key, "is missing") }
            return fallback
        }
        guard case .number(let d) = v, d == d.rounded(), d >= 1, d <= Double(Limits.maxDimension) else {
            throw fail(key, "must be an integer in 1...\(Limits.maxDimension)")
        }
        return Int(d)
    }

    func number(_ key: String, default fallback: Double) throws(CnnzError) -> Double {
        guard let v = value(key) else { return fallback }
        guard case .number(let d) = v, d.isFinite else { throw fail(key, "must be a finite number") }
        return d
    }

    func bool(_ key: String, default fallback: Bool) throws(CnnzError) -> Bool {
        guard let v = value(key) else { return fallback }
        guard case .bool(let b) = v else { throw fail(key, "must be true or false") }
        return b
    }

    func string(_ key: String, default fallback: String) throws(CnnzError) -> String {
        guard let v = value(key) else { return fallback }
        guard case .string(let s) = v else { throw fail(key, "must be a string") }
        return s
    }

    /// An integer or `[h, w]`, each at least 1.
    func pair(_ key: String, default fallback: [Int]?) throws(CnnzError) -> [Int] {
        guard let v = value(key) else {
            guard let fallback else { throw fail(key, "is missing") }
            return fallback
        }
        let items: [JSONValue]
        if case .array(let list) = v { items = list } else { items = [v, v] }
        guard items.count == 2 else { throw fail(key, "must be an integer or [h, w]") }
        var result: [Int] = []
        for item in items {
            guard case .number(let d) = item, d == d.rounded(), d >= 1, d <= Double(Limits.maxDimension) else {
                throw fail(key, "must hold integers in 1...\(Limits.maxDimension)")
            }
            result.append(Int(d))
        }
        return result
    }

    func window(kernel: [Int], strides fallback: [Int], kernelKey: String = "kernel_size") throws(CnnzError) -> Window {
        let strides = try pair("strides", default: fallback)
        let padding: Padding
        switch try string("padding", default: "valid") {
        case "valid": padding = .valid
        case "same": padding = .same
        case let other: throw fail("padding", "is \"\(other)\", expected \"valid\" or \"same\"")
        }
        return Window(
            kernelHeight: kernel[0], kernelWidth: kernel[1], strideHeight: strides[0], strideWidth: strides[1],
            padding: padding)
    }
}

/// Weight tensors in model.json's three spellings (nested arrays, `{shape, data}`,
/// `{shape, base64}`), and base64 for writing.
enum TensorJSON {
    static func decode(_ value: JSONValue, _ what: String) throws(CnnzError) -> Tensor {
        if case .object(let o) = value {
            guard case .array(let shapeValues)? = o["shape"] else { throw .format("\(what): \"shape\" is missing") }
            var shape: [Int] = []
            var count = 1
            for v in shapeValues {
                guard case .number(let d) = v, d == d.rounded(), d >= 0, d <= Double(Limits.maxElements) else {
                    throw .format("\(what): \"shape\" holds a bad size")
                }
                shape.append(Int(d))
                count *= Int(d)
                guard count <= Limits.maxElements else { throw .format("\(what): too many elements") }
            }
            var values: [Float]
            if case .string(let text)? = o["base64"] {
                guard let data = Data(base64Encoded: padded(text)), data.count == count * 4 else {
                    throw .format("\(what): \"base64\" is not \(count) float32 values in base64")
                }
                values = data.withUnsafeBytes { raw in
                    (0..<count).map {
                        Float(
                            bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))
                        )
                    }
                }
            } else if case .array(let items)? = o["data"] {
                values = try Architecture.floats(.array(items), what)
            } else {
                throw .format("\(what): needs \"data\" or \"base64\"")
            }
            guard values.count == count, values.allSatisfy(\.isFinite) else {
                throw .format("\(what): \(values.count) finite values needed \(count)")
            }
            return Tensor(shape: shape, values: values)
        }
        var shape: [Int] = []
        var probe = value
        while case .array(let items) = probe {
            shape.append(items.count)
            guard let first = items.first else { break }
            probe = first
        }
        var values: [Float] = []
        try flatten(value, depth: 0, rank: shape.count, into: &values, what)
        guard values.count == shape.reduce(1, *) else { throw .format("\(what): a ragged nested array") }
        return Tensor(shape: shape, values: values)
    }

    private static func flatten(_ v: JSONValue, depth: Int, rank: Int, into values: inout [Float], _ what: String)
        throws(CnnzError)
    {
        switch v {
        case .number(let d) where depth == rank && Float(d).isFinite: values.append(Float(d))
        case .array(let items) where depth < rank:
            for item in items { try flatten(item, depth: depth + 1, rank: rank, into: &values, what) }
        default: throw .format("\(what): a ragged nested array or a non-finite value")
        }
    }

    private static func padded(_ text: String) -> String {
        text + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
    }

    /// `{"shape": [...], "dtype": "float32", "base64": "..."}`.
    static func encode(_ tensor: Tensor) -> JSONValue {
        var bytes = [UInt8]()
        bytes.reserveCapacity(tensor.values.count * 4)
        for v in tensor.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        return .object([
            "shape": .array(tensor.shape.map { .number(Double($0)) }), "dtype": .string("float32"),
            "base64": .string(Data(bytes).base64EncodedString()),
        ])
    }
}
