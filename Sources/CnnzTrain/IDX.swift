import CZlib
import Cnnz
import Foundation

/// An array read from an IDX file (the MNIST format): unsigned bytes, row-major.
public struct IDXArray: Equatable, Sendable {
    /// The dimensions the header declares, outermost first (the item count first).
    public var dimensions: [Int]
    /// The data, `dimensions` multiplied out.
    public var bytes: [UInt8]
}

/// Reads IDX files of unsigned bytes, raw or gzip-compressed (MNIST, Fashion-MNIST).
/// Every inconsistency is a one-line `CnnzError.format` naming the file.
public enum IDXReader {
    /// The most decompressed bytes a file may hold (1 GiB); a file that inflates
    /// to more is refused, so memory grows only with real data up to this cap.
    public static let maxBytes = 1 << 30

    /// Reads and checks `path` (gzip or raw: zlib's `gzread` passes raw files through).
    public static func read(path: String) throws(CnnzError) -> IDXArray {
        let name = (path as NSString).lastPathComponent
        guard let file = gzopen(path, "rb") else {
            throw .io("\(path): cannot open (\(String(cString: strerror(errno))))")
        }
        defer { gzclose(file) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if count < 0 {
                var code: Int32 = 0
                let message = String(cString: gzerror(file, &code))
                throw .format("\(name): the gzip stream is corrupt or truncated (zlib: \(message))")
            }
            if count == 0 { break }
            guard data.count + Int(count) <= maxBytes else {
                throw .memory("\(name): holds more than \(maxBytes) bytes of data, the trainer's limit")
            }
            data += chunk[0..<Int(count)]
        }
        // gzread reports a stream cut short at its end as end of file, with the error set.
        var code: Int32 = 0
        let message = String(cString: gzerror(file, &code))
        if code != Z_OK && code != Z_STREAM_END {
            throw .format("\(name): the gzip stream is corrupt or truncated (zlib: \(message))")
        }
        return try parse(data, name: name)
    }

    /// Checks the header and that the data is exactly as long as it declares.
    public static func parse(_ data: [UInt8], name: String) throws(CnnzError) -> IDXArray {
        guard data.count >= 4 else { throw .format("\(name): \(data.count) bytes, too short for an IDX header") }
        let magic = data[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
        guard data[0] == 0, data[1] == 0, data[2] == 0x08, (1...4).contains(data[3]) else {
            throw .format(
                "\(name): not an IDX file of unsigned bytes (magic 0x\(String(magic, radix: 16)), expected 0x801 to 0x804)"
            )
        }
        let rank = Int(data[3])
        guard data.count >= 4 + 4 * rank else { throw .format("\(name): the header is cut short") }
        var dimensions: [Int] = []
        var total = 1
        for axis in 0..<rank {
            let start = 4 + 4 * axis
            let value = Int(data[start..<start + 4].reduce(0) { $0 << 8 | UInt32($1) })
            dimensions.append(value)
            total = total.multipliedReportingOverflow(by: value).overflow ? Int.max : total * value
        }
        let held = data.count - 4 - 4 * rank
        guard total == held else {
            throw .format(
                "\(name): the header declares \(dimensions.map(String.init).joined(separator: "x")) = \(total) bytes of data, the file holds \(held)"
            )
        }
        return IDXArray(dimensions: dimensions, bytes: Array(data[(4 + 4 * rank)...]))
    }
}
