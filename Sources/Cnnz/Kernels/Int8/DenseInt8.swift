/// Int8 Dense on the last axis: the int8 Conv2D's GEMM with a 1x1 window
/// (`[in, units]` is the 1x1 kernel's layout), one row per position.
final class DenseInt8: RegisteredKernel {
    let convolution: Conv2DInt8
    var scratchBytes: Int { convolution.scratchBytes }

    init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .dense(_, let hasBias) = setup.layer.kind, let output = setup.outputQuantization else {
            throw setup.mismatch
        }
        convolution = try Conv2DInt8(
            operands: setup.operands, window: Window(kernelHeight: 1, kernelWidth: 1), groups: 1,
            kernel: setup.weights[0], bias: hasBias ? setup.weights[1] : nil, input: setup.inputQuantization[0],
            output: output, activation: setup.layer.activation)
    }

    static func preparedBytes(_ setup: KernelSetup) -> Int {
        Int8PackedWeights.bytes(k: setup.operands.inputShape.channels, n: setup.operands.outputShape.channels)
    }

    func workload(batch: Int) -> (items: Int, work: Int) { convolution.workload(batch: batch) }

    func run(_ context: RunContext, part: Int, of parts: Int) { convolution.run(context, part: part, of: parts) }
}
