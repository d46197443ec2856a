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
        var clamp = OutputClamp.none
        var testDescription: String {
            "M x N x K = \(m) x \(n) x \(k), lda \(lda), ldc \(ldc), clamp \(clamp.isActive ? "\(clamp.minimum)...\(clamp.maximum)" : "none")"
        }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        for m in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17] {
            for n in [1, 7, 8, 9, 15, 16, 17, 23, 33] {
                for k in [1, 2, 9, 64] {
                    cases.append(Case(m: m, n: n, k: k, lda: k, ldc: n))
                }
            }
        }
        cases.append(Case(m: 13, n: 11, k: 10, lda: 17, ldc: 19))  // strided A and C
        cases.append(Case(m: 64, n: 40, k: 300, lda: 301, ldc: 43))
        // The fused clamps (ReLU, ReLU6 and a narrow one that cuts most values), odd shapes.
        for (i, clamp) in [
            OutputClamp(minimum: 0, isActive: true), OutputClamp(minimum: 0, maximum: 6, isActive: true),
            OutputClamp(minimum: -0.1, maximum: 0.2, isActive: true),
        ].enumerated() {
            cases.append(Case(m: 7 + i, n: 19 + 7 * i, k: 13 + i, lda: 13 + i, ldc: 19 + 7 * i, clamp: clamp))
            cases.append(Case(m: 1, n: 41, k: 5, lda: 5, ldc: 41, clamp: clamp))
        }
        // More panels than one cache block holds (GEMM.panelBlockBytes): the N loop.
        cases.append(Case(m: 6, n: 70, k: 4200, lda: 4200, ldc: 70))
        // One row (Dense at batch 1), four panels per pass: 1, 4, 5 and 7 panels (every tail of
        // the pass), k past one cache block of panels, strided C behind sentinels.
        for n in [10, 49, 65, 100] {
            cases.append(Case(m: 1, n: n, k: 2100, lda: 2100, ldc: n + 3))
        }
        return cases
    }()

    @Test(arguments: cases)
    func microkernelsMatchTheReference(_ c: Case) throws {
        var rng = SplitMix64(seed: UInt64(c.m * 10007 + c.n * 101 + c.k))
        let a = [Float].random(c.m * c.lda, &rng)
        let b = [Float].random(c.k * c.n, &rng)
        let bias = [Float].random(c.n, &rng)
        for microkernel in GEMM.available {
            let packed = try PackedWeights(
                k: c.k, n: c.n, element: { b[$0 * c.n + $1] }, bias: { bias[$0] }, panelWidth: microkernel.panelWidth)
            // Sentinels around the output catch writes past the valid columns.
            var output = [Float](repeating: 12345, count: c.m * c.ldc)
            a.withUnsafeBufferPointer { a in
                output.withUnsafeMutableBufferPointer { out in
                    GEMM.run(
                        m: c.m, a: a.baseAddress!, lda: c.lda, weights: packed, c: out.baseAddress!, ldc: c.ldc,
                        clamp: c.clamp, microkernel: microkernel)
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
                    // Float32 rounding grows with the sum of the terms' magnitudes (long k).
                    var magnitude = 0.0
                    for kk in 0..<c.k {
                        let term = Double(a[i * c.lda + kk]) * Double(b[kk * c.n + j])
                        expected += term
                        magnitude += abs(term)
                    }
                    if c.clamp.isActive {
                        expected = min(max(expected, Double(c.clamp.minimum)), Double(c.clamp.maximum))
                    }
                    let tolerance = max(1e-5, abs(expected) * 1e-5, magnitude * 1e-6)
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

    /// Whether /proc/cpuinfo lists AVX-512 F, BW, DQ and VL.
    static func cpuinfoHasAVX512() -> Bool? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let flags = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        let set = Set(flags.split(separator: " ").map(String.init))
        return ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(set.contains)
    }

    @Test func theBestMicrokernelMatchesTheCPU() {
        #expect(GEMM.available.contains(.f32GEMM4x8PortableBroadcast))
        #expect(GEMM.available.contains(GEMM.best))
        #if arch(x86_64) && canImport(CnnzGEMMAVX2)
            guard let hasAVX2 = Self.cpuinfoHasAVX2AndFMA(), let hasAVX512 = Self.cpuinfoHasAVX512() else {
                Issue.record("cannot read /proc/cpuinfo")
                return
            }
            // On this CPU the widest kernel must be both chosen and tested, and every narrower one tested.
            let expected: GEMM.Microkernel =
                hasAVX512
                ? .f32GEMM8x16AVX512Broadcast : hasAVX2 ? .f32GEMM6x16AVX2FMABroadcast : .f32GEMM4x8PortableBroadcast
            #expect(GEMM.best == expected)
            #expect(GEMM.available.contains(.f32GEMM6x16AVX2FMABroadcast) == hasAVX2)
            #expect(GEMM.available.contains(.f32GEMM8x16AVX512Broadcast) == hasAVX512)
        #endif
    }
}
