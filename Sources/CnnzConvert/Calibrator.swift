import Cnnz

/// Runs a float32 model over calibration images and records the range of
/// every value (and of the sums before each table activation or softmax).
public enum Calibrator {
    /// Images per pass.
    static let batch = 32
    /// Histogram bins per value for the percentile method.
    static let bins = 2048

    /// `inputs` holds `count` prepared images (NHWC floats) one after another.
    /// `progress(done, total)` is called after each batch of each pass.
    public static func ranges(
        of model: ModelDescription, inputs: [Float], count: Int, method: Quantizer.RangeMethod,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws(CnnzError) -> ActivationRanges {
        let (expanded, post, pre) = split(model)
        let runnable = try Model(expanded)
        let session = try runnable.makeSession(batchCapacity: batch)
        let perImage = model.graph.inputShape.elementCount
        let values = expanded.graph.layers.count + 1
        let passes = method == .minMax ? 1 : 2
        let total = passes * count
        var low = [Float](repeating: .infinity, count: values)
        var high = [Float](repeating: -.infinity, count: values)
        var histograms: [[Int]] = []

        func eachBatch(_ body: (Int, UnsafeBufferPointer<Float>) -> Void, pass: Int) throws(CnnzError) {
            var start = 0
            while start < count {
                let n = min(batch, count - start)
                let result: Result<Void, CnnzError> = inputs.withUnsafeBufferPointer { all in
                    Result { () throws(CnnzError) in
                        try session.run(
                            input: UnsafeBufferPointer(rebasing: all[(start * perImage)..<((start + n) * perImage)]),
                            batch: n, visiting: body)
                    }
                }
                try result.get()
                start += n
                progress(pass * count + start, total)
            }
        }
        try eachBatch(
            { value, data in
                for x in data {
                    low[value] = min(low[value], x)
                    high[value] = max(high[value], x)
                }
            }, pass: 0)
        // Values no kernel writes (a linear Flatten) have their input's range.
        for (i, layer) in expanded.graph.layers.enumerated() where !low[i + 1].isFinite {
            low[i + 1] = low[layer.inputs[0]]
            high[i + 1] = high[layer.inputs[0]]
        }
        if case .percentile(let percent) = method {
            histograms = Array(repeating: [Int](repeating: 0, count: bins), count: values)
            try eachBatch(
                { value, data in
                    let width = high[value] - low[value]
                    guard width > 0 else { return }
                    for x in data {
                        let bin = Int((x - low[value]) / width * Float(bins - 1))
                        histograms[value][min(max(bin, 0), bins - 1)] += 1
                    }
                }, pass: 1)
            for v in 0..<values {
                let counts = histograms[v]
                let all = counts.reduce(0, +)
                guard all > 0 else { continue }
                let cut = Int((Double(all) * percent / 100).rounded(.down))
                let width = high[v] - low[v]
                var seen = 0
                var first = 0
                while first < bins - 1 && seen + counts[first] <= cut {
                    seen += counts[first]
                    first += 1
                }
                seen = 0
                var last = bins - 1
                while last > 0 && seen + counts[last] <= cut {
                    seen += counts[last]
                    last -= 1
                }
                guard first <= last else { continue }
                let newLow = low[v] + width * Float(first) / Float(bins - 1)
                let newHigh = low[v] + width * Float(last + 1) / Float(bins - 1)
                low[v] = max(low[v], newLow)
                high[v] = min(high[v], newHigh)
            }
        }
        let range = { (v: Int) -> ClosedRange<Float> in
            low[v].isFinite && high[v].isFinite ? low[v]...max(low[v], high[v]) : 0...0
        }
        return ActivationRanges(method: method, output: post.map(range), preActivation: pre.map(range))
    }

    /// `model` with every table activation and softmax moved into an Activation
    /// layer of its own, and, per value of `model`, the expanded model's value
    /// holding it and the one holding its sums before the activation.
    static func split(_ model: ModelDescription) -> (ModelDescription, post: [Int], pre: [Int]) {
        var layers: [Layer] = []
        var post = [0]
        var pre = [0]
        for layer in model.graph.layers {
            var main = layer
            main.inputs = layer.inputs.map { post[$0] }
            if Quantizer.computesThroughTable(layer.activation) && layer.kind != .activation {
                main.activation = .linear
                layers.append(main)
                pre.append(layers.count)
                layers.append(Layer(kind: .activation, activation: layer.activation, inputs: [layers.count]))
                post.append(layers.count)
            } else {
                layers.append(main)
                post.append(layers.count)
                // An Activation layer's softmax reads its input's values, requantized.
                pre.append(layer.kind == .activation ? main.inputs[0] : layers.count)
            }
        }
        var expanded = model
        expanded.graph.layers = layers
        expanded.selfTest = nil
        expanded.activationQuantization = []
        return (expanded, post, pre)
    }
}
