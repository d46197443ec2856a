#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One anonymous mapping, 2 MB-aligned and, on Linux, advised for transparent huge pages
/// (`MADV_HUGEPAGE`), for the large buffers of a load: the file's bytes, the inflated
/// payload, and all of a model's prepared (packed) weights, which the kernels'
/// `AlignedBuffer`s are carved from while `ExecutionPlan` prepares them.
///
/// Why: on a virtual machine a fresh 4 KB page is costly. On the Firecracker VM of the
/// README's figures, touching 16 MB of fresh memory page by page took 10 ms when the
/// guest's free pages were hot, 15 to 45 ms when the host had taken them back, and about
/// as long populated in one `madvise(MADV_POPULATE_WRITE)` call; in 2 MB pages 1.2 to 2 ms
/// (a fault per 2 MB instead of per 4 KB). glibc maps each allocation above its mmap
/// threshold afresh and gives big blocks back when they are freed, so every load of a
/// model faulted its buffers page by page (cifar_vgg: about 4,100 faults for a process's
/// first load). Only whole 2 MB ranges inside the mapping become huge pages: the tail, and
/// a buffer under 2 MB (`make` returns nil), stay in 4 KB pages, so no memory is held
/// beyond the bytes asked for (for weights, what the memory budget reserved: the kernels'
/// `preparedBytes`).
///
/// Bump allocation, never freed piecemeal: the mapping lives while any buffer carved from
/// it does (each holds a reference). Only the thread loading a model allocates; afterwards
/// the arena is never written through, hence `@unchecked Sendable`.
final class PageArena: @unchecked Sendable {
    /// The mapping's start (2 MB-aligned where the arena has a huge page's worth).
    private let base: UnsafeMutableRawPointer
    /// The bytes `allocate` may hand out: a whole number of pages.
    private(set) var capacity: Int
    /// The mapping's bytes (from `base`): `capacity`, or more when the arena was made with
    /// room to be recycled (`make(bytes:reserving:)`), until `recycle` gives the rest back.
    private var mapped: Int
    /// Bytes handed out so far, each allocation starting on a 64-byte boundary.
    private(set) var used = 0
    /// Bytes below this offset were written before `recycle`: `allocate` zeroes what it hands
    /// out below it (the rest of the mapping was never touched, so is still zero).
    private var dirty = 0

    static let hugePageBytes = 2 << 20
    /// Below this, buffers come from malloc as before: a small model's come from the heap's
    /// reused memory, where a mapping of its own would fault every page.
    static let minimumBytes = hugePageBytes

    /// An arena of `bytes` (rounded up to 4 KB pages), or nil when `bytes` is below
    /// `minimumBytes` or the system refuses the mapping (the caller then allocates as it
    /// would without one). Callers ask for whole 2 MB pages: a tail past the last one would
    /// take a fault per 4 KB (up to 511 of them, as many as the rest of the arena).
    static func make(bytes: Int) -> PageArena? {
        guard bytes >= minimumBytes, bytes <= Int.max / 4 else { return nil }
        return PageArena(bytes: bytes, reserving: bytes)
    }

    /// As `make(bytes:)`, with address space for `reserve` bytes mapped behind them
    /// (`MAP_NORESERVE`: untouched pages are neither memory nor committed) so that `recycle`
    /// can later make the arena that large without moving it. Falls back to `make(bytes:)`
    /// when the system refuses the larger mapping.
    static func make(bytes: Int, reserving reserve: Int) -> PageArena? {
        guard bytes >= minimumBytes, bytes <= Int.max / 4 else { return nil }
        if reserve > bytes, reserve <= Int.max / 4, let arena = PageArena(bytes: bytes, reserving: reserve) {
            return arena
        }
        return PageArena(bytes: bytes, reserving: bytes)
    }

    /// `bytes` rounded up to whole 2 MB pages.
    static func wholePagesAbove(_ bytes: Int) -> Int { (bytes + hugePageBytes - 1) / hugePageBytes * hugePageBytes }
    /// `bytes` rounded down to whole 2 MB pages.
    static func wholePagesBelow(_ bytes: Int) -> Int { bytes / hugePageBytes * hugePageBytes }

