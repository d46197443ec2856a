import Cnnz
import Dispatch
import Foundation

/// The parts of a training step that run on the threads: the slices of a mini-batch, and the
/// optimizer step with the gathering of the slices' gradients.
extension Trainer {
    /// Where the training steps' CPU time went so far (every thread), when `profiling`:
    /// one row per layer (forward and backward), then the inputs, the loss, and the
    /// optimizer step (with the gathering of gradients and weights between the slices' replicas).
    public func profile() -> [(part: String, forward: Double, backward: Double)] {
        var rows: [(part: String, forward: Double, backward: Double)] = []
        for (i, layer) in network.layers.enumerated() {
            var (forward, backward) = (0.0, 0.0)
            for replica in replicas where replica.profile.count > i {
                forward += replica.profile[i].forward
                backward += replica.profile[i].backward
            }
            let name = String(describing: type(of: layer)).replacingOccurrences(of: "Layer", with: "")
            rows.append(("\(i) \(name) \(layer.outputShape)", forward, backward))
        }
        rows.append(("inputs (and augmentation)", workspaces.reduce(0) { $0 + $1.inputSeconds }, 0))
        rows.append(("softmax and loss", workspaces.reduce(0) { $0 + $1.lossSeconds }, 0))
        rows.append(
            ("optimizer (gradients gathered, weights updated)", workspaces.reduce(0) { $0 + $1.updateSeconds }, 0))
        return rows
    }

