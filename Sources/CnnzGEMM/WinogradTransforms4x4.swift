// Compiled three times, as WinogradTransforms.swift is (symbolic links in
// CnnzGEMMAVX2 and CnnzGEMMAVX512).

// 4x4 input tiles: F(2x2, 3x3)'s input and output transforms (the input one
// serves F(3x3, 2x2) too), F(3x3, 2x2)'s output transform, and the paths for
// tiles inside the image that keep a tile's 16 vectors in registers.

/// F(3x3, 2x2): 2x2 stride-1 convolutions (seed002's) in 4x4 input tiles and
/// 3x3 output tiles, 16 multiplies per tile and channel pair where direct
/// convolution does 36. Its Bᵀ, rows (1 0 -1 0), (0 1 1 0), (0 -1 1 0),
/// (0 -1 0 1), is F(2x2, 3x3)'s with the last row negated, so the input goes
/// through `f32Input4x4` and the engine negates the last row of G instead
/// (`(D Bᵀ d B D) ⊙ (D G g Gᵀ D)` with D = diag(1, 1, 1, -1) is the same product).
extension WinogradTransforms {
    /// F(3x3, 2x2) output transform `Aᵀ m A` of one tile (as `f32Output6x6`). `work`: 12 vectors.
    static func f32Output4x4To3x3(
        m: UnsafePointer<Float>, matrixStride: Int, bias: UnsafePointer<Float>, destination: Destination,
        clamp: GEMMMicrokernels.Clamp, work: UnsafeMutablePointer<Float>
    ) {
        if destination.channels >= 8 {
            f32Output4x4To3x3Whole(m: m, matrixStride: matrixStride, bias: bias, destination: destination, clamp: clamp)
            return
        }
        let w = UnsafeMutableRawPointer(work)
        var next = 0
        while next < destination.channels {
            // Whole vectors from 8 channels, as in `f32Output4x4To3x3Whole`.
            let c = destination.channels >= 8 ? min(next, destination.channels - 8) : next
            // Rows: s[o][l] = (Aᵀ m[l][·])[o].
            for l in 0..<4 {
                let p = UnsafeRawPointer(m) + (l &* 4 &* matrixStride &+ c) &* 4
                let step = matrixStride &* 4
                let r = output4To3(
                    (
                        p.loadUnaligned(as: Vector.self), p.loadUnaligned(fromByteOffset: step, as: Vector.self),
                        p.loadUnaligned(fromByteOffset: 2 * step, as: Vector.self),
                        p.loadUnaligned(fromByteOffset: 3 * step, as: Vector.self)
                    ))
                w.storeBytes(of: r.0, toByteOffset: (0 * 4 + l) * 32, as: Vector.self)
                w.storeBytes(of: r.1, toByteOffset: (1 * 4 + l) * 32, as: Vector.self)
                w.storeBytes(of: r.2, toByteOffset: (2 * 4 + l) * 32, as: Vector.self)
            }
            let b = UnsafeRawPointer(bias + c).loadUnaligned(as: Vector.self)
            let count = min(8, destination.channels - c)
            for o in 0..<destination.columns {
                let t = w + o * 4 * 32
                let r = output4To3(
                    (
                        t.load(as: Vector.self), t.load(fromByteOffset: 32, as: Vector.self),
                        t.load(fromByteOffset: 64, as: Vector.self), t.load(fromByteOffset: 96, as: Vector.self)
                    ))
                let out = UnsafeMutableRawPointer(destination.output) + (o &* destination.pixelStride &+ c) &* 4
                let row = destination.rowStride &* 4
                store(r.0 + b, out, count, clamp)
                if destination.rows > 1 { store(r.1 + b, out + row, count, clamp) }
                if destination.rows > 2 { store(r.2 + b, out + 2 &* row, count, clamp) }
            }
            next += 8
        }
    }

    /// `f32Output4x4To3x3` for a whole 3x3 tile of at least 8 channels, in registers
    /// (the loop through `work` spent more on its loads and stores than on the sums:
    /// seed002's 12 and 25 channels). Vectors of 8 channels; when the channels are
    /// not a multiple of 8, the last vector overlaps the one before, and a channel
    /// computed twice is the same sums twice.
    static func f32Output4x4To3x3Whole(
        m: UnsafePointer<Float>, matrixStride: Int, bias: UnsafePointer<Float>, destination: Destination,
        clamp: GEMMMicrokernels.Clamp
    ) {
        // The clamp's test out of the loop: tested per store, it kept the vectors
        // spilling around it (perf annotate).
        if clamp.isActive {
            output4x4To3x3Whole(m, matrixStride, bias, destination, clamp, clamped: true)
        } else {
            output4x4To3x3Whole(m, matrixStride, bias, destination, clamp, clamped: false)
        }
    }

