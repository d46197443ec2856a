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

/// How the learning rate changes during training (a factor on `--lr`).
public enum LearningRateSchedule: Sendable, Equatable {
    case constant
    /// Multiplied by `factor` after every `every` epochs.
    case step(every: Int, factor: Float)
    /// Cosine decay from the full rate to 0 over `epochs` epochs, step by step (Keras's CosineDecay).
    case cosine(epochs: Int)

    /// The factor at `step` (0-based) of epoch `epoch` (1-based), with `steps` steps per epoch.
    public func factor(epoch: Int, step: Int, steps: Int) -> Float {
        switch self {
        case .constant: return 1
        case .step(let every, let factor): return pow(factor, Float((epoch - 1) / max(every, 1)))
        case .cosine(let epochs):
            let done = Double((epoch - 1) * steps + step) / Double(max(epochs * steps, 1))
            return Float(0.5 * (1 + cos(Double.pi * min(done, 1))))
        }
    }
}

/// Random changes to the training images, drawn anew for every image and epoch.
public struct Augmentation: Sendable, Equatable {
    /// Shifts each image by up to this many pixels in each direction (the uncovered edge is black, pixel 0).
    public var shift: Int = 0
    /// Mirrors half the images left to right.
    public var flip = false

    public init(shift: Int = 0, flip: Bool = false) {
        self.shift = shift
        self.flip = flip
    }

    var isActive: Bool { shift > 0 || flip }
}

/// How far an epoch has got, for a progress bar.
public struct EpochProgress: Sendable {
    public var done: Int
    public var total: Int
    /// Mean loss and accuracy over the images done so far.
    public var loss: Double
    public var accuracy: Double
    public var seconds: Double
}

/// Mini-batch training of a `Network` on an `ImageDataset`.
public final class Trainer {
    public let network: Network
    public let optimizer: OptimizerState
    public var batchSize: Int
    public var schedule = LearningRateSchedule.constant
    /// L2 regularization: `weightDecay * w` is added to the gradient of every kernel.
    public var weightDecay: Float = 0
    public var augmentation = Augmentation()
    private let seed: UInt64
    /// Per image of the current batch: its shift (dy, dx) and whether it is mirrored.
    private var transforms: [(dy: Int, dx: Int, flip: Bool)] = []
    /// The position in the epoch's order of the batch's first image.
    private var transformsStart = 0
    /// Each mini-batch is cut into this many slices at least (more when there are more threads).
    public static let minimumSlices = 4
    /// `network` and a copy per further slice of the mini-batch.
    let replicas: [Network]
    /// Threads that take the slices.
    let threads: Int
    /// The weight packs the replicas share, out of date whenever the weights change.
    let sharedPacks: [SharedPack]
    /// The parts the optimizer step goes in: (parameter index, range of its values).
    let updateParts: [(parameter: Int, range: Range<Int>)]
    /// Per-thread buffers, reused step after step.
    let workspaces: [Workspace]

    /// - Parameters:
    ///   - seed: drives the shuffling, dropout and augmentation, so that a run repeats exactly (for one
    ///     thread count). Each epoch's draws depend on the seed and the epoch's number only, so a run
    ///     resumed at epoch N shuffles as the uninterrupted run did.
    ///   - threads: the threads that share each mini-batch. It is cut into `max(threads,
    ///     minimumSlices)` slices, each with a replica of the network of its own, which the threads
    ///     take as they come free; so up to `minimumSlices` threads, the thread count does not change
    ///     the result.
    public convenience init(network: Network, optimizer: Optimizer, batchSize: Int, seed: UInt64, threads: Int = 1)
        throws(CnnzError)
    {
        try self.init(
            network: network, optimizer: optimizer, batchSize: batchSize, seed: seed, threads: threads,
            deferringKernelsOf: 1 << 16)
    }

