#if canImport(CnnzGEMMAVX2)
    import CCPUFeatures
    import CnnzGEMM
    import CnnzGEMMAVX2
    import CnnzGEMMAVX512

    /// The store clamp of the build this kernel calls.
    private typealias DirectClamp = CnnzGEMMAVX2.GEMMMicrokernels.Clamp
    private typealias ClampAVX512 = CnnzGEMMAVX512.GEMMMicrokernels.Clamp
#else
    private typealias DirectClamp = GEMMMicrokernels.Clamp
#endif

/// Conv2D without im2col, for the layers where im2col + GEMM wastes most: first
/// layers (1 to 4 input channels, where copying the receptive fields costs as
/// much as the product) and filter counts that fill the GEMM's 16-wide panels
/// badly (seed002's 12, 25, 50). Each window row's taps are a contiguous run of
/// the input (ungrouped, undilated along x), read where they lie through one
/// origin pointer per output pixel (XNNPACK's indirect GEMM, one pointer per
/// pixel instead of per tap); when windows reach into the padding, an output
/// row's window rows are first copied between zeros into the part's scratch.
/// Filters are split into tiles of 24, 16 or 8 at prepare time
/// (`DirectConvMicrokernels`), so 50 filters take 24 + 16 + 16; 12 filters take
/// pairs of pixels, 24 outputs in three full vectors (`f32Conv6x12PairBroadcast`,
/// on AVX-512 `f32Conv8x12PairBroadcast`), and on AVX-512 9 to 16 filters one zmm per pixel
/// (`f32Conv8x16Broadcast`). Every output is the bias then the taps in (ky, kx, c) order,
/// padding taps included as zeros: bit for bit what `Conv2DIm2ColGEMM` computes
/// with the AVX2 GEMM, whoever computes the pixel.
final class Conv2DDirect: RegisteredKernel {
    /// One tile of filters: its first filter, its width (8, 16 or 24) and packed weights.
    struct Tile {
        let first: Int
        let width: Int
        let weights: PackedWeights
    }

    let operands: KernelOperands
    let window: Window
    let activation: Activation
    let clamp: OutputClamp?
    let rows: AxisGeometry
    let columns: AxisGeometry
    let tiles: [Tile]
    /// 12 filters: one tile of pixel pairs, each tap's weights twice.
    let pairs: Bool
    /// The CPU has AVX-512: the pairs run 8 pixels at a time in zmm registers' build.
    let avx512: Bool
    /// 9 to 16 filters but 12 on an AVX-512 CPU: one 16-wide tile of 8 pixels in zmm
    /// registers (`f32Conv8x16Broadcast`) instead of AVX2's 6 x 16.
    let sixteen: Bool
    /// One tile holds every filter, and more than half its width: a pixel may be stored
    /// whole, spilling into the next one (`DirectConvMicrokernels`).
    let spill: Bool
    /// Floats of one padded input row: the span the output row's windows cover.
    let paddedRowFloats: Int
    /// The windows reach into the padding: output rows are computed one by one from copies of
    /// their window rows between zeros. Otherwise the taps are read in the input, and pixels
    /// are taken in chunks whatever rows and images they belong to (seed002's 4 x 4 outputs).
    let isPadded: Bool
    /// Pixels per microkernel call of an unpadded layer: a multiple of every tile's pixels.
    static let chunkPixels = 96
    let scratchBytes: Int

    /// Ungrouped, undilated along x, on a CPU with AVX2 + FMA (the tiles are 8-float
    /// vectors); and a first layer or a filter count that the GEMM's panels fit badly.
    static func accepts(_ shape: KernelShape) -> Bool {
        #if canImport(CnnzGEMMAVX2)
            guard cnnz_cpu_has_avx2_fma() != 0,
                case .conv2D(let window, let filters, let groups, _) = shape.layer.kind,
                groups == 1, window.dilationWidth == 1, let x = shape.inputShapes.first
            else { return false }
            return x.channels <= 4 || filters % 16 != 0
        #else
            return false
        #endif
    }

    /// Whether `filters` run as pixel pairs: 12 (seed002's), 8 pixels at a time on a CPU with
    /// AVX-512 (`f32Conv8x12PairBroadcast`), 6 with AVX2 (`f32Conv6x12PairBroadcast`, where the
    /// 6 x 16 tile wasted a quarter of its lanes: seed002's conv1 0.074 ms at 60 GFLOP/s).
    static func takesPairs(filters: Int) -> Bool {
        #if canImport(CnnzGEMMAVX2)
            filters == 12
        #else
            false
        #endif
    }

