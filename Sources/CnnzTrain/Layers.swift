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

/// `c[m, n] = a[m, k] · b[k, n]` (or `· b[n, k]ᵀ` when `transposeB`), through the engine's packed GEMM.
func multiply(
    _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, m: Int, k: Int, n: Int, transposeB: Bool,
    into c: UnsafeMutableBufferPointer<Float>
) throws(CnnzError) {
    try TrainingGEMM.multiply(
        m: m, k: k, n: n, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: transposeB ? k : n,
        transposeB: transposeB, c: c.baseAddress!, ldc: n)
}

/// Transposes `[rows, columns]` into `[columns, rows]`, in tiles for the cache.
func transpose(
    _ source: UnsafeBufferPointer<Float>, rows: Int, columns: Int, into target: UnsafeMutableBufferPointer<Float>
) {
    let tile = 32
    for r0 in stride(from: 0, to: rows, by: tile) {
        for c0 in stride(from: 0, to: columns, by: tile) {
            for r in r0..<min(r0 + tile, rows) {
                for c in c0..<min(c0 + tile, columns) { target[c * rows + r] = source[r * columns + c] }
            }
        }
    }
}

/// `sums += values`, elementwise.
func accumulate(_ values: [Float], into sums: inout [Float]) {
    values.withUnsafeBufferPointer { v in
        sums.withUnsafeMutableBufferPointer { s in for i in s.indices { s[i] += v[i] } }
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
    /// im2col of the last forward batch: `[batch * OH * OW, kh * kw * in]`.
    private var columns: [Float] = []

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

    /// Calls `body(row, patchOffset, inputOffset)` for every tap inside the input
    /// (the `C` channels of a tap are contiguous in both).
    @inline(__always)
    private func forEachTap(batch: Int, _ body: (Int, Int, Int) -> Void) {
        let (h, w, c) = (inputShape.height, inputShape.width, inputShape.channels)
        for b in 0..<batch {
            for oy in 0..<outputShape.height {
                for ox in 0..<outputShape.width {
                    let row = (b * outputShape.height + oy) * outputShape.width + ox
                    for ky in 0..<window.kernelHeight {
                        let y = oy * window.strideHeight + ky - padTop
                        guard y >= 0, y < h else { continue }
                        for kx in 0..<window.kernelWidth {
                            let x = ox * window.strideWidth + kx - padLeft
                            guard x >= 0, x < w else { continue }
                            body(row, (ky * window.kernelWidth + kx) * c, ((b * h + y) * w + x) * c)
                        }
                    }
                }
            }
        }
    }

    public func forward(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float] {
        let k = patchSize
        let m = batch * outputShape.pixels
        columns = [Float](repeating: 0, count: m * k)
        let c = inputShape.channels
        columns.withUnsafeMutableBufferPointer { cols in
            input.withUnsafeBufferPointer { x in
                let (source, target) = (x.baseAddress!, cols.baseAddress!)
                forEachTap(batch: batch) { row, patch, offset in
                    (target + row * k + patch).update(from: source + offset, count: c)
                }
            }
        }
        var output = [Float](repeating: 0, count: m * filters)
        try columns.withUnsafeBufferPointer { cols throws(CnnzError) in
            try parameters[0].value.withUnsafeBufferPointer { w throws(CnnzError) in
                try output.withUnsafeMutableBufferPointer { y throws(CnnzError) in
                    try multiply(cols, w, m: m, k: k, n: filters, transposeB: false, into: y)
                }
            }
        }
        if parameters.count > 1 {
            addBias(parameters[1].value, to: &output, rows: m)
        }
        return output
    }

    public func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float] {
        let k = patchSize
        let m = batch * outputShape.pixels
        if parameters.count > 1 { sumRows(outputGradient, rows: m, into: &parameters[1].gradient) }
        // dW[k, f] += colsᵀ · dY; dcols = dY · Wᵀ.
        var transposed = [Float](repeating: 0, count: m * k)
        var kernelGradient = [Float](repeating: 0, count: k * filters)
        var columnGradient = [Float](repeating: 0, count: m * k)
        try outputGradient.withUnsafeBufferPointer { dy throws(CnnzError) in
            columns.withUnsafeBufferPointer { cols in
                transposed.withUnsafeMutableBufferPointer { t in transpose(cols, rows: m, columns: k, into: t) }
            }
            try transposed.withUnsafeBufferPointer { t throws(CnnzError) in
                try kernelGradient.withUnsafeMutableBufferPointer { g throws(CnnzError) in
                    try multiply(t, dy, m: k, k: m, n: filters, transposeB: false, into: g)
                }
            }
            try parameters[0].value.withUnsafeBufferPointer { w throws(CnnzError) in
                try columnGradient.withUnsafeMutableBufferPointer { dc throws(CnnzError) in
                    try multiply(dy, w, m: m, k: filters, n: k, transposeB: true, into: dc)
                }
            }
        }
        accumulate(kernelGradient, into: &parameters[0].gradient)
        var inputGradient = [Float](repeating: 0, count: batch * inputShape.elementCount)
        let c = inputShape.channels
        inputGradient.withUnsafeMutableBufferPointer { dx in
            columnGradient.withUnsafeBufferPointer { dc in
                let (source, target) = (dc.baseAddress!, dx.baseAddress!)
                forEachTap(batch: batch) { row, patch, offset in
                    for ch in 0..<c { target[offset + ch] += source[row * k + patch + ch] }
                }
            }
        }
        return inputGradient
    }
}
