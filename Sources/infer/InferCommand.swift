import ArgumentParser
import Cnnz
import Foundation

@main
struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Classify Netpbm images (P2, P3, P5, P6) with a .cnnz model.",
        discussion: """
            Images are converted to the model's channel count (RGB to gray: BT.601 luma), resized
            bilinearly when their size differs (a note goes to stderr), preprocessed as the model says,
            and run in batches. Probabilities are the model's outputs when it ends in softmax or
            sigmoid, and the softmax of its outputs otherwise.
            """)

    @Argument(help: "The .cnnz model.")
    var model: String

    @Argument(help: "Netpbm images to classify.")
    var images: [String] = []

    @Option(help: "How many of the top classes to print per image.")
    var top = 3

    @Flag(help: "Print one JSON object per image: {\"file\", \"scores\", \"top\"}.")
    var json = false

    @Option(help: "Images run together in one pass.")
    var batch = 16

    @Option(help: "Threads that share each layer's work (default: one per processor).")
    var threads = InferCommand.defaultThreads

    @Option(
        help: ArgumentHelp(
            "The model's memory budget (e.g. 64M, 1G; default 1G): a model that needs more is refused.",
            valueName: "bytes"))
    var maxMemory: ByteSize?

    @Flag(help: "Run the model's stored self-test vector and report whether this machine reproduces it.")
    var selftest = false

    @Option(help: "Run N inferences on the first image and print latency (median, p90) and images per second.")
    var bench: Int?

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        guard batch >= 1, batch <= 4096 else { throw ValidationError("--batch must be in 1...4096") }
        guard threads >= 1, threads <= Session.maxThreads else {
            throw ValidationError("--threads must be in 1...\(Session.maxThreads)")
        }
        if let bench, bench < 1 { throw ValidationError("--bench must be at least 1") }
        if !selftest && images.isEmpty { throw ValidationError("give at least one image (or --selftest)") }
        if bench != nil && images.isEmpty { throw ValidationError("--bench needs an image") }
    }

    func run() throws {
        do {
            try runChecked()
        } catch let error as CnnzError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func runChecked() throws {
        let loaded = try Model(contentsOfFile: model, options: loadOptions)
        if selftest {
            let report = try loaded.runSelfTest()
            let line =
                "max difference \(report.maxDifference) at output \(report.index), tolerance \(report.tolerance)"
            guard report.passed else { throw CnnzError.selfTest("selftest: FAILED: \(line)") }
            print("selftest: passed (\(line))")
            if images.isEmpty { return }
        }
        if let runs = bench {
            try benchmark(loaded, runs: runs)
            return
        }
        let session = try loaded.makeSession(batchCapacity: min(batch, images.count), threads: threads)
        let activation = loaded.contents.graph.layers.last!.activation
        var start = 0
        while start < images.count {
            let chunk = Array(images[start..<min(start + batch, images.count)])
            var input: [Float] = []
            input.reserveCapacity(chunk.count * loaded.inputShape.elementCount)
            for path in chunk {
                let image = try ImageReader.read(path: path)
                let (prepared, resized) = loaded.prepare(image)
                if resized {
                    FileHandle.standardError.write(
                        Data(
                            "note: \(path) is \(image.width)x\(image.height), resized to \(loaded.inputShape.width)x\(loaded.inputShape.height)\n"
                                .utf8))
                }
                input += prepared
            }
            let output = try session.run(input, batch: chunk.count)
            for (i, path) in chunk.enumerated() {
                let scores = Array(output[(i * loaded.outputSize)..<((i + 1) * loaded.outputSize)])
                report(
                    path: path, scores: scores, probabilities: probabilities(scores, activation), labels: loaded.labels)
            }
            start += chunk.count
        }
    }

    private func probabilities(_ scores: [Float], _ activation: Activation) -> [Float] {
        if activation == .softmax || activation == .sigmoid { return scores }
        let maximum = scores.max() ?? 0
        let exps = scores.map { Foundation.exp($0 - maximum) }
        let sum = exps.reduce(0, +)
        return exps.map { $0 / sum }
    }

    private func report(path: String, scores: [Float], probabilities: [Float], labels: [String]) {
        let order = probabilities.indices.sorted {
            probabilities[$0] != probabilities[$1] ? probabilities[$0] > probabilities[$1] : $0 < $1
        }
        let best = order.prefix(top)
        func label(_ i: Int) -> String { labels.isEmpty ? "class \(i)" : labels[i] }
        if json {
            let topJSON = best.map {
                "{\"index\": \($0), \"label\": \(jsonString(label($0))), \"probability\": \(jsonNumber(probabilities[$0]))}"
            }
            print(
                "{\"file\": \(jsonString(path)), \"scores\": [\(scores.map(jsonNumber).joined(separator: ", "))], \"top\": [\(topJSON.joined(separator: ", "))]}"
            )
        } else {
            print(path)
            let width = best.map { label($0).count }.max() ?? 0
            for i in best {
                let name = label(i)
                print("  \(name)\(String(repeating: " ", count: width - name.count))  \(fixed4(probabilities[i]))")
            }
        }
    }

    private func benchmark(_ model: Model, runs: Int) throws {
        let image = try ImageReader.read(path: images[0])
        let input = model.prepare(image).input
        let session = try model.makeSession(batchCapacity: 1, threads: threads)
        var output = [Float](repeating: 0, count: model.outputSize)
        let warmup = min(runs, 10)
        var times: [Double] = []
        times.reserveCapacity(runs)
        try input.withUnsafeBufferPointer { i in
            try output.withUnsafeMutableBufferPointer { o in
                for _ in 0..<warmup { try session.run(input: i, batch: 1, output: o) }
                let clock = ContinuousClock()
                for _ in 0..<runs {
                    let start = clock.now
                    try session.run(input: i, batch: 1, output: o)
                    let elapsed = clock.now - start
                    times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
                }
            }
        }
        times.sort()
        let median = times[times.count / 2]
        let p90 = times[min(times.count - 1, Int((Double(times.count) * 0.9).rounded(.up)) - 1)]
        let total = times.reduce(0, +)
        print(
            "bench: \(runs) runs after \(warmup) warm-up, batch 1, \(session.threadCount) threads: median \(fixed4(median * 1000)) ms, p90 \(fixed4(p90 * 1000)) ms, \(Int((Double(runs) / total).rounded())) images/s"
        )
    }
}

func fixed4(_ value: Float) -> String { fixed4(Double(value)) }

func fixed4(_ value: Double) -> String {
    let scaled = Int((value * 10000).rounded())
    let fraction = String(abs(scaled) % 10000)
    return
        "\(scaled < 0 ? "-" : "")\(abs(scaled) / 10000).\(String(repeating: "0", count: 4 - fraction.count))\(fraction)"
}

func jsonNumber(_ value: Float) -> String {
    value.isFinite ? "\(value)" : "null"
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
