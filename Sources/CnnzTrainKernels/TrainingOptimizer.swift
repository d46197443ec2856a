// The optimizer's per-value update, compiled into CnnzTrainKernels and, through
// symbolic links, into CnnzTrainKernelsAVX2 and CnnzTrainKernelsAVX512 (8-float
// vectors in all three).

extension TrainingMicrokernels {
    /// Adam's update of `count` values in Keras's form (the bias corrections folded into `rate`):
    /// `g += decay * w`, `m += (g - m) * (1 - beta1)`, `v += (g² - v) * (1 - beta2)`,
    /// `w -= rate * m / (√v + epsilon)`. The same operations, value by value, as the plain loop
    /// (no fused multiply-add): the same results to the bit, 8 values at a time.
    public static func adamUpdate(
        count: Int, w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>, rate: Float, beta1: Float, beta2: Float, epsilon: Float, decay: Float
    ) {
        let (keep1, keep2) = (1 - beta1, 1 - beta2)
        var i = 0
        while i + 8 <= count {
            let (wr, gr, mr, vr) = (
                UnsafeMutableRawPointer(w + i), UnsafeRawPointer(g + i), UnsafeMutableRawPointer(m + i),
                UnsafeMutableRawPointer(v + i)
            )
            let weight = wr.loadUnaligned(as: SIMD8<Float>.self)
            let gradient = gr.loadUnaligned(as: SIMD8<Float>.self) + decay * weight
            var first = mr.loadUnaligned(as: SIMD8<Float>.self)
            var second = vr.loadUnaligned(as: SIMD8<Float>.self)
            first += (gradient - first) * keep1
            second += (gradient * gradient - second) * keep2
            mr.storeBytes(of: first, as: SIMD8<Float>.self)
            vr.storeBytes(of: second, as: SIMD8<Float>.self)
            wr.storeBytes(of: weight - rate * first / (second.squareRoot() + epsilon), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            let gradient = g[i] + decay * w[i]
            m[i] += (gradient - m[i]) * keep1
            v[i] += (gradient * gradient - v[i]) * keep2
            w[i] -= rate * m[i] / (v[i].squareRoot() + epsilon)
            i += 1
        }
    }
}
