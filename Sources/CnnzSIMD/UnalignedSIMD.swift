// Unaligned SIMD8 loads and stores on float pointers: activations are NHWC
// rows whose channel counts need not be multiples of 8. A module of its own,
// with @inlinable bodies, so that they inline into every kernel file even in
// debug builds, which compile files separately (no cross-file inlining).

extension UnsafePointer where Pointee == Float {
    @inlinable @inline(__always)
    public func vector8(_ offset: Int) -> SIMD8<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inlinable @inline(__always)
    public func vector8(_ offset: Int) -> SIMD8<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inlinable @inline(__always)
    public func store8(_ value: SIMD8<Float>, _ offset: Int) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: value, as: SIMD8<Float>.self)
    }
}

/// The lane-wise maximum as a compare and a select (maxps), without the
/// stdlib's `pointwiseMax`, which keeps IEEE NaN rules lane by lane and ran
/// as scalar code.
@inlinable @inline(__always)
public func laneMax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    a.replacing(with: b, where: b .> a)
}
