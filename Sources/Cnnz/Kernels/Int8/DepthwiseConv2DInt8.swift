import CInt8Kernels

/// Int8 depthwise convolution, direct: for each output pixel, int32 sums of
/// `(q - zeroPoint) * w` over the window's taps inside the input (padding is
/// the zero point, which adds nothing), one per output channel
/// (`c * multiplier + m`), then bias, per-channel requantization and the
/// activation's clamp or table. Depth multiplier 1 runs a C row kernel: with
/// the 512-bit VNNI variant `cnnz_qu8_dwconv_row_16c4__avx512vnni` (4 taps of
/// a window column per `vpdpbusd` lane, the zero point in the bias), with the
/// AVX2 variants `cnnz_qs8_dwconv_row_8c2__avx2` (2 rows of a window column as
/// the int16 pair of a `vpmaddwd` lane), else `cnnz_qs8_depthwise_row` (32-bit
/// products; portable, AVX-512).
final class DepthwiseConv2DInt8: RegisteredKernel {
    let operands: KernelOperands
    let window: Window
    let multiplier: Int
    let rows: AxisGeometry
    let columns: AxisGeometry
    /// `[kh * kw][C * multiplier]` int32 weights (Keras's layout, widened once).
    let weights: [Int32]
    /// The per-channel bias, requantization and activation, as the GEMM's store
    /// (no weight panels: `k` is 0).
    let stage: Int8PackedWeights
    /// With the 512-bit VNNI variant (depth multiplier 1, windows up to 16 x 16): the weights in
    /// the VNNI GEMM's layout, 4 rows of a window column per group, and the bias that layout
    /// takes (`cnnz_qu8_dwconv_row_16c4__avx512vnni`); else nil.
    let vnni: Int8PackedWeights?
    /// With the AVX2 variants (depth multiplier 1, windows up to 16 x 16): the weights as int16
    /// pairs of window rows per channel (`cnnz_qs8_dwconv_8c2_pack`), for
    /// `cnnz_qs8_dwconv_row_8c2__avx2`; else empty.
    let avx2Weights: [Int16]
    /// With the AVX2 variants: per block of 8 channels, the output stage's constants and the bias
    /// less the input zero point's share (`cnnz_qs8_dwconv_8c2_pack_stage`); else empty.
    let avx2Stage: [Int32]
    let inputZeroPoint: Int32
    let scratchBytes: Int
    let variant: Int8GEMM.Variant

