import CZlib
import Foundation
import Testing

@testable import Cnnz

/// A load's large buffers in mappings of 2 MB pages (PageArena): the arena's allocations,
/// buffers carved from it, and a model file of more than 2 MB read, decoded and prepared
/// through them, against the same bytes loaded from memory and a plain computation.
struct PageArenaTests {
    /// Nothing under 2 MB; a 2 MB-aligned start; zeroed bytes on 64-byte boundaries, none
    /// overlapping, until the capacity, then nil.
    @Test func anArenaHandsOutZeroedAlignedBytesUntilItIsFull() throws {
        #expect(PageArena.make(bytes: PageArena.minimumBytes - 1) == nil)
        let arena = try #require(PageArena.make(bytes: 2 * PageArena.hugePageBytes))
        #expect(arena.capacity == 2 * PageArena.hugePageBytes)
        let first = try #require(arena.allocate(1))
        #expect(UInt(bitPattern: first) % UInt(PageArena.hugePageBytes) == 0)
        var end = first + 1
        for size in [1, 63, 64, 65, 4096, 12345, 1 << 20] {
            let p = try #require(arena.allocate(size))
            #expect(UInt(bitPattern: p) % 64 == 0 && p >= end, "\(size) bytes")
            let bytes = UnsafeMutableRawBufferPointer(start: p, count: size)
            #expect(bytes.allSatisfy { $0 == 0 }, "\(size) bytes")
            bytes.initializeMemory(as: UInt8.self, repeating: 0xA5)
            end = p + size
        }
        #expect(arena.allocate(arena.capacity) == nil)
        let left = arena.capacity - (arena.used + 63) / 64 * 64
        #expect(arena.allocate(left + 1) == nil)
        #expect(arena.allocate(left) != nil)
        #expect(arena.allocate(1) == nil)
        #expect(PageArena.wholePagesAbove(PageArena.hugePageBytes + 1) == 2 * PageArena.hugePageBytes)
        #expect(PageArena.wholePagesBelow(2 * PageArena.hugePageBytes - 1) == PageArena.hugePageBytes)
    }

    /// An `AlignedBuffer` takes the arena's bytes when they fit (zeroed, without a memset) and
    /// keeps the mapping alive after every other reference has gone; one that does not fit
    /// comes from malloc, zeroed too.
    @Test func buffersCarvedFromAnArenaKeepItAlive() throws {
        var arena = PageArena.make(bytes: PageArena.hugePageBytes)
        let small = try AlignedBuffer(floats: 1000, arena: arena)
        let used = arena?.used ?? 0
        #expect(used == 4000)
        let large = try AlignedBuffer(floats: PageArena.hugePageBytes / 4, arena: arena)
        #expect(arena?.used == used, "the large buffer does not fit: malloc")
        arena = nil
        for i in 0..<1000 {
            #expect(small.pointer[i] == 0)
            small.pointer[i] = Float(i)
        }
        #expect((0..<1000).allSatisfy { small.pointer[$0] == Float($0) })
        #expect((0..<(PageArena.hugePageBytes / 4)).allSatisfy { large.pointer[$0] == 0 })
        for count in [1, 100, PageArena.hugePageBytes, 3 << 20] {
            let buffer = try LoadBuffer(count: count)
            #expect(buffer.bytes.count == count && UInt(bitPattern: buffer.bytes.baseAddress!) % 64 == 0)
            buffer.bytes.initializeMemory(as: UInt8.self, repeating: 7)
        }
    }

