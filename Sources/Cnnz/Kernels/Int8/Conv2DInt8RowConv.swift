import CInt8Kernels

/// The row convolutions' runs (`Conv2DInt8.isRowConv`): one call per image a part's blocks touch,
/// the image's input lines copied once per call.
extension Conv2DInt8 {
    /// `runVNNI` with the row convolution: the part's blocks, one call per image they touch
    /// (the image's lines copied once per call).
    func runRowConv(_ context: RunContext, part: Int, of parts: Int, padding: UInt8) {
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let x = operands.inputShape
        let y = operands.outputShape
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: UInt8.self)
        let blocks = Partition.range(context.batch * blocksPerImage, part: part, of: parts)
        guard !blocks.isEmpty else { return }
        let weights = packed[0]
        var block = blocks.lowerBound
        withUnsafePointer(to: geometry) { window in
            withUnsafePointer(to: weights.output) { stage in
                while block < blocks.upperBound {
                    let image = block / blocksPerImage
                    let last = min(blocks.upperBound, (image + 1) * blocksPerImage)
                    let first = (block % blocksPerImage) * Self.blockRows
                    let end = min(y.pixels, (last - image * blocksPerImage) * Self.blockRows)
                    cnnz_qu8_rowconv_8x32c4__avx512vnni(
                        input + image * x.elementCount, window, padding, first, end - first, Self.rowConvBlock, scratch,
                        weights.n, weights.panels.assumingMemoryBound(to: Int8.self), stage,
                        output + (image * y.pixels + first) * y.channels, y.channels)
                    residual?.add(
                        context, level: variant.level, to: output, from: (image * y.pixels + first) * y.channels,
                        count: (end - first) * y.channels)
                    block = last
                }
            }
        }
    }

    /// `run` with the int16 row convolution (AVX2): as `runRowConv`, the image's lines copied
    /// once per call as int16 `q - zeroPoint`.
    func runRowConvS16(_ context: RunContext, part: Int, of parts: Int) {
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let x = operands.inputShape
        let y = operands.outputShape
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: UInt8.self)
        let blocks = Partition.range(context.batch * blocksPerImage, part: part, of: parts)
        guard !blocks.isEmpty else { return }
        let weights = packed[0]
        let panels = UnsafePointer(weights.panels.assumingMemoryBound(to: Int16.self))
        var block = blocks.lowerBound
        withUnsafePointer(to: geometry) { window in
            withUnsafePointer(to: weights.output) { stage in
                while block < blocks.upperBound {
                    let image = block / blocksPerImage
                    let last = min(blocks.upperBound, (image + 1) * blocksPerImage)
                    let first = (block % blocksPerImage) * Self.blockRows
                    let end = min(y.pixels, (last - image * blocksPerImage) * Self.blockRows)
                    cnnz_qs8_rowconv_4x16c2__avx2(
                        input + image * x.elementCount, window, inputZeroPoint, first, end - first, Self.rowConvBlock,
                        scratch, weights.n, panels, weights.stage, stage,
                        output + (image * y.pixels + first) * y.channels, y.channels)
                    residual?.add(
                        context, level: variant.level, to: output, from: (image * y.pixels + first) * y.channels,
                        count: (end - first) * y.channels)
                    block = last
                }
            }
        }
    }
}
