/// Conv2D (any kernel, stride, dilation, padding, groups) as im2col + GEMM.
/// Output pixels are processed in blocks of `blockRows`, so the im2col buffer
/// is `blockRows * K` floats whatever the image size. A 1x1, stride-1,
/// unpadded, ungrouped convolution reads its input as the GEMM's A directly.
final class Conv2DIm2ColGEMM: RegisteredKernel {
    static let blockRows = 64

    let operands: KernelOperands
    let window: Window
    let groups: Int
    let activation: Activation
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

    init(operands: KernelOperands, window: Window, groups: Int, activation: Activation, kernel: Tensor, bias: Tensor?)
        throws(CnnzError)
    {
        self.operands = operands
        self.window = window
        self.groups = groups
        self.activation = activation
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
        for g in 0..<groups {
            packed.append(
                try PackedWeights(
                    k: window.kernelHeight * window.kernelWidth * inPerGroup, n: outPerGroup,
                    element: { k, n in kernel.values[k * filters + g * outPerGroup + n] },
                    bias: bias.map { b in { n in b.values[g * outPerGroup + n] } }))
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
            operands: setup.operands, window: window, groups: groups, activation: setup.layer.activation,
            kernel: try setup.weight(0, as: .float32), bias: hasBias ? try setup.weight(1, as: .float32) : nil)
    }

    /// One packed weight matrix per group.
    static func preparedBytes(_ setup: KernelSetup) -> Int {
        guard case .conv2D(let window, let filters, let groups, _) = setup.layer.kind else { return 0 }
        let k = window.kernelHeight * window.kernelWidth * (setup.operands.inputShape.channels / groups)
        return groups * PackedWeights.floatCount(k: k, n: filters / groups) * 4
    }

    private var blocksPerImage: Int { (operands.outputShape.pixels + Self.blockRows - 1) / Self.blockRows }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let macs = batch * operands.outputShape.elementCount * kPerGroup
        let tile = GEMM.best.tileRows
        let items = isPointwise ? (batch * operands.inputShape.pixels + tile - 1) / tile : batch * blocksPerImage
        return (items: items, work: macs)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let x = operands.inputShape
        let y = operands.outputShape
        let filters = y.channels
        if isPointwise {
            // Shares of whole microkernel tiles, so every part runs full tiles.
            let tile = GEMM.best.tileRows
            let rows = context.batch * x.pixels
            let tiles = Partition.range((rows + tile - 1) / tile, part: part, of: parts)
            let first = tiles.lowerBound * tile
            let count = Swift.min(rows, tiles.upperBound * tile) - first
            guard count > 0 else { return }
            GEMM.run(
                m: count, a: input + first * x.channels, lda: x.channels, weights: packed[0],
                c: output + first * filters, ldc: filters, clamp: clamp ?? .none)
            if clamp == nil {
                ActivationFunction.apply(
                    activation, to: output + first * filters, rows: count, columns: filters, stride: filters)
            }
            return
        }
        let inPerGroup = x.channels / groups
        let outPerGroup = filters / groups
        let pixels = y.pixels
        let k = kPerGroup
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: Float.self)
        let blocks = blocksPerImage
        for item in Partition.range(context.batch * blocks, part: part, of: parts) {
            let image = item / blocks
            let start = (item - image * blocks) * Self.blockRows
            let source = input + image * x.elementCount
            let destination = output + image * y.elementCount
            let count = Swift.min(Self.blockRows, pixels - start)
            for g in 0..<groups {
                // im2col: row r holds the receptive field of output pixel start+r, in (ky, kx, c) order.
                for r in 0..<count {
                    let pixel = start + r
                    let oy = pixel / y.width
                    let ox = pixel - oy * y.width
                    let column = scratch + r * k
                    for ky in 0..<window.kernelHeight {
                        let iy = oy * window.strideHeight - rows.padBefore + ky * window.dilationHeight
                        let line = column + ky * window.kernelWidth * inPerGroup
                        if iy < 0 || iy >= x.height {
                            line.update(repeating: 0, count: window.kernelWidth * inPerGroup)
                            continue
                        }
                        let ix0 = ox * window.strideWidth - columns.padBefore
                        let from = source + iy * x.width * x.channels + g * inPerGroup
                        if contiguousTaps {
                            // The taps of one window row are adjacent pixels: one copy for the
                            // ones inside the image, zeros for the padding on either side.
                            let first = Swift.min(Swift.max(0, -ix0), window.kernelWidth)
                            let end = Swift.max(first, Swift.min(window.kernelWidth, x.width - ix0))
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
                }
                GEMM.run(
                    m: count, a: scratch, lda: k, weights: packed[g],
                    c: destination + start * filters + g * outPerGroup, ldc: filters, clamp: clamp ?? .none)
            }
            if clamp == nil {
                ActivationFunction.apply(
                    activation, to: destination + start * filters, rows: count, columns: filters, stride: filters)
            }
        }
    }

    /// A plain memmove: `update(from:count:)` first compares the two addresses
    /// to pick a copy direction, and its longer path, taken whenever the scratch
    /// lies above the input in memory, cost 0.8% of a MobileNet. (Short copies
    /// in line, as overlapping vector moves, measured more instructions than the
    /// call.)
    @inline(__always)
    private func copy(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count &* 4)
    }
}
