// Tests/Fuzz/run.sh compiles the engine and the baseline microkernels as one
// module, without the AVX2 build or the CPU check: hence the canImport tests.
#if canImport(CnnzGEMMAVX2)
    import CCPUFeatures
    import CnnzGEMM
    import CnnzGEMMAVX2
#endif

/// Weights `[K, N]` repacked at prepare time for the GEMM microkernels:
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
    /// The floats a packing of `[k, n]` weights allocates (panels, padding and bias).
    static func floatCount(k: Int, n: Int) -> Int {
        let panels = (n + panelWidth - 1) / panelWidth
        return max(panels * (k + 1) * panelWidth, 16)
    }

    init(k: Int, n: Int, element: (Int, Int) -> Float, bias: ((Int) -> Float)?) throws(CnnzError) {
        self.k = k
        self.n = n
        panels = (n + Self.panelWidth - 1) / Self.panelWidth
        let packedCount = panels * k * Self.panelWidth
        storage = try AlignedBuffer(floats: packedCount + panels * Self.panelWidth)
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

/// `C[m, n] = A[m, k] * B[k, n] + bias[n]` with `B` packed, by the fastest
/// microkernel this CPU runs, chosen once per process (XNNPACK's configs).
enum GEMM {
    enum Microkernel: CaseIterable, Sendable {
        /// Baseline x86-64 (and every other architecture): 4x8 tiles, multiply then add.
        case baseline4x8
        /// AVX2 + FMA: 8x8 tiles, fused multiply-add.
        case avx2FMA8x8
    }

    /// The microkernels this CPU can run (the tests compare each with the reference).
    #if canImport(CnnzGEMMAVX2)
        static let available: [Microkernel] =
            cnnz_cpu_has_avx2_fma() != 0 ? [.baseline4x8, .avx2FMA8x8] : [.baseline4x8]
    #else
        static let available: [Microkernel] = [.baseline4x8]
    #endif

    /// The fastest of them, used by every GEMM.
    static let best: Microkernel = available.contains(.avx2FMA8x8) ? .avx2FMA8x8 : .baseline4x8

    /// - Parameters: `a` has row stride `lda`; `c` has row stride `ldc`; `m`
    ///   rows are computed and the `weights.n` columns of each are written.
    static func run(
        m: Int, a: UnsafePointer<Float>, lda: Int, weights: PackedWeights, c: UnsafeMutablePointer<Float>, ldc: Int,
        microkernel: Microkernel = best
    ) {
        #if canImport(CnnzGEMMAVX2)
            switch microkernel {
            case .baseline4x8:
                CnnzGEMM.GEMMMicrokernels.run4x8(
                    m: m, k: weights.k, n: weights.n, a: a, lda: lda, packed: weights.data, bias: weights.bias, c: c,
                    ldc: ldc)
            case .avx2FMA8x8:
                CnnzGEMMAVX2.GEMMMicrokernels.run8x8(
                    m: m, k: weights.k, n: weights.n, a: a, lda: lda, packed: weights.data, bias: weights.bias, c: c,
                    ldc: ldc)
            }
        #else
            GEMMMicrokernels.run4x8(
                m: m, k: weights.k, n: weights.n, a: a, lda: lda, packed: weights.data, bias: weights.bias, c: c,
                ldc: ldc)
        #endif
    }
}
