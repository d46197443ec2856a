extension Session {
    /// Runs `batch` prepared images (at most the batch capacity) as `run` does,
    /// on the caller's thread, and shows `visit` every float32 value of the
    /// graph as it is written: the input (value 0), then each layer's output
    /// (value `i + 1`; a linear Flatten's is its input's and is not shown; a convolution whose
    /// residual Add is fused into it runs apart from the Add here, so its value is shown too),
    /// `batch` images of it. The converter calibrates int8 models with it.
    public func run(
        input: UnsafeBufferPointer<Float>, batch: Int, visiting visit: (Int, UnsafeBufferPointer<Float>) -> Void
    ) throws(CnnzError) {
        try check(batch: batch, inputCount: input.count, outputCount: .max)
        guard batch <= batchCapacity else {
            throw .argument("recording runs one pass: batch \(batch) exceeds the batch capacity \(batchCapacity)")
        }
        guard let source = input.baseAddress else { return }
        let plan = model.plan
        for value in plan.inputValues { values[value] = UnsafeMutableRawPointer(mutating: source) }
        let context = RunContext(values: values, batch: batch, scratch: scratch.raw)
        visit(0, UnsafeBufferPointer(start: source, count: batch * plan.shapes[0].elementCount))
        for (k, (kernel, output)) in zip(plan.kernels, plan.kernelOutputs).enumerated() {
            if let split = plan.residualSplits[k], let convolution = kernel as? any ResidualConvolution {
                // A convolution with its Add fused in: run apart, to show the convolution's value.
                convolution.runWithoutResidual(context)
                visit(
                    split.convolutionValue,
                    UnsafeBufferPointer(start: context.float32(output), count: batch * plan.shapes[output].elementCount)
                )
                split.add.run(context, part: 0, of: 1)
            } else {
                kernel.run(context, part: 0, of: 1)
            }
            if output < plan.shapes.count, plan.elementTypes[output] == .float32 {
                visit(
                    output,
                    UnsafeBufferPointer(start: context.float32(output), count: batch * plan.shapes[output].elementCount)
                )
            }
        }
    }
}