    /// A file's mapping recycled for packed weights: made with address space behind it,
    /// written, then started over larger (as `ExecutionPlan` does): every byte it hands out
    /// again is zero, written ones and never-touched ones alike, up to the new capacity;
    /// recycling beyond the mapping gives it all back and hands out nothing.
    @Test func aRecycledArenaHandsOutZeroedBytesAgain() throws {
        let huge = PageArena.hugePageBytes
        // memcmp and memset: a debug build's byte loops took a minute over these megabytes.
        let zeros = [UInt8](repeating: 0, count: 2 * huge)
        func isZero(_ p: UnsafeMutableRawPointer, _ count: Int) -> Bool {
            zeros.withUnsafeBytes { memcmp($0.baseAddress!, p, count) == 0 }
        }
        let arena = try #require(PageArena.make(bytes: 2 * huge, reserving: 5 * huge))
        #expect(arena.capacity == 2 * huge)
        let file = try #require(arena.allocate(huge + 12345))
        memset(file, 0xA5, huge + 12345)
        #expect(arena.recycle(bytes: 4 * huge))
        #expect(arena.capacity == 4 * huge && arena.used == 0)
        for size in [100, 4096, huge, 1 << 20, huge - 8192] {
            let p = try #require(arena.allocate(size), "\(size) bytes")
            #expect(isZero(p, size), "\(size) bytes")
            memset(p, 0x5A, size)
        }
        #expect(arena.allocate(arena.capacity - arena.used + 1) == nil)
        // Smaller again: what is left is zeroed too.
        #expect(arena.recycle(bytes: huge))
        let again = try #require(arena.allocate(huge))
        #expect(isZero(again, huge))
        #expect(!arena.recycle(bytes: 2 * huge))
        #expect(arena.capacity == 0 && arena.allocate(64) == nil)
        let plain = try #require(PageArena.make(bytes: huge))
        #expect(!plain.recycle(bytes: huge + 4096) && plain.allocate(64) == nil)
    }

    /// A model of more than 2 MB (a 1024x768 Dense): `FileIO.readLarge` reads its file
    /// whole into a mapping (and declines one over the limit, which `readFile` refuses);
    /// `Model(contentsOfFile:)` loads what `Model(bytes:)` loads and computes the product;
    /// a file cut short, with a byte changed, or over the memory budget fails as its bytes do.
    @Test func aLargeModelFileLoadsAsItsBytesDo() throws {
        let (k, n) = (1024, 768)
        var rng = SplitMix64(seed: 27)
        let w = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        let description = ModelDescription(
            name: "large", labels: [], preprocessing: Preprocessing(),
            graph: Graph(
                inputShape: TensorShape(height: 1, width: 1, channels: k),
                layers: [Layer(kind: .dense(units: n, hasBias: true), inputs: [0], weights: [0, 1])]),
            tensors: [Tensor(shape: [k, n], values: w), Tensor(shape: [n], values: b)], selfTest: nil)
        let bytes = try ModelWriter.encode(description)
        #expect(bytes.count >= PageArena.minimumBytes)
        let path = try Fixtures.temporaryDirectory().appendingPathComponent("large.cnnz").path
        try ModelWriter.write(bytes, to: path)
        let read = try #require(try FileIO.readLarge(path, limit: bytes.count))
        #expect(read.count == bytes.count)
        #expect(Array(UnsafeRawBufferPointer(rebasing: read.buffer.bytes[0..<read.count])) == bytes)
        #expect(try FileIO.readLarge(path, limit: bytes.count - 1) == nil)

        let fromFile = try Model(contentsOfFile: path)
        let fromBytes = try Model(bytes: bytes)
        #expect(fromFile.contents == description && fromBytes.contents == description)
        #expect(fromFile.memoryBytes == fromBytes.memoryBytes)
        let x = (0..<k).map { _ in Float.random(in: -1...1, using: &rng) }
        let y = try fromFile.predict(x)
        #expect(try fromBytes.predict(x) == y)
        for j in 0..<n {
            let expected = (0..<k).reduce(Double(b[j])) { $0 + Double(x[$1]) * Double(w[$1 * n + j]) }
            #expect(abs(Double(y[j]) - expected) <= 1e-3, "output \(j)")
        }

        var changed = bytes
        changed[bytes.count / 2] ^= 0x10
        for (what, file) in [("cut short", Array(bytes.dropLast())), ("a byte changed", changed)] {
            try ModelWriter.write(file, to: path)
            let fileError = #expect(throws: CnnzError.self, "\(what)") { try Model(contentsOfFile: path) }
            let bytesError = #expect(throws: CnnzError.self, "\(what)") { try Model(bytes: file) }
            #expect(fileError == bytesError?.prefixed("\(path): "), "\(what)")
        }
        try ModelWriter.write(bytes, to: path)
        let budget = LoadOptions(maxMemory: bytes.count - 1)
        let refused = #expect(throws: CnnzError.self) { try Model(contentsOfFile: path, options: budget) }
        #expect(refused?.message.hasPrefix("\(path) is \(bytes.count) bytes, larger than the memory budget") == true)
    }

