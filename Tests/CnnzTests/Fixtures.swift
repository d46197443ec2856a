import Foundation

/// Test files, found relative to this source file so that the tests run from
/// a plain clone (where ../shared does not exist).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// A JSON array of numbers, nested to any depth, flattened.
    static func floats(_ name: String) throws -> [Float] {
        let object = try JSONSerialization.jsonObject(with: Data(try bytes(name)))
        var out: [Float] = []
        func walk(_ v: Any) {
            if let a = v as? [Any] { a.forEach(walk) } else if let n = v as? NSNumber { out.append(n.floatValue) }
        }
        walk(object)
        return out
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnnz-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
