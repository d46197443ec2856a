#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Zeroed float memory aligned for SIMD loads, freed when the owner goes away.
/// Allocated with `posix_memalign`, so that running out of memory is a
/// `CnnzError.memory`, not an abort (the C API promises `CNNZ_ERROR_MEMORY`).
final class AlignedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>

    init(floats count: Int) throws(CnnzError) {
        let floats = Swift.max(count, 16)
        guard floats <= Int.max / 8 else { throw .memory("cannot allocate \(floats) floats") }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, floats * 4) == 0, let raw else {
            throw .memory("out of memory: cannot allocate \(MemoryBudget.describe(floats * 4))")
        }
        pointer = raw.initializeMemory(as: Float.self, repeating: 0, count: floats)
    }

    deinit { free(pointer) }

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
