/// One caller's working memory for a model: the activation arena, the
/// scratch and the input staging buffer, all allocated at creation, and
/// optionally helper threads. A run of at least as many images as threads is
/// split by images (`BatchLanes`: each thread runs groups of images through
/// the whole network); a smaller one (batch 1) splits each layer's work.
/// `run` allocates nothing. A session is not thread-safe; use one per calling thread.
public final class Session {
    /// The model this session runs.
    public let model: Model
    /// The largest batch run in one pass; larger batches are split.
    public let batchCapacity: Int
    private let arena: AlignedBuffer
    // Internal rather than private: `profile` (Profiling.swift) runs the kernels one by one.
    let scratch: AlignedBuffer
    // Internal rather than private: `run(encodedImages:)` (EncodedImages.swift) prepares images into it.
    let staging: AlignedBuffer
    let values: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let pool: WorkerPool?
    let minimumWorkPerPart: Int
    /// The image-wise split, or nil (one thread, or a batch capacity below the thread count).
    let lanes: BatchLanes?
    /// How runs of fewer images than threads split their layers (see `LayerSplit`). Made last in
    /// `init`, after every check that throws: its buffers are freed by `deinit`, which a throwing
    /// `init` does not run (as a property's default it leaked them; AddressSanitizer found it).
    var layerSplit: LayerSplit
    /// For tests: the split every such run uses instead of `layerSplit`'s choice (whose first
    /// runs are `none`, so a session run a few times would never split a layer).
    var fixedSplit: LayerSplit.Choice?
    /// Pairs of kernels run as one task per band (`JoinedLayers`), at the first one's index.
    let joins: [JoinedLayers?]
    /// For tests: false runs every kernel on its own (what joined pairs must match to the bit).
    var joinsLayers = true
    /// For tests: each split task runs its parts on the calling thread, last part first, so
    /// that a part reading what an earlier part has not written yet shows (a joined pair whose
    /// bands do not match).
    var runsPartsBackwards = false
    /// A pass of outputs and their image indices for `run(encodedImages:)`, allocated on its
    /// first call (most sessions never decode images) and kept.
    private var encodedPass: (scores: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Int>)?

    /// Threads that run each layer, the caller's included (1: everything on the caller).
    public var threadCount: Int { pool?.threadCount ?? 1 }

    /// For diagnostics (`infer --bench` prints it): how many runs of fewer images than threads
    /// split their layers each way (`none`: all on the calling thread; `dense`: the layers with
    /// the most work per byte; `every`: every layer worth splitting), and how many times the
    /// pool backed off to run alone for a while (a helper's core was busy). Zeros on one thread.
    public var layerSplitRuns: (none: Int, dense: Int, every: Int, backOffs: Int) {
        let used = layerSplit.used
        return (used.none, used.dense, used.every, pool?.backOffs ?? 0)
    }

    /// The most threads a session may use.
    public static let maxThreads = 64

    /// Caps the memory one session may hold: 4 GiB.
    public static let maxSessionBytes = 1 << 32

    /// - Parameter splitBatches: false to split every run by layers (tests of the layer split).
    init(
        model: Model, batchCapacity: Int, threads: Int, minimumWorkPerPart: Int = Partition.minimumWorkPerPart,
        splitBatches: Bool = true
    ) throws(CnnzError) {
        guard batchCapacity >= 1, batchCapacity <= 1 << 16 else {
            throw .argument("batch capacity \(batchCapacity) is outside 1...65536")
        }
        guard threads >= 1, threads <= Self.maxThreads else {
            throw .argument("thread count \(threads) is outside 1...\(Self.maxThreads)")
        }
        let plan = model.plan
        let bytes = Self.bytes(
            plan: plan, inputElements: model.inputShape.elementCount, batchCapacity: batchCapacity, threads: threads)
        guard bytes <= Self.maxSessionBytes else {
            throw .memory(
                "a session for batch \(batchCapacity) on \(threads) threads needs \(MemoryBudget.describe(bytes)); the cap is \(MemoryBudget.describe(Self.maxSessionBytes))"
            )
        }
        var budget = MemoryBudget(limit: model.options.maxMemory)
        try budget.reserve(model.memoryBytes, for: "the model")
        try budget.reserve(bytes, for: "a session for batch \(batchCapacity) on \(threads) threads")
        self.model = model
        self.batchCapacity = batchCapacity
        arena = try AlignedBuffer(bytes: plan.arenaBytesPerImage * batchCapacity)
        // One scratch area per thread: part p of a kernel uses the p-th.
        scratch = try AlignedBuffer(bytes: Self.scratchStride(plan) * threads)
        staging = try AlignedBuffer(floats: model.inputShape.elementCount * batchCapacity)
        values = .allocate(capacity: plan.offsets.count)
        for (value, offset) in plan.offsets.enumerated() {
            values[value] = offset < 0 ? staging.raw : arena.raw + offset * batchCapacity
        }
        joins = threads > 1 ? plan.kernels.indices.map { JoinedLayers.pair(plan, at: $0) } : []
        let pool = threads > 1 ? WorkerPool(helpers: threads - 1) : nil
        self.pool = pool
        self.minimumWorkPerPart = max(1, minimumWorkPerPart)
        if let pool, splitBatches, batchCapacity >= pool.threadCount {
            lanes = BatchLanes(
                plan: plan, lanes: pool.threadCount, batchCapacity: batchCapacity, arena: arena.raw,
                scratch: scratch.raw, scratchStride: Self.scratchStride(plan),
                inputElements: model.inputShape.elementCount, outputSize: model.outputSize)
        } else {
            lanes = nil
        }
        layerSplit = LayerSplit()
    }

