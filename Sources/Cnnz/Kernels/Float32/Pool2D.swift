#if canImport(CnnzGEMMAVX2)
    import CnnzGEMM
    import CnnzGEMMAVX2
    import CnnzGEMMAVX512
    private typealias PortablePool = CnnzGEMM.PoolMicrokernels
#else
    private typealias PortablePool = PoolMicrokernels  // one module (Tests/Fuzz/run.sh)
#endif

/// Max and average pooling, direct NHWC with SIMD over channels (PoolMicrokernels). Padded
/// positions are skipped: never the maximum, never counted in the average.
final class Pool2D: RegisteredKernel {
    enum Mode { case max, average }

    let operands: KernelOperands
    let window: Window
    let mode: Mode
    let activation: Activation
    let rows: AxisGeometry
    let columns: AxisGeometry
    let scratchBytes = 0

    init(operands: KernelOperands, window: Window, mode: Mode, activation: Activation) {
        self.operands = operands
        self.window = window
        self.mode = mode
        self.activation = activation
        let x = operands.inputShape
        // ShapeInference checked that the window fits.
        (rows, columns) = window.geometry(height: x.height, width: x.width)!
    }

    /// Max or average pooling, as the layer says.
    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        switch setup.layer.kind {
        case .maxPool2D(let window):
            self.init(operands: setup.operands, window: window, mode: .max, activation: setup.layer.activation)
        case .averagePool2D(let window):
            self.init(operands: setup.operands, window: window, mode: .average, activation: setup.layer.activation)
        default:
            throw setup.mismatch
        }
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let y = operands.outputShape
        let taps = window.kernelHeight * window.kernelWidth
        return (items: batch * y.height, work: batch * y.elementCount * taps)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        run(context, part: part, of: parts, microkernel: GEMM.best)
    }

    /// The rows through the pooling microkernel of `microkernel`'s build (the
    /// AVX-512 one keeps 16 channels in a zmm register; the tests run every
    /// build this CPU has). Each output pixel's channels stay in registers
    /// across the window's taps instead of a read-modify-write of the output
    /// per tap with a scalar tail, which took 30 us for seed002's 31x31x12.
    func run(_ context: RunContext, part: Int, of parts: Int, microkernel: GEMM.Microkernel) {
        let x = operands.inputShape
        let y = operands.outputShape
        let channels = y.channels
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let isMax = mode == .max
        #if canImport(CnnzGEMMAVX2)
            let avx2 = microkernel == .f32GEMM6x16AVX2FMABroadcast
            let avx512 = microkernel == .f32GEMM8x16AVX512Broadcast
            let geometryAVX2 = CnnzGEMMAVX2.PoolMicrokernels.Geometry(
                inputHeight: x.height, inputWidth: x.width, channels: channels, outputWidth: y.width,
                kernelHeight: window.kernelHeight, kernelWidth: window.kernelWidth, strideHeight: window.strideHeight,
                strideWidth: window.strideWidth, padTop: rows.padBefore, padLeft: columns.padBefore)
            let geometryAVX512 = CnnzGEMMAVX512.PoolMicrokernels.Geometry(
                inputHeight: x.height, inputWidth: x.width, channels: channels, outputWidth: y.width,
                kernelHeight: window.kernelHeight, kernelWidth: window.kernelWidth, strideHeight: window.strideHeight,
                strideWidth: window.strideWidth, padTop: rows.padBefore, padLeft: columns.padBefore)
        #endif
        let geometry = PortablePool.Geometry(
            inputHeight: x.height, inputWidth: x.width, channels: channels, outputWidth: y.width,
            kernelHeight: window.kernelHeight, kernelWidth: window.kernelWidth, strideHeight: window.strideHeight,
            strideWidth: window.strideWidth, padTop: rows.padBefore, padLeft: columns.padBefore)
        for item in Partition.range(context.batch * y.height, part: part, of: parts) {
            let image = item / y.height
            let oy = item - image * y.height
            let source = input + image * x.elementCount
            let row = output + image * y.elementCount + oy * y.width * channels
            #if canImport(CnnzGEMMAVX2)
                if avx512 {
                    if isMax {
                        CnnzGEMMAVX512.PoolMicrokernels.f32MaxPoolRow(
                            geometryAVX512, oy: oy, input: source, output: row)
                    } else {
                        CnnzGEMMAVX512.PoolMicrokernels.f32AveragePoolRow(
                            geometryAVX512, oy: oy, input: source, output: row)
                    }
                } else if avx2 {
                    if isMax {
                        CnnzGEMMAVX2.PoolMicrokernels.f32MaxPoolRow(geometryAVX2, oy: oy, input: source, output: row)
                    } else {
                        CnnzGEMMAVX2.PoolMicrokernels.f32AveragePoolRow(
                            geometryAVX2, oy: oy, input: source, output: row)
                    }
                } else if isMax {
                    PortablePool.f32MaxPoolRow(geometry, oy: oy, input: source, output: row)
                } else {
                    PortablePool.f32AveragePoolRow(geometry, oy: oy, input: source, output: row)
                }
            #else
                if isMax {
                    PortablePool.f32MaxPoolRow(geometry, oy: oy, input: source, output: row)
                } else {
                    PortablePool.f32AveragePoolRow(geometry, oy: oy, input: source, output: row)
                }
            #endif
            ActivationFunction.apply(activation, to: row, rows: y.width, columns: channels, stride: channels)
        }
    }
}
