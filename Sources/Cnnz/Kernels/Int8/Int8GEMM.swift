import CInt8Kernels

// Tests/Fuzz/run.sh builds the engine as one module without the CPU check.
#if canImport(CCPUFeatures)
    import CCPUFeatures
#endif

/// Weights packed once at load for the int8 GEMM microkernels
/// (`CInt8Kernels`), in the layout of the variant that will run them, with
/// each column's int32 bias, requantization multiplier and shift, and the
/// fused clamp or activation table. Owns its memory; immutable after `init`.
///
/// - int16 (portable, AVX2): pairs of rows in panels of 8 columns, 16 int16 per pair.
/// - VNNI (`vpdpbusd`, u8 x s8): groups of 4 rows in panels of 16 columns, 64 int8 per
///   group; the activations arrive as `q + 128`, so `(inputZeroPoint + 128) * (the
///   column's sum of weights)` is taken off the bias here, once.
final class Int8PackedWeights: @unchecked Sendable {
    /// Rows of the weight matrix (the reduction length), its pairs and groups of 4, and columns.
    let k: Int
    let kPairs: Int
    let kGroups: Int
    let n: Int
    /// Whether `panels` holds the VNNI layout (int8) rather than the int16 one.
    let isVNNI: Bool
    let panels: UnsafeMutableRawPointer
    /// The AVX2 kernels' output stage (`cnnz_qs8_store_avx2_prepare`: each 16 columns' constants
    /// and form, made here once rather than per call), for the `avx2` and `avx2Maddubs` variants;
    /// for `vnni512` with `floatForms`, its panels' float forms (`cnnz_qu8_store_vnni512_prepare`);
    /// nil for the others.
    let stage: UnsafeRawPointer?
    private let bias: UnsafeMutablePointer<Int32>
    private let multipliers: UnsafeMutablePointer<Int32>
    private let shifts: UnsafeMutablePointer<Int32>
    private let table: UnsafeMutablePointer<Int8>?
    /// The microkernels' view of the output stage.
    let output: cnnz_qs8_output

    /// The bytes of the weight panels for `k` rows and `n` columns in either layout.
    static func panelBytes(k: Int, n: Int, vnni: Bool) -> Int {
        vnni ? (n + 15) / 16 * ((k + 3) / 4) * 64 : (n + 7) / 8 * ((k + 1) / 2) * 32
    }

    /// The bytes `init` allocates for `k` rows and `n` columns (the larger layout, and the larger stage).
    static func bytes(k: Int, n: Int) -> Int {
        max(panelBytes(k: k, n: n, vnni: true), panelBytes(k: k, n: n, vnni: false)) + n * 12
            + max(stageBytes(n: n, variant: .avx2), stageBytes(n: n, variant: .vnni512)) + 256
    }

    /// The stage's bytes for `n` columns with `variant` (0 without one), from a 64-byte boundary.
    static func stageBytes(n: Int, variant: Int8GEMM.Variant) -> Int {
        switch variant {
        case .avx2, .avx2Maddubs: (cnnz_qs8_store_avx2_bytes(n) + 63) / 64 * 64
        case .vnni512: (cnnz_qu8_store_vnni512_bytes(n) + 63) / 64 * 64
        default: 0
        }
    }

