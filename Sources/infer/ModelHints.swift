import Cnnz
import Foundation

extension InferCommand {
    /// Loads the model, and when the file is not a .cnnz model but looks like something a user
    /// might have given by mistake (a model.json, or an image in the model's place), says what to do.
    static func loadModel(_ path: String, firstImage: String?, options: LoadOptions) throws(CnnzError) -> Model {
        do {
            return try Model(contentsOfFile: path, options: options)
        } catch {
            guard case .format = error, let kind = FileKind.sniff(path) else { throw error }
            switch kind {
            case .json:
                let converted = (path.lowercased().hasSuffix(".json") ? String(path.dropLast(5)) : path) + ".cnnz"
                throw .format(
                    "\(path): this is a model.json, not a .cnnz model; convert it first (`convert \(path)` writes \(converted))"
                )
            case .image:
                // `infer a.pgm model.cnnz`: the arguments were given the wrong way round.
                let model = firstImage.flatMap { $0.lowercased().hasSuffix(".cnnz") ? $0 : nil } ?? "MODEL.cnnz"
                throw .format(
                    "\(path): this is an image, not a .cnnz model; the model comes first (`infer \(model) \(path)`)")
            }
        }
    }
}

/// What a file that is not a .cnnz model looks like, judged from its first bytes.
enum FileKind {
    case json
    case image

    static func sniff(_ path: String) -> FileKind? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 64), !head.isEmpty else { return nil }
        let bytes = [UInt8](head)
        if bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") { return .json }
        // Netpbm (P1...P7), PNG, JPEG, GIF, BMP.
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(bytes[1]) {
            return .image
        }
        for magic: [UInt8] in [[0x89, 0x50, 0x4E, 0x47], [0xFF, 0xD8, 0xFF], Array("GIF8".utf8), Array("BM".utf8)]
        where bytes.starts(with: magic) {
            return .image
        }
        return nil
    }
}
