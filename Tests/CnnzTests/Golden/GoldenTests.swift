import Testing

@testable import Cnnz
@testable import CnnzConvert

/// The shared spec's examples, expected outputs computed independently in NumPy.
@Suite struct GoldenTests {
    @Test(arguments: ["tiny", "tiny-graph"])
    func exampleReproducesExpectedOutput(_ name: String) throws {
        let (_, bytes) = try Converter.convertToCNNZ(json: try Fixtures.bytes("\(name).json"))
        let model = try Model(bytes: bytes)
        let input = try Fixtures.floats("\(name).input.json")
        let expected = try Fixtures.floats("\(name).expected.json")
        let output = try model.predict(input)
        #expect(output.count == expected.count)
        for i in expected.indices {
            #expect(abs(output[i] - expected[i]) <= 1e-5, "\(name) output \(i): \(output[i]) vs \(expected[i])")
        }
        // The generated or stored self-test vector travels in the file and passes.
        #expect(try model.runSelfTest().passed)
    }

    @Test func tinyGraphKeepsBatchNormalizationUnfoldedWhenItsInputHasAnotherReader() throws {
        // "stem" feeds both the BatchNormalization and the Concatenate: folding would change what Concatenate sees.
        let description = try Converter.convert(json: try Fixtures.bytes("tiny-graph.json"))
        #expect(description.graph.layers.contains { $0.kind == .channelAffine })
        // The ReLU after the BatchNormalization is fused into it, and sigmoid into the Dense.
        #expect(description.graph.layers.count == 9)
        #expect(description.graph.layers.last!.activation == .sigmoid)
    }

    @Test func batchOfGoldenInputsMatchesSingleRuns() throws {
        let (_, bytes) = try Converter.convertToCNNZ(json: try Fixtures.bytes("tiny-graph.json"))
        let model = try Model(bytes: bytes)
        let input = try Fixtures.floats("tiny-graph.input.json")
        var rng = SplitMix64(seed: 3)
        let other = [Float].random(input.count, &rng)
        let batched = try model.makeSession(batchCapacity: 2).run(input + other + input, batch: 3)
        let single = try model.predict(input) + model.predict(other) + model.predict(input)
        #expect(batched == single)
    }

    @Test func badRunArgumentsAreErrorsNotTraps() throws {
        let model = try Model(bytes: try Fixtures.bytes("format-v1/tiny.cnnz"))
        let session = try model.makeSession()
        let input = [Float](repeating: 0, count: 50)
        #expect(throws: CnnzError.argument("batch must be at least 1, got 0")) { try session.run(input, batch: 0) }
        #expect(throws: CnnzError.self) { try session.run(input, batch: Int.max / 2) }
        #expect(throws: CnnzError.self) { try session.run(Array(input.dropLast()), batch: 1) }
        #expect(throws: CnnzError.self) { try session.run(pixels: [1, 2, 3], batch: 1) }
        #expect(throws: CnnzError.self) { try model.makeSession(batchCapacity: 0) }
        #expect(throws: CnnzError.self) { try model.makeSession(threads: 0) }
        #expect(throws: CnnzError.self) { try model.makeSession(threads: 65) }
        #expect(throws: CnnzError.argument("the model holds no self-test vector")) {
            var contents = model.contents
            contents.selfTest = nil
            return try Model(contents).runSelfTest()
        }
    }

    @Test func foldedBatchNormalizationMatchesUnfolded() throws {
        // Conv2D -> BatchNormalization -> ReLU, folded into one layer, against the reference on the unfolded graph.
        let json = """
            {"format": "cnnz-json", "version": 1, "input": {"shape": [5, 6, 3]},
             "layers": [
              {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "padding": "same", "use_bias": false},
               "weights": [{"shape": [3, 3, 3, 4], "data": [\((0..<108).map { String(Double($0 % 7) * 0.1 - 0.3) }.joined(separator: ","))]}]},
              {"class_name": "BatchNormalization", "config": {"epsilon": 0.01},
               "weights": [[1.5, 0.5, -1, 2], [0.1, -0.2, 0.3, 0], [0.2, 0.1, -0.1, 0.05], [0.9, 1.1, 0.3, 2]]},
              {"class_name": "ReLU", "config": {}},
              {"class_name": "DepthwiseConv2D", "config": {"kernel_size": 2, "use_bias": false},
               "weights": [[[[[1], [2], [0.5], [-1]], [[0.5], [1], [1], [1]]], [[[0.25], [-0.5], [2], [1]], [[1], [1], [-1], [0.5]]]]]},
              {"class_name": "BatchNormalization", "config": {"center": false, "scale": false},
               "weights": [[0.1, 0.2, 0.3, 0.4], [1, 2, 3, 4]]},
              {"class_name": "Flatten"},
              {"class_name": "Dense", "config": {"units": 3}, "weights": [{"shape": [80, 3], "data": [\((0..<240).map { String(Double($0 % 5) * 0.05 - 0.1) }.joined(separator: ","))]}, [0, 0.5, -0.5]]},
              {"class_name": "BatchNormalization", "config": {}, "weights": [[1, 2, 3], [0, 0, 1], [0, 1, 0], [1, 1, 4]]}
             ]}
            """
        var decoder = ModelJSONDecoder(try JSONParser.parse(Array(json.utf8)))
        let unfolded = try decoder.decode()
        let folded = try Converter.convert(json: Array(json.utf8))
        #expect(unfolded.graph.layers.count == 8)
        #expect(folded.graph.layers.count == 4)  // conv+bn+relu, depthwise+bn, flatten, dense+bn
        var rng = SplitMix64(seed: 5)
        let input = [Float].random(2 * 90, &rng)
        let expected = ReferenceEngine.run(unfolded, input: input, batch: 2)
        let actual = try Model(folded).predict(input, batch: 2)
        #expect(firstMismatch(actual, expected) == nil)
    }
}

/// Files written by format version 1, committed: every later reader must load them and compute the same outputs.
@Suite struct FormatCompatibilityTests {
    @Test(arguments: ["tiny", "tiny-graph"])
    func version1FilesStillLoad(_ name: String) throws {
        let model = try Model(bytes: try Fixtures.bytes("format-v1/\(name).cnnz"))
        let output = try model.predict(try Fixtures.floats("\(name).input.json"))
        let expected = try Fixtures.floats("\(name).expected.json")
        #expect(firstMismatch(output, expected, tolerance: 1e-5) == nil)
        #expect(try model.runSelfTest().passed)
    }
}
