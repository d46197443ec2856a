import CInt8Kernels

/// Int8 Conv2D (any kernel, stride, dilation, padding, groups) and, with a
/// 1x1 window, int8 Dense: im2col and the int8 GEMM with bias, requantization
/// and the activation's clamp or table fused into its store. The im2col rows
/// are what the variant multiplies: int16 `input - zeroPoint` (portable, AVX2;
/// padding is then 0, exactly the zero point) or bytes `input xor 0x80` (VNNI;
/// padding is the zero point's byte, the compensation is in the packed bias).
/// Output pixels go in blocks of at most `blockRows` (fewer when a layer has fewer blocks than
/// threads: `blockRows(pixels:images:parts:)`), so the scratch is `blockRows * K` int16 whatever
/// the image size.
///
/// With a residual Add fused in (`KernelSetup.residual`), each result is
/// requantized to the convolution's own output, then added to the other
/// operand by the Add's integer formula (`AddInt8`): in the store of the
/// 512-bit VNNI GEMM (`cnnz_qu8_gemm_vnni512_add`), elsewhere by
/// `cnnz_qs8_add2` in place over each block of rows just written (still in L1), at level AVX2
/// by the Add's linear form (`cnnz_qs8_add2_linear`, `Int8ResidualAdd.linear`) when one gives
/// every pair of bytes' result (mobile_res's p3 and p5: 40 instructions per 32 values against
/// 150; 1 thread, batch 64, p3 + p5 3.84 + 2.96 -> 3.20 + 2.64 ms). On AVX2 the Add
/// in the tiles' store, on the sums still in registers (a prototype for mobile_res's p3 and p5:
/// the conversions to and from bytes of the convolution's result saved), ran 0.8 % fewer
/// instructions on those layers and no faster in time, for a copy of the store per form of
/// the Add's terms; the Add's arithmetic, not its loads, is what it costs.
final class Conv2DInt8: RegisteredKernel {
    static let blockRows = 64
    /// The row convolution's GEMM blocks (pixels per pointer table): its calls cover a part's
    /// whole range in an image, so larger blocks than the parts' only set up each panel's store
    /// constants and tile loop fewer times.
    static let rowConvBlock = 256

    let operands: KernelOperands
    let window: Window
    let groups: Int
    let rows: AxisGeometry
    let columns: AxisGeometry
    /// One packed weight matrix per group.
    let packed: [Int8PackedWeights]
    let inputZeroPoint: Int16
    let scratchBytes: Int
    let variant: Int8GEMM.Variant
    /// 1x1, stride 1, one group (and every Dense): rows of all images form one matrix.
    let isPointwise: Bool
    /// The window for the im2cols (`cnnz_qs8_im2col_s16`, `cnnz_qu8_im2col`), group 0.
    let geometry: cnnz_qs8_window
    /// VNNI 512: the indirect convolution (`cnnz_qu8_igemm_8x32c4__avx512vnni`, no im2col
    /// matrix) when every tap is whole groups of 4 channels; not for K up to 64, which the row
    /// convolution below takes (one pointer per kernel row rather than per tap).
    let isIndirect: Bool
    /// VNNI 512, one group, no dilation across, few channels (those the indirect convolution
    /// does not take): the row convolution (`cnnz_qu8_rowconv_8x32c4__avx512vnni`), whose taps
    /// are the kernel's rows, each padded to whole groups of 4 in `packed`'s k. AVX2 (int16),
    /// one group, no dilation across: the int16 row convolution (`cnnz_qs8_rowconv_4x16c2__avx2`),
    /// kernel rows padded to whole pairs.
    let isRowConv: Bool
    /// VNNI 512, one group, 4, 8 or 12 filters at horizontal stride 1 (seed002's first two
    /// layers): the pixel-lane convolution (`cnnz_qu8_pxconv_16x4n__avx512vnni`, 16 output
    /// pixels per vector, one vector per filter), whose taps are the kernel's pixels, each
    /// padded to whole groups of 4 channels in `packed`'s k. Before the others (`takesPixelConv`).
    let isPixelConv: Bool
    /// The fused Add, or nil.
    let residual: Int8ResidualAdd?
    /// The fused 2x2 max pooling (`fusesMaxPool`), or nil: the output is the pooling's.
    let pool: MaxPoolFusion?
    /// The convolution's output shape (with a fused pooling, not the output value's).
    let convolutionShape: TensorShape

