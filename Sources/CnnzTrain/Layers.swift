import Cnnz

/// A trainable tensor and the gradient of the loss with respect to it.
public final class Parameter {
    /// Keras's shape for the weight (`[kh, kw, in, out]`, `[in, out]`, `[out]`).
    public let shape: [Int]
    public var value: [Float]
    /// Summed over the mini-batch by `backward`; cleared by the optimizer's step.
    public var gradient: [Float]
    /// False for frozen layers: the optimizer leaves the value alone.
    public var trainable: Bool

    public init(shape: [Int], value: [Float], trainable: Bool = true) {
        self.shape = shape
        self.value = value
        self.gradient = [Float](repeating: 0, count: value.count)
        self.trainable = trainable
    }
}

/// One layer of the training network. Batches are row-major `[batch, H, W, C]`.
/// `forward` keeps what `backward` needs; `backward` adds to the parameters'
/// gradients and returns the gradient with respect to the layer's input.
///
/// Layers own their output and input-gradient buffers and reuse them step after
/// step: the returned array stays valid until the layer's next call, and a
/// caller that keeps it past that makes the layer copy (allocate) once.
public protocol TrainingLayer: AnyObject {
    var inputShape: TensorShape { get }
    var outputShape: TensorShape { get }
    var parameters: [Parameter] { get }
    func forward(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float]
    func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float]
}

/// TensorFlow's output size and leading padding for one axis of a window.
func windowAxis(input: Int, kernel: Int, stride: Int, padding: Padding) -> (output: Int, before: Int) {
    switch padding {
    case .valid:
        return (input >= kernel ? (input - kernel) / stride + 1 : 0, 0)
    case .same:
        let output = (input + stride - 1) / stride
        let total = max((output - 1) * stride + kernel - input, 0)
        return (output, total / 2)
    }
}

extension TrainingLayer {
    /// Calls `body` with the bias (the second parameter) when the layer has one, else with nil.
    func withBias<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard parameters.count > 1 else { return body(nil) }
        return parameters[1].value.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// `sums[j] += g[row, j]` over every row (each column summed from 0, then added).
func sumRows(_ g: [Float], rows: Int, into sums: inout [Float]) {
    let n = sums.count
    g.withUnsafeBufferPointer { g in
        sums.withUnsafeMutableBufferPointer { s in
            Kernels.accumulateColumnSums(rows: rows, n: n, g.baseAddress!, s.baseAddress!)
        }
    }
}

/// Conv2D by im2col and GEMM. Kernel `[kh, kw, in, filters]`, bias `[filters]`.
public final class Conv2DLayer: TrainingLayer {
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public let parameters: [Parameter]
    let window: Window
    let filters: Int
    let padTop: Int
    let padLeft: Int
    /// False for the first layer, whose input gradient nobody needs (it is then not computed).
    public var needsInputGradient = true
    /// True when a ReLU follows: the GEMM's store applies it (the ReLU layer then passes values through).
    var appliesReLU = false
    /// The last training batch's input (the previous layer's buffer), released by `backward`.
    private var input: [Float] = []
    /// im2col of one group of images, `[images * OH * OW, kh * kw * in]`, and its gradient.
    private var columns: [Float] = []
    private var columnGradient: [Float] = []
    private var output: [Float] = []
    private var packed: [Float] = []
    private var packedTransposed: [Float] = []
    /// The packs of the weights, shared with the other replicas' copies of this layer (set by the trainer).
    var forwardPack: SharedPack?
    var transposedPack: SharedPack?
    private var inputGradient: [Float] = []
    /// The direct path's images, padded (see `convolvesDirectly`).
    private var padded: [Float] = []
    /// The build of the direct path's kernels (tests try each one).
    var level = Kernels.level

    public init(input: TensorShape, window: Window, filters: Int, kernel: Parameter, bias: Parameter?) {
        inputShape = input
        self.window = window
        self.filters = filters
        let rows = windowAxis(
            input: input.height, kernel: window.kernelHeight, stride: window.strideHeight, padding: window.padding)
        let cols = windowAxis(
            input: input.width, kernel: window.kernelWidth, stride: window.strideWidth, padding: window.padding)
        padTop = rows.before
        padLeft = cols.before
        outputShape = TensorShape(height: rows.output, width: cols.output, channels: filters)
        parameters = [kernel] + (bias.map { [$0] } ?? [])
    }

    var patchSize: Int { window.kernelHeight * window.kernelWidth * inputShape.channels }

    /// Images per im2col group: their columns (about 256 KB) stay in the L2 cache between
    /// being written and being multiplied, instead of a batch's worth going through memory.
    /// A batch whose columns take at most 1 MB is one group, kept for the backward pass.
    func groupSize(batch: Int) -> Int {
        let perImage = max(outputShape.pixels * patchSize, 1)
        return batch * perImage <= 1 << 18 ? batch : max(1, (1 << 16) / perImage)
    }

    /// True when the last forward pass's columns are the whole batch's (one group).
    private var columnsKept = false

