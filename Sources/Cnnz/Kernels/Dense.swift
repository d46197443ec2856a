/// Dense on the last axis at every position: one GEMM with
/// `M = batch * positions`, `K = in`, `N = units`.
final class DenseGEMM: Kernel {
    let operands: KernelOperands
    let activation: Activation
    let packed: PackedWeights
    let scratchFloats = 0

    init(operands: KernelOperands, activation: Activation, kernel: Tensor, bias: Tensor?) throws(CnnzError) {
        self.operands = operands
        self.activation = activation
        let units = operands.outputShape.channels
        packed = try PackedWeights(
            k: operands.inputShape.channels, n: units, element: { k, n in kernel.values[k * units + n] },
            bias: bias.map { b in { n in b.values[n] } })
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let rows = batch * operands.inputShape.pixels
        return (items: (rows + 7) / 8, work: rows * packed.k * packed.n)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let rows = context.batch * operands.inputShape.pixels
        let tiles = Partition.range((rows + 7) / 8, part: part, of: parts)
        let first = tiles.lowerBound * 8
        let count = Swift.min(rows, tiles.upperBound * 8) - first
        guard count > 0 else { return }
        let inputs = operands.inputShape.channels
        let units = operands.outputShape.channels
        let output = context.values[operands.output] + first * units
        GEMM.run(
            m: count, a: context.values[operands.input] + first * inputs, lda: inputs, weights: packed, c: output,
            ldc: units)
        ActivationFunction.apply(activation, to: output, rows: count, columns: units, stride: units)
    }
}