    init(
        operands: KernelOperands, window: Window, groups: Int, kernel: Tensor, bias: Tensor?,
        input: ActivationQuantization, output: ActivationQuantization, activation: Activation,
        variant: Int8GEMM.Variant = Int8GEMM.selected, residual: ResidualAdd? = nil, pool: MaxPoolFusion? = nil
    ) throws(CnnzError) {
        self.operands = operands
        self.pool = pool
        let convolutionShape = pool?.convolutionShape ?? operands.outputShape
        self.convolutionShape = convolutionShape
        self.window = window
        self.groups = groups
        let x = operands.inputShape
        // ShapeInference checked that the window fits.
        let (rowGeometry, columnGeometry) = window.geometry(height: x.height, width: x.width)!
        (rows, columns) = (rowGeometry, columnGeometry)
        let filters = operands.outputShape.channels
        let outPerGroup = filters / groups
        let k = window.kernelHeight * window.kernelWidth * (x.channels / groups)
        guard case .int8(let weights) = kernel.storage, let q = kernel.quantization else {
            throw .unsupported("int8 Conv2D: the kernel is \(kernel.elementType), not int8")
        }
        // One variant for every group: the maddubs one only if all groups' weights fit it.
        var chosen =
            variant == .avx2Maddubs
                && !weights.withUnsafeBufferPointer {
                    Int8GEMM.fitsMaddubs(k: k, n: filters, weights: $0.baseAddress!, rowStride: filters)
                } ? .avx2 : variant
        let pointwise =
            window.kernelHeight == 1 && window.kernelWidth == 1 && window.strideHeight == 1 && window.strideWidth == 1
            && groups == 1
        let segment = window.kernelWidth * x.channels
        let lineBytes = (columnGeometry.padBefore + x.width + window.kernelWidth) * x.channels
        // Weights that fit vpmaddubsw (7 bits) in a layer whose kernel rows hold at most 64 values
        // (the first layers) and that the AVX2 row convolution takes: the int16 row convolution,
        // 2 to 3.6 times faster there than the maddubs GEMM on its byte im2col (seed002 conv0
        // 202 -> 54 us, mobile_res b0 147 -> 60); wider rows stay with maddubs, which does twice
        // the products per instruction (cifar_vgg.int8w7 conv4 0.14 ms against 0.20 in the int16
        // row convolution, fashion_cnn.int8w7 conv2 at batch 64 about 4.9 ms against 8).
        if chosen == .avx2Maddubs && segment <= 64
            && Self.takesRowConv(
                variant: .avx2, pointwise: pointwise, groups: groups, window: window, channels: x.channels, k: k,
                rowK: window.kernelHeight * ((segment + 1) / 2 * 2), lineBytes: lineBytes, height: x.height)
        {
            chosen = .avx2
        }
        self.variant = chosen
        self.residual = residual.map { Int8ResidualAdd($0, value: operands.inputs[1], level: chosen.level) }
        // The row convolutions' kernel rows: whole groups of 4 (VNNI) or pairs (int16).
        let unit = self.variant == .avx2 ? 2 : 4
        let rowSegment = (segment + unit - 1) / unit * unit
        let stage = Int8Activation(activation, output: output)
        // Not with a fused pooling (`fusesMaxPool` leaves these layers unfused).
        let path = Self.path(
            variant: self.variant, window: window, groups: groups, input: x, filters: filters,
            hasTable: stage.table != nil, pixelLane: pool == nil)
        (isPixelConv, isRowConv, isIndirect) = (path.pixelLane, path.row, path.indirect)
        let pixelChannels = (x.channels + 3) / 4 * 4
        let weightScale = { (f: Int) in Double(q.scales.count == 1 ? q.scales[0] : q.scales[f]) }
        let biasValue = try Self.bias(bias, inputScale: input.scale, weightScale: weightScale)
        var packed: [Int8PackedWeights] = []
        let packing = self.variant
        // The float forms' search (about 2 µs a column at load) only where each column's stage
        // runs for at least 16 pixels an image: not for a dense layer's one (seed002's 1,010
        // dense columns added 2.4 ms to its load and saved nothing measurable).
        let floatForms = convolutionShape.pixels >= 16
        for g in 0..<groups {
            // Keras kernel [kh, kw, in/groups, filters] is [K, filters] row-major, K in im2col order.
            let bias = { (n: Int) in biasValue(g * outPerGroup + n) }
            let realMultiplier = { (n: Int) in
                Double(input.scale) * weightScale(g * outPerGroup + n) / Double(stage.scale)
            }
            if isRowConv || isPixelConv {
                // The row convolution's k: each kernel row's `segment` weights, then zeros up to
                // a whole unit; the pixel-lane convolution's: each tap's channels, then zeros up to
                // a whole group of 4. One group. Laid out so (a copy per run), then packed by rows.
                precondition(groups == 1, "the row and pixel-lane convolutions take one group")
                let (runs, run, padded) =
                    isPixelConv
                    ? (window.kernelHeight * window.kernelWidth, x.channels, pixelChannels)
                    : (window.kernelHeight, segment, rowSegment)
                let count = runs * padded * filters
                let matrix = try AlignedBuffer.bytes(count, alignment: 64)
                defer { matrix.deallocate() }
                let m = matrix.baseAddress!.bindMemory(to: Int8.self, capacity: count)
                m.update(repeating: 0, count: count)
                weights.withUnsafeBufferPointer { w in
                    for i in 0..<runs {
                        (m + i * padded * filters).update(
                            from: w.baseAddress! + i * run * filters, count: run * filters)
                    }
                }
                packed.append(
                    try Int8PackedWeights(
                        k: runs * padded, n: filters, weights: m, rowStride: filters, bias: bias,
                        realMultiplier: realMultiplier, activation: stage, variant: packing,
                        inputZeroPoint: input.zeroPoint, floatForms: floatForms && packing == .vnni512))
                continue
            }
            // The group's columns packed straight from the kernel's rows.
            let group: Result<Int8PackedWeights, CnnzError> = weights.withUnsafeBufferPointer { w in
                Result { () throws(CnnzError) -> Int8PackedWeights in
                    try Int8PackedWeights(
                        k: k, n: outPerGroup, weights: w.baseAddress! + g * outPerGroup, rowStride: filters,
                        bias: bias, realMultiplier: realMultiplier, activation: stage, variant: packing,
                        inputZeroPoint: input.zeroPoint, floatForms: floatForms)
                }
            }
            packed.append(try group.get())
        }
        self.packed = packed
        inputZeroPoint = Int16(input.zeroPoint)
        isPointwise = pointwise
        geometry = cnnz_qs8_window(
            height: x.height, width: x.width, channels: x.channels, kernel_height: window.kernelHeight,
            kernel_width: window.kernelWidth, stride_height: window.strideHeight, stride_width: window.strideWidth,
            dilation_height: window.dilationHeight, dilation_width: window.dilationWidth,
            pad_top: rowGeometry.padBefore,
            pad_left: columnGeometry.padBefore, out_width: convolutionShape.width, group_offset: 0,
            group_channels: x.channels / groups)
        precondition(pool == nil || isRowConv || isIndirect, "a fused max pooling needs the VNNI 512 indirect paths")
        let im2colBytes = Self.blockRows * (self.variant.isVNNI ? packed[0].kGroups * 4 : packed[0].kPairs * 2 * 2)
        if pool != nil {
            scratchBytes = Self.pooledScratch(geometry, rowConv: isRowConv)
            return
        }
        scratchBytes =
            isPixelConv
            ? withUnsafePointer(to: geometry) { cnnz_qu8_pxconv_scratch($0) }
            : isRowConv
                ? withUnsafePointer(to: geometry) {
                    chosen == .avx2
                        ? cnnz_qs8_rowconv_scratch($0, Self.rowConvBlock)
                        : cnnz_qu8_rowconv_scratch($0, Self.rowConvBlock)
                }
                : isIndirect
                    ? withUnsafePointer(to: geometry) { cnnz_qu8_igemm_scratch($0, Self.blockRows) } : im2colBytes
    }

