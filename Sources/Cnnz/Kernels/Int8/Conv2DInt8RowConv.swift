import CInt8Kernels

/// The row convolutions' and the pixel-lane convolution's runs (`Conv2DInt8.isRowConv`,
/// `isPixelConv`): one call per image a part's blocks touch, the image's input lines copied once
/// per call.
extension Conv2DInt8 {
    /// `runVNNI` with the row convolution: the part's blocks, one call per image they touch
    /// (the image's lines copied once per call).
    func runRowConv(_ context: RunContext, part: Int, of parts: Int, padding: UInt8) {
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: UInt8.self)
        let weights = packed[0]
        let panels = weights.panels.assumingMemoryBound(to: Int8.self)
        let channels = operands.outputShape.channels
        forEachImageRows(context, part: part, of: parts) { image, window, first, rows, stage, output in
            cnnz_qu8_rowconv_8x32c4__avx512vnni(
                image, window, padding, first, rows, Self.rowConvBlock, scratch, weights.n, panels, weights.stage,
                stage, output, channels)
        }
    }

    /// Whether the pixel-lane convolution runs: VNNI 512, not pointwise, one group, 4, 8 or 12
    /// filters (a part of one 16-column panel, so the GEMM tiles leave lanes idle and store per
    /// pixel), horizontal stride and dilation 1, no activation table, 1 to 3 input channels or a
    /// multiple of 4 up to 16 (the copy's vector forms), and the copy of the lines as planes of 4
    /// channels at most 512 KB. And output rows that fill their blocks of 16 pixels at least as
    /// well as the filters fill the tiles' 16 lanes (`outWidth >= filters * blocks`: then neither
    /// its vpdpbusd nor its vectors through the output stage outnumber the tiles'; 17 pixels
    /// wide, 12 filters would take two blocks of 16 lanes, 24 vectors a tap, against 17 of 12).
    static func takesPixelConv(
        variant: Int8GEMM.Variant, pointwise: Bool, groups: Int, window: Window, channels: Int, filters: Int,
        hasTable: Bool, padLeft: Int, outWidth: Int, height: Int
    ) -> Bool {
        let planeBytes = ((outWidth + 15) / 16 * 16 + window.kernelWidth - 1) * 4
        return variant == .vnni512 && !pointwise && groups == 1 && [4, 8, 12].contains(filters) && !hasTable
            && window.strideWidth == 1 && window.dilationWidth == 1 && padLeft >= 0
            && (channels < 4 || (channels % 4 == 0 && channels <= 16))
            && (channels + 3) / 4 * planeBytes * (height + 1) <= 512 * 1024
            && outWidth >= filters * ((outWidth + 15) / 16)
    }

    /// `runVNNI` with the pixel-lane convolution: as `runRowConv`, the image's lines copied once
    /// per call (as planes of 4 channels).
    func runPixelConv(_ context: RunContext, part: Int, of parts: Int, padding: UInt8) {
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: UInt8.self)
        let weights = packed[0]
        let panels = weights.panels.assumingMemoryBound(to: Int8.self)
        forEachImageRows(context, part: part, of: parts) { image, window, first, rows, stage, output in
            cnnz_qu8_pxconv_16x4n__avx512vnni(
                image, window, padding, first, rows, scratch, weights.n, panels, weights.stage, stage, output)
        }
    }

    /// `run` with the int16 row convolution (AVX2): as `runRowConv`, the image's lines copied
    /// once per call as int16 `q - zeroPoint`.
    func runRowConvS16(_ context: RunContext, part: Int, of parts: Int) {
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: UInt8.self)
        let weights = packed[0]
        let panels = UnsafePointer(weights.panels.assumingMemoryBound(to: Int16.self))
        let channels = operands.outputShape.channels
        forEachImageRows(context, part: part, of: parts) { image, window, first, rows, stage, output in
            cnnz_qs8_rowconv_4x16c2__avx2(
                image, window, inputZeroPoint, first, rows, Self.rowConvBlock, scratch, weights.n, panels,
                weights.stage, stage, output, channels)
        }
    }

    /// The part's blocks of output pixels (`blockRows(pixels:images:parts:)` each), one `body` call per image they touch: the image's input,
    /// its output rows first..<first + rows (`output` points at the first), then the residual
    /// added over those rows. Both row convolutions' runs; `body` is not escaping (no allocation).
    private func forEachImageRows(
        _ context: RunContext, part: Int, of parts: Int,
        _ body: (
            _ image: UnsafePointer<Int8>, _ window: UnsafePointer<cnnz_qs8_window>, _ first: Int, _ rows: Int,
            _ stage: UnsafePointer<cnnz_qs8_output>, _ output: UnsafeMutablePointer<Int8>
        ) -> Void
    ) {
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let x = operands.inputShape
        let y = operands.outputShape
        // Blocks of `blockRows`, or fewer rows when that leaves a part without a block (seed002
        // int8's conv9, 25 pixels, ran on one of two threads).
        let rows = Self.blockRows(pixels: y.pixels, images: context.batch, parts: parts)
        let blocksPerImage = (y.pixels + rows - 1) / rows
        let blocks = Partition.range(context.batch * blocksPerImage, part: part, of: parts)
        guard !blocks.isEmpty else { return }
        var block = blocks.lowerBound
        withUnsafePointer(to: geometry) { window in
            withUnsafePointer(to: packed[0].output) { stage in
                while block < blocks.upperBound {
                    let image = block / blocksPerImage
                    let last = min(blocks.upperBound, (image + 1) * blocksPerImage)
                    let first = (block % blocksPerImage) * rows
                    let end = min(y.pixels, (last - image * blocksPerImage) * rows)
                    let from = (image * y.pixels + first) * y.channels
                    body(input + image * x.elementCount, window, first, end - first, stage, output + from)
                    residual?.add(
                        context, level: variant.level, to: output, from: from, count: (end - first) * y.channels)
                    block = last
                }
            }
        }
    }
}
