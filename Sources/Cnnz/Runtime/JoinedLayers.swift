/// A kernel whose part `part` of `parts` computes a contiguous band of the batch's output
/// pixels (image after image, row after row, every channel of each): a depthwise convolution
/// split by rows, a pointwise one split by GEMM rows. `JoinedLayers` runs two such kernels as
/// one task per band when the second reads only the pixels the first's same part wrote.
protocol PixelBandKernel: Kernel {
    /// The output pixels part `part` of `parts` writes, or nil when it writes something else
    /// (a share of the channels).
    func outputPixels(batch: Int, part: Int, of parts: Int) -> Range<Int>?
    /// Whether part `part` reads, of its first input, only the pixels it writes (a 1x1,
    /// stride-1 convolution: input pixel i makes output pixel i).
    var readsOnlyItsPixels: Bool { get }
    /// The values it reads and writes.
    var operands: KernelOperands { get }
}

/// A depthwise convolution and the pointwise convolution that reads its output, run as one task
/// of the pool per band of rows: part p computes the first's band p, then the second's band p,
/// which reads only that band, so no barrier between the two (each thread's band stays in its
/// cache, and the caller waits for the helpers once instead of twice). mobile_res has six such
/// pairs. The numbers are the same as layer by layer: each part runs the same kernel parts.
final class JoinedLayers: SplitWork {
    let first: any PixelBandKernel
    let second: any PixelBandKernel

    /// A pair of `plan`'s kernels `k` and `k + 1` that may be joined, or nil: the second is
    /// pointwise and reads the first's output, and its output shares no arena byte with the
    /// first's inputs, nor the first's output with its other inputs (with the barrier gone, a
    /// band of one may be written while the other thread still reads the other).
    static func pair(_ plan: ExecutionPlan, at k: Int) -> JoinedLayers? {
        guard k + 1 < plan.kernels.count, let first = plan.kernels[k] as? any PixelBandKernel,
            let second = plan.kernels[k + 1] as? any PixelBandKernel, second.readsOnlyItsPixels,
            second.operands.input == first.operands.output
        else { return nil }
        for input in first.operands.inputs where overlap(plan, input, second.operands.output) { return nil }
        for input in second.operands.inputs.dropFirst() where overlap(plan, input, first.operands.output) {
            return nil
        }
        return JoinedLayers(first: first, second: second)
    }

    /// Whether two values' arena bytes (per image: the session scales offsets and sizes by its
    /// batch capacity) overlap; the model input lives in its own staging buffer.
    private static func overlap(_ plan: ExecutionPlan, _ a: Int, _ b: Int) -> Bool {
        let (offsetA, offsetB) = (plan.offsets[a], plan.offsets[b])
        if a == b { return true }
        guard offsetA >= 0, offsetB >= 0 else { return false }
        let sizeA = plan.shapes[a].elementCount * plan.elementTypes[a].byteCount
        let sizeB = plan.shapes[b].elementCount * plan.elementTypes[b].byteCount
        return offsetA < offsetB + sizeB && offsetB < offsetA + sizeA
    }

    private init(first: any PixelBandKernel, second: any PixelBandKernel) {
        self.first = first
        self.second = second
    }

    /// Whether `parts` parts of both kernels, for `batch` images, cover the same bands of pixels.
    func aligned(batch: Int, parts: Int) -> Bool {
        for part in 0..<parts {
            guard let band = first.outputPixels(batch: batch, part: part, of: parts),
                band == second.outputPixels(batch: batch, part: part, of: parts)
            else { return false }
        }
        return true
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        first.run(context, part: part, of: parts)
        second.run(context, part: part, of: parts)
    }
}