    /// Whether the row convolution runs: VNNI 512, one group, no dilation across, not what the
    /// indirect convolution takes (channels a multiple of 4 and k above 64), kernel rows padded
    /// to groups of 4 adding at most a third to k (1 to 3 channels with 3 or 2 columns: 9 -> 12,
    /// 6 -> 8, 27 -> 36), and the copy of the image's padded lines at most 512 KB. AVX2: one
    /// group, no dilation across, kernel rows padded to pairs adding at most a third to k (3x3
    /// with 1 channel: 9 -> 12), and the int16 copy of the lines at most 512 KB, whatever the
    /// kernel rows' width: on wide rows too it skips the im2col (which writes each input value 9
    /// times for a 3x3), and its calls cover a part's whole range in an image (one set-up per
    /// panel group instead of one per 64 rows). Session 26, 8-bit weights, 1 thread, A/B medians:
    /// fashion_cnn conv2 (14x14x32, 3x3) at batch 64 5.40 -> 4.67 ms, cifar_vgg conv1/conv4/conv7
    /// (32, 64, 128 channels) 0.19 -> 0.15 ms each, every seed002 layer 3 to 15 % faster. (Until
    /// then kernel rows over 64 values took the im2col, 3 to 16 % faster with older tiles.)
    /// Which convolution runs a layer with `variant`: the pixel-lane one (`takesPixelConv`, when
    /// `pixelLane` allows it), else the row one (`takesRowConv`), else, on VNNI 512 with whole
    /// groups of 4 channels and k above 64, the indirect one; none of them: im2col and the GEMM.
    /// `init` and `fusesMaxPool` both ask here, so a fused pooling's layer gets the path it was
    /// fused for.
    static func path(
        variant: Int8GEMM.Variant, window: Window, groups: Int, input x: TensorShape, filters: Int, hasTable: Bool,
        pixelLane: Bool
    ) -> (pixelLane: Bool, row: Bool, indirect: Bool) {
        // ShapeInference checked that the window fits.
        let columns = window.geometry(height: x.height, width: x.width)!.columns
        let pointwise =
            window.kernelHeight == 1 && window.kernelWidth == 1 && window.strideHeight == 1 && window.strideWidth == 1
            && groups == 1
        let channels = x.channels / groups
        let k = window.kernelHeight * window.kernelWidth * channels
        let segment = window.kernelWidth * x.channels
        // The row convolutions' kernel rows: whole groups of 4 (VNNI) or pairs (int16).
        let unit = variant == .avx2 ? 2 : 4
        let lineBytes = (columns.padBefore + x.width + window.kernelWidth) * x.channels
        let pixel =
            pixelLane
            && takesPixelConv(
                variant: variant, pointwise: pointwise, groups: groups, window: window, channels: x.channels,
                filters: filters, hasTable: hasTable, padLeft: columns.padBefore, outWidth: columns.output,
                height: x.height)
        let row =
            !pixel
            && takesRowConv(
                variant: variant, pointwise: pointwise, groups: groups, window: window, channels: x.channels, k: k,
                rowK: window.kernelHeight * ((segment + unit - 1) / unit * unit), lineBytes: lineBytes,
                height: x.height)
        let indirect = variant == .vnni512 && !pointwise && !row && !pixel && channels % 4 == 0 && k > 64
        return (pixel, row, indirect)
    }

