/// Zero padding around the spatial axes.
final class ZeroPadding2D: Kernel {
    let operands: KernelOperands
    let top: Int
    let left: Int
    let activation: Activation
    let scratchFloats = 0

    init(operands: KernelOperands, top: Int, left: Int, activation: Activation) {
        self.operands = operands
        self.top = top
        self.left = left
        self.activation = activation
    }

    func run(_ context: RunContext) {
        let x = operands.inputShape
        let y = operands.outputShape
        let input = UnsafePointer(context.values[operands.input])
        let output = context.values[operands.output]
        output.update(repeating: 0, count: context.batch * y.elementCount)
        let rowFloats = x.width * x.channels
        for image in 0..<context.batch {
            for row in 0..<x.height {
                (output + image * y.elementCount + ((row + top) * y.width + left) * y.channels).update(
                    from: input + image * x.elementCount + row * rowFloats, count: rowFloats)
            }
        }
        ActivationFunction.apply(
            activation, to: output, rows: context.batch * y.pixels, columns: y.channels, stride: y.channels)
    }
}
