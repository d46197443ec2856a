import CInt8Kernels
import Testing

@testable import Cnnz

/// The int8 output stage where the requantized value sits at the ends of Int32 (sums and
/// biases near `Int32.max` and `.min`, multipliers up to `Int32.max`, shift 0), so that adding
/// the zero point would leave Int32: the stored byte must be the clamp of the true value (the
/// sum in Int64), at every level this CPU has, by the scalar `store` (portable; and the AVX2 and
/// AVX-512 paths with a table), the AVX2 `finish8`, the AVX-512 `finish16` (`cnnz_qs8_store_row`)
/// and `requant16` (`cnnz_qs8_depthwise_row` at the AVX-512 level). The VNNI GEMM's store,
/// which saturated already, is tested in Int8VNNIStoreTests. Before this test the scalar
/// store's `requantize(...) + zero_point` overflowed (undefined behaviour in C) and the vector
/// paths wrapped around: 2^31 - 2 + 5 stored -128, not 127.
@Suite struct Int8StoreExtremesTests {
    /// One stage's parameters, with values picked so that some requantized values are within
    /// 128 of either end of Int32.
    struct Stage {
        var bias: [Int32]
        var multiplier: [Int32]
        var shift: [Int32]
        var zeroPoint: Int32
        var bounds: ClosedRange<Int32>
        var table: [Int8]?

        static func random(_ n: Int, trial: Int, _ rng: inout SplitMix64) -> Stage {
            let extreme: [Int32] = [.max, .max - 1, .max - 60, .min, .min + 1, .min + 100, 0]
            let bias = (0..<n).map { _ -> Int32 in
                Bool.random(using: &rng)
                    ? extreme[Int.random(in: 0..<extreme.count, using: &rng)]
                    : Int32.random(in: .min ... .max, using: &rng)
            }
            let multiplier = (0..<n).map { _ -> Int32 in
                let choices: [Int32] = [.max, .max - 1, 1 << 30, .random(in: (1 << 30)...(.max), using: &rng)]
                return choices[Int.random(in: 0...3, using: &rng)]
            }
            let shift = (0..<n).map { _ -> Int32 in
                let choices: [Int32] = [0, 0, 0, -1, Int32.random(in: -31...2, using: &rng)]
                return choices[Int.random(in: 0...4, using: &rng)]
            }
            let zeroPoint: Int32 = [127, -128, 1, -1, Int32.random(in: -128...127, using: &rng)][trial % 5]
            let low = trial % 3 == 0 ? Int32.random(in: -128...0, using: &rng) : -128
            let high = trial % 4 == 0 ? Int32.random(in: max(low, -20)...127, using: &rng) : 127
            let table = trial % 6 == 5 ? (0..<256).map { _ in Int8.random(in: .min ... .max, using: &rng) } : nil
            return Stage(
                bias: bias, multiplier: multiplier, shift: shift, zeroPoint: zeroPoint, bounds: low...high,
                table: table)
        }

        /// The requantized value of column j's sum, before the zero point.
        func requantized(_ sum: Int32, _ j: Int) -> Int32 {
            Int8Reference.requantize(sum &+ bias[j], multiplier: multiplier[j], shift: Int(shift[j]))
        }

        /// The byte the stage stores: the zero point added in Int64, then the clamp and table.
        func expected(_ sum: Int32, _ j: Int) -> Int8 {
            let v = Int64(requantized(sum, j)) + Int64(zeroPoint)
            let q = Int8(min(max(v, Int64(bounds.lowerBound)), Int64(bounds.upperBound)))
            return table.map { $0[Int(q) + 128] } ?? q
        }

        /// Whether the zero point takes column j's value out of Int32.
        func overflows(_ sum: Int32, _ j: Int) -> Bool {
            let v = Int64(requantized(sum, j)) + Int64(zeroPoint)
            return v > Int64(Int32.max) || v < Int64(Int32.min)
        }

