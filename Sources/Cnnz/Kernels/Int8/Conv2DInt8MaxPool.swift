import CInt8Kernels

/// An int8 convolution with the 2x2, stride-2 max pooling after it fused in (`MaxPoolFusion`):
/// on the 512-bit VNNI indirect and row convolutions, each tile of 8 output pixels holds the
/// windows of two pooled pixels, and its store requantizes only the largest int32 sum of each
/// window per column (`cnnz_qu8_igemm_maxpool2_8x32c4__avx512vnni`,
/// `cnnz_qu8_rowconv_maxpool2_8x32c4__avx512vnni`): a quarter of the output stages and stores,
/// no pass of the pooling, no memory for the convolution's value.
///
/// The same bytes as the two layers apart: a column's store (the requantization, the zero
/// point, the activation's clamp; its float form is proved equal to it for every sum) is a
/// non-decreasing function of the column's int32 sum when its multiplier is not negative
/// (`Requantization.multiplier` gives one in [2^30, 2^31) or 0) and it shifts only right (a left
/// shift wraps in int32, which is not monotone), so the maximum of the stored bytes is the store
/// of the largest sum; the pooling must be that maximum (`Pool2DInt8.isPlainMax`: its output keeps
/// the convolution's quantization, no activation of its own) over whole 2x2 windows ("valid"
/// padding; an odd last row or column is dropped, and its convolution pixels never computed).
/// `fusesMaxPool` checks all of that, and no activation table (a table need not be monotone).
extension Conv2DInt8 {
    /// Pooled pixels per block of the parts' split: the 64 convolution pixels of `blockRows`.
    static let pooledBlock = blockRows / 4
    /// Pooled pixels per GEMM call of the row convolution.
    static let pooledRowConvBlock = rowConvBlock / 4

    /// Where the planner fuses the max pooling: the 512-bit VNNI variant, one group, the
    /// indirect or the row convolution (`init`'s choice, from the same rules), a clamp (no table)
    /// and every column's multiplier without a left shift.
    static func fusesMaxPool(
        _ shape: KernelShape, kernel: Tensor, input: ActivationQuantization, output: ActivationQuantization
    ) -> Bool {
        guard Int8GEMM.selected == .vnni512, case .conv2D(let window, let filters, 1, _) = shape.layer.kind,
            let x = shape.inputShapes.first, let q = kernel.quantization, shape.layer.activation != .softmax
        else { return false }
        let stage = Int8Activation(shape.layer.activation, output: output)
        guard stage.table == nil else { return false }
        for f in 0..<filters {
            let weightScale = Double(q.scales.count == 1 ? q.scales[0] : q.scales[f])
            let real = Double(input.scale) * weightScale / Double(stage.scale)
            if Requantization.multiplier(real).shift > 0 { return false }
        }
        // The pixel-lane convolution's layers (4, 8 or 12 filters: seed002's conv0 and conv1) stay
        // unfused: conv1 took 16.5 us + 2.1 for its pooling there, 18.3 fused on the row convolution.
        let path = path(
            variant: .vnni512, window: window, groups: 1, input: x, filters: filters, hasTable: false, pixelLane: true)
        return !path.pixelLane && (path.row || path.indirect)
    }

    /// The scratch of the pooled runs, per thread.
    static func pooledScratch(_ geometry: cnnz_qs8_window, rowConv: Bool) -> Int {
        withUnsafePointer(to: geometry) {
            rowConv
                ? cnnz_qu8_rowconv_scratch($0, 4 * pooledRowConvBlock)
                : cnnz_qu8_igemm_maxpool2_scratch($0, pooledBlock)
        }
    }

    var pooledBlocksPerImage: Int { (operands.outputShape.pixels + Self.pooledBlock - 1) / Self.pooledBlock }

    /// `run` with the pooling fused in: the part's blocks of pooled pixels (whole windows, so the
    /// bytes are the same for every split), per block (indirect) or per image they touch (row
    /// convolution: the image's lines copied once per call).
    func runPooled(_ context: RunContext, part: Int, of parts: Int) {
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let x = operands.inputShape
        let y = operands.outputShape
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: UInt8.self)
        let padding = UInt8(truncatingIfNeeded: Int(inputZeroPoint) + 128)
        let weights = packed[0]
        let panels = weights.panels.assumingMemoryBound(to: Int8.self)
        // Indirect: fewer pooled pixels a block when the batch has fewer blocks than parts
        // (`blockRows(pixels:images:parts:)` on the convolution's 4 pixels per pooled one).
        let size =
            isRowConv ? Self.pooledBlock : Self.blockRows(pixels: 4 * y.pixels, images: context.batch, parts: parts) / 4
        let perImage = (y.pixels + size - 1) / size
        let blocks = Partition.range(context.batch * perImage, part: part, of: parts)
        withUnsafePointer(to: geometry) { window in
            withUnsafePointer(to: weights.output) { stage in
                var block = blocks.lowerBound
                while block < blocks.upperBound {
                    let image = block / perImage
                    let last = isRowConv ? min(blocks.upperBound, (image + 1) * perImage) : block + 1
                    let first = (block % perImage) * size
                    let end = min(y.pixels, (last - image * perImage) * size)
                    let source = input + image * x.elementCount
                    let c = output + (image * y.pixels + first) * y.channels
                    if isRowConv {
                        cnnz_qu8_rowconv_maxpool2_8x32c4__avx512vnni(
                            source, window, padding, first, end - first, Self.pooledRowConvBlock, scratch, weights.n,
                            panels, weights.stage, stage, c, y.channels)
                    } else {
                        cnnz_qu8_igemm_maxpool2_8x32c4__avx512vnni(
                            source, window, padding, first, end - first, scratch, weights.n, panels, weights.stage,
                            stage, c, y.channels)
                    }
                    block = last
                }
            }
        }
    }
}
