import Cnnz
import Foundation

extension InferCommand {
    /// Runs used by `--profile` when `--bench` does not say.
    static let defaultProfileRuns = 100

    /// Times each layer over `runs` passes of one batch (the given images, repeated as needed) after
    /// a short warm-up, and prints a row per layer in execution order: the median time, its share of
    /// the layers' total, the running total of shares, the multiply-adds and the achieved GFLOP/s
    /// (two operations per multiply-add), in the manner of TFLite's `benchmark_model
    /// --enable_op_profiling`. Then the slowest layers, to say where to look first.
    func profile(_ model: Model, runs: Int, batch: Int, threads: Int) throws {
        var input: [Float] = []
        input.reserveCapacity(batch * model.inputShape.elementCount)
        var prepared: [[Float]] = []
        for path in images.prefix(batch) { prepared.append(model.prepare(try ImageReader.read(path: path)).input) }
        for i in 0..<batch { input += prepared[i % prepared.count] }
        let session = try model.makeSession(batchCapacity: batch, threads: threads)
        let warmup = min(runs, 10)
        let profile = try input.withUnsafeBufferPointer { i throws(CnnzError) in
            try session.profile(input: i, batch: batch, runs: runs, warmup: warmup)
        }
        print(Self.render(profile, model: model, warmup: warmup))
    }

    static func render(_ profile: Profile, model: Model, warmup: Int) -> String {
        let summaries = model.layerSummaries
        let total = profile.layers.reduce(0) { $0 + $1.seconds }
        func share(_ seconds: Double) -> String { String(format: "%.1f %%", total > 0 ? seconds / total * 100 : 0) }
        func gflops(macs: Int, seconds: Double) -> String {
            macs == 0 || seconds <= 0 ? "-" : String(format: "%.2f", 2 * Double(macs * profile.batch) / seconds / 1e9)
        }
        // With helpers, where a split layer's time goes besides its share of the work: the
        // caller's wait for the helpers' parts, and how many of them the helpers ran.
        let threaded = profile.threadCount > 1
        var table = [
            ["#", "Layer", "Activation", "Output shape", "Time (ms)", "Share", "Cumulative", "MACs", "GFLOP/s"]
                + (threaded ? ["Parts", "Wait (ms)", "By helpers"] : [])
        ]
        var cumulative = 0.0
        for layer in profile.layers {
            let summary = summaries[layer.index]
            cumulative += layer.seconds
            func label(_ index: Int) -> String {
                let layer = summaries[index].layer
                return layer.name.isEmpty ? layer.kind.className : "\(layer.kind.className) \"\(layer.name)\""
            }
            // A kernel that computes fused layers too is named after all of them; those layers
            // say where their time is.
            var name = ([layer.index] + layer.fusedLayers).map(label).joined(separator: " + ")
            if let into = layer.fusedInto { name += " (in #\(into))" }
            // The threads' columns: nothing for a layer with no kernel of its own.
            let threadCells =
                !threaded
                ? []
                : !layer.runsKernel
                    ? ["-", "-", "-"]
                    : [
                        "\(layer.parts)", fixed4(layer.waitSeconds * 1000),
                        String(format: "%.0f %%", layer.helperShare * 100),
                    ]
            table.append(
                [
                    "\(layer.index)", name, summary.layer.activation.name, "[\(summary.outputShape)]",
                    layer.runsKernel ? fixed4(layer.seconds * 1000) : "-", share(layer.seconds), share(cumulative),
                    grouped(summary.macs), gflops(macs: summary.macs, seconds: layer.seconds),
                ] + threadCells)
        }
        let macs = summaries.reduce(0) { $0 + $1.macs }
        let waited = profile.layers.reduce(0) { $0 + $1.waitSeconds }
        table.append(
            [
                "", "Total", "", "", fixed4(total * 1000), share(total), "", grouped(macs),
                gflops(macs: macs, seconds: total),
            ] + (threaded ? ["", fixed4(waited * 1000), ""] : []))
        let widths = (0..<table[0].count).map { column in table.map { $0[column].count }.max()! }
        let leftAligned: Set<Int> = [1, 2, 3]
        func render(_ cells: [String]) -> String {
            var line = cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return leftAligned.contains(i) ? cell + pad : pad + cell
            }.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        let threads = "\(profile.threadCount) thread\(profile.threadCount == 1 ? "" : "s")"
        var lines = [
            "profile: \(profile.runs) runs after \(warmup) warm-up, batch \(profile.batch), \(threads); time: each layer's median over the runs; MACs and GFLOP/s per batch",
            rule, render(table[0]), rule,
        ]
        for cells in table.dropFirst().dropLast() { lines.append(render(cells)) }
        lines.append(rule)
        lines.append(render(table.last!))
        lines.append(
            "whole pass: median \(fixed4(profile.totalSeconds * 1000)) ms per batch (kernels back to back, clock reads included)"
        )
        if let handOff = profile.handOff {
            lines.append(
                "hand-off: a task in \(profile.threadCount) parts, handed to a helper and joined, takes \(fixed4(handOff.seconds * 1000)) ms (median; a helper took its part in "
                    + String(format: "%.0f %%", handOff.helperShare * 100) + " of them)")
        }
        let slowest = profile.layers.filter(\.runsKernel).sorted { $0.seconds > $1.seconds }.prefix(3)
        lines.append(
            "slowest: "
                + slowest.map { "#\($0.index) \(summaries[$0.index].layer.kind.className) \(share($0.seconds))" }
                .joined(
                    separator: ", "))
        return lines.joined(separator: "\n")
    }

    private static func grouped(_ value: Int) -> String {
        let digits = String(value)
        var result = ""
        for (i, character) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return result
    }
}
