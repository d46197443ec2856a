import Testing

@testable import Cnnz

/// One single-layer network, described by every parameter so a failure says
/// exactly which case broke (ncnn's and XNNPACK's habit).
struct LayerCase: CustomTestStringConvertible, Sendable {
    var height: Int
    var width: Int
    var channels: Int
    var batch: Int
    var kind: LayerKind
    var activation: Activation = .linear

    var testDescription: String {
        "h=\(height) w=\(width) c=\(channels) batch=\(batch) \(kind) activation=\(activation.name)"
    }

    /// Builds the model with seeded random weights and input, runs the engine
    /// and the reference, and returns the first mismatch.
    func check(seed: UInt64 = 7767517) throws -> String? {
        var rng = SplitMix64(seed: seed)
        let input = TensorShape(height: height, width: width, channels: channels)
        var tensors: [Tensor] = []
        func add(_ shape: [Int]) -> Int {
            tensors.append(Tensor(shape: shape, values: .random(shape.reduce(1, *), &rng)))
            return tensors.count - 1
        }
        var weights: [Int] = []
        switch kind {
        case .conv2D(let w, let filters, let groups, let hasBias):
            weights.append(add([w.kernelHeight, w.kernelWidth, channels / groups, filters]))
            if hasBias { weights.append(add([filters])) }
        case .depthwiseConv2D(let w, let m, let hasBias):
            weights.append(add([w.kernelHeight, w.kernelWidth, channels, m]))
            if hasBias { weights.append(add([channels * m])) }
        case .dense(let units, let hasBias):
            weights.append(add([channels, units]))
            if hasBias { weights.append(add([units])) }
        case .channelAffine:
            weights = [add([channels]), add([channels])]
        default:
            break
        }
        var layers = [Layer(kind: kind, activation: activation, inputs: [0], weights: weights)]
        if kind == .add || kind == .concatenate {
            // Two branches from the input, then the join: Add needs equal shapes.
            layers = [
                Layer(kind: .activation, activation: .plainReLU, inputs: [0]),
                Layer(kind: .activation, activation: .tanh, inputs: [0]),
                Layer(kind: kind, activation: activation, inputs: [1, 2, 0]),
            ]
        }
        let description = ModelDescription(
            name: "case", labels: [], preprocessing: .identity, graph: Graph(inputShape: input, layers: layers),
            tensors: tensors, selfTest: nil)
        let model = try Model(description)
        let x = [Float].random(batch * input.elementCount, &rng)
        // Batch capacity below the batch size exercises chunking too.
        let session = try model.makeSession(batchCapacity: max(1, batch - 1))
        let actual = try session.run(x, batch: batch)
        let expected = ReferenceEngine.run(description, input: x, batch: batch)
        if let mismatch = firstMismatch(actual, expected) { return mismatch }
        // Split over 2 and 3 threads (more than this machine may have; parts of uneven size),
        // the output is the same to the bit: parts never change the order of a sum.
        // Every layer split (a session's own first runs split none: `LayerSplit`), in 2 and 3 parts.
        for threads in [2, 3] {
            let threaded = try model.makeSession(
                batchCapacity: batch, threads: threads, minimumWorkPerPart: 1, splitBatches: false)
            threaded.fixedSplit = .every
            let parallel = try threaded.run(x, batch: batch)
            if parallel != actual {
                return "\(threads) threads: " + (firstMismatch(parallel, actual, tolerance: 0) ?? "NaN differs")
            }
        }
        // Split by images (each thread runs whole images through the network): the same bits.
        let lanes = try model.makeSession(batchCapacity: batch, threads: 2)
        let imageWise = try lanes.run(x, batch: batch)
        if imageWise != actual {
            return "2 threads by images: " + (firstMismatch(imageWise, actual, tolerance: 0) ?? "NaN differs")
        }
        return nil
    }
}

private func window(_ k: (Int, Int), _ s: (Int, Int) = (1, 1), _ d: (Int, Int) = (1, 1), p: Padding) -> Window {
    Window(
        kernelHeight: k.0, kernelWidth: k.1, strideHeight: s.0, strideWidth: s.1, dilationHeight: d.0,
        dilationWidth: d.1, padding: p)
}

