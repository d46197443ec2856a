import CInt8Kernels

/// Int8 max and average pooling. Max works on the int8 values directly
/// (requantizing is monotonic, so the maximum is taken first); average sums
/// `q - zeroPoint` over the window's taps inside the input (Keras leaves
/// padding out of the count) and requantizes by `inputScale / (outputScale *
/// count)`, one multiplier per possible count, built at load.
final class Pool2DInt8: RegisteredKernel {
    let operands: KernelOperands
    let window: Window
    let isMax: Bool
    let rows: AxisGeometry
    let columns: AxisGeometry
    let inputZeroPoint: Int32
    /// `stores[count - 1]`: the store for a window of `count` taps (max: one store).
    let stores: [Int8Store]
    /// Max pooling that keeps its input's parameters (what the converter writes) and has
    /// no activation: the maximum of the int8 values themselves, nothing to requantize.
    let isPlainMax: Bool
    let scratchBytes: Int
    /// The window for the plain maximum's C rows (`cnnz_qs8_maxpool_row`).
    let geometry: cnnz_qs8_window
    let level = Int8GEMM.selected.level

    init(_ setup: KernelSetup) throws(CnnzError) {
        guard let output = setup.outputQuantization else { throw setup.mismatch }
        switch setup.layer.kind {
        case .maxPool2D(let w): (window, isMax) = (w, true)
        case .averagePool2D(let w): (window, isMax) = (w, false)
        default: throw setup.mismatch
        }
        operands = setup.operands
        let x = operands.inputShape
        (rows, columns) = window.geometry(height: x.height, width: x.width)!
        let input = setup.inputQuantization[0]
        inputZeroPoint = input.zeroPoint
        let ratio = Double(input.scale) / Double(output.scale)
        isPlainMax =
            isMax && input.scale == output.scale && input.zeroPoint == output.zeroPoint
            && setup.layer.activation == .linear
        scratchBytes = x.channels * 4
        geometry = cnnz_qs8_window(
            height: x.height, width: x.width, channels: x.channels, kernel_height: window.kernelHeight,
            kernel_width: window.kernelWidth, stride_height: window.strideHeight, stride_width: window.strideWidth,
            dilation_height: 1, dilation_width: 1, pad_top: rows.padBefore, pad_left: columns.padBefore,
            out_width: operands.outputShape.width, group_offset: 0, group_channels: x.channels)
        let counts = isMax ? 1 : window.kernelHeight * window.kernelWidth
        stores = (1...counts).map {
            Int8Store(realMultiplier: ratio / Double($0), activation: setup.layer.activation, output: output)
        }
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let rowsOut = batch * operands.outputShape.height
        return (
            items: rowsOut,
            work: rowsOut * operands.outputShape.width * operands.outputShape.channels
                * window.kernelHeight * window.kernelWidth
        )
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let x = operands.inputShape
        let y = operands.outputShape
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        if isPlainMax {
            // Channels innermost, in C.
            withUnsafePointer(to: geometry) { window in
                for rowIndex in Partition.range(context.batch * y.height, part: part, of: parts) {
                    let image = rowIndex / y.height
                    cnnz_qs8_maxpool_row(
                        level, input + image * x.elementCount, window, rowIndex % y.height,
                        output + rowIndex * y.width * y.channels)
                }
            }
            return
        }
        for rowIndex in Partition.range(context.batch * y.height, part: part, of: parts) {
            let image = rowIndex / y.height
            let oy = rowIndex % y.height
            let source = input + image * x.elementCount
            let y0 = oy * window.strideHeight - rows.padBefore
            let yRange = max(0, y0)..<min(x.height, y0 + window.kernelHeight)
            let acc = context.scratch(part: part, bytes: scratchBytes, as: Int32.self)
            let channels = x.channels
            for ox in 0..<y.width {
                let x0 = ox * window.strideWidth - columns.padBefore
                let xRange = max(0, x0)..<min(x.width, x0 + window.kernelWidth)
                let out = output + ((image * y.height + oy) * y.width + ox) * channels
                acc.update(repeating: isMax ? -128 : 0, count: channels)
                for iy in yRange {
                    for ix in xRange {
                        let tap = source + (iy * x.width + ix) * channels
                        if isMax {
                            for c in 0..<channels { acc[c] = max(acc[c], Int32(tap[c])) }
                        } else {
                            for c in 0..<channels { acc[c] &+= Int32(tap[c]) &- inputZeroPoint }
                        }
                    }
                }
                let store = stores[isMax ? 0 : yRange.count * xRange.count - 1]
                for c in 0..<channels { out[c] = store(isMax ? acc[c] &- inputZeroPoint : acc[c]) }
            }
        }
    }
}

/// Int8 global average and max pooling over all pixels, per channel (the
/// pooling above with the whole image as its window): the sums or maxima by
/// `cnnz_qs8_channel_reduce` (vectors along the channels), stored by
/// `cnnz_qs8_store_row` with the zero point's share as every channel's bias.
final class GlobalPool2DInt8: RegisteredKernel {
    let operands: KernelOperands
    let isMax: Bool
    let inputZeroPoint: Int32
    let store: Int8Store
    let scratchBytes: Int
    /// The store as the C kernels' stage, bias `-offset` in every channel.
    let stage: Int8StoreParameters
    let level = Int8GEMM.selected.level

    init(_ setup: KernelSetup) throws(CnnzError) {
        guard let output = setup.outputQuantization else { throw setup.mismatch }
        scratchBytes = setup.operands.inputShape.channels * 4
        switch setup.layer.kind {
        case .globalMaxPool2D: isMax = true
        case .globalAveragePool2D: isMax = false
        default: throw setup.mismatch
        }
        operands = setup.operands
        let input = setup.inputQuantization[0]
        inputZeroPoint = input.zeroPoint
        let count = isMax ? 1 : operands.inputShape.pixels
        store = Int8Store(
            realMultiplier: Double(input.scale) / Double(output.scale) / Double(count),
            activation: setup.layer.activation, output: output)
        // The zero point comes off once (the same int32 as per tap: wrapping sums).
        let offset = Int32(truncatingIfNeeded: count) &* inputZeroPoint
        stage = Int8StoreParameters(store, columns: operands.inputShape.channels, bias: 0 &- offset)
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        (items: batch, work: batch * operands.inputShape.elementCount)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let x = operands.inputShape
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let channels = x.channels
        let acc = context.scratch(part: part, bytes: scratchBytes, as: Int32.self)
        for image in Partition.range(context.batch, part: part, of: parts) {
            cnnz_qs8_channel_reduce(level, x.pixels, channels, input + image * x.elementCount, isMax ? 1 : 0, acc)
            withUnsafePointer(to: stage.output) {
                cnnz_qs8_store_row(level, acc, channels, $0, output + image * channels)
            }
        }
    }
}
