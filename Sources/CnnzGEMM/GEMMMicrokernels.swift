// This file is compiled three times: in CnnzGEMM for baseline x86-64 (SSE2)
// and every other architecture, and, through symbolic links, in CnnzGEMMAVX2
// (`-target-cpu haswell`, CNNZ_FMA) and CnnzGEMMAVX512 (`-target-cpu
// skylake-avx512`, CNNZ_FMA). The engine calls a CPU-specific build only after
// checking the CPU at run time (CCPUFeatures), so one binary runs everywhere.
// Names follow XNNPACK's: element type, tile (rows x columns), loading scheme;
// the instruction set is the module's. The multiply-add, clamp and stores they
// share are in GEMMStores.swift.

/// GEMM microkernels: `C[m, n] = clamp(A[m, k] * B[k, n] + bias[n])` with `B`
/// packed in panels of `panelWidth` columns (`k` rows of contiguous floats per
/// panel, zero-filled past `n`) and `bias` padded to the panels. Every output
/// element is the same chain of multiply-adds, `bias[j]` then k = 0, 1, ...,
/// whichever tile computes its row, so results do not depend on how rows are
/// split across threads. Rows past `m` alias the last valid row, so the inner
/// loop has no branches (XNNPACK's trick); only the valid rows and columns are
/// stored. The clamp (ReLU, ReLU6, none) is applied in the store, as
/// XNNPACK's `minmax` kernels do, instead of a second pass over the output:
/// `low = x > minimum ? x : minimum`, then `low < maximum ? low : maximum`
/// (NaN becomes `minimum`, as the engine's separate ReLU pass does).
/// With a `residual` (rows `ldc` apart, like `c`), each result is added to the
/// residual's element before the clamp: a convolution and the Add that takes its
/// output, in one pass (`value + residual`, then the clamp: what the Add kernel
/// computes from the stored value).
public enum GEMMMicrokernels {
    /// What the store applies.
    @frozen public struct Clamp {
        public let minimum: Float
        public let maximum: Float
        /// False for a linear output: stored as computed (NaN stays NaN).
        public let isActive: Bool

        public init(minimum: Float, maximum: Float, isActive: Bool) {
            self.minimum = minimum
            self.maximum = maximum
            self.isActive = isActive
        }
    }

    /// 4 rows x 8 columns: 8 SSE accumulators of 4 floats, the widest tile
    /// that does not spill on baseline x86-64 (16 xmm registers). Panels of 8.
    /// Written out apart from the 8 x 16 tile, as every tile here is: rows and vectors per
    /// row are what each register file holds, and the stores differ (8 x 16 adds a whole
    /// row's residual in line).
    public static func f32GEMM4x8Broadcast(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, clamp: Clamp,
        residual: UnsafePointer<Float>? = nil
    ) {
        let panels = (n + 7) / 8
        var row = 0
        while row < m {
            let a0 = a + row * lda
            let a1 = row + 1 < m ? a0 + lda : a0
            let a2 = row + 2 < m ? a1 + lda : a1
            let a3 = row + 3 < m ? a2 + lda : a2
            let rows = min(4, m - row)
            for panel in 0..<panels {
                let b = UnsafeRawPointer(packed + panel * k * 8)
                let start = UnsafeRawPointer(bias + panel * 8).load(as: SIMD8<Float>.self)
                var c0 = start
                var c1 = start
                var c2 = start
                var c3 = start
                var kk = 0
                while kk < k {
                    let bv = b.load(fromByteOffset: kk &* 32, as: SIMD8<Float>.self)
                    accumulate(&c0, a0[kk], bv)
                    accumulate(&c1, a1[kk], bv)
                    accumulate(&c2, a2[kk], bv)
                    accumulate(&c3, a3[kk], bv)
                    kk &+= 1
                }
                let at = row * ldc + panel * 8
                let out = c + at
                let r = offset(residual, at)
                let width = min(8, n - panel * 8)
                store(c0, out, width, clamp, adding: r)
                if rows > 1 { store(c1, out + ldc, width, clamp, adding: offset(r, ldc)) }
                if rows > 2 { store(c2, out + 2 * ldc, width, clamp, adding: offset(r, 2 * ldc)) }
                if rows > 3 { store(c3, out + 3 * ldc, width, clamp, adding: offset(r, 3 * ldc)) }
            }
            row += 4
        }
    }

