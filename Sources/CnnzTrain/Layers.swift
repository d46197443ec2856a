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

/// `y[row, j] += bias[j]` for every row.
func addBias(_ bias: [Float], to y: inout [Float], rows: Int) {
    let n = bias.count
    bias.withUnsafeBufferPointer { b in
        y.withUnsafeMutableBufferPointer { y in
            for row in 0..<rows { for j in 0..<n { y[row * n + j] += b[j] } }
        }
    }
}

/// `sums[j] += g[row, j]` over every row.
func sumRows(_ g: [Float], rows: Int, into sums: inout [Float]) {
    let n = sums.count
    g.withUnsafeBufferPointer { g in
        sums.withUnsafeMutableBufferPointer { s in
            for row in 0..<rows { for j in 0..<n { s[j] += g[row * n + j] } }
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
    /// im2col of the last forward batch: `[batch * OH * OW, kh * kw * in]`.
    private var columns: [Float] = []
    private var output: [Float] = []
    private var packed: [Float] = []
    private var columnGradient: [Float] = []
    private var inputGradient: [Float] = []

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

    /// Calls `body(row, patchOffset, inputOffset, count)` for every run of taps
    /// inside the input: the taps of one kernel row are contiguous in both the
    /// patch and the input, `count` floats.
    @inline(__always)
    private func forEachRun(batch: Int, _ body: (Int, Int, Int, Int) -> Void) {
        let (h, w, c) = (inputShape.height, inputShape.width, inputShape.channels)
        let (kh, kw) = (window.kernelHeight, window.kernelWidth)
        for b in 0..<batch {
            for oy in 0..<outputShape.height {
                for ox in 0..<outputShape.width {
                    let row = (b * outputShape.height + oy) * outputShape.width + ox
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

    public func forward(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float] {
        let k = patchSize
        let m = batch * outputShape.pixels
        // Padded taps are never written, so they stay zero while the size does not change.
        columns.resize(to: m * k)
        output.resize(to: m * filters)
        columns.withUnsafeMutableBufferPointer { cols in
            input.withUnsafeBufferPointer { x in
                let (source, target) = (x.baseAddress!, cols.baseAddress!)
                forEachRun(batch: batch) { row, patch, offset, count in
                    (target + row * k + patch).update(from: source + offset, count: count)
                }
            }
        }
        parameters[0].value.withUnsafeBufferPointer { w in
            Kernels.pack(k: k, n: filters, w.baseAddress!, ldb: filters, transposed: false, into: &packed)
        }
        columns.withUnsafeBufferPointer { cols in
            packed.withUnsafeBufferPointer { p in
                output.withUnsafeMutableBufferPointer { y in
                    Kernels.multiply(
                        m: m, k: k, n: filters, cols.baseAddress!, lda: k, packed: p.baseAddress!, y.baseAddress!,
                        ldc: filters)
                }
            }
        }
        if parameters.count > 1 { addBias(parameters[1].value, to: &output, rows: m) }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float] {
        let k = patchSize
        let m = batch * outputShape.pixels
        if parameters.count > 1, parameters[1].trainable {
            sumRows(outputGradient, rows: m, into: &parameters[1].gradient)
        }
        outputGradient.withUnsafeBufferPointer { dy in
            // dW[k, f] += colsᵀ · dY, read in place.
            if parameters[0].trainable {
                columns.withUnsafeBufferPointer { cols in
                    parameters[0].gradient.withUnsafeMutableBufferPointer { g in
                        Kernels.accumulateTransposedA(
                            rows: m, k: k, n: filters, cols.baseAddress!, lda: k, dy.baseAddress!, ldb: filters,
                            g.baseAddress!, ldc: filters)
                    }
                }
            }
            guard needsInputGradient else { return }
            // dcols = dY · Wᵀ, the transpose folded into the packing.
            parameters[0].value.withUnsafeBufferPointer { w in
                Kernels.pack(k: filters, n: k, w.baseAddress!, ldb: filters, transposed: true, into: &packed)
            }
            columnGradient.resize(to: m * k)
            packed.withUnsafeBufferPointer { p in
                columnGradient.withUnsafeMutableBufferPointer { dc in
                    Kernels.multiply(
                        m: m, k: filters, n: k, dy.baseAddress!, lda: filters, packed: p.baseAddress!,
                        dc.baseAddress!, ldc: k)
                }
            }
        }
        inputGradient.resize(to: batch * inputShape.elementCount)
        guard needsInputGradient else { return inputGradient }
        inputGradient.zero()
        inputGradient.withUnsafeMutableBufferPointer { dx in
            columnGradient.withUnsafeBufferPointer { dc in
                let (source, target) = (dc.baseAddress!, dx.baseAddress!)
                forEachRun(batch: batch) { row, patch, offset, count in
                    let from = source + row * k + patch
                    let to = target + offset
                    for i in 0..<count { to[i] += from[i] }
                }
            }
        }
        return inputGradient
    }
}
