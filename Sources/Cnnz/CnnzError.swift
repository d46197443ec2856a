/// Every error the engine reports. Each case carries a complete one-line
/// message that says what is wrong and where (a section, a layer, an offset).
public enum CnnzError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A caller passed something unusable: a wrong buffer size, batch 0, an index out of range.
    case argument(String)
    /// A file could not be opened, read or written.
    case io(String)
    /// Bytes that are not a valid model or image.
    case format(String)
    /// Valid input that needs a feature this build does not have (for example a newer format version).
    case unsupported(String)
    /// A size exceeds the engine's documented memory caps.
    case memory(String)
    /// A model's self-test did not reproduce its stored output.
    case selfTest(String)

    /// The message, without a category prefix.
    public var message: String {
        switch self {
        case .argument(let m), .io(let m), .format(let m), .unsupported(let m), .memory(let m),
            .selfTest(let m):
            return m
        }
    }

    /// The message.
    public var description: String { message }
}