        func withOutput<R>(_ body: (UnsafePointer<cnnz_qs8_output>) -> R) -> R {
            withQS8Output(
                bias: bias, multiplier: multiplier, shift: shift, zeroPoint: zeroPoint, low: bounds.lowerBound,
                high: bounds.upperBound, table: table
            ) { out in body(&out) }
        }
    }

    static let levels = Set(Int8GEMM.available.map(\.level)).sorted()

    @Test func storeRowClampsTheTrueValueAtEveryLevel() {
        var rng = SplitMix64(seed: 3107)
        var overflowing = 0
        for trial in 0..<240 {
            let n = [1, 3, 5, 8, 12, 16, 17, 25, 33][trial % 9]
            let stage = Stage.random(n, trial: trial, &rng)
            let sums = (0..<n).map { _ -> Int32 in
                let choices: [Int32] = [0, 1, -1, .max, .min, .random(in: -300...300, using: &rng)]
                return choices[Int.random(in: 0...5, using: &rng)]
            }
            let expected = (0..<n).map { stage.expected(sums[$0], $0) }
            overflowing += (0..<n).filter { stage.overflows(sums[$0], $0) }.count
            for level in Self.levels {
                var c = [Int8](repeating: 0, count: n)
                stage.withOutput { out in cnnz_qs8_store_row(level, sums, n, out, &c) }
                #expect(
                    c == expected,
                    "level \(level) n=\(n) sums \(sums) bias \(stage.bias) multiplier \(stage.multiplier) shift \(stage.shift) zero \(stage.zeroPoint) bounds \(stage.bounds) table \(stage.table != nil)"
                )
            }
        }
        // The cases this test is for were met (about one column in twelve).
        #expect(overflowing > 40, "only \(overflowing) columns whose zero point leaves Int32")
    }

    /// A depthwise row over an image of the input zero point (every product 0, so each sum is its
    /// bias exactly): the AVX-512 row kernel's `requant16` and the AVX2 row kernel's store.
    @Test func depthwiseRowClampsTheTrueValueAtEveryLevel() {
        var rng = SplitMix64(seed: 3108)
        var overflowing = 0
        for trial in 0..<60 {
            let n = [1, 5, 8, 12, 16, 17, 25, 33, 64][trial % 9]
            let stage = Stage.random(n, trial: trial, &rng)
            let inputZero = Int32([-128, 127, 3][trial % 3])
            let (height, width, kernel) = (3, 7, 3)
            let image = [Int8](repeating: Int8(inputZero), count: height * width * n)
            let weights = (0..<(kernel * kernel * n)).map { _ in Int32.random(in: -127...127, using: &rng) }
            var window = cnnz_qs8_window(
                height: height, width: width, channels: n, kernel_height: kernel, kernel_width: kernel,
                stride_height: 1, stride_width: 1, dilation_height: 1, dilation_width: 1, pad_top: 1, pad_left: 1,
                out_width: width, group_offset: 0, group_channels: n)
            var expected = [Int8](repeating: 0, count: width * n)
            for ox in 0..<width {
                for j in 0..<n { expected[ox * n + j] = stage.expected(0, j) }
            }
            overflowing += (0..<n).filter { stage.overflows(0, $0) }.count
            // The header's size: the sums rounded up to an even count (an odd n left the last
            // pointer 4 bytes past the end; AddressSanitizer found it), then 2 pointers a tap.
            let scratch = UnsafeMutableRawPointer.allocate(
                byteCount: (n + 1) / 2 * 2 * 4 + kernel * kernel * 16, alignment: 16)
            defer { scratch.deallocate() }
            for level in Self.levels {
                var c = [Int8](repeating: 0, count: width * n)
                stage.withOutput { out in
                    cnnz_qs8_depthwise_row(level, image, &window, 1, weights, inputZero, scratch, out, &c)
                }
                #expect(
                    c == expected,
                    "level \(level) n=\(n) bias \(stage.bias) multiplier \(stage.multiplier) shift \(stage.shift) zero \(stage.zeroPoint) bounds \(stage.bounds) table \(stage.table != nil) input zero \(inputZero)"
                )
            }
        }
        #expect(overflowing > 20, "only \(overflowing) columns whose zero point leaves Int32")
    }
}
