import Foundation

/// One row of `history.csv`.
public struct HistoryRow: Sendable {
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double
    public var imagesPerSecond: Double

    public init(
        epoch: Int, loss: Double, accuracy: Double, validationLoss: Double?, validationAccuracy: Double?,
        learningRate: Double, seconds: Double, imagesPerSecond: Double
    ) {
        self.epoch = epoch
        self.loss = loss
        self.accuracy = accuracy
        self.validationLoss = validationLoss
        self.validationAccuracy = validationAccuracy
        self.learningRate = learningRate
        self.seconds = seconds
        self.imagesPerSecond = imagesPerSecond
    }

    public static let csvHeader = "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second"

    public var csvLine: String {
        func f(_ v: Double?, _ digits: Int) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "" }
        return
            "\(epoch),\(f(loss, 6)),\(f(accuracy, 6)),\(f(validationLoss, 6)),\(f(validationAccuracy, 6)),\(String(format: "%g", learningRate)),\(f(seconds, 3)),\(f(imagesPerSecond, 1))"
    }
}

/// A self-contained SVG: loss and accuracy per epoch (training and
/// validation), and the test set's confusion matrix with the class names.
public enum TrainingReport {
    public static func svg(
        title: String, history: [HistoryRow], test: (accuracy: Double, confusion: [[Int]])?, classNames: [String]
    ) -> String {
        let chartWidth = 420.0
        let chartHeight = 260.0
        var body = ""
        body += text(20, 30, escape(title), size: 18, weight: "bold")
        var subtitle = history.count == 1 ? "1 epoch" : "\(history.count) epochs"
        if let last = history.last {
            subtitle += String(format: "; last epoch: loss %.4f, accuracy %.2f %%", last.loss, last.accuracy * 100)
            if let v = last.validationAccuracy { subtitle += String(format: ", validation %.2f %%", v * 100) }
        }
        if let test { subtitle += String(format: "; test accuracy %.2f %%", test.accuracy * 100) }
        body += text(20, 52, escape(subtitle), size: 13)
        let epochs = history.map { Double($0.epoch) }
        body += chart(
            x: 40, y: 80, width: chartWidth, height: chartHeight, title: "Loss", epochs: epochs,
            series: [
                ("training", "#1f77b4", history.map { $0.loss }),
                ("validation", "#ff7f0e", history.compactMap { $0.validationLoss }),
            ], percent: false)
        body += chart(
            x: 40 + chartWidth + 60, y: 80, width: chartWidth, height: chartHeight, title: "Accuracy", epochs: epochs,
            series: [
                ("training", "#1f77b4", history.map { $0.accuracy }),
                ("validation", "#ff7f0e", history.compactMap { $0.validationAccuracy }),
            ], percent: true)
        var height = 80 + chartHeight + 60
        if let test, !test.confusion.isEmpty {
            let (matrix, used) = confusion(test.confusion, names: classNames, x: 40, y: height + 20)
            body += matrix
            height += 20 + used
        }
        let width = 40 + 2 * chartWidth + 60 + 40
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height + 20))" \
            viewBox="0 0 \(Int(width)) \(Int(height + 20))" font-family="sans-serif">
            <rect width="100%" height="100%" fill="white"/>
            \(body)</svg>

            """
    }

    static func chart(
        x: Double, y: Double, width: Double, height: Double, title: String, epochs: [Double],
        series: [(String, String, [Double])], percent: Bool
    ) -> String {
        var out = text(x, y - 8, title, size: 14, weight: "bold")
        out += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#999\"/>\n"
        let values = series.flatMap { $0.2 }.filter { $0.isFinite }
        guard let low = values.min(), let high = values.max(), let lastEpoch = epochs.last,
            let firstEpoch = epochs.first
        else { return out }
        let span = max(high - low, 1e-9)
        let (bottom, top) = (low - 0.05 * span, high + 0.05 * span)
        let epochSpan = max(lastEpoch - firstEpoch, 1)
        func px(_ e: Double) -> Double { x + (e - firstEpoch) / epochSpan * width }
        func py(_ v: Double) -> Double { y + height - (v - bottom) / (top - bottom) * height }
        for i in 0...4 {
            let v = bottom + (top - bottom) * Double(i) / 4
            let label = percent ? String(format: "%.1f %%", v * 100) : String(format: "%.3f", v)
            out += "<line x1=\"\(x)\" y1=\"\(py(v))\" x2=\"\(x + width)\" y2=\"\(py(v))\" stroke=\"#eee\"/>\n"
            out += text(x + width + 4, py(v) + 4, label, size: 10)
        }
        for e in epochs { out += text(px(e) - 3, y + height + 14, String(Int(e)), size: 10) }
        out += text(x + width / 2 - 15, y + height + 30, "epoch", size: 11)
        for (index, (name, color, points)) in series.enumerated() where !points.isEmpty {
            let coordinates = zip(epochs, points).map { "\(px($0)),\(py($1))" }.joined(separator: " ")
            out += "<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for (e, v) in zip(epochs, points) {
                out += "<circle cx=\"\(px(e))\" cy=\"\(py(v))\" r=\"3\" fill=\"\(color)\"/>\n"
            }
            out +=
                "<rect x=\"\(x + 10)\" y=\"\(y + 10 + Double(index) * 16)\" width=\"10\" height=\"10\" fill=\"\(color)\"/>\n"
            out += text(x + 25, y + 19 + Double(index) * 16, name, size: 11)
        }
        return out
    }

    /// The matrix as coloured cells (rows: true class, columns: predicted) and the height it uses.
    static func confusion(_ matrix: [[Int]], names: [String], x: Double, y: Double) -> (String, Double) {
        let n = matrix.count
        let cell = min(44.0, 600.0 / Double(max(n, 1)))
        let labelWidth = 110.0
        var out = text(
            x, y, "Test set: confusion matrix (rows: true class, columns: predicted)", size: 14, weight: "bold")
        let top = y + 100
        let left = x + labelWidth
        let name = { (i: Int) in i < names.count ? names[i] : String(i) }
        for i in 0..<n {
            out += text(x, top + Double(i) * cell + cell / 2 + 4, escape(name(i)), size: 11)
            let cx = left + Double(i) * cell + cell / 2
            out +=
                "<text x=\"\(cx)\" y=\"\(top - 6)\" font-size=\"11\" transform=\"rotate(-45 \(cx) \(top - 6))\">\(escape(name(i)))</text>\n"
        }
        for (i, row) in matrix.enumerated() {
            let total = max(row.reduce(0, +), 1)
            for (j, count) in row.enumerated() {
                let share = Double(count) / Double(total)
                let shade = Int(255 - share * 200)
                let color = i == j ? "rgb(\(shade),\(shade),255)" : "rgb(255,\(shade),\(shade))"
                let (cx, cy) = (left + Double(j) * cell, top + Double(i) * cell)
                out +=
                    "<rect x=\"\(cx)\" y=\"\(cy)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"\(color)\" stroke=\"#ccc\"/>\n"
                out += text(cx + 3, cy + cell / 2 + 4, String(count), size: 10)
            }
        }
        return (out, 100 + Double(n) * cell + 10)
    }

    static func text(_ x: Double, _ y: Double, _ content: String, size: Int, weight: String = "normal") -> String {
        "<text x=\"\(x)\" y=\"\(y)\" font-size=\"\(size)\" font-weight=\"\(weight)\">\(content)</text>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