    /// Calls `body(row, patchOffset, inputOffset, count)` for every run of taps
    /// inside the input, for the images `images` (rows counted from the first):
    /// the taps of one kernel row are contiguous in both the patch and the input, `count` floats.
    @inline(__always)
    private func forEachRun(images: Range<Int>, _ body: (Int, Int, Int, Int) -> Void) {
        let (h, w, c) = (inputShape.height, inputShape.width, inputShape.channels)
        let (kh, kw) = (window.kernelHeight, window.kernelWidth)
        for b in images {
            for oy in 0..<outputShape.height {
                for ox in 0..<outputShape.width {
                    let row = ((b - images.lowerBound) * outputShape.height + oy) * outputShape.width + ox
                    let x0 = ox * window.strideWidth - padLeft
                    let first = max(0, -x0)
                    let last = min(kw, w - x0)
                    guard first < last else { continue }
                    for ky in 0..<kh {
                        let y = oy * window.strideHeight + ky - padTop
                        guard y >= 0, y < h else { continue }
                        body(row, (ky * kw + first) * c, ((b * h + y) * w + x0 + first) * c, (last - first) * c)
                    }
                }
            }
        }
    }

    /// im2col of `images` into `columns` (padded taps are never written, so they
    /// stay zero: every group has the same layout).
    private func gatherColumns(_ x: UnsafePointer<Float>, images: Range<Int>) {
        let k = patchSize
        columns.withUnsafeMutableBufferPointer { cols in
            let target = cols.baseAddress!
            forEachRun(images: images) { row, patch, offset, count in
                let (to, from) = (target + row * k + patch, x + offset)
                // Short runs (a few taps of few channels) are copied inline, not through memmove.
                if count <= 16 {
                    for i in 0..<count { to[i] = from[i] }
                } else {
                    to.update(from: from, count: count)
                }
            }
        }
    }

    public func forward(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float] {
        if convolvesDirectly {
            forwardDirectly(input, batch: batch)
            return output
        }
        if training { self.input = input }
        let k = patchSize
        let pixels = outputShape.pixels
        let group = groupSize(batch: batch)
        columnsKept = training && group == batch
        columns.resize(to: group * pixels * k)
        output.resize(to: batch * pixels * filters)
        let weights = parameters[0]
        func multiplyGroups(_ b: UnsafePointer<Float>, ldb: Int) {
            input.withUnsafeBufferPointer { x in
                for first in stride(from: 0, to: batch, by: group) {
                    let images = first..<min(first + group, batch)
                    gatherColumns(x.baseAddress!, images: images)
                    withBias { bias in
                        columns.withUnsafeBufferPointer { cols in
                            output.withUnsafeMutableBufferPointer { y in
                                Kernels.multiply(
                                    m: images.count * pixels, k: k, n: filters, cols.baseAddress!, lda: k, packed: b,
                                    y.baseAddress! + first * pixels * filters, ldc: filters, bias: bias,
                                    relu: appliesReLU, ldb: ldb)
                            }
                        }
                    }
                }
            }
        }
        if Kernels.forwardReadsInPlace(k: k, n: filters) {
            weights.value.withUnsafeBufferPointer { multiplyGroups($0.baseAddress!, ldb: filters) }
        } else {
            let filters = filters
            withPack(forwardPack, &packed) { (target: inout [Float]) in
                weights.value.withUnsafeBufferPointer { w in
                    Kernels.pack(k: k, n: filters, w.baseAddress!, ldb: filters, transposed: false, into: &target)
                }
            } _: {
                multiplyGroups($0, ldb: 0)
            }
        }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float] {
        if convolvesDirectly {
            backwardDirectly(outputGradient, batch: batch)
            return inputGradient
        }
        defer { input = [] }
        let k = patchSize
        let pixels = outputShape.pixels
        let group = groupSize(batch: batch)
        if parameters.count > 1, parameters[1].trainable {
            sumRows(outputGradient, rows: batch * pixels, into: &parameters[1].gradient)
        }
        let weights = parameters[0].trainable
        inputGradient.resize(to: batch * inputShape.elementCount)
        if needsInputGradient {
            columnGradient.resize(to: group * pixels * k)
            inputGradient.zero()
        } else if !weights {
            return inputGradient
        }
        guard needsInputGradient else {
            backwardGroups(outputGradient, batch: batch, group: group, transposed: nil)
            return inputGradient
        }
        // dcols = dY · Wᵀ, the transpose folded into the packing.
        let (filters, kernel) = (filters, parameters[0])
        withPack(transposedPack, &packedTransposed) { (target: inout [Float]) in
            kernel.value.withUnsafeBufferPointer { w in
                Kernels.pack(k: filters, n: k, w.baseAddress!, ldb: filters, transposed: true, into: &target)
            }
        } _: { transposed in
            backwardGroups(outputGradient, batch: batch, group: group, transposed: transposed)
        }
        return inputGradient
    }

    /// True for a first layer on single-channel images (stride 1, a multiple of 16 filters, at least 4
    /// columns): it convolves directly from the padded images, which im2col's 9-float rows would slow
    /// down, and computes no input gradient.
    var convolvesDirectly: Bool {
        inputShape.channels == 1 && !needsInputGradient && window.strideHeight == 1 && window.strideWidth == 1
            && filters % 16 == 0 && outputShape.width >= 4
    }

