// Compiled three times, as GEMMMicrokernels.swift is: in CnnzGEMM (baseline)
// and, through symbolic links, in CnnzGEMMAVX2 and CnnzGEMMAVX512, so that the
// 16-float blocks below are one zmm register on AVX-512.

/// Max and average pooling (NHWC), one output row per call. For each output
/// pixel and each block of channels, the window's valid taps (padding is
/// skipped, never read) are reduced in registers in (row, column) order and
/// stored once. Channel counts that are not a multiple of the block width
/// end with a block that overlaps the one before (12 channels: 0..<8 and
/// 4..<12); a lane computed twice gets the same value twice. Max starts at
/// -infinity and takes `tap > value ? tap : value` (a NaN tap is never the
/// maximum), average sums from 0 and multiplies by 1 / (valid taps): the
/// same operations, in the same order, as the engine's plain loop, in every
/// build and whichever thread computes the row.
///
/// Replaces a loop in the engine module (SSE2 only, index arithmetic with
/// overflow checks around every 2-tap loop) that took 8.5 us for
/// fashion_cnn's 28x28x32 pooling and 25 us for seed002's 62x62x12.
public enum PoolMicrokernels {
    /// The geometry of one layer; all counts in elements.
    @frozen public struct Geometry {
        public let inputHeight: Int
        public let inputWidth: Int
        public let channels: Int
        public let outputWidth: Int
        public let kernelHeight: Int
        public let kernelWidth: Int
        public let strideHeight: Int
        public let strideWidth: Int
        public let padTop: Int
        public let padLeft: Int

        public init(
            inputHeight: Int, inputWidth: Int, channels: Int, outputWidth: Int, kernelHeight: Int, kernelWidth: Int,
            strideHeight: Int, strideWidth: Int, padTop: Int, padLeft: Int
        ) {
            self.inputHeight = inputHeight
            self.inputWidth = inputWidth
            self.channels = channels
            self.outputWidth = outputWidth
            self.kernelHeight = kernelHeight
            self.kernelWidth = kernelWidth
            self.strideHeight = strideHeight
            self.strideWidth = strideWidth
            self.padTop = padTop
            self.padLeft = padLeft
        }
    }

    /// Output row `oy` of one image's max pooling: `input` is the image,
    /// `output` the row's first pixel.
    public static func f32MaxPoolRow(
        _ g: Geometry, oy: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    ) {
        poolRow(g, oy: oy, input: input, output: output, isMax: true)
    }

    /// Output row `oy` of one image's average pooling (padding not counted).
    public static func f32AveragePoolRow(
        _ g: Geometry, oy: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    ) {
        poolRow(g, oy: oy, input: input, output: output, isMax: false)
    }

    /// One window's valid taps: `rows` x `columns` pixels from `first`.
    struct Taps {
        let first: UnsafePointer<Float>
        let rows: Int
        let columns: Int
        let rowStride: Int
        let channels: Int
        /// The common 2x2 window wholly inside the image, unrolled.
        var isFull2x2: Bool { rows == 2 && columns == 2 }
    }

    @inline(__always)
    static func poolRow(
        _ g: Geometry, oy: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, isMax: Bool
    ) {
        let channels = g.channels
        let iy0 = oy * g.strideHeight - g.padTop
        let y0 = max(iy0, 0)
        let rows = min(iy0 + g.kernelHeight, g.inputHeight) - y0
        let rowStride = g.inputWidth * channels
        let top = input + y0 * rowStride
        for ox in 0..<g.outputWidth {
            let ix0 = ox &* g.strideWidth &- g.padLeft
            let x0 = max(ix0, 0)
            let columns = min(ix0 &+ g.kernelWidth, g.inputWidth) &- x0
            let taps = Taps(
                first: top + x0 &* channels, rows: rows, columns: columns, rowStride: rowStride, channels: channels)
            let out = output + ox &* channels
            let inverse = 1 / Float(rows * columns)
            if channels >= 16 {
                var c = 0
                repeat {
                    let at = min(c, channels &- 16)
                    let v = isMax ? max16(taps, at) : sum16(taps, at) * SIMD16(repeating: inverse)
                    UnsafeMutableRawPointer(out + at).storeBytes(of: v, as: SIMD16<Float>.self)
                    c = at &+ 16
                } while c < channels
            } else if channels >= 8 {
                var c = 0
                repeat {
                    let at = min(c, channels &- 8)
                    let v = isMax ? max8(taps, at) : sum8(taps, at) * SIMD8(repeating: inverse)
                    UnsafeMutableRawPointer(out + at).storeBytes(of: v, as: SIMD8<Float>.self)
                    c = at &+ 8
                } while c < channels
            } else if channels >= 4 {
                var c = 0
                repeat {
                    let at = min(c, channels &- 4)
                    let v = isMax ? max4(taps, at) : sum4(taps, at) * SIMD4(repeating: inverse)
                    UnsafeMutableRawPointer(out + at).storeBytes(of: v, as: SIMD4<Float>.self)
                    c = at &+ 4
                } while c < channels
            } else {
                for c in 0..<channels {
                    out[c] = isMax ? max1(taps, c) : sum1(taps, c) * inverse
                }
            }
        }
    }

