import Testing

@testable import Cnnz

/// One 3x3 stride-1 convolution that `Conv2DWinograd` runs, every parameter in its description.
struct WinogradCase: CustomTestStringConvertible, Sendable {
    var height: Int
    var width: Int
    var channels: Int
    var filters: Int
    var batch: Int
    var padding: Padding
    var activation: Activation
    var hasBias: Bool

    var testDescription: String {
        "h=\(height) w=\(width) cin=\(channels) cout=\(filters) batch=\(batch) padding=\(padding) "
            + "activation=\(activation.name) bias=\(hasBias)"
    }

    /// F(4x4, 3x3)'s error bound, relative to `Σ|w||x| + |b|` of the output: the
    /// transforms multiply by constants up to 5 (input) and 8 (output) and sum
    /// 6x6 terms, so a float32 rounding of the transformed values (2^-24) grows
    /// by about 100-1000x (the largest seen over these cases: about 1e-6).
    static let relativeTolerance: Double = 1e-5

    /// Runs the engine (1, 2 and 3 threads) and the Double reference; returns the first
    /// mismatch beyond the tolerance, or a difference between thread counts.
    func check(seed: UInt64 = 2015) throws -> String? {
        var rng = SplitMix64(seed: seed)
        let input = TensorShape(height: height, width: width, channels: channels)
        let window = Window(kernelHeight: 3, kernelWidth: 3, padding: padding)
        let kernel = [Float].random(9 * channels * filters, &rng)
        let bias = [Float].random(filters, &rng)
        var tensors = [Tensor(shape: [3, 3, channels, filters], values: kernel)]
        if hasBias { tensors.append(Tensor(shape: [filters], values: bias)) }
        let layer = Layer(
            kind: .conv2D(window: window, filters: filters, groups: 1, hasBias: hasBias), activation: activation,
            inputs: [0], weights: hasBias ? [0, 1] : [0])
        let description = ModelDescription(
            name: "winograd", labels: [], preprocessing: .identity,
            graph: Graph(inputShape: input, layers: [layer]), tensors: tensors, selfTest: nil)
        let model = try Model(description)
        guard model.plan.kernels.first is Conv2DWinograd else { return "not run by Conv2DWinograd" }
        let x = [Float].random(batch * input.elementCount, &rng)
        let actual = try model.makeSession(batchCapacity: batch).run(x, batch: batch)
        let expected = ReferenceEngine.run(description, input: x, batch: batch)
        // Σ|w||x| + |b| per output, with the padding's zeros.
        let (rows, columns) = window.geometry(height: height, width: width)!
        let outputPixels = rows.output * columns.output
        for b in 0..<batch {
            for oy in 0..<rows.output {
                for ox in 0..<columns.output {
                    for f in 0..<filters {
                        var magnitude = hasBias ? Double(abs(bias[f])) : 0
                        for ky in 0..<3 {
                            let iy = oy - rows.padBefore + ky
                            guard iy >= 0 && iy < height else { continue }
                            for kx in 0..<3 {
                                let ix = ox - columns.padBefore + kx
                                guard ix >= 0 && ix < width else { continue }
                                for c in 0..<channels {
                                    let w = kernel[((ky * 3 + kx) * channels + c) * filters + f]
                                    let v = x[((b * height + iy) * width + ix) * channels + c]
                                    magnitude += Double(abs(w) * abs(v))
                                }
                            }
                        }
                        let i = ((b * outputPixels) + oy * columns.output + ox) * filters + f
                        let error = abs(Double(actual[i]) - Double(expected[i]))
                        if !(error <= Self.relativeTolerance * magnitude) {
                            return "image \(b) y \(oy) x \(ox) filter \(f): reference \(expected[i]), "
                                + "Winograd \(actual[i]), error \(error) > \(Self.relativeTolerance) * \(magnitude)"
                        }
                    }
                }
            }
        }
        // Split by tiles or by panels, the same to the bit.
        for threads in [2, 3] {
            let session = try model.makeSession(batchCapacity: batch, threads: threads, minimumWorkPerPart: 1)
            let parallel = try session.run(x, batch: batch)
            if parallel != actual {
                return "\(threads) threads: " + (firstMismatch(parallel, actual, tolerance: 0) ?? "NaN differs")
            }
        }
        return nil
    }
}

let winogradCases: [WinogradCase] = {
    let activations: [Activation] = [.linear, .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0)]
    // The cifar_vgg shapes (multiples of the tiles and vectors), smaller.
    var cases = [
        WinogradCase(
            height: 8, width: 8, channels: 16, filters: 32, batch: 1, padding: .same, activation: .plainReLU,
            hasBias: true),
        WinogradCase(
            height: 4, width: 4, channels: 64, filters: 48, batch: 2, padding: .same, activation: .linear,
            hasBias: true),
    ]
    // Seeded random shapes that miss the 4x4 output tile, the 8-channel vector,
    // the 16-column panel and the 5-row microkernel tile.
    var rng = SplitMix64(seed: 43)
    for i in 0..<24 {
        let padding: Padding = i % 2 == 0 ? .same : .valid
        cases.append(
            WinogradCase(
                height: Int.random(in: 3...15, using: &rng), width: Int.random(in: 3...15, using: &rng),
                channels: Int.random(in: 8...37, using: &rng), filters: Int.random(in: 8...41, using: &rng),
                batch: Int.random(in: 1...3, using: &rng), padding: padding, activation: activations[i % 3],
                hasBias: i % 4 != 3))
    }
    return cases
}()

@Suite struct WinogradTests {
    @Test(arguments: winogradCases)
    func winogradMatchesReference(_ c: WinogradCase) throws {
        let mismatch = try c.check()
        #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
    }

    /// The layers it does not take go to im2col + GEMM: other windows, strides,
    /// dilations, groups, activations that are not a clamp, fewer than 8 channels.
    @Test func acceptsOnlyWhatItComputesFaster() {
        func shape(
            _ window: Window, channels: Int = 16, filters: Int = 16, groups: Int = 1,
            activation: Activation = .plainReLU
        ) -> KernelShape {
            let layer = Layer(
                kind: .conv2D(window: window, filters: filters, groups: groups, hasBias: true),
                activation: activation, inputs: [0], weights: [0, 1])
            return KernelShape(
                layer: layer, inputShapes: [TensorShape(height: 16, width: 16, channels: channels)],
                outputShape: TensorShape(height: 16, width: 16, channels: filters))
        }
        let w3 = Window(kernelHeight: 3, kernelWidth: 3, padding: .same)
        #expect(Conv2DWinograd.accepts(shape(w3)))
        #expect(Conv2DWinograd.accepts(shape(Window(kernelHeight: 3, kernelWidth: 3, padding: .valid))))
        #expect(Conv2DWinograd.accepts(shape(w3, activation: .linear)))
        #expect(!Conv2DWinograd.accepts(shape(w3, activation: .sigmoid)))
        #expect(!Conv2DWinograd.accepts(shape(w3, channels: 3)))
        #expect(!Conv2DWinograd.accepts(shape(w3, filters: 4)))
        #expect(!Conv2DWinograd.accepts(shape(w3, groups: 2)))
        #expect(!Conv2DWinograd.accepts(shape(Window(kernelHeight: 3, kernelWidth: 3, strideHeight: 2, padding: .same))))
        #expect(
            !Conv2DWinograd.accepts(shape(Window(kernelHeight: 3, kernelWidth: 3, dilationWidth: 2, padding: .same))))
        #expect(!Conv2DWinograd.accepts(shape(Window(kernelHeight: 5, kernelWidth: 5, padding: .same))))
    }
}