    /// Bytes of each thread's scratch area: the largest kernel's, in whole cache lines, so that
    /// every thread's area starts 64-byte aligned (`BatchLanes` gives each thread its own).
    static func scratchStride(_ plan: ExecutionPlan) -> Int {
        (max(plan.scratchBytes, 64) + 63) / 64 * 64
    }

    /// The bytes a session allocates: activations and (float32) input staging
    /// for each image of its batch capacity, scratch for each thread, and a
    /// pointer per value; each buffer at least 64 bytes. Sizes are bounded by
    /// the caps, so the arithmetic cannot overflow.
    static func bytes(plan: ExecutionPlan, inputElements: Int, batchCapacity: Int, threads: Int) -> Int {
        let perImage = max(plan.arenaBytesPerImage, 64) + max(inputElements, 16) * 4
        // The image-wise split's value tables: a pointer per value per thread.
        return perImage * batchCapacity + scratchStride(plan) * threads + plan.offsets.count * 8 * (threads + 1)
    }

    deinit {
        pool?.shutdown()
        layerSplit.deallocate()
        values.deallocate()
        encodedPass?.scores.deallocate()
        encodedPass?.rows.deallocate()
    }

    /// `encodedPass`, allocated if this is the first call: `batchCapacity` images' outputs and indices.
    func encodedPassBuffer() -> (scores: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Int>) {
        if let encodedPass { return encodedPass }
        let pass = (
            scores: UnsafeMutablePointer<Float>.allocate(capacity: batchCapacity * max(model.outputSize, 1)),
            rows: UnsafeMutablePointer<Int>.allocate(capacity: batchCapacity)
        )
        encodedPass = pass
        return pass
    }

    func check(batch: Int, inputCount: Int, outputCount: Int) throws(CnnzError) {
        guard batch >= 1 else { throw .argument("batch must be at least 1, got \(batch)") }
        let perImage = model.inputShape.elementCount
        guard inputCount / perImage == batch, inputCount % perImage == 0 else {
            // The message avoids batch * perImage: a huge batch would overflow it.
            throw .argument(
                "the input has \(inputCount) values; batch \(batch) needs \(perImage) per image (\(model.inputShape))")
        }
        guard outputCount / model.outputSize >= batch else {
            throw .argument(
                "the output holds \(outputCount) values; batch \(batch) needs \(model.outputSize) per image")
        }
    }

    /// Runs `batch` prepared images (`batch * H * W * C` floats, NHWC) and
    /// writes `batch * outputSize` floats to `output`.
    public func run(input: UnsafeBufferPointer<Float>, batch: Int, output: UnsafeMutableBufferPointer<Float>)
        throws(CnnzError)
    {
        try check(batch: batch, inputCount: input.count, outputCount: output.count)
        guard let source = input.baseAddress, let destination = output.baseAddress else { return }
        runUnchecked(input: source, batch: batch, output: destination)
    }

    /// Runs `batch` images of `UInt8` pixels (`batch * H * W * C` bytes),
    /// applying the model's preprocessing.
    public func run(pixels: UnsafeBufferPointer<UInt8>, batch: Int, output: UnsafeMutableBufferPointer<Float>)
        throws(CnnzError)
    {
        try check(batch: batch, inputCount: pixels.count, outputCount: output.count)
        guard let source = pixels.baseAddress, let destination = output.baseAddress else { return }
        let perImage = model.inputShape.elementCount
        let channels = model.inputShape.channels
        model.pixelTable.withUnsafeBufferPointer { table in
            var start = 0
            while start < batch {
                let count = min(batchCapacity, batch - start)
                let base = source + start * perImage
                for i in 0..<(count * perImage) {
                    staging.pointer[i] = table[(i % channels) * 256 + Int(base[i])]
                }
                runUnchecked(input: staging.pointer, batch: count, output: destination + start * model.outputSize)
                start += count
            }
        }
    }

