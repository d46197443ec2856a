import Foundation

@testable import Cnnz

/// Plain, slow reference implementations of every op, accumulating in Double.
/// The optimized kernels are compared with these; they never ship.
enum ReferenceEngine {
    struct Value {
        var shape: TensorShape
        var data: [Double]  // one image, NHWC
    }

    static func run(_ model: ModelDescription, input: [Float], batch: Int) -> [Float] {
        let perImage = model.graph.inputShape.elementCount
        var result: [Float] = []
        for b in 0..<batch {
            let image = input[(b * perImage)..<((b + 1) * perImage)].map(Double.init)
            var values = [Value(shape: model.graph.inputShape, data: image)]
            for layer in model.graph.layers {
                let inputs = layer.inputs.map { values[$0] }
                let weights = layer.weights.map { model.tensors[$0].values.map(Double.init) }
                var out = apply(layer.kind, inputs: inputs, weights: weights)
                out.data = activate(layer.activation, out.data, channels: out.shape.channels)
                values.append(out)
            }
            result += values.last!.data.map(Float.init)
        }
        return result
    }

    static func geometry(_ input: Int, _ k: Int, _ s: Int, _ d: Int, _ p: Padding) -> (out: Int, before: Int) {
        let span = (k - 1) * d + 1
        if p == .valid { return ((input - span) / s + 1, 0) }
        let out = (input + s - 1) / s
        let total = max((out - 1) * s + span - input, 0)
        return (out, total / 2)
    }

