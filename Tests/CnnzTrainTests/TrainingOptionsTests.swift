import Cnnz
import Foundation
import Testing

@testable import CnnzTrain

/// Learning-rate schedules, weight decay, augmentation and repeatability.
@Suite struct TrainingOptionsTests {
    @Test func schedules() {
        #expect(LearningRateSchedule.constant.factor(epoch: 7, step: 3, steps: 10) == 1)
        let step = LearningRateSchedule.step(every: 2, factor: 0.5)
        #expect([1, 2, 3, 4, 5].map { step.factor(epoch: $0, step: 0, steps: 10) } == [1, 1, 0.5, 0.5, 0.25])
        let cosine = LearningRateSchedule.cosine(epochs: 4)
        #expect(cosine.factor(epoch: 1, step: 0, steps: 10) == 1)
        #expect(abs(cosine.factor(epoch: 3, step: 0, steps: 10) - 0.5) < 1e-6)
        #expect(abs(cosine.factor(epoch: 4, step: 9, steps: 10)) < 0.01)
    }

    /// With a zero gradient, SGD with weight decay shrinks each kernel by `lr * decay` and leaves biases.
    @Test func weightDecayShrinksKernelsOnly() {
        let kernel = Parameter(shape: [2, 2], value: [1, -2, 3, -4])
        let bias = Parameter(shape: [2], value: [1, 1])
        OptimizerState(.sgd(learningRate: 0.1, momentum: 0)).step([kernel, bias], weightDecay: 0.5)
        #expect(zip(kernel.value, [0.95, -1.9, 2.85, -3.8]).allSatisfy { abs($0 - Float($1)) < 1e-6 })
        #expect(bias.value == [1, 1])
    }

    func train(_ augmentation: Augmentation, seed: UInt64, threads: Int = 1) throws -> [Float] {
        let network = try Network(try Architecture(json: TrainingTests.architecture), seed: seed)
        let trainer = try Trainer(
            network: network, optimizer: .adam(learningRate: 0.01), batchSize: 32, seed: seed, threads: threads)
        trainer.augmentation = augmentation
        trainer.schedule = .cosine(epochs: 2)
        let data = TrainingTests.strokes(count: 96, seed: 1)
        for epoch in 1...2 { _ = try trainer.trainEpoch(data, epoch: epoch) }
        return network.parameters.flatMap(\.value)
    }

    @Test func augmentedRunsRepeatExactlyAndDifferFromPlainOnes() throws {
        let augmented = Augmentation(shift: 2, flip: true)
        let first = try train(augmented, seed: 3)
        #expect(try train(augmented, seed: 3) == first)
        #expect(try train(Augmentation(), seed: 3) != first)
        #expect(try train(augmented, seed: 4) != first)
        #expect(try train(augmented, seed: 3, threads: 2) != [])
    }

    /// Shifted and mirrored inputs are the image moved, with black (pixel 0) where nothing was.
    @Test func augmentationMovesThePixels() throws {
        let network = try Network(try Architecture(json: TrainingTests.architecture), seed: 1)
        let trainer = try Trainer(network: network, optimizer: .adam(learningRate: 0.01), batchSize: 1, seed: 1)
        var data = TrainingTests.strokes(count: 1, seed: 9)
        data.pixels = (0..<144).map { UInt8($0) }
        let workspace = Trainer.Workspace()
        trainer.setTransforms([(dy: 1, dx: -2, flip: true)], start: 0)
        trainer.prepareInputs(data, [0][...], into: workspace, training: true)
        for y in 0..<12 {
            for x in 0..<12 {
                let (sy, sx) = (y - 1, 11 - x + 2)
                let pixel = sy >= 0 && sy < 12 && sx < 12 ? Float(sy * 12 + sx) : 0
                #expect(workspace.input[y * 12 + x] == network.architecture.preprocessing.apply(pixel, channel: 0))
            }
        }
    }
}
