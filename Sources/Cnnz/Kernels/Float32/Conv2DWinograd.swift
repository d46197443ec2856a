#if canImport(CnnzGEMMAVX2)
    import CnnzGEMM
    import CnnzGEMMAVX2
    import CnnzGEMMAVX512
#endif

/// A 3x3 or 2x2, stride-1 Conv2D by Winograd's minimal filtering (ncnn's
/// `conv3x3s1_winograd43`): each output tile is `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`,
/// so the multiply-adds are `alpha²` GEMMs of `[tiles, Cin] x [Cin, Cout]`:
/// F(4x4, 3x3) does 36 per 16 outputs where direct convolution does 144 (4x
/// fewer), F(2x2, 3x3) 16 per 4 (2.25x fewer), and for 2x2 windows F(3x3, 2x2)
/// 16 per 9 where direct convolution does 36 (2.25x fewer). Tiles of a block of `blockTiles`
/// (of every image of the batch, one after another) are transformed into
/// scratch as the GEMMs' A, multiplied by the weights transformed and packed
/// at load, and transformed back with the bias and clamp into NHWC. Not bit
/// for bit a direct convolution: the error grows with the transform's
/// constants (F(4x4, 3x3): up to 1.5e-6 of `Σ|w||x|`; WinogradTests checks 1e-5).
final class Conv2DWinograd: RegisteredKernel {
    /// The output tile and window: F(4x4, 3x3) (6x6 input tiles), F(2x2, 3x3)
    /// (4x4), or F(3x3, 2x2) (4x4 input tiles for 2x2 windows).
    enum Variant: Sendable {
        case f4x4, f2x2, f3x3k2