    /// Whether `filters` run in one 16-wide tile of 8 pixels in zmm registers
    /// (`f32Conv8x16Broadcast`): 9 to 16 but 12 (pairs), on a CPU with AVX-512.
    static func takesSixteen(filters: Int) -> Bool {
        #if canImport(CnnzGEMMAVX2)
            (9...16).contains(filters) && filters != 12 && cnnz_cpu_has_avx512() != 0
        #else
            false
        #endif
    }

    /// Whether `filters` run in 32-wide tiles of 8 pixels (`f32Conv8x32Broadcast`):
    /// multiples of 32 (the 32-filter first layers) and 25 to 31 (one pass where two
    /// 16-wide tiles made two, as many lanes), on a CPU with AVX-512.
    static func takesWide(filters: Int) -> Bool {
        #if canImport(CnnzGEMMAVX2)
            (filters % 32 == 0 || (25...31).contains(filters)) && cnnz_cpu_has_avx512() != 0
        #else
            false
        #endif
    }

    /// The tiles' widths, in vectors of 8 (4 per tile when `takesWide`), for `filters`: 24-wide tiles and one or
    /// two 16-wide ones (4 x 24 and 6 x 16 pixels x filters: 12 accumulators, the
    /// most 16 registers hold beside the weights and a broadcast), or one 8-wide.
    static func tileVectors(filters: Int) -> [Int] {
        let vectors = (filters + 7) / 8
        if vectors == 1 { return [1] }
        if takesWide(filters: filters) { return Array(repeating: 4, count: (filters + 31) / 32) }
        switch vectors % 3 {
        case 0: return Array(repeating: 3, count: vectors / 3)
        case 2: return Array(repeating: 3, count: vectors / 3) + [2]
        default: return Array(repeating: 3, count: vectors / 3 - 1) + [2, 2]
        }
    }

    init(
        operands: KernelOperands, window: Window, activation: Activation, kernel: Tensor, bias: Tensor?,
        arena: PageArena? = nil
    ) throws(CnnzError) {
        self.operands = operands
        self.window = window
        self.activation = activation
        clamp = OutputClamp(fusing: activation)
        let x = operands.inputShape
        let filters = operands.outputShape.channels
        (rows, columns) = window.geometry(height: x.height, width: x.width)!
        let k = window.kernelHeight * window.kernelWidth * x.channels
        var tiles: [Tile] = []
        var first = 0
        pairs = Self.takesPairs(filters: filters)
        #if canImport(CnnzGEMMAVX2)
            avx512 = cnnz_cpu_has_avx512() != 0
        #else
            avx512 = false
        #endif
        sixteen = Self.takesSixteen(filters: filters)
        if pairs {
            let weights = kernel.values
            let biasValues = bias?.values
            tiles.append(
                Tile(
                    first: 0, width: 12,
                    weights: try PackedWeights(
                        k: k, n: 24, element: { kk, j in weights[kk * 12 + j % 12] },
                        bias: biasValues.map { b in { j in b[j % 12] } }, panelWidth: 24, arena: arena)))
            first = filters
        }
        for vectors in Self.tileVectors(filters: filters) where !pairs {
            let width = Self.takesWide(filters: filters) ? 32 : vectors * 8
            tiles.append(
                Tile(
                    first: first, width: width,
                    weights: try PackedWeights(
                        k: k, n: Swift.min(width, filters - first), weights: kernel.values, offset: first,
                        rowStride: filters, bias: bias?.values, biasOffset: first, panelWidth: width, arena: arena)))
            first += width
        }
        self.tiles = tiles
        spill = tiles.count == 1 && filters < tiles[0].width && 2 * filters > tiles[0].width
        let span = (columns.output - 1) * window.strideWidth + window.kernelWidth
        paddedRowFloats = span * x.channels
        isPadded = rows.padBefore + rows.padAfter + columns.padBefore + columns.padAfter > 0
        // Window origins (a chunk of pixels, or an output row), then the padded copies of a row's window rows.
        let origins = Swift.max(Self.chunkPixels, columns.output)
        scratchBytes = Self.lines(origins * 8) + (isPadded ? window.kernelHeight * Self.lines(paddedRowFloats * 4) : 0)
    }