    /// Convenience: runs `input` and returns a new array of outputs.
    public func run(_ input: [Float], batch: Int = 1) throws(CnnzError) -> [Float] {
        // Checked before the output is allocated: batch is then bounded by the input present.
        try check(batch: batch, inputCount: input.count, outputCount: .max)
        var output = [Float](repeating: 0, count: max(batch, 0) * model.outputSize)
        let result: Result<Void, CnnzError> = input.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o in
                Result { () throws(CnnzError) in try run(input: i, batch: batch, output: o) }
            }
        }
        try result.get()
        return output
    }

    /// Convenience: runs `pixels` and returns a new array of outputs.
    public func run(pixels: [UInt8], batch: Int = 1) throws(CnnzError) -> [Float] {
        try check(batch: batch, inputCount: pixels.count, outputCount: .max)
        var output = [Float](repeating: 0, count: max(batch, 0) * model.outputSize)
        let result: Result<Void, CnnzError> = pixels.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o in
                Result { () throws(CnnzError) in try run(pixels: i, batch: batch, output: o) }
            }
        }
        try result.get()
        return output
    }

    func runUnchecked(input: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>) {
        let plan = model.plan
        let perImage = model.inputShape.elementCount
        let outputSize = model.outputSize
        // One thread takes at most `BatchLanes.maximumGroup` images at a time, as each thread
        // does with `BatchLanes`, so that a layer's input and output stay in L2 rather than a
        // whole batch's activations streaming through L3 (mobile_res's 48x48x32 activations are
        // 295 KB an image). Measured at batch 64, one thread, `infer --bench 20 --batch 64`,
        // three rounds on a quiet Zen 4 (1 MB L2), whole batch against groups of 8: mobile_res
        // 19.5 -> 16.7 ms, seed002 16.5 -> 15.6, cifar_vgg 20.5 -> 19.8, fashion_cnn 3.59 -> 3.51
        // (groups of 1 and 2 were slower on cifar_vgg and fashion_cnn, whose weights they stream
        // more often). Each image's outputs are the same to the bit however the batch is cut.
        let chunk = pool == nil ? min(batchCapacity, BatchLanes.maximumGroup) : batchCapacity
        var start = 0
        while start < batch {
            let count = min(chunk, batch - start)
            if let lanes, let pool, count >= lanes.lanes {
                // Each thread runs groups of images through the whole network (BatchLanes).
                let context = RunContext(values: values, batch: count, scratch: scratch.raw)
                let groups = lanes.prepare(
                    source: input + start * perImage, count: count, destination: output + start * outputSize)
                pool.run(lanes, context, parts: groups, byPart: true)
                start += count
                continue
            }
            // Kernels never write value 0 (the input): the cast only lets the table hold it.
            let source = UnsafeMutableRawPointer(mutating: input + start * perImage)
            for value in plan.inputValues { values[value] = source }
            let context = RunContext(values: values, batch: count, scratch: scratch.raw)
            if let pool {
                let choice = fixedSplit ?? layerSplit.next()
                if fixedSplit == nil && layerSplit.warmsUpBeforeNext { pool.wakeHelpers() }
                let started = LayerSplit.nanoseconds()
                runLayers(pool, context, batch: count, choice: choice)
                if fixedSplit == nil {
                    layerSplit.record(choice, started: started, ended: LayerSplit.nanoseconds(), images: count)
                }
            } else {
                for kernel in plan.kernels { kernel.run(context, part: 0, of: 1) }
            }
            (output + start * outputSize).update(from: context.float32(plan.outputValue), count: count * outputSize)
            start += count
        }
    }

    /// Runs every kernel in turn, each split between the pool's threads as `choice` says.
    /// A depthwise convolution and the pointwise one after it, split alike, run as one task
    /// (`JoinedLayers`): one hand-off and join instead of two.
    func runLayers(_ pool: WorkerPool, _ context: RunContext, batch: Int, choice: LayerSplit.Choice) {
        let plan = model.plan
        var k = 0
        while k < plan.kernels.count {
            let parts = self.parts(k, batch: batch, threads: pool.threadCount, choice: choice)
            if parts > 1, joinsLayers, let join = joins[k],
                self.parts(k + 1, batch: batch, threads: pool.threadCount, choice: choice) == parts,
                join.aligned(batch: batch, parts: parts)
            {
                run(join, context, parts: parts, pool: pool)
                k += 2
            } else {
                run(plan.kernels[k], context, parts: parts, pool: pool)
                k += 1
            }
        }
    }

    /// The parts of kernel `k` for `batch` images and `choice`.
    private func parts(_ k: Int, batch: Int, threads: Int, choice: LayerSplit.Choice) -> Int {
        let plan = model.plan
        return LayerSplit.parts(
            plan.kernels[k].workload(batch: batch), activationBytes: plan.kernelActivationBytes[k] * batch,
            threads: threads, minimumWork: minimumWorkPerPart, choice: choice)
    }

    private func run(_ work: any SplitWork, _ context: RunContext, parts: Int, pool: WorkerPool) {
        if runsPartsBackwards {
            for part in (0..<parts).reversed() { work.run(context, part: part, of: parts) }
        } else {
            pool.run(work, context, parts: parts)
        }
    }
}
