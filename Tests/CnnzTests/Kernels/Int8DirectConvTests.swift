import CInt8Kernels
import Testing

@testable import Cnnz

/// `cnnz_qu8_conv_direct_8x64c4__avx512vnni` (the first layers' convolution without an im2col
/// in memory) against a plain loop over the window, bit for bit: random windows with at most 64
/// bytes per row (1 to 12 input channels, kernels 1 to 4, strides, dilation, "same" padding's
/// uneven split), 1 to 64 filters (around 16 and 32: the partial panels), input zero points at
/// both extremes, a clamp or an activation table, and blocks of output pixels that start and
/// end anywhere, written into a strided output with guard bytes that must stay untouched (the
/// kernel's 16-byte stores may run into the next pixel's columns, never past the block).
@Suite struct Int8DirectConvTests {
    @Test func directConvolutionMatchesAPlainLoop() throws {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 4242)
        var blocks = 0
        for trial in 0..<80 {
            let channels = [1, 2, 3, 4, 5, 7, 12][trial % 7]
            let kh = Int.random(in: 1...4, using: &rng)
            let kw = Int.random(in: 1...4, using: &rng)
            guard kh * kw * channels <= 64 else { continue }
            let k = kh * kw * channels
            let n = [1, 3, 12, 15, 16, 17, 25, 31, 32, 33, 48, 50, 64][Int.random(in: 0...12, using: &rng)]
            let height = Int.random(in: 1...13, using: &rng)
            let width = Int.random(in: 1...19, using: &rng)
            let (sh, sw) = (Int.random(in: 1...3, using: &rng), Int.random(in: 1...3, using: &rng))
            let (dh, dw) = trial % 5 == 4 ? (2, 2) : (1, 1)
            let same = trial % 2 == 0
            let window = Window(
                kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh,
                dilationWidth: dw, padding: same ? .same : .valid)
            guard let (rows, columns) = window.geometry(height: height, width: width) else { continue }
            let zero = [-128, 127, 0, Int32.random(in: -128...127, using: &rng)][trial % 4]
            let image = (0..<(height * width * channels)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            let w = (0..<(k * n)).map { _ in Int8.random(in: -127...127, using: &rng) }
            let bias = (0..<n).map { _ in Int32.random(in: -30000...30000, using: &rng) }
            let reals = (0..<n).map { _ in Double.random(in: 0.0002...0.03, using: &rng) }
            let table = trial % 6 == 5
            let outputQ = ActivationQuantization(
                scale: 0.05, zeroPoint: Int32.random(in: -128...127, using: &rng), preActivationScale: 0.1,
                preActivationZeroPoint: Int32.random(in: -20...20, using: &rng))
            let stage = Int8Activation(table ? .sigmoid : (trial % 3 == 0 ? .plainReLU : .linear), output: outputQ)
            let packed = try Int8PackedWeights(
                k: k, n: n, element: { w[$0 * n + $1] }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                activation: stage, variant: .vnni512, inputZeroPoint: zero)
            // The plain loop: (q - zero point) * w over the taps inside the image.
            let pixels = rows.output * columns.output
            var expected = [Int8](repeating: 0, count: pixels * n)
            for oy in 0..<rows.output {
                for ox in 0..<columns.output {
                    for f in 0..<n {
                        var sum = bias[f]
                        for ky in 0..<kh {
                            let iy = oy * sh - rows.padBefore + ky * dh
                            guard iy >= 0 && iy < height else { continue }
                            for kx in 0..<kw {
                                let ix = ox * sw - columns.padBefore + kx * dw
                                guard ix >= 0 && ix < width else { continue }
                                for c in 0..<channels {
                                    let q = Int32(image[(iy * width + ix) * channels + c])
                                    sum &+= (q - zero) * Int32(w[((ky * kw + kx) * channels + c) * n + f])
                                }
                            }
                        }
                        let scaled = Int8Reference.scaled(sum, by: reals[f]) + stage.zeroPoint
                        let v = Int8Reference.clamp(scaled, stage.bounds)
                        expected[(oy * columns.output + ox) * n + f] = stage.table.map { $0[Int(v) + 128] } ?? v
                    }
                }
            }
            var geometry = cnnz_qs8_window(
                height: height, width: width, channels: channels, kernel_height: kh, kernel_width: kw,
                stride_height: sh, stride_width: sw, dilation_height: dh, dilation_width: dw,
                pad_top: rows.padBefore, pad_left: columns.padBefore, out_width: columns.output, group_offset: 0,
                group_channels: channels)
            let padding = UInt8(truncatingIfNeeded: Int(zero) + 128)
            let parameters = """
                trial \(trial) \(height)x\(width)x\(channels) kernel \(kh)x\(kw) stride \(sh),\(sw) \
                dilation \(dh),\(dw) same \(same) n \(n) zero \(zero) table \(table)
                """
            let panels = UnsafePointer(packed.panels.assumingMemoryBound(to: Int8.self))
            for ldc in [n, n + 3] {
                // Blocks of random sizes covering every pixel, each written on its own.
                var first = 0
                var c = [Int8](repeating: 0x5A, count: pixels * ldc + 64)
                while first < pixels {
                    let count = min(pixels - first, Int.random(in: 1...20, using: &rng))
                    let before = c
                    c.withUnsafeMutableBufferPointer { bytes in
                        withUnsafePointer(to: packed.output) { out in
                            cnnz_qu8_conv_direct_8x64c4__avx512vnni(
                                image, &geometry, padding, first, count, n, packed.kGroups, panels, out,
                                bytes.baseAddress! + first * ldc, ldc)
                        }
                    }
                    // Nothing outside the block's columns changed.
                    for i in 0..<c.count where c[i] != before[i] {
                        let p = i / ldc
                        #expect(
                            p >= first && p < first + count && i % ldc < n,
                            "\(parameters): byte \(i) outside block \(first)+\(count) ldc \(ldc)")
                    }
                    first += count
                    blocks += 1
                }
                var got = [Int8](repeating: 0, count: pixels * n)
                for p in 0..<pixels { for f in 0..<n { got[p * n + f] = c[p * ldc + f] } }
                #expect(got == expected, "\(parameters) ldc \(ldc)")
            }
        }
        #expect(blocks > 200)
    }
}
