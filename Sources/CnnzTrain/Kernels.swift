import CCPUFeatures
import CnnzTrainKernels
import CnnzTrainKernelsAVX2
import CnnzTrainKernelsAVX512
import Foundation

/// The trainer's GEMMs, dispatched to the widest build of the microkernels
/// the run-time CPU check allows (AVX-512, else AVX2 + FMA, else portable).
enum Kernels {
    /// One build of the microkernels.
    enum Level: CaseIterable, Sendable {
        case portable, avx2, avx512

        /// Whether this CPU can run the build.
        var isSupported: Bool {
            switch self {
            case .portable: true
            case .avx2: cnnz_cpu_has_avx2_fma() != 0
            case .avx512: cnnz_cpu_has_avx512() != 0
            }
        }
    }

    /// The build every training step uses, chosen once per process.
    static let level: Level = Level.avx512.isSupported ? .avx512 : Level.avx2.isSupported ? .avx2 : .portable

    /// Columns per packed panel at `level`.
    static func panelWidth(_ level: Level = level) -> Int {
        level == .avx512
            ? CnnzTrainKernelsAVX512.TrainingMicrokernels.panelWidth : CnnzTrainKernels.TrainingMicrokernels.panelWidth
    }

    /// Whether `multiply` can read a `[k, n]` matrix in place (`ldb`), without `pack`.
    static func readsInPlace(n: Int, level: Level = level) -> Bool { n % panelWidth(level) == 0 }

    /// Whether the layers' forward passes read their `[k, n]` weights in place rather than packed:
    /// only small ones. A panel read in place steps a whole row (`n` floats) from one k to the
    /// next, which the hardware prefetcher follows worse than the contiguous panels of a pack; with
    /// a large matrix (the 3136x128 Dense, the 288x64 Conv2D) that costs more than the pack, which
    /// is made once per step and shared by the slices.
    static func forwardReadsInPlace(k: Int, n: Int, level: Level = level) -> Bool {
        readsInPlace(n: n, level: level) && k * n <= 1 << 12
    }

    /// Floats `pack` writes for a `[k, n]` matrix with `level`'s panels.
    static func packedCount(k: Int, n: Int, level: Level = level) -> Int {
        switch level {
        case .avx512: CnnzTrainKernelsAVX512.TrainingMicrokernels.packedCount(k: k, n: n)
        default: CnnzTrainKernels.TrainingMicrokernels.packedCount(k: k, n: n)
        }
    }

    /// See `TrainingMicrokernels.pack`: the layout `multiply` at the same level reads.
    static func pack(
        k: Int, n: Int, _ b: UnsafePointer<Float>, ldb: Int, transposed: Bool, into packed: inout [Float],
        level: Level = level
    ) {
        let count = packedCount(k: k, n: n, level: level)
        if packed.count < count { packed = [Float](repeating: 0, count: count) }
        packed.withUnsafeMutableBufferPointer { p in
            switch level {
            case .avx512:
                CnnzTrainKernelsAVX512.TrainingMicrokernels.pack(
                    k: k, n: n, b: b, ldb: ldb, transposed: transposed, into: p.baseAddress!)
            default:
                CnnzTrainKernels.TrainingMicrokernels.pack(
                    k: k, n: n, b: b, ldb: ldb, transposed: transposed, into: p.baseAddress!)
            }
        }
    }

    /// `c[m, n] = a[m, k] · packed` (or `+=` when `accumulate`), plus `bias`
    /// per column when given, then `max(·, 0)` when `relu`. With `ldb` not 0,
    /// `packed` is a plain `[k, n]` matrix of row stride `ldb` (see `readsInPlace`).
    static func multiply(
        m: Int, k: Int, n: Int, _ a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false, bias: UnsafePointer<Float>? = nil,
        relu: Bool = false, ldb: Int = 0, level: Level = level
    ) {
        precondition(ldb == 0 || readsInPlace(n: n, level: level))
        guard m > 0, n > 0 else { return }
        switch level {
        case .avx512:
            CnnzTrainKernelsAVX512.TrainingMicrokernels.multiply(
                m: m, k: k, n: n, a: a, lda: lda, packed: packed, c: c, ldc: ldc, accumulate: accumulate, bias: bias,
                relu: relu, ldb: ldb)
        case .avx2:
            CnnzTrainKernelsAVX2.TrainingMicrokernels.multiply(
                m: m, k: k, n: n, a: a, lda: lda, packed: packed, c: c, ldc: ldc, accumulate: accumulate, bias: bias,
                relu: relu, ldb: ldb)
        case .portable:
            CnnzTrainKernels.TrainingMicrokernels.multiply(
                m: m, k: k, n: n, a: a, lda: lda, packed: packed, c: c, ldc: ldc, accumulate: accumulate, bias: bias,
                relu: relu, ldb: ldb)
        }
    }

