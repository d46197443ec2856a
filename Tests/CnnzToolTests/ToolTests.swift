import Foundation
import Testing

/// Runs the built `convert` and `infer` executables as a user would, and
/// checks their exact output and exit codes.
struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Tool {
    /// The executables sit beside the test bundle in the build folder.
    static let binaries =
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .pathComponents.contains { $0.hasSuffix(".xctest") }
        ? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        : URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = repository.appendingPathComponent("Tests/CnnzTests/Fixtures")
    static let exampleModel = repository.appendingPathComponent("Examples/fashion-mnist-small.cnnz").path
    static func exampleImage(_ name: String) -> String {
        repository.appendingPathComponent("Examples/images/\(name).pgm").path
    }

    /// Runs a built tool, or with `absolute`, the program at the path `tool`.
    static func run(_ tool: String, _ arguments: [String], absolute: Bool = false) throws -> ToolResult {
        let process = Process()
        process.executableURL = absolute ? URL(fileURLWithPath: tool) : binaries.appendingPathComponent(tool)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ToolResult(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cnnz-tool-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

@Suite struct ConvertToolTests {
    @Test func convertsAndReportsWhatItWrote() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("tiny.cnnz").path
        let r = try Tool.run("convert", [Tool.fixtures.appendingPathComponent("tiny.json").path, "-o", output])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "")
        let size = try FileManager.default.attributesOfItem(atPath: output)[.size] as! Int
        #expect(
            r.stdout == "wrote \(output): 4 layers, \(size) bytes (4354 bytes of JSON); self-test stored and passed\n")
    }

    @Test func defaultOutputIsBesideTheInput() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("model.json")
        try FileManager.default.copyItem(at: Tool.fixtures.appendingPathComponent("tiny-graph.json"), to: input)
        let r = try Tool.run("convert", [input.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.cnnz").path))
    }

    @Test(arguments: [
        (
            "{\"format\": \"cnnz-json\", \"version\": 1",
            "error: malformed JSON at byte 36: unexpected end of input in an object\n"
        ),
        (
            "{\"format\": \"cnnz-json\", \"version\": 3}",
            "error: model.json: version 3 is newer than this tool reads (1); upgrade cnnz\n"
        ),
        (
            "{\"format\": \"cnnz-json\", \"version\": 1, \"input\": {\"shape\": [2, 2, 1]}, \"layers\": [{\"class_name\": \"Flatten\"}, {\"class_name\": \"Dense\", \"config\": {\"units\": 2}}]}",
            "error: layer 1 (Dense): weights are missing\n"
        ),
        (
            "{\"format\": \"cnnz-json\", \"version\": 1, \"input\": {\"shape\": [1, 1, 1]}, \"layers\": [{\"class_name\": \"Flatten\"}], \"selftest\": {\"input\": [[[1]]], \"output\": [2]}}",
            "error: selftest: output 0 is 2.0 in the model.json but the converted model computes a value 1.0 away, above the tolerance 0.0001\n"
        ),
    ])
    func failsWithOneLineAndWritesNothing(_ json: String, _ expected: String) throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("bad.json")
        try Data(json.utf8).write(to: input)
        let r = try Tool.run("convert", [input.path])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        #expect(r.stderr == expected)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["bad.json"])
    }

    @Test func missingInputIsAnIOError() throws {
        let r = try Tool.run("convert", ["/nonexistent/model.json"])
        #expect(r.status == 1)
        #expect(r.stderr == "error: cannot read /nonexistent/model.json: no such file\n")
    }

    @Test func inspectPrintsASummaryTable() throws {
        let r = try Tool.run("convert", ["--inspect", Tool.exampleModel])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines[0] == "Model: fashion-mnist-small")
        #expect(lines[1] == "Input: [28x28x1]  Outputs: 10  Labels: 10")
        // MACs: conv 28*28*32 outputs x 3*3 taps = 225,792; the batch normalizations are folded.
        #expect(lines[4] == "#  Layer         Activation  Inputs  Output shape  Params       MACs  Precision")
        #expect(lines[6] == "0  Conv2D        relu        input   [28x28x32]       320    225,792  float32")
        #expect(lines[7] == "1  MaxPooling2D  linear      0       [14x14x32]         0          0  float32")
        #expect(lines[12] == "6  Flatten       linear      5       [576]              0          0  float32")
        #expect(lines[14] == "8  Dense         softmax     7       [10]           1,290      1,280  float32")
        #expect(lines.contains("Total params: 130,890 (523,560 bytes as float32)"))
        // One unit style for every size: grouped bytes, as the counts ("1372 B" beside "2,083 bytes" was not).
        #expect(lines.contains("Activation memory per image: 125,440 bytes (after lifetime planning)"))
        #expect(!r.stdout.contains(" B ") && !r.stdout.contains(" B)") && !r.stdout.contains("KiB"))
        #expect(lines.contains("Total MACs per image: 5,719,808"))
        #expect(lines.contains { $0.hasPrefix("File: ") && $0.contains("compression ratio") })
    }

    @Test func inspectRefusesACorruptFile() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Tool.exampleModel))
        bytes = bytes.prefix(100)
        let path = dir.appendingPathComponent("cut.cnnz").path
        try bytes.write(to: URL(fileURLWithPath: path))
        let r = try Tool.run("convert", ["--inspect", path])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("error: \(path): header: declares a "))
        #expect(r.stderr.filter { $0 == "\n" }.count == 1)
    }
}