    /// 6 rows x 16 columns for AVX2 + FMA: 12 accumulators of 8 floats, two B
    /// vectors loaded per k and each A broadcast feeding two FMAs (XNNPACK's
    /// `6x16__fma3_broadcast`; its default is the 5 x 16). Each accumulator is a
    /// chain of k dependent 4-cycle FMAs; with 10 chains and 2 FMAs a cycle a chain
    /// had one cycle of slack per step, and the pointwise convolutions of MobileNet-like
    /// models (k = 16...128) ran at 48-69 GFLOP/s of ~83, most of the loss a fixed
    /// cost per tile (about 57 cycles) that 12 chains, and 6-row tiles that divide their
    /// 2304, 576, 144 and 36 rows (5 left a 1- or 4-row tile), cut. A last single row runs
    /// the 1 x 16 tile instead of six aliased rows.
    public static func f32GEMM6x16Broadcast(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, clamp: Clamp,
        residual: UnsafePointer<Float>? = nil
    ) {
        // Two copies of the tile: with the residual's sum in line in its stores, and without.
        if let residual {
            gemm6x16(
                m: m, k: k, n: n, a: a, lda: lda, packed: packed, bias: bias, c: c, ldc: ldc, clamp: clamp,
                residual: residual, adding: true)
        } else {
            gemm6x16(
                m: m, k: k, n: n, a: a, lda: lda, packed: packed, bias: bias, c: c, ldc: ldc, clamp: clamp,
                residual: UnsafePointer(c), adding: false)
        }
    }

    /// `f32GEMM6x16Broadcast`'s loops; `adding`: whether `residual` is added in the store
    /// (a constant in each inlined copy).
    @_transparent
    static func gemm6x16(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, clamp: Clamp,
        residual: UnsafePointer<Float>, adding: Bool
    ) {
        let panels = (n &+ 15) / 16
        var row = 0
        while row < m {
            let rows = min(6, m &- row)
            let a0 = a + row &* lda
            if rows == 1 {
                f32GEMM1x16Broadcast(
                    k: k, n: n, a: a0, packed: packed, bias: bias, c: c + row &* ldc, clamp: clamp,
                    residual: adding ? residual + row &* ldc : nil)
                return
            }
            let a1 = a0 + lda
            let a2 = rows > 2 ? a1 + lda : a1
            let a3 = rows > 3 ? a2 + lda : a2
            let a4 = rows > 4 ? a3 + lda : a3
            let a5 = rows > 5 ? a4 + lda : a4
            var panel = 0
            while panel < panels {
                let b = UnsafeRawPointer(packed + panel &* k &* 16)
                let biasLow = UnsafeRawPointer(bias + panel &* 16).load(as: SIMD8<Float>.self)
                let biasHigh = UnsafeRawPointer(bias + (panel &* 16 &+ 8)).load(as: SIMD8<Float>.self)
                var c0l = biasLow
                var c0h = biasHigh
                var c1l = biasLow
                var c1h = biasHigh
                var c2l = biasLow
                var c2h = biasHigh
                var c3l = biasLow
                var c3h = biasHigh
                var c4l = biasLow
                var c4h = biasHigh
                var c5l = biasLow
                var c5h = biasHigh
                var kk = 0
                while kk < k {
                    let bl = b.load(fromByteOffset: kk &* 64, as: SIMD8<Float>.self)
                    let bh = b.load(fromByteOffset: kk &* 64 &+ 32, as: SIMD8<Float>.self)
                    let x0 = SIMD8(repeating: a0[kk])
                    accumulate(&c0l, x0, bl)
                    accumulate(&c0h, x0, bh)
                    let x1 = SIMD8(repeating: a1[kk])
                    accumulate(&c1l, x1, bl)
                    accumulate(&c1h, x1, bh)
                    let x2 = SIMD8(repeating: a2[kk])
                    accumulate(&c2l, x2, bl)
                    accumulate(&c2h, x2, bh)
                    let x3 = SIMD8(repeating: a3[kk])
                    accumulate(&c3l, x3, bl)
                    accumulate(&c3h, x3, bh)
                    let x4 = SIMD8(repeating: a4[kk])
                    accumulate(&c4l, x4, bl)
                    accumulate(&c4h, x4, bh)
                    let x5 = SIMD8(repeating: a5[kk])
                    accumulate(&c5l, x5, bl)
                    accumulate(&c5h, x5, bh)
                    kk &+= 1
                }
                let at = row &* ldc &+ panel &* 16
                let out = c + at
                let r = residual + at
                let width = min(16, n &- panel &* 16)
                if width == 16 {
                    // Whole rows in line (the partial last panel goes out of line below).
                    storeRow16(c0l, c0h, out, clamp, r, adding)
                    storeRow16(c1l, c1h, out + ldc, clamp, r + ldc, adding)
                    if rows > 2 { storeRow16(c2l, c2h, out + 2 &* ldc, clamp, r + 2 &* ldc, adding) }
                    if rows > 3 { storeRow16(c3l, c3h, out + 3 &* ldc, clamp, r + 3 &* ldc, adding) }
                    if rows > 4 { storeRow16(c4l, c4h, out + 4 &* ldc, clamp, r + 4 &* ldc, adding) }
                    if rows > 5 { storeRow16(c5l, c5h, out + 5 &* ldc, clamp, r + 5 &* ldc, adding) }
                } else {
                    let s: UnsafePointer<Float>? = adding ? r : nil
                    store16(c0l, c0h, out, width, clamp, adding: s)
                    store16(c1l, c1h, out + ldc, width, clamp, adding: offset(s, ldc))
                    if rows > 2 { store16(c2l, c2h, out + 2 &* ldc, width, clamp, adding: offset(s, 2 &* ldc)) }
                    if rows > 3 { store16(c3l, c3h, out + 3 &* ldc, width, clamp, adding: offset(s, 3 &* ldc)) }
                    if rows > 4 { store16(c4l, c4h, out + 4 &* ldc, width, clamp, adding: offset(s, 4 &* ldc)) }
                    if rows > 5 { store16(c5l, c5h, out + 5 &* ldc, width, clamp, adding: offset(s, 5 &* ldc)) }
                }
                panel &+= 1
            }
            row &+= 6
        }
    }

