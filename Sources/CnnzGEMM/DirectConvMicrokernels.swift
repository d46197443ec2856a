// Compiled three times, as GEMMMicrokernels.swift is (symbolic links in
// CnnzGEMMAVX2 and CnnzGEMMAVX512); the engine calls the AVX2 + FMA build.

/// Direct convolution microkernels (an implicit GEMM without im2col), NHWC.
/// Output pixel `p`'s window row `ky` is the `run` contiguous floats at
/// `origins[p] + ky * rowStride` (`kernelWidth * channels`: the layer is
/// ungrouped and undilated along x, and the caller has copied padded rows
/// between zeros), so the taps are read where they lie, in im2col's
/// (ky, kx, c) order; pixel `p` is stored at `c + p * ldc`. The tile is `pixels x width` outputs: one
/// broadcast of each pixel's tap feeds one FMA per 8 output channels, as
/// XNNPACK's `f32_igemm_minmax` kernels do, with tiles chosen per layer so a
/// layer of 12, 25 or 50 filters wastes at most 7 columns (the GEMM's 16-wide
/// panels waste up to 15). Each output is the bias then the taps in order,
/// the same chain of multiply-adds as im2col + GEMM computes, whatever pixel
/// block or thread computes it. `packed` is `[kernelRows * run, width]`
/// (columns past the layer's filters zero), `bias` `width` floats, both
/// 32-byte aligned; `columns` (at most the tile width) are stored per pixel,
/// `ldc` floats apart. Pixels past `pixels` alias the last one (XNNPACK's
/// trick), so the inner loop has no branches. `spill`: the tile holds all the
/// layer's filters (`ldc == columns`), so every pixel but the last of a block
/// is stored whole, its columns past `columns` landing in the next pixel,
/// which is stored after it; the partial store's four narrower moves then
/// happen once per block, not per pixel (seed002's 12 filters).
public enum DirectConvMicrokernels {
    /// 8 pixels x 8 channels: 8 accumulators.
    public static func f32Conv8x8Broadcast(
        pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int, rowStride: Int, run: Int,
        packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
        columns: Int, spill: Bool, clamp: GEMMMicrokernels.Clamp
    ) {
        eightPixelTile(
            SIMD8<Float>.self, pixels: pixels, origins: origins, kernelRows: kernelRows, rowStride: rowStride,
            run: run, packed: packed, bias: bias, c: c, ldc: ldc, columns: columns, spill: spill, clamp: clamp)
    }

    /// 6 pixels x 16 channels: 12 accumulators, two weight vectors per tap. This and the
    /// 4 x 24 and 8 x 32 tiles stay written out: their pixel and vector counts are what fills
    /// each register file, and a generic over both would bury the unrolled schedule.
    public static func f32Conv6x16Broadcast(
        pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int, rowStride: Int, run: Int,
        packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
        columns: Int, spill: Bool, clamp: GEMMMicrokernels.Clamp
    ) {
        var p = 0
        while p < pixels {
            let last = min(6, pixels - p) - 1
            let a0 = origins[p]
            let a1 = origins[p &+ min(1, last)]
            let a2 = origins[p &+ min(2, last)]
            let a3 = origins[p &+ min(3, last)]
            let a4 = origins[p &+ min(4, last)]
            let a5 = origins[p &+ last]
            let low = UnsafeRawPointer(bias).load(as: SIMD8<Float>.self)
            let high = UnsafeRawPointer(bias + 8).load(as: SIMD8<Float>.self)
            var c0l = low
            var c0h = high
            var c1l = low
            var c1h = high
            var c2l = low
            var c2h = high
            var c3l = low
            var c3h = high
            var c4l = low
            var c4h = high
            var c5l = low
            var c5h = high
            var w = UnsafeRawPointer(packed)
            for ky in 0..<kernelRows {
                let row = ky &* rowStride
                let r0 = a0 + row
                let r1 = a1 + row
                let r2 = a2 + row
                let r3 = a3 + row
                let r4 = a4 + row
                let r5 = a5 + row
                var t = 0
                while t < run {
                    let bl = w.load(as: SIMD8<Float>.self)
                    let bh = w.load(fromByteOffset: 32, as: SIMD8<Float>.self)
                    let x0 = SIMD8(repeating: r0[t])
                    GEMMMicrokernels.accumulate(&c0l, x0, bl)
                    GEMMMicrokernels.accumulate(&c0h, x0, bh)
                    let x1 = SIMD8(repeating: r1[t])
                    GEMMMicrokernels.accumulate(&c1l, x1, bl)
                    GEMMMicrokernels.accumulate(&c1h, x1, bh)
                    let x2 = SIMD8(repeating: r2[t])
                    GEMMMicrokernels.accumulate(&c2l, x2, bl)
                    GEMMMicrokernels.accumulate(&c2h, x2, bh)
                    let x3 = SIMD8(repeating: r3[t])
                    GEMMMicrokernels.accumulate(&c3l, x3, bl)
                    GEMMMicrokernels.accumulate(&c3h, x3, bh)
                    let x4 = SIMD8(repeating: r4[t])
                    GEMMMicrokernels.accumulate(&c4l, x4, bl)
                    GEMMMicrokernels.accumulate(&c4h, x4, bh)
                    let x5 = SIMD8(repeating: r5[t])
                    GEMMMicrokernels.accumulate(&c5l, x5, bl)
                    GEMMMicrokernels.accumulate(&c5h, x5, bh)
                    w += 64
                    t &+= 1
                }
            }
            let out = c + p * ldc
            let full = spill ? 16 : columns
            GEMMMicrokernels.store16(c0l, c0h, out, last > 0 ? full : columns, clamp)
            if last > 0 { GEMMMicrokernels.store16(c1l, c1h, out + ldc, last > 1 ? full : columns, clamp) }
            if last > 1 { GEMMMicrokernels.store16(c2l, c2h, out + 2 * ldc, last > 2 ? full : columns, clamp) }
            if last > 2 { GEMMMicrokernels.store16(c3l, c3h, out + 3 * ldc, last > 3 ? full : columns, clamp) }
            if last > 3 { GEMMMicrokernels.store16(c4l, c4h, out + 4 * ldc, last > 4 ? full : columns, clamp) }
            if last > 4 { GEMMMicrokernels.store16(c5l, c5h, out + 5 * ldc, columns, clamp) }
            p += 6
        }
    }

