import Cnnz
import Foundation

/// The values of model.json: integer and float lists, and tensors in the spec's three encodings
/// (nested arrays, a shape with flat "data", a shape with base64 "base64"), each checked before
/// anything is allocated for it. Split from ModelJSONDecoder.swift, which reads the layers.
extension ModelJSONDecoder {
    func intList(_ value: JSONValue, _ what: String) throws(CnnzError) -> [Int] {
        guard case .array(let items) = value else { throw .format("\(what): is \(value.typeName), not an array") }
        var result: [Int] = []
        for item in items {
            guard case .number(let d) = item, d == d.rounded(), abs(d) <= Double(Int32.max) else {
                throw .format(
                    "\(what): holds \(item.typeName == "a number" ? "a non-integer or out-of-range number" : item.typeName), not an integer"
                )
            }
            result.append(Int(d))
        }
        return result
    }

    func float(_ value: JSONValue, _ what: String) throws(CnnzError) -> Float {
        guard case .number(let d) = value else { throw .format("\(what): is \(value.typeName), not a number") }
        let f = Float(d)
        guard f.isFinite else { throw .format("\(what): \(d) is not finite as a float32") }
        return f
    }

    func floatList(_ value: JSONValue, _ what: String) throws(CnnzError) -> [Float] {
        if case .number = value { return [try float(value, what)] }
        guard case .array(let items) = value else { throw .format("\(what): is \(value.typeName), not an array") }
        var result: [Float] = []
        for item in items { result.append(try float(item, what)) }
        return result
    }

    /// Decodes a tensor in any of the three encodings. The declared shape is
    /// checked against the data present before anything is allocated for it.
    func tensor(_ value: JSONValue, _ what: String) throws(CnnzError) -> Tensor {
        switch value {
        case .array:
            var shape: [Int] = []
            var probe = value
            while case .array(let items) = probe {
                shape.append(items.count)
                guard shape.count <= 8 else { throw .format("\(what): nested deeper than 8 levels") }
                guard let first = items.first else { break }
                probe = first
            }
            guard !shape.contains(0) else { throw .format("\(what): has an empty dimension") }
            // The shape comes from the first element at each depth; a ragged array could claim far
            // more than it holds, so the product is checked (and the data counted as it is flattened).
            guard let count = Limits.elementCount(of: shape) else {
                throw .memory(
                    "\(what): nested array of shape \(shape) exceeds the cap of \(Limits.maxElements) elements")
            }
            var values: [Float] = []
            values.reserveCapacity(count)
            try flatten(value, shape: shape[...], into: &values, what)
            return Tensor(shape: shape, values: values)
        case .object:
            guard let shapeValue = value["shape"] else { throw .format("\(what): \"shape\" is missing") }
            let shape = try intList(shapeValue, what + " shape")
            guard shape.allSatisfy({ $0 >= 1 }) else {
                throw .format("\(what): shape \(shape) has a dimension below 1")
            }
            guard let count = Limits.elementCount(of: shape) else {
                throw .memory("\(what): shape \(shape) exceeds the cap of \(Limits.maxElements) elements")
            }
            if let dtype = value["dtype"] {
                guard dtype == .string("float32") else { throw .format("\(what): dtype must be \"float32\"") }
            }
            if let data = value["data"] {
                guard case .array(let items) = data else {
                    throw .format("\(what): \"data\" is \(data.typeName), not an array")
                }
                guard items.count == count else {
                    throw .format("\(what): shape \(shape) needs \(count) values, \"data\" has \(items.count)")
                }
                var values: [Float] = []
                values.reserveCapacity(count)
                for item in items { values.append(try float(item, what)) }
                return Tensor(shape: shape, values: values)
            }
            if let b64 = value["base64"] {
                guard case .string(let text) = b64 else { throw .format("\(what): \"base64\" is not a string") }
                let unpadded = text.utf8.reversed().drop(while: { $0 == UInt8(ascii: "=") }).count
                let byteCount = unpadded * 3 / 4
                guard byteCount == count * 4, unpadded % 4 != 1 else {
                    throw .format("\(what): shape \(shape) needs \(count * 4) bytes, \"base64\" holds \(byteCount)")
                }
                guard let bytes = Base64.decode(text), bytes.count == count * 4 else {
                    throw .format("\(what): \"base64\" is not valid base64")
                }
                var values = [Float](repeating: 0, count: count)
                for i in 0..<count {
                    let bits =
                        UInt32(bytes[4 * i]) | UInt32(bytes[4 * i + 1]) << 8 | UInt32(bytes[4 * i + 2]) << 16
                        | UInt32(bytes[4 * i + 3]) << 24
                    values[i] = Float(bitPattern: bits)
                    guard values[i].isFinite else { throw .format("\(what): element \(i) is not finite") }
                }
                return Tensor(shape: shape, values: values)
            }
            throw .format("\(what): needs \"data\" or \"base64\"")
        default:
            throw .format("\(what): is \(value.typeName), not a tensor")
        }
    }

    private func flatten(_ value: JSONValue, shape: ArraySlice<Int>, into values: inout [Float], _ what: String)
        throws(CnnzError)
    {
        guard let expected = shape.first else {
            values.append(try float(value, what))
            return
        }
        guard case .array(let items) = value, items.count == expected else {
            throw .format(
                "\(what): is a ragged nested array (expected \(expected) entries at depth \(shape.startIndex))")
        }
        for item in items { try flatten(item, shape: shape.dropFirst(), into: &values, what) }
    }
}

/// Base64 with the standard alphabet; `=` padding optional.
enum Base64 {
    static func decode(_ text: String) -> [UInt8]? {
        var table = [UInt8](repeating: 255, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(c)] = UInt8(i)
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        var padding = 0
        for c in text.utf8 {
            if c == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            guard padding == 0 else { return nil }
            let v = table[Int(c)]
            guard v != 255 else { return nil }
            buffer = buffer << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        guard padding <= 2 else { return nil }
        return out
    }
}
