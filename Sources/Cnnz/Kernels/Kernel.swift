/// The pointers a kernel reads and writes during one run. Built by the session;
/// nothing in it allocates.
struct RunContext {
    /// The base address of every value (index 0: the model input) for this run,
    /// untyped: the arena holds values of every element type. Kernels view them
    /// through `float32(_:)`, `int8(_:)`, `int32(_:)` and `output(_:as:)`, as
    /// the element type the plan gave each value (`ExecutionPlan.elementTypes`).
    let values: UnsafeMutablePointer<UnsafeMutableRawPointer>
    /// Images in this run (at most the session's batch capacity).
    let batch: Int
    /// Per-run scratch memory, 64-byte aligned: `scratchBytes` of the largest
    /// kernel for each thread; part `p` of a kernel uses its own `scratchBytes`
    /// from `p * scratchBytes` (see `scratch(part:bytes:as:)`).
    let scratch: UnsafeMutableRawPointer
    /// The scratch area of the thread running the part (`WorkerPool` sets it: a thread runs
    /// several parts of a kernel, one after another), or -1: the part's own, as numbered.
    var scratchSlot = -1

    /// A float32 value.
    @inline(__always) func float32(_ value: Int) -> UnsafeMutablePointer<Float> {
        values[value].assumingMemoryBound(to: Float.self)
    }

    /// An int8 value.
    @inline(__always) func int8(_ value: Int) -> UnsafeMutablePointer<Int8> {
        values[value].assumingMemoryBound(to: Int8.self)
    }

    /// An int32 value.
    @inline(__always) func int32(_ value: Int) -> UnsafeMutablePointer<Int32> {
        values[value].assumingMemoryBound(to: Int32.self)
    }

    /// The kernel's output, bound to `T` for this run's batch. The planner lets
    /// values of different element types share arena memory at different
    /// steps, so the writer binds it; binding emits no code.
    @inline(__always) func output<T>(_ operands: KernelOperands, as type: T.Type) -> UnsafeMutablePointer<T> {
        values[operands.output].bindMemory(to: T.self, capacity: batch * operands.outputShape.elementCount)
    }

    /// Part `part`'s scratch, for a kernel that asked for `bytes` per part.
    @inline(__always) func scratch<T>(part: Int, bytes: Int, as type: T.Type) -> UnsafeMutablePointer<T> {
        (scratch + (scratchSlot >= 0 ? scratchSlot : part) * bytes).bindMemory(
            to: T.self, capacity: bytes / MemoryLayout<T>.stride)
    }
}

/// Splits a kernel's work into contiguous shares, one per thread.
enum Partition {
    /// Below this many multiply-adds (or element operations) per part, handing a
    /// part to a spinning helper and joining it costs more than it saves (a
    /// microsecond or two; 10k operations of pooling or Add take about that). Small
    /// layers are split too, so that each thread keeps its share of the activations
    /// in its cache from layer to layer (see `LayerSplit`): with 150k, mobile_res's
    /// Add and small depthwise layers ran on the caller alone, reading the helper's
    /// half of their input, and two threads took 0.41-0.51 ms against 0.28 for one.
    static let minimumWorkPerPart = 10_000

    /// The items of `part` when `count` items are split into `parts` shares.
    static func range(_ count: Int, part: Int, of parts: Int) -> Range<Int> {
        let base = count / parts
        let extra = count % parts
        let start = part * base + min(part, extra)
        return start..<(start + base + (part < extra ? 1 : 0))
    }
}

/// A prepared operation. `init` (the prepare step) validates nothing that
/// `ShapeInference` already checked, repacks weights and sizes its scratch;
/// `run` trusts it, never allocates and never throws.
protocol Kernel: SplitWork {
    /// Bytes of scratch memory one part of `run` needs, independent of the batch size.
    var scratchBytes: Int { get }
    /// For `batch` images: how many independent items `run` can be split into
    /// (rows, blocks, images), and roughly how many operations they take.
    func workload(batch: Int) -> (items: Int, work: Int)
    /// Computes share `part` of `parts` of the output. Parts write disjoint
    /// outputs and may run at the same time on different threads.
    func run(_ context: RunContext, part: Int, of parts: Int)
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