        var alpha: Int { self == .f4x4 ? 6 : 4 }
        var matrices: Int { alpha * alpha }
        /// The window's side: 3, or 2 for F(3x3, 2x2).
        var taps: Int { self == .f3x3k2 ? 2 : 3 }
        /// The output tile's side.
        var step: Int { alpha - taps + 1 }
        /// G of F(m, r), `alpha` rows of `taps`: `U = G g Gᵀ` (exact in Double, rounded
        /// once to Float). F(3x3, 2x2)'s last row is negated: its input transform is
        /// F(2x2, 3x3)'s, whose Bᵀ has that row negated (WinogradTransforms4x4.swift).
        var g: [[Double]] {
            switch self {
            case .f4x4:
                [
                    [1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                    [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1],
                ]
            case .f2x2:
                [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
            case .f3x3k2:
                [[1, 0], [0.5, 0.5], [0.5, -0.5], [0, -1]]
            }
        }
    }

    /// The variant for a layer, or nil when im2col + GEMM is faster (measured on
    /// a Zen 3, AVX2, one thread, batch 1; see docs/KERNELS.md). Only 3x3 (2x2:
    /// F(3x3, 2x2) where `f3x3k2Pays`), stride
    /// 1, no dilation or groups, a clamp activation (linear, ReLU, ReLU6: fused
    /// in the output transform), at least 4 input and output channels (faster
    /// from there down, 32x32x4 to 4: 0.029 against 0.043 ms; 1 to 3 input
    /// channels are first layers, left to the kernels made for them). By the
    /// output's smaller side: F(4x4, 3x3) from 7 (at least 2x2 tiles; 7x7x64:
    /// 0.024 ms, F(2x2) 0.030, im2col 0.041); F(2x2, 3x3) from 4 (at 4x4 one
    /// 6x6 tile per image streams 36 weight matrices for 16 outputs: 4x4x128,
    /// F(2x2) 0.033 ms, F(4x4) 0.049, im2col 0.056); below, im2col (3x3x128:
    /// F(2x2) only ties; 2x2x128: im2col 0.017 ms, F(2x2) 0.022, F(4x4) 0.050).
    static func variant(_ shape: KernelShape) -> Variant? {
        guard case .conv2D(let w, let filters, let groups, _) = shape.layer.kind, groups == 1,
            w.kernelHeight == w.kernelWidth, w.kernelHeight == 2 || w.kernelHeight == 3,
            w.strideHeight == 1, w.strideWidth == 1,
            w.dilationHeight == 1, w.dilationWidth == 1, OutputClamp(fusing: shape.layer.activation) != nil,
            let input = shape.inputShapes.first
        else { return nil }
        if w.kernelHeight == 2 { return f3x3k2Pays(shape, channels: input.channels, filters: filters) ? .f3x3k2 : nil }
        let side = Swift.min(shape.outputShape.height, shape.outputShape.width)
        guard input.channels >= 4 && filters >= 4 && side >= 4 else { return nil }
        return side >= 7 ? .f4x4 : .f2x2
    }

    static func accepts(_ shape: KernelShape) -> Bool { variant(shape) != nil }

    /// Whether F(3x3, 2x2) beats `Conv2DDirect` on a 2x2 layer (Zen 4, AVX-512, one
    /// thread, batch 1, seed002; docs/float32-kernels.md): from 16 filters (12 take
    /// `Conv2DDirect`'s pixel pairs, every lane used, where a 16-wide panel wastes a
    /// quarter: conv1 62x62x12 0.062 ms against 0.051) and an output of at least 7x7
    /// (5x5 and 4x4 take 2x2 tiles of 3x3, 36 pixels for 25 or 16: conv9 0.015 ms
    /// against 0.011, conv10 0.027 against 0.012).
    static func f3x3k2Pays(_ shape: KernelShape, channels: Int, filters: Int) -> Bool {
        channels >= 4 && filters >= 16 && Swift.min(shape.outputShape.height, shape.outputShape.width) >= 7
    }

    let operands: KernelOperands
    let variant: Variant
    /// Whose GEMM and transforms run: `GEMM.best`, or another build in the tests.
    let microkernel: GEMM.Microkernel
    let clamp: OutputClamp
    let padTop: Int
    let padLeft: Int
    /// F(3x3, 2x2) without padding: a tile's fourth input row or column past the image
    /// feeds only outputs past it (`WinogradTransforms.f32Input`'s `lastUnused`).
    let lastUnused: Bool
    let tilesX: Int
    let tilesPerImage: Int
    /// One packed `[Cin, Cout]` matrix per tile element, without bias.
    let packed: [PackedWeights]
    /// `Cout` rounded up to whole vectors (the output transform reads 8 at a time).
    private let biasStorage: AlignedBuffer
    /// Row strides of the transformed input and of the GEMMs' products: whole vectors, whole panels.
    let ldv: Int
    let ldm: Int
    /// Tiles transformed and multiplied together: their transformed input and
    /// products stay in L2 (about 256 KB) while the GEMMs and transforms pass
    /// over them; whole microkernel tiles of rows.
    let blockTiles: Int
    let scratchBytes: Int

    /// A cache line between one matrix and the next: a tile's elements go to (and come
    /// from) every matrix, and matrices a multiple of 4 KB apart (seed002's blocks: 8 KB)
    /// all fall in one set of the 8-way L1, 16 or 36 lines evicting each other on
    /// every tile (seed002 conv1: 91 -> ... us).
    static let skewFloats = 16

    /// Floats of scratch for the transform's intermediate vectors.
    static let workFloats = 36 * 8

    init(
        operands: KernelOperands, variant: Variant, window: Window, activation: Activation, kernel: Tensor,
        bias: Tensor?, microkernel: GEMM.Microkernel = GEMM.best, lastUnused: Bool? = nil, arena: PageArena? = nil
    ) throws(CnnzError) {
        self.operands = operands
        self.variant = variant
        self.microkernel = microkernel
        clamp = OutputClamp(fusing: activation) ?? .none
        let x = operands.inputShape
        let y = operands.outputShape
        let (rows, columns) = window.geometry(height: x.height, width: x.width)!
        padTop = rows.padBefore
        padLeft = columns.padBefore
        // (`lastUnused: false` from the tests: the zero-filled path, to compare bits with.)
        self.lastUnused =
            lastUnused
            ?? (variant == .f3x3k2 && rows.padBefore + rows.padAfter + columns.padBefore + columns.padAfter == 0)
        let step = variant.step
        tilesX = (y.width + step - 1) / step
        tilesPerImage = tilesX * ((y.height + step - 1) / step)
        let cin = x.channels
        let cout = y.channels
        ldv = (cin + 7) / 8 * 8
        // Whole panels: the GEMM stores its last panel whole instead of through
        // `storePartial` (out of line, spilling the accumulators: with seed002's 12 and
        // 25 filters, every tile's stores cost as much as its multiply-adds).
        ldm = (cout + microkernel.panelWidth - 1) / microkernel.panelWidth * microkernel.panelWidth
        // U[xi][ci][co] = (G g Gᵀ)[a][b] for xi = a * alpha + b; Keras' kernel is [r, r, Cin, Cout].
        // Loops over co innermost, on contiguous rows, written straight into the packed panels
        // (a loop per weight, then a packing of a transformed copy, took 16 to 24 ms on cifar_vgg).
        let alpha = variant.alpha
        let r = variant.taps
        let g = variant.g.flatMap { $0 }
        var packed: [PackedWeights] = []
        packed.reserveCapacity(variant.matrices)
        for _ in 0..<variant.matrices {
            // Zeroed storage (columns past Cout and the bias stay 0), filled below.
            packed.append(
                try PackedWeights(
                    k: cin, n: cout, element: { _, _ in 0 }, bias: nil, panelWidth: microkernel.panelWidth,
                    fill: false, arena: arena))
        }
        // U = G g Gᵀ per channel pair into the packed matrices, in the microkernel's build
        // (Double arithmetic, the same bits in each: WinogradWeights.swift).
        let outputs = packed.map(\.data)
        var half = [Double](repeating: 0, count: r * alpha * cout)
        var row = [Float](repeating: 0, count: cout)
        kernel.values.withUnsafeBufferPointer { weights in
            half.withUnsafeMutableBufferPointer { half in
                row.withUnsafeMutableBufferPointer { row in
                    g.withUnsafeBufferPointer { g in
                        outputs.withUnsafeBufferPointer { outputs in
                            guard let w = weights.baseAddress, let h = half.baseAddress, let u = row.baseAddress,
                                let g = g.baseAddress, let outputs = outputs.baseAddress
                            else { return }
                            Transforms.weights(
                                microkernel, kernel: w, cin: cin, cout: cout, taps: r, alpha: alpha, g: g, half: h,
                                row: u, outputs: outputs, width: microkernel.panelWidth)
                        }
                    }
                }
            }
        }
        self.packed = packed
        biasStorage = try AlignedBuffer(floats: ldm, arena: arena)
        if let bias { for co in 0..<cout { biasStorage.pointer[co] = bias.values[co] } }
        let tileRows = microkernel.tileRows
        let bytesPerTile = variant.matrices * (ldv + ldm) * 4
        blockTiles = Swift.max(1, Self.blockBytes / bytesPerTile / tileRows) * tileRows
        scratchBytes = blockTiles * bytesPerTile + 2 * variant.matrices * Self.skewFloats * 4 + Self.workFloats * 4
    }

    /// The transformed tiles and products of one block, at most (more when one tile takes more).
    static let blockBytes = 256 * 1024

    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .conv2D(let window, _, _, let hasBias) = setup.layer.kind,
            let variant = Self.variant(.init(setup))
        else { throw setup.mismatch }
        try self.init(
            operands: setup.operands, variant: variant, window: window, activation: setup.layer.activation,
            kernel: try setup.weight(0, as: .float32), bias: hasBias ? try setup.weight(1, as: .float32) : nil,
            arena: setup.arena)
    }

