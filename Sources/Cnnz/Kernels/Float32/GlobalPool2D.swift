#if canImport(CnnzSIMD)
    import CnnzSIMD  // absent when Tests/Fuzz/run.sh compiles everything as one module
#endif
#if canImport(CnnzGEMMAVX2)
    import CnnzGEMM
    import CnnzGEMMAVX2
    import CnnzGEMMAVX512
    private typealias PortablePool = CnnzGEMM.PoolMicrokernels
#else
    private typealias PortablePool = PoolMicrokernels  // one module (Tests/Fuzz/run.sh)
#endif

/// Global average or max pooling over all pixels, per channel.
final class GlobalPool2D: RegisteredKernel {
    let operands: KernelOperands
    let mode: Pool2D.Mode
    let activation: Activation
    let scratchBytes = 0

    init(operands: KernelOperands, mode: Pool2D.Mode, activation: Activation) {
        self.operands = operands
        self.mode = mode
        self.activation = activation
    }

    /// Global average or max pooling, as the layer says.
    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        let mode: Pool2D.Mode
        switch setup.layer.kind {
        case .globalAveragePool2D: mode = .average
        case .globalMaxPool2D: mode = .max
        default: throw setup.mismatch
        }
        self.init(operands: setup.operands, mode: mode, activation: setup.layer.activation)
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        (items: batch, work: batch * operands.inputShape.elementCount)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        run(context, part: part, of: parts, microkernel: GEMM.best)
    }

    /// Average: one window over the whole image through the pooling microkernel of
    /// `microkernel`'s build (the tests run every build this CPU has), each block of
    /// channels summed in registers: the loop below, in the engine's SSE2 build, stored
    /// and reloaded the sums at every pixel (2 us for mobile_res's 6x6x256, a tenth of
    /// that in registers). The same sum in the same order, times the same 1 / pixels.
    /// Max: the loop below.
    func run(_ context: RunContext, part: Int, of parts: Int, microkernel: GEMM.Microkernel) {
        let x = operands.inputShape
        if mode == .average {
            let input = UnsafePointer(context.float32(operands.input))
            let output = context.output(operands, as: Float.self)
            let images = Partition.range(context.batch, part: part, of: parts)
            // One window over the whole image, as each build's pooling microkernels take it.
            #if canImport(CnnzGEMMAVX2)
                let avx2 = microkernel == .f32GEMM6x16AVX2FMABroadcast
                let avx512 = microkernel == .f32GEMM8x16AVX512Broadcast
                let geometryAVX2 = CnnzGEMMAVX2.PoolMicrokernels.Geometry(
                    inputHeight: x.height, inputWidth: x.width, channels: x.channels, outputWidth: 1,
                    kernelHeight: x.height, kernelWidth: x.width, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0
                )
                let geometryAVX512 = CnnzGEMMAVX512.PoolMicrokernels.Geometry(
                    inputHeight: x.height, inputWidth: x.width, channels: x.channels, outputWidth: 1,
                    kernelHeight: x.height, kernelWidth: x.width, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0
                )
            #endif
            let geometry = PortablePool.Geometry(
                inputHeight: x.height, inputWidth: x.width, channels: x.channels, outputWidth: 1,
                kernelHeight: x.height, kernelWidth: x.width, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0)
            for image in images {
                let source = input + image * x.elementCount
                let out = output + image * x.channels
                #if canImport(CnnzGEMMAVX2)
                    if avx512 {
                        CnnzGEMMAVX512.PoolMicrokernels.f32AveragePoolRow(
                            geometryAVX512, oy: 0, input: source, output: out)
                        continue
                    }
                    if avx2 {
                        CnnzGEMMAVX2.PoolMicrokernels.f32AveragePoolRow(geometryAVX2, oy: 0, input: source, output: out)
                        continue
                    }
                #endif
                PortablePool.f32AveragePoolRow(geometry, oy: 0, input: source, output: out)
            }
            ActivationFunction.apply(
                activation, to: output + images.lowerBound * x.channels, rows: images.count, columns: x.channels,
                stride: x.channels)
            return
        }
        let channels = x.channels
        let vectorEnd = channels & ~7
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let images = Partition.range(context.batch, part: part, of: parts)
        for image in images {
            let source = input + image * x.elementCount
            let out = output + image * channels
            out.update(from: source, count: channels)
            for p in 1..<Swift.max(x.pixels, 1) {
                let pixel = source + p * channels
                var c = 0
                while c < vectorEnd {
                    out.store8(laneMax(out.vector8(c), pixel.vector8(c)), c)
                    c += 8
                }
                while c < channels {
                    out[c] = Swift.max(out[c], pixel[c])
                    c += 1
                }
            }
        }
        ActivationFunction.apply(
            activation, to: output + images.lowerBound * channels, rows: images.count, columns: channels,
            stride: channels)
    }
}
