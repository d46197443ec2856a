#if canImport(CnnzSIMD)
    import CnnzSIMD  // absent when Tests/Fuzz/run.sh compiles everything as one module
#endif

/// The sum of two or more tensors of one shape.
final class AddKernel: Kernel {
    let operands: KernelOperands
    let activation: Activation
    let scratchFloats = 0

    init(operands: KernelOperands, activation: Activation) {
        self.operands = operands
        self.activation = activation
    }

    func run(_ context: RunContext) {
        let count = context.batch * operands.outputShape.elementCount
        let output = context.values[operands.output]
        let first = UnsafePointer(context.values[operands.inputs[0]])
        let vectorEnd = count & ~7
        for index in 1..<operands.inputs.count {
            let a = index == 1 ? first : UnsafePointer(output)
            let b = UnsafePointer(context.values[operands.inputs[index]])
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
        let channels = operands.outputShape.channels
        ActivationFunction.apply(activation, to: output, rows: count / channels, columns: channels, stride: channels)
    }
}
