import Testing

@testable import Cnnz

/// One 3x3 (or 2x2) stride-1 convolution that `Conv2DWinograd` runs, every parameter in its description.
struct WinogradCase: CustomTestStringConvertible, Sendable {
    var height: Int
    var width: Int
    var channels: Int
    var filters: Int
    var batch: Int
    var padding: Padding
    var activation: Activation
    var hasBias: Bool
    /// The window's side: 3, or 2 (F(3x3, 2x2)).
    var taps = 3

    var testDescription: String {
        "h=\(height) w=\(width) cin=\(channels) cout=\(filters) batch=\(batch) padding=\(padding) "
            + "activation=\(activation.name) bias=\(hasBias) window=\(taps)x\(taps)"
    }

    /// F(4x4, 3x3)'s error bound, relative to `Σ|w||x| + |b|` of the output: the
    /// transforms multiply by constants up to 5 (input) and 8 (output) and sum
    /// 6x6 terms, so a float32 rounding of the transformed values (2^-24) grows
    /// by 10-100x: the largest seen over these cases is 1.5e-6 (F(4x4); F(2x2)
    /// stays under 1e-6), so 1e-5 leaves a margin of about 7x.
    static let relativeTolerance: Double = 1e-5

    /// The layer's seeded weights and input.
    struct Data {
        var kernel: [Float]
        var bias: [Float]
        var input: [Float]
    }

    func data(seed: UInt64) -> Data {
        var rng = SplitMix64(seed: seed)
        let kernel = [Float].random(taps * taps * channels * filters, &rng)
        let bias = [Float].random(filters, &rng)
        return Data(kernel: kernel, bias: bias, input: .random(batch * height * width * channels, &rng))
    }

    var window: Window { Window(kernelHeight: taps, kernelWidth: taps, padding: padding) }

    /// The reference twin: the direct convolution in Double, clamped, and per output
    /// `Σ|w||x| + |b|` (the scale of its rounding error).
    func reference(_ d: Data) -> (values: [Double], magnitudes: [Double]) {
        let (rows, columns) = window.geometry(height: height, width: width)!
        var values: [Double] = []
        var magnitudes: [Double] = []
        for b in 0..<batch {
            for oy in 0..<rows.output {
                for ox in 0..<columns.output {
                    for f in 0..<filters {
                        var sum = hasBias ? Double(d.bias[f]) : 0
                        var magnitude = abs(sum)
                        for ky in 0..<taps {
                            let iy = oy - rows.padBefore + ky
                            guard iy >= 0 && iy < height else { continue }
                            for kx in 0..<taps {
                                let ix = ox - columns.padBefore + kx
                                guard ix >= 0 && ix < width else { continue }
                                for c in 0..<channels {
                                    let w = Double(d.kernel[((ky * taps + kx) * channels + c) * filters + f])
                                    let v = Double(d.input[((b * height + iy) * width + ix) * channels + c])
                                    sum += w * v
                                    magnitude += abs(w * v)
                                }
                            }
                        }
                        if case .relu(let maximum, _, _) = activation { sum = min(max(sum, 0), Double(maximum)) }
                        values.append(sum)
                        magnitudes.append(magnitude)
                    }
                }
            }
        }
        return (values, magnitudes)
    }

    /// The first output farther from the reference than the tolerance allows.
    func firstError(_ actual: [Float], _ expected: (values: [Double], magnitudes: [Double])) -> String? {
        guard actual.count == expected.values.count else { return "count \(actual.count) != \(expected.values.count)" }
        for i in actual.indices {
            let error = abs(Double(actual[i]) - expected.values[i])
            if !(error <= Self.relativeTolerance * expected.magnitudes[i]) {
                return "output \(i) (pixel \(i / filters), filter \(i % filters)): reference \(expected.values[i]), "
                    + "Winograd \(actual[i]), error \(error) > \(Self.relativeTolerance) * \(expected.magnitudes[i])"
            }
        }
        return nil
    }

