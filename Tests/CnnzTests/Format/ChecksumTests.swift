import CZlib
import Dispatch
import Testing

@testable import Cnnz

/// The folded (PCLMULQDQ) CRC-32 against zlib's own table loop: every length up to a few
/// hundred bytes (the fold takes 64 at a time and 16-byte tails; the rest goes to zlib), every
/// start offset within a vector, continued CRCs, and a model-sized buffer.
@Suite struct ChecksumTests {
    /// Bytes from a fixed-seed generator: the same on every run and machine.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    @Test func knownCheckValue() {
        let ascii = Array("123456789".utf8)
        #expect(ascii.withUnsafeBytes { Compression.crc32($0) } == 0xCBF4_3926)
        let zeros = [UInt8](repeating: 0, count: 4096)
        #expect(
            zeros.withUnsafeBytes { czlib_crc32(0, $0.baseAddress, $0.count) }
                == zeros.withUnsafeBytes { czlib_crc32_table(0, $0.baseAddress, $0.count) })
    }

    /// `czlib_crc32_combine` against the CRC of the joined bytes and zlib's own `crc32_combine`,
    /// for splits at every length up to a few hundred bytes and at block-sized ones.
    @Test func combineMatchesTheJoinedBytes() {
        let data = Self.bytes(200_000, seed: 5)
        data.withUnsafeBytes { all in
            let whole = czlib_crc32_table(0, all.baseAddress, all.count)
            for split in Array(0...300) + [65_535, 65_536, 131_071, 199_999, 200_000] {
                let a = czlib_crc32(0, all.baseAddress, split)
                let b = czlib_crc32(0, all.baseAddress! + split, all.count - split)
                let count = all.count - split
                #expect(czlib_crc32_combine(a, b, count) == whole, "split at \(split)")
                #expect(czlib_crc32_shift(a, czlib_crc32_power(count)) ^ b == whole, "split at \(split)")
                #expect(UInt(czlib_crc32_combine(a, b, count)) == crc32_combine(uLong(a), uLong(b), .init(count)))
            }
        }
    }

    @Test func everyLengthAndOffsetMatchesZlib() {
        let data = Self.bytes(700, seed: 21)
        data.withUnsafeBytes { all in
            for offset in 0..<16 {
                for count in 0...(all.count - offset - 16) {
                    let start = all.baseAddress! + offset
                    let folded = czlib_crc32(0, start, count)
                    let table = czlib_crc32_table(0, start, count)
                    #expect(folded == table, "offset \(offset), \(count) bytes, folded: \(czlib_crc32_is_folded())")
                    if folded != table { return }
                }
            }
        }
    }

    @Test func continuedAndLargeCRCsMatchZlib() {
        let data = Self.bytes(3 << 20 | 77, seed: 5)
        data.withUnsafeBytes { all in
            let whole = czlib_crc32_table(0, all.baseAddress, all.count)
            #expect(czlib_crc32(0, all.baseAddress, all.count) == whole)
            for split in [1, 63, 64, 65, 1000, 1 << 20] {
                let first = czlib_crc32(0, all.baseAddress, split)
                #expect(czlib_crc32(first, all.baseAddress! + split, all.count - split) == whole, "split at \(split)")
            }
            #expect(
                czlib_crc32(0x1234_5678, all.baseAddress, 4096) == czlib_crc32_table(0x1234_5678, all.baseAddress, 4096)
            )
        }
    }

    /// Eight threads at once (the first calls in this process may be among them: models load
    /// from any thread), each with its own CRC equal to zlib's. The lazily cached CPU check is an
    /// atomic; Tests/c/run.sh runs the same calls under ThreadSanitizer, which reported the plain
    /// int it was before.
    @Test func concurrentCallsMatchZlib() {
        let data = Self.bytes(4096 + 77, seed: 9)
        let threads = 8
        let results = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: threads)
        defer { results.deallocate() }
        data.withUnsafeBytes { all in
            // Addresses as integers: the closure is @Sendable, and each thread writes its own slot.
            let (start, count) = (Int(bitPattern: all.baseAddress), all.count)
            let slots = Int(bitPattern: results.baseAddress)
            DispatchQueue.concurrentPerform(iterations: threads) { index in
                UnsafeMutablePointer<UInt32>(bitPattern: slots)![index] = czlib_crc32(
                    0, UnsafeRawPointer(bitPattern: start), count - index)
            }
            for index in 0..<threads {
                #expect(results[index] == czlib_crc32_table(0, all.baseAddress, count - index), "thread \(index)")
            }
        }
    }
}
