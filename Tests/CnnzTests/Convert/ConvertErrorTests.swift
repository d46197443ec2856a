import Foundation
import Testing

@testable import Cnnz
@testable import CnnzConvert

/// Each error in the spec's "Errors" section: one line naming the layer
/// (index and class_name) and what is wrong.
@Suite struct ConvertErrorTests {
    static let conv = """
        {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 1}, "weights": [[[[[1, 2]]]], [0, 0]]}
        """

    static func model(_ layers: String, input: String = "[4, 4, 1]", extra: String = "") -> [UInt8] {
        Array(
            """
            {"format": "cnnz-json", "version": 1, "input": {"shape": \(input)}\(extra), "layers": [\(layers)]}
            """.utf8)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var json: [UInt8]
        var message: String
        var testDescription: String { name }
    }

    /// Each level's first element is the next level and 999 numbers follow it: 12 KB of JSON whose
    /// first elements claim 10^18 values.
    static let raggedSixLevels: String = {
        var inner = "0"
        for _ in 0..<6 { inner = "[" + inner + String(repeating: ",0", count: 999) + "]" }
        return inner
    }()

    static let cases: [Case] = [
        Case(name: "malformed JSON", json: Array("{\"format\": ".utf8), message: "malformed JSON at byte 11"),
        Case(name: "trailing comma", json: model(conv + ","), message: "malformed JSON"),
        Case(name: "not an object", json: Array("[1, 2]".utf8), message: "the top level is an array"),
        Case(
            name: "wrong format", json: Array("{\"format\": \"keras\", \"version\": 1}".utf8),
            message: "\"format\" is \"keras\""),
        Case(
            name: "newer version", json: Array("{\"format\": \"cnnz-json\", \"version\": 2}".utf8),
            message: "version 2 is newer than this tool reads"),
        // Found by the converter's fuzzer: Int(1.1e40) trapped.
        Case(
            name: "version beyond Int", json: Array("{\"format\": \"cnnz-json\", \"version\": 11e39}".utf8),
            message: "version 1.1e+40 is newer than this tool reads"),
        Case(
            name: "missing input", json: Array("{\"format\": \"cnnz-json\", \"version\": 1, \"layers\": []}".utf8),
            message: "\"input.shape\" is missing"),
        Case(name: "bad input shape", json: model(conv, input: "[4, 0, 1]"), message: "input.shape"),
        Case(name: "no layers", json: model(""), message: "\"layers\" is empty"),
        Case(
            name: "unknown layer", json: model(#"{"class_name": "LSTM", "config": {}}"#),
            message: "layer 0 (LSTM): unknown layer class \"LSTM\""),
        Case(
            name: "unknown activation", json: model(#"{"class_name": "Activation", "config": {"activation": "mish"}}"#),
            message: "layer 0 (Activation): unknown activation \"mish\""),
        Case(
            name: "missing weights",
            json: model(
                #"{"class_name": "Dropout"}, {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 1}}"#),
            message: "layer 1 (Conv2D): weights are missing"),
        Case(
            name: "missing key",
            json: model(#"{"class_name": "Conv2D", "config": {"kernel_size": 1}, "weights": [[[[1, 2]]], [0, 0]]}"#),
            message: "layer 0 (Conv2D): \"filters\" is missing"),
        Case(
            name: "kernel shape mismatch",
            json: model(
                #"{"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3}, "weights": [[[[[1, 2]]]], [0, 0]]}"#
            ), message: "layer 0 (Conv2D): kernel has shape 1x1x1x2, expected 3x3x1x2"),
        Case(
            name: "bias shape mismatch",
            json: model(
                #"{"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 1}, "weights": [[[[[1, 2]]]], [0, 0, 0]]}"#
            ), message: "layer 0 (Conv2D): bias has shape 3, expected 2"),
        Case(
            name: "element count mismatch",
            json: model(
                #"{"class_name": "Dense", "config": {"units": 2}, "weights": [{"shape": [16, 2], "data": [1, 2, 3]}, [0, 0]]}"#
            ), message: "layer 0 (Dense): weight 0: shape [16, 2] needs 32 values, \"data\" has 3"),
        Case(
            name: "ragged nested array",
            json: model(
                #"{"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 1}, "weights": [[[[[1, 2], [3]]]], [0, 0]]}"#
            ), message: "ragged"),
        Case(
            name: "non-finite weight",
            json: model(
                #"{"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 1}, "weights": [[[[[1e39, 2]]]], [0, 0]]}"#
            ), message: "layer 0 (Conv2D): weight 0: 1e+39 is not finite as a float32"),
        Case(
            name: "huge declared shape",
            json: model(
                #"{"class_name": "Dense", "config": {"units": 2}, "weights": [{"shape": [100000, 100000, 100000], "data": [1]}, [0, 0]]}"#
            ), message: "exceeds the cap"),
        Case(
            name: "base64 length",
            json: model(
                #"{"class_name": "Dense", "config": {"units": 2}, "weights": [{"shape": [1, 2], "base64": "AACAPw=="}, [0, 0]]}"#,
                input: "[1, 1, 1]"),
            message: "layer 0 (Dense): weight 0: shape [1, 2] needs 8 bytes, \"base64\" holds 4"),
        Case(
            name: "base64 alphabet",
            json: model(
                #"{"class_name": "Dense", "config": {"units": 1}, "weights": [{"shape": [1, 1], "base64": "AAC*Pw"}, [0]]}"#,
                input: "[1, 1, 1]"), message: "not valid base64"),
        Case(
            name: "variance not above zero",
            json: model(
                #"{"class_name": "BatchNormalization", "config": {"epsilon": 0}, "weights": [[1], [0], [0], [0]]}"#),
            message: "layer 0 (BatchNormalization): moving_variance + epsilon is 0.0"),
        Case(
            name: "channels first",
            json: model(#"{"class_name": "MaxPooling2D", "config": {"data_format": "channels_first"}}"#),
            message: "layer 0 (MaxPooling2D): \"data_format\" is not \"channels_last\""),
        Case(
            name: "softmax axis", json: model(#"{"class_name": "Softmax", "config": {"axis": 1}}"#),
            message: "layer 0 (Softmax): \"axis\" is 1"),
        Case(
            name: "concatenate axis",
            json: model(#"{"class_name": "Concatenate", "config": {"axis": 2}, "inputs": ["input", "input"]}"#),
            message: "layer 0 (Concatenate): \"axis\" is 2"),
        // Found by the fuzzer: a huge axis trapped while its message was built.
        .init(
            name: "huge axis",
            json: model(#"{"class_name": "Concatenate", "config": {"axis": 1e39}, "inputs": ["input", "input"]}"#),
            message: "layer 0 (Concatenate): \"axis\" is 1e+39"),
        Case(
            name: "negative relu", json: model(#"{"class_name": "ReLU", "config": {"negative_slope": -1}}"#),
            message: "layer 0 (ReLU): max_value, negative_slope and threshold must each be 0 or more"),
        Case(
            name: "unknown input", json: model(#"{"class_name": "Add", "inputs": ["input", "nowhere"]}"#),
            message: "layer 0 (Add): input \"nowhere\" names no earlier layer"),
        Case(
            name: "later input",
            json: model(
                #"{"class_name": "Add", "inputs": ["input", "later"]}, {"class_name": "ReLU", "name": "later"}"#),
            message: "layer 0 (Add): input \"later\" names no earlier layer"),
        Case(
            name: "self input", json: model(#"{"class_name": "Add", "name": "me", "inputs": ["input", "me"]}"#),
            message: "layer 0 (Add): names itself"),
        Case(
            name: "duplicate names",
            json: model(#"{"class_name": "ReLU", "name": "a"}, {"class_name": "ReLU", "name": "a"}"#),
            message: "layer 1 (ReLU): a second layer is named \"a\""),
        Case(
            name: "add shapes",
            json: model(
                conv
                    + #", {"class_name": "Add", "inputs": ["input", "c"]}"#.replacingOccurrences(
                        of: "\"inputs\": [\"input\", \"c\"]", with: "\"inputs\": [\"input\", \"input\"]")
                    + #", {"class_name": "Add", "inputs": ["input", "x"]}"#), message: "names no earlier layer"),
        Case(
            name: "add shape mismatch",
            json: model(
                #"{"class_name": "MaxPooling2D", "name": "p"}, {"class_name": "Add", "inputs": ["input", "p"]}"#),
            message: "layer 1 (Add): inputs have different shapes, [4x4x1] and [2x2x1]"),
        Case(
            name: "window too large", json: model(#"{"class_name": "MaxPooling2D", "config": {"pool_size": 5}}"#),
            message: "layer 0 (MaxPooling2D): a 5x5 window"),
        Case(
            name: "groups",
            json: model(
                #"{"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": 1, "groups": 2}, "weights": [[[[[1, 2, 3]]]], [0, 0, 0]]}"#,
                input: "[4, 4, 2]"), message: "layer 0 (Conv2D): groups 2 must divide"),
        Case(
            name: "labels count", json: model(conv, extra: #", "labels": ["a"]"#),
            message: "\"labels\" has 1 entries, the model has 32 outputs"),
        Case(
            name: "bad preprocess", json: model(conv, extra: #", "preprocess": {"std": [0]}"#),
            message: "preprocess: std holds 0"),
        Case(
            name: "dimension cap",
            json: model(#"{"class_name": "ZeroPadding2D", "config": {"padding": 60000}}"#, input: "[1, 1, 64]"),
            message: "layer 0 (ZeroPadding2D): output shape 120001x120001x64 exceeds the cap of 65536 per dimension"),
        Case(
            name: "memory cap",
            json: model(#"{"class_name": "ZeroPadding2D", "config": {"padding": 30000}}"#, input: "[1, 1, 64]"),
            message:
                "layer 0 (ZeroPadding2D): output shape 60001x60001x64 exceeds the cap of 268435456 elements per image"),
        Case(
            name: "flat softmax axis",
            json: model(#"{"class_name": "Flatten"}, {"class_name": "Softmax", "config": {"axis": 3}}"#),
            message: "layer 1 (Softmax): \"axis\" is 3"),
        Case(
            name: "selftest shape", json: model(conv, extra: #", "selftest": {"input": [1, 2], "output": [1]}"#),
            message: "selftest: input has shape [2]"),
        Case(
            name: "selftest mismatch",
            json: model(
                #"{"class_name": "Flatten"}"#, input: "[1, 1, 2]",
                extra: #", "selftest": {"input": [[[1, 2]]], "output": [1, 2.5]}"#),
            message:
                "selftest: output 1 is 2.5 in the model.json but the converted model computes a value 0.5 away, above the tolerance 0.0001"
        ),
        Case(
            name: "ragged array claiming a huge shape",
            json: model(
                #"{"class_name": "Dense", "config": {"units": 1}, "weights": ["# + raggedSixLevels + #", [0]]}"#),
            message: "nested array of shape [1000, 1000, 1000, 1000, 1000, 1000] exceeds the cap"),
        Case(
            name: "too deep",
            json: Array((String(repeating: "[", count: 200) + String(repeating: "]", count: 200)).utf8),
            message: "nesting deeper than 128 levels"),
    ]

    @Test(arguments: cases)
    func refusedWithAOneLineMessage(_ c: Case) {
        do {
            _ = try Converter.convertToCNNZ(json: c.json)
            Issue.record("\(c.name): converted")
        } catch {
            #expect(error.message.contains(c.message), "\(c.name): \(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func architectureOnlyJSONNamesTheFirstLayerWithoutWeights() {
        let json = Self.model(
            #"{"class_name": "InputLayer", "name": "in"}, {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 1}}, {"class_name": "Dense", "config": {"units": 3}}"#
        )
        #expect(throws: CnnzError.format("layer 1 (Conv2D): weights are missing")) { try Converter.convert(json: json) }
    }

    @Test func acceptsEveryEncodingAndSpellingTheSpecAllows() throws {
        // 1 as integer kernel_size, InputLayer names, base64 without padding, Keras 2 alpha, keepdims, ZeroPadding forms.
        let json = Self.model(
            #"""
            {"class_name": "InputLayer", "name": "img"},
            {"class_name": "ZeroPadding2D", "config": {"padding": [[1, 0], [0, 2]]}},
            {"class_name": "ZeroPadding2D", "config": {"padding": [1, 2]}},
            {"class_name": "Conv2D", "name": "c", "inputs": ["img"], "config": {"filters": 1, "kernel_size": 1, "use_bias": false}, "weights": [{"shape": [1, 1, 1, 1], "base64": "AACAPw"}]},
            {"class_name": "LeakyReLU", "config": {"alpha": 0.5}},
            {"class_name": "Add", "inputs": ["img", "c"]},
            {"class_name": "GlobalMaxPooling2D", "config": {"keepdims": true}},
            {"class_name": "GaussianNoise", "config": {"stddev": 1}},
            {"class_name": "Flatten"},
            {"class_name": "Dense", "config": {"units": 2, "activation": "silu"}, "weights": [{"shape": [1, 2], "data": [1, -1e-1]}, [0, 0]]}
            """#, extra: #", "preprocess": {"scale": 2, "mean": 0.5, "std": [2]}"#)
        let description = try Converter.convert(json: json)
        let model = try Model(description)
        // The input 0.25 everywhere: conv gives 0.25, leaky keeps it, add gives 0.5, max 0.5, dense [0.5, -0.05].
        let output = try model.predict([Float](repeating: 0.25, count: 16))
        let expected: [Float] = [0.5 / (1 + exp(-0.5)), -0.05 / (1 + exp(0.05))]
        #expect(abs(output[0] - expected[0]) < 1e-6 && abs(output[1] - expected[1]) < 1e-6, "\(output)")
        #expect(model.preprocessing == Preprocessing(scale: 2, mean: [0.5], std: [2]))
    }
}
