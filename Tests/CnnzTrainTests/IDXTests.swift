import CZlib
import Cnnz
import Foundation
import Testing

@testable import CnnzTrain

/// Small IDX files written by the tests, raw or gzip-compressed.
enum IDXFixture {
    static func header(magic: UInt8, dimensions: [Int]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0x08, magic]
        for d in dimensions { bytes += withUnsafeBytes(of: UInt32(d).bigEndian) { Array($0) } }
        return bytes
    }

    static func images(_ pixels: [UInt8], count: Int, height: Int, width: Int) -> [UInt8] {
        header(magic: 3, dimensions: [count, height, width]) + pixels
    }

    static func labels(_ values: [UInt8]) -> [UInt8] { header(magic: 1, dimensions: [values.count]) + values }

    /// A fresh empty folder under the temporary directory.
    static func folder() -> String {
        let path = NSTemporaryDirectory() + "cnnz-train-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ bytes: [UInt8], to path: String, gzip: Bool) {
        if gzip {
            let file = gzopen(path, "wb")!
            _ = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
            gzclose(file)
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        }
    }
}

@Suite struct IDXTests {
    let pixels: [UInt8] = (0..<(3 * 4 * 5)).map { UInt8($0 * 4 % 256) }

    @Test(arguments: [false, true]) func readsRawAndGzip(gzip: Bool) throws {
        let folder = IDXFixture.folder()
        let suffix = gzip ? ".gz" : ""
        IDXFixture.write(
            IDXFixture.images(pixels, count: 3, height: 4, width: 5),
            to: folder + "/train-images-idx3-ubyte" + suffix, gzip: gzip)
        IDXFixture.write(IDXFixture.labels([2, 0, 1]), to: folder + "/train-labels-idx1-ubyte" + suffix, gzip: gzip)
        let (train, test) = try IDXDataset.loadFolder(folder)
        #expect(test == nil)
        #expect(train.count == 3 && train.height == 4 && train.width == 5 && train.channels == 1)
        #expect(train.pixels == pixels)
        #expect(train.labels == [2, 0, 1])
        #expect(train.classCount == 3)
    }

    func error(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch let e as CnnzError {
            return e.message
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func wrongMagic() {
        var bytes = IDXFixture.images(pixels, count: 3, height: 4, width: 5)
        bytes[2] = 0x0D  // float data, not bytes
        let message = error { _ = try IDXReader.parse(bytes, name: "x.idx") }
        #expect(message == "x.idx: not an IDX file of unsigned bytes (magic 0xd03, expected 0x801 to 0x804)")
    }

    @Test func countsThatDisagreeWithTheFileSize() {
        let short = IDXFixture.images(Array(pixels.dropLast(7)), count: 3, height: 4, width: 5)
        #expect(
            error { _ = try IDXReader.parse(short, name: "x.idx") }
                == "x.idx: the header declares 3x4x5 = 60 bytes of data, the file holds 53")
        let huge = IDXFixture.header(magic: 3, dimensions: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF])
        #expect(error { _ = try IDXReader.parse(huge, name: "x.idx") }.contains("the file holds 0"))
    }

    @Test func truncatedGzip() throws {
        let folder = IDXFixture.folder()
        let path = folder + "/images.gz"
        IDXFixture.write(IDXFixture.images(pixels, count: 3, height: 4, width: 5), to: path, gzip: true)
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count - 10).write(to: URL(fileURLWithPath: path))
        #expect(
            error { _ = try IDXReader.read(path: path) }.hasPrefix("images.gz: the gzip stream is corrupt or truncated")
        )
    }

    @Test func imageAndLabelCountsThatDisagree() {
        let folder = IDXFixture.folder()
        IDXFixture.write(
            IDXFixture.images(pixels, count: 3, height: 4, width: 5), to: folder + "/train-images-idx3-ubyte",
            gzip: false)
        IDXFixture.write(IDXFixture.labels([1, 0]), to: folder + "/train-labels-idx1-ubyte.gz", gzip: true)
        #expect(
            error { _ = try IDXDataset.loadFolder(folder) }
                == "train-images-idx3-ubyte holds 3 images but train-labels-idx1-ubyte.gz holds 2 labels")
    }

    @Test func missingFiles() {
        let folder = IDXFixture.folder()
        #expect(error { _ = try IDXDataset.loadFolder(folder) }.contains("no train-images-idx3-ubyte[.gz]"))
        #expect(error { _ = try IDXReader.read(path: folder + "/none") }.contains("cannot open"))
    }
}
