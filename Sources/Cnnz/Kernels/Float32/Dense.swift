/// Dense on the last axis at every position: one GEMM with
/// `M = batch * positions`, `K = in`, `N = units`.
final class DenseGEMM: RegisteredKernel {
    let operands: KernelOperands
    let activation: Activation
    /// The activation as the GEMM's store clamp, or nil: then a second pass applies it.
    let clamp: OutputClamp?
    let packed: PackedWeights
    /// The panels threads may share out by columns: none under a softmax, which needs whole rows.
    let splitPanels: Int
    let scratchBytes = 0

    init(
        operands: KernelOperands, activation: Activation, kernel: Tensor, bias: Tensor?, arena: PageArena? = nil
    ) throws(CnnzError) {
        self.operands = operands
        self.activation = activation
        clamp = OutputClamp(fusing: activation)
        let units = operands.outputShape.channels
        packed = try PackedWeights(
            k: operands.inputShape.channels, n: units, weights: kernel.values, offset: 0, rowStride: units,
            bias: bias?.values, arena: arena)
        splitPanels = activation == .softmax ? 0 : packed.panels
    }

    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .dense(_, let hasBias) = setup.layer.kind else { throw setup.mismatch }
        try self.init(
            operands: setup.operands, activation: setup.layer.activation, kernel: try setup.weight(0, as: .float32),
            bias: hasBias ? try setup.weight(1, as: .float32) : nil, arena: setup.arena)
    }

    /// The packed weights.
    static func preparedBytes(_ setup: KernelSetup) -> Int {
        PackedWeights.floatCount(k: setup.operands.inputShape.channels, n: setup.operands.outputShape.channels) * 4
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let rows = batch * operands.inputShape.pixels
        return (items: GEMMShare.items(rows: rows, panels: splitPanels), work: rows * packed.k * packed.n)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let share = GEMMShare(
            rows: context.batch * operands.inputShape.pixels, panels: splitPanels, part: part, of: parts)
        let first = share.rows.lowerBound
        let count = share.rows.count
        guard count > 0 else { return }
        let inputs = operands.inputShape.channels
        let units = operands.outputShape.channels
        let output = context.output(operands, as: Float.self) + first * units
        GEMM.run(
            m: count, a: context.float32(operands.input) + first * inputs, lda: inputs, weights: packed, c: output,
            ldc: units, clamp: clamp ?? .none, panels: share.panels)
        if clamp == nil {
            let columns = share.columns(n: units, width: packed.panelWidth)
            ActivationFunction.apply(
                activation, to: output + columns.lowerBound, rows: count, columns: columns.count, stride: units)
        }
    }
}
