// Tests/Fuzz/run.sh compiles the engine and the baseline microkernels as one
// module, without the AVX2 build or the CPU check: hence the canImport tests.
#if canImport(CnnzGEMMAVX2)
    import CCPUFeatures
    import CnnzGEMM
    import CnnzGEMMAVX2
    import CnnzGEMMAVX512
#endif

/// Weights `[K, N]` repacked at prepare time for the GEMM microkernels:
/// panels of `panelWidth` columns (the microkernel's tile width), each panel
/// `K` rows of contiguous floats, columns past `N` zero-filled, so the inner
/// loop loads whole vectors per k.
struct PackedWeights: @unchecked Sendable {
    /// The widest panel any microkernel uses (what the memory budget reserves).
    static let maximumPanelWidth = 16
    let k: Int
    let n: Int
    let panelWidth: Int
    let panels: Int
    /// `panels * k * panelWidth` floats, 64-byte aligned; owned by `storage`.
    let data: UnsafeMutablePointer<Float>
    let bias: UnsafeMutablePointer<Float>
    private let storage: AlignedBuffer

    /// The floats a packing of `[k, n]` weights allocates (panels, padding and bias), at most.
    static func floatCount(k: Int, n: Int) -> Int {
        let panels = (n + maximumPanelWidth - 1) / maximumPanelWidth
        return max(panels * (k + 1) * maximumPanelWidth, 16)
    }

    /// - Parameters:
    ///   - element: `element(kIndex, nIndex)` reads the unpacked weight.
    ///   - bias: `bias(nIndex)`, or nil for no bias.
    ///   - panelWidth: the microkernel's (default: the one `GEMM.best` uses).
    ///   - fill: false to leave the (zeroed) storage for the caller to fill.
    ///   - arena: the model's `PageArena` to carve the storage from, or nil.
    init(
        k: Int, n: Int, element: (Int, Int) -> Float, bias: ((Int) -> Float)?,
        panelWidth: Int = GEMM.best.panelWidth, fill: Bool = true, arena: PageArena? = nil
    ) throws(CnnzError) {
        self.k = k
        self.n = n
        self.panelWidth = panelWidth
        panels = (n + panelWidth - 1) / panelWidth
        let packedCount = panels * k * panelWidth
        storage = try AlignedBuffer(floats: packedCount + panels * panelWidth, arena: arena)
        data = storage.pointer
        self.bias = storage.pointer + packedCount
        guard fill else { return }
        for p in 0..<panels {
            for kk in 0..<k {
                for j in 0..<panelWidth {
                    let column = p * panelWidth + j
                    data[(p * k + kk) * panelWidth + j] = column < n ? element(kk, column) : 0
                }
            }
        }
        for column in 0..<(panels * panelWidth) {
            self.bias[column] = column < n ? (bias?(column) ?? 0) : 0
        }
    }
}

extension PackedWeights {
    /// Packs row-major weights, element `(k, n)` at `weights[offset + k * rowStride + n]`, bias
    /// `n` at `bias[biasOffset + n]`: a copy of each panel row at once, where the element
    /// closure costs a call per weight (loading cifar_vgg's 800k weights took 30 ms that way).
    init(
        k: Int, n: Int, weights: [Float], offset: Int, rowStride: Int, bias: [Float]?, biasOffset: Int = 0,
        panelWidth: Int = GEMM.best.panelWidth, arena: PageArena? = nil
    ) throws(CnnzError) {
        precondition(k == 0 || n == 0 || offset + (k - 1) * rowStride + n <= weights.count, "weights out of range")
        precondition(bias.map { biasOffset + n <= $0.count } ?? true, "bias out of range")
        // The storage starts zeroed (AlignedBuffer), so columns past n stay 0.
        try self.init(
            k: k, n: n, element: { _, _ in 0 }, bias: nil, panelWidth: panelWidth, fill: false, arena: arena)
        let data = self.data
        let panels = self.panels
        weights.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            for p in 0..<panels {
                let column = p * panelWidth
                let width = Swift.min(panelWidth, n - column)
                for kk in 0..<k {
                    (data + (p * k + kk) * panelWidth).update(
                        from: base + offset + kk * rowStride + column, count: width)
                }
            }
        }
        if let bias {
            let target = self.bias
            bias.withUnsafeBufferPointer { source in
                guard let base = source.baseAddress else { return }
                target.update(from: base + biasOffset, count: n)
            }
        }
    }
}

/// What the microkernels apply as they store a tile: nothing (linear), or
/// `min(max(x, minimum), maximum)` for ReLU and ReLU6 (XNNPACK's `minmax`).
struct OutputClamp: Sendable, Equatable {
    var minimum: Float = -.infinity
    var maximum: Float = .infinity
    var isActive = false

