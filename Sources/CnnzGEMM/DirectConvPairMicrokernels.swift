// Compiled three times, as GEMMMicrokernels.swift is (symbolic links in
// CnnzGEMMAVX2 and CnnzGEMMAVX512).

/// The direct convolution's tiles for exactly 12 filters (seed002's conv0 and conv1): pairs
/// of pixels whose 24 outputs fill 3 vectors, so no lane is wasted (see
/// `DirectConvMicrokernels` for the layout every tile shares).
extension DirectConvMicrokernels {
    /// 8 pixels x 12 filters as 4 pairs of pixels (the AVX-512 build's): a pair's 24
    /// outputs, contiguous in NHWC, are 3 vectors of 8 whose middle one holds the first
    /// pixel's filters 8..<12 and the second's 0..<4, multiplied by the two pixels'
    /// taps blended (one vblendps). Every lane computes an output, where a 16-wide tile
    /// wastes 4 of 16 on 12 filters (seed002's conv0 and conv1): 12 FMAs per tap for 8
    /// pixels instead of 6. `packed` is `[kernelRows * run, 24]`, each tap's 12 weights
    /// twice, `bias` likewise; pixels are stored 12 floats apart (the tile holds all
    /// the layer's filters). 12 accumulators, 3 weight vectors and the broadcasts: more
    /// than AVX2's 16 registers, so only the AVX-512 build (32) runs it. Each output is
    /// the bias then the taps in order, the same chain as the other tiles.
    public static func f32Conv8x12PairBroadcast(
        pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int, rowStride: Int, run: Int,
        packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        clamp: GEMMMicrokernels.Clamp
    ) {
        pairTile(
            fourPairs: true, pixels: pixels, origins: origins, kernelRows: kernelRows, rowStride: rowStride,
            run: run, packed: packed, bias: bias, c: c, clamp: clamp)
    }

    /// 6 pixels x 12 filters as 3 pairs of pixels, `f32Conv8x12PairBroadcast`'s scheme in
    /// 16 ymm registers (the AVX2 build's): 9 accumulators, 3 weight vectors, the two
    /// broadcasts of a pair and their blend. 9 FMAs per tap for 6 pixels where the 6 x 16
    /// tile issues 12, a third of whose lanes are past the 12 filters (seed002's conv0 and
    /// conv1). `packed` is `[kernelRows * run, 24]`, each tap's 12 weights twice, `bias`
    /// likewise; pixels are stored 12 floats apart. Each output is the bias then the taps
    /// in order, the same chain as the other tiles.
    public static func f32Conv6x12PairBroadcast(
        pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int, rowStride: Int, run: Int,
        packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        clamp: GEMMMicrokernels.Clamp
    ) {
        pairTile(
            fourPairs: false, pixels: pixels, origins: origins, kernelRows: kernelRows, rowStride: rowStride,
            run: run, packed: packed, bias: bias, c: c, clamp: clamp)
    }

