#if canImport(CnnzSIMD)
    import CnnzSIMD  // absent when Tests/Fuzz/run.sh compiles everything as one module
#endif

/// The sum of two or more tensors of one shape.
final class AddKernel: RegisteredKernel {
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
        return (items: count, work: count * operands.outputShape.channels * operands.inputs.count)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        // Shares of whole positions, so the activation (softmax included) sees whole rows.
        let channels = operands.outputShape.channels
        let positions = Partition.range(context.batch * operands.outputShape.pixels, part: part, of: parts)
        let start = positions.lowerBound * channels
        let count = positions.count * channels
        let output = context.output(operands, as: Float.self) + start
        let first = UnsafePointer(context.float32(operands.inputs[0])) + start
        let vectorEnd = count & ~7
        for index in 1..<operands.inputs.count {
            let a = index == 1 ? first : UnsafePointer(output)
            let b = UnsafePointer(context.float32(operands.inputs[index])) + start
            var i = 0
            while i < vectorEnd {
                output.store8(a.vector8(i) + b.vector8(i), i)
                i += 8
            }
            while i < count {
                output[i] = a[i] + b[i]
                i += 1
            }
        }
        ActivationFunction.apply(activation, to: output, rows: positions.count, columns: channels, stride: channels)
    }
}
