import ArgumentParser
import Cnnz
import Foundation

@main
struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Classify PNG, JPEG and Netpbm images with a .cnnz model.",
        discussion: """
            Images are converted to the model's channel count (RGB to gray: BT.601 luma), resized \
            bilinearly when their size differs (a note goes to stderr), preprocessed as the model says, \
            and run in batches. Probabilities are the model's outputs when it ends in softmax or \
            sigmoid, and the softmax of its outputs otherwise.

            An image that cannot be read is reported on stderr and the others are still classified; \
            the exit status is then 1.
            """)

    static let defaultBatch = 16
    /// One thread per processor, within the engine's limit.
    static let defaultThreads = min(ProcessInfo.processInfo.activeProcessorCount, Session.maxThreads)

    static func main() { mainReportingErrors() }

    @Argument(help: "The .cnnz model (made by convert).")
    var model: String

    @Argument(help: "Images to classify: PNG, JPEG or Netpbm (P2, P3, P5, P6), told by their first bytes.")
    var images: [String] = []

    // `.unconditional`: `--top -1` is a value (refused by validate()), not a missing value.
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("How many of the top classes to print per image.", valueName: "n"))
    var top = 3

    @Flag(help: "Print one JSON object per image: {\"file\", \"scores\", \"top\"}.")
    var json = false

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Images run together in one pass (default: \(defaultBatch); with --bench or --profile: 1).",
            valueName: "n"))
    var batch: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Threads that share each layer's work (default: one per processor, here \(defaultThreads)).",
            valueName: "n"))
    var threads: Int?

    @Option(
        help: ArgumentHelp(
            "The model's memory budget (e.g. 64M, 1G; default 1G): a model that needs more is refused.",
            valueName: "bytes"))
    var maxMemory: ByteSize?

    @Flag(help: "Run the model's stored self-test vector and report whether this machine reproduces it.")
    var selftest = false

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Run n passes of one batch (--batch images, the given ones repeated as needed) and print the latency per batch (median, p90) and images per second.",
            valueName: "n"))
    var bench: Int?

    @Flag(
        help: ArgumentHelp(
            "Time each layer over --bench passes (default \(defaultProfileRuns)) of one batch (default 1) and print per layer the median time, its share, MACs and GFLOP/s."
        ))
    var profile = false

    @Option(
        name: .customLong("bench-load"),
        help: ArgumentHelp(
            "Load the model n times and print the median time of each loading step (read, checksums, inflate, decode, validate, plan and pack) and of a whole load.",
            valueName: "n"))
    var benchLoad: Int?

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        if let batch, batch < 1 || batch > 4096 { throw ValidationError("--batch must be in 1...4096, got \(batch)") }
        if let threads, threads < 1 || threads > Session.maxThreads {
            throw ValidationError("--threads must be in 1...\(Session.maxThreads), got \(threads)")
        }
        if let bench, bench < 1 { throw ValidationError("--bench must be at least 1, got \(bench)") }
        if let benchLoad, benchLoad < 1 || benchLoad > 100_000 {
            throw ValidationError("--bench-load must be in 1...100000, got \(benchLoad)")
        }
        if !selftest && benchLoad == nil && images.isEmpty {
            throw ValidationError("give at least one image (or --selftest)")
        }
        if bench != nil && images.isEmpty { throw ValidationError("--bench needs an image") }
        if profile && images.isEmpty { throw ValidationError("--profile needs an image") }
    }

    func run() throws {
        if let benchLoad {
            print(Self.render(try Model.profileLoading(model, runs: benchLoad, options: loadOptions)))
            return
        }
        let loaded = try Self.loadModel(model, firstImage: images.first, options: loadOptions)
        if selftest {
            let report = try loaded.runSelfTest()
            let line =
                "max difference \(report.maxDifference) at output \(report.index), tolerance \(report.tolerance)"
            guard report.passed else { throw CnnzError.selfTest("selftest: FAILED: \(line)") }
            print("selftest: passed (\(line))")
            if images.isEmpty { return }
        }
        if profile {
            try self.profile(
                loaded, runs: bench ?? Self.defaultProfileRuns, batch: batch ?? 1,
                threads: threads ?? Self.defaultThreads)
            return
        }
        if let runs = bench {
            try benchmark(loaded, runs: runs, batch: batch ?? 1, threads: threads ?? Self.defaultThreads)
            return
        }
        let batch = self.batch ?? Self.defaultBatch
        let session = try loaded.makeSession(
            batchCapacity: min(batch, images.count), threads: threads ?? Self.defaultThreads)
        let activation = loaded.contents.graph.layers.last!.activation
        // A batch holds only images that were read: one that fails is reported and skipped,
        // the others are still classified (as grep and ls go on past a missing file).
        var failures = 0
        var input: [Float] = []
        input.reserveCapacity(min(batch, images.count) * loaded.inputShape.elementCount)
        var paths: [String] = []
        func runBatch() throws {
            let output = try session.run(input, batch: paths.count)
            for (i, path) in paths.enumerated() {
                let scores = Array(output[(i * loaded.outputSize)..<((i + 1) * loaded.outputSize)])
                report(
                    path: path, scores: scores, probabilities: probabilities(scores, activation), labels: loaded.labels)
            }
            input.removeAll(keepingCapacity: true)
            paths.removeAll(keepingCapacity: true)
        }
        for path in images {
            do {
                input += try prepare(path, for: loaded)
                paths.append(path)
            } catch {
                printError(error.message)
                failures += 1
                continue
            }
            if paths.count == batch { try runBatch() }
        }
        if !paths.isEmpty { try runBatch() }
        if failures > 0 { throw ExitCode.failure }
    }

    /// Reads one image and brings it to the model's input, with a note on stderr when it was resized.
    private func prepare(_ path: String, for model: Model) throws(CnnzError) -> [Float] {
        let image = try ImageReader.read(path: path)
        let (prepared, resized) = model.prepare(image)
        if resized {
            FileHandle.standardError.write(
                Data(
                    "note: \(path) is \(image.width)x\(image.height), resized to \(model.inputShape.width)x\(model.inputShape.height)\n"
                        .utf8))
        }
        return prepared
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

extension InferCommand {
    /// The load options the flags ask for.
    var loadOptions: LoadOptions {
        var options = LoadOptions()
        if let maxMemory { options.maxMemory = maxMemory.bytes }
        return options
    }
}
