import Cnnz
import Foundation

extension InferCommand {
    /// Times `runs` passes of one batch of `batch` images (the given images, repeated as needed)
    /// after a short warm-up, and prints the latency per batch and the throughput in images.
    func benchmark(_ model: Model, runs: Int, batch: Int, threads: Int) throws {
        var input: [Float] = []
        input.reserveCapacity(batch * model.inputShape.elementCount)
        var prepared: [[Float]] = []
        for path in images.prefix(batch) { prepared.append(model.prepare(try ImageReader.read(path: path)).input) }
        for i in 0..<batch { input += prepared[i % prepared.count] }
        let session = try model.makeSession(batchCapacity: batch, threads: threads)
        var output = [Float](repeating: 0, count: batch * model.outputSize)
        let warmup = min(runs, 10)
        var times: [Double] = []
        times.reserveCapacity(runs)
        try input.withUnsafeBufferPointer { i in
            try output.withUnsafeMutableBufferPointer { o in
                for _ in 0..<warmup { try session.run(input: i, batch: batch, output: o) }
                let clock = ContinuousClock()
                for _ in 0..<runs {
                    let start = clock.now
                    try session.run(input: i, batch: batch, output: o)
                    let elapsed = clock.now - start
                    times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
                }
            }
        }
        times.sort()
        let median = times[times.count / 2]
        let p90 = times[min(times.count - 1, Int((Double(times.count) * 0.9).rounded(.up)) - 1)]
        let total = times.reduce(0, +)
        let threadCount = session.threadCount
        print(
            "bench: \(runs) runs after \(warmup) warm-up, batch \(batch), \(threadCount) thread\(threadCount == 1 ? "" : "s"): median \(fixed4(median * 1000)) ms per batch, p90 \(fixed4(p90 * 1000)) ms, \(Int((Double(runs * batch) / total).rounded())) images/s"
        )
        let split = session.layerSplitRuns
        if split.none + split.dense + split.every > 0 {
            // Warm-up runs included: which split the session settled on, and how soon.
            print(
                "layer split: runs none \(split.none), dense \(split.dense), every \(split.every); back-offs \(split.backOffs)"
            )
        }
    }
}
