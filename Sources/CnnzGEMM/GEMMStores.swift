// One source for the three builds, as GEMMMicrokernels.swift (see there): the
// multiply-add, the clamp and the stores every float32 microkernel shares (the
// GEMM tiles, and the direct, depthwise and Winograd kernels beside them).

// maxps and minps for the clamp (`clamped`): built with CNNZ_FMA only on x86-64.
#if CNNZ_FMA
    import _Builtin_intrinsics.intel
#endif

extension GEMMMicrokernels {
    @inline(__always)
    static func accumulate(_ sum: inout SIMD8<Float>, _ a: Float, _ b: SIMD8<Float>) {
        accumulate(&sum, SIMD8(repeating: a), b)
    }

    @inline(__always)
    static func accumulate(_ sum: inout SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
        #if CNNZ_FMA
            // One fused multiply-add per lane (vfmadd231ps); without FMA hardware
            // this would call libm's fma per lane, hence the baseline branch.
            sum.addProduct(a, b)
        #else
            sum += a * b
        #endif
    }

    @inline(__always)
    static func accumulate16(_ sum: inout SIMD16<Float>, _ a: Float, _ b: SIMD16<Float>) {
        #if CNNZ_FMA
            sum.addProduct(SIMD16(repeating: a), b)
        #else
            sum += SIMD16(repeating: a) * b
        #endif
    }

    /// The clamp: `low = x > minimum ? x : minimum`, then `low < maximum ? low : maximum`
    /// (the stdlib's `clamped` keeps IEEE NaN rules lane by lane and runs scalar). Built
    /// for AVX2 or AVX-512 it is `maxps` then `minps`, which give exactly those lanes (NaN
    /// and a zero of either sign included): LLVM keeps the selects as compare and blend,
    /// two instructions each, because it turns a select into `maxps` only where neither
    /// operand can be zero, and the bounds are run-time values (ReLU's is 0).
    @_transparent
    static func clamped(_ value: SIMD8<Float>, _ clamp: Clamp) -> SIMD8<Float> {
        #if CNNZ_FMA
            _mm256_min_ps(_mm256_max_ps(value, SIMD8(repeating: clamp.minimum)), SIMD8(repeating: clamp.maximum))
        #else
            selectClamped(value, clamp)
        #endif
    }

    /// `clamped` on 16 lanes (one zmm register on AVX-512, two ymm on AVX2).
    @_transparent
    static func clamped(_ value: SIMD16<Float>, _ clamp: Clamp) -> SIMD16<Float> {
        #if CNNZ_AVX512
            _mm512_min_ps(_mm512_max_ps(value, SIMD16(repeating: clamp.minimum)), SIMD16(repeating: clamp.maximum))
        #elseif CNNZ_FMA
            SIMD16(lowHalf: clamped(value.lowHalf, clamp), highHalf: clamped(value.highHalf, clamp))
        #else
            selectClamped(value, clamp)
        #endif
    }

    /// `clamped` as its two selects, in builds without the x86 intrinsics.
    @_transparent
    static func selectClamped<Vector: SIMD>(_ value: Vector, _ clamp: Clamp) -> Vector where Vector.Scalar == Float {
        let minimum = Vector(repeating: clamp.minimum)
        let maximum = Vector(repeating: clamp.maximum)
        let low = minimum.replacing(with: value, where: value .> minimum)
        return maximum.replacing(with: low, where: low .< maximum)
    }

    @_transparent
    static func store(
        _ value: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ clamp: Clamp
    ) {
        let v = clamp.isActive ? clamped(value, clamp) : value
        if width == 8 {
            UnsafeMutableRawPointer(out).storeBytes(of: v, as: SIMD8<Float>.self)
        } else {
            storePartial(v, v, out, width)
        }
    }

    @_transparent
    static func store16(
        _ low: SIMD8<Float>, _ high: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ clamp: Clamp
    ) {
        let l = clamp.isActive ? clamped(low, clamp) : low
        let h = clamp.isActive ? clamped(high, clamp) : high
        if width == 16 {
            UnsafeMutableRawPointer(out).storeBytes(of: l, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + 8).storeBytes(of: h, as: SIMD8<Float>.self)
        } else {
            storePartial(l, h, out, width)
        }
    }

    /// One 16-float accumulator (a zmm register on AVX-512).
    @_transparent
    static func store16(_ value: SIMD16<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ clamp: Clamp) {
        let v = clamp.isActive ? clamped(value, clamp) : value
        if width == 16 {
            UnsafeMutableRawPointer(out).storeBytes(of: v, as: SIMD16<Float>.self)
        } else {
            storePartial(v.lowHalf, v.highHalf, out, width)
        }
    }

