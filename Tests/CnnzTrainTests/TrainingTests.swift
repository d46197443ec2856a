import Cnnz
import Foundation
import Testing

@testable import CnnzTrain

/// A short, deterministic training run on images made here: four classes of
/// 12x12 strokes (horizontal, vertical, diagonal, a small square) at random
/// places on noise. Chance is 25 %.
@Suite struct TrainingTests {
    static func strokes(count: Int, seed: UInt64) -> ImageDataset {
        var random = SplitMix64(seed: seed)
        let side = 12
        var pixels: [UInt8] = []
        var labels: [Int] = []
        for i in 0..<count {
            let label = i % 4
            var image = (0..<(side * side)).map { _ in UInt8(random.next() % 70) }
            let a = Int(random.next() % 8) + 2
            let b = Int(random.next() % 8) + 2
            func set(_ y: Int, _ x: Int) {
                if y >= 0, y < side, x >= 0, x < side { image[y * side + x] = UInt8(180 + random.next() % 76) }
            }
            switch label {
            case 0: for x in 1..<(side - 1) { set(a, x) }
            case 1: for y in 1..<(side - 1) { set(y, a) }
            case 2: for t in 0..<side { set(t, t + a - 6) }
            default: for y in 0..<3 { for x in 0..<3 { set(a - 1 + y, b - 1 + x) } }
            }
            pixels += image
            labels.append(label)
        }
        return ImageDataset(
            height: side, width: side, channels: 1, pixels: pixels, labels: labels,
            classNames: ["horizontal", "vertical", "diagonal", "square"])
    }

    static let architecture = Array(
        """
        {"format": "cnnz-json", "version": 1, "input": {"shape": [12, 12, 1]},
         "preprocess": {"scale": 0.00392156862745098},
         "layers": [
          {"class_name": "Conv2D", "config": {"filters": 6, "kernel_size": 3, "padding": "same", "activation": "relu"}},
          {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
          {"class_name": "Flatten"},
          {"class_name": "Dropout", "config": {"rate": 0.2}},
          {"class_name": "Dense", "config": {"units": 4, "activation": "softmax"}}]}
        """.utf8)

    func run(_ optimizer: Optimizer) throws -> (reports: [EpochReport], start: Double, test: (Double, Double)) {
        let network = try Network(try Architecture(json: Self.architecture), seed: 7)
        let trainer = try Trainer(network: network, optimizer: optimizer, batchSize: 32, seed: 7)
        let train = Self.strokes(count: 320, seed: 1)
        let test = Self.strokes(count: 160, seed: 2)
        try trainer.check(train)
        let start = try trainer.evaluate(train).loss
        var reports: [EpochReport] = []
        for epoch in 1...8 { reports.append(try trainer.trainEpoch(train, epoch: epoch)) }
        return (reports, start, try trainer.evaluate(test))
    }

    @Test(arguments: [Optimizer.adam(learningRate: 0.01), .sgd(learningRate: 0.1, momentum: 0.9)])
    func aShortRunLowersTheLossAndBeatsChance(_ optimizer: Optimizer) throws {
        let (reports, start, test) = try run(optimizer)
        let losses = reports.map { String(format: "%.4f", $0.loss) }.joined(separator: " ")
        print(
            "training test \(optimizer): loss before \(String(format: "%.4f", start)), per epoch \(losses); train accuracy \(String(format: "%.3f", reports.last!.accuracy)); held-out loss \(String(format: "%.4f", test.0)), accuracy \(String(format: "%.3f", test.1))"
        )
        #expect(reports.last!.loss < 0.5 * start)
        #expect(test.1 >= 0.8)
        // The same seeds repeat the run exactly.
        let again = try run(optimizer)
        #expect(again.reports.map(\.loss) == reports.map(\.loss))
    }

    /// Each mini-batch is cut into the same slices whatever the thread count, so
    /// 1, 2 and 3 threads compute the same weights to the bit (dropout included:
    /// each slice draws its own masks).
    @Test func threadsDoNotChangeTheWeights() throws {
        let text = String(decoding: Self.architecture, as: UTF8.self)
        #expect(text.contains("Dropout"))
        var weights: [[Float]] = []
        for threads in [1, 2, 3] {
            let network = try Network(try Architecture(json: Array(text.utf8)), seed: 3)
            let trainer = try Trainer(
                network: network, optimizer: .adam(learningRate: 0.01), batchSize: 25, seed: 3, threads: threads)
            _ = try trainer.trainEpoch(Self.strokes(count: 100, seed: 4), epoch: 1)
            weights.append(Array(network.parameters.map(\.value).joined()))
        }
        let moved = zip(
            weights[0], try Network(try Architecture(json: Array(text.utf8)), seed: 3).parameters.map(\.value).joined()
        ).map { abs($0 - $1) }.max()!
        #expect(moved > 0.01)
        // The first differing weight, not the arrays: #expect would print (and diff) 75K values.
        for threads in [2, 3] {
            #expect(weights[threads - 1].count == weights[0].count)
            let first = weights[0].indices.first { weights[threads - 1][$0].bitPattern != weights[0][$0].bitPattern }
            #expect(first == nil, "\(threads) threads: weight \(first ?? -1) differs from 1 thread's")
        }
    }

    /// The trainer's faster paths, on a network that takes them: a first Conv2D of 16 filters on
    /// single-channel images (convolved directly) and a Dense kernel of 576x128 values (its gradient
    /// computed in the optimizer step from every slice). 1, 2 and 4 threads give the same weights to
    /// the bit, and so does computing the Dense gradient per slice (in the backward pass) instead.
    @Test func theFastPathsGiveTheSameWeightsForAnyThreadCount() throws {
        let architecture = Array(
            """
            {"format": "cnnz-json", "version": 1, "input": {"shape": [12, 12, 1]},
             "preprocess": {"scale": 0.00392156862745098},
             "layers": [
              {"class_name": "Conv2D", "config": {"filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"}},
              {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
              {"class_name": "Flatten"},
              {"class_name": "Dropout", "config": {"rate": 0.2}},
              {"class_name": "Dense", "config": {"units": 128, "activation": "relu"}},
              {"class_name": "Dense", "config": {"units": 4, "activation": "softmax"}}]}
            """.utf8)
        var weights: [[Float]] = []
        for (threads, deferring) in [(1, 1 << 16), (2, 1 << 16), (4, 1 << 16), (2, Int.max)] {
            let network = try Network(try Architecture(json: architecture), seed: 5)
            let trainer = try Trainer(
                network: network, optimizer: .adam(learningRate: 0.01), batchSize: 30, seed: 5, threads: threads,
                deferringKernelsOf: deferring)
            #expect((network.layers[0] as! Conv2DLayer).convolvesDirectly)
            #expect((network.layers[5] as! DenseLayer).defersWeightGradient == (deferring < Int.max))
            _ = try trainer.trainEpoch(Self.strokes(count: 100, seed: 6), epoch: 1)
            _ = try trainer.trainEpoch(Self.strokes(count: 100, seed: 6), epoch: 2)
            weights.append(Array(network.parameters.map(\.value).joined()))
        }
        let start = try Network(try Architecture(json: architecture), seed: 5).parameters.map(\.value).joined()
        #expect(zip(weights[0], start).map { abs($0 - $1) }.max()! > 0.01)
        for (i, w) in weights.enumerated().dropFirst() {
            // Compared as a Bool: a failing `==` of two arrays would make the test library diff 75K values.
            let same = w == weights[0]
            #expect(same, "run \(i): the weights differ by up to \(zip(w, weights[0]).map { abs($0 - $1) }.max()!)")
        }
    }
}
