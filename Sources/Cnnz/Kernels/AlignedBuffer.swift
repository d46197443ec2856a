/// Float memory aligned for SIMD loads, freed when the owner goes away.
final class AlignedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>

    init(floats count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 16) * 4, alignment: 64)
        pointer = raw.initializeMemory(as: Float.self, repeating: 0, count: Swift.max(count, 16))
    }

    deinit { pointer.deallocate() }
}