    /// - Parameters:
    ///   - element: the int8 weight at row `k`, column `n`.
    ///   - bias: column `n`'s bias in the sums' scale.
    ///   - realMultiplier: column `n`'s `inputScale * weightScale / outputScale`.
    ///   - variant: the microkernel that will run these weights (its layout).
    ///   - inputZeroPoint: the activations' zero point (the VNNI layout's compensation).
    ///   - floatForms: whether the AVX2 stage looks for each column's float form (`int8_requant_float.c`,
    ///     about 2 µs of load a column): worth it where a column's output stage runs for many pixels
    ///     an image through the GEMMs that read it, not for a dense layer's one, nor for the AVX2 row
    ///     convolution and Winograd, which keep the integer forms. With `vnni512`, whether there is
    ///     a stage at all (the float forms are all it holds; the integer forms are made per call).
    ///     nil: yes for the AVX2 stage, no for `vnni512` (whose other users, the depthwise rows,
    ///     do not read it: mobile_res int8 loaded in 2.3 ms instead of 1.7 with their channels searched).
    convenience init(
        k: Int, n: Int, element: (Int, Int) -> Int8, bias biasOf: (Int) -> Int32, realMultiplier: (Int) -> Double,
        activation: Int8Activation, variant: Int8GEMM.Variant = .portable, inputZeroPoint: Int32 = 0,
        floatForms: Bool? = nil
    ) throws(CnnzError) {
        // The weights gathered row-major once (a call per weight, in order), then packed from
        // memory: the packing and the column sums called `element` per weight and pass, in
        // column order (cifar_vgg int8's plan and pack took 15 to 24 ms that way).
        let matrix = try AlignedBuffer.bytes(k * n, alignment: 64)
        defer { matrix.deallocate() }
        let m = matrix.baseAddress!.bindMemory(to: Int8.self, capacity: k * n)
        for row in 0..<k { for column in 0..<n { m[row * n + column] = element(row, column) } }
        try self.init(
            k: k, n: n, weights: m, rowStride: n, bias: biasOf, realMultiplier: realMultiplier, activation: activation,
            variant: variant, inputZeroPoint: inputZeroPoint, floatForms: floatForms)
    }

    /// Packs the row-major weights `weights[row * rowStride + column]` (`k` rows, `n` columns);
    /// the other parameters as the `element` initializer's.
    init(
        k: Int, n: Int, weights w: UnsafePointer<Int8>, rowStride: Int, bias biasOf: (Int) -> Int32,
        realMultiplier: (Int) -> Double, activation: Int8Activation, variant: Int8GEMM.Variant = .portable,
        inputZeroPoint: Int32 = 0, floatForms: Bool? = nil
    ) throws(CnnzError) {
        let floatForms = floatForms ?? (variant != .vnni512)
        self.k = k
        self.n = n
        kPairs = (k + 1) / 2
        kGroups = (k + 3) / 4
        isVNNI = variant.isVNNI
        let weightBytes = Self.panelBytes(k: k, n: n, vnni: isVNNI)
        let hasStage = variant == .avx2 || variant == .avx2Maddubs || (variant == .vnni512 && floatForms)
        let stageOffset = (weightBytes + n * 12 + 63) / 64 * 64
        let raw = try AlignedBuffer.bytes(
            stageOffset + (hasStage ? Self.stageBytes(n: n, variant: variant) : 0), alignment: 64)
        panels = raw.baseAddress!
        let (kPairs, kGroups) = (self.kPairs, self.kGroups)
        // Each panel row read from one weight row, left to right.
        if isVNNI {
            let packed = panels.bindMemory(to: Int8.self, capacity: weightBytes)
            packed.update(repeating: 0, count: weightBytes)
            for p in 0..<(n + 15) / 16 {
                let columns = Swift.min(16, n - p * 16)
                for row in 0..<k {
                    let target = packed + p * kGroups * 64 + (row / 4) * 64 + row % 4
                    let source = w + row * rowStride + p * 16
                    for j in 0..<columns { target[4 * j] = source[j] }
                }
            }
        } else {
            let packed = panels.bindMemory(to: Int16.self, capacity: weightBytes / 2)
            packed.update(repeating: 0, count: weightBytes / 2)
            for p in 0..<(n + 7) / 8 {
                let columns = Swift.min(8, n - p * 8)
                for row in 0..<k {
                    let target = packed + (p * kPairs + row / 2) * 16 + row % 2
                    let source = w + row * rowStride + p * 8
                    for j in 0..<columns { target[2 * j] = Int16(source[j]) }
                }
            }
        }
        let perColumn = (raw.baseAddress! + weightBytes).bindMemory(to: Int32.self, capacity: 3 * n)
        self.bias = perColumn
        multipliers = perColumn + n
        shifts = perColumn + 2 * n
        // The VNNI sums are those of (q + 128) * w: (zeroPoint + 128) * sum(w) too many (wrapping).
        let offset = isVNNI ? inputZeroPoint + 128 : 0
        for column in 0..<n {
            var sum: Int32 = 0
            if offset != 0 { for row in 0..<k { sum &+= Int32(w[row * rowStride + column]) } }
            bias[column] = biasOf(column) &- offset &* sum
            (multipliers[column], shifts[column]) = Requantization.multiplier(realMultiplier(column))
        }
        if let values = activation.table {
            let t = UnsafeMutablePointer<Int8>.allocate(capacity: 256)
            for i in 0..<256 { t[i] = values[i] }
            table = t
        } else {
            table = nil
        }
        output = cnnz_qs8_output(
            bias: bias, multiplier: multipliers, shift: shifts, zero_point: activation.zeroPoint,
            min: activation.bounds.lowerBound, max: activation.bounds.upperBound, table: table.map { UnsafePointer($0) }
        )
        if hasStage {
            let stage = raw.baseAddress! + stageOffset
            withUnsafePointer(to: output) {
                if variant == .vnni512 {
                    cnnz_qu8_store_vnni512_prepare(n, $0, stage)
                } else {
                    cnnz_qs8_store_avx2_prepare(n, $0, stage, floatForms ? 1 : 0)
                }
            }
            self.stage = UnsafeRawPointer(stage)
        } else {
            stage = nil
        }
    }

