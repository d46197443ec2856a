import Foundation
import Testing

@testable import Cnnz

/// The outcome of a process, with its peak memory as the kernel measured it.
struct MeasuredRun {
    /// The exit code, or nil when the process was killed by a signal.
    var exitCode: Int32?
    var stderr: String
    /// Peak resident memory of the process (getrusage's ru_maxrss), in bytes.
    var peakBytes: Int
}

enum Measure {
    /// Runs a built tool with stdout discarded and measures that one process's
    /// peak memory. A small Python process starts it and reports its
    /// RUSAGE_CHILDREN: Linux carries a process's peak across exec, so a child
    /// spawned from this large test process directly would report this process's
    /// size. A run still going after `deadline` seconds is killed (seen as a signal).
    static func run(_ tool: String, _ arguments: [String], deadline: Int = 300) throws -> MeasuredRun {
        let script = """
            import resource, subprocess, sys
            try:
                code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      timeout=float(sys.argv[1]))
                sys.stderr.write(code.stderr.decode(errors="replace"))
                status = code.returncode
            except subprocess.TimeoutExpired:
                status = -9
            print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["python3", "-c", script, String(deadline), Tool.binaries.appendingPathComponent(tool).path] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let fields = stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard process.terminationStatus == 0, fields.count == 2 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "measuring failed: \(stderr)"])
        }
        // subprocess reports a signal as a negative return code.
        return MeasuredRun(
            exitCode: fields[0] >= 0 ? Int32(fields[0]) : nil, stderr: stderr, peakBytes: fields[1] * 1024)
    }
}

/// True when the tools were built with AddressSanitizer (as this test process then is): its
/// shadow memory makes peak-memory figures meaningless and `ulimit -v` unusable.
// nil is RTLD_DEFAULT on glibc: look the symbol up in the whole process.
let addressSanitizerIsActive = dlsym(nil, "__asan_init") != nil

/// docs/SECURITY.md's promise, tried as an attacker would: crafted files under
/// 64 KB against `infer FILE --selftest --max-memory 64M` and against the defaults.
@Suite(.serialized) struct HostileModelTests {
    static let directory = Tool.repository.appendingPathComponent("Tests/Fuzz/hostile")
    static let mib = 1 << 20

    /// What each file must give with a 64 MiB budget: a message fragment, or nil for a passing self-test.
    static let expectedWithBudget: [String: String?] = [
        "overlapping-tensors": "overlap",
        "tensor-outside-tens": "outside the section's data",
        "huge-activations-1gib": "memory budget",
        "huge-activations-64mib": "memory budget",
        "two-million-labels": "memory budget",
        "long-strings": nil,
        "layer-cap-graph": nil,
        "huge-pooling-work": "operations per image",
    ]

    @Test func committedSeedsAreCurrentAndSmall() throws {
        let write = ProcessInfo.processInfo.environment["CNNZ_WRITE_HOSTILE"] != nil
        for (name, bytes, _) in try HostileModels.all() {
            let url = Self.directory.appendingPathComponent("\(name).cnnz")
            if write { try Data(bytes).write(to: url) }
            #expect(bytes.count < 64 * 1024, "\(name) is \(bytes.count) bytes")
            let committed = try? Data(contentsOf: url)
            #expect(committed == Data(bytes), "\(name).cnnz is stale: run with CNNZ_WRITE_HOSTILE=1")
        }
        #expect(Set(try HostileModels.all().map(\.name)) == Set(Self.expectedWithBudget.keys))
    }

    @Test func withA64MiBBudgetEachIsRefusedOrSelfTestsUnder96MiB() throws {
        // What the process takes for a small model: the refusals below may add only a few MB to it.
        let baseline = try Measure.run("infer", [Tool.exampleModel, "--selftest", "--max-memory", "64M"])
        #expect(baseline.exitCode == 0, "\(baseline.stderr)")
        for (name, bytes, _) in try HostileModels.all() {
            let path = Self.directory.appendingPathComponent("\(name).cnnz").path
            let run = try Measure.run("infer", [path, "--selftest", "--max-memory", "64M"])
            // The inflated payload the header declares (checked against the file size and the budget).
            let payload = Int(bytes[16..<24].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            let expected = Self.expectedWithBudget[name] ?? nil
            if let expected {
                #expect(run.exitCode == 1, "\(name): \(run.stderr)")
                #expect(run.stderr.hasPrefix("error: ") && run.stderr.contains(expected), "\(name): \(run.stderr)")
                #expect(run.stderr.filter { $0 == "\n" }.count == 1, "\(name): \(run.stderr)")
                // Refused before the allocation it aimed at: the payload and a few MB above the baseline.
                #expect(
                    addressSanitizerIsActive || run.peakBytes <= baseline.peakBytes + payload + 8 * Self.mib,
                    "\(name): peak \(run.peakBytes / 1024) KiB, baseline \(baseline.peakBytes / 1024) KiB, payload \(payload)"
                )
            } else {
                #expect(run.exitCode == 0, "\(name): \(run.stderr)")
            }
            if !addressSanitizerIsActive {
                #expect(run.peakBytes < 96 * Self.mib, "\(name): peak \(run.peakBytes / Self.mib) MiB")
            }
        }
    }

    @Test func withTheDefaultBudgetEachIsRefusedOrLoadsWithinIt() throws {
        for (name, _, alwaysRefused) in try HostileModels.all() {
            let path = Self.directory.appendingPathComponent("\(name).cnnz").path
            let run = try Measure.run("infer", [path, "--selftest"])
            #expect(run.exitCode != nil, "\(name) was killed by a signal")
            if alwaysRefused {
                #expect(run.exitCode == 1 && run.stderr.hasPrefix("error: "), "\(name): \(run.stderr)")
            }
            // The default budget is 1 GiB; the process itself adds a few tens of MB.
            #expect(run.peakBytes < (1 << 30) + 64 * Self.mib, "\(name): peak \(run.peakBytes / Self.mib) MiB")
        }
    }
}

/// Running out of memory is an error like any other: `infer` under `ulimit -v`.
@Suite(
    .serialized,
    .disabled(if: addressSanitizerIsActive, "AddressSanitizer reserves more address space than ulimit -v allows"))
struct OutOfMemoryTests {
    /// Runs `infer ARGUMENTS` with its address space limited to `kib` KiB.
    static func inferLimited(_ kib: Int, _ arguments: [String]) throws -> ToolResult {
        let infer = Tool.binaries.appendingPathComponent("infer").path
        return try Tool.run(
            "/bin/sh", ["-c", "ulimit -v \(kib) && exec \"$0\" \"$@\"", infer] + arguments, absolute: true)
    }

    @Test func anAllocationThatFailsIsAnErrorNotAnAbort() throws {
        // The smallest address space (in 16 MiB steps) in which the example model self-tests...
        var limit = 32 * 1024
        while try Self.inferLimited(limit, [Tool.exampleModel, "--selftest"]).status != 0 {
            limit += 16 * 1024
            try #require(limit < 4 << 20, "infer does not run even with 4 GiB of address space")
        }
        // ...is too small by far for a model that needs 64 MiB of activations, or 48 MiB of weights.
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let weights = dir.appendingPathComponent("weights.cnnz").path
        let units = 12 << 20
        let graph = Graph(
            inputShape: TensorShape(height: 1, width: 1, channels: 1),
            layers: [Layer(kind: .dense(units: units, hasBias: false), inputs: [0], weights: [0])])
        try Data(try HostileModels.file(graph: graph, tensors: [[1, units]])).write(to: URL(fileURLWithPath: weights))
        let activations = HostileModelTests.directory.appendingPathComponent("huge-activations-64mib.cnnz").path
        for model in [activations, weights] {
            let r = try Self.inferLimited(limit + 16 * 1024, [model, "--selftest"])
            #expect(r.status == 1, "\(model): \(r.stderr)")
            #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains("out of memory"), "\(model): \(r.stderr)")
            #expect(r.stderr.filter { $0 == "\n" }.count == 1, "\(r.stderr)")
        }
    }
}