    // The reductions, one per width: written out rather than generic over SIMD,
    // whose generic comparisons need not lower to one maxps; transparent, because
    // `@inline(__always)` left max8 a call per block.

    @_transparent
    static func max16(_ t: Taps, _ c: Int) -> SIMD16<Float> {
        var value = SIMD16<Float>(repeating: -.infinity)
        let p = t.first + c
        if t.isFull2x2 {
            let q = p + t.rowStride
            value = laneMax(value, load16(p))
            value = laneMax(value, load16(p + t.channels))
            value = laneMax(value, load16(q))
            return laneMax(value, load16(q + t.channels))
        }
        var row = p
        for _ in 0..<t.rows {
            var tap = row
            for _ in 0..<t.columns {
                value = laneMax(value, load16(tap))
                tap += t.channels
            }
            row += t.rowStride
        }
        return value
    }

    @_transparent
    static func sum16(_ t: Taps, _ c: Int) -> SIMD16<Float> {
        var value = SIMD16<Float>(repeating: 0)
        var row = t.first + c
        for _ in 0..<t.rows {
            var tap = row
            for _ in 0..<t.columns {
                value += load16(tap)
                tap += t.channels
            }
            row += t.rowStride
        }
        return value
    }

    @_transparent
    static func max8(_ t: Taps, _ c: Int) -> SIMD8<Float> {
        var value = SIMD8<Float>(repeating: -.infinity)
        let p = t.first + c
        if t.isFull2x2 {
            let q = p + t.rowStride
            value = laneMax(value, load8(p))
            value = laneMax(value, load8(p + t.channels))
            value = laneMax(value, load8(q))
            return laneMax(value, load8(q + t.channels))
        }
        var row = p
        for _ in 0..<t.rows {
            var tap = row
            for _ in 0..<t.columns {
                value = laneMax(value, load8(tap))
                tap += t.channels
            }
            row += t.rowStride
        }
        return value
    }

    @_transparent
    static func sum8(_ t: Taps, _ c: Int) -> SIMD8<Float> {
        var value = SIMD8<Float>(repeating: 0)
        var row = t.first + c
        for _ in 0..<t.rows {
            var tap = row
            for _ in 0..<t.columns {
                value += load8(tap)
                tap += t.channels
            }
            row += t.rowStride
        }
        return value
    }

    @_transparent
    static func max4(_ t: Taps, _ c: Int) -> SIMD4<Float> {
        var value = SIMD4<Float>(repeating: -.infinity)
        var row = t.first + c
        for _ in 0..<t.rows {
            var tap = row
            for _ in 0..<t.columns {
                let x = UnsafeRawPointer(tap).loadUnaligned(as: SIMD4<Float>.self)
                value = value.replacing(with: x, where: x .> value)
                tap += t.channels
            }
            row += t.rowStride
        }
        return value
    }

    @_transparent
    static func sum4(_ t: Taps, _ c: Int) -> SIMD4<Float> {
        var value = SIMD4<Float>(repeating: 0)
        var row = t.first + c
        for _ in 0..<t.rows {
            var tap = row
            for _ in 0..<t.columns {
                value += UnsafeRawPointer(tap).loadUnaligned(as: SIMD4<Float>.self)
                tap += t.channels
            }
            row += t.rowStride
        }
        return value
    }

    @_transparent
    static func max1(_ t: Taps, _ c: Int) -> Float {
        var value = -Float.infinity
        var row = t.first + c
        for _ in 0..<t.rows {
            var tap = row
            for _ in 0..<t.columns {
                value = tap.pointee > value ? tap.pointee : value
                tap += t.channels
            }
            row += t.rowStride
        }
        return value
    }

    @_transparent
    static func sum1(_ t: Taps, _ c: Int) -> Float {
        var value: Float = 0
        var row = t.first + c
        for _ in 0..<t.rows {
            var tap = row
            for _ in 0..<t.columns {
                value += tap.pointee
                tap += t.channels
            }
            row += t.rowStride
        }
        return value
    }

    /// `b > a ? b : a` lane by lane: one maxps (the stdlib's `pointwiseMax`
    /// keeps IEEE NaN rules and runs lane by lane).
    @_transparent
    static func laneMax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        a.replacing(with: b, where: b .> a)
    }

    @_transparent
    static func laneMax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: b, where: b .> a)
    }

    @_transparent
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @_transparent
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
}
