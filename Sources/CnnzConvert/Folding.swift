import Cnnz

/// Folds a batch normalization (a channel affine) into the Conv2D,
/// DepthwiseConv2D or Dense before it, and an activation into the layer
/// before it — only where that layer's output has no other reader, since
/// folding changes the value every reader sees.
enum Folding {
    static func fold(_ model: ModelDescription) -> ModelDescription {
        var model = model
        var layers = model.graph.layers
        let valueCount = layers.count + 1
        var readers = [Int](repeating: 0, count: valueCount)
        for layer in layers { for v in layer.inputs { readers[v] += 1 } }
        readers[valueCount - 1] += 1  // the model output is read by the caller
        var replacement = Array(0..<valueCount)
        var removed = Set<Int>()

        for i in layers.indices {
            layers[i].inputs = layers[i].inputs.map { replacement[$0] }
            let layer = layers[i]
            guard layer.inputs.count == 1 else { continue }
            let value = layer.inputs[0]
            guard value > 0, readers[value] == 1 else { continue }
            let producer = value - 1
            guard layers[producer].activation == .linear else { continue }
            var folded = false
            if layer.kind == .channelAffine && layer.activation == .linear {
                let scale = model.tensors[layer.weights[0]].values
                let shift = model.tensors[layer.weights[1]].values
                folded = foldAffine(into: &layers[producer], scale: scale, shift: shift, tensors: &model.tensors)
            } else if layer.kind == .activation {
                layers[producer].activation = layer.activation
                folded = true
            }
            if folded {
                removed.insert(i)
                replacement[i + 1] = value
                readers[value] = readers[i + 1]
            }
        }
        // Renumber values without the removed layers.
        var newIndex = [Int](repeating: 0, count: valueCount)
        var kept: [Layer] = []
        for i in layers.indices {
            if removed.contains(i) {
                newIndex[i + 1] = newIndex[replacement[i + 1]]
                continue
            }
            var layer = layers[i]
            layer.inputs = layer.inputs.map { newIndex[$0] }
            kept.append(layer)
            newIndex[i + 1] = kept.count
        }
        model.graph.layers = kept
        return compactTensors(model)
    }

    /// `y = (x·W + b)·s + t = x·(W·s) + (b·s + t)`, per output channel.
    private static func foldAffine(into layer: inout Layer, scale: [Float], shift: [Float], tensors: inout [Tensor])
        -> Bool
    {
        let hasBias: Bool
        switch layer.kind {
        case .conv2D(let window, let filters, let groups, let bias):
            hasBias = bias
            layer.kind = .conv2D(window: window, filters: filters, groups: groups, hasBias: true)
        case .depthwiseConv2D(let window, let multiplier, let bias):
            hasBias = bias
            layer.kind = .depthwiseConv2D(window: window, multiplier: multiplier, hasBias: true)
        case .dense(let units, let bias):
            hasBias = bias
            layer.kind = .dense(units: units, hasBias: true)
        default:
            return false
        }
        // Every kernel layout here has the output channel as its fastest axis.
        var kernel = tensors[layer.weights[0]]
        let channels = scale.count
        for i in kernel.values.indices { kernel.values[i] *= scale[i % channels] }
        var bias = hasBias ? tensors[layer.weights[1]].values : [Float](repeating: 0, count: channels)
        for c in 0..<channels { bias[c] = bias[c] * scale[c] + shift[c] }
        tensors.append(kernel)
        let kernelIndex = tensors.count - 1
        tensors.append(Tensor(shape: [channels], values: bias))
        layer.weights = [kernelIndex, tensors.count - 1]
        return true
    }

    /// Drops tensors no layer references any more, keeping order.
    private static func compactTensors(_ model: ModelDescription) -> ModelDescription {
        var model = model
        var map: [Int: Int] = [:]
        var tensors: [Tensor] = []
        for i in model.graph.layers.indices {
            model.graph.layers[i].weights = model.graph.layers[i].weights.map { t in
                if let m = map[t] { return m }
                tensors.append(model.tensors[t])
                map[t] = tensors.count - 1
                return tensors.count - 1
            }
        }
        model.tensors = tensors
        return model
    }
}