    /// Through a model: the registry must pick `Conv2DWinograd`; 1, 2 and 3 threads
    /// (split by tiles or by panels) give the same bits.
    func check(seed: UInt64 = 2015) throws -> String? {
        let d = data(seed: seed)
        let input = TensorShape(height: height, width: width, channels: channels)
        var tensors = [Tensor(shape: [taps, taps, channels, filters], values: d.kernel)]
        if hasBias { tensors.append(Tensor(shape: [filters], values: d.bias)) }
        let layer = Layer(
            kind: .conv2D(window: window, filters: filters, groups: 1, hasBias: hasBias), activation: activation,
            inputs: [0], weights: hasBias ? [0, 1] : [0])
        let description = ModelDescription(
            name: "winograd", labels: [], preprocessing: .identity,
            graph: Graph(inputShape: input, layers: [layer]), tensors: tensors, selfTest: nil)
        let model = try Model(description)
        guard model.plan.kernels.first is Conv2DWinograd else { return "not run by Conv2DWinograd" }
        let actual = try model.makeSession(batchCapacity: batch).run(d.input, batch: batch)
        if let error = firstError(actual, reference(d)) { return error }
        for threads in [2, 3] {
            let session = try model.makeSession(batchCapacity: batch, threads: threads, minimumWorkPerPart: 1)
            let parallel = try session.run(d.input, batch: batch)
            if parallel != actual {
                return "\(threads) threads: " + (firstMismatch(parallel, actual, tolerance: 0) ?? "NaN differs")
            }
        }
        return nil
    }

    /// The kernel itself with the GEMM and transforms of `microkernel`'s build
    /// (the portable one too, which `GEMM.best` hides on an AVX2 machine), both variants.
    func checkKernel(_ variant: Conv2DWinograd.Variant, _ microkernel: GEMM.Microkernel, seed: UInt64 = 2015) throws
        -> String?
    {
        let d = data(seed: seed)
        let output = try runKernel(variant, microkernel, d)
        return firstError(output, reference(d)).map { "\(variant), \(microkernel): \($0)" }
    }

    /// The kernel's output on `d`, run in two uneven parts as two threads would split it.
    func runKernel(
        _ variant: Conv2DWinograd.Variant, _ microkernel: GEMM.Microkernel, _ d: Data, lastUnused: Bool? = nil
    ) throws -> [Float] {
        let (rows, columns) = window.geometry(height: height, width: width)!
        let x = TensorShape(height: height, width: width, channels: channels)
        let y = TensorShape(height: rows.output, width: columns.output, channels: filters)
        let operands = KernelOperands(inputs: [0], inputShapes: [x], output: 1, outputShape: y)
        let kernel = try Conv2DWinograd(
            operands: operands, variant: variant, window: window, activation: activation,
            kernel: Tensor(shape: [taps, taps, channels, filters], values: d.kernel),
            bias: hasBias ? Tensor(shape: [filters], values: d.bias) : nil, microkernel: microkernel,
            lastUnused: lastUnused)
        var output = [Float](repeating: .nan, count: batch * y.elementCount)
        let scratch = try AlignedBuffer(bytes: kernel.scratchBytes * 2)
        d.input.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o in
                var values: [UnsafeMutableRawPointer] = [
                    UnsafeMutableRawPointer(mutating: i.baseAddress!), UnsafeMutableRawPointer(o.baseAddress!),
                ]
                values.withUnsafeMutableBufferPointer { v in
                    let context = RunContext(values: v.baseAddress!, batch: batch, scratch: scratch.raw)
                    kernel.run(context, part: 0, of: 2)
                    kernel.run(context, part: 1, of: 2)
                }
            }
        }
        return output
    }
}

let winogradCases: [WinogradCase] = {
    let activations: [Activation] = [.linear, .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0)]
    // cifar_vgg-like shapes (multiples of the tiles and vectors), smaller; F(2x2) on 4x4 and 6x6.
    var cases = [
        WinogradCase(
            height: 6, width: 6, channels: 24, filters: 20, batch: 2, padding: .valid, activation: .plainReLU,
            hasBias: true),
        WinogradCase(
            height: 8, width: 8, channels: 16, filters: 32, batch: 1, padding: .same, activation: .plainReLU,
            hasBias: true),
        WinogradCase(
            height: 4, width: 4, channels: 64, filters: 48, batch: 2, padding: .same, activation: .linear,
            hasBias: true),
    ]
    // Seeded random shapes that miss the 4x4 output tile, the 8-channel vector,
    // the 16-column panel and the 5-row microkernel tile.
    // (Outputs of at least 4x4: F(2x2) from 4, F(4x4) from 7; the registry leaves smaller to im2col.)
    var rng = SplitMix64(seed: 43)
    for i in 0..<24 {
        let padding: Padding = i % 2 == 0 ? .same : .valid
        let smallest = padding == .same ? 4 : 6
        cases.append(
            WinogradCase(
                height: Int.random(in: smallest...15, using: &rng), width: Int.random(in: smallest...15, using: &rng),
                channels: Int.random(in: 4...37, using: &rng), filters: Int.random(in: 4...41, using: &rng),
                batch: Int.random(in: 1...3, using: &rng), padding: padding, activation: activations[i % 3],
                hasBias: i % 4 != 3))
    }
    return cases
}()

