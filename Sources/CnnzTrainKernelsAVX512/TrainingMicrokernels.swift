// The trainer's GEMM microkernels for AVX-512 (built with `-target-cpu
// skylake-avx512`, called only after cnnz_cpu_has_avx512): the same three
// products as CnnzTrainKernels (`A·B`, `dY·Wᵀ` through `pack`, and `Xᵀ·dY`),
// with tiles of 12 rows x 32 columns: 24 zmm accumulators, 2 loads of B and
// 12 broadcasts of A per step of k (32 zmm registers). Panels are 32 columns
// wide, so `pack` here is not interchangeable with the AVX2 build's.

/// A 16-float vector: one zmm register.
typealias Z = SIMD16<Float>

/// Tiles of 12 x 32 on 512-bit vectors.
public enum TrainingMicrokernels {
    /// Columns per packed panel.
    public static let panelWidth = 32
    /// Rows per tile.
    public static let tileRows = 12

    /// `C[m, n] = A[m, k] · B` (or `C += A · B` when `accumulate`), `B` packed
    /// by `pack` (or, when `ldb` is not 0, `B[k, n]` read in place with row stride
    /// `ldb`, which needs `n` to be a multiple of `panelWidth`); then `bias[j]` is added to column `j` when given, and negative
    /// values are set to 0 when `relu`. Rows past `m` alias the last row so the
    /// inner loop has no branches; only valid rows and columns are stored.
    public static func multiply(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>?, relu: Bool,
        ldb: Int
    ) {
        let panels = (n + panelWidth - 1) / panelWidth
        let (panelStride, rowBytes) = ldb == 0 ? (k * panelWidth, panelWidth * 4) : (panelWidth, ldb * 4)
        // Panel by panel: one panel of B (k x 32 floats) stays in the cache while every
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
                let a6 = row + 6 < m ? a5 + lda : a5
                let a7 = row + 7 < m ? a6 + lda : a6
                let a8 = row + 8 < m ? a7 + lda : a7
                let a9 = row + 9 < m ? a8 + lda : a8
                let a10 = row + 10 < m ? a9 + lda : a9
                let a11 = row + 11 < m ? a10 + lda : a10
                let rows = min(12, m - row)
                let b = UnsafeRawPointer(packed + panel * panelStride)
                var c00 = Z(), c01 = Z(), c10 = Z(), c11 = Z(), c20 = Z(), c21 = Z(), c30 = Z(), c31 = Z()
                var c40 = Z(), c41 = Z(), c50 = Z(), c51 = Z(), c60 = Z(), c61 = Z(), c70 = Z(), c71 = Z()
                var c80 = Z(), c81 = Z(), c90 = Z(), c91 = Z(), c100 = Z(), c101 = Z(), c110 = Z(), c111 = Z()
                var kk = 0
                while kk < k {
                    let b0 = b.loadUnaligned(fromByteOffset: kk &* rowBytes, as: Z.self)
                    let b1 = b.loadUnaligned(fromByteOffset: kk &* rowBytes &+ 64, as: Z.self)
                    var s: Z
                    s = Z(repeating: a0[kk])
                    c00.addProduct(s, b0)
                    c01.addProduct(s, b1)
                    s = Z(repeating: a1[kk])
                    c10.addProduct(s, b0)
                    c11.addProduct(s, b1)
                    s = Z(repeating: a2[kk])
                    c20.addProduct(s, b0)
                    c21.addProduct(s, b1)
                    s = Z(repeating: a3[kk])
                    c30.addProduct(s, b0)
                    c31.addProduct(s, b1)
                    s = Z(repeating: a4[kk])
                    c40.addProduct(s, b0)
                    c41.addProduct(s, b1)
                    s = Z(repeating: a5[kk])
                    c50.addProduct(s, b0)
                    c51.addProduct(s, b1)
                    s = Z(repeating: a6[kk])
                    c60.addProduct(s, b0)
                    c61.addProduct(s, b1)
                    s = Z(repeating: a7[kk])
                    c70.addProduct(s, b0)
                    c71.addProduct(s, b1)
                    s = Z(repeating: a8[kk])
                    c80.addProduct(s, b0)
                    c81.addProduct(s, b1)
                    s = Z(repeating: a9[kk])
                    c90.addProduct(s, b0)
                    c91.addProduct(s, b1)
                    s = Z(repeating: a10[kk])
                    c100.addProduct(s, b0)
                    c101.addProduct(s, b1)
                    s = Z(repeating: a11[kk])
                    c110.addProduct(s, b0)
                    c111.addProduct(s, b1)
                    kk &+= 1
                }
                let out = c + row * ldc + panel * panelWidth
                let width = min(panelWidth, n - panel * panelWidth)
                let bias = bias.map { $0 + panel * panelWidth }
                store(c00, c01, out, width, accumulate, bias, relu)
                if rows > 1 { store(c10, c11, out + 1 * ldc, width, accumulate, bias, relu) }
                if rows > 2 { store(c20, c21, out + 2 * ldc, width, accumulate, bias, relu) }
                if rows > 3 { store(c30, c31, out + 3 * ldc, width, accumulate, bias, relu) }
                if rows > 4 { store(c40, c41, out + 4 * ldc, width, accumulate, bias, relu) }
                if rows > 5 { store(c50, c51, out + 5 * ldc, width, accumulate, bias, relu) }
                if rows > 6 { store(c60, c61, out + 6 * ldc, width, accumulate, bias, relu) }
                if rows > 7 { store(c70, c71, out + 7 * ldc, width, accumulate, bias, relu) }
                if rows > 8 { store(c80, c81, out + 8 * ldc, width, accumulate, bias, relu) }
                if rows > 9 { store(c90, c91, out + 9 * ldc, width, accumulate, bias, relu) }
                if rows > 10 { store(c100, c101, out + 10 * ldc, width, accumulate, bias, relu) }
                if rows > 11 { store(c110, c111, out + 11 * ldc, width, accumulate, bias, relu) }
                row += 12
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
        let block = 256
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
                let o6 = min(k0 + 6, k - 1)
                let o7 = min(k0 + 7, k - 1)
                let o8 = min(k0 + 8, k - 1)
                let o9 = min(k0 + 9, k - 1)
                let o10 = min(k0 + 10, k - 1)
                let o11 = min(k0 + 11, k - 1)
                let valid = min(12, k - k0)
                var n0 = 0
                while n0 + 32 <= n {
                    var c00 = Z(), c01 = Z(), c10 = Z(), c11 = Z(), c20 = Z(), c21 = Z(), c30 = Z(), c31 = Z()
                    var c40 = Z(), c41 = Z(), c50 = Z(), c51 = Z(), c60 = Z(), c61 = Z(), c70 = Z(), c71 = Z()
                    var c80 = Z(), c81 = Z(), c90 = Z(), c91 = Z(), c100 = Z(), c101 = Z(), c110 = Z(), c111 = Z()
                    var ar = aBlock
                    var br = UnsafeRawPointer(bBlock + n0)
                    for _ in 0..<count {
                        let b0 = br.loadUnaligned(as: Z.self)
                        let b1 = br.loadUnaligned(fromByteOffset: 64, as: Z.self)
                        var s: Z
                        s = Z(repeating: ar[o0])
                        c00.addProduct(s, b0)
                        c01.addProduct(s, b1)
                        s = Z(repeating: ar[o1])
                        c10.addProduct(s, b0)
                        c11.addProduct(s, b1)
                        s = Z(repeating: ar[o2])
                        c20.addProduct(s, b0)
                        c21.addProduct(s, b1)
                        s = Z(repeating: ar[o3])
                        c30.addProduct(s, b0)
                        c31.addProduct(s, b1)
                        s = Z(repeating: ar[o4])
                        c40.addProduct(s, b0)
                        c41.addProduct(s, b1)
                        s = Z(repeating: ar[o5])
                        c50.addProduct(s, b0)
                        c51.addProduct(s, b1)
                        s = Z(repeating: ar[o6])
                        c60.addProduct(s, b0)
                        c61.addProduct(s, b1)
                        s = Z(repeating: ar[o7])
                        c70.addProduct(s, b0)
                        c71.addProduct(s, b1)
                        s = Z(repeating: ar[o8])
                        c80.addProduct(s, b0)
                        c81.addProduct(s, b1)
                        s = Z(repeating: ar[o9])
                        c90.addProduct(s, b0)
                        c91.addProduct(s, b1)
                        s = Z(repeating: ar[o10])
                        c100.addProduct(s, b0)
                        c101.addProduct(s, b1)
                        s = Z(repeating: ar[o11])
                        c110.addProduct(s, b0)
                        c111.addProduct(s, b1)
                        ar += lda
                        br += ldb &* 4
                    }
                    let out = c + k0 * ldc + n0
                    add(c00, c01, out)
                    if valid > 1 { add(c10, c11, out + 1 * ldc) }
                    if valid > 2 { add(c20, c21, out + 2 * ldc) }
                    if valid > 3 { add(c30, c31, out + 3 * ldc) }
                    if valid > 4 { add(c40, c41, out + 4 * ldc) }
                    if valid > 5 { add(c50, c51, out + 5 * ldc) }
                    if valid > 6 { add(c60, c61, out + 6 * ldc) }
                    if valid > 7 { add(c70, c71, out + 7 * ldc) }
                    if valid > 8 { add(c80, c81, out + 8 * ldc) }
                    if valid > 9 { add(c90, c91, out + 9 * ldc) }
                    if valid > 10 { add(c100, c101, out + 10 * ldc) }
                    if valid > 11 { add(c110, c111, out + 11 * ldc) }
                    n0 += 32
                }
                if n0 + 16 <= n {
                    var c00 = Z(), c10 = Z(), c20 = Z(), c30 = Z(), c40 = Z(), c50 = Z()
                    var c60 = Z(), c70 = Z(), c80 = Z(), c90 = Z(), c100 = Z(), c110 = Z()
                    var ar = aBlock
                    var br = UnsafeRawPointer(bBlock + n0)
                    for _ in 0..<count {
                        let b0 = br.loadUnaligned(as: Z.self)
                        c00.addProduct(Z(repeating: ar[o0]), b0)
                        c10.addProduct(Z(repeating: ar[o1]), b0)
                        c20.addProduct(Z(repeating: ar[o2]), b0)
                        c30.addProduct(Z(repeating: ar[o3]), b0)
                        c40.addProduct(Z(repeating: ar[o4]), b0)
                        c50.addProduct(Z(repeating: ar[o5]), b0)
                        c60.addProduct(Z(repeating: ar[o6]), b0)
                        c70.addProduct(Z(repeating: ar[o7]), b0)
                        c80.addProduct(Z(repeating: ar[o8]), b0)
                        c90.addProduct(Z(repeating: ar[o9]), b0)
                        c100.addProduct(Z(repeating: ar[o10]), b0)
                        c110.addProduct(Z(repeating: ar[o11]), b0)
                        ar += lda
                        br += ldb &* 4
                    }
                    let out = c + k0 * ldc + n0
                    add16(c00, out)
                    if valid > 1 { add16(c10, out + 1 * ldc) }
                    if valid > 2 { add16(c20, out + 2 * ldc) }
                    if valid > 3 { add16(c30, out + 3 * ldc) }
                    if valid > 4 { add16(c40, out + 4 * ldc) }
                    if valid > 5 { add16(c50, out + 5 * ldc) }
                    if valid > 6 { add16(c60, out + 6 * ldc) }
                    if valid > 7 { add16(c70, out + 7 * ldc) }
                    if valid > 8 { add16(c80, out + 8 * ldc) }
                    if valid > 9 { add16(c90, out + 9 * ldc) }
                    if valid > 10 { add16(c100, out + 10 * ldc) }
                    if valid > 11 { add16(c110, out + 11 * ldc) }
                    n0 += 16
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
                k0 += 12
            }
            first += count
        }
    }

    /// `out[0..<32] += (low, high)`.
    @inline(__always)
    private static func add(_ low: Z, _ high: Z, _ out: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(out)
        raw.storeBytes(of: raw.loadUnaligned(as: Z.self) + low, as: Z.self)
        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 64, as: Z.self) + high, toByteOffset: 64, as: Z.self)
    }

    /// `out[0..<16] += value`.
    @inline(__always)
    private static func add16(_ value: Z, _ out: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(out)
        raw.storeBytes(of: raw.loadUnaligned(as: Z.self) + value, as: Z.self)
    }

    /// Stores the first `width` of a row's 32 sums, with `multiply`'s epilogue.
    @inline(__always)
    private static func store(
        _ low: Z, _ high: Z, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ accumulate: Bool,
        _ bias: UnsafePointer<Float>?, _ relu: Bool
    ) {
        var (low, high) = (low, high)
        let raw = UnsafeMutableRawPointer(out)
        if width == 32 {
            if accumulate {
                low += raw.loadUnaligned(as: Z.self)
                high += raw.loadUnaligned(fromByteOffset: 64, as: Z.self)
            }
            if let bias {
                low += UnsafeRawPointer(bias).loadUnaligned(as: Z.self)
                high += UnsafeRawPointer(bias).loadUnaligned(fromByteOffset: 64, as: Z.self)
            }
            if relu {
                low = low.replacing(with: 0, where: low .< 0)
                high = high.replacing(with: 0, where: high .< 0)
            }
            raw.storeBytes(of: low, as: Z.self)
            raw.storeBytes(of: high, toByteOffset: 64, as: Z.self)
        } else {
            for j in 0..<width {
                var v = j < 16 ? low[j] : high[j - 16]
                if accumulate { v += out[j] }
                if let bias { v += bias[j] }
                out[j] = relu ? max(v, 0) : v
            }
        }
    }
}
