/// The engine's packed GEMM for the trainer (Sources/CnnzTrain), which needs
/// products the inference engine does not: `A·B`, `A·Bᵀ` and (with `A`
/// transposed by the caller) `Aᵀ·B`. It goes through the same microkernels and
/// the same run-time CPU check as the forward convolutions. `package`: not
/// part of the public API.
package enum TrainingGEMM {
    /// `c[m, n] = a[m, k] · op(b)`, where `op(b)` is `b[k, n]` (row stride `ldb`),
    /// or, when `transposeB`, the transpose of `b[n, k]` (row stride `ldb`).
    /// `b` is packed for the microkernels on every call.
    package static func multiply(
        m: Int, k: Int, n: Int, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) throws(CnnzError) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) }
            return
        }
        let packed =
            transposeB
            ? try PackedWeights(k: k, n: n, element: { b[$1 * ldb + $0] }, bias: nil)
            : try PackedWeights(k: k, n: n, element: { b[$0 * ldb + $1] }, bias: nil)
        GEMM.run(m: m, a: a, lda: lda, weights: packed, c: c, ldc: ldc)
    }
}
