/// Conv2D (any kernel, stride, dilation, padding, groups) as im2col + GEMM.
/// Output pixels are processed in blocks of `blockRows`, so the im2col buffer
/// is `blockRows * K` floats whatever the image size. A 1x1, stride-1,
/// unpadded, ungrouped convolution reads its input as the GEMM's A directly.
/// With a residual Add fused in (`KernelSetup.residual`), the GEMM's store adds
/// the other operand's element to each result before the Add's activation.
final class Conv2DIm2ColGEMM: RegisteredKernel, ResidualConvolution, PixelBandKernel {
    static let blockRows = 64

    let operands: KernelOperands
    let window: Window
    let groups: Int
    /// The activation applied to what is stored: the convolution's, or with a residual the Add's.
    let activation: Activation
    /// The Add's other operand (a value of the output's shape), when an Add is fused in.
    let residual: Int?
    /// The activation as the GEMM's store clamp, or nil: then a second pass applies it.
    let clamp: OutputClamp?
    let rows: AxisGeometry
    let columns: AxisGeometry
    /// One packed weight matrix per group.
    let packed: [PackedWeights]
    let kPerGroup: Int
    let isPointwise: Bool
    /// Ungrouped and undilated along x: a window row's taps are one run of the input.
    let contiguousTaps: Bool
    let scratchBytes: Int

