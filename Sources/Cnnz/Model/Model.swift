/// A loaded, validated model, ready to run. Immutable: share one `Model`
/// between any number of threads, each with its own `Session`.
public final class Model: Sendable {
    /// Everything the file held.
    public let contents: ModelDescription
    let plan: ExecutionPlan
    /// `pixelTable[c * 256 + v]`: the preprocessed value of pixel `v` on channel `c`.
    let pixelTable: [Float]

    /// The model's name (free text from the model.json).
    public var name: String { contents.name }
    /// One label per output, or empty when the model has none.
    public var labels: [String] { contents.labels }
    /// The shape of one input image, `[H, W, C]`.
    public var inputShape: TensorShape { contents.graph.inputShape }
    /// Floats per image of output.
    public var outputSize: Int { plan.shapes.last!.elementCount }
    /// What the model computes in: `float32`, `int8` or `weights-int8` (int8 weights, float32 compute).
    public var precision: ModelPrecision { contents.precision }
    /// How pixels become inputs (`run(pixels:)` applies it).
    public var preprocessing: Preprocessing { contents.preprocessing }
    /// The shape of every value: index 0 is the input, `i + 1` the output of layer `i`.
    public var valueShapes: [TensorShape] { plan.shapes }
    /// Activation memory per image of batch capacity, in bytes, after lifetime planning.
    public var activationBytesPerImage: Int { plan.arenaBytesPerImage }

    /// The limits the model was loaded with; every session checks `options.maxMemory` too.
    public let options: LoadOptions
    /// Bytes the model holds once loaded: weights, their prepared copies, labels, tables.
    public let memoryBytes: Int

    /// Validates `contents` as a whole (`ModelDescription.validate`) and
    /// prepares every kernel, refusing with `CnnzError.memory` a model that,
    /// with one session of batch 1 on one thread, needs more than
    /// `options.maxMemory` bytes, before allocating for it.
    public convenience init(_ contents: ModelDescription, options: LoadOptions = .default) throws(CnnzError) {
        try self.init(contents, options: options, recycling: nil)
    }

    /// As `init(_:options:)`; the packed weights take over `recycling` (the mapping the file
    /// was read into, done with) when it has room for them (`PageArena.recycle`).
    init(_ contents: ModelDescription, options: LoadOptions, recycling: PageArena?) throws(CnnzError) {
        let shapes = try contents.validate(options: options)
        var budget = MemoryBudget(limit: options.maxMemory)
        try budget.reserve(contents.retainedBytes, for: "the model's weights, labels and graph")
        let channels = contents.graph.inputShape.channels
        try budget.reserve(channels * 256 * 4, for: "the pixel table")
        plan = try ExecutionPlan(contents, shapes: shapes, budget: &budget, recycling: recycling)
        self.contents = contents
        self.options = options
        memoryBytes = budget.used
        // The smallest session must fit beside the model, or the model is of no use.
        try budget.reserve(
            Session.bytes(
                plan: plan, inputElements: contents.graph.inputShape.elementCount, batchCapacity: 1, threads: 1),
            for: "a session of batch 1")
        let p = contents.preprocessing
        var table = [Float](repeating: 0, count: channels * 256)
        for c in 0..<channels {
            for v in 0..<256 { table[c * 256 + v] = p.apply(Float(v), channel: c) }
        }
        pixelTable = table
    }

    /// Loads a `.cnnz` model from bytes (copied; any alignment).
    public convenience init(bytes: [UInt8], options: LoadOptions = .default) throws(CnnzError) {
        let result: Result<ModelDescription, CnnzError> = bytes.withUnsafeBytes { b in
            Result { () throws(CnnzError) -> ModelDescription in
                try ModelReader.decodeUnvalidated(b, options: options)
            }
        }
        try self.init(result.get(), options: options)
    }

    /// Loads a `.cnnz` model from bytes (copied; any alignment).
    public convenience init(bytes: UnsafeRawBufferPointer, options: LoadOptions = .default) throws(CnnzError) {
        try self.init(ModelReader.decodeUnvalidated(bytes, options: options), options: options)
    }