    @inline(__always)
    static func output4x4To3x3Whole(
        _ m: UnsafePointer<Float>, _ matrixStride: Int, _ bias: UnsafePointer<Float>, _ destination: Destination,
        _ clamp: GEMMMicrokernels.Clamp, clamped: Bool
    ) {
        let element = matrixStride &* 4
        let row = destination.rowStride &* 4
        let pixel = destination.pixelStride &* 4
        var c = 0
        repeat {
            let start = min(c, destination.channels &- 8)
            let p = UnsafeRawPointer(m) + start &* 4
            let b = UnsafeRawPointer(bias + start).loadUnaligned(as: Vector.self)
            let out = UnsafeMutableRawPointer(destination.output) + start &* 4
            // Rows l of the tile: s_l = Aᵀ m[l][·], three vectors each.
            let s0 = output4To3(
                (
                    p.loadUnaligned(as: Vector.self), p.loadUnaligned(fromByteOffset: element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 2 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 3 &* element, as: Vector.self)
                ))
            let s1 = output4To3(
                (
                    p.loadUnaligned(fromByteOffset: 4 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 5 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 6 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 7 &* element, as: Vector.self)
                ))
            let s2 = output4To3(
                (
                    p.loadUnaligned(fromByteOffset: 8 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 9 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 10 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 11 &* element, as: Vector.self)
                ))
            let s3 = output4To3(
                (
                    p.loadUnaligned(fromByteOffset: 12 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 13 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 14 &* element, as: Vector.self),
                    p.loadUnaligned(fromByteOffset: 15 &* element, as: Vector.self)
                ))
            // Column o of the output: Aᵀ (s_0[o] ... s_3[o]), its three rows.
            let o0 = output4To3((s0.0, s1.0, s2.0, s3.0))
            let o1 = output4To3((s0.1, s1.1, s2.1, s3.1))
            let o2 = output4To3((s0.2, s1.2, s2.2, s3.2))
            // A tile at the image's bottom or right edge stores its first rows or columns.
            let (rows, columns) = (destination.rows, destination.columns)
            put(o0.0 + b, out, clamp, clamped)
            if columns > 1 { put(o1.0 + b, out + pixel, clamp, clamped) }
            if columns > 2 { put(o2.0 + b, out + 2 &* pixel, clamp, clamped) }
            if rows > 1 {
                put(o0.1 + b, out + row, clamp, clamped)
                if columns > 1 { put(o1.1 + b, out + (row &+ pixel), clamp, clamped) }
                if columns > 2 { put(o2.1 + b, out + (row &+ 2 &* pixel), clamp, clamped) }
            }
            if rows > 2 {
                put(o0.2 + b, out + 2 &* row, clamp, clamped)
                if columns > 1 { put(o1.2 + b, out + (2 &* row &+ pixel), clamp, clamped) }
                if columns > 2 { put(o2.2 + b, out + (2 &* row &+ 2 &* pixel), clamp, clamped) }
            }
            c &+= 8
        } while c < destination.channels
    }

    /// Stores 8 channels, clamped as the GEMM's store clamps.
    @inline(__always)
    static func put(_ value: Vector, _ out: UnsafeMutableRawPointer, _ clamp: GEMMMicrokernels.Clamp, _ clamped: Bool) {
        out.storeBytes(of: clamped ? GEMMMicrokernels.clamped(value, clamp) : value, as: Vector.self)
    }

