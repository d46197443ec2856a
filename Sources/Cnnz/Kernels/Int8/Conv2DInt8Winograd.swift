import CInt8Kernels

/// Int8 3x3 stride-1 Conv2D by an exact integer Winograd F(2x2, 3x3) (`cnnz_qs8_wino2x2`,
/// int8_winograd_avx2.c): 16 multiply-adds per 2x2 output tile and input channel instead of
/// 36, on the int16 `vpmaddwd` the AVX2 GEMM uses, and the same bytes as `Conv2DInt8`.
///
/// Why it is exact. With `d = q - zeroPoint` (in -255...255; 0 at padding, where `Conv2DInt8`'s
/// int16 paths put exactly the zero point) and weights `g` (in -128...127), F(2x2, 3x3) is
/// `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` with `G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]]`; its halves
/// go with `G' = 2G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]]`, so `U' = G' g G'ᵀ = 4 U` is an
/// integer with `|U'| <= 9 * 128 = 1152`, and `V = Bᵀ d B` (`Bᵀ = [[1,0,-1,0],[0,1,1,0],
/// [0,-1,1,0],[0,1,0,-1]]`) sums 4 values of `d`: `|V| <= 4 * 255 = 1020`. Both fit int16, a
/// `vpmaddwd` pair `2 * 1020 * 1152` fits int32, and `M = Σ_channels U' ⊙ V` and
/// `Y' = Aᵀ M A` (`Aᵀ = [[1,1,1,0],[0,1,-1,-1]]`) are sums and differences: ring arithmetic
/// mod 2^32, whatever wraps on the way. The identity `Aᵀ [(G' g G'ᵀ) ⊙ V] A = 4 S` holds over
/// the integers (S the exact convolution sum without bias), so the int32 `Y'` is `4 S` mod 2^32,
/// which is `4 S` itself while `|4 S| < 2^31`: `|S| <= channels * 9 * 255 * 128`, so for up to
/// `maxChannels` input channels. Then `S = Y' >> 2` (arithmetic) exactly, and the bias,
/// requantization and clamp or table are the int16 GEMM's (the same constants,
/// `Int8PackedWeights`' output stage), hence the same bytes as the reference.
/// `@unchecked Sendable`: the transformed weights are raw memory written only by `init`.
final class Conv2DInt8Winograd: RegisteredKernel, @unchecked Sendable {
    /// The most input channels for which `|4 S| < 2^31` (see above): 2^31 / (4 * 9 * 255 * 128) = 1827.6.
    static let maxChannels = 1827
    /// The fewest input channels it takes. Synthetic layers, 1 thread, A/B against the row
    /// convolution: 8 channels 2x slower, 4 channels 3.4x (the transforms then outweigh the
    /// products), 16 even (16 to 16 filters) or faster (16 to 32: 0.0166 against 0.0186 ms).
    static let minChannels = 16

    /// 3x3, stride 1, no dilation, one group, `minChannels...maxChannels` input channels, an
    /// output at least 2x2 (1 pixel high or wide, a tile's 16 products make 1 or 2 outputs:
    /// 64 channels, 1x1 0.0021 ms against 0.0012, 1x7 0.0044 against 0.0043), with the int16
    /// variants (portable, AVX2; not VNNI, whose byte products this kernel does not have).
    static func accepts(_ shape: KernelShape) -> Bool {
        guard case .conv2D(let w, _, let groups, _) = shape.layer.kind, groups == 1,
            w.kernelHeight == 3, w.kernelWidth == 3, w.strideHeight == 1, w.strideWidth == 1,
            w.dilationHeight == 1, w.dilationWidth == 1, let input = shape.inputShapes.first,
            (minChannels...maxChannels).contains(input.channels),
            shape.outputShape.height >= 2, shape.outputShape.width >= 2
        else { return false }
        return !Int8GEMM.selected.isVNNI || Int8GEMM.selected == .avx2Maddubs
    }

    let operands: KernelOperands
    /// The fused residual Add, or nil: added after the part's tiles (`addResidual`).
    let residual: Int8ResidualAdd?
    let level: Int32
    let shape: cnnz_qs8_wino2x2_shape
    /// The transformed weights `U'` in the kernel's layout (see `cnnz_qs8_wino2x2`), from the
    /// model's prepared-weights arena when it has room (as the float32 Winograd's).
    let weights: AlignedBuffer
    /// The output stage only (bias, multipliers, clamp or table, the AVX2 constants): its
    /// panels hold one zero row.
    let stage: Int8PackedWeights
    /// Tiles transformed together: their 16 int16 matrices stay within about 128 KB (L2).
    let blockTiles: Int
    let scratchBytes: Int

