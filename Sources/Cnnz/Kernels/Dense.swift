/// Dense on the last axis at every position: one GEMM with
/// `M = batch * positions`, `K = in`, `N = units`.
final class DenseGEMM: Kernel {
    let operands: KernelOperands
    let activation: Activation
    let packed: PackedWeights
    let scratchFloats = 0

    init(operands: KernelOperands, activation: Activation, kernel: Tensor, bias: Tensor?) {
        self.operands = operands
        self.activation = activation
        let units = operands.outputShape.channels
        packed = PackedWeights(
            k: operands.inputShape.channels, n: units, element: { k, n in kernel.values[k * units + n] },
            bias: bias.map { b in { n in b.values[n] } })
    }

    func run(_ context: RunContext) {
        let m = context.batch * operands.inputShape.pixels
        let units = operands.outputShape.channels
        let output = context.values[operands.output]
        GEMM.run(
            m: m, a: context.values[operands.input], lda: operands.inputShape.channels, weights: packed, c: output,
            ldc: units)
        ActivationFunction.apply(activation, to: output, rows: m, columns: units, stride: units)
    }
}
