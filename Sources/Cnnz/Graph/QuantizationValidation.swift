extension ModelDescription {
    /// The int8 part of `validate` (after shape inference): one entry per value
    /// in `activationQuantization` (or none), each with valid parameters; int8
    /// weights of convolutions and dense layers symmetric (zero points 0) and
    /// quantized per tensor or per output channel; int32 biases per tensor or
    /// per output channel; and, where a layer runs in int8 (its inputs and
    /// output quantized), each bias scale equal to input scale x weight scale,
    /// which the integer kernels assume.
    func validateQuantization(shapes: [TensorShape]) throws(CnnzError) {
        let layers = graph.layers
        if !activationQuantization.isEmpty {
            guard activationQuantization.count == layers.count + 1 else {
                throw .format(
                    "QUAN: \(activationQuantization.count) values are quantized; the graph has \(layers.count + 1) (the input and one per layer)"
                )
            }
            for (v, value) in activationQuantization.enumerated() {
                try value?.validate(name: v == 0 ? "the input's quantization" : "layer \(v - 1)'s output quantization")
            }
        }
        for (i, layer) in layers.enumerated() {
            let label = "layer \(i) (\(layer.kind.className))"
            let kernelAxis: Int
            switch layer.kind {
            case .conv2D: kernelAxis = 3
            case .depthwiseConv2D: kernelAxis = 2
            case .dense: kernelAxis = 1
            default: continue
            }
            let kernel = tensors[layer.weights[0]]
            if let q = kernel.quantization {
                guard kernel.elementType == .int8 else {
                    throw .format("\(label): its kernel is \(kernel.elementType); quantized kernels are int8")
                }
                guard q.axis == nil || q.axis == kernelAxis else {
                    throw .format("\(label): its int8 kernel is quantized along axis \(q.axis!), not \(kernelAxis)")
                }
                guard q.zeroPoints.allSatisfy({ $0 == 0 }) else {
                    throw .format("\(label): its int8 kernel has a zero point other than 0 (weights are symmetric)")
                }
            }
            guard layer.weights.count > 1 else { continue }
            let bias = tensors[layer.weights[1]]
            guard let b = bias.quantization else { continue }
            guard bias.elementType == .int32, b.axis == nil || b.axis == 0, b.zeroPoints.allSatisfy({ $0 == 0 }) else {
                throw .format("\(label): a quantized bias must be int32 with zero points 0, per tensor or per channel")
            }
            guard let q = kernel.quantization, layer.inputs.allSatisfy({ activationQuantization.indices.contains($0) }),
                let input = activationQuantization[layer.inputs[0]], activationQuantization[i + 1] != nil
            else { continue }
            let channels = shapes[i + 1].channels
            // Depthwise output channel c comes from input channel c / multiplier.
            var perChannel = 1
            if case .depthwiseConv2D(_, let multiplier, _) = layer.kind { perChannel = multiplier }
            for c in 0..<channels {
                let weightScale = q.scales.count == 1 ? q.scales[0] : q.scales[c / perChannel]
                let biasScale = b.scales.count == 1 ? b.scales[0] : b.scales[c]
                let expected = Double(input.scale) * Double(weightScale)
                guard abs(Double(biasScale) - expected) <= 1e-3 * expected else {
                    throw .format(
                        "\(label): bias scale \(c) is \(biasScale); an int8 layer needs input scale x weight scale = \(expected)"
                    )
                }
            }
        }
    }
}