    /// Loads a `.cnnz` file.
    public convenience init(contentsOfFile path: String, options: LoadOptions = .default) throws(CnnzError) {
        // A file of 2 MB or more is read into a mapping in 2 MB pages, its stored payload
        // inflated in place; once decoded, the mapping holds the packed weights where it has
        // room for them, else is freed before the kernels are prepared. A smaller file is
        // read into an array that lives through the load, as it always did.
        let limit = options.maxMemory < Limits.maxPayloadBytes ? max(options.maxMemory, 0) : Limits.maxPayloadBytes
        guard let (buffer, count) = try FileIO.readLarge(path, limit: limit) else {
            let bytes = try ModelReader.readFile(path, options: options)
            do throws(CnnzError) {
                try self.init(bytes: bytes, options: options)
            } catch {
                throw error.prefixed("\(path): ")
            }
            return
        }
        do throws(CnnzError) {
            let file = UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[0..<count])
            let contents = try ModelReader.decodeUnvalidated(
                UnsafeRawBufferPointer(file), options: options, mutable: file)
            // Decoded: the file's bytes are not read again, and its mapping may hold the
            // packed weights.
            try self.init(contents, options: options, recycling: buffer.arena)
        } catch {
            throw error.prefixed("\(path): ")
        }
    }

    /// A session that runs up to `batchCapacity` images at once (larger
    /// batches are run in chunks), splitting each layer's work over `threads`
    /// threads (the caller and `threads - 1` helpers it starts). All its
    /// memory and threads are allocated here.
    public func makeSession(batchCapacity: Int = 1, threads: Int = 1) throws(CnnzError) -> Session {
        try Session(model: self, batchCapacity: batchCapacity, threads: threads)
    }

    /// For tests: a session that splits even tiny layers, and (`splitBatches` false) splits
    /// batches by layers rather than by images.
    func makeSession(
        batchCapacity: Int, threads: Int, minimumWorkPerPart: Int, splitBatches: Bool = true
    ) throws(CnnzError) -> Session {
        try Session(
            model: self, batchCapacity: batchCapacity, threads: threads, minimumWorkPerPart: minimumWorkPerPart,
            splitBatches: splitBatches)
    }

    /// Runs `batch` prepared images (`batch * H * W * C` floats) in a new session.
    /// A convenience that allocates: for repeated runs, keep a `Session`.
    public func predict(_ input: [Float], batch: Int = 1) throws(CnnzError) -> [Float] {
        try makeSession(batchCapacity: max(1, min(batch, 64))).run(input, batch: batch)
    }

    /// The outcome of `runSelfTest()`.
    public struct SelfTestReport: Sendable {
        /// The largest absolute difference between the stored and the computed output.
        public var maxDifference: Float
        /// The output index where it occurs.
        public var index: Int
        /// The stored tolerance.
        public var tolerance: Float
        /// Whether every output is within the tolerance.
        public var passed: Bool { maxDifference <= tolerance }
    }

    /// Runs the stored self-test vector. Throws when the model has none.
    public func runSelfTest() throws(CnnzError) -> SelfTestReport {
        guard let test = contents.selfTest else { throw .argument("the model holds no self-test vector") }
        let output = try predict(test.input)
        var worst: Float = 0
        var index = 0
        for i in 0..<output.count {
            let d = abs(output[i] - test.output[i])
            if !(d <= worst) {
                worst = d.isNaN ? .infinity : d
                index = i
            }
        }
        return SelfTestReport(maxDifference: worst, index: index, tolerance: test.tolerance)
    }
}

extension CnnzError {
    func prefixed(_ prefix: String) -> CnnzError {
        switch self {
        case .argument(let m): return .argument(prefix + m)
        case .io(let m): return .io(m)
        case .format(let m): return .format(prefix + m)
        case .unsupported(let m): return .unsupported(prefix + m)
        case .memory(let m): return .memory(prefix + m)
        case .selfTest(let m): return .selfTest(prefix + m)
        }
    }
}
