import CInt8Kernels
import Testing

@testable import Cnnz

/// The depthwise pixel kernel (depth multiplier 1, channels innermost): the
/// portable, AVX2 and AVX-512 levels give the same bytes as a plain loop, on
/// channel counts around and between the blocks of 32, 16 and 8 (the engine
/// test in Int8KernelTests runs the whole rows, every variant in turn).
@Suite struct Int8DepthwiseTests {
    @Test func pixelVariantsMatchAPlainLoop() throws {
        var rng = SplitMix64(seed: 1414)
        let counts = [1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 47, 64, 71]
        for (trial, n) in counts.enumerated() {
            let taps = Int.random(in: 0...9, using: &rng)
            let inputs = (0..<taps).map { _ in (0..<n).map { _ in Int8.random(in: .min ... .max, using: &rng) } }
            let weights = (0..<taps).map { _ in (0..<n).map { _ in Int32.random(in: -127...127, using: &rng) } }
            let bias = (0..<n).map { _ in Int32.random(in: -40000...40000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.0001...0.02, using: &rng) }
            let inputZero = [-128, 127, Int32.random(in: -128...127, using: &rng)][trial % 3]
            let outputZero = Int32.random(in: -128...127, using: &rng)
            let stage = try Int8PackedWeights(
                k: 0, n: n, element: { _, _ in 0 }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                activation: Int8Activation(.linear, output: ActivationQuantization(scale: 1, zeroPoint: outputZero)))
            var expected = [Int8](repeating: 0, count: n)
            for j in 0..<n {
                var sum = bias[j]
                for t in 0..<taps { sum += (Int32(inputs[t][j]) - inputZero) * weights[t][j] }
                expected[j] = Int8Reference.clamp(Int8Reference.scaled(sum, by: reals[j]) + outputZero, -128...127)
            }
            for variant in Int8GEMM.available {
                let c = Self.pixel(variant, n: n, inputs: inputs, weights: weights, zero: inputZero, stage: stage)
                #expect(c == expected, "\(variant) n=\(n) taps=\(taps)")
            }
        }
    }

    /// One call of the C kernel on copies of `inputs` and `weights`.
    static func pixel(
        _ variant: Int8GEMM.Variant, n: Int, inputs: [[Int8]], weights: [[Int32]], zero: Int32,
        stage: Int8PackedWeights
    ) -> [Int8] {
        // Each row in a buffer of exactly n elements (a sanitizer build sees any read past it).
        func copy<T>(_ row: [T]) -> UnsafePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: row.count)
            p.initialize(from: row, count: row.count)
            return UnsafePointer(p)
        }
        let x = inputs.map(copy)
        let w = weights.map(copy)
        defer {
            for p in x { p.deallocate() }
            for p in w { p.deallocate() }
        }
        var sums = [Int32](repeating: 0, count: n)
        var c = [Int8](repeating: 0, count: n)
        let xs: [UnsafePointer<Int8>?] = x
        let ws: [UnsafePointer<Int32>?] = w
        withUnsafePointer(to: stage.output) { out in
            cnnz_qs8_depthwise_pixel(variant.level, n, xs.count, xs, ws, zero, &sums, out, &c)
        }
        return c
    }
}