    /// - Parameter deferringKernelsOf: Dense kernels of at least this many values get their gradient
    ///   in the optimizer step (see `DenseLayer.defersWeightGradient`); tests set it to compare.
    init(
        network: Network, optimizer: Optimizer, batchSize: Int, seed: UInt64, threads: Int,
        deferringKernelsOf deferredKernelSize: Int
    ) throws(CnnzError) {
        self.network = network
        self.optimizer = OptimizerState(optimizer)
        self.batchSize = batchSize
        self.seed = seed
        self.threads = max(threads, 1)
        var replicas = [network]
        for i in 1..<max(threads, Self.minimumSlices) {
            replicas.append(try Network(network.architecture, seed: seed, replica: i))
        }
        self.replicas = replicas
        workspaces = replicas.map { _ in Workspace() }
        // One pack of each weight matrix per step, whichever slice makes it.
        var packs: [SharedPack] = []
        for (i, layer) in network.layers.enumerated() where layer is Conv2DLayer || layer is DenseLayer {
            let (forward, transposed) = (SharedPack(), SharedPack())
            packs += [forward, transposed]
            for replica in replicas {
                if let conv = replica.layers[i] as? Conv2DLayer {
                    (conv.forwardPack, conv.transposedPack) = (forward, transposed)
                } else if let dense = replica.layers[i] as? DenseLayer {
                    (dense.forwardPack, dense.transposedPack) = (forward, transposed)
                }
            }
        }
        sharedPacks = packs
        // Large Dense kernels get their gradient in the optimizer step, from every slice at once
        // (see `DenseLayer.defersWeightGradient`); the replicas then need no gradient of their own,
        // and read the network's kernel rather than a copy (`DenseLayer.sharedKernel`).
        var deferred: [Int: Int] = [:]
        var first = 0
        for (i, layer) in network.layers.enumerated() {
            if let dense = layer as? DenseLayer, dense.parameters[0].trainable,
                dense.parameters[0].value.count >= deferredKernelSize
            {
                deferred[first] = i
                for replica in replicas {
                    let copy = replica.layers[i] as! DenseLayer
                    copy.defersWeightGradient = true
                    if replica !== network {
                        copy.sharedKernel = dense.parameters[0]
                        copy.parameters[0].value = []
                        copy.parameters[0].gradient = []
                    }
                }
            }
            first += layer.parameters.count
        }
        deferredGradients = deferred
        var parts: [(parameter: Int, range: Range<Int>)] = []
        for (index, p) in network.parameters.enumerated() {
            // A deferred kernel goes in whole rows (`shape[1]` values each).
            let width = deferred[index] == nil ? 1 : p.shape[1]
            let step = max(1, (1 << 14) / width) * width
            for start in stride(from: 0, to: p.value.count, by: step) {
                parts.append((index, start..<min(start + step, p.value.count)))
            }
        }
        updateParts = parts
    }

    /// Parameter index to layer index, for the kernels whose gradient the optimizer step computes.
    let deferredGradients: [Int: Int]

    /// One thread's buffers and what it computed on its slice of a mini-batch.
    final class Workspace {
        var input: [Float] = []
        var labels: [Int] = []
        /// The predicted classes, when not training.
        var predictions: [Int] = []
        var loss = 0.0
        var correct = 0
        var error: CnnzError?
        /// Thread CPU seconds preparing inputs and in the loss (when profiling).
        var inputSeconds = 0.0
        var lossSeconds = 0.0
        /// Thread CPU seconds in `updateWeights`, by the worker of this index.
        var updateSeconds = 0.0
    }