/// F(3x3, 2x2) on 2x2 windows: seeded random shapes with channel and filter counts
/// that miss the 8-channel vector and the 16-column panel (1, 3, 5, 12, 17, 25, ...),
/// odd sides that miss the 3x3 output tile, batches of 1 to 3; seed002's shapes, smaller.
let winograd2x2Cases: [WinogradCase] = {
    let activations: [Activation] = [.linear, .plainReLU, .relu(maxValue: 6, negativeSlope: 0, threshold: 0)]
    let counts = [1, 3, 5, 8, 12, 16, 17, 25, 33, 50]
    var cases = [
        WinogradCase(
            height: 31, width: 31, channels: 12, filters: 25, batch: 1, padding: .valid, activation: .plainReLU,
            hasBias: true, taps: 2),
        WinogradCase(
            height: 13, width: 13, channels: 50, filters: 50, batch: 2, padding: .valid, activation: .plainReLU,
            hasBias: true, taps: 2),
        // Outputs of 3k + 2: the last tiles' fourth input row and column lie past the image.
        WinogradCase(
            height: 30, width: 12, channels: 25, filters: 25, batch: 2, padding: .valid, activation: .plainReLU,
            hasBias: true, taps: 2),
        WinogradCase(
            height: 12, width: 30, channels: 17, filters: 25, batch: 1, padding: .same, activation: .linear,
            hasBias: true, taps: 2),
    ]
    var rng = SplitMix64(seed: 32)
    for i in 0..<24 {
        cases.append(
            WinogradCase(
                height: Int.random(in: 2...17, using: &rng), width: Int.random(in: 2...17, using: &rng),
                channels: counts.randomElement(using: &rng)!, filters: counts.randomElement(using: &rng)!,
                batch: Int.random(in: 1...3, using: &rng), padding: i % 3 == 2 ? .same : .valid,
                activation: activations[i % 3], hasBias: i % 4 != 3, taps: 2))
    }
    return cases
}()

@Suite struct WinogradTests {
    @Test(arguments: winogradCases)
    func winogradMatchesReference(_ c: WinogradCase) throws {
        let mismatch = try c.check()
        #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
    }

    /// Both variants on every shape, with every build this CPU runs.
    @Test(arguments: winogradCases)
    func everyBuildAndVariantMatchesReference(_ c: WinogradCase) throws {
        for microkernel in GEMM.available {
            for variant in [Conv2DWinograd.Variant.f4x4, .f2x2] {
                let mismatch = try c.checkKernel(variant, microkernel)
                #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
            }
        }
    }

    /// F(3x3, 2x2) on every shape with every build this CPU runs, and through a model
    /// (1, 2 and 3 threads: the same bits) where the registry gives it the layer.
    @Test(arguments: winograd2x2Cases)
    func f3x3k2MatchesReference(_ c: WinogradCase) throws {
        for microkernel in GEMM.available {
            let mismatch = try c.checkKernel(.f3x3k2, microkernel)
            #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
        }
        let (rows, columns) = c.window.geometry(height: c.height, width: c.width)!
        if c.channels >= 4 && c.filters >= 16 && min(rows.output, columns.output) >= 7 {
            let mismatch = try c.check()
            #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
        }
    }

