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

    /// What `--quantize` asks for.
    public enum Quantization: Sendable {
        /// Int8 weights in the file, float32 compute.
        case weightsInt8
        /// Int8 throughout, calibrated on prepared images: `inputs(model)` gives
        /// them (count x H x W x C floats) for the float32 model. `weightBits` 7 keeps
        /// Conv2D and Dense weights in -63...63 (`Quantizer.quantizeKernel`).
        case int8(
            method: Quantizer.RangeMethod, weightBits: Int = 8,
            inputs: @Sendable (Model) throws(CnnzError) -> (values: [Float], count: Int))
    }

    /// What a quantized conversion measured on the self-test input.
    public struct QuantizationReport: Sendable {
        /// The largest absolute difference between the float32 and the quantized outputs.
        public var maxDifference: Float
        /// Whether both give the same top-1 output.
        public var sameTop1: Bool
    }

    /// Converts (checking the float32 model against the model.json's self-test
    /// first), quantizes, and returns the `.cnnz` bytes, read back and checked
    /// against the quantized model's own output on the self-test input, which
    /// becomes the file's self-test. Calibration errors come before anything is written.
    public static func convertToCNNZ(
        json bytes: [UInt8], quantization: Quantization, progress: (Int, Int) -> Void = { _, _ in }
    ) throws(CnnzError) -> (ModelDescription, [UInt8], QuantizationReport) {
        var description = try convert(json: bytes)
        let float = try Model(description)
        if description.selfTest != nil {
            let report = try float.runSelfTest()
            guard report.passed else {
                throw .selfTest(
                    "selftest: output \(report.index) differs from the model.json's by \(report.maxDifference), above the tolerance \(report.tolerance)"
                )
            }
        }
        let input =
            description.selfTest?.input ?? generatedSelfTestInput(count: description.graph.inputShape.elementCount)
        let floatOutput = try float.predict(input)
        switch quantization {
        case .weightsInt8:
            description = Quantizer.weightsInt8(description)
        case .int8(let method, let weightBits, let inputs):
            let (values, count) = try inputs(float)
            let ranges = try Calibrator.ranges(
                of: description, inputs: values, count: count, method: method, progress: progress)
            description = Quantizer.int8(description, ranges: ranges, weightBits: weightBits)
        }
        description.selfTest = nil
        let output = try Model(description).predict(input)
        let magnitude = output.map { abs($0) }.max() ?? 0
        description.selfTest = SelfTestVector(input: input, output: output, tolerance: 1e-4 * max(1, magnitude))
        let encoded = try ModelWriter.encode(description)
        let report = try Model(bytes: encoded).runSelfTest()
        guard report.passed else {
            throw .selfTest(
                "selftest: the written model computes output \(report.index) \(report.maxDifference) away from the converter's, above the tolerance \(report.tolerance)"
            )
        }
        let difference = zip(floatOutput, output).map { abs($0 - $1) }.max() ?? 0
        let top = { (v: [Float]) in v.indices.max { v[$0] < v[$1] } }
        return (
            description, encoded,
            QuantizationReport(maxDifference: difference, sameTop1: top(floatOutput) == top(output))
        )
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