    /// The direct path's view of `padded`.
    private func paddedImages(_ x: UnsafePointer<Float>, batch: Int) -> Kernels.PaddedImages {
        Kernels.PaddedImages(
            images: batch, x: x, paddedWidth: outputShape.width + window.kernelWidth - 1,
            outHeight: outputShape.height, outWidth: outputShape.width, kernelHeight: window.kernelHeight,
            kernelWidth: window.kernelWidth)
    }

    /// The direct path's forward pass: the images copied into `padded` (kept for the backward
    /// pass; the padding is never written, so it stays zero), then convolved.
    private func forwardDirectly(_ input: [Float], batch: Int) {
        let (h, w) = (inputShape.height, inputShape.width)
        let (paddedHeight, paddedWidth) = (
            outputShape.height + window.kernelHeight - 1, outputShape.width + window.kernelWidth - 1
        )
        padded.resize(to: batch * paddedHeight * paddedWidth)
        output.resize(to: batch * outputShape.pixels * filters)
        let (rows, columns) = (min(h, paddedHeight - padTop), min(w, paddedWidth - padLeft))
        padded.withUnsafeMutableBufferPointer { p in
            input.withUnsafeBufferPointer { x in
                for b in 0..<batch {
                    for y in 0..<rows {
                        (p.baseAddress! + (b * paddedHeight + y + padTop) * paddedWidth + padLeft).update(
                            from: x.baseAddress! + (b * h + y) * w, count: columns)
                    }
                }
            }
        }
        let weights = parameters[0]
        padded.withUnsafeBufferPointer { p in
            weights.value.withUnsafeBufferPointer { wt in
                withBias { bias in
                    output.withUnsafeMutableBufferPointer { y in
                        Kernels.convolveSingleChannel(
                            paddedImages(p.baseAddress!, batch: batch), weights: wt.baseAddress!, filters: filters,
                            bias: bias, relu: appliesReLU, y.baseAddress!, level: level)
                    }
                }
            }
        }
    }

    /// The direct path's backward pass: the bias's and the kernel's gradients only.
    private func backwardDirectly(_ outputGradient: [Float], batch: Int) {
        if parameters.count > 1, parameters[1].trainable {
            sumRows(outputGradient, rows: batch * outputShape.pixels, into: &parameters[1].gradient)
        }
        inputGradient.resize(to: batch * inputShape.elementCount)
        guard parameters[0].trainable else { return }
        padded.withUnsafeBufferPointer { p in
            outputGradient.withUnsafeBufferPointer { dy in
                parameters[0].gradient.withUnsafeMutableBufferPointer { g in
                    Kernels.accumulateSingleChannelKernelGradient(
                        paddedImages(p.baseAddress!, batch: batch), dy: dy.baseAddress!, filters: filters,
                        g.baseAddress!, level: level)
                }
            }
        }
    }

    /// The backward pass, group by group of images: the columns are made again from
    /// the input (cheaper than keeping a batch of them, which goes through memory),
    /// then dW += colsᵀ · dY, and with `transposed` (Wᵀ packed) dcols = dY · Wᵀ and col2im.
    private func backwardGroups(
        _ outputGradient: [Float], batch: Int, group: Int, transposed: UnsafePointer<Float>?
    ) {
        let k = patchSize
        let pixels = outputShape.pixels
        let weights = parameters[0].trainable
        input.withUnsafeBufferPointer { x in
            outputGradient.withUnsafeBufferPointer { dy in
                for first in stride(from: 0, to: batch, by: group) {
                    let images = first..<min(first + group, batch)
                    let rows = images.count * pixels
                    let dyGroup = dy.baseAddress! + first * pixels * filters
                    if weights {
                        if !columnsKept { gatherColumns(x.baseAddress!, images: images) }
                        columns.withUnsafeBufferPointer { cols in
                            parameters[0].gradient.withUnsafeMutableBufferPointer { g in
                                Kernels.accumulateTransposedA(
                                    rows: rows, k: k, n: filters, cols.baseAddress!, lda: k, dyGroup, ldb: filters,
                                    g.baseAddress!, ldc: filters)
                            }
                        }
                    }
                    guard let transposed else { continue }
                    columnGradient.withUnsafeMutableBufferPointer { dc in
                        Kernels.multiply(
                            m: rows, k: filters, n: k, dyGroup, lda: filters, packed: transposed, dc.baseAddress!,
                            ldc: k)
                    }
                    inputGradient.withUnsafeMutableBufferPointer { dx in
                        columnGradient.withUnsafeBufferPointer { dc in
                            let (source, target) = (dc.baseAddress!, dx.baseAddress!)
                            forEachRun(images: images) { row, patch, offset, count in
                                let from = source + row * k + patch
                                let to = target + offset
                                for i in 0..<count { to[i] += from[i] }
                            }
                        }
                    }
                }
            }
        }
    }
}
