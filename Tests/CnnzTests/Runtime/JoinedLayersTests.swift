import Testing

@testable import Cnnz

/// A depthwise convolution and the pointwise convolution reading it, run as one task per band
/// of rows (`JoinedLayers`): the same bits as layer by layer, on the pool's threads and with
/// each task's parts run last first on one thread (the second kernel's band then runs before
/// the first kernel's earlier bands: a band reading a pixel another part writes shows).
@Suite struct JoinedLayersTests {
    /// Input [h, w, c] -> DepthwiseConv2D (3x3 or 1x3, stride 1 or 2, multiplier 1 or 2) ->
    /// pointwise Conv2D (16 or 32 filters: Conv2DIm2ColGEMM on every build) -> with `residual`,
    /// a second pointwise Conv2D of the input's ReLU... added to it (fused into the pointwise
    /// convolution) -> Sigmoid.
    static func model(
        _ shape: TensorShape, stride: Int, multiplier: Int, filters: Int, residual: Bool, rng: inout SplitMix64
    ) throws -> Model {
        try Model(
            description(shape, stride: stride, multiplier: multiplier, filters: filters, residual: residual, rng: &rng))
    }

    static func description(
        _ shape: TensorShape, stride: Int, multiplier: Int, filters: Int, residual: Bool, rng: inout SplitMix64
    ) -> ModelDescription {
        let window = Window(
            kernelHeight: stride == 1 ? 3 : 1, kernelWidth: 3, strideHeight: stride, strideWidth: stride,
            padding: .same)
        let taps = window.kernelHeight * window.kernelWidth
        let depth = shape.channels * multiplier
        let pointwise = LayerKind.conv2D(
            window: Window(kernelHeight: 1, kernelWidth: 1), filters: filters, groups: 1, hasBias: true)
        var tensors = [
            Tensor(
                shape: [window.kernelHeight, window.kernelWidth, shape.channels, multiplier],
                values: .random(taps * depth, &rng)),
            Tensor(shape: [depth], values: .random(depth, &rng)),
            Tensor(shape: [1, 1, depth, filters], values: .random(depth * filters, &rng)),
            Tensor(shape: [filters], values: .random(filters, &rng)),
        ]
        var layers = [
            Layer(
                kind: .depthwiseConv2D(window: window, multiplier: multiplier, hasBias: true),
                activation: .relu(maxValue: 6, negativeSlope: 0, threshold: 0), inputs: [0], weights: [0, 1]),
            Layer(kind: pointwise, activation: residual ? .linear : .plainReLU, inputs: [1], weights: [2, 3]),
        ]
        if residual {
            // The other operand: a pointwise convolution of the depthwise output, computed first.
            tensors += [
                Tensor(shape: [1, 1, depth, filters], values: .random(depth * filters, &rng)),
                Tensor(shape: [filters], values: .random(filters, &rng)),
            ]
            layers = [
                layers[0], Layer(kind: pointwise, activation: .tanh, inputs: [1], weights: [4, 5]),
                Layer(kind: pointwise, activation: .linear, inputs: [1], weights: [2, 3]),
                Layer(kind: .add, activation: .plainReLU, inputs: [3, 2]),
            ]
        }
        layers.append(Layer(kind: .activation, activation: .sigmoid, inputs: [layers.count]))
        return ModelDescription(
            name: "joined", labels: [], preprocessing: .identity, graph: Graph(inputShape: shape, layers: layers),
            tensors: tensors, selfTest: nil)
    }

    /// Float outputs as bits (NaN payloads included).
    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    @Test func joinedPairsMatchTheLayersRunApart() throws {
        var rng = SplitMix64(seed: 2718)
        var joined = 0
        var misaligned = 0
        for trial in 0..<48 {
            // Heights odd and even: rows split unevenly do not match the pointwise GEMM's even
            // share of pixels (5 x 3: rows 0-2 are pixels 0-8, the GEMM's first half 0-7).
            let shape = TensorShape(
                height: Int.random(in: 1...9, using: &rng), width: Int.random(in: 1...7, using: &rng),
                channels: [5, 8, 16][trial % 3])
            let stride = trial % 4 == 3 ? 2 : 1
            let model = try Self.model(
                shape, stride: stride, multiplier: trial % 5 == 4 ? 2 : 1, filters: trial % 2 == 0 ? 16 : 32,
                residual: trial % 3 == 1, rng: &rng)
            let batch = Int.random(in: 1...3, using: &rng)
            let x = [Float].random(batch * shape.elementCount, &rng, in: -2...2)
            let expected = Self.bits(try model.makeSession(batchCapacity: batch).run(x, batch: batch))
            for threads in [2, 3] {
                func session(joins: Bool, backwards: Bool) throws -> Session {
                    let session = try model.makeSession(
                        batchCapacity: batch, threads: threads, minimumWorkPerPart: 1, splitBatches: false)
                    session.fixedSplit = .every
                    session.joinsLayers = joins
                    session.runsPartsBackwards = backwards
                    return session
                }
                let pair = try session(joins: true, backwards: false).joins.compactMap { $0 }
                #expect(pair.count == 1, "trial \(trial): \(pair.count) pairs")
                if let pair = pair.first {
                    // Both split into one part per thread here (at least `threads` rows and pixels).
                    let aligned = pair.aligned(batch: batch, parts: threads)
                    if aligned { joined += 1 } else { misaligned += 1 }
                }
                for (joins, backwards) in [(true, false), (true, true), (false, true)] {
                    let got = Self.bits(try session(joins: joins, backwards: backwards).run(x, batch: batch))
                    let same = got == expected
                    #expect(
                        same,
                        "trial \(trial) \(shape) stride \(stride) batch \(batch) threads \(threads) joins \(joins) backwards \(backwards)"
                    )
                }
            }
        }
        #expect(joined >= 20, "joined \(joined)")
        #expect(misaligned >= 10, "misaligned \(misaligned)")
    }

    /// A pair whose second kernel is not pointwise, or whose output would overwrite the first's
    /// input in the arena, is not joined.
    @Test func onlyPointwiseReadersOfTheFirstOutputJoin() throws {
        var rng = SplitMix64(seed: 5)
        let model = try Self.model(
            TensorShape(height: 6, width: 4, channels: 8), stride: 1, multiplier: 1, filters: 16, residual: false,
            rng: &rng)
        let plan = model.plan
        #expect(JoinedLayers.pair(plan, at: 0) != nil)
        // The pointwise convolution first, the depthwise one second: its windows reach past its band.
        #expect(JoinedLayers.pair(plan, at: 1) == nil)
        // One thread never joins (no pool).
        #expect(try model.makeSession(batchCapacity: 1).joins.isEmpty)
    }
}