    /// A stream of stored blocks inflates in place (over the bytes before it) to what zlib
    /// inflates it to, its Adler-32 unchecked as there; anything else is declined with
    /// nothing moved: a stream cut short, a byte after it, a payload declared a byte longer or
    /// shorter, a block whose lengths disagree, a last block not marked final, a preset
    /// dictionary, a compressed block.
    @Test func aStoredStreamInflatesInPlaceAsZlibDoesOrIsDeclined() throws {
        var rng = SplitMix64(seed: 41)
        // FLG with FDICT set and the header's check right (CMF 0x78).
        let dictionaryFlags: UInt8 = 0xBB
        #expect((0x78 * 256 + Int(dictionaryFlags)) % 31 == 0 && dictionaryFlags & 0x20 != 0)
        for size in [0, 1, 1000, 65_535, 65_536, 200_000] {
            let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let stored = StoredPayloadTests.storedStream(payload)
            let blockCount: Int = max(1, (size + 65_534) / 65_535)
            let lastHeader: Int = 2 + (blockCount - 1) * (5 + 65_535)
            var adler = stored
            adler[adler.count - 1] ^= 0x11
            var lengths = stored
            lengths[5] ^= 0x01
            var notFinal = stored
            notFinal[lastHeader] &= 0xFE
            var dictionary = stored
            dictionary[1] = dictionaryFlags
            var deflated = [UInt8](repeating: 0, count: Int(compressBound(uLong(size + 1000))))
            var deflatedCount = uLongf(deflated.count)
            let zeros = [UInt8](repeating: 0, count: size + 1000)
            #expect(compress2(&deflated, &deflatedCount, zeros, uLong(zeros.count), 9) == Z_OK)
            var cases: [(String, [UInt8], Int, Bool)] = [
                ("whole", stored, size, true), ("its Adler-32 changed", adler, size, true),
                ("cut short", Array(stored.dropLast()), size, false), ("a byte after", stored + [0], size, false),
                ("declared longer", stored, size + 1, false), ("lengths disagree", lengths, size, false),
                ("last block not final", notFinal, size, false), ("a preset dictionary", dictionary, size, false),
                ("compressed", Array(deflated[0..<Int(deflatedCount)]), zeros.count, false),
            ]
            if size > 0 { cases.append(("declared shorter", stored, size - 1, false)) }
            for (what, stream, declared, accepted) in cases {
                var expected = [UInt8](repeating: 0, count: declared)
                let zlib = expected.withUnsafeMutableBytes { out in
                    stream.withUnsafeBytes { (try? Compression.inflate($0, into: out)) != nil }
                }
                var buffer = [UInt8](repeating: 0xEE, count: 48) + stream
                let before = buffer
                // The one-pass checksums: for what the move accepts, the CRC-32s of the stream
                // and of the payload; nil for the rest.
                let checksums = buffer.withUnsafeBytes {
                    Compression.storedChecksums($0, streamStart: 48, payloadCount: declared)
                }
                #expect((checksums != nil) == accepted, "\(what), \(size) bytes")
                if let checksums {
                    #expect(checksums.stream == stream.withUnsafeBytes { Compression.crc32($0) }, "\(what)")
                    #expect(checksums.payload == payload.withUnsafeBytes { Compression.crc32($0) }, "\(what)")
                }
                let inPlace = buffer.withUnsafeMutableBytes {
                    Compression.inflateStoredInPlace($0, streamStart: 48, payloadCount: declared)
                }
                #expect(inPlace == accepted, "\(what), \(size) bytes")
                if inPlace {
                    #expect(zlib && Array(buffer[0..<declared]) == expected, "\(what), \(size) bytes")
                    #expect(Array(buffer[0..<declared]) == payload, "\(what), \(size) bytes")
                } else {
                    #expect(buffer == before, "\(what), \(size) bytes: declined, yet bytes moved")
                }
            }
        }
    }
}
