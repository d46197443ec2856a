import CZlib
import Testing

@testable import Cnnz

/// Payloads inflate without zlib's Adler-32 (the loading cost of a 3 MB model): the header's
/// CRC-32 of the inflated payload is what vouches for it. Files whose payload is a zlib stream of
/// stored blocks, as convert writes for weights that do not compress, built by hand here.
@Suite struct StoredPayloadTests {
    /// `payload` as a zlib stream of stored blocks (RFC 1950/1951), with its Adler-32.
    static func storedStream(_ payload: [UInt8]) -> [UInt8] {
        var stream: [UInt8] = [0x78, 0x01]
        var start = 0
        repeat {
            let count = min(payload.count - start, 65_535)
            let final: UInt8 = start + count == payload.count ? 1 : 0
            stream += [
                final, UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF),
            ]
            stream += payload[start..<(start + count)]
            start += count
        } while start < payload.count
        let adler = payload.withUnsafeBufferPointer {
            UInt32(adler32(adler32(0, nil, 0), $0.baseAddress, uInt($0.count)))
        }
        return stream + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: adler >> UInt32($0)) }
    }

    /// The tiny model's file with `stream` as its compressed payload: sizes and the compressed
    /// checksum set to match it, the payload's checksum left as the writer computed it.
    static func file(withStream stream: [UInt8]) -> [UInt8] {
        var file = Array(FormatTests.tinyBytes[0..<ModelFormat.headerSize]) + stream
        let crc = stream.withUnsafeBytes { Compression.crc32($0) }
        file = FormatTests.patchHeader(file, at: 24, UInt64(stream.count), width: 8)
        return FormatTests.patchHeader(file, at: 36, UInt64(crc), width: 4)
    }

    @Test func aStoredPayloadLoadsWhateverItsAdler32() throws {
        let payload = try FormatTests.payload(of: FormatTests.tinyBytes)
        let expected = try ModelReader.decode(FormatTests.tinyBytes)
        var stream = Self.storedStream(payload)
        #expect(try ModelReader.decode(Self.file(withStream: stream)) == expected)
        stream[stream.count - 1] ^= 0x5A
        #expect(try ModelReader.decode(Self.file(withStream: stream)) == expected)
    }

    @Test func aChangedByteBehindTheCompressedChecksumIsRefusedByThePayloadChecksum() throws {
        let payload = try FormatTests.payload(of: FormatTests.tinyBytes)
        for offset in [0, payload.count / 2, payload.count - 1] {
            var stream = Self.storedStream(payload)
            stream[2 + 5 + offset] ^= 0x01
            do {
                _ = try Model(bytes: Self.file(withStream: stream))
                Issue.record("loaded a payload changed at byte \(offset)")
            } catch {
                #expect(error.message.hasPrefix("payload: checksum mismatch"), "byte \(offset): \(error.message)")
            }
        }
    }
}
