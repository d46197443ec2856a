/// Int8 depthwise convolution, direct: for each output pixel, int32 sums of
/// `(q - zeroPoint) * w` over the window's taps inside the input (padding is
/// the zero point, which adds nothing), one per output channel
/// (`c * multiplier + m`), then bias, per-channel requantization and the
/// activation's clamp or table.
final class DepthwiseConv2DInt8: RegisteredKernel {
    let operands: KernelOperands
    let window: Window
    let multiplier: Int
    let rows: AxisGeometry
    let columns: AxisGeometry
    /// `[kh * kw][C * multiplier]` int32 weights (Keras's layout, widened once).
    let weights: [Int32]
    let bias: [Int32]
    let multipliers: [Int32]
    let shifts: [Int32]
    let stage: Int8Activation
    let inputZeroPoint: Int32
    let scratchBytes: Int

    init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .depthwiseConv2D(let window, let multiplier, let hasBias) = setup.layer.kind,
            let output = setup.outputQuantization, case .int8(let w) = setup.weights[0].storage,
            let q = setup.weights[0].quantization
        else { throw setup.mismatch }
        operands = setup.operands
        self.window = window
        self.multiplier = multiplier
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
        bias = (0..<channels).map(biasValue)
        stage = Int8Activation(setup.layer.activation, output: output)
        var multipliers: [Int32] = []
        var shifts: [Int32] = []
        for oc in 0..<channels {
            let (m, s) = Requantization.multiplier(Double(input.scale) * weightScale(oc) / Double(stage.scale))
            multipliers.append(m)
            shifts.append(s)
        }
        self.multipliers = multipliers
        self.shifts = shifts
        scratchBytes = channels * 4
    }

    static func preparedBytes(_ setup: KernelSetup) -> Int {
        setup.weights[0].elementCount * 4 + setup.operands.outputShape.channels * 12 + 256
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
        let m = multiplier
        weights.withUnsafeBufferPointer { w in
            for rowIndex in Partition.range(context.batch * y.height, part: part, of: parts) {
                let image = rowIndex / y.height
                let oy = rowIndex % y.height
                let source = input + image * x.elementCount
                for ox in 0..<y.width {
                    for oc in 0..<channels { sums[oc] = bias[oc] }
                    for ky in 0..<window.kernelHeight {
                        let iy = oy * window.strideHeight - rows.padBefore + ky * window.dilationHeight
                        guard iy >= 0 && iy < x.height else { continue }
                        for kx in 0..<window.kernelWidth {
                            let ix = ox * window.strideWidth - columns.padBefore + kx * window.dilationWidth
                            guard ix >= 0 && ix < x.width else { continue }
                            let tap = source + (iy * x.width + ix) * x.channels
                            let taps = w.baseAddress! + (ky * window.kernelWidth + kx) * channels
                            for c in 0..<x.channels {
                                let v = Int32(tap[c]) &- inputZeroPoint
                                for j in 0..<m { sums[c * m + j] &+= v &* taps[c * m + j] }
                            }
                        }
                    }
                    let out = output + ((image * y.height + oy) * y.width + ox) * channels
                    for oc in 0..<channels {
                        let q = Requantization.store(
                            Requantization.apply(sums[oc], multiplier: multipliers[oc], shift: shifts[oc]),
                            zeroPoint: stage.zeroPoint, bounds: stage.bounds)
                        out[oc] = stage.table.map { $0[Int(q) + 128] } ?? q
                    }
                }
            }
        }
    }
}
