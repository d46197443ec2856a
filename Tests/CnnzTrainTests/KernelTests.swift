import Testing

@testable import CnnzTrain

/// Every build of the trainer's GEMM microkernels this CPU can run (portable,
/// AVX2 + FMA, AVX-512) against a Float64 reference, on shapes that miss the
/// tiles and vector widths (rows around 6 and 12, columns around 8, 16 and 32),
/// with and without the epilogue (accumulate, bias, ReLU).
@Suite struct KernelTests {
    static let levels = Kernels.Level.allCases.filter(\.isSupported)
    static let rowCounts = [1, 5, 6, 7, 12, 13, 25]
    static let depths = [1, 3, 9, 17]
    static let widths = [1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 70]

    static func values(_ count: Int, _ random: inout SplitMix64) -> [Float] {
        (0..<count).map { _ in random.nextFloat() * 2 - 1 }
    }

    static func close(_ a: Float, _ b: Double, k: Int) -> Bool { abs(Double(a) - b) <= 1e-5 * Double(k + 1) }

    @Test(arguments: levels) func multiply(_ level: Kernels.Level) {
        var random = SplitMix64(seed: 3)
        var packed: [Float] = []
        for m in Self.rowCounts {
            for k in Self.depths {
                for n in Self.widths {
                    for variant in 0..<4 {
                        let transposed = variant & 1 == 1
                        let epilogue = variant & 2 == 2
                        let a = Self.values(m * k, &random)
                        let b = Self.values(k * n, &random)  // [k, n], or [n, k] when transposed
                        let bias = Self.values(n, &random)
                        let start = Self.values(m * n, &random)
                        var c = start
                        b.withUnsafeBufferPointer { b in
                            Kernels.pack(
                                k: k, n: n, b.baseAddress!, ldb: transposed ? k : n, transposed: transposed,
                                into: &packed, level: level)
                        }
                        a.withUnsafeBufferPointer { a in
                            packed.withUnsafeBufferPointer { p in
                                bias.withUnsafeBufferPointer { bias in
                                    c.withUnsafeMutableBufferPointer { c in
                                        Kernels.multiply(
                                            m: m, k: k, n: n, a.baseAddress!, lda: k, packed: p.baseAddress!,
                                            c.baseAddress!, ldc: n, accumulate: epilogue,
                                            bias: epilogue ? bias.baseAddress! : nil, relu: epilogue, level: level)
                                    }
                                }
                            }
                        }
                        for i in 0..<m {
                            for j in 0..<n {
                                var sum = 0.0
                                for kk in 0..<k {
                                    let bv = transposed ? b[j * k + kk] : b[kk * n + j]
                                    sum += Double(a[i * k + kk]) * Double(bv)
                                }
                                if epilogue { sum = max(sum + Double(start[i * n + j]) + Double(bias[j]), 0) }
                                #expect(
                                    Self.close(c[i * n + j], sum, k: k),
                                    "\(level) m \(m) k \(k) n \(n) variant \(variant) at [\(i), \(j)]")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: levels) func transposedProduct(_ level: Kernels.Level) {
        var random = SplitMix64(seed: 4)
        for rows in [1, 7, 200, 300] {
            for k in [1, 5, 6, 11, 12, 13, 30] {
                for n in Self.widths {
                    let a = Self.values(rows * k, &random)
                    let b = Self.values(rows * n, &random)
                    let start = Self.values(k * n, &random)
                    var c = start
                    a.withUnsafeBufferPointer { a in
                        b.withUnsafeBufferPointer { b in
                            c.withUnsafeMutableBufferPointer { c in
                                Kernels.accumulateTransposedA(
                                    rows: rows, k: k, n: n, a.baseAddress!, lda: k, b.baseAddress!, ldb: n,
                                    c.baseAddress!, ldc: n, level: level)
                            }
                        }
                    }
                    for kk in 0..<k {
                        for j in 0..<n {
                            var sum = Double(start[kk * n + j])
                            for r in 0..<rows { sum += Double(a[r * k + kk]) * Double(b[r * n + j]) }
                            #expect(
                                Self.close(c[kk * n + j], sum, k: rows),
                                "\(level) rows \(rows) k \(k) n \(n) at [\(kk), \(j)]")
                        }
                    }
                }
            }
        }
    }

    /// The vector Adam update gives the plain loop's values to the bit (the same operations, no fused
    /// multiply-add), on counts that miss the vector width, with and without weight decay.
    @Test(arguments: levels) func adamUpdate(_ level: Kernels.Level) {
        var random = SplitMix64(seed: 8)
        for count in [1, 7, 8, 9, 31, 100] {
            for decay: Float in [0, 0.01] {
                let g = Self.values(count, &random)
                var (w, m, v) = (Self.values(count, &random), Self.values(count, &random), Self.values(count, &random))
                v = v.map { $0 * $0 }
                var (we, me, ve) = (w, m, v)
                let (rate, beta1, beta2, epsilon): (Float, Float, Float, Float) = (0.003, 0.9, 0.999, 1e-7)
                for i in 0..<count {
                    let gi = g[i] + decay * we[i]
                    me[i] += (gi - me[i]) * (1 - beta1)
                    ve[i] += (gi * gi - ve[i]) * (1 - beta2)
                    we[i] -= rate * me[i] / (ve[i].squareRoot() + epsilon)
                }
                Kernels.adamUpdate(
                    count: count, w: &w, g: g, m: &m, v: &v, rate: rate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                    decay: decay, level: level)
                #expect(w == we && m == me && v == ve, "\(level) count \(count) decay \(decay)")
            }
        }
    }
}