    static func apply(_ kind: LayerKind, inputs: [Value], weights: [[Double]]) -> Value {
        let x = inputs[0]
        let (H, W, C) = (x.shape.height, x.shape.width, x.shape.channels)
        func at(_ v: Value, _ y: Int, _ x: Int, _ c: Int) -> Double {
            v.data[(y * v.shape.width + x) * v.shape.channels + c]
        }
        switch kind {
        case .conv2D(let w, let filters, let groups, let hasBias):
            let (oh, pt) = geometry(H, w.kernelHeight, w.strideHeight, w.dilationHeight, w.padding)
            let (ow, pl) = geometry(W, w.kernelWidth, w.strideWidth, w.dilationWidth, w.padding)
            let cinG = C / groups
            let coutG = filters / groups
            var out = [Double](repeating: 0, count: oh * ow * filters)
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for f in 0..<filters {
                        let g = f / coutG
                        var sum = hasBias ? weights[1][f] : 0
                        for ky in 0..<w.kernelHeight {
                            for kx in 0..<w.kernelWidth {
                                let iy = oy * w.strideHeight - pt + ky * w.dilationHeight
                                let ix = ox * w.strideWidth - pl + kx * w.dilationWidth
                                guard iy >= 0, iy < H, ix >= 0, ix < W else { continue }
                                for ci in 0..<cinG {
                                    let k = weights[0][((ky * w.kernelWidth + kx) * cinG + ci) * filters + f]
                                    sum += at(x, iy, ix, g * cinG + ci) * k
                                }
                            }
                        }
                        out[(oy * ow + ox) * filters + f] = sum
                    }
                }
            }
            return Value(shape: TensorShape(height: oh, width: ow, channels: filters), data: out)
        case .depthwiseConv2D(let w, let m, let hasBias):
            let (oh, pt) = geometry(H, w.kernelHeight, w.strideHeight, w.dilationHeight, w.padding)
            let (ow, pl) = geometry(W, w.kernelWidth, w.strideWidth, w.dilationWidth, w.padding)
            var out = [Double](repeating: 0, count: oh * ow * C * m)
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for c in 0..<C {
                        for k in 0..<m {
                            var sum = hasBias ? weights[1][c * m + k] : 0
                            for ky in 0..<w.kernelHeight {
                                for kx in 0..<w.kernelWidth {
                                    let iy = oy * w.strideHeight - pt + ky * w.dilationHeight
                                    let ix = ox * w.strideWidth - pl + kx * w.dilationWidth
                                    guard iy >= 0, iy < H, ix >= 0, ix < W else { continue }
                                    sum += at(x, iy, ix, c) * weights[0][((ky * w.kernelWidth + kx) * C + c) * m + k]
                                }
                            }
                            out[(oy * ow + ox) * C * m + c * m + k] = sum
                        }
                    }
                }
            }
            return Value(shape: TensorShape(height: oh, width: ow, channels: C * m), data: out)
        case .dense(let units, let hasBias):
            let positions = x.shape.pixels
            var out = [Double](repeating: 0, count: positions * units)
            for p in 0..<positions {
                for u in 0..<units {
                    var sum = hasBias ? weights[1][u] : 0
                    for i in 0..<C { sum += x.data[p * C + i] * weights[0][i * units + u] }
                    out[p * units + u] = sum
                }
            }
            var shape = x.shape
            shape.channels = units
            return Value(shape: shape, data: out)
        case .maxPool2D(let w), .averagePool2D(let w):
            var isMax = false
            if case .maxPool2D = kind { isMax = true }
            let (oh, pt) = geometry(H, w.kernelHeight, w.strideHeight, 1, w.padding)
            let (ow, pl) = geometry(W, w.kernelWidth, w.strideWidth, 1, w.padding)
            var out = [Double](repeating: 0, count: oh * ow * C)
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for c in 0..<C {
                        var best = -Double.infinity
                        var sum = 0.0
                        var count = 0
                        for ky in 0..<w.kernelHeight {
                            for kx in 0..<w.kernelWidth {
                                let iy = oy * w.strideHeight - pt + ky
                                let ix = ox * w.strideWidth - pl + kx
                                guard iy >= 0, iy < H, ix >= 0, ix < W else { continue }
                                best = max(best, at(x, iy, ix, c))
                                sum += at(x, iy, ix, c)
                                count += 1
                            }
                        }
                        out[(oy * ow + ox) * C + c] = isMax ? best : sum / Double(count)
                    }
                }
            }
            return Value(shape: TensorShape(height: oh, width: ow, channels: C), data: out)
        case .globalAveragePool2D(let keep), .globalMaxPool2D(let keep):
            var isMax = false
            if case .globalMaxPool2D = kind { isMax = true }
            var out = [Double](repeating: isMax ? -.infinity : 0, count: C)
            for p in 0..<(H * W) {
                for c in 0..<C {
                    out[c] = isMax ? max(out[c], x.data[p * C + c]) : out[c] + x.data[p * C + c]
                }
            }
            if !isMax { out = out.map { $0 / Double(H * W) } }
            return Value(shape: keep ? TensorShape(height: 1, width: 1, channels: C) : TensorShape(flat: C), data: out)
        case .zeroPadding2D(let t, let b, let l, let r):
            let shape = TensorShape(height: H + t + b, width: W + l + r, channels: C)
            var out = [Double](repeating: 0, count: shape.elementCount)
            for y in 0..<H {
                for xx in 0..<W { for c in 0..<C { out[((y + t) * shape.width + xx + l) * C + c] = at(x, y, xx, c) } }
            }
            return Value(shape: shape, data: out)
        case .flatten:
            return Value(shape: TensorShape(flat: x.shape.elementCount), data: x.data)
        case .channelAffine:
            return Value(
                shape: x.shape, data: x.data.enumerated().map { i, v in v * weights[0][i % C] + weights[1][i % C] })
        case .activation:
            return x
        case .add:
            var out = x.data
            for other in inputs.dropFirst() { for i in out.indices { out[i] += other.data[i] } }
            return Value(shape: x.shape, data: out)
        case .concatenate:
            let total = inputs.reduce(0) { $0 + $1.shape.channels }
            var out: [Double] = []
            for p in 0..<x.shape.pixels {
                for v in inputs { out += v.data[(p * v.shape.channels)..<((p + 1) * v.shape.channels)] }
            }
            var shape = x.shape
            shape.channels = total
            return Value(shape: shape, data: out)
        }
    }

    static func activate(_ a: Activation, _ data: [Double], channels: Int) -> [Double] {
        switch a {
        case .linear: return data
        case .relu(let m, let s, let t):
            return data.map { $0 > Double(t) ? min($0, Double(m)) : Double(s) * ($0 - Double(t)) }
        case .elu(let alpha): return data.map { $0 > 0 ? $0 : Double(alpha) * (exp($0) - 1) }
        case .selu:
            return data.map {
                $0 > 0 ? 1.0507009873554805 * $0 : 1.0507009873554805 * 1.6732632423543772 * (exp($0) - 1)
            }
        case .sigmoid: return data.map { 1 / (1 + exp(-$0)) }
        case .hardSigmoid: return data.map { min(max($0 + 3, 0), 6) / 6 }
        case .tanh: return data.map { Foundation.tanh($0) }
        case .swish: return data.map { $0 / (1 + exp(-$0)) }
        case .hardSwish: return data.map { $0 * min(max($0 + 3, 0), 6) / 6 }
        case .gelu: return data.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
        case .softmax:
            var out = data
            for start in stride(from: 0, to: data.count, by: channels) {
                let row = data[start..<(start + channels)]
                let m = row.max()!
                let e = row.map { exp($0 - m) }
                let s = e.reduce(0, +)
                for i in 0..<channels { out[start + i] = e[i] / s }
            }
            return out
        }
    }
}

/// A deterministic generator (SplitMix64), so every run draws the same cases.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == Float {
    static func random(_ count: Int, _ rng: inout SplitMix64, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &rng) }
    }
}

/// Compares optimized and reference outputs with XNNPACK's tolerance,
/// `max(1e-5, |ref| * 1e-4)` (float32 accumulation over up to a few thousand terms).
func firstMismatch(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-4) -> String? {
    guard actual.count == expected.count else { return "count \(actual.count) != \(expected.count)" }
    for i in actual.indices {
        let allowed = max(tolerance, abs(expected[i]) * tolerance)
        if !(abs(actual[i] - expected[i]) <= allowed) {
            return "at \(i): reference = \(expected[i]), optimized = \(actual[i])"
        }
    }
    return nil
}
