/// Joins tensors along channels, in input order.
final class ConcatenateKernel: Kernel {
    let operands: KernelOperands
    let activation: Activation
    let scratchFloats = 0

    init(operands: KernelOperands, activation: Activation) {
        self.operands = operands
        self.activation = activation
    }

    func run(_ context: RunContext) {
        let y = operands.outputShape
        let output = context.values[operands.output]
        let positions = context.batch * y.pixels
        var offset = 0
        for (value, shape) in zip(operands.inputs, operands.inputShapes) {
            let input = UnsafePointer(context.values[value])
            let c = shape.channels
            for p in 0..<positions {
                (output + p * y.channels + offset).update(from: input + p * c, count: c)
            }
            offset += c
        }
        ActivationFunction.apply(activation, to: output, rows: positions, columns: y.channels, stride: y.channels)
    }
}