    /// Both pair tiles' loops: 4 pairs (8 pixels) when `fourPairs`, else 3 (6 pixels). A
    /// constant in each inlined copy, so the 6-pixel copy has no fourth pair's
    /// accumulators, loads or stores (the same code as when it was written out apart).
    @inline(__always)
    static func pairTile(
        fourPairs: Bool, pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int,
        rowStride: Int, run: Int, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, clamp: GEMMMicrokernels.Clamp
    ) {
        let tile = fourPairs ? 8 : 6
        // Lanes 4..<8 of the middle vector belong to the pair's second pixel.
        let second = SIMDMask<SIMD8<Int32>>(SIMD8<Int32>(0, 0, 0, 0, -1, -1, -1, -1))
        let b0 = UnsafeRawPointer(bias).load(as: SIMD8<Float>.self)
        let b1 = UnsafeRawPointer(bias + 8).load(as: SIMD8<Float>.self)
        let b2 = UnsafeRawPointer(bias + 16).load(as: SIMD8<Float>.self)
        var p = 0
        while p < pixels {
            let last = min(tile, pixels - p) - 1
            let a0 = origins[p]
            let a1 = origins[p &+ min(1, last)]
            let a2 = origins[p &+ min(2, last)]
            let a3 = origins[p &+ min(3, last)]
            let a4 = origins[p &+ min(4, last)]
            let a5 = origins[p &+ (fourPairs ? min(5, last) : last)]
            let a6 = fourPairs ? origins[p &+ min(6, last)] : a5
            let a7 = fourPairs ? origins[p &+ last] : a5
            var c00 = b0
            var c01 = b1
            var c02 = b2
            var c10 = b0
            var c11 = b1
            var c12 = b2
            var c20 = b0
            var c21 = b1
            var c22 = b2
            var c30 = b0
            var c31 = b1
            var c32 = b2
            var w = UnsafeRawPointer(packed)
            for ky in 0..<kernelRows {
                let row = ky &* rowStride
                let r0 = a0 + row
                let r1 = a1 + row
                let r2 = a2 + row
                let r3 = a3 + row
                let r4 = a4 + row
                let r5 = a5 + row
                let r6 = a6 + row
                let r7 = a7 + row
                var t = 0
                while t < run {
                    let w0 = w.load(as: SIMD8<Float>.self)
                    let w1 = w.load(fromByteOffset: 32, as: SIMD8<Float>.self)
                    let w2 = w.load(fromByteOffset: 64, as: SIMD8<Float>.self)
                    let x0 = SIMD8(repeating: r0[t])
                    let y0 = SIMD8(repeating: r1[t])
                    GEMMMicrokernels.accumulate(&c00, x0, w0)
                    GEMMMicrokernels.accumulate(&c01, x0.replacing(with: y0, where: second), w1)
                    GEMMMicrokernels.accumulate(&c02, y0, w2)
                    let x1 = SIMD8(repeating: r2[t])
                    let y1 = SIMD8(repeating: r3[t])
                    GEMMMicrokernels.accumulate(&c10, x1, w0)
                    GEMMMicrokernels.accumulate(&c11, x1.replacing(with: y1, where: second), w1)
                    GEMMMicrokernels.accumulate(&c12, y1, w2)
                    let x2 = SIMD8(repeating: r4[t])
                    let y2 = SIMD8(repeating: r5[t])
                    GEMMMicrokernels.accumulate(&c20, x2, w0)
                    GEMMMicrokernels.accumulate(&c21, x2.replacing(with: y2, where: second), w1)
                    GEMMMicrokernels.accumulate(&c22, y2, w2)
                    if fourPairs {
                        let x3 = SIMD8(repeating: r6[t])
                        let y3 = SIMD8(repeating: r7[t])
                        GEMMMicrokernels.accumulate(&c30, x3, w0)
                        GEMMMicrokernels.accumulate(&c31, x3.replacing(with: y3, where: second), w1)
                        GEMMMicrokernels.accumulate(&c32, y3, w2)
                    }
                    w += 96
                    t &+= 1
                }
            }
            // Pair i holds pixels 2i and 2i + 1: 24 floats, or 12 when only the first is valid.
            let out = c + p &* 12
            store24(c00, c01, c02, out, last > 0 ? 24 : 12, clamp)
            if last > 1 { store24(c10, c11, c12, out + 24, last > 2 ? 24 : 12, clamp) }
            if last > 3 { store24(c20, c21, c22, out + 48, last > 4 ? 24 : 12, clamp) }
            if fourPairs && last > 5 { store24(c30, c31, c32, out + 72, last > 6 ? 24 : 12, clamp) }
            p += tile
        }
    }

    @_transparent
    static func store24(
        _ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ v2: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>,
        _ columns: Int, _ clamp: GEMMMicrokernels.Clamp
    ) {
        GEMMMicrokernels.store16(v0, v1, out, min(columns, 16), clamp)
        if columns > 16 { GEMMMicrokernels.store(v2, out + 16, columns - 16, clamp) }
    }
}