    /// A whole 16-float row of a tile: plus the residual's when `adding` (the sum as
    /// `storeAdding` computes it), clamped, stored.
    @_transparent
    static func storeRow16(
        _ low: SIMD8<Float>, _ high: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ clamp: Clamp,
        _ residual: UnsafePointer<Float>, _ adding: Bool
    ) {
        if adding {
            let r = UnsafeRawPointer(residual)
            store16(
                low + r.loadUnaligned(as: SIMD8<Float>.self),
                high + r.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), out, 16, clamp)
        } else {
            store16(low, high, out, 16, clamp)
        }
    }

    /// 1 row x 16 columns (a matrix-vector product: Dense at batch 1). Eight
    /// accumulators hide the FMA latency: four panels side by side, each chain
    /// still summing k in order (splitting k into interleaved chains would
    /// change the sum, and results must not depend on the tile). With two
    /// panels (four chains of 4-cycle FMAs) a k step took 4 cycles for 128 bytes
    /// of weights: fashion_cnn's 1.6 MB dense5 streamed at 55 GB/s where a plain
    /// read of 1.6 MB runs at 93 on Zen 4; four panels take 256 bytes per step.
    public static func f32GEMM1x16Broadcast(
        k: Int, n: Int, a: UnsafePointer<Float>, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, clamp: Clamp, residual: UnsafePointer<Float>? = nil
    ) {
        let panels = (n + 15) / 16
        var panel = 0
        while panel < panels {
            let count = min(4, panels - panel)
            // Panels past the last alias it (computed again, not stored).
            let b0 = UnsafeRawPointer(packed + panel * k * 16)
            let b1 = count > 1 ? b0 + k * 64 : b0
            let b2 = count > 2 ? b1 + k * 64 : b1
            let b3 = count > 3 ? b2 + k * 64 : b2
            let bias0 = UnsafeRawPointer(bias + panel * 16)
            let bias1 = count > 1 ? bias0 + 64 : bias0
            let bias2 = count > 2 ? bias1 + 64 : bias1
            let bias3 = count > 3 ? bias2 + 64 : bias2
            var c0l = bias0.load(as: SIMD8<Float>.self)
            var c0h = bias0.load(fromByteOffset: 32, as: SIMD8<Float>.self)
            var c1l = bias1.load(as: SIMD8<Float>.self)
            var c1h = bias1.load(fromByteOffset: 32, as: SIMD8<Float>.self)
            var c2l = bias2.load(as: SIMD8<Float>.self)
            var c2h = bias2.load(fromByteOffset: 32, as: SIMD8<Float>.self)
            var c3l = bias3.load(as: SIMD8<Float>.self)
            var c3h = bias3.load(fromByteOffset: 32, as: SIMD8<Float>.self)
            var kk = 0
            while kk < k {
                let x = SIMD8(repeating: a[kk])
                let offset = kk &* 64
                accumulate(&c0l, x, b0.load(fromByteOffset: offset, as: SIMD8<Float>.self))
                accumulate(&c0h, x, b0.load(fromByteOffset: offset &+ 32, as: SIMD8<Float>.self))
                accumulate(&c1l, x, b1.load(fromByteOffset: offset, as: SIMD8<Float>.self))
                accumulate(&c1h, x, b1.load(fromByteOffset: offset &+ 32, as: SIMD8<Float>.self))
                accumulate(&c2l, x, b2.load(fromByteOffset: offset, as: SIMD8<Float>.self))
                accumulate(&c2h, x, b2.load(fromByteOffset: offset &+ 32, as: SIMD8<Float>.self))
                accumulate(&c3l, x, b3.load(fromByteOffset: offset, as: SIMD8<Float>.self))
                accumulate(&c3h, x, b3.load(fromByteOffset: offset &+ 32, as: SIMD8<Float>.self))
                kk &+= 1
            }
            let out = c + panel * 16
            let r = offset(residual, panel * 16)
            store16(c0l, c0h, out, min(16, n - panel * 16), clamp, adding: r)
            if count > 1 { store16(c1l, c1h, out + 16, min(16, n - panel * 16 - 16), clamp, adding: offset(r, 16)) }
            if count > 2 { store16(c2l, c2h, out + 32, min(16, n - panel * 16 - 32), clamp, adding: offset(r, 32)) }
            if count > 3 { store16(c3l, c3h, out + 48, min(16, n - panel * 16 - 48), clamp, adding: offset(r, 48)) }
            panel += 4
        }
    }
}
