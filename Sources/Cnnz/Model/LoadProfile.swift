/// Where the time of loading a `.cnnz` file goes: what `infer --bench-load` prints.
public struct LoadProfile: Sendable {
    /// One step of loading and the median of its seconds over the runs.
    public struct Step: Sendable {
        public var name: String
        public var seconds: Double
    }

    /// The steps in the order `Model(contentsOfFile:)` runs them; their sum is close to `totalSeconds`.
    public var steps: [Step]
    /// The median over the runs of a whole `Model(contentsOfFile:)`, timed on its own.
    public var totalSeconds: Double
    /// Runs of each step.
    public var runs: Int
    /// The file's size and its inflated payload's, in bytes.
    public var fileBytes: Int
    public var payloadBytes: Int
}

extension Model {
    /// Loads `path` `runs` times (after one warm-up) and returns the median time of each step:
    /// reading the file, checking the checksums, inflating the payload, decoding it, validating
    /// the graph, and planning the run (placing the activations, repacking every kernel's
    /// weights); and of a whole load timed on its own.
    public static func profileLoading(_ path: String, runs: Int, options: LoadOptions = .default)
        throws(CnnzError) -> LoadProfile
    {
        guard runs >= 1, runs <= 100_000 else { throw .argument("load runs must be in 1...100000") }
        let clock = ContinuousClock()
        let names = ["read the file", "checksums (crc32)", "inflate (zlib)", "decode", "validate", "plan and pack"]
        var times = [[Double]](repeating: [], count: names.count)
        var totals: [Double] = []
        var fileBytes = 0
        var payloadBytes = 0
        for run in 0...runs {
            var before = clock.now
            func lap(_ step: Int) {
                let now = clock.now
                if run > 0 { times[step].append(seconds(now - before)) }
                before = now
            }
            // Read as `Model(contentsOfFile:)` reads it (a large file into a mapping in 2 MB
            // pages), and kept through the steps (that load frees a large file once decoded).
            try ModelReader.withFile(path, options: options) {
                (bytes: UnsafeRawBufferPointer, _: UnsafeMutableRawBufferPointer?) throws(CnnzError)
                in
                lap(0)
                fileBytes = bytes.count
                // The checksums and the inflate, each on its own (decodeUnvalidated does both
                // again, then decodes): the decode step is that call's time less these two.
                let header = ModelFormat.headerSize
                guard bytes.count > header else { throw .format("\(path): not a cnnz model") }
                payloadBytes = Int(bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian)
                guard payloadBytes <= Limits.maxPayloadBytes else { throw .format("\(path): payload too large") }
                let compressed = UnsafeRawBufferPointer(rebasing: bytes[header...])
                var checksums = 0.0
                do {
                    let scratch = try LoadBuffer(count: payloadBytes)
                    defer { withExtendedLifetime(scratch) {} }
                    let payload = scratch.bytes
                    let start = clock.now
                    _ = Compression.crc32(compressed)
                    checksums += seconds(clock.now - start)
                    try Compression.inflate(compressed, into: payload)
                    let afterInflate = clock.now
                    _ = Compression.crc32(UnsafeRawBufferPointer(payload))
                    checksums += seconds(clock.now - afterInflate)
                    let inflateSeconds = seconds(afterInflate - before) - checksums
                    if run > 0 {
                        times[1].append(checksums)
                        times[2].append(inflateSeconds)
                    }
                }
                before = clock.now
                let contents = try ModelReader.decodeUnvalidated(bytes, options: options)
                let decodeSeconds = seconds(clock.now - before) - checksums - (times[2].last ?? 0)
                if run > 0 { times[3].append(max(decodeSeconds, 0)) }
                before = clock.now
                try contents.validate(options: options)
                lap(4)
                // Model.init validates again (cheap next to packing): subtract that run's validate.
                let model = try Model(contents, options: options)
                let now = clock.now
                if run > 0 { times[5].append(max(seconds(now - before) - (times[4].last ?? 0), 0)) }
                withExtendedLifetime(model) {}
            }
            let start = clock.now
            let whole = try Model(contentsOfFile: path, options: options)
            if run > 0 { totals.append(seconds(clock.now - start)) }
            withExtendedLifetime(whole) {}
        }
        return LoadProfile(
            steps: names.indices.map { LoadProfile.Step(name: names[$0], seconds: median(times[$0])) },
            totalSeconds: median(totals), runs: runs, fileBytes: fileBytes, payloadBytes: payloadBytes)
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let n = sorted.count
        guard n > 0 else { return 0 }
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}