    /// `pointer + by`, or nil: the residual rows of a tile, when there is a residual.
    @_transparent
    static func offset(_ pointer: UnsafePointer<Float>?, _ by: Int) -> UnsafePointer<Float>? {
        guard let pointer else { return nil }
        return pointer + by
    }

    /// `store` of `value + residual[0..<width]` (the residual Add fused into a convolution:
    /// the sum as the Add computes it, then the clamp), or of `value` when there is no residual.
    /// The sum is out of line: inlined, it made the 5 x 16 tile so large that the compiler
    /// stopped inlining its loads (2.5 times the instructions of the tile without a residual).
    @_transparent
    static func store(
        _ value: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ clamp: Clamp,
        adding residual: UnsafePointer<Float>?
    ) {
        if let residual {
            storeAdding(value, value, out, width, clamp, residual)
        } else {
            store(value, out, width, clamp)
        }
    }

    /// `store16` of two halves plus the residual's `width` floats.
    @_transparent
    static func store16(
        _ low: SIMD8<Float>, _ high: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ clamp: Clamp,
        adding residual: UnsafePointer<Float>?
    ) {
        if let residual {
            storeAdding(low, high, out, width, clamp, residual)
        } else {
            store16(low, high, out, width, clamp)
        }
    }

    /// `store16` of one 16-float accumulator plus the residual's `width` floats.
    @_transparent
    static func store16(
        _ value: SIMD16<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ clamp: Clamp,
        adding residual: UnsafePointer<Float>?
    ) {
        guard let residual else { return store16(value, out, width, clamp) }
        if width == 16 {
            // A whole row of the 8 x 16 tile in line (a copy of 64 bytes is one unaligned load;
            // the out-of-line sum cost the fused store a call per row).
            var r = SIMD16<Float>()
            withUnsafeMutableBytes(of: &r) { $0.copyMemory(from: UnsafeRawBufferPointer(start: residual, count: 64)) }
            store16(value + r, out, 16, clamp)
        } else {
            storeAdding(value.lowHalf, value.highHalf, out, width, clamp, residual)
        }
    }

    /// `low` then `high` (the first `width` floats, at most 16) plus the residual's, clamped
    /// and stored: the same sums and clamp whichever tile calls it.
    @inline(never)
    static func storeAdding(
        _ low: SIMD8<Float>, _ high: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int, _ clamp: Clamp,
        _ residual: UnsafePointer<Float>
    ) {
        let r = UnsafeRawPointer(residual)
        if width >= 16 {
            store16(
                low + r.loadUnaligned(as: SIMD8<Float>.self),
                high + r.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), out, 16, clamp)
        } else if width == 8 {
            store(low + r.loadUnaligned(as: SIMD8<Float>.self), out, 8, clamp)
        } else {
            let (rl, rh) = loadPartial(residual, width)
            store16(low + rl, high + rh, out, width, clamp)
        }
    }

    /// The first `width` (below 16) floats at `source` as two vectors, zeros after them
    /// (lanes that are computed but not stored): the last panel's residual columns.
    @inline(never)
    static func loadPartial(_ source: UnsafePointer<Float>, _ width: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        var low = SIMD8<Float>()
        var high = SIMD8<Float>()
        for j in 0..<Swift.min(width, 8) { low[j] = source[j] }
        if width > 8 { for j in 8..<width { high[j - 8] = source[j] } }
        return (low, high)
    }

    /// The first `width` (below 16) floats of `low` then `high`: the last
    /// panel's columns. Out of line, so the full-width stores inline small.
    /// At most four vector stores of 8, 4, 2 and 1 floats: the lane-by-lane
    /// loop it replaces cost as much as the multiply-adds of a tile when every
    /// panel is partial (seed002's 12 and 25 filters).
    @inline(never)
    static func storePartial(
        _ low: SIMD8<Float>, _ high: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>, _ width: Int
    ) {
        var rest = low
        var count = width
        var at = UnsafeMutableRawPointer(out)
        if count >= 8 {
            at.storeBytes(of: low, as: SIMD8<Float>.self)
            rest = high
            count -= 8
            at += 32
        }
        var quarter = rest.lowHalf
        if count >= 4 {
            at.storeBytes(of: quarter, as: SIMD4<Float>.self)
            quarter = rest.highHalf
            count -= 4
            at += 16
        }
        var pair = quarter.lowHalf
        if count >= 2 {
            at.storeBytes(of: pair, as: SIMD2<Float>.self)
            pair = quarter.highHalf
            count -= 2
            at += 8
        }
        if count == 1 { at.storeBytes(of: pair[0], as: Float.self) }
    }
}
