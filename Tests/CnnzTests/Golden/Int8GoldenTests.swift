import Testing

@testable import Cnnz
@testable import CnnzConvert

/// The shared golden examples quantized to int8 (calibrated on random inputs
/// from the golden inputs' range) against their float32 outputs.
///
/// Tolerance: 0.05 absolute on outputs in [0, 1] (softmax, sigmoid). Each int8
/// activation is within half a step of its float value, a step being 1/255 of
/// the calibrated range; the examples chain four to six quantized values, so
/// the error stays near 6 x 1/510 of the ranges involved, about 0.01 of the
/// output; 0.05 leaves room for random calibration data that does not cover
/// the golden input's own extremes, while a wrong scale, zero point or
/// rounding direction moves outputs by far more.
@Suite struct Int8GoldenTests {
    static func quantized(_ name: String) throws -> (float: Model, int8: Model) {
        let json = try Fixtures.bytes("\(name).json")
        let calibration = Converter.Quantization.int8(method: .minMax) { model throws(CnnzError) in
            var rng = SplitMix64(seed: 14)
            return ([Float].random(200 * model.inputShape.elementCount, &rng, in: -1...1), 200)
        }
        let (_, bytes, report) = try Converter.convertToCNNZ(json: json, quantization: calibration)
        #expect(report.sameTop1)
        return (try Model(Converter.convert(json: json)), try Model(bytes: bytes))
    }

    @Test(arguments: ["tiny", "tiny-graph"])
    func quantizedGoldenExamplesStayCloseToFloat(_ name: String) throws {
        let (float, int8) = try Self.quantized(name)
        #expect(int8.precision == .int8)
        #expect(try int8.runSelfTest().passed)
        let input = try Fixtures.floats("\(name).input.json")
        let expected = try Fixtures.floats("\(name).expected.json")
        #expect(firstMismatch(try float.predict(input), expected, tolerance: 1e-5) == nil)
        let got = try int8.predict(input)
        #expect(firstMismatch(got, expected, tolerance: 0.05) == nil, "\(name): \(got) against \(expected)")
        // Not the float model by accident: integer arithmetic gives different low bits.
        #expect(got != expected)
        // The same on 3 threads and in a batch, to the bit (integer kernels, fixed order).
        let session = try int8.makeSession(batchCapacity: 3, threads: 3, minimumWorkPerPart: 1)
        #expect(try session.run(input + input + input, batch: 3) == got + got + got)
    }

    /// A file written by this version (committed): later readers must load it and compute what it stores.
    @Test func version2Int8FileStillLoads() throws {
        let model = try Model(bytes: try Fixtures.bytes("format-v2/tiny-graph-int8.cnnz"))
        #expect(model.precision == .int8)
        #expect(try model.runSelfTest().maxDifference == 0)
        let output = try model.predict(try Fixtures.floats("tiny-graph.input.json"))
        #expect(firstMismatch(output, try Fixtures.floats("tiny-graph.expected.json"), tolerance: 0.05) == nil)
    }
}
