import Cnnz
import Foundation

/// What one epoch did.
public struct EpochReport: Sendable {
    public var epoch: Int
    /// Mean training loss and accuracy over the epoch (with dropout active).
    public var loss: Double
    public var accuracy: Double
    public var seconds: Double
    public var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }
    public var images: Int
}

/// Mini-batch training of a `Network` on an `ImageDataset`.
public final class Trainer {
    public let network: Network
    public let optimizer: OptimizerState
    public var batchSize: Int
    private var random: SplitMix64

    /// - Parameter seed: drives the shuffling, so that a run repeats exactly.
    public init(network: Network, optimizer: Optimizer, batchSize: Int, seed: UInt64) {
        self.network = network
        self.optimizer = OptimizerState(optimizer)
        self.batchSize = batchSize
        random = SplitMix64(seed: seed ^ 0x7472_6169_6e21)
    }

    /// Checks that the data fits the network before any training starts.
    public func check(_ data: ImageDataset) throws(CnnzError) {
        let shape = network.architecture.inputShape
        guard data.height == shape.height, data.width == shape.width, data.channels == shape.channels else {
            throw .format(
                "the images are \(data.height)x\(data.width)x\(data.channels), the architecture's input is \(shape)")
        }
        guard data.classCount <= network.classes else {
            throw .format("the data has \(data.classCount) classes, the network \(network.classes) outputs")
        }
    }

    /// The prepared float inputs of the images at `indices`.
    func inputs(_ data: ImageDataset, _ indices: ArraySlice<Int>) -> [Float] {
        let p = network.architecture.preprocessing
        let size = data.imageSize
        let c = data.channels
        var result = [Float](repeating: 0, count: indices.count * size)
        for (row, i) in indices.enumerated() {
            for j in 0..<size { result[row * size + j] = p.apply(Float(data.pixels[i * size + j]), channel: j % c) }
        }
        return result
    }

    /// One pass over `data` in shuffled mini-batches; calls `progress(done, total)` after each.
    public func trainEpoch(_ data: ImageDataset, epoch: Int, progress: (Int, Int) -> Void = { _, _ in })
        throws(CnnzError) -> EpochReport
    {
        let start = ContinuousClock.now
        var order = Array(0..<data.count)
        order.shuffle(using: &random)
        var lossSum = 0.0
        var correct = 0
        for first in stride(from: 0, to: order.count, by: batchSize) {
            let indices = order[first..<min(first + batchSize, order.count)]
            let x = inputs(data, indices)
            let logits = try network.logits(x, batch: indices.count, training: true)
            let result = SoftmaxCrossEntropy.evaluate(
                logits: logits, labels: indices.map { data.labels[$0] }, classes: network.classes)
            try network.backward(result.gradient, batch: indices.count)
            optimizer.step(network.parameters)
            lossSum += result.loss * Double(indices.count)
            correct += result.correct
            progress(first + indices.count, order.count)
        }
        let elapsed = ContinuousClock.now - start
        return EpochReport(
            epoch: epoch, loss: lossSum / Double(data.count), accuracy: Double(correct) / Double(data.count),
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18,
            images: data.count)
    }

    /// Mean loss and accuracy on `data`, without dropout.
    public func evaluate(_ data: ImageDataset, batchSize: Int = 256) throws(CnnzError) -> (
        loss: Double, accuracy: Double
    ) {
        var lossSum = 0.0
        var correct = 0
        for first in stride(from: 0, to: data.count, by: batchSize) {
            let indices = Array(first..<min(first + batchSize, data.count))[...]
            let logits = try network.logits(inputs(data, indices), batch: indices.count, training: false)
            let result = SoftmaxCrossEntropy.evaluate(
                logits: logits, labels: indices.map { data.labels[$0] }, classes: network.classes)
            lossSum += result.loss * Double(indices.count)
            correct += result.correct
        }
        return (lossSum / Double(data.count), Double(correct) / Double(data.count))
    }
}
