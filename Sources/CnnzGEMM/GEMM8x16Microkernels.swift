// Compiled three times, as GEMMMicrokernels.swift is (symbolic links in CnnzGEMMAVX2 and
// CnnzGEMMAVX512); the engine calls the AVX-512 build's.

#if CNNZ_AVX512
    import _Builtin_intrinsics.intel
#endif

extension GEMMMicrokernels {
    /// 8 rows x 16 columns with 16-float vectors: on AVX-512 one zmm
    /// accumulator per row (XNNPACK's `7x16__avx512f_broadcast`, one row more:
    /// 32 registers leave room), two-vector pairs elsewhere. Panels of 16, so it
    /// shares the packing of the 6 x 16 tile. A last tile of 2 to 4 rows takes two
    /// panels at a time (`gemm4x32`), a last single row the 1 x 16 tile.
    public static func f32GEMM8x16Broadcast(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, clamp: Clamp,
        residual: UnsafePointer<Float>? = nil
    ) {
        // Two copies of the tile, with the residual's sum in line in its stores and without
        // (as `f32GEMM6x16Broadcast`): one copy with an optional residual tested it per row
        // and kept the accumulators on the stack around the out-of-line partial store.
        if let residual {
            gemm8x16(
                m: m, k: k, n: n, a: a, lda: lda, packed: packed, bias: bias, c: c, ldc: ldc, clamp: clamp,
                residual: residual, adding: true)
        } else {
            gemm8x16(
                m: m, k: k, n: n, a: a, lda: lda, packed: packed, bias: bias, c: c, ldc: ldc, clamp: clamp,
                residual: UnsafePointer(c), adding: false)
        }
    }

    /// `f32GEMM8x16Broadcast`'s loops; `adding`: whether `residual` is added in the store
    /// (a constant in each inlined copy).
    @_transparent
    static func gemm8x16(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, clamp: Clamp,
        residual: UnsafePointer<Float>, adding: Bool
    ) {
        let panels = (n &+ 15) >> 4
        var row = 0
        while row < m {
            let rows = min(8, m &- row)
            let a0 = a + row &* lda
            if rows == 1 {
                f32GEMM1x16Broadcast(
                    k: k, n: n, a: a0, packed: packed, bias: bias, c: c + row &* ldc, clamp: clamp,
                    residual: adding ? residual + row &* ldc : nil)
                return
            }
            if rows <= 4 && panels > 1 {
                gemm4x32(
                    rows: rows, k: k, n: n, a: a0, lda: lda, packed: packed, bias: bias, c: c + row &* ldc,
                    ldc: ldc, clamp: clamp, residual: residual + row &* ldc, adding: adding)
                return
            }
            let a1 = a0 + lda
            let a2 = rows > 2 ? a1 + lda : a1
            let a3 = rows > 3 ? a2 + lda : a2
            let a4 = rows > 4 ? a3 + lda : a3
            let a5 = rows > 5 ? a4 + lda : a4
            let a6 = rows > 6 ? a5 + lda : a5
            let a7 = rows > 7 ? a6 + lda : a6
            var panel = 0
            while panel < panels {
                let b = UnsafeRawPointer(packed + panel &* k &* 16)
                let start = UnsafeRawPointer(bias + panel &* 16).load(as: SIMD16<Float>.self)
                var c0 = start
                var c1 = start
                var c2 = start
                var c3 = start
                var c4 = start
                var c5 = start
                var c6 = start
                var c7 = start
                var kk = 0
                while kk < k {
                    let bv = b.load(fromByteOffset: kk &* 64, as: SIMD16<Float>.self)
                    accumulate16(&c0, a0[kk], bv)
                    accumulate16(&c1, a1[kk], bv)
                    accumulate16(&c2, a2[kk], bv)
                    accumulate16(&c3, a3[kk], bv)
                    accumulate16(&c4, a4[kk], bv)
                    accumulate16(&c5, a5[kk], bv)
                    accumulate16(&c6, a6[kk], bv)
                    accumulate16(&c7, a7[kk], bv)
                    kk &+= 1
                }
                let at = row &* ldc &+ panel &* 16
                let out = c + at
                let r = residual + at
                let width = min(16, n &- panel &* 16)
                storeRow16(c0, out, width, clamp, r, adding)
                storeRow16(c1, out + ldc, width, clamp, r + ldc, adding)
                if rows > 2 { storeRow16(c2, out + 2 &* ldc, width, clamp, r + 2 &* ldc, adding) }
                if rows > 3 { storeRow16(c3, out + 3 &* ldc, width, clamp, r + 3 &* ldc, adding) }
                if rows > 4 { storeRow16(c4, out + 4 &* ldc, width, clamp, r + 4 &* ldc, adding) }
                if rows > 5 { storeRow16(c5, out + 5 &* ldc, width, clamp, r + 5 &* ldc, adding) }
                if rows > 6 { storeRow16(c6, out + 6 &* ldc, width, clamp, r + 6 &* ldc, adding) }
                if rows > 7 { storeRow16(c7, out + 7 &* ldc, width, clamp, r + 7 &* ldc, adding) }
                panel &+= 1
            }
            row &+= 8
        }
    }