    static func takesRowConv(
        variant: Int8GEMM.Variant, pointwise: Bool, groups: Int, window: Window, channels: Int, k: Int, rowK: Int,
        lineBytes: Int, height: Int
    ) -> Bool {
        switch variant {
        case .vnni512:
            !pointwise && groups == 1 && window.dilationWidth == 1
                && !(channels % 4 == 0 && k > 64) && 3 * rowK <= 4 * ((k + 3) / 4 * 4)
                && lineBytes * height <= 512 * 1024
        case .avx2:
            !pointwise && groups == 1 && window.dilationWidth == 1
                && 3 * rowK <= 4 * ((k + 1) / 2 * 2)
                && 2 * lineBytes * height <= 512 * 1024
        default: false
        }
    }

    /// Column `f`'s bias in the sums' scale: an int32 bias as it is, a float32
    /// one rounded to `bias / (inputScale * weightScale)`, none as 0.
    static func bias(_ bias: Tensor?, inputScale: Float, weightScale: @escaping (Int) -> Double) throws(CnnzError)
        -> (Int) -> Int32
    {
        switch bias?.storage {
        case nil: return { _ in 0 }
        case .int32(let values): return { values[$0] }
        case .float32(let values):
            return { f in
                let q = (Double(values[f]) / (Double(inputScale) * weightScale(f))).rounded()
                return Int32(min(max(q, Double(Int32.min)), Double(Int32.max)))
            }
        case .int8: throw .unsupported("int8 layer: an int8 bias; biases are int32 or float32")
        }
    }

    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .conv2D(let window, _, let groups, let hasBias) = setup.layer.kind,
            let output = setup.outputQuantization
        else { throw setup.mismatch }
        try self.init(
            operands: setup.operands, window: window, groups: groups, kernel: setup.weights[0],
            bias: hasBias ? setup.weights[1] : nil, input: setup.inputQuantization[0], output: output,
            activation: setup.layer.activation, residual: setup.residual, pool: setup.pool)
    }

    /// Every convolution: the 512-bit VNNI GEMM adds in its store, the other paths after each block.
    static func fusesResidualAdd(_ shape: KernelShape) -> Bool { true }

    /// One packed weight matrix per group.
    /// (At most: the row convolution's k, each kernel row padded to groups of 4.)
    static func preparedBytes(_ setup: KernelSetup) -> Int {
        guard case .conv2D(let window, let filters, let groups, _) = setup.layer.kind else { return 0 }
        let channels = setup.operands.inputShape.channels / groups
        let k = window.kernelHeight * window.kernelWidth * channels
        let rowK = window.kernelHeight * ((window.kernelWidth * channels + 3) / 4 * 4)
        let pixelK = window.kernelHeight * window.kernelWidth * ((channels + 3) / 4 * 4)
        return groups * Int8PackedWeights.bytes(k: max(k, rowK, pixelK), n: filters / groups)
    }
}