    /// `c[k, n] += a[rows, k]ᵀ · b[rows, n]`, both read in place.
    static func accumulateTransposedA(
        rows: Int, k: Int, n: Int, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, level: Level = level
    ) {
        guard rows > 0, k > 0, n > 0 else { return }
        switch level {
        case .avx512:
            CnnzTrainKernelsAVX512.TrainingMicrokernels.accumulateTransposedA(
                rows: rows, k: k, n: n, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        case .avx2:
            CnnzTrainKernelsAVX2.TrainingMicrokernels.accumulateTransposedA(
                rows: rows, k: k, n: n, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        case .portable:
            CnnzTrainKernels.TrainingMicrokernels.accumulateTransposedA(
                rows: rows, k: k, n: n, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        }
    }
}

extension Kernels {
    /// Where `convolveSingleChannel` and `accumulateSingleChannelKernelGradient` find a batch of
    /// single-channel images: each padded to `(outHeight + kernelHeight - 1) x paddedWidth`.
    struct PaddedImages {
        var images: Int
        var x: UnsafePointer<Float>
        var paddedWidth: Int
        var outHeight: Int
        var outWidth: Int
        var kernelHeight: Int
        var kernelWidth: Int
    }

    /// See `TrainingMicrokernels.convolveSingleChannel` (needs `filters % 16 == 0`, `outWidth >= 4`).
    static func convolveSingleChannel(
        _ p: PaddedImages, weights: UnsafePointer<Float>, filters: Int, bias: UnsafePointer<Float>?, relu: Bool,
        _ y: UnsafeMutablePointer<Float>, level: Level = level
    ) {
        switch level {
        case .avx512:
            CnnzTrainKernelsAVX512.TrainingMicrokernels.convolveSingleChannel(
                images: p.images, x: p.x, paddedWidth: p.paddedWidth, outHeight: p.outHeight, outWidth: p.outWidth,
                kernelHeight: p.kernelHeight, kernelWidth: p.kernelWidth, weights: weights, filters: filters,
                bias: bias, relu: relu, y: y)
        case .avx2:
            CnnzTrainKernelsAVX2.TrainingMicrokernels.convolveSingleChannel(
                images: p.images, x: p.x, paddedWidth: p.paddedWidth, outHeight: p.outHeight, outWidth: p.outWidth,
                kernelHeight: p.kernelHeight, kernelWidth: p.kernelWidth, weights: weights, filters: filters,
                bias: bias, relu: relu, y: y)
        case .portable:
            CnnzTrainKernels.TrainingMicrokernels.convolveSingleChannel(
                images: p.images, x: p.x, paddedWidth: p.paddedWidth, outHeight: p.outHeight, outWidth: p.outWidth,
                kernelHeight: p.kernelHeight, kernelWidth: p.kernelWidth, weights: weights, filters: filters,
                bias: bias, relu: relu, y: y)
        }
    }

    /// See `TrainingMicrokernels.accumulateSingleChannelKernelGradient` (needs `filters % 16 == 0`).
    static func accumulateSingleChannelKernelGradient(
        _ p: PaddedImages, dy: UnsafePointer<Float>, filters: Int, _ dw: UnsafeMutablePointer<Float>,
        level: Level = level
    ) {
        switch level {
        case .avx512:
            CnnzTrainKernelsAVX512.TrainingMicrokernels.accumulateSingleChannelKernelGradient(
                images: p.images, x: p.x, paddedWidth: p.paddedWidth, outHeight: p.outHeight, outWidth: p.outWidth,
                kernelHeight: p.kernelHeight, kernelWidth: p.kernelWidth, dy: dy, filters: filters, dw: dw)
        case .avx2:
            CnnzTrainKernelsAVX2.TrainingMicrokernels.accumulateSingleChannelKernelGradient(
                images: p.images, x: p.x, paddedWidth: p.paddedWidth, outHeight: p.outHeight, outWidth: p.outWidth,
                kernelHeight: p.kernelHeight, kernelWidth: p.kernelWidth, dy: dy, filters: filters, dw: dw)
        case .portable:
            CnnzTrainKernels.TrainingMicrokernels.accumulateSingleChannelKernelGradient(
                images: p.images, x: p.x, paddedWidth: p.paddedWidth, outHeight: p.outHeight, outWidth: p.outWidth,
                kernelHeight: p.kernelHeight, kernelWidth: p.kernelWidth, dy: dy, filters: filters, dw: dw)
        }
    }
}

extension Kernels {
    /// `sums[j] += Σ_r g[r, j]` (`g` is `[rows, n]`); see `TrainingMicrokernels.accumulateColumnSums`.
    static func accumulateColumnSums(
        rows: Int, n: Int, _ g: UnsafePointer<Float>, _ sums: UnsafeMutablePointer<Float>, level: Level = level
    ) {
        switch level {
        case .avx512:
            CnnzTrainKernelsAVX512.TrainingMicrokernels.accumulateColumnSums(rows: rows, n: n, g: g, sums: sums)
        case .avx2:
            CnnzTrainKernelsAVX2.TrainingMicrokernels.accumulateColumnSums(rows: rows, n: n, g: g, sums: sums)
        case .portable:
            CnnzTrainKernels.TrainingMicrokernels.accumulateColumnSums(rows: rows, n: n, g: g, sums: sums)
        }
    }
}

extension Kernels {
    /// See `TrainingMicrokernels.adamUpdate`.
    static func adamUpdate(
        count: Int, w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>, rate: Float, beta1: Float, beta2: Float, epsilon: Float, decay: Float,
        level: Level = level
    ) {
        switch level {
        case .avx512:
            CnnzTrainKernelsAVX512.TrainingMicrokernels.adamUpdate(
                count: count, w: w, g: g, m: m, v: v, rate: rate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                decay: decay)
        case .avx2:
            CnnzTrainKernelsAVX2.TrainingMicrokernels.adamUpdate(
                count: count, w: w, g: g, m: m, v: v, rate: rate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                decay: decay)
        case .portable:
            CnnzTrainKernels.TrainingMicrokernels.adamUpdate(
                count: count, w: w, g: g, m: m, v: v, rate: rate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                decay: decay)
        }
    }
}

/// A weight matrix packed for `Kernels.multiply`, shared by the replicas' copies
/// of one layer: the first slice of a step to need it packs it, the others read it.
/// The trainer invalidates it whenever the weights change (between steps).
final class SharedPack: @unchecked Sendable {
    private let lock = NSLock()
    private var valid = false
    private var packed: [Float] = []

    /// Marks the pack out of date (the weights changed). Only between steps.
    func invalidate() { valid = false }

    /// Calls `body` with the pack, made by `pack` if it is out of date.
    func withPacked<R>(_ pack: (inout [Float]) -> Void, _ body: (UnsafePointer<Float>) -> R) -> R {
        lock.lock()
        if !valid {
            pack(&packed)
            valid = true
        }
        lock.unlock()
        return packed.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Calls `body` with the weights packed by `pack`: `shared`'s pack when there is
/// one, else packed into `local` now.
func withPack<R>(
    _ shared: SharedPack?, _ local: inout [Float], _ pack: (inout [Float]) -> Void,
    _ body: (UnsafePointer<Float>) -> R
) -> R {
    if let shared { return shared.withPacked(pack, body) }
    pack(&local)
    return local.withUnsafeBufferPointer { body($0.baseAddress!) }
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
