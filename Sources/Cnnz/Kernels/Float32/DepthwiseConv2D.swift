#if canImport(CnnzSIMD)
    import CnnzSIMD  // absent when Tests/Fuzz/run.sh compiles everything as one module
#endif
#if canImport(CnnzGEMMAVX2)
    import CnnzGEMM
    import CnnzGEMMAVX2
    import CnnzGEMMAVX512
    private typealias PortableDepthwise = CnnzGEMM.DepthwiseMicrokernels
    private typealias PortableClamp = CnnzGEMM.GEMMMicrokernels.Clamp
#else
    private typealias PortableDepthwise = DepthwiseMicrokernels
    private typealias PortableClamp = GEMMMicrokernels.Clamp
#endif

/// DepthwiseConv2D, direct NHWC (ggml's scheme): for each output pixel, the
/// valid taps only (padding is skipped, never copied), SIMD over channels.
/// Multiplier 1 (MobileNet's) runs `DepthwiseMicrokernels.f32DWConvRow`
/// (accumulators in registers, the ReLU/ReLU6 clamp in the store) in the
/// AVX2 + FMA build when the CPU has it; other multipliers accumulate into
/// the output tap by tap. Keras's kernel `[kh, kw, in, multiplier]` is already
/// `[taps, out]` with output channel `c * multiplier + k`, so it is used as is.
final class DepthwiseConv2DDirect: RegisteredKernel, PixelBandKernel {
    let operands: KernelOperands
    let window: Window
    let multiplier: Int
    let activation: Activation
    /// The activation as the store's clamp, or nil: then a second pass applies it.
    let clamp: OutputClamp?
    let rows: AxisGeometry
    let columns: AxisGeometry
    let weights: AlignedBuffer
    let bias: AlignedBuffer
    let scratchBytes = 0

