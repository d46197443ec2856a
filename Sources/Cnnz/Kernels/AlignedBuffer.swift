#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Zeroed memory aligned for SIMD loads (64 bytes), freed when the owner goes away.
/// Allocated with `posix_memalign`, so that running out of memory is a
/// `CnnzError.memory`, not an abort (the C API promises `CNNZ_ERROR_MEMORY`).
final class AlignedBuffer: @unchecked Sendable {
    /// The start of the memory, untyped (a session's arena holds every element type).
    let raw: UnsafeMutableRawPointer
    /// The memory as floats, for a buffer made with `init(floats:)`.
    var pointer: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }

    /// The arena the memory was carved from (kept alive by this buffer), or nil when it was
    /// allocated on its own (then freed in `deinit`).
    private let arena: PageArena?

    /// `count` zeroed floats (at least 16), from `arena` when it has room.
    convenience init(floats count: Int, arena: PageArena? = nil) throws(CnnzError) {
        let floats = Swift.max(count, 16)
        guard floats <= Int.max / 8 else { throw .memory("cannot allocate \(floats) floats") }
        try self.init(bytes: floats * 4, arena: arena)
        raw.bindMemory(to: Float.self, capacity: floats)
    }

    /// `count` zeroed bytes (at least 64), to be bound to each value's element
    /// type by the kernel that writes it; from `arena` (a model's prepared weights) when it
    /// has room.
    init(bytes count: Int, arena: PageArena? = nil) throws(CnnzError) {
        let bytes = Swift.max(count, 64)
        guard bytes <= Int.max / 2 else { throw .memory("cannot allocate \(bytes) bytes") }
        if let arena, let raw = arena.allocate(bytes) {
            self.raw = raw
            self.arena = arena
            return
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            throw .memory("out of memory: cannot allocate \(MemoryBudget.describe(bytes))")
        }
        memset(raw, 0, bytes)
        self.raw = raw
        self.arena = nil
    }

    deinit { if arena == nil { free(raw) } }

    /// `count` uninitialized bytes (at least 1) aligned to `alignment`, or
    /// `CnnzError.memory` when the system has none left. Free with `deallocate()`.
    static func bytes(_ count: Int, alignment: Int) throws(CnnzError) -> UnsafeMutableRawBufferPointer {
        var raw: UnsafeMutableRawPointer?
        guard count >= 0, posix_memalign(&raw, alignment, Swift.max(count, 1)) == 0, let raw else {
            throw .memory("out of memory: cannot allocate \(MemoryBudget.describe(count))")
        }
        return UnsafeMutableRawBufferPointer(start: raw, count: count)
    }

    /// Throws `CnnzError.memory` when `count` bytes cannot be allocated now.
    /// For the Swift arrays the public types hold (`Tensor.values`): Swift
    /// aborts when an array cannot be allocated, so a large one is tried with
    /// `malloc` first (with the budget already checked, this only fails when
    /// the system itself is out of memory, e.g. under `ulimit -v`).
    static func probe(_ count: Int) throws(CnnzError) {
        guard count >= 1 << 16 else { return }
        guard let raw = malloc(count) else {
            throw .memory("out of memory: cannot allocate \(MemoryBudget.describe(count))")
        }
        free(raw)
    }
}
