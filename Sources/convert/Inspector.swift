import Cnnz
import CnnzConvert

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
        return lines.joined(separator: "\n")
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