    /// `f32Input4x4` for a tile inside the image with at least 8 channels, in
    /// registers (vectors as in `f32Output4x4To3x3Whole`); the same sums in the
    /// same order as the loop through `work`.
    /// `lastRow`, `lastColumn`: the tile's rows and columns read as its fourth, 3, or 2
    /// when the fourth lies past the image and only feeds outputs past it (`lastUnused`).
    static func f32Input4x4Inside(
        _ source: Source, v: UnsafeMutablePointer<Float>, matrixStride: Int, lastRow: Int = 3, lastColumn: Int = 3
    ) {
        let pixel = source.channels &* 4
        let row = source.width &* pixel
        let fourthRow = lastRow &* row
        let fourthPixel = lastColumn &* pixel
        let origin = UnsafeRawPointer(source.image) + (source.y &* source.width &+ source.x) &* pixel
        let element = matrixStride &* 4
        var c = 0
        repeat {
            let start = min(c, source.channels &- 8)
            let p = origin + start &* 4
            @inline(__always) func tileRow(_ offset: Int) -> (Vector, Vector, Vector, Vector) {
                let q = p + offset
                return transform4(
                    (
                        q.loadUnaligned(as: Vector.self), q.loadUnaligned(fromByteOffset: pixel, as: Vector.self),
                        q.loadUnaligned(fromByteOffset: 2 &* pixel, as: Vector.self),
                        q.loadUnaligned(fromByteOffset: fourthPixel, as: Vector.self)
                    ))
            }
            let t0 = tileRow(0)
            let t1 = tileRow(row)
            let t2 = tileRow(2 &* row)
            let t3 = tileRow(fourthRow)
            let out = UnsafeMutableRawPointer(v) + start &* 4
            // Element xi = l * 4 + k: column k of the row pass, then row l of the column pass.
            @inline(__always) func column(_ k: Int, _ r: (Vector, Vector, Vector, Vector)) {
                let q = out + k &* element
                q.storeBytes(of: r.0, as: Vector.self)
                q.storeBytes(of: r.1, toByteOffset: 4 &* element, as: Vector.self)
                q.storeBytes(of: r.2, toByteOffset: 8 &* element, as: Vector.self)
                q.storeBytes(of: r.3, toByteOffset: 12 &* element, as: Vector.self)
            }
            column(0, transform4((t0.0, t1.0, t2.0, t3.0)))
            column(1, transform4((t0.1, t1.1, t2.1, t3.1)))
            column(2, transform4((t0.2, t1.2, t2.2, t3.2)))
            column(3, transform4((t0.3, t1.3, t2.3, t3.3)))
            c &+= 8
        } while c < source.channels
    }

    /// `Aᵀ m` for F(3x3, 2x2), Aᵀ rows: (1 1 1 0), (0 1 -1 0), (0 1 1 1).
    @inline(__always)
    static func output4To3(_ m: (Vector, Vector, Vector, Vector)) -> (Vector, Vector, Vector) {
        let sum12 = m.1 + m.2
        return (m.0 + sum12, m.1 - m.2, sum12 + m.3)
    }
}

/// F(2x2, 3x3) (4x4 input tiles, 2x2 output tiles).
extension WinogradTransforms {
    /// F(2x2, 3x3) input transform of one 4x4 tile (as `f32Input6x6`). `work`: 16 vectors.
    static func f32Input4x4(
        _ source: Source, v: UnsafeMutablePointer<Float>, matrixStride: Int, work: UnsafeMutablePointer<Float>
    ) {
        let w = UnsafeMutableRawPointer(work)
        let inside =
            source.y >= 0 && source.x >= 0 && source.y + 4 <= source.height && source.x + 4 <= source.width
        if inside && source.channels >= 8 {
            f32Input4x4Inside(source, v: v, matrixStride: matrixStride)
            return
        }
        let rowFloats = source.width * source.channels
        // From 8 channels, whole vectors, the last one overlapping the one before (a channel
        // computed twice is the same sums twice): lane-by-lane loads cost more than the sums.
        var next = 0
        while next < source.channels {
            let c = source.channels >= 8 ? min(next, source.channels - 8) : next
            let count = min(8, source.channels - c)
            for i in 0..<4 {
                let iy = source.y &+ i
                var d = (Vector(), Vector(), Vector(), Vector())
                if inside && count == 8 {
                    let p =
                        UnsafeRawPointer(source.image) + (iy &* rowFloats &+ source.x &* source.channels &+ c) &* 4
                    let s = source.channels &* 4
                    d = (
                        p.loadUnaligned(as: Vector.self), p.loadUnaligned(fromByteOffset: s, as: Vector.self),
                        p.loadUnaligned(fromByteOffset: 2 * s, as: Vector.self),
                        p.loadUnaligned(fromByteOffset: 3 * s, as: Vector.self)
                    )
                } else if iy >= 0 && iy < source.height {
                    let row = UnsafeRawPointer(source.image) + (iy &* rowFloats &+ c) &* 4
                    d = (
                        load(row, source, 0, count), load(row, source, 1, count), load(row, source, 2, count),
                        load(row, source, 3, count)
                    )
                }
                let r = transform4(d)
                w.storeBytes(of: r.0, toByteOffset: (0 * 4 + i) * 32, as: Vector.self)
                w.storeBytes(of: r.1, toByteOffset: (1 * 4 + i) * 32, as: Vector.self)
                w.storeBytes(of: r.2, toByteOffset: (2 * 4 + i) * 32, as: Vector.self)
                w.storeBytes(of: r.3, toByteOffset: (3 * 4 + i) * 32, as: Vector.self)
            }
            for k in 0..<4 {
                let t = w + k * 4 * 32
                let r = transform4(
                    (
                        t.load(as: Vector.self), t.load(fromByteOffset: 32, as: Vector.self),
                        t.load(fromByteOffset: 64, as: Vector.self), t.load(fromByteOffset: 96, as: Vector.self)
                    ))
                let out = UnsafeMutableRawPointer(v) + (k &* matrixStride &+ c) &* 4
                let step = 4 &* matrixStride &* 4
                out.storeBytes(of: r.0, as: Vector.self)
                out.storeBytes(of: r.1, toByteOffset: step, as: Vector.self)
                out.storeBytes(of: r.2, toByteOffset: 2 * step, as: Vector.self)
                out.storeBytes(of: r.3, toByteOffset: 3 * step, as: Vector.self)
            }
            next += 8
        }
    }

