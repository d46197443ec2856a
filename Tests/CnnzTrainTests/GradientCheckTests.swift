import Cnnz
import Foundation
import Testing

@testable import CnnzTrain

/// Analytic gradients (float32, through the engine's GEMM) against central finite
/// differences of Float64 reference forward passes, on small random shapes.
/// Each check uses the scalar `L = sum(y * r)` for a random `r`, whose gradient
/// with respect to `y` is `r`, so `backward(r)` must give `dL/dx` and `dL/dW`.
@Suite struct GradientCheckTests {
    static let tolerance = 1e-3

    static func values(_ count: Int, _ random: inout SplitMix64, awayFromZero: Bool = false) -> [Float] {
        (0..<count).map { _ in
            let u = random.nextFloat() * 2 - 1
            return awayFromZero ? (u < 0 ? u - 0.1 : u + 0.1) : u
        }
    }

    static func double(_ v: [Float]) -> [Double] { v.map(Double.init) }

    struct Case: CustomTestStringConvertible, Sendable {
        var height, width, channels, filters, kernel, stride: Int
        var same: Bool
        var testDescription: String {
            "\(height)x\(width)x\(channels) → \(filters), \(kernel)x\(kernel)/\(stride) \(same ? "same" : "valid")"
        }
    }

    static let convCases = [
        Case(height: 5, width: 6, channels: 3, filters: 4, kernel: 3, stride: 1, same: true),
        Case(height: 7, width: 5, channels: 2, filters: 5, kernel: 3, stride: 2, same: true),
        Case(height: 6, width: 6, channels: 1, filters: 9, kernel: 2, stride: 1, same: false),
        Case(height: 8, width: 7, channels: 4, filters: 3, kernel: 3, stride: 2, same: false),
    ]

    @Test(arguments: convCases) func conv2D(_ c: Case) throws {
        var random = SplitMix64(seed: UInt64(c.height * 100 + c.filters))
        let batch = 2
        let shape = TensorShape(height: c.height, width: c.width, channels: c.channels)
        let window = Window(
            kernelHeight: c.kernel, kernelWidth: c.kernel, strideHeight: c.stride, strideWidth: c.stride,
            padding: c.same ? .same : .valid)
        let kernelShape = [c.kernel, c.kernel, c.channels, c.filters]
        let kernel = Parameter(shape: kernelShape, value: Self.values(kernelShape.reduce(1, *), &random))
        let bias = Parameter(shape: [c.filters], value: Self.values(c.filters, &random))
        let layer = Conv2DLayer(input: shape, window: window, filters: c.filters, kernel: kernel, bias: bias)
        let x = Self.values(batch * shape.elementCount, &random)
        let y = try layer.forward(x, batch: batch, training: true)
        let r = Self.values(y.count, &random)
        let dx = try layer.backward(r, batch: batch)

        func loss(_ x: [Double], _ k: [Double], _ b: [Double]) -> Double {
            Reference.dot(
                Reference.conv2D(x, batch: batch, shape: shape, kernel: k, bias: b, window: window, filters: c.filters),
                Self.double(r))
        }
        let (xd, kd, bd) = (Self.double(x), Self.double(kernel.value), Self.double(bias.value))
        let expected = Reference.conv2D(
            xd, batch: batch, shape: shape, kernel: kd, bias: bd, window: window, filters: c.filters)
        #expect(y.count == expected.count)
        #expect(zip(y, expected).allSatisfy { abs(Double($0) - $1) < 1e-4 })
        let errors = [
            Reference.maxRelativeError(dx, Reference.numericGradient(xd) { loss($0, kd, bd) }),
            Reference.maxRelativeError(kernel.gradient, Reference.numericGradient(kd) { loss(xd, $0, bd) }),
            Reference.maxRelativeError(bias.gradient, Reference.numericGradient(bd) { loss(xd, kd, $0) }),
        ]
        print(
            "gradient check Conv2D \(c.testDescription): max relative error x \(errors[0]), kernel \(errors[1]), bias \(errors[2])"
        )
        #expect(errors.allSatisfy { $0 < Self.tolerance })
    }

    @Test(arguments: [false, true]) func dense(onImage: Bool) throws {
        var random = SplitMix64(seed: onImage ? 7 : 8)
        let batch = 3
        let shape = onImage ? TensorShape(height: 2, width: 3, channels: 5) : TensorShape(flat: 11)
        let units = 6
        let inputs = shape.channels
        let kernel = Parameter(shape: [inputs, units], value: Self.values(inputs * units, &random))
        let bias = Parameter(shape: [units], value: Self.values(units, &random))
        let layer = DenseLayer(input: shape, units: units, kernel: kernel, bias: bias)
        let rows = batch * shape.pixels
        let x = Self.values(rows * inputs, &random)
        let y = try layer.forward(x, batch: batch, training: true)
        let r = Self.values(y.count, &random)
        let dx = try layer.backward(r, batch: batch)
        func loss(_ x: [Double], _ k: [Double], _ b: [Double]) -> Double {
            Reference.dot(
                Reference.dense(x, rows: rows, inputs: inputs, kernel: k, bias: b, units: units), Self.double(r))
        }
        let (xd, kd, bd) = (Self.double(x), Self.double(kernel.value), Self.double(bias.value))
        let expected = Reference.dense(xd, rows: rows, inputs: inputs, kernel: kd, bias: bd, units: units)
        #expect(zip(y, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 })
        let errors = [
            Reference.maxRelativeError(dx, Reference.numericGradient(xd) { loss($0, kd, bd) }),
            Reference.maxRelativeError(kernel.gradient, Reference.numericGradient(kd) { loss(xd, $0, bd) }),
            Reference.maxRelativeError(bias.gradient, Reference.numericGradient(bd) { loss(xd, kd, $0) }),
        ]
        print(
            "gradient check Dense \(shape) → \(units): max relative error x \(errors[0]), kernel \(errors[1]), bias \(errors[2])"
        )
        #expect(errors.allSatisfy { $0 < Self.tolerance })
    }

