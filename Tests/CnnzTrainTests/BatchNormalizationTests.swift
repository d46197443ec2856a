import Cnnz
import CnnzConvert
import Foundation
import Testing

@testable import CnnzTrain

/// BatchNormalization: the gradient check against Float64 central differences
/// (with batch statistics, so the mean and variance depend on every input),
/// the moving averages, and the frozen (inference-mode) layer.
@Suite struct BatchNormalizationTests {
    /// Keras's training-mode BatchNormalization in Float64: per channel of the last axis.
    static func reference(_ x: [Double], rows: Int, channels c: Int, gamma: [Double], beta: [Double], epsilon: Double)
        -> [Double]
    {
        var y = [Double](repeating: 0, count: x.count)
        for j in 0..<c {
            var mean = 0.0
            for r in 0..<rows { mean += x[r * c + j] }
            mean /= Double(rows)
            var variance = 0.0
            for r in 0..<rows { variance += (x[r * c + j] - mean) * (x[r * c + j] - mean) }
            variance /= Double(rows)
            for r in 0..<rows {
                y[r * c + j] = (x[r * c + j] - mean) / (variance + epsilon).squareRoot() * gamma[j] + beta[j]
            }
        }
        return y
    }

    static func layer(_ shape: TensorShape, _ random: inout SplitMix64, trainable: Bool = true) -> (
        BatchNormalizationLayer, Parameter, Parameter, Parameter, Parameter
    ) {
        let c = shape.channels
        let gamma = Parameter(
            shape: [c], value: GradientCheckTests.values(c, &random).map { $0 + 1.5 }, trainable: trainable)
        let beta = Parameter(shape: [c], value: GradientCheckTests.values(c, &random), trainable: trainable)
        let mean = Parameter(shape: [c], value: GradientCheckTests.values(c, &random), trainable: trainable)
        let variance = Parameter(
            shape: [c], value: GradientCheckTests.values(c, &random).map { $0 + 1.2 }, trainable: trainable)
        let layer = BatchNormalizationLayer(
            input: shape, gamma: gamma, beta: beta, movingMean: mean, movingVariance: variance, epsilon: 1e-3,
            momentum: 0.9)
        return (layer, gamma, beta, mean, variance)
    }

    @Test(arguments: [TensorShape(height: 3, width: 2, channels: 4), TensorShape(flat: 5)])
    func gradientsMatchCentralDifferences(_ shape: TensorShape) throws {
        var random = SplitMix64(seed: UInt64(shape.channels))
        let (layer, gamma, beta, _, _) = Self.layer(shape, &random)
        let batch = 3
        let rows = batch * shape.pixels
        let x = GradientCheckTests.values(rows * shape.channels, &random).map { $0 * 2 + 0.3 }
        let y = try layer.forward(x, batch: batch, training: true)
        let r = GradientCheckTests.values(y.count, &random)
        let dx = try layer.backward(r, batch: batch)
        let (xd, gd, bd) = (x.map(Double.init), gamma.value.map(Double.init), beta.value.map(Double.init))
        let rd = r.map(Double.init)
        func loss(_ x: [Double], _ g: [Double], _ b: [Double]) -> Double {
            Reference.dot(
                Self.reference(x, rows: rows, channels: shape.channels, gamma: g, beta: b, epsilon: 1e-3), rd)
        }
        let expected = Self.reference(xd, rows: rows, channels: shape.channels, gamma: gd, beta: bd, epsilon: 1e-3)
        #expect(zip(y, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 })
        let errors = [
            Reference.maxRelativeError(dx, Reference.numericGradient(xd) { loss($0, gd, bd) }),
            Reference.maxRelativeError(gamma.gradient, Reference.numericGradient(gd) { loss(xd, $0, bd) }),
            Reference.maxRelativeError(beta.gradient, Reference.numericGradient(bd) { loss(xd, gd, $0) }),
        ]
        print(
            "gradient check BatchNormalization \(shape): max relative error x \(errors[0]), gamma \(errors[1]), beta \(errors[2])"
        )
        #expect(errors.allSatisfy { $0 < GradientCheckTests.tolerance })
    }