    deinit {
        panels.deallocate()
        table?.deallocate()
    }
}

/// Which int8 GEMM microkernel runs: chosen once per process by the CPU check.
enum Int8GEMM {
    enum Variant: CaseIterable, Sendable {
        /// Portable C: every CPU.
        case portable
        /// AVX2 `vpmaddwd` on int16 pairs (XNNPACK's choice without VNNI), only where the CPU has AVX2.
        case avx2
        /// AVX2 `vpmaddubsw` + `vpmaddwd` by ones on the VNNI layout (u8 x s8, half the bytes of
        /// `avx2`), for layers whose weights cannot saturate its int16 pairs (`fitsMaddubs`: every
        /// 7-bit model, `convert --weight-bits 7`); other layers run `avx2`. Where the CPU has AVX2.
        case avx2Maddubs
        /// AVX-VNNI `vpdpbusd` on 256-bit vectors, u8 x s8 (CPUs with AVX-VNNI).
        case vnni256
        /// AVX512-VNNI `vpdpbusd` on 512-bit vectors, u8 x s8 (CPUs with AVX512-VNNI).
        case vnni512

        /// Whether the variant takes the VNNI layout (u8 activations, s8 weights in groups of 4).
        var isVNNI: Bool { self == .vnni256 || self == .vnni512 || self == .avx2Maddubs }

        /// The instructions the kernels around the GEMM (depthwise, Add, quantize, im2col)
        /// may use alongside this variant: `CNNZ_INT8_PORTABLE`, `_AVX2` or `_AVX512`.
        var level: Int32 {
            switch self {
            case .portable: CNNZ_INT8_PORTABLE
            case .avx2, .avx2Maddubs, .vnni256: CNNZ_INT8_AVX2
            case .vnni512: CNNZ_INT8_AVX512
            }
        }
    }

    /// The variants this CPU can run, slowest first.
    #if canImport(CCPUFeatures)
        static let available: [Variant] = {
            var variants: [Variant] = [.portable]
            if cnnz_cpu_has_avx2_fma() != 0 { variants += [.avx2, .avx2Maddubs] }
            if cnnz_cpu_has_avx_vnni() != 0 { variants.append(.vnni256) }
            if cnnz_cpu_has_avx512_vnni() != 0 { variants.append(.vnni512) }
            return variants
        }()
    #else
        static let available: [Variant] = [.portable]
    #endif
    /// The fastest of them.
    static let best: Variant = available.last!

    /// The variant kernels prepared in this task use: `best`, unless a test forces
    /// another one (`Int8GEMM.$forced.withValue(.avx2) { try Model(...) }`).
    @TaskLocal static var forced: Variant? = nil
    static var selected: Variant {
        guard let forced, available.contains(forced) else { return best }
        return forced
    }