    /// F(2x2, 3x3) output transform of one tile (as `f32Output6x6`). `work`: 8 vectors.
    static func f32Output4x4(
        m: UnsafePointer<Float>, matrixStride: Int, bias: UnsafePointer<Float>, destination: Destination,
        clamp: GEMMMicrokernels.Clamp, work: UnsafeMutablePointer<Float>
    ) {
        let w = UnsafeMutableRawPointer(work)
        var c = 0
        while c < destination.channels {
            for l in 0..<4 {
                let p = UnsafeRawPointer(m) + (l &* 4 &* matrixStride &+ c) &* 4
                let step = matrixStride &* 4
                let r = output4(
                    (
                        p.load(as: Vector.self), p.load(fromByteOffset: step, as: Vector.self),
                        p.load(fromByteOffset: 2 * step, as: Vector.self),
                        p.load(fromByteOffset: 3 * step, as: Vector.self)
                    ))
                w.storeBytes(of: r.0, toByteOffset: (0 * 4 + l) * 32, as: Vector.self)
                w.storeBytes(of: r.1, toByteOffset: (1 * 4 + l) * 32, as: Vector.self)
            }
            let b = UnsafeRawPointer(bias + c).loadUnaligned(as: Vector.self)
            let count = min(8, destination.channels - c)
            for o in 0..<destination.columns {
                let t = w + o * 4 * 32
                let r = output4(
                    (
                        t.load(as: Vector.self), t.load(fromByteOffset: 32, as: Vector.self),
                        t.load(fromByteOffset: 64, as: Vector.self), t.load(fromByteOffset: 96, as: Vector.self)
                    ))
                let out = UnsafeMutableRawPointer(destination.output) + (o &* destination.pixelStride &+ c) &* 4
                store(r.0 + b, out, count, clamp)
                if destination.rows > 1 { store(r.1 + b, out + destination.rowStride &* 4, count, clamp) }
            }
            c += 8
        }
    }

    /// `Bᵀ x` for F(2x2, 3x3), Bᵀ rows: (1 0 -1 0), (0 1 1 0), (0 -1 1 0), (0 1 0 -1).
    @inline(__always)
    static func transform4(_ x: (Vector, Vector, Vector, Vector)) -> (Vector, Vector, Vector, Vector) {
        (x.0 - x.2, x.1 + x.2, x.2 - x.1, x.1 - x.3)
    }

    /// `Aᵀ m` for F(2x2, 3x3), Aᵀ rows: (1 1 1 0), (0 1 -1 -1).
    @inline(__always)
    static func output4(_ m: (Vector, Vector, Vector, Vector)) -> (Vector, Vector) {
        (m.0 + m.1 + m.2, m.1 - m.2 - m.3)
    }
}