    @Test func movingAveragesFollowTheBatchAndServeInference() throws {
        var random = SplitMix64(seed: 21)
        let shape = TensorShape(flat: 3)
        let (layer, gamma, beta, mean, variance) = Self.layer(shape, &random)
        let before = (mean.value, variance.value)
        let x = GradientCheckTests.values(8 * 3, &random).map { $0 * 3 + 1 }
        _ = try layer.forward(x, batch: 8, training: true)
        for j in 0..<3 {
            let column = (0..<8).map { Double(x[$0 * 3 + j]) }
            let m = column.reduce(0, +) / 8
            let v = column.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 8
            #expect(abs(Double(mean.value[j]) - (Double(before.0[j]) * 0.9 + m * 0.1)) < 1e-5)
            #expect(abs(Double(variance.value[j]) - (Double(before.1[j]) * 0.9 + v * 0.1)) < 1e-5)
        }
        // Inference uses the moving statistics.
        let y = try layer.forward(x, batch: 8, training: false)
        for i in 0..<x.count {
            let j = i % 3
            let expected =
                (x[i] - mean.value[j]) / (variance.value[j] + 1e-3).squareRoot() * gamma.value[j] + beta.value[j]
            #expect(abs(y[i] - expected) < 1e-5)
        }
        #expect(!mean.trainable && !variance.trainable)
    }

    @Test func aFrozenLayerUsesTheMovingStatisticsAndItsGradientIsTheScale() throws {
        var random = SplitMix64(seed: 22)
        let shape = TensorShape(flat: 4)
        let (layer, gamma, _, mean, variance) = Self.layer(shape, &random, trainable: false)
        let moving = (mean.value, variance.value)
        let x = GradientCheckTests.values(5 * 4, &random)
        let training = try layer.forward(x, batch: 5, training: true)
        #expect(try layer.forward(x, batch: 5, training: false) == training)
        #expect(mean.value == moving.0 && variance.value == moving.1)
        let r = GradientCheckTests.values(20, &random)
        let dx = try layer.backward(r, batch: 5)
        for i in 0..<20 {
            let j = i % 4
            #expect(abs(dx[i] - r[i] * gamma.value[j] / (variance.value[j] + 1e-3).squareRoot()) < 1e-5)
        }
    }

    /// A small convolutional network with BatchNormalization trains (momentum 0.9: the
    /// moving averages must settle within 50 steps), and the written
    /// model.json (four tensors per BatchNormalization) converts to a .cnnz.
    @Test func aNetworkWithBatchNormalizationTrainsAndConverts() throws {
        let text = """
            {"format": "cnnz-json", "version": 1, "input": {"shape": [12, 12, 1]},
             "preprocess": {"scale": 0.00392156862745098},
             "layers": [
              {"class_name": "Conv2D", "config": {"filters": 6, "kernel_size": 3, "padding": "same", "use_bias": false}},
              {"class_name": "BatchNormalization", "config": {"momentum": 0.9}},
              {"class_name": "ReLU", "config": {}},
              {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
              {"class_name": "Flatten"},
              {"class_name": "Dense", "config": {"units": 4, "activation": "softmax"}}]}
            """
        let network = try Network(try Architecture(json: Array(text.utf8)), seed: 5)
        let trainer = try Trainer(network: network, optimizer: .adam(learningRate: 0.01), batchSize: 32, seed: 5)
        let train = TrainingTests.strokes(count: 320, seed: 1)
        let start = try trainer.evaluate(train).loss
        for epoch in 1...5 { _ = try trainer.trainEpoch(train, epoch: epoch) }
        let (loss, accuracy) = try trainer.evaluate(TrainingTests.strokes(count: 160, seed: 2))
        print("BatchNormalization network: loss before \(start), held-out loss \(loss), accuracy \(accuracy)")
        #expect(loss < 0.5 * start)
        #expect(accuracy >= 0.8)
        let json = network.modelJSON(labels: ["h", "v", "d", "s"])
        _ = try ModelExport.cnnz(fromModelJSON: json)
        #expect(String(decoding: json, as: UTF8.self).contains("BatchNormalization"))
        // The engine (which folds the normalization into the convolution) computes what the trainer does.
        var random = SplitMix64(seed: 6)
        let input = (0..<(2 * 144)).map { _ in random.nextFloat() }
        let logits = try network.logits(input, batch: 2, training: false)
        let probabilities = try Model(try Converter.convert(json: json)).predict(input, batch: 2)
        for row in 0..<2 {
            let z = logits[(row * 4)..<(row * 4 + 4)]
            let sum = z.reduce(0) { $0 + exp($1 - z.max()!) }
            for j in 0..<4 { #expect(abs(probabilities[row * 4 + j] - exp(z[row * 4 + j] - z.max()!) / sum) < 1e-4) }
        }
    }
}