    /// The variant a layer with `k` x `n` weights runs with `variant`: `avx2Maddubs`
    /// only if `fitsMaddubs`, else `avx2`; any other variant as it is.
    static func variant(_ variant: Variant, k: Int, n: Int, element: (Int, Int) -> Int8) -> Variant {
        variant == .avx2Maddubs && !fitsMaddubs(k: k, n: n, element: element) ? .avx2 : variant
    }

    /// Whether `vpmaddubsw` is exact on these weights: it adds `a0 * w0 + a1 * w1` (rows
    /// `2i`, `2i + 1` of a column, `a` in 0...255) into a saturating int16, which holds
    /// `255 * 128` but not `255 * 129`, so the positive weights of each pair must add up to at
    /// most 128 and the negative ones to at least -128. Weights in -64...63 always pass.
    static func fitsMaddubs(k: Int, n: Int, element: (Int, Int) -> Int8) -> Bool {
        for column in 0..<n {
            for row in stride(from: 0, to: k, by: 2) {
                let w0 = Int(element(row, column))
                let w1 = row + 1 < k ? Int(element(row + 1, column)) : 0
                if max(w0, 0) + max(w1, 0) > 128 || min(w0, 0) + min(w1, 0) < -128 { return false }
            }
        }
        return true
    }

    /// `fitsMaddubs` on row-major weights `weights[row * rowStride + column]`, read row by row.
    static func fitsMaddubs(k: Int, n: Int, weights w: UnsafePointer<Int8>, rowStride: Int) -> Bool {
        for row in stride(from: 0, to: k, by: 2) {
            let first = w + row * rowStride
            for column in 0..<n {
                let w0 = Int(first[column])
                let w1 = row + 1 < k ? Int(first[rowStride + column]) : 0
                if max(w0, 0) + max(w1, 0) > 128 || min(w0, 0) + min(w1, 0) < -128 { return false }
            }
        }
        return true
    }

    /// `C[m, n] = requantize(A[m, 2 * kPairs] * W + bias)` as int8 with an int16-layout
    /// variant; `a` holds int16 rows (input minus zero point, zero past `k`).
    @inline(__always)
    static func run(
        _ variant: Variant, m: Int, a: UnsafePointer<Int16>, lda: Int, weights: Int8PackedWeights,
        c: UnsafeMutablePointer<Int8>, ldc: Int
    ) {
        let packed = UnsafePointer(weights.panels.assumingMemoryBound(to: Int16.self))
        withUnsafePointer(to: weights.output) { output in
            switch variant {
            case .portable, .avx2Maddubs, .vnni256, .vnni512:
                cnnz_qs8_gemm_portable(m, weights.n, weights.kPairs, a, lda, packed, output, c, ldc)
            case .avx2:
                // The AVX2 GEMMs read their output stage from the prepared constants only.
                assert(weights.stage != nil, "int8 weights packed for another variant")
                cnnz_qs8_gemm_avx2(m, weights.n, weights.kPairs, a, lda, packed, weights.stage, output, c, ldc)
            }
        }
    }

    /// The same with a VNNI-layout variant (VNNI or `avx2Maddubs`): `a` holds rows of
    /// `4 * kGroups` bytes, `q xor 0x80`.
    @inline(__always)
    static func runVNNI(
        _ variant: Variant, m: Int, a: UnsafePointer<UInt8>, lda: Int, weights: Int8PackedWeights,
        c: UnsafeMutablePointer<Int8>, ldc: Int
    ) {
        let packed = UnsafePointer(weights.panels.assumingMemoryBound(to: Int8.self))
        withUnsafePointer(to: weights.output) { output in
            switch variant {
            case .vnni512:
                cnnz_qu8_gemm_vnni512(m, weights.n, weights.kGroups, a, lda, packed, weights.stage, output, c, ldc)
            case .avx2Maddubs:
                assert(weights.stage != nil, "int8 weights packed for another variant")
                cnnz_qu8_gemm_4x16c4__avx2_maddubs(
                    m, weights.n, weights.kGroups, a, lda, packed, weights.stage, output, c, ldc)
            default: cnnz_qu8_gemm_vnni256(m, weights.n, weights.kGroups, a, lda, packed, output, c, ldc)
            }
        }
    }
}
