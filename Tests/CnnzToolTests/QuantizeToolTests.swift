import Foundation
import Testing

/// `convert --quantize`: int8 from every kind of calibration data, weights-int8,
/// `--inspect` of the result, and broken calibration data as one-line errors
/// before any file is written.
@Suite struct QuantizeToolTests {
    static let tiny = Tool.fixtures.appendingPathComponent("tiny.json").path  // input 5x5x2

    /// A .npy file of float32 `values` with `shape`.
    static func npy(_ shape: [Int], _ values: [Float], descr: String = "<f4") -> Data {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        data.append(contentsOf: [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    static func values(_ count: Int) -> [Float] { (0..<count).map { Float(($0 * 37) % 101) / 50 - 1 } }

    @Test func int8FromANpyArrayInspectsAndSelfTests() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let calibration = dir.appendingPathComponent("cal.npy")
        try Self.npy([20, 5, 5, 2], Self.values(1000)).write(to: calibration)
        let output = dir.appendingPathComponent("tiny8.cnnz").path
        let r = try Tool.run(
            "convert", [Self.tiny, "-o", output, "--quantize", "int8", "--calibration", calibration.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "")  // no progress bar when stderr is not a terminal
        #expect(r.stdout.hasPrefix("wrote \(output): 4 layers, "))
        #expect(r.stdout.contains(", int8; on the self-test input the largest difference from float32 is "))
        let inspect = try Tool.run("convert", ["--inspect", output])
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("format version 2"))
        #expect(inspect.stdout.contains("Precision: int8"))
        #expect(inspect.stdout.contains("Quantization (real = scale x (q - zero point)):"))
        #expect(inspect.stdout.contains("Every layer runs in int8."))
        let selftest = try Tool.run("infer", [output, "--selftest"])
        #expect(selftest.status == 0, "\(selftest.stderr)")
    }

    @Test func int8FromAnImageFolderAndFromIDX() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // tiny-graph takes 6x7 RGB images: a nested folder of three PPMs.
        let graph = Tool.fixtures.appendingPathComponent("tiny-graph.json").path
        let images = dir.appendingPathComponent("images/sub")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for i in 0..<3 {
            var ppm = Data("P6\n7 6\n255\n".utf8)
            ppm.append(contentsOf: (0..<(7 * 6 * 3)).map { UInt8(($0 * 7 + i * 31) % 256) })
            try ppm.write(to: images.appendingPathComponent("\(i).ppm"))
        }
        let fromFolder = try Tool.run(
            "convert",
            [
                graph, "-o", dir.appendingPathComponent("a.cnnz").path, "--quantize", "int8", "--calibration",
                dir.appendingPathComponent("images").path,
            ])
        #expect(fromFolder.status == 0, "\(fromFolder.stderr)")
        // IDX holds gray images: 6x7x1 is the wrong shape for a 3-channel model.
        var idx = Data([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 6, 0, 0, 0, 7])
        idx.append(contentsOf: [UInt8](repeating: 9, count: 3 * 42))
        let idxPath = dir.appendingPathComponent("images.idx3-ubyte")
        try idx.write(to: idxPath)
        let wrongShape = try Tool.run(
            "convert",
            [
                graph, "-o", dir.appendingPathComponent("b.cnnz").path, "--quantize", "int8", "--calibration",
                idxPath.path,
            ])
        #expect(wrongShape.status == 1)
        #expect(
            wrongShape.stderr
                == "error: calibration data \(idxPath.path): holds items of 6x7; the model takes 6x7x3 images\n")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("b.cnnz").path))
    }

    @Test func weightsInt8IsSmallerAndNeedsNoData() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("w.cnnz").path
        let r = try Tool.run("convert", [Self.tiny, "-o", output, "--quantize", "weights-int8"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("weights-int8"))
        let inspect = try Tool.run("convert", ["--inspect", output])
        #expect(inspect.stdout.contains("float32 (int8 weights)"))
    }

    /// Each broken input: exit 1, one line on stderr, nothing written.
    @Test func brokenCalibrationDataIsOneLineAndWritesNothing() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try Data("not an image".utf8).write(to: empty.appendingPathComponent("notes.txt"))
        let wrongShape = dir.appendingPathComponent("shape.npy")
        try Self.npy([4, 5, 5, 3], Self.values(300)).write(to: wrongShape)
        var withNaN = Self.values(100)
        withNaN[57] = .nan
        let nan = dir.appendingPathComponent("nan.npy")
        try Self.npy([2, 5, 5, 2], withNaN).write(to: nan)
        let float64 = dir.appendingPathComponent("f8.npy")
        try Self.npy([1, 5, 5, 2], Self.values(100), descr: "<f8").write(to: float64)
        let huge = dir.appendingPathComponent("huge.npy")
        try Self.npy([Int.max, 5, 5, 2], Self.values(100)).write(to: huge)
        let badMagic = dir.appendingPathComponent("images-idx3-ubyte")
        try Data([0, 0, 9, 3, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 5] + [UInt8](repeating: 0, count: 25)).write(
            to: badMagic)
        let cases: [([String], String)] = [
            (
                ["--calibration", empty.path],
                "error: calibration data \(empty.path): the folder holds no images (.pgm, .ppm, .pnm, .png, .jpg, .jpeg, searched recursively)"
            ),
            (
                ["--calibration", wrongShape.path],
                "error: calibration data \(wrongShape.path): has shape (4, 5, 5, 3); the model needs (N, 5, 5, 2) prepared NHWC inputs"
            ),
            (
                ["--calibration", nan.path],
                "error: calibration data \(nan.path): image 1 holds nan at element 7; calibration needs finite numbers"
            ),
            (
                ["--calibration", float64.path],
                "error: calibration data \(float64.path): holds '<f8'; calibration takes float32 ('<f4') arrays, e.g. x.astype(np.float32)"
            ),
            (
                ["--calibration", huge.path],
                "error: calibration data \(huge.path): declares \(Int.max) images, the file holds 2"
            ),
            (
                ["--calibration", badMagic.path],
                "error: images-idx3-ubyte: not an IDX file of unsigned bytes (magic 0x903, expected 0x801 to 0x804)"
            ),
            (
                ["--calibration", dir.appendingPathComponent("missing.npy").path],
                "error: calibration data \(dir.appendingPathComponent("missing.npy").path): no such file or folder"
            ),
            (
                // Two images of 5x5x2 floats take 400 bytes: over a budget of 300, refused before reading.
                ["--calibration", nan.path, "--calibration-memory", "300"],
                "error: calibration data \(nan.path): 2 images of 5x5x2 floats (200 bytes each) exceed the calibration memory budget of 300 bytes; use --calibration-count 1 or fewer, or raise --calibration-memory"
            ),
            (
                ["--calibration", empty.path, "--calibration-memory", "1G", "--calibration-count", "0"],
                "error: --calibration-count must be at least 1, got 0"
            ),
            (
                ["--calibration", empty.path, "--weight-bits", "6"],
                "error: --weight-bits must be 8 or 7, got 6"
            ),
            (
                [],
                "error: --quantize int8 needs --calibration PATH (images, an IDX file or a .npy array); without data, use --quantize weights-int8"
            ),
        ]
        let output = dir.appendingPathComponent("out.cnnz").path
        for (flags, message) in cases {
            let r = try Tool.run("convert", [Self.tiny, "-o", output, "--quantize", "int8"] + flags)
            #expect(r.status == 1)
            #expect(r.stdout == "")
            #expect(r.stderr == message + "\n")
            #expect(!FileManager.default.fileExists(atPath: output))
        }
        let badMode = try Tool.run("convert", [Self.tiny, "-o", output, "--quantize", "int4"])
        #expect(badMode.stderr == "error: --quantize must be int8 or weights-int8, got 'int4'\n")
        let bitsWithoutInt8 = try Tool.run("convert", [Self.tiny, "-o", output, "--weight-bits", "7"])
        #expect(bitsWithoutInt8.stderr == "error: --weight-bits needs --quantize int8\n")
        let bitsWithWeightsInt8 = try Tool.run(
            "convert", [Self.tiny, "-o", output, "--quantize", "weights-int8", "--weight-bits", "7"])
        #expect(bitsWithWeightsInt8.stderr == "error: --weight-bits is for --quantize int8\n")
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}
