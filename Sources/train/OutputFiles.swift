import Cnnz
import CnnzTrain
import Foundation

/// The files a run writes: the model.json and .cnnz (each written whole, to a
/// temporary file renamed into place), history.csv after every epoch, report.svg.
/// Every path is checked to be writable before training starts.
struct OutputFiles {
    let out: String
    let cnnz: String
    let history: String
    let report: String
    let partial: String

    init(out: String, history: String?, report: String?) throws(CnnzError) {
        self.out = out
        let folder = (out as NSString).deletingLastPathComponent
        cnnz = (out as NSString).deletingPathExtension + ".cnnz"
        self.history = history ?? (folder as NSString).appendingPathComponent("history.csv")
        self.report = report ?? (folder as NSString).appendingPathComponent("report.svg")
        partial = out + ".partial"
        guard cnnz != out else { throw .argument("--out must not end in .cnnz (the .cnnz is written beside it)") }
        for path in [partial, cnnz + ".partial", self.report + ".partial"] {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw .io("\(path): cannot write there")
            }
        }
        if !FileManager.default.fileExists(atPath: self.history) {
            guard FileManager.default.createFile(atPath: self.history + ".partial", contents: nil) else {
                throw .io("\(self.history): cannot write there")
            }
            try? FileManager.default.removeItem(atPath: self.history + ".partial")
        }
    }

    func removePartial() {
        for path in [partial, cnnz + ".partial", report + ".partial", history + ".partial"] {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// The rows of an existing history.csv up to `epoch` (a resumed run continues it).
    func previousHistory(upTo epoch: Int) -> [HistoryRow] {
        guard let text = try? String(contentsOfFile: history, encoding: .utf8) else { return [] }
        var rows: [HistoryRow] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 8, let e = Int(f[0]), e <= epoch, let loss = Double(f[1]), let accuracy = Double(f[2])
            else { continue }
            rows.append(
                HistoryRow(
                    epoch: e, loss: loss, accuracy: accuracy, validationLoss: Double(f[3]),
                    validationAccuracy: Double(f[4]), learningRate: Double(f[5]) ?? 0, seconds: Double(f[6]) ?? 0,
                    imagesPerSecond: Double(f[7]) ?? 0))
        }
        return rows
    }

    func writeHistory(_ rows: [HistoryRow]) throws(CnnzError) {
        let csv = ([HistoryRow.csvHeader] + rows.map(\.csvLine)).joined(separator: "\n") + "\n"
        try write(Data(csv.utf8), to: history)
    }

    func writeReport(_ svg: String) throws(CnnzError) { try write(Data(svg.utf8), to: report) }

    /// Writes the model.json and converts it to the .cnnz (which checks it once more).
    func writeModel(_ json: [UInt8]) throws(CnnzError) {
        let cnnzBytes = try ModelExport.cnnz(fromModelJSON: json)
        try write(Data(json), to: out)
        try write(Data(cnnzBytes), to: cnnz)
    }

    private func write(_ data: Data, to path: String) throws(CnnzError) {
        let temporary = path + ".partial"
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw .io("\(path): cannot write (\(error.localizedDescription))")
        }
    }
}

/// A one-line progress bar on stderr, redrawn at most five times a second, only when stderr is a terminal.
final class ProgressBar {
    private let enabled = isatty(STDERR_FILENO) != 0
    private var lastDraw = -1.0
    private var drawn = false

    func show(epoch: Int, of epochs: Int, _ p: EpochProgress) {
        guard enabled, p.seconds - lastDraw >= 0.2 || p.done == p.total else { return }
        lastDraw = p.seconds
        let width = 30
        let filled = p.total > 0 ? width * p.done / p.total : width
        let rate = p.seconds > 0 ? Double(p.done) / p.seconds : 0
        let left = rate > 0 ? Double(p.total - p.done) / rate : 0
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let text =
            "\repoch \(epoch)/\(epochs) [\(bar)] \(p.done)/\(p.total) loss \(format(p.loss, 4)) accuracy \(format(p.accuracy * 100, 2)) % \(Int(rate)) images/s, \(Int(left.rounded())) s left \u{1B}[K"
        FileHandle.standardError.write(Data(text.utf8))
        drawn = true
    }

    func clear() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
        lastDraw = -1
    }
}