    /// The last 2 to 4 rows of `gemm8x16`, two panels at a time (eight accumulators, as
    /// the 8-row tile): the 8-row tile computed them as 8 aliased rows, twice the
    /// multiply-adds (mobile_res's b6, 36 rows, ran a fifth of its time there). A last odd
    /// panel aliases the one before it (computed, not stored). Each element is the same
    /// chain as in the 8-row tile.
    @inline(never)
    static func gemm4x32(
        rows: Int, k: Int, n: Int, a a0: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, clamp: Clamp,
        residual: UnsafePointer<Float>, adding: Bool
    ) {
        let panels = (n &+ 15) >> 4
        let a1 = a0 + lda
        let a2 = rows > 2 ? a1 + lda : a1
        let a3 = rows > 3 ? a2 + lda : a2
        var panel = 0
        while panel < panels {
            let second = panel &+ 1 < panels
            let p = second ? panel &+ 1 : panel
            let b = UnsafeRawPointer(packed + panel &* k &* 16)
            let bq = UnsafeRawPointer(packed + p &* k &* 16)
            let start = UnsafeRawPointer(bias + panel &* 16).load(as: SIMD16<Float>.self)
            let startQ = UnsafeRawPointer(bias + p &* 16).load(as: SIMD16<Float>.self)
            var c0 = start
            var c1 = start
            var c2 = start
            var c3 = start
            var d0 = startQ
            var d1 = startQ
            var d2 = startQ
            var d3 = startQ
            var kk = 0
            while kk < k {
                let bv = b.load(fromByteOffset: kk &* 64, as: SIMD16<Float>.self)
                let bw = bq.load(fromByteOffset: kk &* 64, as: SIMD16<Float>.self)
                accumulate16(&c0, a0[kk], bv)
                accumulate16(&d0, a0[kk], bw)
                accumulate16(&c1, a1[kk], bv)
                accumulate16(&d1, a1[kk], bw)
                accumulate16(&c2, a2[kk], bv)
                accumulate16(&d2, a2[kk], bw)
                accumulate16(&c3, a3[kk], bv)
                accumulate16(&d3, a3[kk], bw)
                kk &+= 1
            }
            let at = panel &* 16
            let out = c + at
            let r = residual + at
            let width = min(16, n &- at)
            storeRow16(c0, out, width, clamp, r, adding)
            storeRow16(c1, out + ldc, width, clamp, r + ldc, adding)
            if rows > 2 { storeRow16(c2, out + 2 &* ldc, width, clamp, r + 2 &* ldc, adding) }
            if rows > 3 { storeRow16(c3, out + 3 &* ldc, width, clamp, r + 3 &* ldc, adding) }
            if second {
                let width = min(16, n &- at &- 16)
                let outQ = out + 16
                let rQ = r + 16
                storeRow16(d0, outQ, width, clamp, rQ, adding)
                storeRow16(d1, outQ + ldc, width, clamp, rQ + ldc, adding)
                if rows > 2 { storeRow16(d2, outQ + 2 &* ldc, width, clamp, rQ + 2 &* ldc, adding) }
                if rows > 3 { storeRow16(d3, outQ + 3 &* ldc, width, clamp, rQ + 3 &* ldc, adding) }
            }
            panel &+= 2
        }
    }

    /// The first `width` (1 to 16) floats of one accumulator row: plus the residual's when
    /// `adding` (the sum `storeAdding` computes), clamped, stored. In the AVX-512 build a
    /// partial row is a masked load and store in line: the out-of-line `storePartial` call
    /// made the compiler keep the eight accumulators on the stack around every tile's stores.
    @_transparent
    static func storeRow16(
        _ value: SIMD16<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ clamp: Clamp,
        _ residual: UnsafePointer<Float>, _ adding: Bool
    ) {
        #if CNNZ_AVX512
            if width == 16 {
                let v = adding ? value + UnsafeRawPointer(residual).loadUnaligned(as: SIMD16<Float>.self) : value
                let stored = clamp.isActive ? clamped(v, clamp) : v
                UnsafeMutableRawPointer(out).storeBytes(of: stored, as: SIMD16<Float>.self)
            } else {
                // Lanes past `width` are neither read (zeros) nor written.
                let mask = __mmask16(truncatingIfNeeded: (1 &<< width) &- 1)
                let v = adding ? value + _mm512_maskz_loadu_ps(mask, residual) : value
                _mm512_mask_storeu_ps(out, mask, clamp.isActive ? clamped(v, clamp) : v)
            }
        #else
            store16(value, out, width, clamp, adding: adding ? residual : nil)
        #endif
    }
}
