// This file is compiled twice: in CnnzGEMM for baseline x86-64 (SSE2) and,
// through a symbolic link, in CnnzGEMMAVX2 with `-target-cpu haswell` and
// CNNZ_FMA defined. The engine calls the AVX2 build only after checking the
// CPU at run time (CCPUFeatures), so one binary runs everywhere and uses
// fused multiply-adds where they exist.

/// GEMM microkernels: `C[m, n] = A[m, k] * B[k, n] + bias[n]` with `B`
/// packed in panels of 8 columns (`k` rows of 8 contiguous floats per panel,
/// zero-filled past `n`) and `bias` padded to the panels. Rows past `m`
/// alias the last valid row, so the inner loop has no branches (XNNPACK's
/// trick); only the valid rows and columns are stored.
public enum GEMMMicrokernels {
    /// 4 rows x 8 columns: 8 SSE accumulators of 4 floats, the widest tile
    /// that does not spill on baseline x86-64 (16 xmm registers).
    public static func run4x8(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
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
                let out = c + row * ldc + panel * 8
                let width = min(8, n - panel * 8)
                store(c0, out, width)
                if rows > 1 { store(c1, out + ldc, width) }
                if rows > 2 { store(c2, out + 2 * ldc, width) }
                if rows > 3 { store(c3, out + 3 * ldc, width) }
            }
            row += 4
        }
    }

    /// 8 rows x 8 columns: 8 AVX accumulators, enough independent chains to
    /// hide the 4-cycle latency of two FMA ports.
    public static func run8x8(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let panels = (n + 7) / 8
        var row = 0
        while row < m {
            let a0 = a + row * lda
            let a1 = row + 1 < m ? a0 + lda : a0
            let a2 = row + 2 < m ? a1 + lda : a1
            let a3 = row + 3 < m ? a2 + lda : a2
            let a4 = row + 4 < m ? a3 + lda : a3
            let a5 = row + 5 < m ? a4 + lda : a4
            let a6 = row + 6 < m ? a5 + lda : a5
            let a7 = row + 7 < m ? a6 + lda : a6
            let rows = min(8, m - row)
            for panel in 0..<panels {
                let b = UnsafeRawPointer(packed + panel * k * 8)
                let start = UnsafeRawPointer(bias + panel * 8).load(as: SIMD8<Float>.self)
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
                    let bv = b.load(fromByteOffset: kk &* 32, as: SIMD8<Float>.self)
                    accumulate(&c0, a0[kk], bv)
                    accumulate(&c1, a1[kk], bv)
                    accumulate(&c2, a2[kk], bv)
                    accumulate(&c3, a3[kk], bv)
                    accumulate(&c4, a4[kk], bv)
                    accumulate(&c5, a5[kk], bv)
                    accumulate(&c6, a6[kk], bv)
                    accumulate(&c7, a7[kk], bv)
                    kk &+= 1
                }
                let out = c + row * ldc + panel * 8
                let width = min(8, n - panel * 8)
                store(c0, out, width)
                if rows > 1 { store(c1, out + ldc, width) }
                if rows > 2 { store(c2, out + 2 * ldc, width) }
                if rows > 3 { store(c3, out + 3 * ldc, width) }
                if rows > 4 { store(c4, out + 4 * ldc, width) }
                if rows > 5 { store(c5, out + 5 * ldc, width) }
                if rows > 6 { store(c6, out + 6 * ldc, width) }
                if rows > 7 { store(c7, out + 7 * ldc, width) }
            }
            row += 8
        }
    }

    @inline(__always)
    private static func accumulate(_ sum: inout SIMD8<Float>, _ a: Float, _ b: SIMD8<Float>) {
        #if CNNZ_FMA
            // One fused multiply-add per lane (vfmadd231ps); without FMA hardware
            // this would call libm's fma per lane, hence the baseline branch.
            sum.addProduct(SIMD8(repeating: a), b)
        #else
            sum += SIMD8(repeating: a) * b
        #endif
    }

    @inline(__always)
    private static func store(_ value: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int) {
        if width == 8 {
            UnsafeMutableRawPointer(out).storeBytes(of: value, as: SIMD8<Float>.self)
        } else {
            for j in 0..<width { out[j] = value[j] }
        }
    }
}
