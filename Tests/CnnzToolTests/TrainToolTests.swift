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
        #expect(lines[3].hasPrefix("wrote \(out) and \(dir.path)/out/model.cnnz (epoch "))
        let history = try String(contentsOfFile: dir.appendingPathComponent("out/history.csv").path, encoding: .utf8)
        #expect(history.split(separator: "\n").count == 3)
        let svg = try String(contentsOfFile: dir.appendingPathComponent("out/report.svg").path, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("Accuracy") && svg.hasSuffix("</svg>\n"))
        let converted = try Tool.run("convert", [out, "-o", dir.appendingPathComponent("m.cnnz").path])
        #expect(converted.status == 0, "\(converted.stderr)")
        let inferred = try Tool.run("infer", [dir.appendingPathComponent("out/model.cnnz").path, "--selftest"])
        #expect(inferred.status == 0, "\(inferred.stderr)")

        // Resumed to 3 epochs: one more epoch, the history continued, the same result as 3 epochs in one go
        // (the optimizer's moments restart, so only the epoch count and the files are compared).
        let resumed = try Tool.run(
            "train",
            [
                "--data", dir.path, "--resume", out, "--epochs", "3", "--batch", "8", "--validation-split", "0.25",
                "--out", out, "--threads", "2",
            ])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(
            resumed.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }.map { $0.prefix(10) } == [
                "epoch 3/3:"
            ])
        let continued = try String(contentsOfFile: dir.appendingPathComponent("out/history.csv").path, encoding: .utf8)
        #expect(continued.split(separator: "\n").map { $0.prefix(2) } == ["ep", "1,", "2,", "3,"])
        let done = try Tool.run(
            "train", ["--data", dir.path, "--resume", out, "--epochs", "3", "--out", out])
        #expect(done.status == 1)
        #expect(done.stderr == "error: \(out) has been trained for 3 epochs already; give a larger --epochs\n")
    }

    /// A folder of class folders (PGM images of another size), with a test/ folder.
    @Test func trainsOnClassFolders() throws {
        let dir = try Self.dataFolder(count: 8)
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("images")
        for (set, count) in [("", 12), ("test", 4)] {
            for name in ["left", "right"] {
                let folder = images.appendingPathComponent(set).appendingPathComponent(name)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for i in 0..<count {
                    var bytes = Array("P5\n16 16\n255\n".utf8)
                    for _ in 0..<16 {
                        for x in 0..<16 { bytes.append((x < 8) == (name == "left") ? 230 : UInt8(i * 3)) }
                    }
                    try Data(bytes).write(to: folder.appendingPathComponent("\(i).pgm"))
                }
            }
        }
        let out = dir.appendingPathComponent("folder.json").path
        let r = try Tool.run(
            "train",
            [
                "--data", images.path, "--arch", dir.appendingPathComponent("arch.json").path, "--epochs", "3",
                "--batch", "4", "--lr", "0.01", "--out", out, "--shift", "1", "--flip",
            ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("train: 24 images 8x8x1, 2 classes"))
        #expect(r.stdout.contains("test: loss ") && r.stdout.contains("on 8 images"))
        let model = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect((model as? [String: Any])?["labels"] as? [String] == ["left", "right"])
        let svg = try String(contentsOfFile: dir.appendingPathComponent("report.svg").path, encoding: .utf8)
        #expect(svg.contains("confusion matrix") && svg.contains(">right</text>"))

        // A non-image file in a class folder: one line naming it, before training, nothing written.
        try Data("notes".utf8).write(to: images.appendingPathComponent("left/readme.txt"))
        let broken = dir.appendingPathComponent("broken.json").path
        let b = try Tool.run(
            "train", ["--data", images.path, "--arch", dir.appendingPathComponent("arch.json").path, "--out", broken])
        #expect(b.status == 1)
        #expect(b.stdout == "")
        #expect(
            b.stderr.hasPrefix("error: \(images.path)/left/readme.txt: ") && b.stderr.filter { $0 == "\n" }.count == 1)
        #expect(!FileManager.default.fileExists(atPath: broken))
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
