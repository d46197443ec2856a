import Testing

@testable import Cnnz

/// Winograd's weight transform (`WinogradTransforms.f64TransformWeights`, compiled once per
/// build) against its reference twin, element by element in Double as the transform is
/// defined: every build this CPU runs packs the same bits, panel padding zero, for channel
/// counts that miss the vector and panel widths.
@Suite struct WinogradWeightsTests {
    /// U[a][b] of channel pair (ci, co): half[ky][b] = ((0 + t0 G[b][0]) + t1 G[b][1]) + t2 G[b][2],
    /// then Float((G[a][0] half[0][b] + G[a][1] half[1][b]) + G[a][2] half[2][b]).
    static func reference(
        _ variant: Conv2DWinograd.Variant, kernel: [Float], cin: Int, cout: Int, ci: Int, co: Int, a: Int, b: Int
    ) -> Float {
        let (r, g) = (variant.taps, variant.g)
        var half = [Double](repeating: 0, count: r)
        for ky in 0..<r {
            var s = 0.0
            for kx in 0..<r { s += Double(kernel[((ky * r + kx) * cin + ci) * cout + co]) * g[b][kx] }
            half[ky] = s
        }
        var u = g[a][0] * half[0]
        for ky in 1..<r { u = u + g[a][ky] * half[ky] }
        return Float(u)
    }

    @Test(arguments: [(5, 21), (12, 40), (8, 16), (3, 7)])
    func everyBuildPacksTheReferenceBits(_ channels: (Int, Int)) throws {
        let (cin, cout) = channels
        var rng = SplitMix64(seed: UInt64(cin * 100 + cout))
        for variant in [Conv2DWinograd.Variant.f4x4, .f2x2, .f3x3k2] {
            let r = variant.taps
            let values = [Float].random(r * r * cin * cout, &rng)
            let x = TensorShape(height: 9, width: 9, channels: cin)
            let side = 9 - r + 1
            let y = TensorShape(height: side, width: side, channels: cout)
            let operands = KernelOperands(inputs: [0], inputShapes: [x], output: 1, outputShape: y)
            for microkernel in GEMM.available {
                let kernel = try Conv2DWinograd(
                    operands: operands, variant: variant,
                    window: Window(kernelHeight: r, kernelWidth: r, padding: .valid), activation: .linear,
                    kernel: Tensor(shape: [r, r, cin, cout], values: values), bias: nil, microkernel: microkernel)
                var mismatches = 0
                for a in 0..<variant.alpha {
                    for b in 0..<variant.alpha {
                        let packed = kernel.packed[a * variant.alpha + b]
                        let width = packed.panelWidth
                        for ci in 0..<cin {
                            for column in 0..<(packed.panels * width) {
                                let stored = packed.data[(column / width * cin + ci) * width + column % width]
                                let expected =
                                    column < cout
                                    ? Self.reference(
                                        variant, kernel: values, cin: cin, cout: cout, ci: ci, co: column, a: a, b: b)
                                    : 0
                                if stored.bitPattern != expected.bitPattern { mismatches += 1 }
                            }
                        }
                    }
                }
                #expect(mismatches == 0, "\(variant), \(microkernel), cin \(cin), cout \(cout)")
            }
        }
    }
}
