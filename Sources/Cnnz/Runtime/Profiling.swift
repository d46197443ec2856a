import Synchronization

/// Where the time of a run goes, layer by layer: what `infer --profile` prints.
///
/// Profiling is a separate loop over the same prepared kernels, with a clock read between
/// kernels; `Session.run` has no profiling branch, so it costs nothing when not profiling.
public struct Profile: Sendable {
    /// One layer's share of a run.
    public struct Layer: Sendable {
        /// The layer's position in execution order (as in `Model.layerSummaries`).
        public var index: Int
        /// The median over the runs of the seconds its kernel took; 0 for a layer that runs
        /// no kernel (a linear Flatten only renames its input).
        public var seconds: Double
        /// Whether the layer runs a kernel of its own.
        public var runsKernel: Bool
        /// Layers whose work this layer's kernel does too (a residual Add fused into the
        /// convolution that computes one of its operands): `seconds` is theirs as well.
        public var fusedLayers: [Int] = []
        /// For such a fused layer: the layer whose kernel computes it (it has no time of its own).
        public var fusedInto: Int? = nil
        /// With helper threads: the parts the layer's kernel is split into (1: the caller alone),
        /// the median over the runs of the seconds the caller waited for helpers' parts after
        /// running its own (imbalance, the hand-off and join, a helper late or descheduled),
        /// and the share of the parts helpers ran (0: the caller ran them all).
        public var parts = 1
        public var waitSeconds: Double = 0
        public var helperShare: Double = 0
    }

    /// A row per layer of the model, in execution order.
    public var layers: [Layer]
    /// Timed runs (after the warm-up).
    public var runs: Int
    /// Images per run.
    public var batch: Int
    /// Threads that shared each layer's work.
    public var threadCount: Int
    /// The median over the runs of each run's total (its layers' times added up, clock reads included).
    public var totalSeconds: Double
    /// With helper threads: the median seconds of an empty task in one part per thread handed
    /// to the pool and joined (what a split adds to a layer however small), and the share of
    /// those parts helpers ran; nil on one thread.
    public var handOff: (seconds: Double, helperShare: Double)? = nil
}

extension Session {
    /// The most run times per kernel a profile keeps (`runs` x kernels): 64 MB of tables.
    public static let maximumProfileEntries = 1 << 22

