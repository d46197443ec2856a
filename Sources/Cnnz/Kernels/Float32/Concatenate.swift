/// Joins tensors along channels, in input order.
final class ConcatenateKernel: RegisteredKernel {
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
        return (items: count, work: count * operands.outputShape.channels)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let y = operands.outputShape
        let output = context.output(operands, as: Float.self)
        let positions = Partition.range(context.batch * y.pixels, part: part, of: parts)
        var offset = 0
        for (value, shape) in zip(operands.inputs, operands.inputShapes) {
            let input = UnsafePointer(context.float32(value))
            let c = shape.channels
            for p in positions {
                (output + p * y.channels + offset).update(from: input + p * c, count: c)
            }
            offset += c
        }
        ActivationFunction.apply(
            activation, to: output + positions.lowerBound * y.channels, rows: positions.count, columns: y.channels,
            stride: y.channels)
    }
}
