#if canImport(CnnzSIMD)
    import CnnzSIMD  // absent when Tests/Fuzz/run.sh compiles everything as one module
#endif

/// Max and average pooling, direct NHWC with SIMD over channels. Padded
/// positions are skipped: never the maximum, never counted in the average.
final class Pool2D: RegisteredKernel {
    enum Mode { case max, average }

    let operands: KernelOperands
    let window: Window
    let mode: Mode
    let activation: Activation
    let rows: AxisGeometry
    let columns: AxisGeometry
    let scratchBytes = 0

    init(operands: KernelOperands, window: Window, mode: Mode, activation: Activation) {
        self.operands = operands
        self.window = window
        self.mode = mode
        self.activation = activation
        let x = operands.inputShape
        // ShapeInference checked that the window fits.
        (rows, columns) = window.geometry(height: x.height, width: x.width)!
    }

    /// Max or average pooling, as the layer says.
    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        switch setup.layer.kind {
        case .maxPool2D(let window):
            self.init(operands: setup.operands, window: window, mode: .max, activation: setup.layer.activation)
        case .averagePool2D(let window):
            self.init(operands: setup.operands, window: window, mode: .average, activation: setup.layer.activation)
        default:
            throw setup.mismatch
        }
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let y = operands.outputShape
        let taps = window.kernelHeight * window.kernelWidth
        return (items: batch * y.height, work: batch * y.elementCount * taps)
    }

    /// Each output pixel's channels in vectors of 8 held in a register across the
    /// window's taps, the last vector overlapping the one before when the channels
    /// are not a multiple of 8 (seed002's 12 and 25: a lane computed twice gets the
    /// same value twice), instead of a read-modify-write of the output per tap with
    /// a scalar tail, which took 30 us for seed002's 31x31x12 pooling.
    func run(_ context: RunContext, part: Int, of parts: Int) {
        let x = operands.inputShape
        let y = operands.outputShape
        let channels = y.channels
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let isMax = mode == .max
        let start: Float = isMax ? -.infinity : 0
        for item in Partition.range(context.batch * y.height, part: part, of: parts) {
            let image = item / y.height
            let oy = item - image * y.height
            let source = input + image * x.elementCount
            let destination = output + image * y.elementCount
            let y0 = Swift.max(oy * window.strideHeight - rows.padBefore, 0)
            let y1 = Swift.min(oy * window.strideHeight - rows.padBefore + window.kernelHeight, x.height)
            for ox in 0..<y.width {
                let x0 = Swift.max(ox * window.strideWidth - columns.padBefore, 0)
                let x1 = Swift.min(ox * window.strideWidth - columns.padBefore + window.kernelWidth, x.width)
                let out = destination + (oy * y.width + ox) * channels
                let inverse = 1 / Float((y1 - y0) * (x1 - x0))
                if channels >= 8 {
                    var c = 0
                    while c < channels {
                        let at = Swift.min(c, channels - 8)
                        var value = SIMD8<Float>(repeating: start)
                        // Two loops rather than a select per tap: this is the hot one.
                        if isMax {
                            for iy in y0..<y1 {
                                let row = source + ((iy &* x.width) &* channels &+ at)
                                for ix in x0..<x1 { value = laneMax(value, row.vector8(ix &* channels)) }
                            }
                            out.store8(value, at)
                        } else {
                            for iy in y0..<y1 {
                                let row = source + ((iy &* x.width) &* channels &+ at)
                                for ix in x0..<x1 { value += row.vector8(ix &* channels) }
                            }
                            out.store8(value * inverse, at)
                        }
                        c = at + 8
                    }
                } else {
                    for c in 0..<channels {
                        var value = start
                        for iy in y0..<y1 {
                            for ix in x0..<x1 {
                                let tap = source[(iy * x.width + ix) * channels + c]
                                value = isMax ? (tap > value ? tap : value) : value + tap
                            }
                        }
                        out[c] = isMax ? value : value * inverse
                    }
                }
            }
            ActivationFunction.apply(
                activation, to: destination + oy * y.width * channels, rows: y.width, columns: channels,
                stride: channels)
        }
    }
}
