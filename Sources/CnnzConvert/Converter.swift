import Cnnz
import Foundation

/// Converts a model.json (docs/model-json.md) into a `ModelDescription`,
/// then folds batch normalizations and activations into the layers before them.
public enum Converter {
    /// Parses and converts model.json bytes. Errors name the JSON layer
    /// (index and class_name) and what is wrong.
    public static func convert(json bytes: [UInt8]) throws(CnnzError) -> ModelDescription {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw .format(error.description)
        }
        var decoder = ModelJSONDecoder(root)
        var model = try decoder.decode()
        model = Folding.fold(model)
        return model
    }

    /// Converts, runs the self-test (the JSON's, or a generated one) and
    /// returns the `.cnnz` bytes, which have been read back and checked.
    public static func convertToCNNZ(json bytes: [UInt8]) throws(CnnzError) -> (ModelDescription, [UInt8]) {
        var description = try convert(json: bytes)
        if description.selfTest == nil {
            let input = generatedSelfTestInput(count: description.graph.inputShape.elementCount)
            let output = try Model(description).predict(input)
            let magnitude = output.map { abs($0) }.max() ?? 0
            description.selfTest = SelfTestVector(input: input, output: output, tolerance: 1e-4 * max(1, magnitude))
        }
        let encoded = try ModelWriter.encode(description)
        // Read the bytes back through the loader: what is written is what a user will load.
        let model = try Model(bytes: encoded)
        let report = try model.runSelfTest()
        guard report.passed else {
            let expected = description.selfTest!.output[report.index]
            throw .selfTest(
                "selftest: output \(report.index) is \(expected) in the model.json but the converted model computes a value \(report.maxDifference) away, above the tolerance \(report.tolerance)"
            )
        }
        return (description, encoded)
    }

    /// A fixed, machine-independent input in [-1, 1] (SplitMix64, seed 0x636e6e7a).
    static func generatedSelfTestInput(count: Int) -> [Float] {
        var state: UInt64 = 0x636e_6e7a
        return (0..<count).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(z >> 40) / Float(1 << 24) * 2 - 1
        }
    }
}
