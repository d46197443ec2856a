/// `y = x * scale[c] + shift[c]`: a batch normalization that could not be folded.
final class ChannelAffineKernel: RegisteredKernel {
    let operands: KernelOperands
    let activation: Activation
    let scale: [Float]
    let shift: [Float]
    let scratchBytes = 0

    init(operands: KernelOperands, activation: Activation, scale: Tensor, shift: Tensor) {
        self.operands = operands
        self.activation = activation
        self.scale = scale.values
        self.shift = shift.values
    }

    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        self.init(
            operands: setup.operands, activation: setup.layer.activation, scale: try setup.weight(0, as: .float32),
            shift: try setup.weight(1, as: .float32))
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let count = batch * operands.outputShape.pixels
        return (items: count, work: count * operands.outputShape.channels)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let channels = operands.outputShape.channels
        let positions = Partition.range(context.batch * operands.outputShape.pixels, part: part, of: parts)
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        scale.withUnsafeBufferPointer { s in
            shift.withUnsafeBufferPointer { t in
                for p in positions {
                    let row = p * channels
                    for c in 0..<channels { output[row + c] = input[row + c] * s[c] + t[c] }
                }
            }
        }
        ActivationFunction.apply(
            activation, to: output + positions.lowerBound * channels, rows: positions.count, columns: channels,
            stride: channels)
    }
}