    init(
        operands: KernelOperands, window: Window, multiplier: Int, activation: Activation, kernel: Tensor,
        bias: Tensor?, arena: PageArena? = nil
    ) throws(CnnzError) {
        self.operands = operands
        self.window = window
        self.multiplier = multiplier
        self.activation = activation
        clamp = multiplier == 1 ? OutputClamp(fusing: activation) : nil
        let x = operands.inputShape
        // ShapeInference checked that the window fits.
        (rows, columns) = window.geometry(height: x.height, width: x.width)!
        weights = try AlignedBuffer(floats: kernel.values.count, arena: arena)
        weights.pointer.update(from: kernel.values, count: kernel.values.count)
        let channels = operands.outputShape.channels
        self.bias = try AlignedBuffer(floats: channels, arena: arena)
        if let bias { self.bias.pointer.update(from: bias.values, count: channels) }
    }

    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .depthwiseConv2D(let window, let multiplier, let hasBias) = setup.layer.kind else {
            throw setup.mismatch
        }
        try self.init(
            operands: setup.operands, window: window, multiplier: multiplier, activation: setup.layer.activation,
            kernel: try setup.weight(0, as: .float32), bias: hasBias ? try setup.weight(1, as: .float32) : nil,
            arena: setup.arena)
    }

    /// The bytes `init` allocates: the kernel and the bias (at least 16 floats each).
    static func preparedBytes(_ setup: KernelSetup) -> Int {
        guard case .depthwiseConv2D(let window, let multiplier, _) = setup.layer.kind else { return 0 }
        let channels = setup.operands.inputShape.channels * multiplier
        return (max(window.kernelHeight * window.kernelWidth * channels, 16) + max(channels, 16)) * 4
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let y = operands.outputShape
        let taps = window.kernelHeight * window.kernelWidth
        return (items: batch * y.height, work: batch * y.elementCount * taps)
    }

    /// Both paths split the batch's output rows (`Partition.range`), every channel of each.
    func outputPixels(batch: Int, part: Int, of parts: Int) -> Range<Int>? {
        let rows = Partition.range(batch * operands.outputShape.height, part: part, of: parts)
        let width = operands.outputShape.width
        return (rows.lowerBound * width)..<(rows.upperBound * width)
    }

    /// Its windows reach past its own rows.
    var readsOnlyItsPixels: Bool { false }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        if multiplier == 1 {
            runRows(context, part: part, of: parts, microkernel: GEMM.best)
        } else {
            runTapByTap(context, part: part, of: parts)
        }
    }

    /// Multiplier 1 through the row microkernel of `microkernel`'s build (the
    /// tests run every build this CPU has).
    func runRows(_ context: RunContext, part: Int, of parts: Int, microkernel: GEMM.Microkernel) {
        let x = operands.inputShape
        let y = operands.outputShape
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let w = UnsafePointer(weights.pointer)
        let b = UnsafePointer(bias.pointer)
        let store = clamp ?? .none
        #if canImport(CnnzGEMMAVX2)
            let avx2 = microkernel == .f32GEMM6x16AVX2FMABroadcast
            let avx512 = microkernel == .f32GEMM8x16AVX512Broadcast
            let geometryAVX2 = CnnzGEMMAVX2.DepthwiseMicrokernels.Geometry(
                inputHeight: x.height, inputWidth: x.width, channels: x.channels, outputWidth: y.width,
                kernelHeight: window.kernelHeight, kernelWidth: window.kernelWidth,
                strideHeight: window.strideHeight, strideWidth: window.strideWidth,
                dilationHeight: window.dilationHeight, dilationWidth: window.dilationWidth,
                padTop: rows.padBefore, padLeft: columns.padBefore)
            let clampAVX2 = CnnzGEMMAVX2.GEMMMicrokernels.Clamp(
                minimum: store.minimum, maximum: store.maximum, isActive: store.isActive)
            let geometryAVX512 = CnnzGEMMAVX512.DepthwiseMicrokernels.Geometry(
                inputHeight: x.height, inputWidth: x.width, channels: x.channels, outputWidth: y.width,
                kernelHeight: window.kernelHeight, kernelWidth: window.kernelWidth,
                strideHeight: window.strideHeight, strideWidth: window.strideWidth,
                dilationHeight: window.dilationHeight, dilationWidth: window.dilationWidth,
                padTop: rows.padBefore, padLeft: columns.padBefore)
            let clampAVX512 = CnnzGEMMAVX512.GEMMMicrokernels.Clamp(
                minimum: store.minimum, maximum: store.maximum, isActive: store.isActive)
        #endif
        let geometry = PortableDepthwise.Geometry(
            inputHeight: x.height, inputWidth: x.width, channels: x.channels, outputWidth: y.width,
            kernelHeight: window.kernelHeight, kernelWidth: window.kernelWidth,
            strideHeight: window.strideHeight, strideWidth: window.strideWidth,
            dilationHeight: window.dilationHeight, dilationWidth: window.dilationWidth,
            padTop: rows.padBefore, padLeft: columns.padBefore)
        let clampPortable = PortableClamp(
            minimum: store.minimum, maximum: store.maximum, isActive: store.isActive)
        for item in Partition.range(context.batch * y.height, part: part, of: parts) {
            let image = item / y.height
            let oy = item - image * y.height
            let source = input + image * x.elementCount
            let row = output + image * y.elementCount + oy * y.width * y.channels
            #if canImport(CnnzGEMMAVX2)
                if avx512 {
                    CnnzGEMMAVX512.DepthwiseMicrokernels.f32DWConvRow(
                        geometryAVX512, oy: oy, input: source, weights: w, bias: b, output: row, clamp: clampAVX512)
                } else if avx2 {
                    CnnzGEMMAVX2.DepthwiseMicrokernels.f32DWConvRow(
                        geometryAVX2, oy: oy, input: source, weights: w, bias: b, output: row, clamp: clampAVX2)
                } else {
                    PortableDepthwise.f32DWConvRow(
                        geometry, oy: oy, input: source, weights: w, bias: b, output: row, clamp: clampPortable)
                }
            #else
                PortableDepthwise.f32DWConvRow(
                    geometry, oy: oy, input: source, weights: w, bias: b, output: row, clamp: clampPortable)
            #endif
            if clamp == nil {
                ActivationFunction.apply(activation, to: row, rows: y.width, columns: y.channels, stride: y.channels)
            }
        }
    }

    /// Any multiplier: each tap accumulated into the output.
    private func runTapByTap(_ context: RunContext, part: Int, of parts: Int) {
        let x = operands.inputShape
        let y = operands.outputShape
        let channels = y.channels
        let vectorEnd = channels & ~7
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let w = UnsafePointer(weights.pointer)
        let b = UnsafePointer(bias.pointer)
        for item in Partition.range(context.batch * y.height, part: part, of: parts) {
            let image = item / y.height
            let oy = item - image * y.height
            let source = input + image * x.elementCount
            let destination = output + image * y.elementCount
            for ox in 0..<y.width {
                let out = destination + (oy * y.width + ox) * channels
                out.update(from: b, count: channels)
                for ky in 0..<window.kernelHeight {
                    let iy = oy * window.strideHeight - rows.padBefore + ky * window.dilationHeight
                    if iy < 0 || iy >= x.height { continue }
                    for kx in 0..<window.kernelWidth {
                        let ix = ox * window.strideWidth - columns.padBefore + kx * window.dilationWidth
                        if ix < 0 || ix >= x.width { continue }
                        let pixel = source + (iy * x.width + ix) * x.channels
                        let tap = w + (ky * window.kernelWidth + kx) * channels
                        if multiplier == 1 {
                            var c = 0
                            while c < vectorEnd {
                                out.store8(out.vector8(c) + pixel.vector8(c) * tap.vector8(c), c)
                                c += 8
                            }
                            while c < channels {
                                out[c] += pixel[c] * tap[c]
                                c += 1
                            }
                        } else {
                            for c in 0..<x.channels {
                                let v = pixel[c]
                                for k in 0..<multiplier {
                                    out[c * multiplier + k] += v * tap[c * multiplier + k]
                                }
                            }
                        }
                    }
                }
            }
            ActivationFunction.apply(
                activation, to: destination + oy * y.width * channels, rows: y.width, columns: channels,
                stride: channels)
        }
    }
}
