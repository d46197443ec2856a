import Foundation
import Testing

/// The rough edges a new user hit in one sitting (issue 13, part 3).
@Suite struct ToolRoughEdgeTests {
    @Test func inferClassifiesEveryReadableImageAndReportsEachFailure() throws {
        let missing = "/nonexistent/missing.pgm"
        let a = Tool.exampleImage("bag")
        let c = Tool.exampleImage("coat")
        // Every batch size, from one image per pass to all at once: failures never take others with them.
        for batch in ["1", "2", "16"] {
            let r = try Tool.run("infer", [Tool.exampleModel, a, missing, c, "--top", "1", "--batch", batch])
            #expect(r.status == 1)
            #expect(r.stderr == "error: cannot open \(missing): no such file\n", "\(r.stderr)")
            let lines = r.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 4)
            #expect(lines.first == a)
            #expect(lines.count == 4 && lines[1].hasPrefix("  Bag  "))
            #expect(lines.count == 4 && lines[2] == c)
        }
    }

    @Test func inferReportsEveryFailureAndKeepsTheOrderOfTheRest() throws {
        let dir = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let broken = dir.appendingPathComponent("broken.pgm").path
        try Data("P5 28 28 255\n".utf8).write(to: URL(fileURLWithPath: broken))
        let images = [
            Tool.exampleImage("bag"), broken, Tool.exampleImage("coat"), Tool.exampleImage("dress"),
            dir.appendingPathComponent("gone.pgm").path, Tool.exampleImage("sneaker"),
        ]
        let r = try Tool.run("infer", [Tool.exampleModel, "--json", "--batch", "2"] + images)
        #expect(r.status == 1)
        let errors = r.stderr.split(separator: "\n").map(String.init)
        #expect(errors.count == 2, "\(r.stderr)")
        #expect(errors.first?.hasPrefix("error: \(broken): ") == true)
        #expect(errors.last == "error: cannot open \(images[4]): no such file")
        let files = try r.stdout.split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["file"] as? String
        }
        #expect(files == [images[0], images[2], images[3], images[5]])
        // All of them failing prints nothing and still fails.
        let none = try Tool.run("infer", [Tool.exampleModel, broken, images[4]])
        #expect(none.status == 1 && none.stdout == "")
        #expect(none.stderr.split(separator: "\n").count == 2)
    }

    @Test func inferGivenAModelJSONSuggestsConvert() throws {
        let json = Tool.fixtures.appendingPathComponent("tiny.json").path
        let r = try Tool.run("infer", [json, Tool.exampleImage("bag")])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        let converted = String(json.dropLast(5)) + ".cnnz"
        #expect(
            r.stderr
                == "error: \(json): this is a model.json, not a .cnnz model; convert it first (`convert \(json)` writes \(converted))\n"
        )
    }

    @Test func inferGivenTheArgumentsSwappedSaysSo() throws {
        let image = Tool.exampleImage("bag")
        let r = try Tool.run("infer", [image, Tool.exampleModel])
        #expect(r.status == 1)
        #expect(
            r.stderr
                == "error: \(image): this is an image, not a .cnnz model; the model comes first (`infer \(Tool.exampleModel) \(image)`)\n"
        )
    }

    @Test func convertGivenACnnzModelSuggestsInspect() throws {
        let r = try Tool.run("convert", [Tool.exampleModel])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        #expect(
            r.stderr
                == "error: \(Tool.exampleModel): this is a .cnnz model, not a model.json; to describe it, run `convert --inspect \(Tool.exampleModel)`\n"
        )
        let json = Tool.fixtures.appendingPathComponent("tiny.json").path
        let inspect = try Tool.run("convert", ["--inspect", json])
        #expect(inspect.status == 1)
        #expect(
            inspect.stderr
                == "error: \(json): this is a model.json, not a .cnnz model; to convert it, run `convert \(json)`\n")
    }

    @Test(arguments: [
        (["--top", "-1"], "error: --top must be at least 1, got -1; see 'infer --help'\n"),
        (["--batch", "-3"], "error: --batch must be in 1...4096, got -3; see 'infer --help'\n"),
        (["--threads", "-2"], "error: --threads must be in 1...64, got -2; see 'infer --help'\n"),
        (["--bench", "-5"], "error: --bench must be at least 1, got -5; see 'infer --help'\n"),
        (["--top", "x"], "error: the value 'x' is invalid for '--top <n>'; see 'infer --help'\n"),
        (["--top"], "error: missing value for '--top <n>'; see 'infer --help'\n"),
    ])
    func negativeAndBadNumbersAreClearUsageErrors(_ arguments: [String], _ expected: String) throws {
        let r = try Tool.run("infer", [Tool.exampleModel, Tool.exampleImage("bag")] + arguments)
        #expect(r.status == 64)
        #expect(r.stdout == "")
        #expect(r.stderr == expected)
    }

    @Test func everyErrorIsOneLineBeginningLowerCaseError() throws {
        let image = Tool.exampleImage("bag")
        let cases: [(String, [String])] = [
            ("infer", []), ("infer", [Tool.exampleModel]), ("infer", [Tool.exampleModel, image, "--unknown"]),
            ("infer", ["/nonexistent.cnnz", image]), ("infer", [Tool.exampleModel, "/nonexistent.pgm"]),
            ("convert", []), ("convert", ["/nonexistent.json"]), ("convert", ["a.json", "--inspect", "--bogus"]),
            ("convert", ["--inspect", "/nonexistent.cnnz"]),
        ]
        for (tool, arguments) in cases {
            let r = try Tool.run(tool, arguments)
            #expect(r.status != 0, "\(tool) \(arguments)")
            #expect(r.stdout == "", "\(tool) \(arguments)")
            #expect(r.stderr.hasPrefix("error: "), "\(tool) \(arguments): \(r.stderr)")
            #expect(r.stderr.filter { $0 == "\n" }.count == 1, "\(tool) \(arguments): \(r.stderr)")
        }
    }

    @Test(arguments: ["infer", "convert"])
    func helpParagraphsAreWrappedOnlyAtTheirWidth(_ tool: String) throws {
        let r = try Tool.run(tool, ["--help"])
        #expect(r.status == 0)
        // The overview and discussion come before USAGE; ArgumentParser wraps them at 80 columns when
        // not on a terminal. A line far shorter than that inside a paragraph is a line break written in
        // the source, which lands mid-sentence.
        let text = r.stdout.components(separatedBy: "\nUSAGE:")[0]
        for paragraph in text.components(separatedBy: "\n\n") {
            let lines = paragraph.split(separator: "\n")
            for line in lines.dropLast() {
                #expect(line.count >= 60, "\(tool) --help breaks a line early: \(line)")
            }
        }
    }

    @Test func threadsHelpShowsOneDefault() throws {
        let r = try Tool.run("infer", ["--help"])
        let options = r.stdout.components(separatedBy: "OPTIONS:").last ?? ""
        let threads = options.components(separatedBy: "--threads <n>").last?.components(separatedBy: "\n  --").first
        #expect(threads?.components(separatedBy: "default").count == 2, "\(threads ?? "")")
    }

    @Test func benchRunsTheBatchAskedForAndCountsThreadsInEnglish() throws {
        let images = [Tool.exampleImage("bag"), Tool.exampleImage("coat")]
        let r = try Tool.run(
            "infer", [Tool.exampleModel] + images + ["--bench", "5", "--batch", "3", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("bench: 5 runs after 5 warm-up, batch 3, 1 thread: median "), "\(r.stdout)")
        #expect(r.stdout.contains(" ms per batch, p90 ") && r.stdout.hasSuffix(" images/s\n"))
        let two = try Tool.run("infer", [Tool.exampleModel, images[0], "--bench", "5", "--threads", "2"])
        #expect(two.stdout.hasPrefix("bench: 5 runs after 5 warm-up, batch 1, 2 threads: median "), "\(two.stdout)")
    }
}