    /// Valid F(3x3, 2x2): tiles whose fourth input row or column lies past the image read
    /// their third there (`lastUnused`), and give the same bits as the zero-filled path;
    /// padded layers (same) must not (their fourth row is the padding's zeros).
    @Test(arguments: winograd2x2Cases.filter { $0.channels >= 8 })
    func f3x3k2EdgeTilesGiveTheSameBits(_ c: WinogradCase) throws {
        let d = c.data(seed: 2015)
        for microkernel in GEMM.available {
            let fast = try c.runKernel(.f3x3k2, microkernel, d)
            let zeros = try c.runKernel(.f3x3k2, microkernel, d, lastUnused: false)
            let mismatch = fast == zeros ? nil : (firstMismatch(fast, zeros, tolerance: 0) ?? "NaN differs")
            #expect(mismatch == nil, "\(c.testDescription), \(microkernel): \(mismatch ?? "")")
        }
    }

    /// The layers it does not take go to im2col + GEMM: other windows, strides,
    /// dilations, groups, activations that are not a clamp, fewer than 8 channels.
    @Test func acceptsOnlyWhatItComputesFaster() {
        func shape(
            _ window: Window, channels: Int = 16, filters: Int = 16, groups: Int = 1,
            activation: Activation = .plainReLU, side: Int = 16
        ) -> KernelShape {
            let layer = Layer(
                kind: .conv2D(window: window, filters: filters, groups: groups, hasBias: true),
                activation: activation, inputs: [0], weights: [0, 1])
            return KernelShape(
                layer: layer, inputShapes: [TensorShape(height: side, width: side + 1, channels: channels)],
                outputShape: TensorShape(height: side, width: side + 1, channels: filters))
        }
        let w3 = Window(kernelHeight: 3, kernelWidth: 3, padding: .same)
        #expect(Conv2DWinograd.variant(shape(w3)) == .f4x4)
        #expect(Conv2DWinograd.variant(shape(w3, side: 7)) == .f4x4)
        #expect(Conv2DWinograd.variant(shape(w3, side: 6)) == .f2x2)
        #expect(Conv2DWinograd.variant(shape(w3, side: 4)) == .f2x2)
        #expect(!Conv2DWinograd.accepts(shape(w3, side: 3)))
        #expect(Conv2DWinograd.accepts(shape(Window(kernelHeight: 3, kernelWidth: 3, padding: .valid))))
        #expect(Conv2DWinograd.accepts(shape(w3, activation: .linear)))
        #expect(!Conv2DWinograd.accepts(shape(w3, activation: .sigmoid)))
        #expect(!Conv2DWinograd.accepts(shape(w3, channels: 3)))
        #expect(!Conv2DWinograd.accepts(shape(w3, filters: 3)))
        #expect(Conv2DWinograd.accepts(shape(w3, channels: 4, filters: 4)))
        #expect(!Conv2DWinograd.accepts(shape(w3, groups: 2)))
        #expect(
            !Conv2DWinograd.accepts(shape(Window(kernelHeight: 3, kernelWidth: 3, strideHeight: 2, padding: .same))))
        #expect(
            !Conv2DWinograd.accepts(shape(Window(kernelHeight: 3, kernelWidth: 3, dilationWidth: 2, padding: .same))))
        #expect(!Conv2DWinograd.accepts(shape(Window(kernelHeight: 5, kernelWidth: 5, padding: .same))))
        // 2x2: F(3x3, 2x2) from 16 filters and 7x7 outputs; seed002's 12 filters and 5x5 outputs take Conv2DDirect.
        let w2 = Window(kernelHeight: 2, kernelWidth: 2, padding: .valid)
        #expect(Conv2DWinograd.variant(shape(w2, channels: 12, filters: 25)) == .f3x3k2)
        #expect(Conv2DWinograd.variant(shape(w2, side: 7)) == .f3x3k2)
        #expect(!Conv2DWinograd.accepts(shape(w2, side: 6)))
        #expect(!Conv2DWinograd.accepts(shape(w2, channels: 12, filters: 12)))
        #expect(!Conv2DWinograd.accepts(shape(w2, channels: 3)))
        #expect(
            !Conv2DWinograd.accepts(shape(Window(kernelHeight: 2, kernelWidth: 2, strideHeight: 2, padding: .valid))))
        #expect(!Conv2DWinograd.accepts(shape(Window(kernelHeight: 2, kernelWidth: 3, padding: .valid))))
    }
}
