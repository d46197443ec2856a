import Foundation
import Testing

/// The built `train` executable as a user runs it, on small IDX files made here.
@Suite struct TrainToolTests {
    static func idx(_ magic: UInt8, _ dimensions: [Int], _ data: [UInt8]) -> Data {
        var bytes: [UInt8] = [0, 0, 0x08, magic]
        for d in dimensions { bytes += withUnsafeBytes(of: UInt32(d).bigEndian) { Array($0) } }
        return Data(bytes + data)
    }

    /// A folder of `count` 8x8 images: class 0 bright on the left half, class 1 on the right.
    static func dataFolder(count: Int, labelCount: Int? = nil) throws -> URL {
        let dir = try Tool.temporaryDirectory()
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        for i in 0..<count {
            let label = UInt8(i % 2)
            for _ in 0..<8 { for x in 0..<8 { pixels.append((x < 4) == (label == 0) ? 220 : UInt8(i * 7 % 40)) } }
            labels.append(label)
        }
        try idx(3, [count, 8, 8], pixels).write(to: dir.appendingPathComponent("train-images-idx3-ubyte"))
        let n = labelCount ?? count
        try idx(1, [n], Array(labels.prefix(n))).write(to: dir.appendingPathComponent("train-labels-idx1-ubyte"))
        let arch = """
            {"format": "cnnz-json", "version": 1, "input": {"shape": [8, 8, 1]}, "preprocess": {"scale": 0.00392156862745098},
             "layers": [{"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3, "activation": "relu"}},
                        {"class_name": "Flatten"}, {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}]}
            """
        try Data(arch.utf8).write(to: dir.appendingPathComponent("arch.json"))
        return dir
    }

    @Test func trainsAndWritesAModelJSONThatConverts() throws {
        let dir = try Self.dataFolder(count: 64)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out/model.json").path
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("out"), withIntermediateDirectories: true)
        let r = try Tool.run(
            "train",
            [
                "--data", dir.path, "--arch", dir.appendingPathComponent("arch.json").path, "--epochs", "2",
                "--batch", "8", "--validation-split", "0.25", "--out", out, "--threads", "2",
            ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("train: 48 images 8x8x1, 2 classes; 166 parameters; adam"))
        #expect(lines[1].hasPrefix("epoch 1/2: loss ") && lines[1].contains("; validation loss "))
        let history = try String(contentsOfFile: dir.appendingPathComponent("out/history.csv").path, encoding: .utf8)
        #expect(history.split(separator: "\n").count == 3)
        let converted = try Tool.run("convert", [out, "-o", dir.appendingPathComponent("m.cnnz").path])
        #expect(converted.status == 0, "\(converted.stderr)")
    }

    @Test func brokenDataIsOneLineAndWritesNothing() throws {
        let dir = try Self.dataFolder(count: 10, labelCount: 9)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("model.json").path
        let r = try Tool.run(
            "train", ["--data", dir.path, "--arch", dir.appendingPathComponent("arch.json").path, "--out", out])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        #expect(
            r.stderr == "error: train-images-idx3-ubyte holds 10 images but train-labels-idx1-ubyte holds 9 labels\n")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("history.csv").path))
    }
}
