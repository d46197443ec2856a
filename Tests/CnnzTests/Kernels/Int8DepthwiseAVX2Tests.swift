import CInt8Kernels
import Testing

@testable import Cnnz

/// The AVX2 depthwise rows (`cnnz_qs8_dwconv_row_8c2__avx2`: int16 pairs of window rows, one
/// `vpmaddwd` per 2 taps of 8 channels, weights packed by `cnnz_qs8_dwconv_8c2_pack`) against a
/// plain loop, bit for bit: channel counts around and between its blocks of 8 and 16 (1, 5, 7,
/// 8, 9, 15, 16, 17, 24, 33, 64, 65), widths 1 to 13, 3x3 windows (its constant loop) and
/// others (1x1 up to 7x7, one or more pairs of rows), strides 1 to 3 (two rows per call
/// sharing pairs at vertical stride 1 and 2, one after the other at 3), dilation 2, padding on
/// either side or none, weights down to -128, input zero points at both extremes, and every
/// output stage: the short form with the negative ties' step (a plain clamp), without it
/// (ReLU6), an activation table, multipliers of 0.3 to 3 (no right shift or a left shift:
/// `store_columns8`) and blocks mixing channels at the short form's edges (right shifts 1 and 23)
/// with channels outside it (24 and 0), each row alone, with the next one or two (the pairs of
/// window rows kept from one two rows to the next) and with all the rows after it; the output
/// stage packed per block of 8 channels (`cnnz_qs8_dwconv_8c2_pack_stage`: the bias less the
/// zero point's share, the short form's constants) at each trial.
@Suite struct Int8DepthwiseAVX2Tests {
    @Test func avx2RowsMatchAPlainLoop() throws {
        guard Int8GEMM.available.contains(.avx2) else { return }
        var rng = SplitMix64(seed: 1707)
        let counts = [1, 5, 7, 8, 9, 15, 16, 17, 24, 33, 64, 65]
        var saturated: Set<Int8> = []
        for trial in 0..<96 {
            let n = counts[trial % counts.count]
            let square = trial % 3 != 2
            let kh = square ? 3 : [1, 2, 4, 5, 7][Int.random(in: 0..<5, using: &rng)]
            let kw = square ? 3 : Int.random(in: 1...5, using: &rng)
            let (sh, sw) = ((trial / 2) % 3 + 1, trial % 2 + 1)
            let (dh, dw) = trial % 7 == 3 ? (2, 2) : (1, 1)
            let (spanH, spanW) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
            let (padTop, padLeft) = (Int.random(in: 0..<spanH, using: &rng), Int.random(in: 0..<spanW, using: &rng))
            let (padBottom, padRight) = (Int.random(in: 0..<spanH, using: &rng), Int.random(in: 0..<spanW, using: &rng))
            let height = max(Int.random(in: 1...11, using: &rng), spanH - padTop - padBottom)
            let width = max(Int.random(in: 1...13, using: &rng), spanW - padLeft - padRight)
            let outHeight = (height + padTop + padBottom - spanH) / sh + 1
            let outWidth = (width + padLeft + padRight - spanW) / sw + 1
            let image = (0..<(height * width * n)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            let weights = (0..<(kh * kw * n)).map { _ in Int8.random(in: .min ... .max, using: &rng) }
            let bias = (0..<n).map { _ in Int32.random(in: -40000...40000, using: &rng) }
            let large = trial % 5 == 4
            // Every fifth trial, channels mixed at the short form's edges: right shifts 1 and 23
            // (inside), 24 and 0 (outside: the block goes through store_columns8), and inside.
            let edges = [0.3, 1.5 * 0x1p-24, 1.5 * 0x1p-25, 0.6, 0.004]
            let reals = (0..<n).map { j in
                trial % 5 == 3
                    ? edges[(j + trial) % edges.count]
                    : Double.random(in: large ? 0.3...3.0 : 0.0001...0.02, using: &rng)
            }
            let inputZero = [-128, 127, Int32.random(in: -128...127, using: &rng)][trial % 3]
            let outputZero = Int32.random(in: -128...127, using: &rng)
            let activation = Int8DepthwiseRowReference.activation(trial, outputZero: outputZero)
            let stage = try Int8PackedWeights(
                k: 0, n: n, element: { _, _ in 0 }, bias: { bias[$0] }, realMultiplier: { reals[$0] },
                activation: activation)
            var packed = [Int16](repeating: 0, count: cnnz_qs8_dwconv_8c2_packed_count(kh, kw, n))
            cnnz_qs8_dwconv_8c2_pack(kh, kw, n, weights, &packed)
            var packedStage = [Int32](repeating: 0, count: cnnz_qs8_dwconv_8c2_stage_count(n))
            withUnsafePointer(to: stage.output) { out in
                cnnz_qs8_dwconv_8c2_pack_stage(kh, kw, n, weights, inputZero, out, &packedStage)
            }
            var window = cnnz_qs8_window(
                height: height, width: width, channels: n, kernel_height: kh, kernel_width: kw, stride_height: sh,
                stride_width: sw, dilation_height: dh, dilation_width: dw, pad_top: padTop, pad_left: padLeft,
                out_width: outWidth, group_offset: 0, group_channels: n)
            // The image and the rows' scratch in buffers of exactly their size (a sanitizer build
            // sees any access past them).
            let x = UnsafeMutablePointer<Int8>.allocate(capacity: image.count)
            x.initialize(from: image, count: image.count)
            defer { x.deallocate() }
            let scratchBytes = cnnz_qs8_dwconv_8c2_rows_bytes(&window)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 16)
            defer { scratch.deallocate() }
            let rows = scratch.bindMemory(to: Int16.self, capacity: scratchBytes / 2)
            var expected = [[Int8]](repeating: [], count: outHeight)
            for oy in 0..<outHeight {
                let row = Int8DepthwiseRowReference.row(
                    oy, window, image: image, weights: weights, bias: bias, reals: reals, inputZero: inputZero,
                    activation: activation)
                saturated.formUnion(row.filter { $0 == -128 || $0 == 127 })
                expected[oy] = row
            }
            for oy in 0..<outHeight {
                // One row, two, three (a pair of rows kept for the next two), and all the rest.
                for count in Set([1, 2, 3, outHeight - oy]) where oy + count <= outHeight {
                    var c = [Int8](repeating: 0, count: count * outWidth * n)
                    withUnsafePointer(to: stage.output) { out in
                        cnnz_qs8_dwconv_row_8c2__avx2(
                            x, &window, oy, count, packed, packedStage, inputZero, rows, out, &c)
                    }
                    #expect(
                        c == Array(expected[oy..<oy + count].joined()),
                        "trial \(trial) n=\(n) \(height)x\(width) kernel \(kh)x\(kw) stride \(sh),\(sw) dilation \(dh) pad \(padTop),\(padLeft),\(padBottom),\(padRight) rows \(oy)..<\(oy + count) zero \(inputZero) activation \(trial % 4) large \(large)"
                    )
                }
            }
        }
        #expect(saturated == [-128, 127])
    }
}
