import CZlib

/// zlib through the system library: one-shot compress, and an inflate that is
/// bounded by the size the caller expects.
enum Compression {
    /// zlib's CRC-32 of `bytes`, folded with PCLMULQDQ where the CPU has it (CZlib's shim.c).
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        return czlib_crc32(0, base, bytes.count)
    }

    /// Deflates `input` at level 9, or, when that saves less than an eighth of it, stores it
    /// (level 0: still a zlib stream, read the same way). Float weights barely compress (their
    /// mantissas are noise: cifar_vgg's 3.27 MB deflate by 8 %), and inflating Huffman codes
    /// ran at about 100 to 300 MB/s, most of a 3 MB model's load time; stored blocks inflate
    /// at the speed of a copy.
    static func compress(_ input: [UInt8]) throws(CnnzError) -> [UInt8] {
        let deflated = try compress(input, level: 9)
        return deflated.count < input.count - input.count / 8 ? deflated : try compress(input, level: 0)
    }

    private static func compress(_ input: [UInt8], level: Int32) throws(CnnzError) -> [UInt8] {
        let bound = Int(compressBound(uLong(input.count)))
        var output = [UInt8](repeating: 0, count: bound)
        var length = uLongf(bound)
        let status = output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { inp in
                compress2(out.baseAddress, &length, inp.baseAddress, uLong(inp.count), level)
            }
        }
        guard status == Z_OK else { throw .format("zlib compress2 failed with status \(status)") }
        output.removeSubrange(Int(length)...)
        return output
    }

    /// Inflates in place a zlib stream of stored blocks only (what `compress` writes for
    /// weights that do not compress), the stream at `buffer[streamStart...]` to its end: moves
    /// the blocks' bytes down to `buffer`'s start, over what precedes the stream, the stream's
    /// header and the blocks' headers, and returns true. Declines, returning false with nothing
    /// moved, anything else: a compressed block, a preset dictionary, a stream that does not
    /// hold exactly `payloadCount` bytes or does not end right after its Adler-32, a block
    /// whose two lengths disagree; `inflate` then says what zlib finds. Saves a loaded file's
    /// payload a buffer of its own (3.3 MB for cifar_vgg, in 2 MB pages that the kernel zeroes)
    /// and the copy into it. As in `inflate`, the Adler-32 is not computed: the caller checks
    /// the payload's CRC-32.
    static func inflateStoredInPlace(_ buffer: UnsafeMutableRawBufferPointer, streamStart: Int, payloadCount: Int)
        -> Bool
    {
        guard streamStart >= 0, streamStart <= buffer.count else { return false }
        let stream = UnsafeRawBufferPointer(rebasing: buffer[streamStart...])
        // First a walk that checks every block, then the moves: each block's bytes go below
        // its header, so no header is overwritten before it is read.
        guard storedBlocks(stream, payloadCount: payloadCount, { _, _ in }) else { return false }
        var written = 0
        _ = storedBlocks(stream, payloadCount: payloadCount) { from, count in
            (buffer.baseAddress! + written).copyMemory(from: stream.baseAddress! + from, byteCount: count)
            written += count
        }
        return true
    }

    /// The CRC-32 of a zlib stream of stored blocks only (`buffer[streamStart...]`, what
    /// `inflateStoredInPlace` accepts) and of the `payloadCount` bytes it holds, in one pass
    /// over the bytes: each block's CRC is computed once and combined into both
    /// (`czlib_crc32_combine`'s two halves, a multiplication per block of up to 64 KB), where two
    /// passes cost 0.3 ms of loading cifar_vgg's 3.27 MB. Nil, with nothing computed, for
    /// anything `inflateStoredInPlace` declines.
    static func storedChecksums(_ buffer: UnsafeRawBufferPointer, streamStart: Int, payloadCount: Int)
        -> (stream: UInt32, payload: UInt32)?
    {
        guard streamStart >= 0, streamStart <= buffer.count else { return nil }
        let stream = UnsafeRawBufferPointer(rebasing: buffer[streamStart...])
        guard storedBlocks(stream, payloadCount: payloadCount, { _, _ in }), let base = stream.baseAddress else {
            return nil
        }
        var streamCRC: UInt32 = 0
        var payloadCRC: UInt32 = 0
        var position = 0
        // x^(8 count) for the last block length seen: blocks are mostly 65,535 bytes.
        var (length, power) = (0, czlib_crc32_power(0))
        _ = storedBlocks(stream, payloadCount: payloadCount) { from, count in
            // The zlib header or the block's header, then its bytes.
            streamCRC = czlib_crc32(streamCRC, base + position, from - position)
            let block = czlib_crc32(0, base + from, count)
            if count != length { (length, power) = (count, czlib_crc32_power(count)) }
            streamCRC = czlib_crc32_shift(streamCRC, power) ^ block
            payloadCRC = czlib_crc32_shift(payloadCRC, power) ^ block
            position = from + count
        }
        // The Adler-32 after the last block.
        streamCRC = czlib_crc32(streamCRC, base + position, stream.count - position)
        return (streamCRC, payloadCRC)
    }

    /// Walks a zlib stream of stored blocks only, calling `visit` with each block's bytes
    /// (offset in `stream`, count), and returns true; returns false (after visiting some
    /// blocks) at anything else: a compressed block, a preset dictionary, a stream that does
    /// not hold exactly `payloadCount` bytes or does not end right after its Adler-32, a block
    /// whose two lengths disagree.
    private static func storedBlocks(
        _ stream: UnsafeRawBufferPointer, payloadCount: Int, _ visit: (_ from: Int, _ count: Int) -> Void
    ) -> Bool {
        let n = stream.count
        // RFC 1950: deflate (CM 8) with a window zlib accepts, the header's check, no dictionary.
        guard payloadCount >= 0, n >= 2 else { return false }
        let (cmf, flg) = (Int(stream[0]), Int(stream[1]))
        guard cmf & 0x0F == 8, cmf >> 4 <= 7, (cmf * 256 + flg) % 31 == 0, flg & 0x20 == 0 else { return false }
        // RFC 1951 stored blocks: a byte holding BFINAL and BTYPE 00, then LEN and its complement.
        var position = 2
        var total = 0
        while true {
            guard n - position >= 5 else { return false }
            let header = stream[position]
            let length = Int(stream[position + 1]) | Int(stream[position + 2]) << 8
            let complement = Int(stream[position + 3]) | Int(stream[position + 4]) << 8
            guard header & 0x06 == 0, length == ~complement & 0xFFFF else { return false }
            position += 5
            guard length <= n - position, length <= payloadCount - total else { return false }
            visit(position, length)
            position += length
            total += length
            if header & 1 == 1 { break }
        }
        return total == payloadCount && n - position == 4
    }

    /// Inflates `input` into exactly `output.count` bytes. zlib never writes
    /// past `output`; a stream that holds more or fewer bytes is an error.
    /// The stream's own Adler-32 is not computed: callers check the inflated
    /// bytes against the header's CRC-32 (ModelReader does, before it parses).
    static func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CnnzError) {
        var length = output.count
        var sourceLength = input.count
        let status = czlib_uncompress_unverified(
            output.baseAddress?.assumingMemoryBound(to: UInt8.self), &length,
            input.baseAddress?.assumingMemoryBound(to: UInt8.self), &sourceLength)
        switch status {
        case Z_OK:
            guard Int(length) == output.count else {
                throw .format("payload: inflates to \(length) bytes, the header declares \(output.count)")
            }
            guard Int(sourceLength) == input.count else {
                throw .format("payload: \(input.count - Int(sourceLength)) bytes follow the end of the zlib stream")
            }
        case Z_BUF_ERROR:
            if Int(length) == output.count {
                throw .format("payload: inflates to more than the \(output.count) bytes the header declares")
            }
            throw .format(
                "payload: the zlib stream is truncated (inflated \(length) of \(output.count) declared bytes)")
        case Z_DATA_ERROR:
            throw .format("payload: the zlib stream is corrupt (inflated \(length) bytes before the error)")
        case Z_MEM_ERROR:
            throw .memory("payload: zlib ran out of memory")
        default:
            throw .format("payload: zlib failed with status \(status)")
        }
    }
}
