// Compiled three times, as GEMMMicrokernels.swift is (symbolic links in
// CnnzGEMMAVX2 and CnnzGEMMAVX512).

/// One accumulator of the float32 microkernels: 8 floats (a ymm register with AVX2) or 16
/// (a zmm register in the AVX-512 build), each operation the concrete width's. A tile
/// written once as a generic over it (`DirectConvMicrokernels.eightPixelTile`,
/// `DepthwiseMicrokernels.f32DWConv3x3FourThenOne`) is inlined into each caller, so every
/// copy is that width's code.
protocol TileVector {
    /// Floats per vector.
    static var lanes: Int { get }
    /// `lanes` floats at `p`, not necessarily aligned.
    static func load(_ p: UnsafePointer<Float>) -> Self
    /// `self += SIMD(repeating: a) * b`, one FMA per lane with CNNZ_FMA.
    mutating func accumulate(_ a: Float, _ b: Self)
    /// `self += a * b`, one FMA per lane with CNNZ_FMA.
    mutating func accumulate(_ a: Self, _ b: Self)
    /// Clamped, the first `columns` lanes stored at `out`.
    func store(_ out: UnsafeMutablePointer<Float>, _ columns: Int, _ clamp: GEMMMicrokernels.Clamp)
}

extension SIMD8: TileVector where Scalar == Float {
    static var lanes: Int { 8 }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Self { DepthwiseMicrokernels.load8(p) }

    @inline(__always)
    mutating func accumulate(_ a: Float, _ b: Self) { GEMMMicrokernels.accumulate(&self, a, b) }

    @inline(__always)
    mutating func accumulate(_ a: Self, _ b: Self) { GEMMMicrokernels.accumulate(&self, a, b) }

    @inline(__always)
    func store(_ out: UnsafeMutablePointer<Float>, _ columns: Int, _ clamp: GEMMMicrokernels.Clamp) {
        GEMMMicrokernels.store(self, out, columns, clamp)
    }
}

extension SIMD16: TileVector where Scalar == Float {
    static var lanes: Int { 16 }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Self { DepthwiseMicrokernels.load16(p) }

    @inline(__always)
    mutating func accumulate(_ a: Float, _ b: Self) { GEMMMicrokernels.accumulate16(&self, a, b) }

    @inline(__always)
    mutating func accumulate(_ a: Self, _ b: Self) { DepthwiseMicrokernels.accumulate16(&self, a, b) }

    @inline(__always)
    func store(_ out: UnsafeMutablePointer<Float>, _ columns: Int, _ clamp: GEMMMicrokernels.Clamp) {
        GEMMMicrokernels.store16(self, out, columns, clamp)
    }
}
