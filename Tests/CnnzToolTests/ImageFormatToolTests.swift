import Foundation
import Testing

/// `infer` on PNG and JPEG files: the same scores as the Netpbm files of the same pixels.
@Suite struct ImageFormatToolTests {
    static let images = Tool.fixtures.appendingPathComponent("images/examples")
    static let names = [
        "ankle-boot", "bag", "coat", "dress", "pullover", "sandal", "shirt", "sneaker", "t-shirt-top", "trouser",
    ]

    /// The "scores" of each line of `infer --json`, in order.
    static func scores(_ images: [String]) throws -> [String] {
        let r = try Tool.run("infer", [Tool.exampleModel, "--json"] + images)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == images.count)
        return lines.map { line in
            let start = line.range(of: "\"scores\": [")!.upperBound
            return String(line[start..<line.range(of: "]", range: start..<line.endIndex)!.lowerBound])
        }
    }

    @Test func pngOfEachExampleGivesTheSameScoresAsItsPGM() throws {
        let pgm = try Self.scores(Self.names.map(Tool.exampleImage))
        let png = try Self.scores(Self.names.map { Self.images.appendingPathComponent("\($0).png").path })
        #expect(png == pgm)
        #expect(Set(pgm).count == Self.names.count)
    }

    @Test func jpegOfEachExampleGivesTheScoresOfLibjpegTurbosPixels() throws {
        // *.pillow.pgm: the pixels Pillow's libjpeg-turbo decoded from each .jpg.
        let jpeg = try Self.scores(Self.names.map { Self.images.appendingPathComponent("\($0).jpg").path })
        let pillow = try Self.scores(Self.names.map { Self.images.appendingPathComponent("\($0).pillow.pgm").path })
        #expect(jpeg == pillow)
        // Lossy: close to the original's scores, but not equal.
        #expect(jpeg != (try Self.scores(Self.names.map(Tool.exampleImage))))
    }

    @Test(arguments: [
        ("rgb8.png", 20, "PNG: the file ends early (truncated)"),
        ("jpeg-rgb-420.jpg", 300, "JPEG: the file ends early (truncated)"),
        ("jpeg-cmyk.jpg", 0, "JPEG: 4-component images (CMYK, YCCK) are not read, only gray and RGB"),
    ])
    func badPNGAndJPEGFailWithOneLine(_ name: String, _ cut: Int, _ message: String) throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("image").path
        let bytes = try Data(contentsOf: Tool.fixtures.appendingPathComponent("images/\(name)"))
        try bytes.dropLast(cut).write(to: URL(fileURLWithPath: path))
        let r = try Tool.run("infer", [Tool.exampleModel, path])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        // One line: libpng and libjpeg print nothing of their own.
        #expect(r.stderr == "error: \(path): \(message)\n")
    }

    @Test func corruptJPEGDataIsDecodedQuietly() throws {
        // Damaged entropy-coded data is a warning in libjpeg, not an error: the image decodes
        // (as Pillow's does), and the warning is not printed.
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var bytes = [UInt8](try Data(contentsOf: Self.images.appendingPathComponent("bag.jpg")))
        for i in stride(from: bytes.count - 200, to: bytes.count - 100, by: 7) where bytes[i] != 0xFF {
            bytes[i] = 0xFF
        }
        let path = dir.appendingPathComponent("damaged.jpg").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let r = try Tool.run("infer", [Tool.exampleModel, path])
        #expect(r.status == 0)
        #expect(r.stderr == "")
    }
}
