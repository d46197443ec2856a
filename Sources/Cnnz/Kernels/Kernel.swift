/// The pointers a kernel reads and writes during one run. Built by the session;
/// nothing in it allocates.
struct RunContext {
    /// The base address of every value (index 0: the model input) for this run.
    let values: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    /// Images in this run (at most the session's batch capacity).
    let batch: Int
    /// Per-run scratch memory, at least `scratchFloats` of every kernel.
    let scratch: UnsafeMutablePointer<Float>
}

/// A prepared operation. `init` (the prepare step) validates nothing that
/// `ShapeInference` already checked, repacks weights and sizes its scratch;
/// `run` trusts it, never allocates and never throws.
protocol Kernel: AnyObject, Sendable {
    /// Floats of scratch memory `run` needs, independent of the batch size.
    var scratchFloats: Int { get }
    func run(_ context: RunContext)
}

/// Where a kernel's operands live: value indices and per-image shapes.
struct KernelOperands: Sendable {
    let inputs: [Int]
    let inputShapes: [TensorShape]
    let output: Int
    let outputShape: TensorShape

    var input: Int { inputs[0] }
    var inputShape: TensorShape { inputShapes[0] }
}
