@testable import Cnnz

/// Integer references for the int8 operators beside Conv2D (TensorFlow Lite's
/// `reference_integer_ops` where it has one), slow on purpose: plain loops over
/// NHWC indices, no packing, no blocking, no zero-point folding.
extension Int8Reference {
    static func clamp(_ v: Int32, _ bounds: ClosedRange<Int32>) -> Int8 {
        Int8(min(max(v, bounds.lowerBound), bounds.upperBound))
    }

    /// `x * real`, through the quantized multiplier.
    static func scaled(_ x: Int32, by real: Double) -> Int32 {
        let (m, s) = quantizeMultiplier(real)
        return requantize(x, multiplier: m, shift: s)
    }

    /// Depthwise: output channel `c * multiplier + m` from input channel `c`;
    /// weights `[kh, kw, C, multiplier]`, scales per input channel or one.
    static func depthwise(
        _ input: Activation, weights: [Int8], weightScales: [Double], bias: [Int32]?, window: Window, multiplier: Int,
        outputScale: Double, outputZeroPoint: Int32, clamp bounds: ClosedRange<Int32>
    ) -> Activation {
        let x = input.shape
        let (rows, columns) = window.geometry(height: x.height, width: x.width)!
        let channels = x.channels * multiplier
        let y = TensorShape(height: rows.output, width: columns.output, channels: channels)
        var out = [Int8](repeating: 0, count: input.batch * y.elementCount)
        for b in 0..<input.batch {
            for oy in 0..<y.height {
                for ox in 0..<y.width {
                    for oc in 0..<channels {
                        let c = oc / multiplier
                        var sum = bias?[oc] ?? 0
                        for ky in 0..<window.kernelHeight {
                            let iy = oy * window.strideHeight - rows.padBefore + ky * window.dilationHeight
                            guard iy >= 0, iy < x.height else { continue }
                            for kx in 0..<window.kernelWidth {
                                let ix = ox * window.strideWidth - columns.padBefore + kx * window.dilationWidth
                                guard ix >= 0, ix < x.width else { continue }
                                let q = input.values[b * x.elementCount + (iy * x.width + ix) * x.channels + c]
                                let w = weights[(ky * window.kernelWidth + kx) * channels + oc]
                                sum += (Int32(q) - input.zeroPoint) * Int32(w)
                            }
                        }
                        let scale = weightScales.count == 1 ? weightScales[0] : weightScales[c]
                        let v = scaled(sum, by: input.scale * scale / outputScale) + outputZeroPoint
                        out[b * y.elementCount + (oy * y.width + ox) * channels + oc] = clamp(v, bounds)
                    }
                }
            }
        }
        return Activation(shape: y, batch: input.batch, values: out, scale: outputScale, zeroPoint: outputZeroPoint)
    }

    /// Max or average pooling; padded taps are left out (Keras), the average
    /// requantizes the sum by `inputScale / (outputScale * taps)`.
    static func pool(
        _ input: Activation, window: Window, max isMax: Bool, outputScale: Double, outputZeroPoint: Int32,
        clamp bounds: ClosedRange<Int32> = -128...127
    ) -> Activation {
        let x = input.shape
        let (rows, columns) = window.geometry(height: x.height, width: x.width)!
        let y = TensorShape(height: rows.output, width: columns.output, channels: x.channels)
        var out = [Int8](repeating: 0, count: input.batch * y.elementCount)
        for b in 0..<input.batch {
            for oy in 0..<y.height {
                for ox in 0..<y.width {
                    for c in 0..<x.channels {
                        var values: [Int32] = []
                        for ky in 0..<window.kernelHeight {
                            let iy = oy * window.strideHeight - rows.padBefore + ky
                            guard iy >= 0, iy < x.height else { continue }
                            for kx in 0..<window.kernelWidth {
                                let ix = ox * window.strideWidth - columns.padBefore + kx
                                guard ix >= 0, ix < x.width else { continue }
                                values.append(
                                    Int32(input.values[b * x.elementCount + (iy * x.width + ix) * x.channels + c]))
                            }
                        }
                        let v: Int32
                        if isMax {
                            v = scaled(values.max()! - input.zeroPoint, by: input.scale / outputScale)
                        } else {
                            let sum = values.reduce(0) { $0 + $1 - input.zeroPoint }
                            v = scaled(sum, by: input.scale / outputScale / Double(values.count))
                        }
                        out[b * y.elementCount + (oy * y.width + ox) * x.channels + c] = clamp(
                            v + outputZeroPoint, bounds)
                    }
                }
            }
        }
        return Activation(shape: y, batch: input.batch, values: out, scale: outputScale, zeroPoint: outputZeroPoint)
    }

    /// Global pooling: the pooling above over the whole image, to a flat `[C]`.
    static func globalPool(_ input: Activation, max isMax: Bool, outputScale: Double, outputZeroPoint: Int32)
        -> Activation
    {
        let x = input.shape
        let window = Window(kernelHeight: x.height, kernelWidth: x.width)
        var result = pool(
            input, window: window, max: isMax, outputScale: outputScale, outputZeroPoint: outputZeroPoint)
        result.shape = TensorShape(flat: x.channels)
        return result
    }

    /// TensorFlow Lite's int8 Add, for any number of inputs: `(q - z) << 20`,
    /// requantized by `scale / (2 * largest scale)`, summed, requantized to the output.
    static func add(
        _ inputs: [Activation], outputScale: Double, outputZeroPoint: Int32, clamp bounds: ClosedRange<Int32>
    )
        -> Activation
    {
        let twiceMax = 2 * inputs.map(\.scale).max()!
        var out = [Int8](repeating: 0, count: inputs[0].values.count)
        for i in out.indices {
            var sum: Int64 = 0
            for input in inputs {
                sum += Int64(scaled((Int32(input.values[i]) - input.zeroPoint) << 20, by: input.scale / twiceMax))
            }
            let v = scaled(Int32(clamping: sum), by: twiceMax / (Double(1 << 20) * outputScale))
            out[i] = clamp(v + outputZeroPoint, bounds)
        }
        return Activation(
            shape: inputs[0].shape, batch: inputs[0].batch, values: out, scale: outputScale, zeroPoint: outputZeroPoint)
    }

    /// Concatenation along channels, each input requantized to the output.
    static func concatenate(_ inputs: [Activation], outputScale: Double, outputZeroPoint: Int32) -> Activation {
        let pixels = inputs[0].shape.pixels * inputs[0].batch
        let channels = inputs.reduce(0) { $0 + $1.shape.channels }
        var out: [Int8] = []
        for p in 0..<pixels {
            for input in inputs {
                let c = input.shape.channels
                for i in 0..<c {
                    let v = scaled(Int32(input.values[p * c + i]) - input.zeroPoint, by: input.scale / outputScale)
                    out.append(clamp(v + outputZeroPoint, -128...127))
                }
            }
        }
        var shape = inputs[0].shape
        shape.channels = channels
        return Activation(
            shape: shape, batch: inputs[0].batch, values: out, scale: outputScale, zeroPoint: outputZeroPoint)
    }
}
