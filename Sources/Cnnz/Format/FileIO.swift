#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// File access through the C library: the engine does not depend on
/// Foundation, so that `libcnnz` needs nothing beyond the Swift runtime.
enum FileIO {
    private static func reason() -> String { String(cString: strerror(errno)) }

    /// Reads `fd` into `buffer` until it is full or the file ends, again after a read that a
    /// signal interrupted; returns the bytes read (fewer than `buffer.count`: the file ended).
    private static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String)
        throws(CnnzError) -> Int
    {
        var done = 0
        while done < buffer.count {
            let count = read(fd, buffer.baseAddress! + done, buffer.count - done)
            if count < 0 {
                if errno == EINTR { continue }
                throw .io("cannot read \(path): \(reason())")
            }
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// Reads a whole regular file of at most `limit` bytes; with `prefix`,
    /// reads the first `limit` bytes of a larger file instead of refusing it.
    /// `limitName` names the limit in messages ("the 1024-byte cap").
    static func readFile(_ path: String, limit: Int, limitName: String? = nil, prefix: Bool = false) throws(CnnzError)
        -> [UInt8]
    {
        let limitText = limitName ?? "the \(limit)-byte cap"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .io("cannot open \(path): no such file") }
            throw .io("cannot open \(path): \(reason())")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io("cannot read \(path): \(reason())") }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw .io("cannot read \(path): it is a directory") }
        var bytes: [UInt8] = []
        // Regular files report their size; pipes and devices are read in chunks up to the limit.
        var expected = (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : 0
        if prefix { expected = min(expected, limit) }
        guard expected <= limit else {
            throw .memory("\(path) is \(expected) bytes, larger than \(limitText)")
        }
        // The size the file reports, read straight into the array (a byte more, to see the end
        // of the file or that it grew); the rest, if any, in chunks. A read into a chunk and an
        // append were two copies of a model's bytes.
        var ended = false
        var failure: CnnzError?
        bytes = [UInt8](unsafeUninitializedCapacity: expected + 1) { buffer, initialized in
            do throws(CnnzError) {
                initialized = try readFully(fd, into: UnsafeMutableRawBufferPointer(buffer), path: path)
                ended = initialized < buffer.count
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        if bytes.count > limit {
            guard prefix else { throw .memory("\(path) is larger than \(limitText)") }
            bytes.removeLast(bytes.count - limit)
            return bytes
        }
        if ended { return bytes }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try chunk.withUnsafeMutableBytes { buffer in
                Result { () throws(CnnzError) in try readFully(fd, into: buffer, path: path) }
            }.get()
            if count == 0 { break }
            guard bytes.count + count <= limit else {
                if prefix {
                    bytes.append(contentsOf: chunk[0..<(limit - bytes.count)])
                    break
                }
                throw .memory("\(path) is larger than \(limitText)")
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// Reads a whole regular file of 2 MB or more and at most `limit` bytes into a
    /// `LoadBuffer` (a mapping in 2 MB pages, see PageArena), or returns nil for anything
    /// else, or a file that grows while it is read: `readFile` then reads it into an array
    /// (and refuses what it refuses). The file's bytes are the buffer's first `count`.
    static func readLarge(_ path: String, limit: Int) throws(CnnzError) -> (buffer: LoadBuffer, count: Int)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let expected = Int(info.st_size)
        guard expected >= PageArena.minimumBytes, expected <= limit else { return nil }
        // A byte more, to see the end of the file. Address space behind it for the model's
        // packed weights (`recycleFactor`), which then reuse the file's pages.
        let buffer = try LoadBuffer(
            count: expected + 1, reserve: PageArena.wholePagesAbove(expected + 1) * recycleFactor)
        let count = try readFully(fd, into: buffer.bytes, path: path)
        guard count <= expected else { return nil }
        return (buffer, count)
    }

    /// The address space `readLarge` maps per byte of the file, for the packed weights of the
    /// model in it (`PageArena.recycle`): cifar_vgg's are 3.1x its file (Winograd's matrices
    /// are 4x the 3x3 weights); a model whose weights take more gets a mapping of their own.
    static let recycleFactor = 5

    /// Writes `bytes` to a temporary file beside `path`, then renames it over
    /// `path`, so that no half-written file is ever left there.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(CnnzError) {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot write \(path): \(reason())") }
        var written = 0
        var failure: String?
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                failure = reason()
                break
            }
            written += count
        }
        if failure == nil && fsync(fd) != 0 { failure = reason() }
        if close(fd) != 0 && failure == nil { failure = reason() }
        if failure == nil && rename(temporary, path) != 0 { failure = reason() }
        if let failure {
            unlink(temporary)
            throw .io("cannot write \(path): \(failure)")
        }
    }
}