    convenience init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .conv2D(let window, _, let groups, let hasBias) = setup.layer.kind, groups == 1 else {
            throw setup.mismatch
        }
        try self.init(
            operands: setup.operands, window: window, activation: setup.layer.activation,
            kernel: try setup.weight(0, as: .float32), bias: hasBias ? try setup.weight(1, as: .float32) : nil,
            arena: setup.arena)
    }

    static func preparedBytes(_ setup: KernelSetup) -> Int {
        guard case .conv2D(let window, let filters, _, _) = setup.layer.kind else { return 0 }
        let k = window.kernelHeight * window.kernelWidth * setup.operands.inputShape.channels
        if takesPairs(filters: filters) { return (k + 1) * 24 * 4 }
        return tileVectors(filters: filters).reduce(0) { $0 + Swift.max((k + 1) * $1 * 8, 16) * 4 }
    }

    /// `bytes` rounded up to whole 64-byte lines, so what follows stays aligned.
    private static func lines(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let k = window.kernelHeight * window.kernelWidth * operands.inputShape.channels
        let items = batch * rows.output * (isPadded ? 1 : columns.output)
        return (items: items, work: batch * operands.outputShape.elementCount * k)
    }

    /// Part `part` computes whole output rows (padded) or a run of pixels (image after image).
    func run(_ context: RunContext, part: Int, of parts: Int) {
        let x = operands.inputShape
        let y = operands.outputShape
        let share = Partition.range(
            context.batch * rows.output * (isPadded ? 1 : columns.output), part: part, of: parts)
        guard !share.isEmpty else { return }
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Float.self)
        let scratch = UnsafeMutableRawPointer(context.scratch(part: part, bytes: scratchBytes, as: UInt8.self))
        let originCount = Swift.max(Self.chunkPixels, columns.output)
        let origins = scratch.bindMemory(to: UnsafePointer<Float>.self, capacity: originCount)
        let run = window.kernelWidth * x.channels
        let pixelStride = window.strideWidth * x.channels
        let inputRowFloats = x.width * x.channels
        let clamp = self.clamp ?? .none
        let microClamp = DirectClamp(minimum: clamp.minimum, maximum: clamp.maximum, isActive: clamp.isActive)
        func compute(_ pixels: Int, rowStride: Int, from first: Int) {
            let out = output + first * y.channels
            #if canImport(CnnzGEMMAVX2)
                if pairs && avx512 {
                    CnnzGEMMAVX512.DirectConvMicrokernels.f32Conv8x12PairBroadcast(
                        pixels: pixels, origins: UnsafePointer(origins), kernelRows: window.kernelHeight,
                        rowStride: rowStride, run: run, packed: UnsafePointer(tiles[0].weights.data),
                        bias: UnsafePointer(tiles[0].weights.bias), c: out,
                        clamp: ClampAVX512(minimum: clamp.minimum, maximum: clamp.maximum, isActive: clamp.isActive))
                } else if pairs {
                    CnnzGEMMAVX2.DirectConvMicrokernels.f32Conv6x12PairBroadcast(
                        pixels: pixels, origins: UnsafePointer(origins), kernelRows: window.kernelHeight,
                        rowStride: rowStride, run: run, packed: UnsafePointer(tiles[0].weights.data),
                        bias: UnsafePointer(tiles[0].weights.bias), c: out, clamp: microClamp)
                }
            #endif
            for tile in tiles where !pairs {
                #if canImport(CnnzGEMMAVX2)
                    if tile.width == 32 {
                        CnnzGEMMAVX512.DirectConvMicrokernels.f32Conv8x32Broadcast(
                            pixels: pixels, origins: UnsafePointer(origins), kernelRows: window.kernelHeight,
                            rowStride: rowStride, run: run, packed: UnsafePointer(tile.weights.data),
                            bias: UnsafePointer(tile.weights.bias), c: out + tile.first, ldc: y.channels,
                            columns: Swift.min(32, y.channels - tile.first), spill: spill,
                            clamp: ClampAVX512(minimum: clamp.minimum, maximum: clamp.maximum, isActive: clamp.isActive)
                        )
                        continue
                    }
                    if sixteen {
                        CnnzGEMMAVX512.DirectConvMicrokernels.f32Conv8x16Broadcast(
                            pixels: pixels, origins: UnsafePointer(origins), kernelRows: window.kernelHeight,
                            rowStride: rowStride, run: run, packed: UnsafePointer(tile.weights.data),
                            bias: UnsafePointer(tile.weights.bias), c: out, ldc: y.channels,
                            columns: y.channels, spill: spill,
                            clamp: ClampAVX512(minimum: clamp.minimum, maximum: clamp.maximum, isActive: clamp.isActive)
                        )
                        continue
                    }
                #endif
                Self.microkernel(
                    tile, pixels: pixels, origins: UnsafePointer(origins), kernelRows: window.kernelHeight,
                    rowStride: rowStride, run: run, c: out + tile.first, ldc: y.channels,
                    columns: Swift.min(tile.width, y.channels - tile.first), spill: spill, clamp: microClamp)
            }
            if self.clamp == nil {
                ActivationFunction.apply(activation, to: out, rows: pixels, columns: y.channels, stride: y.channels)
            }
        }
        guard isPadded else {
            // Pixel `q` of the batch: image q / pixels, then row and column; its window's origin
            // is advanced pixel by pixel instead of two divisions per pixel, and the pointer
            // itself, by a pixel's stride or at a row's end to the next row's first window
            // (the multiplications and overflow checks per pixel took 7 cycles, 10 us of
            // seed002's conv0 and conv1 together).
            let image = share.lowerBound / y.pixels
            var oy = (share.lowerBound - image * y.pixels) / y.width
            var ox = share.lowerBound - image * y.pixels - oy * y.width
            var origin =
                input + image * x.elementCount + oy * window.strideHeight * inputRowFloats + ox * pixelStride
            let nextRow = window.strideHeight * inputRowFloats - y.width * pixelStride
            // From the last row's end to the next image's first window.
            let nextImage =
                x.elementCount - (y.height - 1) * window.strideHeight * inputRowFloats - y.width * pixelStride
            var first = share.lowerBound
            while first < share.upperBound {
                let count = Swift.min(Self.chunkPixels, share.upperBound - first)
                for i in 0..<count {
                    origins[i] = origin
                    origin = origin.advanced(by: pixelStride)
                    ox &+= 1
                    if ox == y.width {
                        ox = 0
                        oy &+= 1
                        if oy == y.height {
                            oy = 0
                            origin = origin.advanced(by: nextImage)
                        } else {
                            origin = origin.advanced(by: nextRow)
                        }
                    }
                }
                compute(count, rowStride: window.dilationHeight * inputRowFloats, from: first)
                first += count
            }
            return
        }
        let rowFloats = Self.lines(paddedRowFloats * 4) / 4
        let copies = (scratch + Self.lines(originCount * 8)).bindMemory(
            to: Float.self, capacity: window.kernelHeight * rowFloats)
        // The input columns a padded row holds, from its column `columns.padBefore`.
        let copied = Swift.min(x.width, paddedRowFloats / x.channels - columns.padBefore) * x.channels
        // Zeros on either side of every copy: rows are filled in the middle below, or wholly with zeros.
        copies.update(repeating: 0, count: window.kernelHeight * rowFloats)
        for ox in 0..<y.width { origins[ox] = UnsafePointer(copies + ox * pixelStride) }
        for item in share {
            let image = item / rows.output
            let oy = item - image * rows.output
            let source = input + image * x.elementCount
            for ky in 0..<window.kernelHeight {
                let iy = oy * window.strideHeight - rows.padBefore + ky * window.dilationHeight
                let row = copies + ky * rowFloats + columns.padBefore * x.channels
                if iy < 0 || iy >= x.height {
                    row.update(repeating: 0, count: copied)
                } else {
                    row.update(from: source + iy * inputRowFloats, count: copied)
                }
            }
            compute(y.width, rowStride: rowFloats, from: item * y.width)
        }
    }

    @inline(__always)
    private static func microkernel(
        _ tile: Tile, pixels: Int, origins: UnsafePointer<UnsafePointer<Float>>, kernelRows: Int, rowStride: Int,
        run: Int, c: UnsafeMutablePointer<Float>, ldc: Int, columns: Int, spill: Bool, clamp: DirectClamp
    ) {
        #if canImport(CnnzGEMMAVX2)
            let packed = UnsafePointer(tile.weights.data)
            let bias = UnsafePointer(tile.weights.bias)
            typealias Kernels = CnnzGEMMAVX2.DirectConvMicrokernels
            switch tile.width {
            case 8:
                Kernels.f32Conv8x8Broadcast(
                    pixels: pixels, origins: origins, kernelRows: kernelRows, rowStride: rowStride, run: run,
                    packed: packed, bias: bias, c: c, ldc: ldc, columns: columns, spill: spill, clamp: clamp)
            case 16:
                Kernels.f32Conv6x16Broadcast(
                    pixels: pixels, origins: origins, kernelRows: kernelRows, rowStride: rowStride, run: run,
                    packed: packed, bias: bias, c: c, ldc: ldc, columns: columns, spill: spill, clamp: clamp)
            default:
                Kernels.f32Conv4x24Broadcast(
                    pixels: pixels, origins: origins, kernelRows: kernelRows, rowStride: rowStride, run: run,
                    packed: packed, bias: bias, c: c, ldc: ldc, columns: columns, spill: spill, clamp: clamp)
            }
        #endif
    }
}