    @Test(arguments: [(2, 2, false), (3, 2, true), (3, 1, true)]) func maxPool(size: Int, stride: Int, same: Bool)
        throws
    {
        var random = SplitMix64(seed: UInt64(size * 10 + stride))
        let batch = 2
        let shape = TensorShape(height: 7, width: 6, channels: 3)
        let window = Window(
            kernelHeight: size, kernelWidth: size, strideHeight: stride, strideWidth: stride,
            padding: same ? .same : .valid)
        let layer = MaxPoolLayer(input: shape, window: window)
        let x = Self.values(batch * shape.elementCount, &random)
        let y = try layer.forward(x, batch: batch, training: true)
        let r = Self.values(y.count, &random)
        let dx = try layer.backward(r, batch: batch)
        let xd = Self.double(x)
        let expected = Reference.maxPool(xd, batch: batch, shape: shape, window: window)
        #expect(y.map(Double.init) == expected)
        let numeric = Reference.numericGradient(xd) {
            Reference.dot(Reference.maxPool($0, batch: batch, shape: shape, window: window), Self.double(r))
        }
        let error = Reference.maxRelativeError(dx, numeric)
        print("gradient check MaxPooling2D \(size)/\(stride) \(same ? "same" : "valid"): max relative error x \(error)")
        #expect(error < Self.tolerance)
    }

    @Test func reluAndFlatten() throws {
        var random = SplitMix64(seed: 3)
        let shape = TensorShape(height: 3, width: 4, channels: 2)
        let relu = ReLULayer(input: shape)
        let flatten = FlattenLayer(input: shape)
        let x = Self.values(2 * shape.elementCount, &random, awayFromZero: true)
        let y = flatten.forward(relu.forward(x, batch: 2, training: true), batch: 2, training: true)
        #expect(flatten.outputShape == TensorShape(flat: 24))
        let r = Self.values(y.count, &random)
        let dx = relu.backward(flatten.backward(r, batch: 2), batch: 2)
        let numeric = Reference.numericGradient(Self.double(x)) {
            Reference.dot($0.map { max($0, 0) }, Self.double(r))
        }
        let error = Reference.maxRelativeError(dx, numeric)
        print("gradient check ReLU + Flatten: max relative error x \(error)")
        #expect(error < Self.tolerance)
    }

    @Test func softmaxCrossEntropy() {
        var random = SplitMix64(seed: 5)
        let classes = 7
        let labels = [3, 0, 6, 6, 2]
        let logits = Self.values(labels.count * classes, &random).map { $0 * 4 }
        let result = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels, classes: classes)
        let ld = Self.double(logits)
        #expect(abs(result.loss - Reference.crossEntropy(ld, labels: labels, classes: classes)) < 1e-5)
        let numeric = Reference.numericGradient(ld) { Reference.crossEntropy($0, labels: labels, classes: classes) }
        let error = Reference.maxRelativeError(result.gradient, numeric)
        print("gradient check softmax + cross-entropy: max relative error logits \(error)")
        #expect(error < Self.tolerance)
    }

    @Test func dropoutScalesTheKeptValuesAndPassesNothingElse() {
        var random = SplitMix64(seed: 9)
        let shape = TensorShape(flat: 4000)
        let layer = DropoutLayer(input: shape, rate: 0.3, seed: 11)
        let x = Self.values(shape.elementCount, &random, awayFromZero: true)
        #expect(layer.forward(x, batch: 1, training: false) == x)
        let y = layer.forward(x, batch: 1, training: true)
        let kept = zip(x, y).filter { $1 != 0 }
        #expect(kept.allSatisfy { abs($1 - $0 / 0.7) <= 1e-6 * abs($1) })
        let dropped = Double(x.count - kept.count) / Double(x.count)
        #expect(abs(dropped - 0.3) < 0.03)
        let r = Self.values(y.count, &random)
        let dx = layer.backward(r, batch: 1)
        for i in 0..<x.count { #expect(dx[i] == (y[i] == 0 ? 0 : r[i] / 0.7) || abs(dx[i] - r[i] / 0.7) < 1e-6) }
    }
}
