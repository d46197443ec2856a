/// Zero padding around the spatial axes.
final class ZeroPadding2D: RegisteredKernel {
    let operands: KernelOperands
    let top: Int
    let left: Int
    let activation: Activation
    let scratchBytes = 0

    init(operands: KernelOperands, top: Int, left: Int, activation: Activation) {
        self.operands = operands
        self.top = top
        self.left = left
        self.activation = activation
    }

    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .zeroPadding2D(let top, _, let left, _) = setup.layer.kind else { throw setup.mismatch }
        self.init(operands: setup.operands, top: top, left: left, activation: setup.layer.activation)
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let y = operands.outputShape
        return (items: batch * y.height, work: batch * y.elementCount)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let x = operands.inputShape
        let y = operands.outputShape
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let rowFloats = y.width * y.channels
        for item in Partition.range(context.batch * y.height, part: part, of: parts) {
            let image = item / y.height
            let row = item - image * y.height
            let out = output + item * rowFloats
            out.update(repeating: 0, count: rowFloats)
            let sourceRow = row - top
            if sourceRow >= 0 && sourceRow < x.height {
                (out + left * y.channels).update(
                    from: input + image * x.elementCount + sourceRow * x.width * x.channels,
                    count: x.width * x.channels)
            }
            ActivationFunction.apply(activation, to: out, rows: y.width, columns: y.channels, stride: y.channels)
        }
    }
}
