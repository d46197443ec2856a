import ArgumentParser

// Shared by `infer` and `convert` (Sources/convert/ByteSize.swift is a symbolic link to this file).

/// A byte count given on the command line: `268435456`, `256M`, `64MiB`, `1G`, `512K`
/// (binary multiples: K = 1024).
struct ByteSize: ExpressibleByArgument {
    let bytes: Int

    init?(argument: String) {
        var text = argument.uppercased()
        for suffix in ["IB", "B"] where text.hasSuffix(suffix) && text.count > suffix.count {
            text.removeLast(suffix.count)
            break
        }
        let shifts: [Character: Int] = ["K": 10, "M": 20, "G": 30, "T": 40]
        var shift = 0
        if let last = text.last, let s = shifts[last] {
            shift = s
            text.removeLast()
        }
        guard let value = Int(text), value >= 1, value <= Int.max >> shift else { return nil }
        bytes = value << shift
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