    init(
        operands: KernelOperands, window: Window, kernel: Tensor, bias: Tensor?, input: ActivationQuantization,
        output: ActivationQuantization, activation: Activation, variant: Int8GEMM.Variant = Int8GEMM.selected,
        residual: ResidualAdd? = nil, arena: PageArena? = nil
    ) throws(CnnzError) {
        self.operands = operands
        let x = operands.inputShape
        let y = operands.outputShape
        let (rows, columns) = window.geometry(height: x.height, width: x.width)!
        guard case .int8(let values) = kernel.storage, let q = kernel.quantization else {
            throw .unsupported("int8 Conv2D: the kernel is \(kernel.elementType), not int8")
        }
        let portable = variant == .portable
        level = portable ? CNNZ_INT8_PORTABLE : CNNZ_INT8_AVX2
        self.residual = residual.map { [level] in Int8ResidualAdd($0, value: operands.inputs[1], level: level) }
        let (cin, cout) = (x.channels, y.channels)
        let tilesX = (y.width + 1) / 2
        shape = cnnz_qs8_wino2x2_shape(
            height: x.height, width: x.width, channels: cin, out_height: y.height, out_width: y.width, n: cout,
            pad_top: rows.padBefore, pad_left: columns.padBefore, tiles_x: tilesX,
            tiles_per_image: tilesX * ((y.height + 1) / 2), zero_point: input.zeroPoint)
        // The output stage before the weights' memory: nothing left to throw once it is allocated.
        let activationStage = Int8Activation(activation, output: output)
        let weightScale = { (f: Int) in Double(q.scales.count == 1 ? q.scales[0] : q.scales[f]) }
        let biasValue = try Conv2DInt8.bias(bias, inputScale: input.scale, weightScale: weightScale)
        let zeros = [Int8](repeating: 0, count: cout)
        stage = try zeros.withUnsafeBufferPointer { z throws(CnnzError) in
            try Int8PackedWeights(
                k: 1, n: cout, weights: z.baseAddress!, rowStride: cout, bias: biasValue,
                realMultiplier: { Double(input.scale) * weightScale($0) / Double(activationStage.scale) },
                activation: activationStage, variant: portable ? .portable : .avx2, floatForms: false)
        }
        let pairs = (cin + 1) / 2
        let count = Self.weightCount(channels: cin, filters: cout)
        // Zeroed (the arena's pages, or malloc's cleared): the pairs and panels past the
        // channels and filters stay 0.
        weights = try AlignedBuffer(bytes: count * 2, arena: arena)
        let u = weights.raw.bindMemory(to: Int16.self, capacity: count)
        // U' = G' g G'ᵀ per (channel, filter), |U'| <= 1152; Keras' kernel is [3, 3, Cin, Cout].
        values.withUnsafeBufferPointer { w in
            for ci in 0..<cin {
                for co in 0..<cout {
                    let tap = { (t: Int) in Int32(w[(t * cin + ci) * cout + co]) }
                    // G' g (G' on each column kx of the kernel), then G' on each row a of that.
                    let c0 = Self.gPrime(tap(0), tap(3), tap(6))
                    let c1 = Self.gPrime(tap(1), tap(4), tap(7))
                    let c2 = Self.gPrime(tap(2), tap(5), tap(8))
                    let base = ((co / 16) * 16 * pairs + ci / 2) * 32 + (co % 16 / 8) * 16 + (co % 8) * 2 + ci % 2
                    let put = { (a: Int, r: (Int32, Int32, Int32, Int32)) in
                        // Matrix xi = 4a + b is `pairs * 32` int16 after matrix xi - 1.
                        let at = base + a * 4 * pairs * 32
                        (u[at], u[at + pairs * 32]) = (Int16(r.0), Int16(r.1))
                        (u[at + 2 * pairs * 32], u[at + 3 * pairs * 32]) = (Int16(r.2), Int16(r.3))
                    }
                    put(0, Self.gPrime(c0.0, c1.0, c2.0))
                    put(1, Self.gPrime(c0.1, c1.1, c2.1))
                    put(2, Self.gPrime(c0.2, c1.2, c2.2))
                    put(3, Self.gPrime(c0.3, c1.3, c2.3))
                }
            }
        }
        let block = max(4, min(256, 128 * 1024 / (16 * 4 * pairs)) / 4 * 4)
        blockTiles = block
        scratchBytes = withUnsafePointer(to: shape) { cnnz_qs8_wino2x2_scratch($0, block) }
    }

