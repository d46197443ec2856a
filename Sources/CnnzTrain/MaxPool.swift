import CTrainKernels
import Cnnz

/// MaxPooling2D; padded positions never win; the gradient goes to the winning input.
/// The common 2x2, stride 2 window without padding has loops of its own (in C, vectorized).
public final class MaxPoolLayer: TrainingLayer {
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public var parameters: [Parameter] { [] }
    let window: Window
    let padTop: Int
    let padLeft: Int
    /// True when the input is a ReLU's output and that ReLU leaves its gradient to this layer: the
    /// gradient then goes on only where the maximum is positive (exactly what the ReLU would pass).
    var masksGradient = false
    /// For each output of the last forward batch, the input that won: its index, or for 2x2
    /// windows its place in the window (0 top left, 1 top right, 2 bottom left, 3 bottom right).
    private var winners: [Int32] = []
    private var output: [Float] = []
    private var inputGradient: [Float] = []

    public init(input: TensorShape, window: Window) {
        inputShape = input
        self.window = window
        let rows = windowAxis(
            input: input.height, kernel: window.kernelHeight, stride: window.strideHeight, padding: window.padding)
        let cols = windowAxis(
            input: input.width, kernel: window.kernelWidth, stride: window.strideWidth, padding: window.padding)
        padTop = rows.before
        padLeft = cols.before
        outputShape = TensorShape(height: rows.output, width: cols.output, channels: input.channels)
    }

    var isTwoByTwo: Bool {
        window.kernelHeight == 2 && window.kernelWidth == 2 && window.strideHeight == 2 && window.strideWidth == 2
            && padTop == 0 && padLeft == 0
    }

    public func forward(_ input: [Float], batch: Int, training: Bool) throws(CnnzError) -> [Float] {
        output.resize(to: batch * outputShape.elementCount)
        if winners.count != output.count { winners = [Int32](repeating: 0, count: output.count) }
        let twoByTwo = isTwoByTwo
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                winners.withUnsafeMutableBufferPointer { best in
                    if twoByTwo {
                        cnnz_train_maxpool2x2_forward(
                            x.baseAddress!, y.baseAddress!, best.baseAddress!, batch, inputShape.height,
                            inputShape.width, inputShape.channels)
                    } else {
                        forwardAnyWindow(x, y, best, batch: batch)
                    }
                }
            }
        }
        return output
    }

    private func forwardAnyWindow(
        _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>,
        _ best: UnsafeMutableBufferPointer<Int32>, batch: Int
    ) {
        let (h, w, c) = (inputShape.height, inputShape.width, inputShape.channels)
        let (oh, ow) = (outputShape.height, outputShape.width)
        for b in 0..<batch {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let base = ((b * oh + oy) * ow + ox) * c
                    for ch in 0..<c { y[base + ch] = -.infinity }
                    for ky in 0..<window.kernelHeight {
                        let iy = oy * window.strideHeight + ky - padTop
                        guard iy >= 0, iy < h else { continue }
                        for kx in 0..<window.kernelWidth {
                            let ix = ox * window.strideWidth + kx - padLeft
                            guard ix >= 0, ix < w else { continue }
                            let offset = ((b * h + iy) * w + ix) * c
                            for ch in 0..<c where x[offset + ch] > y[base + ch] {
                                y[base + ch] = x[offset + ch]
                                best[base + ch] = Int32(truncatingIfNeeded: offset + ch)
                            }
                        }
                    }
                }
            }
        }
    }

    public func backward(_ outputGradient: [Float], batch: Int) throws(CnnzError) -> [Float] {
        let (h, w, c) = (inputShape.height, inputShape.width, inputShape.channels)
        let twoByTwo = isTwoByTwo
        let masks = masksGradient
        inputGradient.resize(to: batch * inputShape.elementCount)
        // 2x2 windows that tile the input write every input once: no clearing pass.
        if !twoByTwo || outputShape.height * 2 != h || outputShape.width * 2 != w { inputGradient.zero() }
        inputGradient.withUnsafeMutableBufferPointer { dx in
            outputGradient.withUnsafeBufferPointer { dy in
                output.withUnsafeBufferPointer { y in
                    winners.withUnsafeBufferPointer { best in
                        guard twoByTwo else {
                            for i in 0..<dy.count where !masks || y[i] > 0 { dx[Int(best[i])] += dy[i] }
                            return
                        }
                        cnnz_train_maxpool2x2_backward(
                            dy.baseAddress!, y.baseAddress!, best.baseAddress!, dx.baseAddress!, batch, h, w, c,
                            masks ? 1 : 0)
                    }
                }
            }
        }
        return inputGradient
    }
}
