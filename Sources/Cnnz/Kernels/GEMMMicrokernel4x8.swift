/// Weights `[K, N]` repacked at prepare time for `GEMMMicrokernel4x8`:
/// panels of 8 columns, each panel `K` rows of 8 contiguous floats, columns
/// past `N` zero-filled, so the inner loop loads one aligned vector per k.
struct PackedWeights: @unchecked Sendable {
    static let panelWidth = 8
    let k: Int
    let n: Int
    let panels: Int
    /// `panels * k * 8` floats, 64-byte aligned; owned by `storage`.
    let data: UnsafeMutablePointer<Float>
    let bias: UnsafeMutablePointer<Float>
    private let storage: AlignedBuffer

    /// - Parameters:
    ///   - element: `element(kIndex, nIndex)` reads the unpacked weight.
    ///   - bias: `bias(nIndex)`, or nil for no bias.
    init(k: Int, n: Int, element: (Int, Int) -> Float, bias: ((Int) -> Float)?) {
        self.k = k
        self.n = n
        panels = (n + Self.panelWidth - 1) / Self.panelWidth
        let packedCount = panels * k * Self.panelWidth
        storage = AlignedBuffer(floats: packedCount + panels * Self.panelWidth)
        data = storage.pointer
        self.bias = storage.pointer + packedCount
        for p in 0..<panels {
            for kk in 0..<k {
                for j in 0..<Self.panelWidth {
                    let column = p * Self.panelWidth + j
                    data[(p * k + kk) * Self.panelWidth + j] = column < n ? element(kk, column) : 0
                }
            }
        }
        for column in 0..<(panels * Self.panelWidth) {
            self.bias[column] = column < n ? (bias?(column) ?? 0) : 0
        }
    }
}

/// `C[m, n] = A[m, k] * B[k, n] + bias[n]`, with `B` packed. Tiles of 4 rows
/// by 8 columns keep 8 accumulators of 4 floats in registers on SSE (16 on
/// AVX), the widest tile that does not spill on baseline x86-64.
enum GEMMMicrokernel4x8 {
    static let rows = 4

    /// - Parameters: `a` has row stride `lda`; `c` has row stride `ldc`; `m`
    ///   rows are computed and the `weights.n` columns of each are written.
    static func run(
        m: Int, a: UnsafePointer<Float>, lda: Int, weights: PackedWeights, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let k = weights.k
        let n = weights.n
        var row = 0
        while row < m {
            let a0 = a + row * lda
            // Rows past m alias the last valid row: no branches in the loop (XNNPACK's trick).
            let a1 = row + 1 < m ? a0 + lda : a0
            let a2 = row + 2 < m ? a1 + lda : a1
            let a3 = row + 3 < m ? a2 + lda : a2
            let validRows = Swift.min(4, m - row)
            for panel in 0..<weights.panels {
                let b = UnsafeRawPointer(weights.data + panel * k * 8)
                let biasVector = UnsafeRawPointer(weights.bias + panel * 8).load(as: SIMD8<Float>.self)
                var c0 = biasVector
                var c1 = biasVector
                var c2 = biasVector
                var c3 = biasVector
                var kk = 0
                while kk < k {
                    let bv = b.load(fromByteOffset: kk &* 32, as: SIMD8<Float>.self)
                    c0 += SIMD8(repeating: a0[kk]) * bv
                    c1 += SIMD8(repeating: a1[kk]) * bv
                    c2 += SIMD8(repeating: a2[kk]) * bv
                    c3 += SIMD8(repeating: a3[kk]) * bv
                    kk &+= 1
                }
                let column = panel * 8
                let out = c + row * ldc + column
                if column + 8 <= n {
                    let raw = UnsafeMutableRawPointer(out)
                    raw.storeBytes(of: c0, as: SIMD8<Float>.self)
                    if validRows > 1 { (raw + ldc * 4).storeBytes(of: c1, as: SIMD8<Float>.self) }
                    if validRows > 2 { (raw + ldc * 8).storeBytes(of: c2, as: SIMD8<Float>.self) }
                    if validRows > 3 { (raw + ldc * 12).storeBytes(of: c3, as: SIMD8<Float>.self) }
                } else {
                    let width = n - column
                    for j in 0..<width {
                        out[j] = c0[j]
                        if validRows > 1 { out[ldc + j] = c1[j] }
                        if validRows > 2 { out[2 * ldc + j] = c2[j] }
                        if validRows > 3 { out[3 * ldc + j] = c3[j] }
                    }
                }
            }
            row += 4
        }
    }
}
