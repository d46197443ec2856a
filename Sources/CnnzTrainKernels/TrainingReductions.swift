// Column sums for the trainer's bias gradients, compiled into CnnzTrainKernels
// and, through symbolic links, into CnnzTrainKernelsAVX2 and
// CnnzTrainKernelsAVX512 (8-float vectors in all three).

extension TrainingMicrokernels {
    /// `sums[j] += Σ_r g[r * n + j]`: each column's rows summed in order, from 0, in
    /// registers, then added to `sums` (the same result as adding them one by one
    /// into sums that start at 0). 32 columns at a time, then 8, then one.
    public static func accumulateColumnSums(
        rows: Int, n: Int, g: UnsafePointer<Float>, sums: UnsafeMutablePointer<Float>
    ) {
        var j = 0
        while j + 32 <= n {
            var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
            var row = UnsafeRawPointer(g + j)
            for _ in 0..<rows {
                s0 += row.loadUnaligned(as: SIMD8<Float>.self)
                s1 += row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                s2 += row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                s3 += row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                row += n &* 4
            }
            addSums(s0, to: sums + j)
            addSums(s1, to: sums + j + 8)
            addSums(s2, to: sums + j + 16)
            addSums(s3, to: sums + j + 24)
            j += 32
        }
        while j + 8 <= n {
            var s = SIMD8<Float>()
            var row = UnsafeRawPointer(g + j)
            for _ in 0..<rows {
                s += row.loadUnaligned(as: SIMD8<Float>.self)
                row += n &* 4
            }
            addSums(s, to: sums + j)
            j += 8
        }
        while j < n {
            var s: Float = 0
            for r in 0..<rows { s += g[r * n + j] }
            sums[j] += s
            j += 1
        }
    }

    @inline(__always)
    private static func addSums(_ s: SIMD8<Float>, to out: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(out)
        raw.storeBytes(of: s + raw.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
    }
}