/// Conv2D: kernels 1, 2 (even: asymmetric same padding), 3, 5; strides 1, 2;
/// dilation 2; groups; channel counts below, at and above the SIMD width.
let convolutionCases: [LayerCase] = {
    var cases: [LayerCase] = []
    for (k, s, d) in [
        ((1, 1), (1, 1), (1, 1)), ((3, 3), (1, 1), (1, 1)), ((5, 5), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1)),
        ((2, 2), (2, 2), (1, 1)), ((2, 4), (1, 2), (1, 1)), ((3, 3), (1, 1), (2, 2)), ((1, 1), (2, 2), (1, 1)),
        ((5, 3), (2, 1), (1, 1)), ((3, 3), (2, 2), (2, 1)),
    ] {
        for padding in [Padding.valid, .same] {
            for (c, f, g) in [(1, 1, 1), (3, 8, 1), (13, 17, 1), (16, 9, 1), (6, 4, 2), (9, 6, 3), (8, 8, 8)] {
                cases.append(
                    LayerCase(
                        height: 9, width: 7, channels: c, batch: 2,
                        kind: .conv2D(window: window(k, s, d, p: padding), filters: f, groups: g, hasBias: g != 3),
                        activation: c == 13 ? .plainReLU : .linear))
            }
        }
    }
    // Larger, odd images that span several im2col blocks (64 pixels each).
    cases.append(
        LayerCase(
            height: 25, width: 33, channels: 15, batch: 3,
            kind: .conv2D(window: window((3, 3), p: .same), filters: 24, groups: 1, hasBias: true)))
    cases.append(
        LayerCase(
            height: 18, width: 17, channels: 24, batch: 1,
            kind: .conv2D(window: window((1, 1), p: .valid), filters: 13, groups: 1, hasBias: true),
            activation: .relu(maxValue: 6, negativeSlope: 0, threshold: 0)))
    cases.append(
        LayerCase(
            height: 1, width: 1, channels: 5, batch: 4,
            kind: .conv2D(window: window((3, 3), (2, 2), p: .same), filters: 3, groups: 1, hasBias: true)))
    return cases
}()

/// Randomized Conv2D shapes (seeded), drawn to miss every tile width.
let randomConvolutionCases: [LayerCase] = {
    var rng = SplitMix64(seed: 42)
    return (0..<40).map { _ in
        let groups = [1, 1, 1, 2, 3].randomElement(using: &rng)!
        let k = (Int.random(in: 1...5, using: &rng), Int.random(in: 1...5, using: &rng))
        let s = (Int.random(in: 1...3, using: &rng), Int.random(in: 1...3, using: &rng))
        let d = s == (1, 1) ? (Int.random(in: 1...2, using: &rng), Int.random(in: 1...2, using: &rng)) : (1, 1)
        let padding: Padding = Bool.random(using: &rng) ? .same : .valid
        let h = Int.random(in: ((k.0 - 1) * d.0 + 1)...19, using: &rng)
        let w = Int.random(in: ((k.1 - 1) * d.1 + 1)...19, using: &rng)
        return LayerCase(
            height: h, width: w, channels: groups * Int.random(in: 1...7, using: &rng),
            batch: Int.random(in: 1...3, using: &rng),
            kind: .conv2D(
                window: window(k, s, d, p: padding), filters: groups * Int.random(in: 1...11, using: &rng),
                groups: groups, hasBias: Bool.random(using: &rng)),
            activation: [.linear, .plainReLU, .sigmoid].randomElement(using: &rng)!)
    }
}()

let depthwiseCases: [LayerCase] = {
    var cases: [LayerCase] = []
    for (k, s, d) in [
        ((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1)), ((5, 5), (1, 1), (1, 1)), ((2, 2), (1, 1), (1, 1)),
        ((3, 3), (1, 1), (2, 2)), ((1, 1), (1, 1), (1, 1)),
        // Dilation along one axis only (3x3: the row kernel's interior path steps columns by the
        // width's dilation and rows by the height's; equal dilations could not tell them apart).
        ((3, 3), (1, 1), (1, 2)), ((3, 3), (1, 1), (2, 1)),
    ] {
        for padding in [Padding.valid, .same] {
            for (c, m) in [(1, 1), (7, 1), (8, 1), (19, 1), (3, 2), (5, 3)] {
                cases.append(
                    LayerCase(
                        height: 11, width: 9, channels: c, batch: 2,
                        kind: .depthwiseConv2D(window: window(k, s, d, p: padding), multiplier: m, hasBias: m != 3),
                        activation: c == 19 ? .plainReLU : .linear))
            }
        }
    }
    // Rows long enough for the interior path's eight-pixel (AVX-512) and four-pixel blocks and
    // their leftovers, with those one-axis dilations; channels around the 16-float vector.
    for d in [(1, 2), (2, 1)] {
        for (c, padding) in [(33, Padding.same), (16, .valid), (5, .same)] {
            cases.append(
                LayerCase(
                    height: 7, width: 27, channels: c, batch: 2,
                    kind: .depthwiseConv2D(window: window((3, 3), (1, 1), d, p: padding), multiplier: 1, hasBias: true),
                    activation: .relu(maxValue: 6, negativeSlope: 0, threshold: 0)))
        }
    }
    return cases
}()

