import CInt8Kernels

// Tests/Fuzz/run.sh builds the engine as one module without the CPU check.
#if canImport(CCPUFeatures)
    import CCPUFeatures
#endif

/// Weights packed once at load for the int8 GEMM microkernels
/// (`CInt8Kernels`): int16 pairs of rows in panels of 8 columns, with each
/// column's int32 bias, requantization multiplier and shift, and the fused
/// clamp or activation table. Owns its memory; immutable after `init`.
final class Int8PackedWeights: @unchecked Sendable {
    /// Rows of the weight matrix (the reduction length) and its pairs, and columns.
    let k: Int
    let kPairs: Int
    let n: Int
    let panels: UnsafeMutablePointer<Int16>
    private let bias: UnsafeMutablePointer<Int32>
    private let multipliers: UnsafeMutablePointer<Int32>
    private let shifts: UnsafeMutablePointer<Int32>
    private let table: UnsafeMutablePointer<Int8>?
    /// The microkernels' view of the output stage.
    let output: cnnz_qs8_output

    /// The bytes `init` allocates for `k` rows and `n` columns.
    static func bytes(k: Int, n: Int) -> Int { (n + 7) / 8 * ((k + 1) / 2) * 32 + n * 12 + 256 }

    /// - Parameters:
    ///   - element: the int8 weight at row `k`, column `n`.
    ///   - bias: column `n`'s bias in the sums' scale.
    ///   - realMultiplier: column `n`'s `inputScale * weightScale / outputScale`.
    init(
        k: Int, n: Int, element: (Int, Int) -> Int8, bias biasOf: (Int) -> Int32, realMultiplier: (Int) -> Double,
        activation: Int8Activation
    ) throws(CnnzError) {
        self.k = k
        self.n = n
        kPairs = (k + 1) / 2
        let panelCount = (n + 7) / 8
        let raw = try AlignedBuffer.bytes(panelCount * kPairs * 32 + n * 12, alignment: 64)
        panels = raw.baseAddress!.bindMemory(to: Int16.self, capacity: panelCount * kPairs * 16)
        for p in 0..<panelCount {
            for kp in 0..<kPairs {
                for j in 0..<8 {
                    for r in 0..<2 {
                        let row = 2 * kp + r
                        let column = p * 8 + j
                        panels[(p * kPairs + kp) * 16 + 2 * j + r] =
                            row < k && column < n ? Int16(element(row, column)) : 0
                    }
                }
            }
        }
        let perColumn = (raw.baseAddress! + panelCount * kPairs * 32).bindMemory(to: Int32.self, capacity: 3 * n)
        self.bias = perColumn
        multipliers = perColumn + n
        shifts = perColumn + 2 * n
        for column in 0..<n {
            bias[column] = biasOf(column)
            (multipliers[column], shifts[column]) = Requantization.multiplier(realMultiplier(column))
        }
        if let values = activation.table {
            let t = UnsafeMutablePointer<Int8>.allocate(capacity: 256)
            for i in 0..<256 { t[i] = values[i] }
            table = t
        } else {
            table = nil
        }
        output = cnnz_qs8_output(
            bias: bias, multiplier: multipliers, shift: shifts, zero_point: activation.zeroPoint,
            min: activation.bounds.lowerBound, max: activation.bounds.upperBound, table: table.map { UnsafePointer($0) }
        )
    }

    deinit {
        UnsafeMutableRawPointer(panels).deallocate()
        table?.deallocate()
    }
}

/// Which int8 GEMM microkernel runs: chosen once per process by the CPU check.
enum Int8GEMM {
    enum Variant: CaseIterable, Sendable {
        /// Portable C: every CPU.
        case portable
        /// AVX2 `vpmaddwd` on int16 pairs (XNNPACK's choice), only where the CPU has AVX2.
        case avx2
    }

    /// The variants this CPU can run.
    #if canImport(CCPUFeatures)
        static let available: [Variant] = cnnz_cpu_has_avx2_fma() != 0 ? [.portable, .avx2] : [.portable]
    #else
        static let available: [Variant] = [.portable]
    #endif
    /// The fastest of them.
    static let best: Variant = available.last!

    /// `C[m, n] = requantize(A[m, 2 * kPairs] * W + bias)` as int8; `a` holds
    /// int16 rows (input minus zero point, zero past `k`).
    @inline(__always)
    static func run(
        _ variant: Variant, m: Int, a: UnsafePointer<Int16>, lda: Int, weights: Int8PackedWeights,
        c: UnsafeMutablePointer<Int8>, ldc: Int
    ) {
        withUnsafePointer(to: weights.output) { output in
            switch variant {
            case .portable:
                cnnz_qs8_gemm_portable(m, weights.n, weights.kPairs, a, lda, weights.panels, output, c, ldc)
            case .avx2:
                cnnz_qs8_gemm_avx2(m, weights.n, weights.kPairs, a, lda, weights.panels, output, c, ldc)
            }
        }
    }
}
