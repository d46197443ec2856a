import Cnnz
import CnnzConvert
import Foundation
import Testing

@testable import CnnzTrain

@Suite struct ArchitectureTests {
    static func json(_ layers: String, input: String = "[6, 6, 2]") -> [UInt8] {
        Array(
            """
            {"format": "cnnz-json", "version": 1, "input": {"shape": \(input)}, "layers": [\(layers)]}
            """.utf8)
    }

    static let small = json(
        """
        {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dropout", "config": {"rate": 0.25}},
        {"class_name": "Dense", "config": {"units": 5, "activation": "softmax"}}
        """)

    @Test func missingWeightsAreInitializedAsKerasDoes() throws {
        let network = try Network(try Architecture(json: Self.small), seed: 42)
        let parameters = network.parameters
        #expect(parameters.map(\.shape) == [[3, 3, 2, 4], [4], [36, 5], [5]])
        // Glorot uniform: U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)).
        for (p, fans) in [(parameters[0], (18.0, 36.0)), (parameters[2], (36.0, 5.0))] {
            let limit = Float((6 / (fans.0 + fans.1)).squareRoot())
            #expect(p.value.allSatisfy { abs($0) <= limit })
            #expect(p.value.max()! > 0.8 * limit && p.value.min()! < -0.8 * limit)
        }
        #expect(parameters[1].value.allSatisfy { $0 == 0 } && parameters[3].value.allSatisfy { $0 == 0 })
        let again = try Network(try Architecture(json: Self.small), seed: 42)
        #expect(again.parameters.map(\.value) == parameters.map(\.value))
        let other = try Network(try Architecture(json: Self.small), seed: 43)
        #expect(other.parameters[0].value != parameters[0].value)
    }

    @Test func givenWeightsAreTheStartingPointAndFrozenLayersStay() throws {
        let bytes = Self.json(
            """
            {"class_name": "Flatten"},
            {"class_name": "Dense", "config": {"units": 2, "trainable": false},
             "weights": [{"shape": [4, 2], "data": [1, 2, 3, 4, 5, 6, 7, 8]}, [0.5, -0.5]]},
            {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}
            """, input: "[1, 2, 2]")
        let network = try Network(try Architecture(json: bytes), seed: 1)
        #expect(network.parameters[0].value == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(network.parameters[1].value == [0.5, -0.5])
        let trainer = try Trainer(
            network: network, optimizer: .sgd(learningRate: 0.1, momentum: 0), batchSize: 2, seed: 1)
        let data = ImageDataset(
            height: 1, width: 2, channels: 2, pixels: [1, 2, 3, 4, 5, 6, 7, 8], labels: [0, 1], classNames: ["a", "b"])
        let before = network.parameters.map(\.value)
        _ = try trainer.trainEpoch(data, epoch: 1)
        let after = network.parameters.map(\.value)
        #expect(after[0] == before[0] && after[1] == before[1])
        #expect(after[2] != before[2])
    }

    func message(_ bytes: [UInt8]) -> String {
        do {
            _ = try Network(try Architecture(json: bytes), seed: 1)
            return "no error"
        } catch { return error.message }
    }

    @Test func unsupportedArchitecturesAreOneLineErrors() {
        #expect(
            message(Self.json(#"{"class_name": "Flatten"}, {"class_name": "Dense", "config": {"units": 3}}"#))
                == "model.json: the last layer must end in softmax (the loss is categorical cross-entropy)")
        #expect(
            message(Self.json(#"{"class_name": "AveragePooling2D"}"#)).hasPrefix(
                "layer 0 (AveragePooling2D): the trainer has no backward pass for AveragePooling2D yet"))
        #expect(
            message(Self.json(#"{"class_name": "BatchNormalization", "config": {"axis": 2}}"#))
                == "layer 0 (BatchNormalization): BatchNormalization trains on the last axis only (axis -1)")
        #expect(
            message(Self.json(#"{"class_name": "Dense", "config": {"units": 3, "activation": "tanh"}}"#))
                == "layer 0 (Dense): activation \"tanh\" (the trainer has linear, relu and softmax)")
        #expect(
            message(
                Self.json(
                    #"{"class_name": "Flatten"}, {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}, "weights": [[[1, 2]], [0, 0]]}"#
                )) == "layer 1 (Dense): a weight has shape [1, 2], expected [72, 2]")
    }

    /// The trainer's forward pass and the inference engine agree on the model the trainer writes.
    @Test func theWrittenModelConvertsAndTheEngineComputesTheSameOutputs() throws {
        let network = try Network(try Architecture(json: Self.small), seed: 5)
        var random = SplitMix64(seed: 6)
        let input = (0..<(3 * 72)).map { _ in random.nextFloat() }
        let logits = try network.logits(input, batch: 3, training: false)
        let labels = ["a", "b", "c", "d", "e"]
        let written = network.modelJSON(labels: labels)
        let description = try Converter.convert(json: written)
        #expect(description.labels == labels)
        let probabilities = try Model(description).predict(input, batch: 3)
        for row in 0..<3 {
            let z = logits[(row * 5)..<(row * 5 + 5)]
            let top = z.max()!
            let sum = z.reduce(0) { $0 + exp($1 - top) }
            for j in 0..<5 {
                #expect(abs(probabilities[row * 5 + j] - exp(z[row * 5 + j] - top) / sum) < 1e-5)
            }
        }
    }
}

extension Error {
    var message: String { (self as? CnnzError)?.message ?? "\(self)" }
}