let poolingCases: [LayerCase] = {
    var cases: [LayerCase] = []
    for (k, s) in [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((3, 3), (1, 1)), ((2, 3), (1, 2)), ((4, 4), (3, 3))] {
        for padding in [Padding.valid, .same] {
            for c in [1, 8, 11, 12, 25] {
                cases.append(
                    LayerCase(
                        height: 9, width: 10, channels: c, batch: 2, kind: .maxPool2D(window: window(k, s, p: padding)))
                )
                cases.append(
                    LayerCase(
                        height: 9, width: 10, channels: c, batch: 2,
                        kind: .averagePool2D(window: window(k, s, p: padding))))
            }
        }
    }
    for c in [1, 8, 13] {
        for keep in [false, true] {
            cases.append(
                LayerCase(height: 5, width: 7, channels: c, batch: 3, kind: .globalAveragePool2D(keepDims: keep)))
            cases.append(LayerCase(height: 5, width: 7, channels: c, batch: 3, kind: .globalMaxPool2D(keepDims: keep)))
        }
    }
    return cases
}()

let otherCases: [LayerCase] = {
    var cases: [LayerCase] = []
    for (c, units) in [(1, 1), (7, 10), (16, 8), (33, 17)] {
        cases.append(
            LayerCase(
                height: 1, width: 1, channels: c, batch: 5, kind: .dense(units: units, hasBias: true),
                activation: .softmax))
        cases.append(LayerCase(height: 3, width: 2, channels: c, batch: 2, kind: .dense(units: units, hasBias: false)))
    }
    cases.append(
        LayerCase(
            height: 4, width: 5, channels: 3, batch: 2, kind: .zeroPadding2D(top: 1, bottom: 2, left: 0, right: 3)))
    cases.append(LayerCase(height: 4, width: 5, channels: 9, batch: 2, kind: .channelAffine, activation: .plainReLU))
    cases.append(LayerCase(height: 4, width: 5, channels: 9, batch: 2, kind: .add, activation: .plainReLU))
    cases.append(LayerCase(height: 4, width: 5, channels: 9, batch: 2, kind: .concatenate))
    cases.append(LayerCase(height: 4, width: 5, channels: 3, batch: 2, kind: .flatten))
    let activations: [Activation] = [
        .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0),
        .relu(maxValue: .infinity, negativeSlope: 0.2, threshold: 0),
        .relu(maxValue: 0.5, negativeSlope: 0.1, threshold: 0.25), .elu(alpha: 1), .selu, .sigmoid, .hardSigmoid, .tanh,
        .swish,
        .hardSwish, .gelu, .softmax,
    ]
    for a in activations {
        cases.append(LayerCase(height: 3, width: 3, channels: 11, batch: 2, kind: .activation, activation: a))
    }
    return cases
}()

@Suite struct KernelTests {
    @Test(arguments: convolutionCases + randomConvolutionCases)
    func conv2DMatchesReference(_ c: LayerCase) throws {
        let mismatch = try c.check()
        #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
    }

    @Test(arguments: depthwiseCases)
    func depthwiseMatchesReference(_ c: LayerCase) throws {
        let mismatch = try c.check()
        #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
    }

    @Test(arguments: poolingCases)
    func poolingMatchesReference(_ c: LayerCase) throws {
        let mismatch = try c.check()
        #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
    }

    @Test(arguments: otherCases)
    func otherOpsMatchReference(_ c: LayerCase) throws {
        let mismatch = try c.check()
        #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
    }

    @Test func plannerSharesMemoryBetweenBuffersThatNeverLiveTogether() {
        // A chain a -> b -> c -> d: a and c (and b and d) never live at once.
        let requests = [
            BufferPlanner.Request(bytes: 400, firstStep: 0, lastStep: 1),
            BufferPlanner.Request(bytes: 400, firstStep: 1, lastStep: 2),
            BufferPlanner.Request(bytes: 400, firstStep: 2, lastStep: 3),
            BufferPlanner.Request(bytes: 400, firstStep: 3, lastStep: 4),
        ]
        let (offsets, total) = BufferPlanner.plan(requests)
        #expect(total == 896)  // two 448-byte (112 floats, aligned) slots
        for i in requests.indices {
            for j in requests.indices where i < j {
                let overlapInTime =
                    requests[i].firstStep <= requests[j].lastStep && requests[j].firstStep <= requests[i].lastStep
                if overlapInTime { #expect(abs(offsets[i] - offsets[j]) >= 448, "buffers \(i) and \(j) overlap") }
            }
        }
    }
}
