// This file is compiled twice, as the engine's GEMM microkernels are: in
// CnnzTrainKernels for baseline x86-64 and, through a symbolic link, in
// CnnzTrainKernelsAVX2 with `-target-cpu haswell` and CNNZ_FMA. The trainer
// calls the AVX2 build only after the engine's run-time CPU check
// (cnnz_cpu_has_avx2_fma), so one binary runs on any x86-64. CPUs with
// AVX-512 run CnnzTrainKernelsAVX512 instead (12x32 tiles, a file of its own).
//
// Training needs three products per layer: the forward `A·B`, the input
// gradient `dY·Wᵀ` and the weight gradient `Xᵀ·dY`. The first two run on a
// weight matrix packed once per step (the transpose is folded into the
// packing, which is cheap: weights are small); the third reads both operands
// where they lie, so no activation-sized matrix is ever transposed.

/// Tiles of 6 rows x 16 columns: 12 AVX accumulators, 2 loads and 6
/// broadcasts per step of k (the widest tile that fits 16 ymm registers).
public enum TrainingMicrokernels {
    /// Columns per packed panel.
    public static let panelWidth = 16

    /// `C[m, n] = A[m, k] · B` (or `C += A · B` when `accumulate`), `B` packed
    /// by `pack` (or, when `ldb` is not 0, `B[k, n]` read in place with row stride
    /// `ldb`, which needs `n` to be a multiple of `panelWidth`); then `bias[j]` is added to column `j` when given, and negative
    /// values are set to 0 when `relu`. Rows past `m` alias the last row so the
    /// inner loop has no branches; only valid rows and columns are stored.
    public static func multiply(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil,
        relu: Bool = false, ldb: Int = 0
    ) {
        let panels = (n + panelWidth - 1) / panelWidth
        let (panelStride, rowBytes) = ldb == 0 ? (k * panelWidth, panelWidth * 4) : (panelWidth, ldb * 4)
        // Panel by panel: one panel of B (k x 16 floats) stays in the cache while every
        // row of A passes over it, which matters when A has few rows (Dense layers).
        for panel in 0..<panels {
            var row = 0
            while row < m {
                let a0 = a + row * lda
                let a1 = row + 1 < m ? a0 + lda : a0
                let a2 = row + 2 < m ? a1 + lda : a1
                let a3 = row + 3 < m ? a2 + lda : a2
                let a4 = row + 4 < m ? a3 + lda : a3
                let a5 = row + 5 < m ? a4 + lda : a4
                let rows = min(6, m - row)
                let b = UnsafeRawPointer(packed + panel * panelStride)
                var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
                var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
                var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
                var kk = 0
                while kk < k {
                    let b0 = b.loadUnaligned(fromByteOffset: kk &* rowBytes, as: SIMD8<Float>.self)
                    let b1 = b.loadUnaligned(fromByteOffset: kk &* rowBytes &+ 32, as: SIMD8<Float>.self)
                    var s = SIMD8(repeating: a0[kk])
                    fma(&c00, s, b0)
                    fma(&c01, s, b1)
                    s = SIMD8(repeating: a1[kk])
                    fma(&c10, s, b0)
                    fma(&c11, s, b1)
                    s = SIMD8(repeating: a2[kk])
                    fma(&c20, s, b0)
                    fma(&c21, s, b1)
                    s = SIMD8(repeating: a3[kk])
                    fma(&c30, s, b0)
                    fma(&c31, s, b1)
                    s = SIMD8(repeating: a4[kk])
                    fma(&c40, s, b0)
                    fma(&c41, s, b1)
                    s = SIMD8(repeating: a5[kk])
                    fma(&c50, s, b0)
                    fma(&c51, s, b1)
                    kk &+= 1
                }
                let out = c + row * ldc + panel * panelWidth
                let width = min(panelWidth, n - panel * panelWidth)
                let bias = bias.map { $0 + panel * panelWidth }
                store(c00, c01, out, width, accumulate, bias, relu)
                if rows > 1 { store(c10, c11, out + ldc, width, accumulate, bias, relu) }
                if rows > 2 { store(c20, c21, out + 2 * ldc, width, accumulate, bias, relu) }
                if rows > 3 { store(c30, c31, out + 3 * ldc, width, accumulate, bias, relu) }
                if rows > 4 { store(c40, c41, out + 4 * ldc, width, accumulate, bias, relu) }
                if rows > 5 { store(c50, c51, out + 5 * ldc, width, accumulate, bias, relu) }
                row += 6
            }
        }
    }