    /// Runs `batch` prepared images (`batch * H * W * C` floats, NHWC, at most the batch
    /// capacity) `warmup + runs` times, kernel by kernel with a clock read between kernels,
    /// and returns each layer's median time over the timed runs. Outputs are computed as by
    /// `run` and discarded. Allocates the table of times (`runs` rows, 16 bytes per run and
    /// kernel) before the first run: `runs` times the kernels may be at most
    /// `maximumProfileEntries`, and running out of memory for it throws `CnnzError.memory`.
    public func profile(input: UnsafeBufferPointer<Float>, batch: Int, runs: Int, warmup: Int = 10)
        throws(CnnzError) -> Profile
    {
        try check(batch: batch, inputCount: input.count, outputCount: .max)
        guard batch <= batchCapacity else {
            throw .argument("profiling runs one pass: batch \(batch) exceeds the batch capacity \(batchCapacity)")
        }
        guard runs >= 1, runs <= 1_000_000, warmup >= 0, warmup <= 1_000_000 else {
            throw .argument("profile runs must be in 1...1000000 and warm-up runs in 0...1000000")
        }
        guard let source = input.baseAddress else { throw .argument("the input is empty") }
        let plan = model.plan
        // An int8 model's conversions count toward the layer they serve.
        let kernelLayers = plan.kernelLayers
        let kernelCount = plan.kernels.count
        guard runs <= Self.maximumProfileEntries / max(kernelCount, 1) else {
            throw .argument(
                "profiling keeps every run's time per kernel: \(runs) runs x \(kernelCount) kernels exceeds \(Self.maximumProfileEntries)"
            )
        }
        try AlignedBuffer.probe(runs * kernelCount * 16)
        // times[run * kernelCount + k]: seconds of kernel k in timed run `run`; waits: the
        // caller's wait for helpers in it; helped: parts helpers ran, of `parts[k]`.
        var times = [Double](repeating: 0, count: runs * kernelCount)
        var waits = [Double](repeating: 0, count: runs * kernelCount)
        var helped = [Int](repeating: 0, count: kernelCount)
        var parts = [Int](repeating: 1, count: kernelCount)
        for value in plan.inputValues { values[value] = UnsafeMutableRawPointer(mutating: source) }
        let context = RunContext(values: values, batch: batch, scratch: scratch.raw)
        let clock = ContinuousClock()
        for run in 0..<(warmup + runs) {
            var before = clock.now
            for (k, kernel) in plan.kernels.enumerated() {
                if let pool {
                    // Every layer worth splitting (`LayerSplit.Choice.every`): what a run
                    // does on near cores; `run` picks the split from its run times.
                    parts[k] = LayerSplit.parts(
                        kernel.workload(batch: batch), activationBytes: plan.kernelActivationBytes[k] * batch,
                        threads: pool.threadCount, minimumWork: minimumWorkPerPart, choice: .every)
                    pool.run(kernel, context, parts: parts[k])
                } else {
                    kernel.run(context, part: 0, of: 1)
                }
                let after = clock.now
                if run >= warmup {
                    times[(run - warmup) * kernelCount + k] = Self.seconds(after - before)
                    if let pool {
                        waits[(run - warmup) * kernelCount + k] = Double(pool.lastWaitNanoseconds) * 1e-9
                        helped[k] += parts[k] - pool.lastCallerParts
                    }
                }
                before = after
            }
        }
        var layers = model.contents.graph.layers.indices.map { Profile.Layer(index: $0, seconds: 0, runsKernel: false) }
        var column = [Double](repeating: 0, count: runs)
        for layer in Set(kernelLayers) {
            for run in 0..<runs {
                column[run] = kernelLayers.indices.reduce(0) {
                    $0 + (kernelLayers[$1] == layer ? times[run * kernelCount + $1] : 0)
                }
            }
            layers[layer].seconds = Self.median(&column)
            layers[layer].runsKernel = true
            for run in 0..<runs {
                column[run] = kernelLayers.indices.reduce(0) {
                    $0 + (kernelLayers[$1] == layer ? waits[run * kernelCount + $1] : 0)
                }
            }
            layers[layer].waitSeconds = Self.median(&column)
            let kernels = kernelLayers.indices.filter { kernelLayers[$0] == layer }
            layers[layer].parts = kernels.map { parts[$0] }.max() ?? 1
            let total = kernels.reduce(0) { $0 + parts[$1] } * runs
            layers[layer].helperShare = Double(kernels.reduce(0) { $0 + helped[$1] }) / Double(max(total, 1))
        }
        for (k, fused) in plan.kernelFusedLayers.enumerated() {
            guard let fused else { continue }
            layers[kernelLayers[k]].fusedLayers.append(fused)
            layers[fused].fusedInto = kernelLayers[k]
        }
        for run in 0..<runs {
            column[run] = times[(run * kernelCount)..<((run + 1) * kernelCount)].reduce(0, +)
        }
        var result = Profile(
            layers: layers, runs: runs, batch: batch, threadCount: threadCount, totalSeconds: Self.median(&column))
        if let pool { result.handOff = Self.handOff(pool, context, runs: max(runs, 1000)) }
        return result
    }

    /// The median seconds of a task in one part per thread through `pool` whose caller's part
    /// waits (up to 0.2 ms) until the last part has started on a helper, over the tasks in which
    /// it did (0 if none), and their share: the round trip of a hand-off and a join, `runs` tasks
    /// back to back.
    private static func handOff(_ pool: WorkerPool, _ context: RunContext, runs: Int) -> (Double, Double) {
        let probe = HandOffProbe()
        let clock = ContinuousClock()
        var times = [Double](repeating: 0, count: runs)
        var helped = 0
        for _ in 0..<runs {
            probe.started.store(false, ordering: .relaxed)
            let before = clock.now
            pool.run(probe, context, parts: pool.threadCount)
            let elapsed = seconds(clock.now - before)
            if pool.lastCallerParts < pool.threadCount {
                times[helped] = elapsed
                helped += 1
            }
        }
        times.removeLast(runs - helped)
        return (helped > 0 ? median(&times) : 0, Double(helped) / Double(runs))
    }

    /// The layer each kernel of the plan runs, in order: every layer but a linear Flatten,
    /// which `ExecutionPlan` aliases to its input instead of giving it a kernel.
    static func kernelLayers(of graph: Graph) -> [Int] {
        graph.layers.indices.filter { !(graph.layers[$0].kind == .flatten && graph.layers[$0].activation == .linear) }
    }

    private static func median(_ values: inout [Double]) -> Double {
        values.sort()
        let n = values.count
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}

/// A task whose first part waits until its last part starts (on a helper; at most 0.2 ms, then
/// the caller runs it): times the pool's hand-off and join alone.
private final class HandOffProbe: SplitWork {
    let started = Atomic<Bool>(false)

    func run(_ context: RunContext, part: Int, of parts: Int) {
        if part == parts - 1 { started.store(true, ordering: .releasing) }
        guard part == 0 else { return }
        let clock = ContinuousClock()
        let deadline = clock.now + .microseconds(200)
        while !started.load(ordering: .acquiring) && clock.now < deadline {}
    }
}
