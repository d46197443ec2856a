import CCPUFeatures
import CnnzTrainKernels
import CnnzTrainKernelsAVX2

/// The trainer's GEMMs, dispatched once per process to the AVX2 + FMA build of
/// the microkernels when the engine's run-time CPU check allows it.
enum Kernels {
    static let useAVX2 = cnnz_cpu_has_avx2_fma() != 0

    /// See `TrainingMicrokernels.pack`.
    static func pack(
        k: Int, n: Int, _ b: UnsafePointer<Float>, ldb: Int, transposed: Bool, into packed: inout [Float]
    ) {
        let count = CnnzTrainKernels.TrainingMicrokernels.packedCount(k: k, n: n)
        if packed.count < count { packed = [Float](repeating: 0, count: count) }
        packed.withUnsafeMutableBufferPointer { p in
            CnnzTrainKernels.TrainingMicrokernels.pack(
                k: k, n: n, b: b, ldb: ldb, transposed: transposed, into: p.baseAddress!)
        }
    }

    /// `c[m, n] = a[m, k] · packed` (or `+=` when `accumulate`).
    static func multiply(
        m: Int, k: Int, n: Int, _ a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false
    ) {
        guard m > 0, n > 0 else { return }
        if useAVX2 {
            CnnzTrainKernelsAVX2.TrainingMicrokernels.multiply(
                m: m, k: k, n: n, a: a, lda: lda, packed: packed, c: c, ldc: ldc, accumulate: accumulate)
        } else {
            CnnzTrainKernels.TrainingMicrokernels.multiply(
                m: m, k: k, n: n, a: a, lda: lda, packed: packed, c: c, ldc: ldc, accumulate: accumulate)
        }
    }

    /// `c[k, n] += a[rows, k]ᵀ · b[rows, n]`, both read in place.
    static func accumulateTransposedA(
        rows: Int, k: Int, n: Int, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard rows > 0, k > 0, n > 0 else { return }
        if useAVX2 {
            CnnzTrainKernelsAVX2.TrainingMicrokernels.accumulateTransposedA(
                rows: rows, k: k, n: n, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        } else {
            CnnzTrainKernels.TrainingMicrokernels.accumulateTransposedA(
                rows: rows, k: k, n: n, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        }
    }
}

extension Array where Element == Float {
    /// Makes the array `count` long, reallocating (zero-filled) only when the
    /// size changes, so a buffer reused step after step allocates once.
    mutating func resize(to count: Int) {
        if self.count != count { self = [Float](repeating: 0, count: count) }
    }

    /// Sets every element to 0 in place.
    mutating func zero() {
        withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }
}
