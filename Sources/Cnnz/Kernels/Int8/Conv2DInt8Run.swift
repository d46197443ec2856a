import CInt8Kernels

/// `Conv2DInt8`'s run: the parts' blocks of output pixels, through the variant's GEMM (im2col,
/// the indirect, row or pixel-lane convolutions; the pooled runs are in Conv2DInt8MaxPool.swift).
extension Conv2DInt8 {
    /// Blocks of 8 output pixels (the GEMM tiles' rows) at most, so that a layer of few pixels
    /// still splits (`blockRows(pixels:images:parts:)`); a pointwise layer with fewer such blocks
    /// than threads (Dense at batch 1) by its panels of 16 columns (`columnShare`).
    func workload(batch: Int) -> (items: Int, work: Int) {
        if pool != nil {
            let pooled = operands.outputShape.pixels
            // Indirect: blocks of 2 pooled pixels (a tile's 8 rows) at most, as below.
            let items = isRowConv ? batch * pooledBlocksPerImage : batch * ((pooled + 1) / 2)
            return (items: items, work: batch * convolutionShape.elementCount * packed[0].k)
        }
        let pixels = operands.outputShape.pixels
        let items = isPointwise ? max((batch * pixels + 7) / 8, columnPanels) : batch * ((pixels + 7) / 8)
        return (items: items, work: batch * operands.outputShape.elementCount * packed[0].k)
    }

    /// Output pixels per block when `parts` parts share `images` runs of `pixels` pixels each
    /// (the images of a batch, or one run of all of a pointwise layer's pixels): `blockRows`, or,
    /// when that leaves fewer blocks than parts, the fewest rows (a multiple of 8, the GEMM tiles'
    /// rows) that give every part a block. cifar_vgg int8's 8x8 layers are one block of 64 at
    /// batch 1, and ran on one of two threads (conv6 + conv7 65 us of 147). Each output is
    /// computed the same way in a block of any size, so the split only moves time; with a block
    /// per part already (one thread), blocks stay at 64 rows, whose weights are read once a block.
    static func blockRows(pixels: Int, images: Int, parts: Int) -> Int {
        guard images * ((pixels + blockRows - 1) / blockRows) < parts else { return blockRows }
        let blocksPerRun = (parts + images - 1) / images
        return min(blockRows, ((pixels + blocksPerRun - 1) / blocksPerRun + 7) / 8 * 8)
    }

    /// The panels of 16 output columns the parts of a pointwise layer without a fused Add may
    /// share out (0 for the others).
    var columnPanels: Int { isPointwise && residual == nil ? (operands.outputShape.channels + 15) / 16 : 0 }

    /// The output columns of `part` when a pointwise layer's `rows` make fewer blocks of 8 than
    /// `parts` (a Dense layer at batch 1: one row) and it has a panel of 16 columns per part:
    /// each part computes every row for its share of the panels, and streams only their weights,
    /// which is what a GEMV of one row is bound by (seed002 int8's dense13, 400 -> 750, ran on
    /// one of two threads). nil: the parts split the rows.
    func columnShare(rows: Int, part: Int, of parts: Int) -> Range<Int>? {
        guard parts > 1, (rows + 7) / 8 < parts, columnPanels >= parts else { return nil }
        let panels = Partition.range(columnPanels, part: part, of: parts)
        return panels.lowerBound * 16..<min(operands.outputShape.channels, panels.upperBound * 16)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        if pool != nil {
            runPooled(context, part: part, of: parts)
            return
        }
        if variant.isVNNI {
            runVNNI(context, part: part, of: parts)
            return
        }
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let x = operands.inputShape
        let y = operands.outputShape
        let lda = 2 * packed[0].kPairs
        if isRowConv {
            runRowConvS16(context, part: part, of: parts)
            return
        }
        let columnsBuffer = context.scratch(part: part, bytes: scratchBytes, as: Int16.self)
        let level = variant.level
        if isPointwise {
            let k = packed[0].k
            forEachPointwiseBlock(context, part: part, of: parts) { first, count, columns in
                cnnz_qs8_rows_s16(level, count, k, input + first * k, k, inputZeroPoint, columnsBuffer, lda)
                Int8GEMM.run(
                    variant, m: count, a: columnsBuffer, lda: lda, weights: packed[0], c: output + first * y.channels,
                    ldc: y.channels, columns: columns)
                residual?.add(context, level: level, to: output, from: first * y.channels, count: count * y.channels)
            }
            return
        }
        let inPerGroup = x.channels / groups
        let outPerGroup = y.channels / groups
        var window = geometry
        forEachBlock(context, part: part, of: parts) { image, first, count in
            let source = input + image * x.elementCount
            for g in 0..<groups {
                window.group_offset = g * inPerGroup
                cnnz_qs8_im2col_s16(level, source, &window, inputZeroPoint, first, count, columnsBuffer, lda)
                Int8GEMM.run(
                    variant, m: count, a: columnsBuffer, lda: lda, weights: packed[g],
                    c: output + (image * y.pixels + first) * y.channels + g * outPerGroup, ldc: y.channels)
            }
            residual?.add(
                context, level: level, to: output, from: (image * y.pixels + first) * y.channels,
                count: count * y.channels)
        }
    }