    /// 4 pixels x 24 channels: 12 accumulators, three weight vectors per tap.
    public static func f32Conv4x24Broadcast(
        pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int, rowStride: Int, run: Int,
        packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
        columns: Int, spill: Bool, clamp: GEMMMicrokernels.Clamp
    ) {
        var p = 0
        while p < pixels {
            let last = min(4, pixels - p) - 1
            let a0 = origins[p]
            let a1 = origins[p &+ min(1, last)]
            let a2 = origins[p &+ min(2, last)]
            let a3 = origins[p &+ last]
            let b0 = UnsafeRawPointer(bias).load(as: SIMD8<Float>.self)
            let b1 = UnsafeRawPointer(bias + 8).load(as: SIMD8<Float>.self)
            let b2 = UnsafeRawPointer(bias + 16).load(as: SIMD8<Float>.self)
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
                var t = 0
                while t < run {
                    let w0 = w.load(as: SIMD8<Float>.self)
                    let w1 = w.load(fromByteOffset: 32, as: SIMD8<Float>.self)
                    let w2 = w.load(fromByteOffset: 64, as: SIMD8<Float>.self)
                    let x0 = SIMD8(repeating: r0[t])
                    GEMMMicrokernels.accumulate(&c00, x0, w0)
                    GEMMMicrokernels.accumulate(&c01, x0, w1)
                    GEMMMicrokernels.accumulate(&c02, x0, w2)
                    let x1 = SIMD8(repeating: r1[t])
                    GEMMMicrokernels.accumulate(&c10, x1, w0)
                    GEMMMicrokernels.accumulate(&c11, x1, w1)
                    GEMMMicrokernels.accumulate(&c12, x1, w2)
                    let x2 = SIMD8(repeating: r2[t])
                    GEMMMicrokernels.accumulate(&c20, x2, w0)
                    GEMMMicrokernels.accumulate(&c21, x2, w1)
                    GEMMMicrokernels.accumulate(&c22, x2, w2)
                    let x3 = SIMD8(repeating: r3[t])
                    GEMMMicrokernels.accumulate(&c30, x3, w0)
                    GEMMMicrokernels.accumulate(&c31, x3, w1)
                    GEMMMicrokernels.accumulate(&c32, x3, w2)
                    w += 96
                    t &+= 1
                }
            }
            let out = c + p * ldc
            let full = spill ? 24 : columns
            store24(c00, c01, c02, out, last > 0 ? full : columns, clamp)
            if last > 0 { store24(c10, c11, c12, out + ldc, last > 1 ? full : columns, clamp) }
            if last > 1 { store24(c20, c21, c22, out + 2 * ldc, last > 2 ? full : columns, clamp) }
            if last > 2 { store24(c30, c31, c32, out + 3 * ldc, columns, clamp) }
            p += 4
        }
    }

    /// 8 pixels x 32 filters, two 16-float vectors per pixel (zmm registers in the
    /// AVX-512 build, the only one the engine calls): 16 accumulators, one broadcast
    /// of each pixel's tap for 32 filters where two 16-wide tiles broadcast it twice
    /// and walk the (short: 3 to 27 taps) window of a first layer twice (fashion_cnn's
    /// and cifar_vgg's 32-filter conv0), and one pass for 25 to 31 filters (seed002's
    /// 25, `spill` set) where two 16-wide tiles made two. `packed` is `[kernelRows * run, 32]`.
    public static func f32Conv8x32Broadcast(
        pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int, rowStride: Int, run: Int,
        packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
        columns: Int, spill: Bool, clamp: GEMMMicrokernels.Clamp
    ) {
        let low = UnsafeRawPointer(bias).load(as: SIMD16<Float>.self)
        let high = UnsafeRawPointer(bias + 16).load(as: SIMD16<Float>.self)
        var p = 0
        while p < pixels {
            let last = min(8, pixels - p) - 1
            let a0 = origins[p]
            let a1 = origins[p &+ min(1, last)]
            let a2 = origins[p &+ min(2, last)]
            let a3 = origins[p &+ min(3, last)]
            let a4 = origins[p &+ min(4, last)]
            let a5 = origins[p &+ min(5, last)]
            let a6 = origins[p &+ min(6, last)]
            let a7 = origins[p &+ last]
            var c0l = low
            var c0h = high
            var c1l = low
            var c1h = high
            var c2l = low
            var c2h = high
            var c3l = low
            var c3h = high
            var c4l = low
            var c4h = high
            var c5l = low
            var c5h = high
            var c6l = low
            var c6h = high
            var c7l = low
            var c7h = high
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
                    let bl = w.load(as: SIMD16<Float>.self)
                    let bh = w.load(fromByteOffset: 64, as: SIMD16<Float>.self)
                    GEMMMicrokernels.accumulate16(&c0l, r0[t], bl)
                    GEMMMicrokernels.accumulate16(&c0h, r0[t], bh)
                    GEMMMicrokernels.accumulate16(&c1l, r1[t], bl)
                    GEMMMicrokernels.accumulate16(&c1h, r1[t], bh)
                    GEMMMicrokernels.accumulate16(&c2l, r2[t], bl)
                    GEMMMicrokernels.accumulate16(&c2h, r2[t], bh)
                    GEMMMicrokernels.accumulate16(&c3l, r3[t], bl)
                    GEMMMicrokernels.accumulate16(&c3h, r3[t], bh)
                    GEMMMicrokernels.accumulate16(&c4l, r4[t], bl)
                    GEMMMicrokernels.accumulate16(&c4h, r4[t], bh)
                    GEMMMicrokernels.accumulate16(&c5l, r5[t], bl)
                    GEMMMicrokernels.accumulate16(&c5h, r5[t], bh)
                    GEMMMicrokernels.accumulate16(&c6l, r6[t], bl)
                    GEMMMicrokernels.accumulate16(&c6h, r6[t], bh)
                    GEMMMicrokernels.accumulate16(&c7l, r7[t], bl)
                    GEMMMicrokernels.accumulate16(&c7h, r7[t], bh)
                    w += 128
                    t &+= 1
                }
            }
            let out = c + p * ldc
            let full = spill ? 32 : columns
            store32(c0l, c0h, out, last > 0 ? full : columns, clamp)
            if last > 0 { store32(c1l, c1h, out + ldc, last > 1 ? full : columns, clamp) }
            if last > 1 { store32(c2l, c2h, out + 2 * ldc, last > 2 ? full : columns, clamp) }
            if last > 2 { store32(c3l, c3h, out + 3 * ldc, last > 3 ? full : columns, clamp) }
            if last > 3 { store32(c4l, c4h, out + 4 * ldc, last > 4 ? full : columns, clamp) }
            if last > 4 { store32(c5l, c5h, out + 5 * ldc, last > 5 ? full : columns, clamp) }
            if last > 5 { store32(c6l, c6h, out + 6 * ldc, last > 6 ? full : columns, clamp) }
            if last > 6 { store32(c7l, c7h, out + 7 * ldc, columns, clamp) }
            p += 8
        }
    }

    /// 8 pixels x 16 filters, one 16-float vector per pixel (a zmm register in the
    /// AVX-512 build, the only one the engine calls): 8 accumulators, each tap one
    /// weight load and 8 FMAs whose broadcast LLVM folds into the FMA's operand
    /// (`{1to16}`), where AVX2's 6 x 16 tile issues 6 broadcasts and 12 FMAs for 6
    /// pixels; 9 to 16 filters (mobile_res's 16-filter first layer). `packed` is
    /// `[kernelRows * run, 16]`. With 16 columns every store is one whole vector: that
    /// case is compiled apart, without the partial stores' out-of-line call, around which
    /// the accumulators were saved to the stack at every block (18 % of the tile's time).
    public static func f32Conv8x16Broadcast(
        pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int, rowStride: Int, run: Int,
        packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
        columns: Int, spill: Bool, clamp: GEMMMicrokernels.Clamp
    ) {
        if columns == 16 {
            eightPixelTile(
                SIMD16<Float>.self, pixels: pixels, origins: origins, kernelRows: kernelRows, rowStride: rowStride,
                run: run, packed: packed, bias: bias, c: c, ldc: ldc, columns: 16, spill: false, clamp: clamp)
        } else {
            eightPixelTile(
                SIMD16<Float>.self, pixels: pixels, origins: origins, kernelRows: kernelRows, rowStride: rowStride,
                run: run, packed: packed, bias: bias, c: c, ldc: ldc, columns: columns, spill: spill, clamp: clamp)
        }
    }

    /// The 8-pixel tiles of one vector per pixel (`f32Conv8x8Broadcast`'s SIMD8,
    /// `f32Conv8x16Broadcast`'s SIMD16): written once, inlined into each, so every copy
    /// is the concrete type's code (the vector's own FMA, load and store). The bias is
    /// loaded once per call for 16 lanes (a zmm register of 32 holds it), once per block
    /// for 8 (held in one of 16 ymm registers, it was spilled around the partial stores).
    @inline(__always)
    static func eightPixelTile<Vector: TileVector>(
        _: Vector.Type, pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int, rowStride: Int,
        run: Int, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
        columns: Int, spill: Bool, clamp: GEMMMicrokernels.Clamp
    ) {
        let hoisted = UnsafeRawPointer(bias).load(as: Vector.self)
        var p = 0
        while p < pixels {
            let last = min(8, pixels - p) - 1
            let a0 = origins[p]
            let a1 = origins[p &+ min(1, last)]
            let a2 = origins[p &+ min(2, last)]
            let a3 = origins[p &+ min(3, last)]
            let a4 = origins[p &+ min(4, last)]
            let a5 = origins[p &+ min(5, last)]
            let a6 = origins[p &+ min(6, last)]
            let a7 = origins[p &+ last]
            let start = Vector.lanes == 16 ? hoisted : UnsafeRawPointer(bias).load(as: Vector.self)
            var c0 = start
            var c1 = start
            var c2 = start
            var c3 = start
            var c4 = start
            var c5 = start
            var c6 = start
            var c7 = start
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
                    let b = w.load(as: Vector.self)
                    c0.accumulate(r0[t], b)
                    c1.accumulate(r1[t], b)
                    c2.accumulate(r2[t], b)
                    c3.accumulate(r3[t], b)
                    c4.accumulate(r4[t], b)
                    c5.accumulate(r5[t], b)
                    c6.accumulate(r6[t], b)
                    c7.accumulate(r7[t], b)
                    w += MemoryLayout<Vector>.size
                    t &+= 1
                }
            }
            let out = c + p * ldc
            let full = spill ? Vector.lanes : columns
            c0.store(out, last > 0 ? full : columns, clamp)
            if last > 0 { c1.store(out + ldc, last > 1 ? full : columns, clamp) }
            if last > 1 { c2.store(out + 2 * ldc, last > 2 ? full : columns, clamp) }
            if last > 2 { c3.store(out + 3 * ldc, last > 3 ? full : columns, clamp) }
            if last > 3 { c4.store(out + 4 * ldc, last > 4 ? full : columns, clamp) }
            if last > 4 { c5.store(out + 5 * ldc, last > 5 ? full : columns, clamp) }
            if last > 5 { c6.store(out + 6 * ldc, last > 6 ? full : columns, clamp) }
            if last > 6 { c7.store(out + 7 * ldc, columns, clamp) }
            p += 8
        }
    }

    @_transparent
    static func store32(
        _ low: SIMD16<Float>, _ high: SIMD16<Float>, _ out: UnsafeMutablePointer<Float>, _ columns: Int,
        _ clamp: GEMMMicrokernels.Clamp
    ) {
        GEMMMicrokernels.store16(low, out, min(columns, 16), clamp)
        if columns > 16 { GEMMMicrokernels.store16(high, out + 16, columns - 16, clamp) }
    }
}