    static let none = OutputClamp()

    /// The clamp that computes `activation` in the store, or nil when it is not
    /// a clamp (then the kernel applies it in a second pass).
    init?(fusing activation: Activation) {
        switch activation {
        case .linear:
            self = .none
        case .relu(let maxValue, let slope, let threshold) where slope == 0 && threshold == 0:
            self.init(minimum: 0, maximum: maxValue, isActive: true)
        default:
            return nil
        }
    }

    init(minimum: Float = -.infinity, maximum: Float = .infinity, isActive: Bool = false) {
        self.minimum = minimum
        self.maximum = maximum
        self.isActive = isActive
    }
}

/// `C[m, n] = A[m, k] * B[k, n] + bias[n]` with `B` packed, by the fastest
/// microkernel this CPU runs, chosen once per process (XNNPACK's configs).
enum GEMM {
    /// Named as XNNPACK names them: element type, tile (rows x columns), ISA, A loading.
    enum Microkernel: CaseIterable, Sendable {
        /// Every architecture (SSE2 on baseline x86-64): 4x8 tiles, multiply then add.
        case f32GEMM4x8PortableBroadcast
        /// AVX2 + FMA: 6x16 tiles, two B vectors per broadcast of A.
        case f32GEMM6x16AVX2FMABroadcast
        /// AVX-512: 8x16 tiles, one zmm accumulator per row.
        case f32GEMM8x16AVX512Broadcast

        /// Rows of one tile (a product of fewer tiles than threads is split by panels: `GEMMShare`).
        var tileRows: Int {
            switch self {
            case .f32GEMM4x8PortableBroadcast: 4
            case .f32GEMM6x16AVX2FMABroadcast: 6
            case .f32GEMM8x16AVX512Broadcast: 8
            }
        }

        /// Columns of one tile: the packing's panel width.
        var panelWidth: Int {
            switch self {
            case .f32GEMM4x8PortableBroadcast: 8
            case .f32GEMM6x16AVX2FMABroadcast, .f32GEMM8x16AVX512Broadcast: 16
            }
        }
    }

    /// The microkernels this CPU can run (the tests compare each with the reference).
    #if canImport(CnnzGEMMAVX2)
        static let available: [Microkernel] =
            [.f32GEMM4x8PortableBroadcast]
            + (cnnz_cpu_has_avx2_fma() != 0 ? [.f32GEMM6x16AVX2FMABroadcast] : [])
            + (cnnz_cpu_has_avx512() != 0 ? [.f32GEMM8x16AVX512Broadcast] : [])
    #else
        static let available: [Microkernel] = [.f32GEMM4x8PortableBroadcast]
    #endif

    /// The fastest of them, used by every GEMM.
    static let best: Microkernel = available.last!

    /// The packed panels of B used per pass over a block of rows: about half
    /// of a 512 KB L2, so a panel block stays cached while every row tile of
    /// the block reads it (BLIS's nc; the row block is the caller's, at most
    /// `Conv2DIm2ColGEMM.blockRows` rows of im2col, which sit in L2 too).
    static let panelBlockBytes = 256 * 1024

