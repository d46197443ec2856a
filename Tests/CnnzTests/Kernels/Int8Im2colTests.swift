import CInt8Kernels
import Testing

@testable import Cnnz

/// `cnnz_qu8_im2col_k64__avx512` (the first layers' im2col rows built in a register and stored
/// whole) against a plain loop over the window, bit for bit: random windows with at most 64
/// bytes per row (1 to 12 input channels, up to 64 with 1-wide kernels, kernels 1 to 4, strides,
/// dilation, "same" padding's uneven split), padding bytes of both extreme zero points, row
/// strides of the GEMM's 4 * kGroups and of 64, and blocks of pixels that start and end anywhere,
/// written into a buffer whose bytes past the block must stay untouched (the kernel's 64-byte
/// stores run into the next row, never past the block).
@Suite struct Int8Im2colTests {
    @Test func smallRowsMatchAPlainLoop() throws {
        guard Int8GEMM.available.contains(.vnni512) else { return }
        var rng = SplitMix64(seed: 4242)
        var blocks = 0
        for trial in 0..<120 {
            let channels = [1, 2, 3, 4, 5, 7, 12, 17, 64][trial % 9]
            let kh = channels > 12 ? 1 : Int.random(in: 1...4, using: &rng)
            let kw = Int.random(in: 1...(channels > 12 ? 64 / channels : 4), using: &rng)
            guard kh * kw * channels <= 64 else { continue }
            let k = kh * kw * channels
            let height = Int.random(in: 1...13, using: &rng)
            let width = Int.random(in: 1...19, using: &rng)
            let (sh, sw) = (Int.random(in: 1...3, using: &rng), Int.random(in: 1...3, using: &rng))
            let (dh, dw) = trial % 5 == 4 ? (2, trial % 2 + 1) : (1, 1)
            let same = trial % 2 == 0
            let window = Window(
                kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh,
                dilationWidth: dw, padding: same ? .same : .valid)
            guard let (rows, columns) = window.geometry(height: height, width: width) else { continue }
            let zero = [-128, 127, 0, Int32.random(in: -128...127, using: &rng)][trial % 4]
            let padding = UInt8(truncatingIfNeeded: Int(zero) + 128)
            let image = (0..<(height * width * channels)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            let pixels = rows.output * columns.output
            // The plain loop: per output pixel, the taps row-major, q xor 0x80 or the padding byte.
            var expected = [UInt8](repeating: 0, count: pixels * k)
            for oy in 0..<rows.output {
                for ox in 0..<columns.output {
                    for ky in 0..<kh {
                        for kx in 0..<kw {
                            let iy = oy * sh - rows.padBefore + ky * dh
                            let ix = ox * sw - columns.padBefore + kx * dw
                            let inside = iy >= 0 && iy < height && ix >= 0 && ix < width
                            for c in 0..<channels {
                                expected[(oy * columns.output + ox) * k + (ky * kw + kx) * channels + c] =
                                    inside ? UInt8(bitPattern: image[(iy * width + ix) * channels + c]) ^ 0x80 : padding
                            }
                        }
                    }
                }
            }
            var geometry = cnnz_qs8_window(
                height: height, width: width, channels: channels, kernel_height: kh, kernel_width: kw,
                stride_height: sh, stride_width: sw, dilation_height: dh, dilation_width: dw,
                pad_top: rows.padBefore, pad_left: columns.padBefore, out_width: columns.output, group_offset: 0,
                group_channels: channels)
            let parameters = """
                trial \(trial) \(height)x\(width)x\(channels) kernel \(kh)x\(kw) stride \(sh),\(sw) \
                dilation \(dh),\(dw) same \(same) zero \(zero)
                """
            for lda in [(k + 3) / 4 * 4, 64] {
                var first = 0
                var got = [UInt8](repeating: 0, count: pixels * k)
                while first < pixels {
                    let count = min(pixels - first, Int.random(in: 1...20, using: &rng))
                    // The block's rows, then guard bytes.
                    var a = [UInt8](repeating: 0xA5, count: count * lda + 64)
                    cnnz_qu8_im2col_k64__avx512(image, &geometry, padding, first, count, &a, lda)
                    for i in (count * lda)..<a.count where a[i] != 0xA5 {
                        Issue.record("\(parameters): byte \(i) past block \(first)+\(count) lda \(lda)")
                        break
                    }
                    for r in 0..<count { for j in 0..<k { got[(first + r) * k + j] = a[r * lda + j] } }
                    first += count
                    blocks += 1
                }
                #expect(got == expected, "\(parameters) lda \(lda)")
            }
        }
        #expect(blocks > 200)
    }
}