    /// One packed matrix per tile element, and the bias.
    static func preparedBytes(_ setup: KernelSetup) -> Int {
        guard let variant = variant(.init(setup)) else { return 0 }
        let cin = setup.operands.inputShape.channels
        let cout = setup.operands.outputShape.channels
        return variant.matrices * PackedWeights.floatCount(k: cin, n: cout) * 4 + Swift.max(cout + 7, 16) * 4
    }

    private var bias: UnsafeMutablePointer<Float> { biasStorage.pointer }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let macs =
            batch * tilesPerImage * variant.matrices * operands.inputShape.channels
            * operands.outputShape.channels
        return (items: GEMMShare.items(rows: batch * tilesPerImage, panels: packed[0].panels), work: macs)
    }

    /// The GEMMs' rows are the batch's tiles; a part takes whole microkernel
    /// tiles of them, or (fewer tiles than parts) every tile and a share of the
    /// panels. Either way a tile's numbers are computed the same way: the
    /// transforms are per tile, and the GEMM's per row and column.
    func run(_ context: RunContext, part: Int, of parts: Int) {
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let x = operands.inputShape
        let y = operands.outputShape
        let share = GEMMShare(rows: context.batch * tilesPerImage, panels: packed[0].panels, part: part, of: parts)
        guard !share.rows.isEmpty else { return }
        let outputColumns = share.columns(n: y.channels, width: packed[0].panelWidth)
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: Float.self)
        let matrices = variant.matrices
        let vStride = blockTiles * ldv + Self.skewFloats
        let mStride = blockTiles * ldm + Self.skewFloats
        let v = scratch
        let m = scratch + matrices * vStride
        let work = m + matrices * mStride
        let alpha = variant.alpha
        var start = share.rows.lowerBound
        while start < share.rows.upperBound {
            let count = Swift.min(blockTiles, share.rows.upperBound - start)
            Transforms.input(
                microkernel, alpha: alpha, step: variant.step, input: input, height: x.height, width: x.width,
                channels: x.channels,
                padTop: padTop,
                padLeft: padLeft, tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: start, tiles: count, v: v,
                ldv: ldv, matrixStride: vStride, work: work, lastUnused: lastUnused)
            for xi in 0..<matrices {
                GEMM.run(
                    m: count, a: v + xi * vStride, lda: ldv, weights: packed[xi], c: m + xi * mStride, ldc: ldm,
                    microkernel: microkernel, panels: share.panels, wholePanels: true)
            }
            Transforms.output(
                microkernel, alpha: alpha, step: variant.step, m: m, ldm: ldm, matrixStride: mStride, bias: bias,
                output: output,
                height: y.height,
                width: y.width, outputChannels: y.channels, firstChannel: outputColumns.lowerBound,
                channels: outputColumns.count, tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: start,
                tiles: count, clamp: clamp, work: work)
            start += count
        }
    }
}