    private init?(bytes: Int, reserving reserve: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = (bytes + page - 1) / page * page
        let whole = (reserve + page - 1) / page * page
        let huge = Self.hugePageBytes
        // Mapped with a huge page's worth more, then trimmed to a 2 MB-aligned start: only a
        // 2 MB-aligned range can be a huge page.
        let span = whole + huge
        var flags = MAP_PRIVATE | MAP_ANONYMOUS
        #if os(Linux)
            if whole > size { flags |= MAP_NORESERVE }
        #endif
        guard let mapped = mmap(nil, span, PROT_READ | PROT_WRITE, flags, -1, 0),
            mapped != UnsafeMutableRawPointer(bitPattern: -1)  // MAP_FAILED, which Darwin does not import
        else { return nil }
        let address = UInt(bitPattern: mapped)
        let start = (address + UInt(huge - 1)) & ~UInt(huge - 1)
        let head = Int(start - address)
        if head > 0 { munmap(mapped, head) }
        let tail = span - head - whole
        let base = UnsafeMutableRawPointer(bitPattern: start)!
        if tail > 0 { munmap(base + whole, tail) }
        #if os(Linux)
            // Advice only: where the system has huge pages turned off, the pages stay 4 KB.
            _ = madvise(base, whole, MADV_HUGEPAGE)
        #endif
        self.base = base
        capacity = size
        self.mapped = whole
    }

    /// Starts the arena over for another use, at least `bytes` long (rounded up to 4 KB
    /// pages), when its mapping has room for them (`make(bytes:reserving:)`); gives back the
    /// mapping past them and returns true. Otherwise gives back the whole mapping (the arena
    /// then hands out nothing) and returns false. Either way what was handed out before must
    /// no longer be in use: `allocate` hands those bytes out again, zeroed. For a model's packed weights in
    /// the mapping the file was read into: its pages are already in memory, where a new
    /// mapping's would each be zeroed by the kernel on their first touch (cifar_vgg: 4 of its
    /// 14 MB of new pages, about 0.4 ms on this VM, for a memset of the file's 3.3 MB).
    func recycle(bytes: Int) -> Bool {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard bytes >= 0, bytes <= mapped else {
            munmap(base, mapped)
            (mapped, capacity, used, dirty) = (0, 0, 0, 0)
            return false
        }
        let size = (bytes + page - 1) / page * page
        if size < mapped { munmap(base + size, mapped - size) }
        mapped = size
        capacity = size
        dirty = Swift.min(Swift.max(dirty, used), size)
        used = 0
        return true
    }

    /// `count` zeroed bytes on a 64-byte boundary, or nil when they do not fit (the caller
    /// then allocates them itself). Fresh anonymous memory is zero: only bytes written before
    /// a `recycle` are zeroed here.
    func allocate(_ count: Int) -> UnsafeMutableRawPointer? {
        let start = (used + 63) & ~63
        guard count >= 0, count <= capacity - start else { return nil }
        used = start + count
        if start < dirty { memset(base + start, 0, Swift.min(count, dirty - start)) }
        return base + start
    }

    deinit { if mapped > 0 { munmap(base, mapped) } }
}

/// A buffer a load needs for a while (the file's bytes, the inflated payload): uninitialized
/// bytes in a `PageArena` of their own from 2 MB up, else from `posix_memalign` (64-byte
/// aligned either way), freed with the buffer. Keep it alive while `bytes` is in use
/// (`withExtendedLifetime`). The mapping is rounded up to whole 2 MB pages: at most 2 MB
/// more, for the length of a load (the kernel's pages round a mapping up the same way, by
/// 4 KB); the memory budget counts the bytes asked for, as it does for other buffers.
final class LoadBuffer {
    let bytes: UnsafeMutableRawBufferPointer
    /// The mapping `bytes` are in, or nil for malloc's memory. Once the bytes are no longer
    /// needed, the arena can be recycled for a model's packed weights (`PageArena.recycle`).
    let arena: PageArena?

    /// `reserve`: address space to map behind the buffer for a later `recycle` (see
    /// `PageArena.make(bytes:reserving:)`); none by default.
    init(count: Int, reserve: Int = 0) throws(CnnzError) {
        let pages = PageArena.wholePagesAbove(count)
        if let arena = PageArena.make(bytes: pages, reserving: Swift.max(reserve, pages)),
            let start = arena.allocate(count)
        {
            self.arena = arena
            bytes = UnsafeMutableRawBufferPointer(start: start, count: count)
        } else {
            arena = nil
            bytes = try AlignedBuffer.bytes(count, alignment: 64)
        }
    }

    deinit { if arena == nil { bytes.deallocate() } }
}
