import ArgumentParser
import Cnnz
import CnnzTrain
import Foundation

@main
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a CNN on IDX image data (MNIST, Fashion-MNIST) and write it as a model.json.",
        discussion: """
            The architecture is a model.json whose layers may leave out "weights" (they are then \
            initialized as Keras does). The result is a model.json with the trained weights; \
            `convert` turns it into a .cnnz. Trains Conv2D, Dense, MaxPooling2D, Flatten, Dropout, \
            ReLU and a final softmax with categorical cross-entropy.
            """)

    @Option(
        help: "A folder with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (and t10k-* for a test).")
    var data: String

    @Option(help: "The architecture: a model.json (docs/model-json.md); weights may be left out.")
    var arch: String

    @Option(help: "Passes over the training data.")
    var epochs = 1

    @Option(help: "Images per mini-batch.")
    var batch = 64

    @Option(help: "sgd (with momentum) or adam.")
    var optimizer = "adam"

    @Option(help: "The learning rate.")
    var lr: Float = 1e-3

    @Option(help: "SGD's momentum.")
    var momentum: Float = 0.9

    @Option(help: "Seeds the initialization, the shuffling and dropout: equal seeds repeat a run exactly.")
    var seed: UInt64 = 1

    @Option(help: "Threads: each mini-batch is split across them (default: one per core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Train on the first N training images only.")
    var limit: Int?

    @Option(
        help: "Hold out this fraction of the training images (the last ones, as Keras does) to validate every epoch.")
    var validationSplit: Double = 0

    @Option(name: .shortAndLong, help: "Where to write the trained model.json.")
    var out: String

    @Option(help: "Where to write the per-epoch history as CSV (default: history.csv beside --out).")
    var history: String?

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batch >= 1, batch <= 65536 else { throw ValidationError("--batch must be in 1...65536") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number") }
        guard momentum >= 0, momentum < 1 else { throw ValidationError("--momentum must be in [0, 1)") }
        guard ["sgd", "adam"].contains(optimizer) else { throw ValidationError("--optimizer must be sgd or adam") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be in 1...256") }
        guard validationSplit >= 0, validationSplit < 1 else {
            throw ValidationError("--validation-split must be in [0, 1)")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        // Everything is checked before training starts: the architecture, the data, the output path.
        guard let archBytes = FileManager.default.contents(atPath: arch) else {
            throw CnnzError.io("\(arch): cannot read")
        }
        let architecture = try Architecture(json: [UInt8](archBytes))
        var (train, test) = try IDXDataset.loadFolder(data)
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
        try trainer.check(train)
        if let test { try trainer.check(test) }
        let temporary = out + ".partial"
        let historyPath =
            history ?? ((out as NSString).deletingLastPathComponent as NSString).appendingPathComponent("history.csv")
        for path in [temporary, historyPath] where !FileManager.default.createFile(atPath: path, contents: nil) {
            throw CnnzError.io("\(path): cannot write there")
        }
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        var csv = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_second\n"

        let parameterCount = network.parameters.reduce(0) { $0 + $1.value.count }
        print(
            "train: \(train.count) images \(train.height)x\(train.width)x\(train.channels), \(train.classCount) classes; \(parameterCount) parameters; \(optimizer), lr \(lr), batch \(batch), seed \(seed)"
        )
        for epoch in 1...epochs {
            let report = try trainer.trainEpoch(train, epoch: epoch)
            var line =
                "epoch \(epoch)/\(epochs): loss \(format(report.loss, 4)), accuracy \(format(report.accuracy * 100, 2)) %"
            var validationColumns = ","
            if let validation {
                let (loss, accuracy) = try trainer.evaluate(validation)
                line += "; validation loss \(format(loss, 4)), accuracy \(format(accuracy * 100, 2)) %"
                validationColumns = "\(format(loss, 6)),\(format(accuracy, 6))"
            }
            print(line + "; \(Int(report.imagesPerSecond.rounded())) images/s, \(format(report.seconds, 1)) s")
            csv +=
                "\(epoch),\(format(report.loss, 6)),\(format(report.accuracy, 6)),\(validationColumns),\(format(report.seconds, 3)),\(format(report.imagesPerSecond, 1))\n"
            do {
                try Data(csv.utf8).write(to: URL(fileURLWithPath: historyPath), options: .atomic)
            } catch {
                throw CnnzError.io("\(historyPath): cannot write (\(error.localizedDescription))")
            }
        }
        if let test {
            let (loss, accuracy) = try trainer.evaluate(test)
            print("test: loss \(format(loss, 4)), accuracy \(format(accuracy * 100, 2)) % on \(test.count) images")
        }
        let labels = architecture.labels.isEmpty ? train.classNames : architecture.labels
        let bytes = network.modelJSON(labels: labels.count == network.classes ? labels : [])
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
            if FileManager.default.fileExists(atPath: out) { try FileManager.default.removeItem(atPath: out) }
            try FileManager.default.moveItem(atPath: temporary, toPath: out)
        } catch {
            throw CnnzError.io("\(out): cannot write (\(error.localizedDescription))")
        }
        print("wrote \(out); `convert \(out) -o model.cnnz` makes the .cnnz")
    }

    static func main() { mainReportingErrors() }
}

/// `value` with `digits` decimals.
func format(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