extension KernelShape {
    /// The shape of the layer a kernel is being prepared for.
    init(_ setup: KernelSetup) {
        self.init(layer: setup.layer, inputShapes: setup.operands.inputShapes, outputShape: setup.operands.outputShape)
    }
}

/// The transforms of the build the microkernel comes from (one dispatch per block).
private enum Transforms {
    static func weights(
        _ microkernel: GEMM.Microkernel, kernel: UnsafePointer<Float>, cin: Int, cout: Int, taps: Int, alpha: Int,
        g: UnsafePointer<Double>, half: UnsafeMutablePointer<Double>, row: UnsafeMutablePointer<Float>,
        outputs: UnsafePointer<UnsafeMutablePointer<Float>>, width: Int
    ) {
        #if canImport(CnnzGEMMAVX2)
            switch microkernel {
            case .f32GEMM4x8PortableBroadcast:
                CnnzGEMM.WinogradTransforms.f64TransformWeights(
                    kernel: kernel, cin: cin, cout: cout, taps: taps, alpha: alpha, g: g, half: half, row: row,
                    outputs: outputs, width: width)
            case .f32GEMM6x16AVX2FMABroadcast:
                CnnzGEMMAVX2.WinogradTransforms.f64TransformWeights(
                    kernel: kernel, cin: cin, cout: cout, taps: taps, alpha: alpha, g: g, half: half, row: row,
                    outputs: outputs, width: width)
            case .f32GEMM8x16AVX512Broadcast:
                CnnzGEMMAVX512.WinogradTransforms.f64TransformWeights(
                    kernel: kernel, cin: cin, cout: cout, taps: taps, alpha: alpha, g: g, half: half, row: row,
                    outputs: outputs, width: width)
            }
        #else
            WinogradTransforms.f64TransformWeights(
                kernel: kernel, cin: cin, cout: cout, taps: taps, alpha: alpha, g: g, half: half, row: row,
                outputs: outputs, width: width)
        #endif
    }