    /// Times every layer's passes and the other parts of a step (`--profile`); see `profile()`.
    public var profiling = false {
        didSet { for replica in replicas { replica.profiling = profiling } }
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

    /// The prepared float inputs of the images at `indices`, into the workspace's buffer.
    func prepareInputs(_ data: ImageDataset, _ indices: ArraySlice<Int>, into workspace: Workspace, training: Bool) {
        let p = network.architecture.preprocessing
        let size = data.imageSize
        let c = data.channels
        workspace.input.resize(to: indices.count * size)
        workspace.input.withUnsafeMutableBufferPointer { x in
            data.pixels.withUnsafeBufferPointer { pixels in
                for (row, i) in indices.enumerated() {
                    let source = pixels.baseAddress! + i * size
                    let target = x.baseAddress! + row * size
                    guard training, !transforms.isEmpty else {
                        for j in 0..<size { target[j] = p.apply(Float(source[j]), channel: j % c) }
                        continue
                    }
                    let (dy, dx, flip) = transforms[indices.startIndex - transformsStart + row]
                    let (h, w) = (data.height, data.width)
                    let background = (0..<c).map { p.apply(0, channel: $0) }
                    for y in 0..<h {
                        let sy = y - dy
                        for x in 0..<w {
                            let sx = (flip ? w - 1 - x : x) - dx
                            let out = target + (y * w + x) * c
                            if sy >= 0, sy < h, sx >= 0, sx < w {
                                let from = source + (sy * w + sx) * c
                                for ch in 0..<c { out[ch] = p.apply(Float(from[ch]), channel: ch) }
                            } else {
                                for ch in 0..<c { out[ch] = background[ch] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Sets the current batch's transforms (for tests of `prepareInputs`).
    func setTransforms(_ values: [(dy: Int, dx: Int, flip: Bool)], start: Int) {
        transforms = values
        transformsStart = start
    }

    /// A generator for one purpose of one epoch, a function of the seed alone.
    func generator(_ purpose: UInt64, epoch: Int) -> SplitMix64 {
        var mix = SplitMix64(seed: seed ^ (purpose &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(epoch) &* 0xD1B5_4A32_D192_ED03)
        return SplitMix64(seed: mix.next())
    }

    /// One pass over `data` in shuffled mini-batches; calls `progress` after each.
    public func trainEpoch(_ data: ImageDataset, epoch: Int, progress: (EpochProgress) -> Void = { _ in })
        throws(CnnzError) -> EpochReport
    {
        let start = ContinuousClock.now
        func seconds() -> Double {
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        }
        var random = generator(1, epoch: epoch)
        var order = Array(0..<data.count)
        order.shuffle(using: &random)
        for (r, replica) in replicas.enumerated() { replica.reseedDropout(generator(2 + UInt64(r), epoch: epoch)) }
        // The steps keep the replicas' weights equal to the network's; this covers weights set from outside.
        synchronizeReplicas()
        var lossSum = 0.0
        var correct = 0
        let steps = (order.count + batchSize - 1) / batchSize
        transforms.reserveCapacity(batchSize)
        for (step, first) in stride(from: 0, to: order.count, by: batchSize).enumerated() {
            let indices = order[first..<min(first + batchSize, order.count)]
            transforms.removeAll(keepingCapacity: true)
            transformsStart = indices.startIndex
            if augmentation.isActive {
                let span = UInt64(2 * augmentation.shift + 1)
                for _ in indices {
                    let dy = Int(random.next() % span) - augmentation.shift
                    let dx = Int(random.next() % span) - augmentation.shift
                    let flip = augmentation.flip && random.next() & 1 == 1
                    transforms.append((dy, dx, flip))
                }
            }
            let result = try run(data, indices, training: true)
            updateWeights(rateScale: schedule.factor(epoch: epoch, step: step, steps: steps))
            lossSum += result.loss
            correct += result.correct
            let done = first + indices.count
            progress(
                EpochProgress(
                    done: done, total: order.count, loss: lossSum / Double(done),
                    accuracy: Double(correct) / Double(done), seconds: seconds()))
        }
        transforms.removeAll(keepingCapacity: true)
        return EpochReport(
            epoch: epoch, loss: lossSum / Double(data.count), accuracy: Double(correct) / Double(data.count),
            seconds: seconds(), images: data.count)
    }

    /// Mean loss and accuracy on `data`, without dropout.
    public func evaluate(_ data: ImageDataset, batchSize: Int = 256) throws(CnnzError) -> (
        loss: Double, accuracy: Double
    ) {
        let result = try evaluateWithConfusion(data, batchSize: batchSize)
        return (result.loss, result.accuracy)
    }

    /// Mean loss and accuracy on `data`, and the confusion matrix: `confusion[true][predicted]` counts.
    public func evaluateWithConfusion(_ data: ImageDataset, batchSize: Int = 256) throws(CnnzError) -> (
        loss: Double, accuracy: Double, confusion: [[Int]]
    ) {
        var lossSum = 0.0
        var correct = 0
        let classes = network.classes
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        synchronizeReplicas()
        for first in stride(from: 0, to: data.count, by: batchSize) {
            let result = try run(data, Array(first..<min(first + batchSize, data.count))[...], training: false)
            lossSum += result.loss
            correct += result.correct
            for workspace in workspaces {
                for (label, predicted) in zip(workspace.labels, workspace.predictions) where label < classes {
                    confusion[label][predicted] += 1
                }
                workspace.predictions.removeAll(keepingCapacity: true)
            }
        }
        return (lossSum / Double(data.count), Double(correct) / Double(data.count), confusion)
    }
}
