import Cnnz
import Dispatch
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
    /// `network` and a copy per further thread; each takes a slice of every mini-batch.
    private let replicas: [Network]

    /// - Parameters:
    ///   - seed: drives the shuffling, so that a run repeats exactly (for one thread count).
    ///   - threads: each mini-batch is split across this many threads.
    public init(network: Network, optimizer: Optimizer, batchSize: Int, seed: UInt64, threads: Int = 1)
        throws(CnnzError)
    {
        self.network = network
        self.optimizer = OptimizerState(optimizer)
        self.batchSize = batchSize
        random = SplitMix64(seed: seed ^ 0x7472_6169_6e21)
        var replicas = [network]
        for i in 1..<max(threads, 1) {
            replicas.append(try Network(network.architecture, seed: seed, replica: i))
        }
        self.replicas = replicas
    }

    /// What one thread computed on its slice of a mini-batch.
    private struct SliceResult {
        var loss = 0.0
        var correct = 0
        var error: CnnzError?
    }

    /// Runs the forward pass (and, when `training`, the backward pass) of the
    /// images at `indices`, split across the replicas. Gradients are left in
    /// each replica's parameters, scaled so that their sum is the mean over `indices`.
    private func run(_ data: ImageDataset, _ indices: ArraySlice<Int>, training: Bool) throws(CnnzError) -> (
        loss: Double, correct: Int
    ) {
        let parts = min(replicas.count, indices.count)
        let slices = (0..<parts).map { part in
            let from = indices.startIndex + indices.count * part / parts
            return indices[from..<(indices.startIndex + indices.count * (part + 1) / parts)]
        }
        let results = UnsafeMutableBufferPointer<SliceResult>.allocate(capacity: parts)
        results.initialize(repeating: SliceResult())
        defer { results.deallocate() }
        let total = Float(indices.count)
        // Each thread touches only its own replica and its own result; the data is only read.
        let shared = UncheckedSendable(value: (self, data, slices, results))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let (trainer, data, slices, results) = shared.value
            let replica = trainer.replicas[part]
            let slice = slices[part]
            do throws(CnnzError) {
                let logits = try replica.logits(trainer.inputs(data, slice), batch: slice.count, training: training)
                var result = SoftmaxCrossEntropy.evaluate(
                    logits: logits, labels: slice.map { data.labels[$0] }, classes: replica.classes)
                if training {
                    let scale = Float(slice.count) / total
                    for i in result.gradient.indices { result.gradient[i] *= scale }
                    try replica.backward(result.gradient, batch: slice.count)
                }
                results[part] = SliceResult(loss: result.loss * Double(slice.count), correct: result.correct)
            } catch {
                results[part].error = error
            }
        }
        if let error = results.lazy.compactMap(\.error).first { throw error }
        return (results.reduce(0) { $0 + $1.loss }, results.reduce(0) { $0 + $1.correct })
    }

    /// Copies the network's weights into the other replicas.
    private func synchronizeReplicas() {
        let master = network.parameters
        for replica in replicas.dropFirst() {
            for (p, q) in zip(master, replica.parameters) { q.value = p.value }
        }
    }

    /// Adds the other replicas' gradients into the network's and clears theirs.
    private func gatherGradients() {
        let master = network.parameters
        for replica in replicas.dropFirst() {
            for (p, q) in zip(master, replica.parameters) {
                accumulate(q.gradient, into: &p.gradient)
                q.gradient = [Float](repeating: 0, count: q.gradient.count)
            }
        }
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
            synchronizeReplicas()
            let result = try run(data, indices, training: true)
            gatherGradients()
            optimizer.step(network.parameters)
            lossSum += result.loss
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
        synchronizeReplicas()
        for first in stride(from: 0, to: data.count, by: batchSize) {
            let result = try run(data, Array(first..<min(first + batchSize, data.count))[...], training: false)
            lossSum += result.loss
            correct += result.correct
        }
        return (lossSum / Double(data.count), Double(correct) / Double(data.count))
    }
}

/// Hands values to the worker threads of one `concurrentPerform`, which share nothing mutable.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