    static func input(
        _ microkernel: GEMM.Microkernel, alpha: Int, step: Int, input: UnsafePointer<Float>, height: Int, width: Int,
        channels: Int, padTop: Int, padLeft: Int, tilesX: Int, tilesPerImage: Int, firstTile: Int, tiles: Int,
        v: UnsafeMutablePointer<Float>, ldv: Int, matrixStride: Int, work: UnsafeMutablePointer<Float>,
        lastUnused: Bool
    ) {
        #if canImport(CnnzGEMMAVX2)
            switch microkernel {
            case .f32GEMM4x8PortableBroadcast:
                CnnzGEMM.WinogradTransforms.f32Input(
                    alpha: alpha, step: step, input: input, height: height, width: width, channels: channels,
                    padTop: padTop,
                    padLeft: padLeft, tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: firstTile,
                    tiles: tiles, v: v, ldv: ldv, matrixStride: matrixStride, work: work, lastUnused: lastUnused)
            case .f32GEMM6x16AVX2FMABroadcast:
                CnnzGEMMAVX2.WinogradTransforms.f32Input(
                    alpha: alpha, step: step, input: input, height: height, width: width, channels: channels,
                    padTop: padTop,
                    padLeft: padLeft, tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: firstTile,
                    tiles: tiles, v: v, ldv: ldv, matrixStride: matrixStride, work: work, lastUnused: lastUnused)
            case .f32GEMM8x16AVX512Broadcast:
                CnnzGEMMAVX512.WinogradTransforms.f32Input(
                    alpha: alpha, step: step, input: input, height: height, width: width, channels: channels,
                    padTop: padTop,
                    padLeft: padLeft, tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: firstTile,
                    tiles: tiles, v: v, ldv: ldv, matrixStride: matrixStride, work: work, lastUnused: lastUnused)
            }
        #else
            WinogradTransforms.f32Input(
                alpha: alpha, step: step, input: input, height: height, width: width, channels: channels,
                padTop: padTop,
                padLeft: padLeft, tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: firstTile, tiles: tiles,
                v: v, ldv: ldv, matrixStride: matrixStride, work: work, lastUnused: lastUnused)
        #endif
    }

    static func output(
        _ microkernel: GEMM.Microkernel, alpha: Int, step: Int, m: UnsafePointer<Float>, ldm: Int, matrixStride: Int,
        bias: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, height: Int, width: Int, outputChannels: Int, firstChannel: Int,
        channels: Int, tilesX: Int, tilesPerImage: Int, firstTile: Int, tiles: Int, clamp: OutputClamp,
        work: UnsafeMutablePointer<Float>
    ) {
        #if canImport(CnnzGEMMAVX2)
            switch microkernel {
            case .f32GEMM4x8PortableBroadcast:
                CnnzGEMM.WinogradTransforms.f32Output(
                    alpha: alpha, step: step, m: m, ldm: ldm, matrixStride: matrixStride, bias: bias, output: output,
                    height: height, width: width, outputChannels: outputChannels, firstChannel: firstChannel,
                    channels: channels, tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: firstTile,
                    tiles: tiles, clampMinimum: clamp.minimum, clampMaximum: clamp.maximum,
                    clampActive: clamp.isActive, work: work)
            case .f32GEMM6x16AVX2FMABroadcast:
                CnnzGEMMAVX2.WinogradTransforms.f32Output(
                    alpha: alpha, step: step, m: m, ldm: ldm, matrixStride: matrixStride, bias: bias, output: output,
                    height: height, width: width, outputChannels: outputChannels, firstChannel: firstChannel,
                    channels: channels, tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: firstTile,
                    tiles: tiles, clampMinimum: clamp.minimum, clampMaximum: clamp.maximum,
                    clampActive: clamp.isActive, work: work)
            case .f32GEMM8x16AVX512Broadcast:
                CnnzGEMMAVX512.WinogradTransforms.f32Output(
                    alpha: alpha, step: step, m: m, ldm: ldm, matrixStride: matrixStride, bias: bias, output: output,
                    height: height, width: width, outputChannels: outputChannels, firstChannel: firstChannel,
                    channels: channels, tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: firstTile,
                    tiles: tiles, clampMinimum: clamp.minimum, clampMaximum: clamp.maximum,
                    clampActive: clamp.isActive, work: work)
            }
        #else
            WinogradTransforms.f32Output(
                alpha: alpha, step: step, m: m, ldm: ldm, matrixStride: matrixStride, bias: bias, output: output,
                height: height,
                width: width, outputChannels: outputChannels, firstChannel: firstChannel, channels: channels,
                tilesX: tilesX, tilesPerImage: tilesPerImage, firstTile: firstTile, tiles: tiles,
                clampMinimum: clamp.minimum, clampMaximum: clamp.maximum, clampActive: clamp.isActive, work: work)
        #endif
    }
}
