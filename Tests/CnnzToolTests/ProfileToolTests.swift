import Foundation
import Testing

/// `infer --profile`: a row per layer, in execution order, with the layer's MACs as
/// `convert --inspect` counts them and shares that add up to the whole. Times are not checked.
@Suite struct ProfileToolTests {
    /// The cells of the table rows (between the rules) of a printed table whose columns are
    /// separated by two or more spaces.
    static func rows(_ text: String) -> (header: [String], body: [[String]], footer: [[String]]) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let rules = lines.indices.filter { !lines[$0].isEmpty && lines[$0].allSatisfy { $0 == "-" } }
        guard rules.count >= 3 else { return ([], [], []) }
        func cells(_ line: String) -> [String] {
            line.split(separator: "  ", omittingEmptySubsequences: true).map {
                $0.trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty }
        }
        let header = cells(lines[rules[0] + 1])
        let body = lines[(rules[1] + 1)..<rules[2]].map(cells)
        let footer = lines.count > rules[2] + 1 ? [cells(lines[rules[2] + 1])] : []
        return (header, body, footer)
    }

    static func percent(_ cell: String) -> Double? {
        cell.hasSuffix(" %") ? Double(cell.dropLast(2)) : nil
    }

    /// Profiles `model` on `image` and checks the table against `convert --inspect` of the model,
    /// which has `layerCount` layers after folding.
    func checkProfile(model: String, image: String, layerCount: Int) throws {
        let r = try Tool.run("infer", [model, image, "--profile", "--bench", "7", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "")
        #expect(r.stdout.hasPrefix("profile: 7 runs after 7 warm-up, batch 1, 1 thread; "))
        let table = Self.rows(r.stdout)
        #expect(
            table.header == [
                "#", "Layer", "Activation", "Output shape", "Time (ms)", "Share", "Cumulative", "MACs", "GFLOP/s",
            ])
        #expect(table.body.count == layerCount, "\(r.stdout)")
        #expect(table.body.map { $0.first ?? "" } == (0..<layerCount).map(String.init))
        #expect(table.body.allSatisfy { $0.count == 9 }, "\(r.stdout)")
        guard table.body.count == layerCount, table.body.allSatisfy({ $0.count == 9 }) else { return }

        // Shares are of the layers' total: they add up to 100 % (each is rounded to 0.1 %).
        let shares = table.body.compactMap { Self.percent($0[5]) }
        #expect(shares.count == layerCount)
        #expect(abs(shares.reduce(0, +) - 100) <= 0.05 * Double(layerCount) + 0.05, "\(shares)")
        #expect(table.body.last.map { $0[6] } == "100.0 %")
        let cumulative = table.body.compactMap { Self.percent($0[6]) }
        #expect(cumulative == cumulative.sorted())
        #expect(table.footer.first?.contains("100.0 %") == true)
        #expect(r.stdout.contains("\nwhole pass: median ") && r.stdout.contains("\nslowest: #"))

        // Layer names, output shapes and MACs agree with the model summary.
        let inspect = try Tool.run("convert", ["--inspect", model])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let summary = Self.rows(inspect.stdout).body
        #expect(summary.count == layerCount)
        for (row, expected) in zip(table.body, summary) where expected.count == 8 {
            #expect(row[1] == expected[1] && row[2] == expected[2] && row[3] == expected[4], "\(row) \(expected)")
            #expect(row[7] == expected[6], "MACs of layer \(row[0])")
            // GFLOP/s only where there are multiply-adds and a measured time.
            #expect((row[8] == "-") == (row[7] == "0" || Double(row[4]) == nil || Double(row[4]) == 0))
        }
    }

    @Test func profilePrintsARowPerLayerWithShares() throws {
        try checkProfile(model: Tool.exampleModel, image: Tool.exampleImage("bag"), layerCount: 9)
    }

    @Test func profileCoversABranchingGraph() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = Tool.fixtures.appendingPathComponent("tiny-graph.json").path
        let model = dir.appendingPathComponent("tiny-graph.cnnz").path
        let converted = try Tool.run("convert", [json, "-o", model])
        #expect(converted.status == 0, "\(converted.stderr)")
        // The fixture's input is 6x7x3: a 7-wide, 6-high colour image.
        let image = dir.appendingPathComponent("image.ppm").path
        try (Data("P6\n7 6\n255\n".utf8) + Data((0..<(7 * 6 * 3)).map { UInt8($0 * 5 % 256) }))
            .write(to: URL(fileURLWithPath: image))
        // Twelve layers in the JSON, nine after BatchNormalization and activations are folded.
        try checkProfile(model: model, image: image, layerCount: 9)
    }

    /// With two threads, three more columns (the parts of each layer, the caller's wait for the
    /// helpers, the share of the parts they ran) and the hand-off's round trip.
    @Test func profileOnTwoThreadsShowsTheSplit() throws {
        let r = try Tool.run(
            "infer", [Tool.exampleModel, Tool.exampleImage("bag"), "--profile", "--bench", "7", "--threads", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("profile: 7 runs after 7 warm-up, batch 1, 2 threads; "))
        let table = Self.rows(r.stdout)
        #expect(table.header.suffix(3) == ["Parts", "Wait (ms)", "By helpers"], "\(table.header)")
        for row in table.body where row.count == 12 && row[4] != "-" {
            #expect(["1", "2"].contains(row[9]), "\(row)")
            #expect(Double(row[10]).map { $0 >= 0 } == true, "\(row)")
            #expect(Self.percent(row[11]).map { (0...100).contains($0) } == true, "\(row)")
            // A layer run whole is the caller's: no wait, nothing run by helpers.
            if row[9] == "1" { #expect(row[10] == "0.0000" && row[11] == "0 %", "\(row)") }
        }
        #expect(table.body.contains { $0.count == 12 && $0[9] == "2" }, "\(r.stdout)")
        #expect(
            r.stdout.contains("\nhand-off: a task in 2 parts, handed to a helper and joined, takes "), "\(r.stdout)")
    }

    /// `infer --bench-load`: a row per loading step, then the whole load; no image needed.
    @Test func benchLoadPrintsEveryStep() throws {
        let r = try Tool.run("infer", [Tool.exampleModel, "--bench-load", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("load: 3 runs after 1 warm-up; file ") == true, "\(r.stdout)")
        let steps = ["read the file", "checksums (crc32)", "inflate (zlib)", "decode", "validate", "plan and pack"]
        for step in steps {
            #expect(lines.contains { $0.hasPrefix("  " + step + " ") && $0.hasSuffix(" %") }, "\(step): \(r.stdout)")
        }
        #expect(lines.last?.hasPrefix("whole load (Model(contentsOfFile:)): median ") == true)
        let bad = try Tool.run("infer", [Tool.exampleModel, "--bench-load", "0"])
        #expect(bad.status == 64)
        #expect(bad.stderr == "error: --bench-load must be in 1...100000, got 0; see 'infer --help'\n")
    }

    @Test func profileWithoutAnImageIsAUsageError() throws {
        let r = try Tool.run("infer", [Tool.exampleModel, "--profile"])
        #expect(r.status == 64)
        #expect(r.stdout == "")
        #expect(r.stderr == "error: give at least one image (or --selftest); see 'infer --help'\n")
        let s = try Tool.run("infer", [Tool.exampleModel, "--selftest", "--profile"])
        #expect(s.status == 64)
        #expect(s.stderr == "error: --profile needs an image; see 'infer --help'\n")
    }
}