    /// - Parameter residual: the value to add to each result (rows laid out as the output's)
    ///   before `activation`, or nil.
    init(
        operands: KernelOperands, window: Window, groups: Int, activation: Activation, kernel: Tensor, bias: Tensor?,
        residual: Int? = nil, arena: PageArena? = nil
    ) throws(CnnzError) {
        self.operands = operands
        self.window = window
        self.groups = groups
        self.activation = activation
        self.residual = residual
        clamp = OutputClamp(fusing: activation)
        let x = operands.inputShape
        // ShapeInference checked that the window fits.
        (rows, columns) = window.geometry(height: x.height, width: x.width)!
        let inPerGroup = x.channels / groups
        let filters = operands.outputShape.channels
        let outPerGroup = filters / groups
        kPerGroup = window.kernelHeight * window.kernelWidth * inPerGroup
        // Keras kernel [kh, kw, in/groups, filters] is [K, filters] row-major, K in im2col order.
        var packed: [PackedWeights] = []
        packed.reserveCapacity(groups)
        let weights = kernel.values
        let biases = bias?.values
        for g in 0..<groups {
            packed.append(
                try PackedWeights(
                    k: window.kernelHeight * window.kernelWidth * inPerGroup, n: outPerGroup, weights: weights,
                    offset: g * outPerGroup, rowStride: filters, bias: biases, biasOffset: g * outPerGroup,
                    arena: arena))
        }
        self.packed = packed
        isPointwise =
            window.kernelHeight == 1 && window.kernelWidth == 1 && window.strideHeight == 1 && window.strideWidth == 1
            && groups == 1
        contiguousTaps = groups == 1 && window.dilationWidth == 1
        scratchBytes = isPointwise ? 0 : Self.blockRows * kPerGroup * 4
    }

    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .conv2D(let window, _, let groups, let hasBias) = setup.layer.kind else { throw setup.mismatch }
        try self.init(
            operands: setup.operands, window: window, groups: groups,
            activation: setup.residual?.activation ?? setup.layer.activation, kernel: try setup.weight(0, as: .float32),
            bias: hasBias ? try setup.weight(1, as: .float32) : nil,
            residual: setup.residual == nil ? nil : setup.operands.inputs[1], arena: setup.arena)
    }

    /// Every convolution it runs: the GEMM's store adds the residual wherever it stores.
    static func fusesResidualAdd(_ shape: KernelShape) -> Bool { true }

    /// One packed weight matrix per group.
    static func preparedBytes(_ setup: KernelSetup) -> Int {
        guard case .conv2D(let window, let filters, let groups, _) = setup.layer.kind else { return 0 }
        let k = window.kernelHeight * window.kernelWidth * (setup.operands.inputShape.channels / groups)
        return groups * PackedWeights.floatCount(k: k, n: filters / groups) * 4
    }

    /// im2col rows per GEMM call: whole tiles, at most `blockRows`.
    private static var rowsPerBlock: Int { Swift.max(1, blockRows / GEMM.best.tileRows) * GEMM.best.tileRows }

    /// Panels threads may share out by columns: ungrouped, and not under a softmax (whole rows).
    private var splitPanels: Int { groups == 1 && activation != .softmax ? packed[0].panels : 0 }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let macs = batch * operands.outputShape.elementCount * kPerGroup
        return (items: GEMMShare.items(rows: batch * operands.outputShape.pixels, panels: splitPanels), work: macs)
    }

    /// The GEMM's rows are the batch's output pixels: a part's, unless it takes a share of the
    /// panels (fewer row tiles than parts).
    func outputPixels(batch: Int, part: Int, of parts: Int) -> Range<Int>? {
        let share = GEMMShare(rows: batch * operands.outputShape.pixels, panels: splitPanels, part: part, of: parts)
        return share.panels == nil ? share.rows : nil
    }

    /// Pointwise: its input is the GEMM's A, pixel for pixel.
    var readsOnlyItsPixels: Bool { isPointwise }

    /// Rows are the batch's output pixels, image after image (NHWC: row r's
    /// outputs start at r * filters); each part takes an even share of them
    /// (`GEMMShare`), wherever images or blocks end.
    func run(_ context: RunContext, part: Int, of parts: Int) {
        compute(context, part: part, of: parts, addingResidual: true)
    }

    /// The convolution alone (linear: a fused residual Add's convolution is), for
    /// `run(input:batch:visiting:)`.
    func runWithoutResidual(_ context: RunContext) {
        compute(context, part: 0, of: 1, addingResidual: false)
    }

    private func compute(_ context: RunContext, part: Int, of parts: Int, addingResidual: Bool) {
        let input = UnsafePointer(context.float32(operands.input))
        // Without the residual, the convolution's own linear activation: nothing to apply.
        let residual = addingResidual ? self.residual.map { UnsafePointer(context.float32($0)) } : nil
        let activation = addingResidual || self.residual == nil ? self.activation : .linear
        let clamp = activation == .linear ? OutputClamp.none : self.clamp
        let output = context.output(operands, as: Float.self)
        let x = operands.inputShape
        let y = operands.outputShape
        let filters = y.channels
        let share = GEMMShare(rows: context.batch * y.pixels, panels: splitPanels, part: part, of: parts)
        guard !share.rows.isEmpty else { return }
        let outputColumns = share.columns(n: filters, width: packed[0].panelWidth)
        if isPointwise {
            let first = share.rows.lowerBound
            let count = share.rows.count
            GEMM.run(
                m: count, a: input + first * x.channels, lda: x.channels, weights: packed[0],
                c: output + first * filters, ldc: filters, clamp: clamp ?? .none, panels: share.panels,
                residual: residual.map { $0 + first * filters })
            if clamp == nil {
                ActivationFunction.apply(
                    activation, to: output + first * filters + outputColumns.lowerBound, rows: count,
                    columns: outputColumns.count, stride: filters)
            }
            return
        }
        let inPerGroup = x.channels / groups
        let outPerGroup = filters / groups
        let pixels = y.pixels
        let k = kPerGroup
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: Float.self)
        let runLength = window.kernelWidth * inPerGroup
        let inputRowFloats = x.width * x.channels
        var start = share.rows.lowerBound
        while start < share.rows.upperBound {
            let count = Swift.min(Self.rowsPerBlock, share.rows.upperBound - start)
            // Where row `start` is; advanced pixel by pixel below instead of two divisions per row.
            let firstImage = start / pixels
            let firstPixel = start - firstImage * pixels
            let firstRow = firstPixel / y.width
            for g in 0..<groups {
                var image = firstImage
                var oy = firstRow
                var ox = firstPixel - firstRow * y.width
                // im2col: row r holds the receptive field of output row start+r, in (ky, kx, c) order.
                for r in 0..<count {
                    let source = input + image * x.elementCount
                    let column = scratch + r * k
                    let ix0 = ox * window.strideWidth - columns.padBefore
                    // The taps inside the image along x, the same for every window row.
                    let first = Swift.min(Swift.max(0, -ix0), window.kernelWidth)
                    let end = Swift.max(first, Swift.min(window.kernelWidth, x.width - ix0))
                    let inside = first == 0 && end == window.kernelWidth
                    for ky in 0..<window.kernelHeight {
                        let iy = oy * window.strideHeight - rows.padBefore + ky * window.dilationHeight
                        let line = column + ky * runLength
                        if iy < 0 || iy >= x.height {
                            line.update(repeating: 0, count: runLength)
                            continue
                        }
                        let from = source + iy * inputRowFloats + g * inPerGroup
                        if contiguousTaps {
                            // The taps of one window row are adjacent pixels: one copy for the
                            // ones inside the image, zeros for the padding on either side.
                            if inside {
                                copy(from + ix0 * x.channels, to: line, count: runLength)
                                continue
                            }
                            if first > 0 { line.update(repeating: 0, count: first * inPerGroup) }
                            if end > first {
                                copy(
                                    from + (ix0 + first) * x.channels, to: line + first * inPerGroup,
                                    count: (end - first) * inPerGroup)
                            }
                            if end < window.kernelWidth {
                                (line + end * inPerGroup).update(
                                    repeating: 0, count: (window.kernelWidth - end) * inPerGroup)
                            }
                            continue
                        }
                        for kx in 0..<window.kernelWidth {
                            let ix = ix0 + kx * window.dilationWidth
                            if ix >= 0 && ix < x.width {
                                copy(from + ix * x.channels, to: line + kx * inPerGroup, count: inPerGroup)
                            } else {
                                (line + kx * inPerGroup).update(repeating: 0, count: inPerGroup)
                            }
                        }
                    }
                    ox += 1
                    if ox == y.width {
                        ox = 0
                        oy += 1
                        if oy == y.height {
                            oy = 0
                            image += 1
                        }
                    }
                }
                GEMM.run(
                    m: count, a: scratch, lda: k, weights: packed[g], c: output + start * filters + g * outPerGroup,
                    ldc: filters, clamp: clamp ?? .none, panels: share.panels,
                    residual: residual.map { $0 + start * filters + g * outPerGroup })
            }
            if clamp == nil {
                ActivationFunction.apply(
                    activation, to: output + start * filters + outputColumns.lowerBound, rows: count,
                    columns: outputColumns.count, stride: filters)
            }
            start += count
        }
    }

    /// Copies `count` floats. Up to 16 (the runs of a first convolution's 1 or 3 input
    /// channels) as two overlapping vector moves in line: the call to memmove and its
    /// size dispatch took longer than the copy itself (fashion_cnn's first layer, one
    /// channel: a copy of 3 floats per window row, half the layer's time).
    @inline(__always)
    private func copy(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
        let from = UnsafeRawPointer(source)
        let to = UnsafeMutableRawPointer(destination)
        let tail = (count &- 1) &* 4
        switch count {
        case 8...16:
            let head = from.loadUnaligned(as: SIMD8<Float>.self)
            let last = from.loadUnaligned(fromByteOffset: tail &- 28, as: SIMD8<Float>.self)
            to.storeBytes(of: head, as: SIMD8<Float>.self)
            to.storeBytes(of: last, toByteOffset: tail &- 28, as: SIMD8<Float>.self)
        case 4...7:
            let head = from.loadUnaligned(as: SIMD4<Float>.self)
            let last = from.loadUnaligned(fromByteOffset: tail &- 12, as: SIMD4<Float>.self)
            to.storeBytes(of: head, as: SIMD4<Float>.self)
            to.storeBytes(of: last, toByteOffset: tail &- 12, as: SIMD4<Float>.self)
        case 2...3:
            let head = from.loadUnaligned(as: SIMD2<Float>.self)
            let last = from.loadUnaligned(fromByteOffset: tail &- 4, as: SIMD2<Float>.self)
            to.storeBytes(of: head, as: SIMD2<Float>.self)
            to.storeBytes(of: last, toByteOffset: tail &- 4, as: SIMD2<Float>.self)
        case 1:
            destination[0] = source[0]
        default:
            to.copyMemory(from: from, byteCount: count &* 4)
        }
    }
}
