import ArgumentParser
import Cnnz
import CnnzTrain
import Foundation

@main
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract:
            "Train a CNN on images (IDX files or a folder of class folders) and write it as model.json and .cnnz.",
        discussion: """
            The architecture is a model.json whose layers may leave out "weights" (they are then \
            initialized as Keras does; given weights are the starting point). Trains Conv2D, Dense, \
            BatchNormalization, MaxPooling2D, Flatten, Dropout, ReLU and a final softmax with \
            categorical cross-entropy. Writes the trained model.json, the .cnnz beside it, \
            history.csv and report.svg (loss and accuracy curves, test confusion matrix).
            """)

    @Option(
        help: """
            IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-* as the test set), \
            or a folder with one sub-folder of images per class (a test/ folder of the same layout is the test set).
            """)
    var data: String

    @Option(help: "The architecture: a model.json (docs/model-json.md); weights may be left out.")
    var arch: String?

    @Option(help: "Continue a run: the model.json it wrote (weights and epochs done); --epochs is the total.")
    var resume: String?

    @Option(help: "Passes over the training data (in all, counting those of a resumed run).")
    var epochs = 1

    @Option(help: "Images per mini-batch.")
    var batch = 64

    @Option(help: "sgd (with momentum) or adam.")
    var optimizer = "adam"

    @Option(help: "The learning rate.")
    var lr: Float = 1e-3

    @Option(help: "constant, step (times --lr-step-factor every --lr-step-epochs) or cosine (to 0 at the last epoch).")
    var lrSchedule = "constant"

    @Option(help: "The step schedule's period, in epochs.")
    var lrStepEpochs = 5

    @Option(help: "The step schedule's factor.")
    var lrStepFactor: Float = 0.5

    @Option(help: "SGD's momentum.")
    var momentum: Float = 0.9

    @Option(help: "L2 regularization of the kernels: adds weight-decay * w to their gradients.")
    var weightDecay: Float = 0

    @Option(help: "Augmentation: shift each training image by up to N pixels each way (the edge filled black).")
    var shift = 0

    @Flag(help: "Augmentation: mirror half the training images left to right.")
    var flip = false

    @Option(help: "Seeds the initialization, shuffling, dropout and augmentation: equal seeds repeat a run exactly.")
    var seed: UInt64 = 1

    @Option(
        help:
            "Threads: they share each mini-batch, cut into max(4, threads) slices (default: one per core; 1 to 4 threads give the same weights)."
    )
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Flag(
        help: "Print where the training steps' CPU time went: each layer's forward and backward passes, and the rest.")
    var profile = false

    @Option(help: "Train on the first N training images only.")
    var limit: Int?

    @Option(
        help: """
            Hold out this fraction of the training images (the last ones, as Keras does) to validate every epoch; \
            the epoch with the best validation accuracy is the one written.
            """)
    var validationSplit: Double = 0

    @Option(help: "Early stopping: stop after N epochs without a better validation accuracy.")
    var patience: Int?

    @Option(name: .shortAndLong, help: "Where to write the trained model.json (the .cnnz goes beside it).")
    var out: String

    @Option(help: "Where to write the per-epoch history as CSV (default: history.csv beside --out).")
    var history: String?

    @Option(help: "Where to write the SVG report (default: report.svg beside --out).")
    var report: String?

    func validate() throws {
        guard epochs >= 1, epochs <= 100_000 else { throw ValidationError("--epochs must be in 1...100000") }
        guard batch >= 1, batch <= 65536 else { throw ValidationError("--batch must be in 1...65536") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number") }
        guard momentum >= 0, momentum < 1 else { throw ValidationError("--momentum must be in [0, 1)") }
        guard ["sgd", "adam"].contains(optimizer) else { throw ValidationError("--optimizer must be sgd or adam") }
        guard ["constant", "step", "cosine"].contains(lrSchedule) else {
            throw ValidationError("--lr-schedule must be constant, step or cosine")
        }
        guard lrStepEpochs >= 1 else { throw ValidationError("--lr-step-epochs must be at least 1") }
        guard lrStepFactor > 0, lrStepFactor <= 1 else { throw ValidationError("--lr-step-factor must be in (0, 1]") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw ValidationError("--weight-decay must be >= 0") }
        guard shift >= 0, shift <= 64 else { throw ValidationError("--shift must be in 0...64") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be in 1...256") }
        guard validationSplit >= 0, validationSplit < 1 else {
            throw ValidationError("--validation-split must be in [0, 1)")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if let patience, patience < 1 { throw ValidationError("--patience must be at least 1") }
        if patience != nil, validationSplit == 0 { throw ValidationError("--patience needs --validation-split") }
        guard (arch == nil) != (resume == nil) else { throw ValidationError("give --arch or --resume (one of them)") }
    }

    func run() throws {
        // Everything is checked before training starts: the architecture, the data, the output paths.
        let architecturePath = arch ?? resume!
        guard let archBytes = FileManager.default.contents(atPath: architecturePath) else {
            throw CnnzError.io("\(architecturePath): cannot read")
        }
        let architecture = try Architecture(json: [UInt8](archBytes))
        var epochsDone = 0
        if resume != nil {
            epochsDone = architecture.epochsDone
            guard epochsDone < epochs else {
                throw CnnzError.argument(
                    "\(architecturePath) has been trained for \(epochsDone) epochs already; give a larger --epochs")
            }
        }
        var (train, test) = try loadData(architecture)
        if let limit, limit < train.count { train = train.subset(0..<limit) }
        var validation: ImageDataset?
        let held = Int((Double(train.count) * validationSplit).rounded())
        if held > 0 {
            guard held < train.count else { throw CnnzError.argument("--validation-split leaves no training images") }
            validation = train.subset((train.count - held)..<train.count)
            train = train.subset(0..<(train.count - held))
        }
        let network = try Network(architecture, seed: seed)
        let method: Optimizer =
            optimizer == "sgd" ? .sgd(learningRate: lr, momentum: momentum) : .adam(learningRate: lr)
        let trainer = try Trainer(network: network, optimizer: method, batchSize: batch, seed: seed, threads: threads)
        trainer.schedule =
            switch lrSchedule {
            case "step": .step(every: lrStepEpochs, factor: lrStepFactor)
            case "cosine": .cosine(epochs: epochs)
            default: .constant
            }
        trainer.weightDecay = weightDecay
        trainer.profiling = profile
        trainer.augmentation = Augmentation(shift: shift, flip: flip)
        try trainer.check(train)
        if let test { try trainer.check(test) }
        let outputs = try OutputFiles(out: out, history: history, report: report)
        defer { outputs.removePartial() }

        let parameterCount = network.parameters.reduce(0) { $0 + ($1.trainable ? $1.value.count : 0) }
        print(
            "train: \(train.count) images \(train.height)x\(train.width)x\(train.channels), \(train.classCount) classes; \(parameterCount) parameters; \(optimizer), lr \(lr), batch \(batch), seed \(seed)"
        )
        fflush(nil)  // all streams: stdout is not Sendable under Swift 6
        var rows: [HistoryRow] = resume != nil ? outputs.previousHistory(upTo: epochsDone) : []
        var best: (epoch: Int, accuracy: Double, values: [[Float]])?
        var lastEpoch = epochsDone
        let bar = ProgressBar()
        for epoch in (epochsDone + 1)...epochs {
            let cpuBefore = processorSeconds()
            let report = try trainer.trainEpoch(train, epoch: epoch) { bar.show(epoch: epoch, of: epochs, $0) }
            let cpu = processorSeconds() - cpuBefore
            bar.clear()
            lastEpoch = epoch
            var line =
                "epoch \(epoch)/\(epochs): loss \(format(report.loss, 4)), accuracy \(format(report.accuracy * 100, 2)) %"
            var row = HistoryRow(
                epoch: epoch, loss: report.loss, accuracy: report.accuracy, validationLoss: nil,
                validationAccuracy: nil,
                learningRate: Double(lr * trainer.schedule.factor(epoch: epoch, step: 0, steps: 1)),
                seconds: report.seconds, imagesPerSecond: report.imagesPerSecond)
            if let validation {
                let (loss, accuracy) = try trainer.evaluate(validation)
                line += "; validation loss \(format(loss, 4)), accuracy \(format(accuracy * 100, 2)) %"
                (row.validationLoss, row.validationAccuracy) = (loss, accuracy)
                if accuracy > best?.accuracy ?? -1 {
                    best = (epoch, accuracy, network.parameters.map(\.value))
                }
            }
            print(
                line
                    + "; \(Int(report.imagesPerSecond.rounded())) images/s, \(format(report.seconds, 1)) s (CPU \(format(cpu, 1)) s)"
            )
            fflush(nil)  // all streams: stdout is not Sendable under Swift 6
            rows.append(row)
            try outputs.writeHistory(rows)
            if let patience, let best, epoch - best.epoch >= patience {
                print("early stop: no better validation accuracy for \(patience) epochs")
                break
            }
        }
        if profile { printProfile(trainer.profile()) }
        var kept = ""
        if let best {
            for (p, v) in zip(network.parameters, best.values) { p.value = v }
            kept = " (epoch \(best.epoch), the best validation accuracy: \(format(best.accuracy * 100, 2)) %)"
        }
        var testResult: (accuracy: Double, confusion: [[Int]])?
        if let test {
            let (loss, accuracy, confusion) = try trainer.evaluateWithConfusion(test)
            print("test: loss \(format(loss, 4)), accuracy \(format(accuracy * 100, 2)) % on \(test.count) images")
            testResult = (accuracy, confusion)
        }
        let labels = architecture.labels.isEmpty ? train.classNames : architecture.labels
        let usedLabels = labels.count == network.classes ? labels : []
        let bytes = network.modelJSON(
            labels: usedLabels, training: ["epochs": lastEpoch, "best_epoch": best?.epoch ?? lastEpoch])
        try outputs.writeReport(
            TrainingReport.svg(
                title: "\(architecture.name.isEmpty ? "cnnz train" : architecture.name): \(out)", history: rows,
                test: testResult, classNames: usedLabels))
        try outputs.writeModel(bytes)
        print("wrote \(out) and \(outputs.cnnz)\(kept)")
    }

    /// IDX files when the folder has them, class folders otherwise.
    func loadData(_ architecture: Architecture) throws(CnnzError) -> (ImageDataset, ImageDataset?) {
        if IDXDataset.isIDXFolder(data) { return try IDXDataset.loadFolder(data) }
        let shape = architecture.inputShape
        return try FolderDataset.loadFolder(data, height: shape.height, width: shape.width, channels: shape.channels)
    }

    static func main() { mainReportingErrors() }
}

/// The CPU time (user and system, every thread) this process has used, in seconds: on a shared
/// machine a steadier measure of the work an epoch takes than its wall time.
func processorSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// The `--profile` table: CPU seconds per part of the training steps, and each part's share.
func printProfile(_ rows: [(part: String, forward: Double, backward: Double)]) {
    let total = rows.reduce(0) { $0 + $1.forward + $1.backward }
    let width = rows.map(\.part.count).max() ?? 0
    func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(n - s.count, 0)) + s }
    print("profile (CPU seconds of the training steps, every thread):")
    print("  " + "part".padding(toLength: width, withPad: " ", startingAt: 0) + "  forward  backward   share")
    for row in rows {
        let share = total > 0 ? (row.forward + row.backward) / total * 100 : 0
        print(
            "  " + row.part.padding(toLength: width, withPad: " ", startingAt: 0) + pad(format(row.forward, 2), 9)
                + pad(row.backward > 0 ? format(row.backward, 2) : "", 10) + pad(format(share, 1) + " %", 8))
    }
    print("  " + "total".padding(toLength: width, withPad: " ", startingAt: 0) + pad(format(total, 2), 9))
}

/// `value` with `digits` decimals.
func format(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