    /// `run` with a VNNI variant: the im2col (or, pointwise, the input rows) as bytes
    /// `q xor 0x80` in C, rows of `4 * kGroups` bytes.
    private func runVNNI(_ context: RunContext, part: Int, of parts: Int) {
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let x = operands.inputShape
        let y = operands.outputShape
        let lda = 4 * packed[0].kGroups
        let a = context.scratch(part: part, bytes: scratchBytes, as: UInt8.self)
        let level = variant.level
        if isPointwise {
            let k = packed[0].k
            forEachPointwiseBlock(context, part: part, of: parts) { first, count, columns in
                cnnz_qu8_rows(level, count, k, input + first * k, k, a, lda)
                gemm(
                    context, m: count, a: a, lda: lda, weights: packed[0], c: output, at: first * y.channels,
                    columns: columns)
            }
            return
        }
        let padding = UInt8(truncatingIfNeeded: Int(inputZeroPoint) + 128)
        if isPixelConv {
            runPixelConv(context, part: part, of: parts, padding: padding)
            return
        }
        if isRowConv {
            runRowConv(context, part: part, of: parts, padding: padding)
            return
        }
        // Rows of at most 64 bytes, one group (the first layers the row convolution does not take:
        // dilation across, or kernel rows whose padding to groups of 4 would add over a third to k):
        // built per output row, stored whole.
        let smallRows = level >= CNNZ_INT8_AVX512 && lda <= 64 && groups == 1
        let inPerGroup = x.channels / groups
        let outPerGroup = y.channels / groups
        var window = geometry
        forEachBlock(context, part: part, of: parts) { image, first, count in
            let source = input + image * x.elementCount
            for g in 0..<groups {
                window.group_offset = g * inPerGroup
                let weights = packed[g]
                let c = output + (image * y.pixels + first) * y.channels + g * outPerGroup
                if isIndirect {
                    withUnsafePointer(to: weights.output) { stage in
                        cnnz_qu8_igemm_8x32c4__avx512vnni(
                            source, &window, padding, first, count, a, weights.n,
                            weights.panels.assumingMemoryBound(to: Int8.self), weights.stage, stage, c, y.channels)
                    }
                    continue
                }
                if smallRows {
                    cnnz_qu8_im2col_k64__avx512(source, &window, padding, first, count, a, lda)
                } else {
                    cnnz_qu8_im2col(level, source, &window, padding, first, count, a, lda)
                }
                gemm(
                    context, m: count, a: a, lda: lda, weights: weights, c: output,
                    at: (image * y.pixels + first) * y.channels + g * outPerGroup)
            }
            if isIndirect {
                residual?.add(
                    context, level: level, to: output, from: (image * y.pixels + first) * y.channels,
                    count: count * y.channels)
            }
        }
    }

    /// The VNNI GEMM of `m` rows into `c + at` (rows `y.channels` apart), of `columns` only if
    /// given (`columnShare`: never with a fused Add); with a fused Add, the 512-bit one adds in its
    /// store, the others after.
    @inline(__always)
    private func gemm(
        _ context: RunContext, m: Int, a: UnsafePointer<UInt8>, lda: Int, weights: Int8PackedWeights,
        c: UnsafeMutablePointer<Int8>, at start: Int, columns: Range<Int>? = nil
    ) {
        let ldc = operands.outputShape.channels
        guard let residual else {
            Int8GEMM.runVNNI(variant, m: m, a: a, lda: lda, weights: weights, c: c + start, ldc: ldc, columns: columns)
            return
        }
        guard variant == .vnni512 else {
            Int8GEMM.runVNNI(variant, m: m, a: a, lda: lda, weights: weights, c: c + start, ldc: ldc)
            if weights.n == ldc {
                residual.add(context, level: variant.level, to: c, from: start, count: m * ldc)
            } else {
                // One group's columns of each row.
                for row in 0..<m {
                    residual.add(context, level: variant.level, to: c, from: start + row * ldc, count: weights.n)
                }
            }
            return
        }
        residual.gemm512(
            context, m: m, a: a, lda: lda, weights: weights, c: c + start, ldc: ldc, at: start)
    }

    /// The part's blocks of output pixels (`blockRows(pixels:images:parts:)` rows each, the
    /// last of an image shorter): `body(image, first pixel, pixel count)` for each. A pointwise
    /// layer's pixels are one run of the whole batch's (image 0), its rows needing no window.
    /// `forEachBlock` for a pointwise layer (both variants' loops): the part's blocks of rows with
    /// all the columns, or, when the parts split the columns (`columnShare`), every block of rows
    /// with the part's columns.
    private func forEachPointwiseBlock(
        _ context: RunContext, part: Int, of parts: Int,
        _ body: (_ first: Int, _ count: Int, _ columns: Range<Int>?) -> Void
    ) {
        let columns = columnShare(rows: context.batch * operands.outputShape.pixels, part: part, of: parts)
        forEachBlock(context, part: columns == nil ? part : 0, of: columns == nil ? parts : 1) { _, first, count in
            body(first, count, columns)
        }
    }

    private func forEachBlock(
        _ context: RunContext, part: Int, of parts: Int, _ body: (_ image: Int, _ first: Int, _ count: Int) -> Void
    ) {
        let pixels = isPointwise ? context.batch * operands.outputShape.pixels : operands.outputShape.pixels
        let images = isPointwise ? 1 : context.batch
        let rows = Self.blockRows(pixels: pixels, images: images, parts: parts)
        let imageBlocks = (pixels + rows - 1) / rows
        for block in Partition.range(images * imageBlocks, part: part, of: parts) {
            let first = (block % imageBlocks) * rows
            body(block / imageBlocks, first, min(rows, pixels - first))
        }
    }
}
