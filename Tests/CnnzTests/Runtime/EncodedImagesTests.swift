import Foundation
import Testing

@testable import Cnnz

/// Session.run(encodedImages:): images in memory, in passes of the session's capacity, with the
/// same outputs as one image at a time from a file (what cnnz_classify_file runs).
@Suite struct EncodedImagesTests {
    static let model = Fixtures.repository.appendingPathComponent("Examples/fashion-mnist-small.cnnz").path
    static let names = [
        "images/examples/bag.png", "images/examples/bag.jpg", "images/jpeg-rgb-420.jpg", "images/gray16.png",
        "images/examples/coat.pillow.pgm",
    ]

    /// One image through a session of batch 1, as cnnz_classify_file runs it.
    static func fileScores(_ model: Model, _ name: String) throws -> [Float] {
        let image = try ImageReader.read(path: Fixtures.directory.appendingPathComponent(name).path)
        return try model.makeSession(batchCapacity: 1, threads: 1).run(model.prepare(image).input)
    }

    /// Runs `images`, held back to back in one buffer as the C API takes them.
    static func run(_ session: Session, _ images: [[UInt8]]) throws -> (scores: [Float], errors: [CnnzError?]) {
        let data = images.flatMap { $0 }
        var offsets = [0]
        for image in images { offsets.append(offsets[offsets.count - 1] + image.count) }
        var output = [Float](repeating: 0, count: images.count * session.model.outputSize)
        let errors = try data.withUnsafeBytes { all in
            try output.withUnsafeMutableBufferPointer { buffer in
                try session.run(
                    encodedImages: images.count,
                    bytes: { UnsafeRawBufferPointer(rebasing: all[offsets[$0]..<offsets[$0 + 1]]) }, output: buffer)
            }
        }
        return (output, errors)
    }

    @Test(arguments: [1, 2, 16])
    func equalToOneFileAtATimeBitForBit(capacity: Int) throws {
        let model = try Model(contentsOfFile: Self.model)
        var images = try Self.names.map { try Fixtures.bytes($0) }
        images.insert(Array("not an image".utf8), at: 2)
        images.append([])
        let (scores, errors) = try Self.run(try model.makeSession(batchCapacity: capacity, threads: 1), images)
        let size = model.outputSize
        var good = 0
        for index in images.indices {
            let row = Array(scores[(index * size)..<((index + 1) * size)])
            if index == 2 || index == images.count - 1 {
                #expect(errors[index] != nil)
                #expect(row.allSatisfy { $0.isNaN })
                continue
            }
            #expect(errors[index] == nil)
            let expected = try Self.fileScores(model, Self.names[good])
            #expect(row.map(\.bitPattern) == expected.map(\.bitPattern), "\(Self.names[good])")
            good += 1
        }
        #expect(errors[2]?.message.hasPrefix("unknown image format") == true)
        #expect(errors[images.count - 1]?.message.hasPrefix("the image is empty (0 bytes)") == true)
    }

    @Test func aShortOutputIsRefusedBeforeDecoding() throws {
        let model = try Model(contentsOfFile: Self.model)
        let session = try model.makeSession(batchCapacity: 2, threads: 1)
        var output = [Float](repeating: 42, count: 2 * model.outputSize - 1)
        var asked = 0
        #expect(throws: CnnzError.self) {
            _ = try output.withUnsafeMutableBufferPointer { buffer in
                try session.run(
                    encodedImages: 2,
                    bytes: { _ in
                        asked += 1
                        return UnsafeRawBufferPointer(start: nil, count: 0)
                    }, output: buffer)
            }
        }
        #expect(asked == 0)
        #expect(output.allSatisfy { $0 == 42 })
    }
}
