/// A bounded cursor over untrusted bytes. Every read checks the bytes left
/// first, without arithmetic that could overflow, and throws a message that
/// names the section, the field, the offset and the value found.
struct ByteReader {
    private let bytes: UnsafeRawBufferPointer
    /// The offset of `bytes` in the payload, for messages.
    private let base: Int
    private(set) var position = 0
    let section: String

    init(_ bytes: UnsafeRawBufferPointer, base: Int = 0, section: String) {
        self.bytes = bytes
        self.base = base
        self.section = section
    }

    var remaining: Int { bytes.count - position }
    /// The payload offset of the next byte.
    var payloadOffset: Int { base + position }
    /// The payload offset just past this reader's bytes.
    var payloadEnd: Int { base + bytes.count }

    private func fail(_ field: String, _ detail: String) -> CnnzError {
        .format("\(section): \(field) at payload offset \(base + position): \(detail)")
    }

    private mutating func need(_ count: Int, _ field: String) throws(CnnzError) {
        // `remaining` is never negative, so this comparison cannot overflow.
        guard count >= 0, count <= remaining else {
            throw fail(field, "needs \(count) bytes, \(remaining) left")
        }
    }

    mutating func byte(_ field: String) throws(CnnzError) -> UInt8 {
        try need(1, field)
        position += 1
        return bytes[position - 1]
    }

    mutating func u32(_ field: String) throws(CnnzError) -> UInt32 {
        try need(4, field)
        // loadUnaligned copies into a local: no alignment is assumed.
        let value = bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position += 4
        return UInt32(littleEndian: value)
    }

    mutating func u64(_ field: String) throws(CnnzError) -> UInt64 {
        try need(8, field)
        let value = bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        position += 8
        return UInt64(littleEndian: value)
    }

    mutating func f32(_ field: String) throws(CnnzError) -> Float {
        Float(bitPattern: try u32(field))
    }

    /// A u32 that must lie in `range`.
    mutating func int(_ field: String, in range: ClosedRange<Int>) throws(CnnzError) -> Int {
        let start = position
        let raw = try u32(field)
        guard range.contains(Int(raw)) else {
            position = start
            throw fail(field, "value \(raw) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(raw)
    }

    /// A u32 element count, checked against `limit` and against the bytes left
    /// (each element needs at least `minimumElementBytes`) before anything is allocated.
    mutating func count(_ field: String, limit: Int, minimumElementBytes: Int) throws(CnnzError) -> Int {
        let start = position
        let value = Int(try u32(field))
        guard value <= limit else {
            position = start
            throw fail(field, "count \(value) exceeds the cap of \(limit)")
        }
        // value <= limit <= 2^28 and minimumElementBytes <= 64: the product fits in Int.
        guard value * minimumElementBytes <= remaining else {
            position = start
            throw fail(field, "count \(value) needs at least \(value * minimumElementBytes) bytes, \(remaining) left")
        }
        return value
    }

    mutating func floats(_ field: String, count: Int) throws(CnnzError) -> [Float] {
        // count is bounded by the caller; 4 * count cannot overflow.
        try need(4 * count, field)
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes {
            $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + 4 * count)]))
        }
        position += 4 * count
        for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
        return values
    }

    mutating func string(_ field: String) throws(CnnzError) -> String {
        let length = try count(field + " length", limit: Limits.maxStringBytes, minimumElementBytes: 1)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw fail(field, "is not valid UTF-8")
        }
        position += length
        return text
    }

    mutating func skip(_ count: Int, _ field: String) throws(CnnzError) {
        try need(count, field)
        position += count
    }

    /// A reader over the next `count` bytes, which this reader skips.
    mutating func subreader(_ count: Int, section: String) throws(CnnzError) -> ByteReader {
        try need(count, section)
        let sub = ByteReader(
            UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)]), base: base + position,
            section: section)
        position += count
        return sub
    }

    func expectEnd() throws(CnnzError) {
        guard remaining == 0 else { throw fail("end", "\(remaining) unexpected trailing bytes") }
    }
}

/// Appends little-endian values; the writer's twin of `ByteReader`.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func int(_ value: Int) { u32(UInt32(truncatingIfNeeded: value)) }
    mutating func f32(_ value: Float) { u32(value.bitPattern) }
    mutating func floats(_ values: [Float]) {
        bytes.reserveCapacity(bytes.count + 4 * values.count)
        for v in values { f32(v) }
    }
    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        int(utf8.count)
        bytes.append(contentsOf: utf8)
    }
    mutating func align(_ alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
}