@Suite struct InferToolTests {
    @Test func classifiesTheShippedImages() throws {
        let r = try Tool.run(
            "infer", [Tool.exampleModel, Tool.exampleImage("trouser"), Tool.exampleImage("sneaker"), "--top", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0] == Tool.exampleImage("trouser"))
        #expect(lines[1].hasPrefix("  Trouser  "))
        #expect(lines[3].hasPrefix("  Sneaker  "))
    }

    @Test func jsonLinesCarryEveryScore() throws {
        let images = ["bag", "dress", "coat"].map(Tool.exampleImage)
        let r = try Tool.run("infer", [Tool.exampleModel, "--json", "--top", "2", "--batch", "2"] + images)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        for (line, file) in zip(lines, images) {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect(object["file"] as? String == file)
            let scores = object["scores"] as! [Double]
            #expect(scores.count == 10)
            #expect(abs(scores.reduce(0, +) - 1) < 1e-4)
            let top = object["top"] as! [[String: Any]]
            #expect(top.count == 2)
            let index = top[0]["index"] as! Int
            #expect(scores[index] == scores.max())
            #expect(top[0]["probability"] as? Double == scores[index])
            #expect(top[0]["label"] is String)
        }
    }

    @Test func selfTestPasses() throws {
        let r = try Tool.run("infer", ["--selftest", Tool.exampleModel])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("selftest: passed (max difference "))
    }

    @Test func resizesAndConvertsColourImagesAndSaysSo() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("rgb.ppm").path
        var bytes = Array("P3\n# colour, 16-bit\n4 2 65535\n".utf8)
        for i in 0..<24 { bytes += Array("\(i * 2000) ".utf8) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let r = try Tool.run("infer", [Tool.exampleModel, path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "note: \(path) is 4x2, resized to 28x28\n")
        #expect(r.stdout.hasPrefix(path + "\n"))
    }

    @Test func benchPrintsLatencyAndThroughput() throws {
        let r = try Tool.run("infer", [Tool.exampleModel, Tool.exampleImage("bag"), "--bench", "20"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("bench: 20 runs after 10 warm-up, batch 1, "))
        #expect(r.stdout.contains(" threads: median ") || r.stdout.contains(" thread: median "))
        let lines = r.stdout.split(separator: "\n")
        #expect(r.stdout.contains(" ms per batch, p90 ") && lines.first?.hasSuffix(" images/s") == true)
        // With helper threads, how the batch-1 runs (warm-up included) split their layers.
        let multithreaded = !r.stdout.contains(" 1 thread: ")
        #expect(lines.count == (multithreaded ? 2 : 1), "\(r.stdout)")
        if multithreaded {
            #expect(lines[1].hasPrefix("layer split: runs none ") && lines[1].contains("; back-offs "), "\(r.stdout)")
            let counts = lines[1].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            #expect(counts.count == 4 && counts[0] + counts[1] + counts[2] == 30, "\(r.stdout)")
        }
    }

    @Test(arguments: [
        ("P5 28 28 255\n", "needs 784 bytes of samples, the file has 3"),
        ("P5 0 28 255\n", "Netpbm header: zero size 0x28"),
        ("GIF89a", "this looks like a GIF image; cnnz reads PNG, JPEG and Netpbm"),
    ])
    func badImagesFailWithOneLine(_ header: String, _ message: String) throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.pgm").path
        try Data(Array(header.utf8) + [1, 2, 3]).write(to: URL(fileURLWithPath: path))
        let r = try Tool.run("infer", [Tool.exampleModel, path])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        #expect(r.stderr.hasPrefix("error: \(path): "), "\(r.stderr)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stderr.filter { $0 == "\n" }.count == 1)
    }

    @Test func badModelsFailWithOneLine() throws {
        let image = Tool.exampleImage("bag")
        let directory = try Tool.run("infer", [Tool.repository.appendingPathComponent("Examples").path, image])
        #expect(directory.status == 1)
        #expect(directory.stderr.hasSuffix("Examples: it is a directory\n"))
        let pgm = try Tool.run("infer", [image, image])
        #expect(pgm.status == 1)
        #expect(
            pgm.stderr
                == "error: \(image): this is an image, not a .cnnz model; the model comes first (`infer MODEL.cnnz \(image)`)\n"
        )
        let garbage = try Tool.run("infer", [Tool.fixtures.appendingPathComponent("tiny.json").path + "x", image])
        #expect(garbage.status == 1)
        #expect(garbage.stderr.hasPrefix("error: ") && garbage.stderr.filter { $0 == "\n" }.count == 1)
    }

    @Test func usageErrorsExitNonZero() throws {
        let r = try Tool.run("infer", [Tool.exampleModel])
        #expect(r.status != 0)
        #expect(r.stderr.contains("give at least one image"))
        for (flag, message) in [("--threads", "--threads must be in 1...64"), ("--top", "--top must be at least 1")] {
            let bad = try Tool.run("infer", [Tool.exampleModel, Tool.exampleImage("bag"), flag, "0"])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains(message), "\(bad.stderr)")
        }
        let help = try Tool.run("infer", ["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--bench"))
    }
}
