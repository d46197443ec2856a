#if canImport(CnnzSIMD)
    import CnnzSIMD  // absent when Tests/Fuzz/run.sh compiles everything as one module
#endif

/// Global average or max pooling over all pixels, per channel.
final class GlobalPool2D: RegisteredKernel {
    let operands: KernelOperands
    let mode: Pool2D.Mode
    let activation: Activation
    let scratchBytes = 0

    init(operands: KernelOperands, mode: Pool2D.Mode, activation: Activation) {
        self.operands = operands
        self.mode = mode
        self.activation = activation
    }

    /// Global average or max pooling, as the layer says.
    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        let mode: Pool2D.Mode
        switch setup.layer.kind {
        case .globalAveragePool2D: mode = .average
        case .globalMaxPool2D: mode = .max
        default: throw setup.mismatch
        }
        self.init(operands: setup.operands, mode: mode, activation: setup.layer.activation)
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        (items: batch, work: batch * operands.inputShape.elementCount)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let x = operands.inputShape
        let channels = x.channels
        let vectorEnd = channels & ~7
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let isMax = mode == .max
        let images = Partition.range(context.batch, part: part, of: parts)
        for image in images {
            let source = input + image * x.elementCount
            let out = output + image * channels
            out.update(from: source, count: channels)
            for p in 1..<Swift.max(x.pixels, 1) {
                let pixel = source + p * channels
                var c = 0
                while c < vectorEnd {
                    out.store8(
                        isMax ? laneMax(out.vector8(c), pixel.vector8(c)) : out.vector8(c) + pixel.vector8(c), c)
                    c += 8
                }
                while c < channels {
                    out[c] = isMax ? Swift.max(out[c], pixel[c]) : out[c] + pixel[c]
                    c += 1
                }
            }
            if !isMax {
                let inverse = 1 / Float(x.pixels)
                for c in 0..<channels { out[c] *= inverse }
            }
        }
        ActivationFunction.apply(
            activation, to: output + images.lowerBound * channels, rows: images.count, columns: channels,
            stride: channels)
    }
}