    /// - Parameters: `a` has row stride `lda`; `c` has row stride `ldc`; `m`
    ///   rows are computed and the `weights.n` columns of each are written,
    ///   clamped by `clamp`. `weights` must be packed for `microkernel`.
    ///   `panels`: only the columns of these panels (all by default), so that
    ///   threads can share a product of few rows by columns; a column's
    ///   numbers do not depend on which panels are computed with it.
    ///   `wholePanels`: every panel's columns are written, those past `weights.n`
    ///   too (`c`'s rows must hold them), so no store is partial.
    ///   `residual`: rows laid out as `c`'s (stride `ldc`) added to each
    ///   result before the clamp (a residual Add fused into a convolution; not
    ///   with `wholePanels`, whose columns past `weights.n` the residual lacks).
    static func run(
        m: Int, a: UnsafePointer<Float>, lda: Int, weights: PackedWeights, c: UnsafeMutablePointer<Float>, ldc: Int,
        clamp: OutputClamp = .none, microkernel: Microkernel = best, panels: Range<Int>? = nil,
        wholePanels: Bool = false, residual: UnsafePointer<Float>? = nil
    ) {
        precondition(weights.panelWidth == microkernel.panelWidth, "weights packed for another microkernel")
        precondition(residual == nil || !wholePanels, "a residual has no columns past n")
        let width = weights.panelWidth
        let panelBytes = max(weights.k * width * 4, 1)
        // One row (Dense at batch 1) reads each panel once, so blocks buy nothing: past
        // k = 2048 (two 16-wide panels over 256 KB; fashion_cnn's dense5 has k = 3136) they
        // cut it into one-panel calls, which left the row microkernel's side-by-side panels
        // (its independent FMA chains) aliased and its weights streaming at half speed.
        let panelsPerBlock = m == 1 ? Int.max : max(1, panelBlockBytes / panelBytes)
        let selected = panels ?? 0..<weights.panels
        var panel = selected.lowerBound
        while panel < selected.upperBound {
            let count = min(panelsPerBlock, selected.upperBound - panel)
            let column = panel * width
            let n = wholePanels ? count * width : min(weights.n - column, count * width)
            let b = UnsafePointer(weights.data + panel * weights.k * width)
            let bias = UnsafePointer(weights.bias + column)
            let out = c + column
            let added = residual.map { $0 + column }
            #if canImport(CnnzGEMMAVX2)
                switch microkernel {
                case .f32GEMM4x8PortableBroadcast:
                    CnnzGEMM.GEMMMicrokernels.f32GEMM4x8Broadcast(
                        m: m, k: weights.k, n: n, a: a, lda: lda, packed: b, bias: bias, c: out, ldc: ldc,
                        clamp: .init(minimum: clamp.minimum, maximum: clamp.maximum, isActive: clamp.isActive),
                        residual: added)
                case .f32GEMM6x16AVX2FMABroadcast:
                    CnnzGEMMAVX2.GEMMMicrokernels.f32GEMM6x16Broadcast(
                        m: m, k: weights.k, n: n, a: a, lda: lda, packed: b, bias: bias, c: out, ldc: ldc,
                        clamp: .init(minimum: clamp.minimum, maximum: clamp.maximum, isActive: clamp.isActive),
                        residual: added)
                case .f32GEMM8x16AVX512Broadcast:
                    CnnzGEMMAVX512.GEMMMicrokernels.f32GEMM8x16Broadcast(
                        m: m, k: weights.k, n: n, a: a, lda: lda, packed: b, bias: bias, c: out, ldc: ldc,
                        clamp: .init(minimum: clamp.minimum, maximum: clamp.maximum, isActive: clamp.isActive),
                        residual: added)
                }
            #else
                GEMMMicrokernels.f32GEMM4x8Broadcast(
                    m: m, k: weights.k, n: n, a: a, lda: lda, packed: b, bias: bias, c: out, ldc: ldc,
                    clamp: .init(minimum: clamp.minimum, maximum: clamp.maximum, isActive: clamp.isActive),
                    residual: added)
            #endif
            panel += count
        }
    }
}

/// One part's share of a GEMM-based kernel (convolution, pointwise, Dense):
/// rows shared evenly (counts differ by at most one) while there are at least as
/// many microkernel tiles of rows as parts; otherwise (Dense at batch 1: one row)
/// every row and a share of the panels, so a product of few rows still splits.
/// Either way each output element is the same chain of multiply-adds, whoever
/// computes it (a row's sums do not depend on the tile it falls in).
///
/// Rows used to be shared in whole tiles: with few tiles one part got most of
/// them (16 rows in tiles of 6 over 2 threads: 12 against 4; 25 rows: 18
/// against 7), and the other thread waited. Even rows cost a short tile at the
/// end of each part, about a row's time; a part of n rows runs at most as many
/// tiles as a part of whole tiles with as many rows or more, so the slowest part
/// is never slower. (The benchmark models' GEMM layers at batch 1 were already
/// even: mobile_res's pointwise rows are multiples of 12; seed002's small
/// convolutions run on `Conv2DDirect`, split by pixels.)
struct GEMMShare {
    /// The rows of this part (empty: nothing to do).
    let rows: Range<Int>
    /// The panels of this part, or nil for all of them.
    let panels: Range<Int>?

    /// - Parameter panels: the weights' panels, or 0 when the kernel cannot split by columns.
    init(rows: Int, panels: Int, part: Int, of parts: Int) {
        let tile = GEMM.best.tileRows
        let tiles = (rows + tile - 1) / tile
        if tiles >= parts || panels < parts {
            self.rows = Partition.range(rows, part: part, of: parts)
            self.panels = nil
        } else {
            self.rows = 0..<rows
            self.panels = Partition.range(panels, part: part, of: parts)
        }
    }

    /// How many parts the product can be split into.
    static func items(rows: Int, panels: Int) -> Int {
        let tile = GEMM.best.tileRows
        return Swift.max((rows + tile - 1) / tile, panels)
    }

    /// The output columns of this part, for `n` columns in panels of `width`.
    func columns(n: Int, width: Int) -> Range<Int> {
        guard let panels else { return 0..<n }
        return Swift.min(n, panels.lowerBound * width)..<Swift.min(n, panels.upperBound * width)
    }
}