    /// `C[k, n] += Σ_r A[r, k] · B[r, n]` over `rows` rows: `Aᵀ·B` with both
    /// operands read in place (row strides `lda`, `ldb`). The rows go in blocks
    /// that stay in the L2 cache while every tile of `C` passes over them.
    public static func accumulateTransposedA(
        rows: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        // Up to 256 rows in one block (a Conv2D's 14x14 = 196 pixels): not 192 then a block of 4,
        // which would read and write all of C again for 4 rows.
        let block = rows <= 256 ? rows : 192
        var first = 0
        while first < rows {
            let count = min(block, rows - first)
            let aBlock = a + first * lda
            let bBlock = b + first * ldb
            var k0 = 0
            while k0 < k {
                // Columns of A past k alias the last one; only valid rows of C are stored.
                let o0 = k0
                let o1 = min(k0 + 1, k - 1)
                let o2 = min(k0 + 2, k - 1)
                let o3 = min(k0 + 3, k - 1)
                let o4 = min(k0 + 4, k - 1)
                let o5 = min(k0 + 5, k - 1)
                let valid = min(6, k - k0)
                var n0 = 0
                while n0 + panelWidth <= n {
                    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
                    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
                    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
                    var ar = aBlock
                    var br = UnsafeRawPointer(bBlock + n0)
                    for _ in 0..<count {
                        let b0 = br.loadUnaligned(as: SIMD8<Float>.self)
                        let b1 = br.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                        var s = SIMD8(repeating: ar[o0])
                        fma(&c00, s, b0)
                        fma(&c01, s, b1)
                        s = SIMD8(repeating: ar[o1])
                        fma(&c10, s, b0)
                        fma(&c11, s, b1)
                        s = SIMD8(repeating: ar[o2])
                        fma(&c20, s, b0)
                        fma(&c21, s, b1)
                        s = SIMD8(repeating: ar[o3])
                        fma(&c30, s, b0)
                        fma(&c31, s, b1)
                        s = SIMD8(repeating: ar[o4])
                        fma(&c40, s, b0)
                        fma(&c41, s, b1)
                        s = SIMD8(repeating: ar[o5])
                        fma(&c50, s, b0)
                        fma(&c51, s, b1)
                        ar += lda
                        br += ldb &* 4
                    }
                    let out = c + k0 * ldc + n0
                    store(c00, c01, out, panelWidth, true, nil, false)
                    if valid > 1 { store(c10, c11, out + ldc, panelWidth, true, nil, false) }
                    if valid > 2 { store(c20, c21, out + 2 * ldc, panelWidth, true, nil, false) }
                    if valid > 3 { store(c30, c31, out + 3 * ldc, panelWidth, true, nil, false) }
                    if valid > 4 { store(c40, c41, out + 4 * ldc, panelWidth, true, nil, false) }
                    if valid > 5 { store(c50, c51, out + 5 * ldc, panelWidth, true, nil, false) }
                    n0 += panelWidth
                }
                if n0 < n {
                    // The last columns (fewer than 16): plain loops, used only by narrow layers.
                    for kk in k0..<(k0 + valid) {
                        let out = c + kk * ldc
                        for r in 0..<count {
                            let x = aBlock[r * lda + kk]
                            let br = bBlock + r * ldb
                            for j in n0..<n { out[j] += x * br[j] }
                        }
                    }
                }
                k0 += 6
            }
            first += count
        }
    }

    @inline(__always)
    private static func fma(_ sum: inout SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
        #if CNNZ_FMA
            sum.addProduct(a, b)
        #else
            sum += a * b
        #endif
    }

    /// Stores the first `width` of a row's 16 sums, with `multiply`'s epilogue.
    @inline(__always)
    private static func store(
        _ low: SIMD8<Float>, _ high: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ accumulate: Bool,
        _ bias: UnsafePointer<Float>?, _ relu: Bool
    ) {
        var (low, high) = (low, high)
        let raw = UnsafeMutableRawPointer(out)
        if width == 16 {
            if accumulate {
                low += raw.loadUnaligned(as: SIMD8<Float>.self)
                high += raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
            }
            if let bias {
                low += UnsafeRawPointer(bias).loadUnaligned(as: SIMD8<Float>.self)
                high += UnsafeRawPointer(bias).loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
            }
            if relu {
                low = low.replacing(with: 0, where: low .< 0)
                high = high.replacing(with: 0, where: high .< 0)
            }
            raw.storeBytes(of: low, as: SIMD8<Float>.self)
            raw.storeBytes(of: high, toByteOffset: 32, as: SIMD8<Float>.self)
        } else {
            storePart(low, high, out, width, accumulate, bias, relu)
        }
    }

    /// `store` of fewer than 16 columns, out of line: inlined, its loop made the compiler call
    /// `store` instead, spilling the tile's accumulators around every call.
    @inline(never)
    private static func storePart(
        _ low: SIMD8<Float>, _ high: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ accumulate: Bool,
        _ bias: UnsafePointer<Float>?, _ relu: Bool
    ) {
        for j in 0..<width {
            var v = j < 8 ? low[j] : high[j - 8]
            if accumulate { v += out[j] }
            if let bias { v += bias[j] }
            out[j] = relu ? max(v, 0) : v
        }
    }
}
