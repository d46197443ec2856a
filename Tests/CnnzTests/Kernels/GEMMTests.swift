import Foundation
import Testing

@testable import Cnnz

/// XNNPACK's edge-case grid for GEMM microkernels, for every microkernel this
/// CPU can run: m below, at and above the tile height, n around the panel
/// width, k small and large, and strided A and C (prime strides).
@Suite struct GEMMTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var m: Int
        var n: Int
        var k: Int
        var lda: Int
        var ldc: Int
        var testDescription: String { "M x N x K = \(m) x \(n) x \(k), lda \(lda), ldc \(ldc)" }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        for m in [1, 3, 4, 5, 7, 8, 9, 16, 17] {
            for n in [1, 7, 8, 9, 16, 23] {
                for k in [1, 2, 9, 64] {
                    cases.append(Case(m: m, n: n, k: k, lda: k, ldc: n))
                }
            }
        }
        cases.append(Case(m: 13, n: 11, k: 10, lda: 17, ldc: 19))  // strided A and C
        cases.append(Case(m: 64, n: 40, k: 300, lda: 301, ldc: 43))
        return cases
    }()

    @Test(arguments: cases)
    func microkernelsMatchTheReference(_ c: Case) throws {
        var rng = SplitMix64(seed: UInt64(c.m * 10007 + c.n * 101 + c.k))
        let a = [Float].random(c.m * c.lda, &rng)
        let b = [Float].random(c.k * c.n, &rng)
        let bias = [Float].random(c.n, &rng)
        let packed = try PackedWeights(k: c.k, n: c.n, element: { b[$0 * c.n + $1] }, bias: { bias[$0] })
        for microkernel in GEMM.available {
            // Sentinels around the output catch writes past the valid columns.
            var output = [Float](repeating: 12345, count: c.m * c.ldc)
            a.withUnsafeBufferPointer { a in
                output.withUnsafeMutableBufferPointer { out in
                    GEMM.run(
                        m: c.m, a: a.baseAddress!, lda: c.lda, weights: packed, c: out.baseAddress!, ldc: c.ldc,
                        microkernel: microkernel)
                }
            }
            for i in 0..<c.m {
                for j in 0..<c.ldc {
                    let actual = output[i * c.ldc + j]
                    if j >= c.n {
                        #expect(
                            actual == 12345,
                            "\(microkernel) wrote past column \(c.n) at \(i), \(j): \(c.testDescription)")
                        continue
                    }
                    var expected = Double(bias[j])
                    for kk in 0..<c.k { expected += Double(a[i * c.lda + kk]) * Double(b[kk * c.n + j]) }
                    let tolerance = max(1e-5, abs(expected) * 1e-5)
                    #expect(
                        abs(Double(actual) - expected) <= tolerance,
                        "\(microkernel) at \(i), \(j): reference = \(expected), optimized = \(actual), \(c.testDescription)"
                    )
                }
            }
        }
    }

    /// Whether /proc/cpuinfo lists AVX2 and FMA: read independently of the
    /// engine's own CPU check (cpuid and xgetbv), which this test checks.
    static func cpuinfoHasAVX2AndFMA() -> Bool? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let flags = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        let set = Set(flags.split(separator: " ").map(String.init))
        return set.contains("avx2") && set.contains("fma")
    }

    @Test func theBestMicrokernelMatchesTheCPU() {
        #expect(GEMM.available.contains(.baseline4x8))
        #expect(GEMM.available.contains(GEMM.best))
        #if arch(x86_64) && canImport(CnnzGEMMAVX2)
            guard let hasAVX2 = Self.cpuinfoHasAVX2AndFMA() else {
                Issue.record("cannot read /proc/cpuinfo")
                return
            }
            // On this CPU the AVX2 kernel must be both chosen and tested; on another, neither.
            #expect(GEMM.best == (hasAVX2 ? .avx2FMA8x8 : .baseline4x8))
            #expect(GEMM.available.contains(.avx2FMA8x8) == hasAVX2)
        #endif
    }
}