    /// int16 of `U'`: 16 matrices of whole pairs of channels by whole groups of 16 filters.
    static func weightCount(channels: Int, filters: Int) -> Int {
        ((filters + 15) / 16) * 16 * ((channels + 1) / 2) * 32
    }

    /// `G' (v0, v1, v2)`: `(2 v0, v0 + v1 + v2, v0 - v1 + v2, 2 v2)`.
    static func gPrime(_ v0: Int32, _ v1: Int32, _ v2: Int32) -> (Int32, Int32, Int32, Int32) {
        (2 * v0, v0 + v1 + v2, v0 - v1 + v2, 2 * v2)
    }

    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .conv2D(let window, _, _, let hasBias) = setup.layer.kind, let output = setup.outputQuantization
        else { throw setup.mismatch }
        try self.init(
            operands: setup.operands, window: window, kernel: setup.weights[0],
            bias: hasBias ? setup.weights[1] : nil, input: setup.inputQuantization[0], output: output,
            activation: setup.layer.activation, residual: setup.residual, arena: setup.arena)
    }

    /// As `Conv2DInt8`: each result requantized to the convolution's own output, then the Add
    /// over the pixels the part wrote.
    static func fusesResidualAdd(_ shape: KernelShape) -> Bool { true }

    /// `U'` and the output stage.
    static func preparedBytes(_ setup: KernelSetup) -> Int {
        let filters = setup.operands.outputShape.channels
        return weightCount(channels: setup.operands.inputShape.channels, filters: filters) * 2 + 64
            + Int8PackedWeights.bytes(k: 1, n: filters)
    }

    /// Items: groups of 4 tiles (the microkernel's rows) of the whole batch; work: the direct
    /// convolution's multiply-adds, as `Conv2DInt8` (the same splitting decisions).
    func workload(batch: Int) -> (items: Int, work: Int) {
        let tiles = batch * Int(shape.tiles_per_image)
        let macs = batch * operands.outputShape.elementCount * 9 * operands.inputShape.channels
        return (items: (tiles + 3) / 4, work: macs)
    }

    /// The part's tiles: each output is computed the same way whatever the split.
    func run(_ context: RunContext, part: Int, of parts: Int) {
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        let total = context.batch * Int(shape.tiles_per_image)
        let quads = Partition.range((total + 3) / 4, part: part, of: parts)
        let first = quads.lowerBound * 4
        let count = min(total, quads.upperBound * 4) - first
        guard count > 0 else { return }
        let scratch = context.scratch(part: part, bytes: scratchBytes, as: UInt8.self)
        let packed = UnsafePointer(weights.raw.assumingMemoryBound(to: Int16.self))
        withUnsafePointer(to: shape) { s in
            withUnsafePointer(to: stage.output) { out in
                cnnz_qs8_wino2x2(level, s, input, first, count, blockTiles, scratch, packed, stage.stage, out, output)
            }
        }
        if let residual { addResidual(residual, context, output: output, tiles: first..<(first + count)) }
    }

    /// The Add over the output pixels of `tiles`: per run of tiles in one tile row, its two rows
    /// of pixels (the second only inside the image), each one call.
    private func addResidual(
        _ residual: Int8ResidualAdd, _ context: RunContext, output: UnsafeMutablePointer<Int8>, tiles: Range<Int>
    ) {
        let y = operands.outputShape
        let (perImage, tilesX) = (Int(shape.tiles_per_image), Int(shape.tiles_x))
        var tile = tiles.lowerBound
        while tile < tiles.upperBound {
            let (image, i) = (tile / perImage, tile % perImage)
            let (ty, tx) = (i / tilesX, i % tilesX)
            let end = min(tiles.upperBound - tile, tilesX - tx)
            let (x0, x1) = (2 * tx, min(y.width, 2 * (tx + end)))
            for oy in (2 * ty)..<min(y.height, 2 * ty + 2) {
                residual.add(
                    context, level: level, to: output, from: ((image * y.height + oy) * y.width + x0) * y.channels,
                    count: (x1 - x0) * y.channels)
            }
            tile += end
        }
    }
}
