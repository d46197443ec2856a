import Testing

@testable import CnnzTrain

/// The network lets a Conv2D or Dense apply the ReLU after it and a MaxPooling2D
/// mask the ReLU's gradient. The fused network must compute exactly what its
/// layers compute one by one, forward and backward (odd pooling sizes and
/// channel counts that miss the vector width included).
@Suite struct FusionTests {
    static let architecture = Array(
        """
        {"format": "cnnz-json", "version": 1, "input": {"shape": [10, 10, 2]},
         "layers": [
          {"class_name": "Conv2D", "config": {"filters": 6, "kernel_size": 3, "padding": "same", "activation": "relu"}},
          {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
          {"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": 3, "padding": "valid", "activation": "relu"}},
          {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
          {"class_name": "Flatten"},
          {"class_name": "Dense", "config": {"units": 5, "activation": "relu"}},
          {"class_name": "Dense", "config": {"units": 3, "activation": "softmax"}}]}
        """.utf8)

    /// Logits and every parameter's gradient for one batch.
    static func pass(_ network: Network, _ x: [Float], _ r: [Float], batch: Int) throws -> ([Float], [[Float]]) {
        let logits = try network.logits(x, batch: batch, training: true)
        try network.backward(r, batch: batch)
        return (logits, network.parameters.map(\.gradient))
    }

    @Test func fusedLayersComputeWhatSeparateOnesDo() throws {
        let fused = try Network(try Architecture(json: Self.architecture), seed: 9)
        let separate = try Network(try Architecture(json: Self.architecture), seed: 9)
        let relus = fused.layers.compactMap { $0 as? ReLULayer }
        #expect(relus.count == 3 && relus.allSatisfy(\.inputIsRectified))
        #expect(relus.filter(\.gradientMaskedByNext).count == 2)
        for layer in separate.layers {
            (layer as? Conv2DLayer)?.appliesReLU = false
            (layer as? DenseLayer)?.appliesReLU = false
            (layer as? MaxPoolLayer)?.masksGradient = false
            (layer as? ReLULayer)?.inputIsRectified = false
            (layer as? ReLULayer)?.gradientMaskedByNext = false
        }
        var random = SplitMix64(seed: 10)
        let batch = 3
        // Inputs with ties and zeros, so that pooling and ReLU meet equal and zero values.
        let x = (0..<(batch * 200)).map { _ in Float(Int(random.next() % 7) - 3) / 4 }
        for _ in 0..<2 {
            let r = (0..<(batch * 3)).map { _ in random.nextFloat() - 0.5 }
            let (fusedLogits, fusedGradients) = try Self.pass(fused, x, r, batch: batch)
            let (logits, gradients) = try Self.pass(separate, x, r, batch: batch)
            #expect(fusedLogits == logits)
            #expect(fusedGradients == gradients)
            #expect(gradients.joined().contains { $0 != 0 })
        }
    }
}
