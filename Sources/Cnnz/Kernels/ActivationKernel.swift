/// An activation on its own.
final class ActivationKernel: Kernel {
    let operands: KernelOperands
    let activation: Activation
    let scratchFloats = 0

    init(operands: KernelOperands, activation: Activation) {
        self.operands = operands
        self.activation = activation
    }

    func run(_ context: RunContext) {
        let channels = operands.outputShape.channels
        let positions = context.batch * operands.outputShape.pixels
        let output = context.values[operands.output]
        let input = UnsafePointer(context.values[operands.input])
        if UnsafePointer(output) != input { output.update(from: input, count: positions * channels) }
        ActivationFunction.apply(activation, to: output, rows: positions, columns: channels, stride: channels)
    }
}
