import Cnnz
import Testing

@testable import CnnzTrain

/// The direct path of a first Conv2D on single-channel images (`Conv2DLayer.convolvesDirectly`) and
/// the vector column sums of the bias gradients: every kernel build this CPU runs against Float64
/// references, on shapes whose widths miss the 4-pixel groups and the 6-tap tiles.
@Suite struct DirectConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var height, width, filters, kernel: Int
        var same: Bool
        var testDescription: String {
            "\(height)x\(width)x1 → \(filters), \(kernel)x\(kernel) \(same ? "same" : "valid")"
        }
    }

    static let cases = [
        Case(height: 6, width: 7, filters: 16, kernel: 3, same: true),
        Case(height: 5, width: 9, filters: 32, kernel: 2, same: false),
        Case(height: 7, width: 4, filters: 16, kernel: 3, same: true),
        Case(height: 3, width: 6, filters: 48, kernel: 5, same: true),
        Case(height: 9, width: 6, filters: 16, kernel: 1, same: false),
    ]

    static func layer(_ c: Case, _ random: inout SplitMix64, direct: Bool) -> Conv2DLayer {
        let window = Window(kernelHeight: c.kernel, kernelWidth: c.kernel, padding: c.same ? .same : .valid)
        let count = c.kernel * c.kernel * c.filters
        let kernel = Parameter(
            shape: [c.kernel, c.kernel, 1, c.filters], value: GradientCheckTests.values(count, &random))
        let bias = Parameter(shape: [c.filters], value: GradientCheckTests.values(c.filters, &random))
        let layer = Conv2DLayer(
            input: TensorShape(height: c.height, width: c.width, channels: 1), window: window, filters: c.filters,
            kernel: kernel, bias: bias)
        layer.needsInputGradient = !direct
        return layer
    }

    /// The direct path against Float64 references: outputs (with and without the fused ReLU) and the
    /// gradients of the kernel and bias against central differences, at every kernel build.
    @Test(arguments: cases) func gradientCheck(_ c: Case) throws {
        for level in KernelTests.levels {
            var random = SplitMix64(seed: UInt64(c.height * 100 + c.width))
            let layer = Self.layer(c, &random, direct: true)
            layer.level = level
            #expect(layer.convolvesDirectly)
            let batch = 2
            let x = GradientCheckTests.values(batch * layer.inputShape.elementCount, &random)
            let (kernel, bias) = (layer.parameters[0], layer.parameters[1])
            let (xd, kd, bd) = (
                GradientCheckTests.double(x), GradientCheckTests.double(kernel.value),
                GradientCheckTests.double(bias.value)
            )
            let expected = Reference.conv2D(
                xd, batch: batch, shape: layer.inputShape, kernel: kd, bias: bd, window: layer.window,
                filters: c.filters)
            layer.appliesReLU = true
            let rectified = try layer.forward(x, batch: batch, training: false)
            #expect(zip(rectified, expected).allSatisfy { abs(Double($0) - max($1, 0)) < 1e-5 }, "\(level) \(c)")
            layer.appliesReLU = false
            let y = try layer.forward(x, batch: batch, training: true)
            #expect(y.count == expected.count)
            #expect(zip(y, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 }, "\(level) \(c)")
            let r = GradientCheckTests.values(y.count, &random)
            _ = try layer.backward(r, batch: batch)
            func loss(_ k: [Double], _ b: [Double]) -> Double {
                Reference.dot(
                    Reference.conv2D(
                        xd, batch: batch, shape: layer.inputShape, kernel: k, bias: b, window: layer.window,
                        filters: c.filters), GradientCheckTests.double(r))
            }
            let errors = [
                Reference.maxRelativeError(kernel.gradient, Reference.numericGradient(kd) { loss($0, bd) }),
                Reference.maxRelativeError(bias.gradient, Reference.numericGradient(bd) { loss(kd, $0) }),
            ]
            print(
                "gradient check direct Conv2D \(c) at \(level): max relative error kernel \(errors[0]), bias \(errors[1])"
            )
            #expect(errors.allSatisfy { $0 < GradientCheckTests.tolerance }, "\(level) \(c): \(errors)")
        }
    }

    /// The direct forward pass sums the taps in im2col's order: its outputs equal the GEMM path's to the bit.
    @Test(arguments: cases) func directOutputsEqualIm2colOnesToTheBit(_ c: Case) throws {
        var random = SplitMix64(seed: 5)
        let direct = Self.layer(c, &random, direct: true)
        random = SplitMix64(seed: 5)
        let im2col = Self.layer(c, &random, direct: false)
        #expect(direct.convolvesDirectly && !im2col.convolvesDirectly)
        for layer in [direct, im2col] { layer.appliesReLU = true }
        let x = GradientCheckTests.values(2 * direct.inputShape.elementCount, &random)
        #expect(try direct.forward(x, batch: 2, training: false) == im2col.forward(x, batch: 2, training: false))
    }

    @Test(arguments: KernelTests.levels) func columnSums(_ level: Kernels.Level) {
        var random = SplitMix64(seed: 6)
        for rows in [1, 3, 17, 200] {
            for n in KernelTests.widths + [64, 72, 100] {
                let g = GradientCheckTests.values(rows * n, &random)
                let start = GradientCheckTests.values(n, &random)
                var sums = start
                g.withUnsafeBufferPointer { g in
                    sums.withUnsafeMutableBufferPointer { s in
                        Kernels.accumulateColumnSums(rows: rows, n: n, g.baseAddress!, s.baseAddress!, level: level)
                    }
                }
                for j in 0..<n {
                    var sum = 0.0
                    for r in 0..<rows { sum += Double(g[r * n + j]) }
                    #expect(
                        KernelTests.close(sums[j], sum + Double(start[j]), k: rows),
                        "\(level) rows \(rows) n \(n) at \(j)")
                }
            }
        }
    }
}
