import Cnnz
import Foundation

@testable import CnnzTrain

/// Float64 reference forward passes, written directly from the definitions
/// (no im2col, no GEMM), for the gradient checks.
enum Reference {
    /// TensorFlow's output size and leading padding, restated here independently.
    static func axis(_ input: Int, _ kernel: Int, _ stride: Int, _ same: Bool) -> (Int, Int) {
        if !same { return ((input - kernel) / stride + 1, 0) }
        let output = (input + stride - 1) / stride
        return (output, max((output - 1) * stride + kernel - input, 0) / 2)
    }

    static func conv2D(
        _ x: [Double], batch: Int, shape: TensorShape, kernel: [Double], bias: [Double]?, window: Window, filters: Int
    ) -> [Double] {
        let (h, w, c) = (shape.height, shape.width, shape.channels)
        let same = window.padding == .same
        let (oh, top) = axis(h, window.kernelHeight, window.strideHeight, same)
        let (ow, left) = axis(w, window.kernelWidth, window.strideWidth, same)
        var y = [Double](repeating: 0, count: batch * oh * ow * filters)
        for b in 0..<batch {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for f in 0..<filters {
                        var sum = bias?[f] ?? 0
                        for ky in 0..<window.kernelHeight {
                            for kx in 0..<window.kernelWidth {
                                let iy = oy * window.strideHeight + ky - top
                                let ix = ox * window.strideWidth + kx - left
                                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                for ch in 0..<c {
                                    sum +=
                                        x[((b * h + iy) * w + ix) * c + ch]
                                        * kernel[((ky * window.kernelWidth + kx) * c + ch) * filters + f]
                                }
                            }
                        }
                        y[((b * oh + oy) * ow + ox) * filters + f] = sum
                    }
                }
            }
        }
        return y
    }

    static func dense(_ x: [Double], rows: Int, inputs: Int, kernel: [Double], bias: [Double]?, units: Int) -> [Double]
    {
        var y = [Double](repeating: 0, count: rows * units)
        for r in 0..<rows {
            for u in 0..<units {
                var sum = bias?[u] ?? 0
                for i in 0..<inputs { sum += x[r * inputs + i] * kernel[i * units + u] }
                y[r * units + u] = sum
            }
        }
        return y
    }

    static func maxPool(_ x: [Double], batch: Int, shape: TensorShape, window: Window) -> [Double] {
        let (h, w, c) = (shape.height, shape.width, shape.channels)
        let same = window.padding == .same
        let (oh, top) = axis(h, window.kernelHeight, window.strideHeight, same)
        let (ow, left) = axis(w, window.kernelWidth, window.strideWidth, same)
        var y = [Double](repeating: -.infinity, count: batch * oh * ow * c)
        for b in 0..<batch {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for ky in 0..<window.kernelHeight {
                        for kx in 0..<window.kernelWidth {
                            let iy = oy * window.strideHeight + ky - top
                            let ix = ox * window.strideWidth + kx - left
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            for ch in 0..<c {
                                let o = ((b * oh + oy) * ow + ox) * c + ch
                                y[o] = max(y[o], x[((b * h + iy) * w + ix) * c + ch])
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Mean categorical cross-entropy of softmax(logits).
    static func crossEntropy(_ logits: [Double], labels: [Int], classes: Int) -> Double {
        var total = 0.0
        for (b, label) in labels.enumerated() {
            let row = Array(logits[(b * classes)..<((b + 1) * classes)])
            let top = row.max()!
            let sum = row.reduce(0) { $0 + Foundation.exp($1 - top) }
            total -= (row[label] - top) - Foundation.log(sum)
        }
        return total / Double(labels.count)
    }

    /// The largest relative difference between an analytic and a numeric gradient
    /// (the difference over the larger magnitude, with a floor of 1e-3 for values near 0).
    static func maxRelativeError(_ analytic: [Float], _ numeric: [Double]) -> Double {
        zip(analytic, numeric).map { a, n in abs(Double(a) - n) / max(abs(Double(a)), abs(n), 1e-3) }.max() ?? 0
    }

    /// Central differences of `f` at every element of `x`, in Float64.
    static func numericGradient(_ x: [Double], step: Double = 1e-4, _ f: ([Double]) -> Double) -> [Double] {
        var probe = x
        return (0..<x.count).map { i in
            probe[i] = x[i] + step
            let up = f(probe)
            probe[i] = x[i] - step
            let down = f(probe)
            probe[i] = x[i]
            return (up - down) / (2 * step)
        }
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
}
