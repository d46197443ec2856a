/// An activation on its own.
final class ActivationKernel: RegisteredKernel {
    let operands: KernelOperands
    let activation: Activation
    let scratchBytes = 0

    init(operands: KernelOperands, activation: Activation) {
        self.operands = operands
        self.activation = activation
    }

    convenience init(_ setup: KernelSetup) {
        self.init(operands: setup.operands, activation: setup.layer.activation)
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let count = batch * operands.outputShape.pixels
        return (items: count, work: count * operands.outputShape.channels * 4)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let channels = operands.outputShape.channels
        let positions = Partition.range(context.batch * operands.outputShape.pixels, part: part, of: parts)
        let output = context.output(operands, as: Float.self) + positions.lowerBound * channels
        let input = UnsafePointer(context.float32(operands.input)) + positions.lowerBound * channels
        if UnsafePointer(output) != input { output.update(from: input, count: positions.count * channels) }
        ActivationFunction.apply(activation, to: output, rows: positions.count, columns: channels, stride: channels)
    }
}
