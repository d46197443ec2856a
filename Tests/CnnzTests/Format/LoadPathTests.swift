import Foundation
import Testing

@testable import Cnnz

/// The loading shortcuts against plain twins: int8 weights packed from a kernel's rows, and a
/// model file read straight into its array.
struct LoadPathTests {
    /// The int16 (pairs of rows, panels of 8) and VNNI (groups of 4 rows, panels of 16)
    /// layouts, packed from a window of columns of a wider row-major matrix, hold the bytes a
    /// plain loop puts there, zeros past `k` and `n`; the `element` initializer packs the
    /// same; the VNNI bias takes `(zeroPoint + 128) * (the column's sum)` off; and
    /// `fitsMaddubs` on rows agrees with the closure's.
    @Test func int8PackingFromRowsMatchesAPlainLayout() throws {
        var rng = SplitMix64(seed: 15)
        for trial in 0..<48 {
            let k = Int.random(in: 1...(trial % 2 == 0 ? 9 : 70), using: &rng)
            let n = Int.random(in: 1...40, using: &rng)
            let offset = Int.random(in: 0...5, using: &rng)
            let stride = n + offset + Int.random(in: 0...7, using: &rng)
            let edge = trial % 3 == 0
            let w = (0..<(k * stride)).map { _ in
                edge
                    ? Int8([-128, -64, 64, 127, 0][Int.random(in: 0...4, using: &rng)])
                    : Int8.random(in: -64...63, using: &rng)
            }
            let element = { (row: Int, column: Int) in w[row * stride + offset + column] }
            let biasOf = { (c: Int) in Int32(c * 37 - 500) }
            let zeroPoint = Int32.random(in: -128...127, using: &rng)
            let activation = Int8Activation(.linear, output: ActivationQuantization(scale: 0.05, zeroPoint: 3))
            for variant in [Int8GEMM.Variant.portable, .vnni512] {
                let fromRows = try w.withUnsafeBufferPointer { p in
                    try Int8PackedWeights(
                        k: k, n: n, weights: p.baseAddress! + offset, rowStride: stride, bias: biasOf,
                        realMultiplier: { _ in 0.01 }, activation: activation, variant: variant,
                        inputZeroPoint: zeroPoint)
                }
                let fromElements = try Int8PackedWeights(
                    k: k, n: n, element: element, bias: biasOf, realMultiplier: { _ in 0.01 }, activation: activation,
                    variant: variant, inputZeroPoint: zeroPoint)
                let vnni = variant.isVNNI
                let bytes = Int8PackedWeights.panelBytes(k: k, n: n, vnni: vnni)
                var expected = [UInt8](repeating: 0, count: bytes)
                let kPairs = (k + 1) / 2
                let kGroups = (k + 3) / 4
                for row in 0..<k {
                    for column in 0..<n {
                        let value = element(row, column)
                        if vnni {
                            expected[(column / 16) * kGroups * 64 + (row / 4) * 64 + (column % 16) * 4 + row % 4] =
                                UInt8(bitPattern: value)
                        } else {
                            let at = ((column / 8) * kPairs + row / 2) * 16 + 2 * (column % 8) + row % 2
                            let v = UInt16(bitPattern: Int16(value))
                            (expected[2 * at], expected[2 * at + 1]) = (UInt8(v & 0xFF), UInt8(v >> 8))
                        }
                    }
                }
                let rows = [UInt8](UnsafeRawBufferPointer(start: fromRows.panels, count: bytes))
                let elements = [UInt8](UnsafeRawBufferPointer(start: fromElements.panels, count: bytes))
                #expect(rows == expected, "trial \(trial) \(variant) k \(k) n \(n): packed bytes differ")
                #expect(elements == expected, "trial \(trial) \(variant): the element initializer differs")
                for column in 0..<n {
                    let sum = (0..<k).reduce(Int32(0)) { $0 &+ Int32(element($1, column)) }
                    let bias = biasOf(column) &- (vnni ? (zeroPoint + 128) &* sum : 0)
                    #expect(fromRows.output.bias[column] == bias, "trial \(trial) \(variant) column \(column)")
                    #expect(fromElements.output.bias[column] == bias)
                }
            }
            let fits = w.withUnsafeBufferPointer {
                Int8GEMM.fitsMaddubs(k: k, n: n, weights: $0.baseAddress! + offset, rowStride: stride)
            }
            #expect(fits == Int8GEMM.fitsMaddubs(k: k, n: n, element: element), "trial \(trial)")
        }
    }

    /// A file is read whole at any size (empty, around the old 64 KB chunks), refused when
    /// over the limit (by a byte), cut at the limit with `prefix`, and a device with no size
    /// (`/dev/zero`) is read in chunks up to the limit.
    @Test func filesAreReadWholeOrRefusedAtTheLimit() throws {
        let path = NSTemporaryDirectory() + "cnnz-load-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rng = SplitMix64(seed: 3)
        for size in [0, 1, 65535, 65536, 65537, 200_001] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(try FileIO.readFile(path, limit: size) == bytes, "size \(size)")
            #expect(try FileIO.readFile(path, limit: size + 10) == bytes)
            if size > 0 {
                #expect(throws: CnnzError.self) { try FileIO.readFile(path, limit: size - 1) }
                let cut = size / 2
                #expect(try FileIO.readFile(path, limit: cut, prefix: true) == Array(bytes[0..<cut]))
            }
        }
        #expect(try FileIO.readFile("/dev/zero", limit: 100_000, prefix: true) == [UInt8](repeating: 0, count: 100_000))
        #expect(throws: CnnzError.self) { try FileIO.readFile("/dev/zero", limit: 100_000) }
    }
}
