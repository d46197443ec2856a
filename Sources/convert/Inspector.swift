import Cnnz
import CnnzConvert
import Foundation

/// Renders the `--inspect` table, in the manner of Keras's `model.summary()`.
enum Inspector {
    static func summary(of model: Model, fileBytes: [UInt8]) -> String {
        let rows = model.layerSummaries
        var table: [[String]] = [["#", "Layer", "Activation", "Inputs", "Output shape", "Params", "MACs", "Precision"]]
        for row in rows {
            let name =
                row.layer.name.isEmpty ? row.layer.kind.className : "\(row.layer.kind.className) \"\(row.layer.name)\""
            let inputs = row.layer.inputs.map { $0 == 0 ? "input" : "\($0 - 1)" }.joined(separator: ",")
            table.append([
                "\(row.index)", name, row.layer.activation.name, inputs, "[\(row.outputShape)]",
                grouped(row.parameters), grouped(row.macs), row.precision,
            ])
        }
        let widths = (0..<table[0].count).map { column in table.map { $0[column].count }.max()! }
        let rightAligned: Set<Int> = [0, 5, 6]
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingSuffixSpaces()
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        var lines: [String] = []
        let name = model.name.isEmpty ? "(unnamed)" : model.name
        lines.append("Model: \(name)")
        lines.append(
            "Input: [\(model.inputShape)]  Outputs: \(model.outputSize)  Labels: \(model.labels.isEmpty ? "none" : "\(model.labels.count)")"
        )
        let p = model.preprocessing
        lines.append("Preprocess: x = (pixel * \(p.scale) - mean \(p.mean)) / std \(p.std)")
        lines.append(rule)
        lines.append(render(table[0]))
        lines.append(rule)
        for cells in table.dropFirst() { lines.append(render(cells)) }
        lines.append(rule)
        let parameters = rows.reduce(0) { $0 + $1.parameters }
        lines.append("Total params: \(grouped(parameters)) (\(byteString(parameters * 4)) as float32)")
        lines.append("Total MACs per image: \(grouped(rows.reduce(0) { $0 + $1.macs }))")
        lines.append(
            "Activation memory per image: \(byteString(model.activationBytesPerImage)) (after lifetime planning)")
        if let info = ModelReader.headerInfo(fileBytes) {
            let ratio = Double(info.payloadBytes) / Double(max(fileBytes.count, 1))
            lines.append(
                "File: \(byteString(fileBytes.count)), format version \(info.version), payload \(byteString(info.payloadBytes)), compression ratio \(String(format1: ratio)):1"
            )
        }
        lines.append("Self-test: \(model.contents.selfTest == nil ? "none" : "stored (infer --selftest runs it)")")
        if model.precision != .float32 {
            lines.append("Precision: \(model.precision.rawValue)")
            lines += quantization(of: model, rows: rows)
        }
        return lines.joined(separator: "\n")
    }

    /// The int8 details: per layer, the weight scales and each output's scale,
    /// zero point and the real range int8 covers; layers that run in float say so.
    static func quantization(of model: Model, rows: [LayerSummary]) -> [String] {
        var table: [[String]] = [["#", "Layer", "Precision", "Weight scales", "Output scale", "Zero point", "Range"]]
        let input = model.contents.activationQuantization.first ?? nil
        if let q = input {
            table.append(["", "input", "int8", "", short(q.scale), "\(q.zeroPoint)", range(q)])
        }
        for row in rows {
            let scales = row.layer.weights.first.flatMap { model.contents.tensors[$0].quantization?.scales } ?? []
            let weights =
                scales.isEmpty
                ? ""
                : scales.count == 1
                    ? short(scales[0]) : "\(short(scales.min()!))..\(short(scales.max()!)) (\(scales.count))"
            var cells = ["\(row.index)", row.layer.kind.className, row.precision, weights]
            if let q = row.outputQuantization {
                cells += [short(q.scale), "\(q.zeroPoint)", range(q)]
                if q.preActivationScale != q.scale || q.preActivationZeroPoint != q.zeroPoint {
                    cells[6] += " (sums: \(range(q.preActivation)))"
                }
            } else {
                cells += ["float32", "", ""]
            }
            table.append(cells)
        }
        let widths = (0..<table[0].count).map { column in table.map { $0[column].count }.max()! }
        var lines = ["Quantization (real = scale x (q - zero point)):"]
        for cells in table {
            lines.append(
                cells.enumerated().map { i, cell in cell + String(repeating: " ", count: widths[i] - cell.count) }
                    .joined(separator: "  ").trimmingSuffixSpaces())
        }
        let fallbacks = rows.filter { $0.precision.hasSuffix("(fallback)") }
        if model.precision == .int8 {
            lines.append(
                fallbacks.isEmpty
                    ? "Every layer runs in int8."
                    : "Run in float32 between a dequantize and a quantize (no int8 kernel): "
                        + fallbacks.map { "\($0.index) (\($0.layer.kind.className))" }.joined(separator: ", "))
        }
        return lines
    }

    private static func short(_ value: Float) -> String {
        String(format: "%.4g", Double(value))
    }

    private static func range(_ q: ActivationQuantization) -> String {
        "[\(short(q.scale * Float(-128 - q.zeroPoint))), \(short(q.scale * Float(127 - q.zeroPoint)))]"
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value)
        var result = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { result.append(",") }
            result.append(ch)
        }
        return result
    }

    /// Every size in the summary is in bytes, digits grouped as the counts are ("1,372 bytes"),
    /// so that sizes side by side compare at a glance; large ones add their MiB.
    static func byteString(_ bytes: Int) -> String {
        let exact = "\(grouped(bytes)) bytes"
        guard bytes >= 1024 * 1024 else { return exact }
        return "\(exact), \(String(format1: Double(bytes) / (1024 * 1024))) MiB"
    }
}

extension String {
    init(format1 value: Double) {
        let scaled = (value * 10).rounded()
        self = "\(Int(scaled) / 10).\(Int(scaled) % 10)"
    }

    func trimmingSuffixSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
