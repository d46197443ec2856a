import CInt8Kernels

@testable import Cnnz

/// What the depthwise row kernels' tests (Int8DepthwiseTests, Int8DepthwiseAVX2Tests) share: the
/// plain loop they are checked against, and the output stages they take in turn.
enum Int8DepthwiseRowReference {
    /// Output row `oy` of a depthwise convolution (depth multiplier 1, channels innermost) over the
    /// window `w`, by a plain loop: the taps inside the image, `(q - inputZero) * weight` added to
    /// the bias, scaled by the real multiplier (the reference's rounding), the activation's zero
    /// point, clamp and table.
    static func row<Weight: BinaryInteger>(
        _ oy: Int, _ w: cnnz_qs8_window, image: [Int8], weights: [Weight], bias: [Int32], reals: [Double],
        inputZero: Int32, activation: Int8Activation
    ) -> [Int8] {
        let (n, kh, kw) = (w.channels, w.kernel_height, w.kernel_width)
        var row = [Int8](repeating: 0, count: w.out_width * n)
        for ox in 0..<w.out_width {
            for j in 0..<n {
                var sum = bias[j]
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let iy = oy * w.stride_height - w.pad_top + ky * w.dilation_height
                        let ix = ox * w.stride_width - w.pad_left + kx * w.dilation_width
                        guard iy >= 0, iy < w.height, ix >= 0, ix < w.width else { continue }
                        sum +=
                            (Int32(image[(iy * w.width + ix) * n + j]) - inputZero)
                            * Int32(weights[(ky * kw + kx) * n + j])
                    }
                }
                let v = Int8Reference.clamp(
                    Int8Reference.scaled(sum, by: reals[j]) + activation.zeroPoint, activation.bounds)
                row[ox * n + j] = activation.table.map { $0[Int(v) + 128] } ?? v
            }
        }
        return row
    }

    /// The output stage of `kind` (a trial number, mod 4): 1 ReLU6, 2 a sigmoid table (its
    /// pre-activation zero point `outputZero`), 0 and 3 linear; output scale 0.05.
    static func activation(_ kind: Int, outputZero: Int32) -> Int8Activation {
        let output = ActivationQuantization(scale: 0.05, zeroPoint: outputZero)
        return switch kind % 4 {
        case 1: Int8Activation(.relu(maxValue: 6, negativeSlope: 0, threshold: 0), output: output)
        case 2:
            Int8Activation(
                .sigmoid,
                output: ActivationQuantization(
                    scale: 1.0 / 256, zeroPoint: -128, preActivationScale: 0.05, preActivationZeroPoint: outputZero))
        default: Int8Activation(.linear, output: output)
        }
    }
}
