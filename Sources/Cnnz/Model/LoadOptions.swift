/// What an embedder allows one model to cost. Loading refuses a model whose
/// needs exceed these with `CnnzError.memory`, before allocating for them
/// (docs/SECURITY.md).
public struct LoadOptions: Equatable, Sendable {
    /// The most bytes the model may hold at any one time: while loading, the
    /// inflated payload and the decoded weights; once loaded, the weights, their
    /// prepared (packed) copies, the labels, and one session's activations,
    /// input staging and scratch. Each further session must fit the budget
    /// beside the model too.
    public var maxMemory: Int
    /// The most operations one image may take: multiply-adds of convolutions
    /// and dense layers, elements read by pooling windows, one per output
    /// element of other layers. Bounds the time a hostile model costs per image.
    public var maxOperationsPerImage: Int

    /// The default budget, 1 GiB: every realistic CNN fits (a ResNet-50 needs
    /// about 300 MB for its float32 weights, their packed copy and one session).
    public static let defaultMaxMemory = 1 << 30
    /// The default compute cap, 2^37 (137 G) operations per image: more than
    /// three times the heaviest common image classifiers (EfficientNet-B7 at
    /// 600x600, 37 G multiply-adds).
    public static let defaultMaxOperationsPerImage = 1 << 37

    /// Options; the defaults suit models from anywhere.
    public init(
        maxMemory: Int = LoadOptions.defaultMaxMemory,
        maxOperationsPerImage: Int = LoadOptions.defaultMaxOperationsPerImage
    ) {
        self.maxMemory = maxMemory
        self.maxOperationsPerImage = maxOperationsPerImage
    }

    /// The defaults.
    public static let `default` = LoadOptions()

    /// Checks that both limits are positive.
    func validated() throws(CnnzError) -> LoadOptions {
        guard maxMemory >= 1 else { throw .argument("the memory budget must be at least 1 byte, got \(maxMemory)") }
        guard maxOperationsPerImage >= 1 else {
            throw .argument("the operation cap must be at least 1, got \(maxOperationsPerImage)")
        }
        return self
    }
}

/// Counts the bytes a model holds against its budget, so that every large
/// allocation is checked before it is made. One budget per load.
struct MemoryBudget {
    let limit: Int
    private(set) var used = 0

    init(limit: Int) { self.limit = limit }

    /// Takes `bytes` (for `what`, named in the error) or throws without taking anything.
    mutating func reserve(_ bytes: Int, for what: @autoclosure () -> String) throws(CnnzError) {
        let (total, overflow) = used.addingReportingOverflow(bytes)
        guard bytes >= 0, !overflow, total <= limit else {
            throw .memory(
                "\(what()) needs \(Self.describe(bytes)) more, \(Self.describe(used)) already in use; the memory budget is \(Self.describe(limit))"
            )
        }
        used = total
    }

    /// Gives back bytes reserved earlier (a buffer that was freed).
    mutating func release(_ bytes: Int) { used = max(0, used - bytes) }

    /// `1234567 bytes (1.2 MiB)`-style text for messages.
    static func describe(_ bytes: Int) -> String {
        guard bytes >= 1 << 20 else { return "\(bytes) bytes" }
        let mib = Double(bytes) / Double(1 << 20)
        let rounded = (mib * 10).rounded() / 10
        return "\(bytes) bytes (\(rounded) MiB)"
    }
}