    /// Runs the forward pass (and, when `training`, the backward pass) of the
    /// images at `indices`, split across the replicas. Gradients are left in
    /// each replica's parameters, scaled so that their sum is the mean over `indices`.
    func run(_ data: ImageDataset, _ indices: ArraySlice<Int>, training: Bool) throws(CnnzError) -> (
        loss: Double, correct: Int
    ) {
        let parts = min(replicas.count, indices.count)
        let workers = min(threads, parts)
        let claims = SliceClaims(count: parts)
        // Each slice touches only its own replica and workspace; the data is only read. The
        // threads take slices as they come free, so a thread that the system deschedules
        // holds up at most one slice, and who computes a slice does not change its result.
        let shared = UncheckedSendable(value: (self, data, indices, claims))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let (trainer, data, indices, claims) = shared.value
            while let part = claims.next() {
                trainer.runSlice(part, of: parts, data, indices, training: training)
            }
        }
        if let error = workspaces.prefix(parts).lazy.compactMap(\.error).first { throw error }
        return (
            workspaces.prefix(parts).reduce(0) { $0 + $1.loss }, workspaces.prefix(parts).reduce(0) { $0 + $1.correct }
        )
    }

    /// The forward (and backward) pass of slice `part` of `parts` of `indices`, on its replica.
    func runSlice(
        _ part: Int, of parts: Int, _ data: ImageDataset, _ indices: ArraySlice<Int>, training: Bool
    ) {
        let total = Float(indices.count)
        let from = indices.startIndex + indices.count * part / parts
        let slice = indices[from..<(indices.startIndex + indices.count * (part + 1) / parts)]
        let replica = replicas[part]
        let workspace = workspaces[part]
        do throws(CnnzError) {
            let timed = profiling && training
            var start = timed ? threadProcessorSeconds() : 0
            prepareInputs(data, slice, into: workspace, training: training)
            if timed { workspace.inputSeconds += threadProcessorSeconds() - start }
            let logits = try replica.logits(workspace.input, batch: slice.count, training: training)
            if timed { start = threadProcessorSeconds() }
            workspace.labels.removeAll(keepingCapacity: true)
            for i in slice { workspace.labels.append(data.labels[i]) }
            var result = SoftmaxCrossEntropy.evaluate(
                logits: logits, labels: workspace.labels, classes: replica.classes)
            if timed { workspace.lossSeconds += threadProcessorSeconds() - start }
            if !training {
                let classes = replica.classes
                workspace.predictions.removeAll(keepingCapacity: true)
                for row in 0..<slice.count {
                    var best = 0
                    for j in 1..<classes where logits[row * classes + j] > logits[row * classes + best] { best = j }
                    workspace.predictions.append(best)
                }
            }
            if training {
                let scale = Float(slice.count) / total
                for i in result.gradient.indices { result.gradient[i] *= scale }
                try replica.backward(result.gradient, batch: slice.count)
            }
            workspace.loss = result.loss * Double(slice.count)
            workspace.correct = result.correct
            workspace.error = nil
        } catch {
            workspace.error = error
        }
    }

    /// Copies the network's weights into the other replicas, in place.
    func synchronizeReplicas() {
        for pack in sharedPacks { pack.invalidate() }
        let master = network.parameters
        for replica in replicas.dropFirst() {
            // A kernel the replicas share (`DenseLayer.sharedKernel`) has no values of its own there.
            for (p, q) in zip(master, replica.parameters) where q.value.count == p.value.count {
                p.value.withUnsafeBufferPointer { source in
                    _ = q.value.withUnsafeMutableBufferPointer { $0.update(fromContentsOf: source) }
                }
            }
        }
    }

    /// One optimizer step, on every thread: the replicas' gradients are added
    /// into the network's (in replica order, so the sums do not depend on the
    /// threads) and cleared, the optimizer updates the weights, and the replicas
    /// get the new weights; parameters go in parts of 16K values that the threads
    /// take as they come free.
    func updateWeights(rateScale: Float) {
        let parameters = network.parameters
        let rate = optimizer.beginStep(parameters, rateScale: rateScale)
        // Pointers taken here, on one thread: the parallel part below only reads and writes floats.
        let targets = parameters.map { optimizer.target($0, weightDecay: weightDecay) }
        let others = replicas.dropFirst().map { replica in
            replica.parameters.map {
                (
                    // nil for a kernel the replicas share: nothing to copy.
                    value: $0.value.isEmpty ? nil : $0.value.withUnsafeMutableBufferPointer { $0.baseAddress },
                    // nil for a deferred kernel: the replica has no gradient of it.
                    gradient: $0.gradient.isEmpty ? nil : $0.gradient.withUnsafeMutableBufferPointer { $0.baseAddress }
                )
            }
        }
        // Per parameter, the layer of each replica that computes its gradient here (deferred kernels).
        let deferred = parameters.indices.map { index in
            deferredGradients[index].map { layer in
                (width: parameters[index].shape[1], layers: replicas.map { $0.layers[layer] as! DenseLayer })
            }
        }
        let trainable = parameters.map(\.trainable)
        let claims = SliceClaims(count: updateParts.count)
        let shared = UncheckedSendable(value: (self, targets, others, deferred, trainable, claims, rate))
        DispatchQueue.concurrentPerform(iterations: min(threads, updateParts.count)) { worker in
            let (trainer, targets, others, deferred, trainable, claims, rate) = shared.value
            let start = trainer.profiling ? threadProcessorSeconds() : 0
            while let part = claims.next() {
                let (index, range) = trainer.updateParts[part]
                let target = targets[index]
                if let (width, layers) = deferred[index] {
                    // The kernel's gradient, these rows only, from every slice in order (so the
                    // sums are those of per-slice gradients added up), while it is in the cache.
                    let rows = (range.lowerBound / width)..<(range.upperBound / width)
                    for layer in layers { layer.accumulateDeferredGradient(rows: rows, into: target.gradient) }
                } else if trainable[index] {
                    for replica in others {
                        guard let g = replica[index].gradient else { continue }
                        for i in range { target.gradient[i] += g[i] }
                        (g + range.lowerBound).update(repeating: 0, count: range.count)
                    }
                }
                trainer.optimizer.update(target, range, rate: rate)
                for replica in others {
                    guard let value = replica[index].value else { continue }
                    (value + range.lowerBound).update(from: target.value + range.lowerBound, count: range.count)
                }
            }
            if trainer.profiling { trainer.workspaces[worker].updateSeconds += threadProcessorSeconds() - start }
        }
        for case let (_, layers)? in deferred { for layer in layers { layer.releaseDeferred() } }
        for pack in sharedPacks { pack.invalidate() }
    }
}

/// Hands out the slices of one mini-batch, in order, to whichever thread asks.
private final class SliceClaims: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = 0
    let count: Int

    init(count: Int) { self.count = count }

    /// The next unclaimed slice, or nil when every slice is taken.
    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard claimed < count else { return nil }
        claimed += 1
        return claimed - 1
    }
}

/// Hands values to the worker threads of one `concurrentPerform`, which share nothing mutable.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
