/// A decoded image: samples brought to 0...255 (`v * 255 / maxval`, not
/// rounded), row-major, channels interleaved.
public struct Image: Sendable, Equatable {
    /// Size in pixels.
    public var width: Int
    public var height: Int
    /// 1 (gray) or 3 (RGB).
    public var channels: Int
    public var samples: [Float]

    /// An image; `samples.count` must be `width * height * channels`.
    public init(width: Int, height: Int, channels: Int, samples: [Float]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.samples = samples
    }
}

/// Reads Netpbm images (P2, P3, P5, P6; maxval 1...65535) from untrusted
/// bytes: every header field is range-checked and the sample count is checked
/// against the bytes present before anything is allocated.
public enum NetpbmReader {
    /// Reads the first image of a Netpbm file.
    public static func read(path: String) throws(CnnzError) -> Image {
        // Only the first image is read, and the largest valid one is 2^26 pixels x 3 channels
        // x 2 bytes plus a header: more of the file than that is never needed.
        let bytes = try FileIO.readFile(path, limit: Limits.maxImagePixels * 6 + 4096, prefix: true)
        do {
            return try decode(bytes)
        } catch {
            throw error.prefixed("\(path): ")
        }
    }

    /// Decodes the first image in `bytes`; later bytes are ignored.
    public static func decode(_ bytes: [UInt8]) throws(CnnzError) -> Image {
        var i = 0
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P") else {
            throw .format("not a Netpbm image: the file does not start with P2, P3, P5 or P6")
        }
        let kind = bytes[1]
        let channels: Int
        let binary: Bool
        switch kind {
        case UInt8(ascii: "2"): (channels, binary) = (1, false)
        case UInt8(ascii: "3"): (channels, binary) = (3, false)
        case UInt8(ascii: "5"): (channels, binary) = (1, true)
        case UInt8(ascii: "6"): (channels, binary) = (3, true)
        default:
            throw .format("unsupported Netpbm type P\(Character(UnicodeScalar(kind))): only P2, P3, P5 and P6 are read")
        }
        i = 2

        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C }
        func skipSpaceAndComments() {
            while i < bytes.count {
                if isSpace(bytes[i]) {
                    i += 1
                } else if bytes[i] == UInt8(ascii: "#") {
                    while i < bytes.count, bytes[i] != 0x0A, bytes[i] != 0x0D { i += 1 }
                } else {
                    return
                }
            }
        }
        func headerNumber(_ field: String, max limit: Int) throws(CnnzError) -> Int {
            let start = i
            guard i < bytes.count else { throw .format("Netpbm header: incomplete, the \(field) is missing") }
            guard isSpace(bytes[i]) || bytes[i] == UInt8(ascii: "#") else {
                throw .format("Netpbm header: expected whitespace before the \(field) at byte \(i)")
            }
            skipSpaceAndComments()
            var value = 0
            let digitsStart = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                value = value * 10 + Int(bytes[i] - 0x30)
                guard value <= limit else { throw .format("Netpbm header: \(field) exceeds \(limit)") }
                i += 1
            }
            guard i > digitsStart else {
                if i >= bytes.count { throw .format("Netpbm header: incomplete, the \(field) is missing") }
                throw .format("Netpbm header: the \(field) at byte \(start) is not a number")
            }
            return value
        }
        let width = try headerNumber("width", max: Limits.maxDimension)
        let height = try headerNumber("height", max: Limits.maxDimension)
        let maxval = try headerNumber("maxval", max: 65535)
        guard width >= 1, height >= 1 else { throw .format("Netpbm header: zero size \(width)x\(height)") }
        guard width * height <= Limits.maxImagePixels else {
            throw .memory("Netpbm header: \(width)x\(height) exceeds the cap of \(Limits.maxImagePixels) pixels")
        }
        guard maxval >= 1 else { throw .format("Netpbm header: maxval 0 is out of range 1...65535") }
        let count = width * height * channels
        let scale = 255 / Float(maxval)
        var samples: [Float]
        if binary {
            guard i < bytes.count, isSpace(bytes[i]) else {
                throw .format("Netpbm header: expected one whitespace byte after maxval")
            }
            i += 1
            let sampleBytes = maxval > 255 ? 2 : 1
            let needed = count * sampleBytes
            guard bytes.count - i >= needed else {
                throw .format(
                    "Netpbm data: \(width)x\(height)x\(channels) needs \(needed) bytes of samples, the file has \(bytes.count - i)"
                )
            }
            samples = [Float](repeating: 0, count: count)
            for s in 0..<count {
                let v = sampleBytes == 2 ? Int(bytes[i + 2 * s]) << 8 | Int(bytes[i + 2 * s + 1]) : Int(bytes[i + s])
                guard v <= maxval else { throw .format("Netpbm data: sample \(s) is \(v), above maxval \(maxval)") }
                samples[s] = Float(v) * scale
            }
        } else {
            // Each ASCII sample takes at least two bytes (a digit and a separator), but the last.
            guard (bytes.count - i + 1) / 2 >= count else {
                throw .format(
                    "Netpbm data: \(width)x\(height)x\(channels) needs \(count) samples, the file is too short")
            }
            samples = [Float](repeating: 0, count: count)
            for s in 0..<count {
                skipSpaceAndComments()
                var value = 0
                let start = i
                while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                    value = value * 10 + Int(bytes[i] - 0x30)
                    guard value <= maxval else { throw .format("Netpbm data: sample \(s) is above maxval \(maxval)") }
                    i += 1
                }
                guard i > start else {
                    if i >= bytes.count { throw .format("Netpbm data: \(count) samples declared, \(s) present") }
                    throw .format("Netpbm data: sample \(s) at byte \(i) is not a number")
                }
                if i < bytes.count, !isSpace(bytes[i]), bytes[i] != UInt8(ascii: "#") {
                    throw .format("Netpbm data: sample \(s) at byte \(start) is not a number")
                }
                samples[s] = Float(value) * scale
            }
        }
        return Image(width: width, height: height, channels: channels, samples: samples)
    }
}