    init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .depthwiseConv2D(let window, let multiplier, let hasBias) = setup.layer.kind,
            let output = setup.outputQuantization, case .int8(let w) = setup.weights[0].storage,
            let q = setup.weights[0].quantization
        else { throw setup.mismatch }
        operands = setup.operands
        self.window = window
        self.multiplier = multiplier
        variant = Int8GEMM.selected
        let x = operands.inputShape
        (rows, columns) = window.geometry(height: x.height, width: x.width)!
        let channels = operands.outputShape.channels
        let input = setup.inputQuantization[0]
        inputZeroPoint = input.zeroPoint
        weights = w.map { Int32($0) }
        // Weight scales run along the input channels (axis 2), or one for all.
        let weightScale = { (oc: Int) in Double(q.scales.count == 1 ? q.scales[0] : q.scales[oc / multiplier]) }
        let biasValue = try Conv2DInt8.bias(
            hasBias ? setup.weights[1] : nil, inputScale: input.scale, weightScale: weightScale)
        let activation = Int8Activation(setup.layer.activation, output: output)
        stage = try Int8PackedWeights(
            k: 0, n: channels, element: { _, _ in 0 }, bias: biasValue,
            realMultiplier: { Double(input.scale) * weightScale($0) / Double(activation.scale) },
            activation: activation)
        if variant == .vnni512 && multiplier == 1 && window.kernelHeight <= 16 && window.kernelWidth <= 16 {
            vnni = try Self.vnniWeights(
                kernelHeight: window.kernelHeight, kernelWidth: window.kernelWidth, channels: channels,
                weight: { w[$0] }, bias: biasValue,
                realMultiplier: { Double(input.scale) * weightScale($0) / Double(activation.scale) },
                activation: activation, inputZeroPoint: input.zeroPoint)
        } else {
            vnni = nil
        }
        if Self.usesAVX2Rows(variant: variant, multiplier: multiplier, window: window) {
            var packed = [Int16](
                repeating: 0,
                count: cnnz_qs8_dwconv_8c2_packed_count(window.kernelHeight, window.kernelWidth, channels))
            packed.withUnsafeMutableBufferPointer { p in
                cnnz_qs8_dwconv_8c2_pack(window.kernelHeight, window.kernelWidth, channels, w, p.baseAddress!)
            }
            avx2Weights = packed
            var packedStage = [Int32](repeating: 0, count: cnnz_qs8_dwconv_8c2_stage_count(channels))
            withUnsafePointer(to: stage.output) { out in
                packedStage.withUnsafeMutableBufferPointer { p in
                    cnnz_qs8_dwconv_8c2_pack_stage(
                        window.kernelHeight, window.kernelWidth, channels, w, input.zeroPoint, out, p.baseAddress!)
                }
            }
            avx2Stage = packedStage
        } else {
            avx2Weights = []
            avx2Stage = []
        }
        // The sums, then (multiplier 1) the pixel and weight pointers of each tap; or the VNNI
        // kernel's row of padding.
        let taps = window.kernelHeight * window.kernelWidth
        if !avx2Weights.isEmpty {
            var geometry = Self.geometry(
                window, input: x, rows: rows, columns: columns, outWidth: operands.outputShape.width)
            scratchBytes = cnnz_qs8_dwconv_8c2_rows_bytes(&geometry)
        } else {
            scratchBytes =
                vnni == nil ? (channels * 4 + 7) / 8 * 8 + taps * 16 : (x.width * x.channels + 63) / 64 * 64
        }
    }

    /// Whether `cnnz_qs8_dwconv_row_8c2__avx2` runs the layer: the AVX2 level (no AVX-512),
    /// depth multiplier 1, windows up to 16 x 16.
    static func usesAVX2Rows(variant: Int8GEMM.Variant, multiplier: Int, window: Window) -> Bool {
        variant.level == CNNZ_INT8_AVX2 && multiplier == 1 && window.kernelHeight <= 16 && window.kernelWidth <= 16
    }

    /// The C row kernels' window.
    static func geometry(
        _ window: Window, input x: TensorShape, rows: AxisGeometry, columns: AxisGeometry, outWidth: Int
    ) -> cnnz_qs8_window {
        cnnz_qs8_window(
            height: x.height, width: x.width, channels: x.channels, kernel_height: window.kernelHeight,
            kernel_width: window.kernelWidth, stride_height: window.strideHeight, stride_width: window.strideWidth,
            dilation_height: window.dilationHeight, dilation_width: window.dilationWidth, pad_top: rows.padBefore,
            pad_left: columns.padBefore, out_width: outWidth, group_offset: 0, group_channels: x.channels)
    }

    /// The window's rows rounded up to groups of 4 (the VNNI layout's rows per window column).
    static func rowsPerColumn(kernelHeight: Int) -> Int { (kernelHeight + 3) / 4 * 4 }

    /// The weights, bias and output stage of `cnnz_qu8_dwconv_row_16c4__avx512vnni`: the VNNI
    /// GEMM's layout with `k = kernelWidth * rowsPerColumn` rows, row `kx * rowsPerColumn + ky`
    /// holding `weight((ky * kernelWidth + kx) * channels + c)` (Keras's order; 0 past the
    /// window's rows), so each group of 4 rows is 4 taps of one window column; its `stage`, the
    /// float forms of the output stage where a block of 16 channels has them (proved at load).
    static func vnniWeights(
        kernelHeight kh: Int, kernelWidth kw: Int, channels: Int, weight: (Int) -> Int8, bias: (Int) -> Int32,
        realMultiplier: (Int) -> Double, activation: Int8Activation, inputZeroPoint: Int32
    ) throws(CnnzError) -> Int8PackedWeights {
        let rows = rowsPerColumn(kernelHeight: kh)
        return try Int8PackedWeights(
            k: kw * rows, n: channels,
            element: { row, column in
                let (kx, ky) = (row / rows, row % rows)
                return ky < kh ? weight((ky * kw + kx) * channels + column) : 0
            },
            bias: bias, realMultiplier: realMultiplier, activation: activation, variant: .vnni512,
            inputZeroPoint: inputZeroPoint, floatForms: true)
    }

    static func preparedBytes(_ setup: KernelSetup) -> Int {
        let channels = setup.operands.outputShape.channels
        var vnniBytes = 0
        if case .depthwiseConv2D(let window, _, _) = setup.layer.kind {
            let k = window.kernelWidth * rowsPerColumn(kernelHeight: window.kernelHeight)
            vnniBytes = Int8PackedWeights.bytes(k: k, n: channels)
        }
        // The AVX2 pairs: at most 2 * (kh + 2) / 2 * kw * 8 int16 per 8 channels; their stage.
        var avx2Bytes = 0
        if case .depthwiseConv2D(let window, _, _) = setup.layer.kind {
            avx2Bytes = (channels + 7) / 8 * 2 * ((window.kernelHeight + 2) / 2) * window.kernelWidth * 32
            avx2Bytes += cnnz_qs8_dwconv_8c2_stage_count(channels) * 4
        }
        return setup.weights[0].elementCount * 4 + channels * 12 + 256 + vnniBytes + avx2Bytes
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let rowsOut = batch * operands.outputShape.height
        return (
            items: rowsOut,
            work: rowsOut * operands.outputShape.width * operands.outputShape.channels
                * window.kernelHeight * window.kernelWidth
        )
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let x = operands.inputShape
        let y = operands.outputShape
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let sums = context.scratch(part: part, bytes: scratchBytes, as: Int32.self)
        let channels = y.channels
        let inChannels = x.channels
        let m = multiplier
        let zero = inputZeroPoint
        let level = variant.level
        weights.withUnsafeBufferPointer { w in
            let base = w.baseAddress!
            if m == 1 {
                runChannelsInner(context, part: part, of: parts, weights: base, sums: sums)
                return
            }
            for rowIndex in Partition.range(context.batch * y.height, part: part, of: parts) {
                let image = rowIndex / y.height
                let oy = rowIndex % y.height
                let source = input + image * x.elementCount
                for ox in 0..<y.width {
                    sums.update(repeating: 0, count: channels)
                    for ky in 0..<window.kernelHeight {
                        let iy = oy * window.strideHeight - rows.padBefore + ky * window.dilationHeight
                        guard iy >= 0 && iy < x.height else { continue }
                        for kx in 0..<window.kernelWidth {
                            let ix = ox * window.strideWidth - columns.padBefore + kx * window.dilationWidth
                            guard ix >= 0 && ix < x.width else { continue }
                            let tap = source + (iy * x.width + ix) * inChannels
                            let taps = base + (ky * window.kernelWidth + kx) * channels
                            for c in 0..<inChannels {
                                let v = Int32(tap[c]) &- zero
                                for j in 0..<m { sums[c * m + j] &+= v &* taps[c * m + j] }
                            }
                        }
                    }
                    withUnsafePointer(to: stage.output) { out in
                        cnnz_qs8_store_row(
                            level, sums, channels, out, output + ((image * y.height + oy) * y.width + ox) * channels)
                    }
                }
            }
        }
    }

    /// Depth multiplier 1: each output row in C (`cnnz_qs8_depthwise_row`), the
    /// channels innermost (8 or 16 at a time with AVX2 or AVX-512), over the taps
    /// that fall inside the input.
    private func runChannelsInner(
        _ context: RunContext, part: Int, of parts: Int, weights: UnsafePointer<Int32>,
        sums: UnsafeMutablePointer<Int32>
    ) {
        let x = operands.inputShape
        let y = operands.outputShape
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let rowBytes = y.width * y.channels
        var geometry = Self.geometry(window, input: x, rows: rows, columns: columns, outWidth: y.width)
        let level = variant.level
        if !avx2Weights.isEmpty {
            let scratch = UnsafeMutableRawPointer(sums).assumingMemoryBound(to: Int16.self)
            avx2Weights.withUnsafeBufferPointer { packed in
                avx2Stage.withUnsafeBufferPointer { packedStage in
                    withUnsafePointer(to: stage.output) { out in
                        // All the part's rows of one image per call (consecutive rows share pairs of rows).
                        let range = Partition.range(context.batch * y.height, part: part, of: parts)
                        var rowIndex = range.lowerBound
                        while rowIndex < range.upperBound {
                            let (image, oy) = rowIndex.quotientAndRemainder(dividingBy: y.height)
                            let count = min(range.upperBound - rowIndex, y.height - oy)
                            cnnz_qs8_dwconv_row_8c2__avx2(
                                input + image * x.elementCount, &geometry, oy, count, packed.baseAddress!,
                                packedStage.baseAddress!, inputZeroPoint, scratch, out, output + rowIndex * rowBytes)
                            rowIndex += count
                        }
                    }
                }
            }
            return
        }
        if let vnni {
            let packed = UnsafePointer(vnni.panels.assumingMemoryBound(to: Int8.self))
            let padding = UnsafeMutableRawPointer(sums).assumingMemoryBound(to: Int8.self)
            withUnsafePointer(to: vnni.output) { out in
                // Two rows of one image at a time where the part has them (they share loads).
                let range = Partition.range(context.batch * y.height, part: part, of: parts)
                var rowIndex = range.lowerBound
                while rowIndex < range.upperBound {
                    let (image, oy) = rowIndex.quotientAndRemainder(dividingBy: y.height)
                    let count = rowIndex + 1 < range.upperBound && oy + 1 < y.height ? 2 : 1
                    cnnz_qu8_dwconv_row_16c4__avx512vnni(
                        input + image * x.elementCount, &geometry, oy, count, packed, vnni.stage, inputZeroPoint,
                        padding, out, output + rowIndex * rowBytes)
                    rowIndex += count
                }
            }
            return
        }
        withUnsafePointer(to: stage.output) { out in
            for rowIndex in Partition.range(context.batch * y.height, part: part, of: parts) {
                let image = rowIndex / y.height
                cnnz_qs8_depthwise_row(
                    level, input + image * x.elementCount, &geometry, rowIndex % y.height, weights, inputZeroPoint,
                    sums, out, output + rowIndex * rowBytes)
            }
        }
    }
}
