// Compiled three times, as GEMMMicrokernels.swift is (CnnzGEMM, and through
// symbolic links CnnzGEMMAVX2 and CnnzGEMMAVX512): the transforms are a third
// of a Winograd convolution's time, so they run in the CPU's widest vectors too.

/// The input and output transforms of Winograd's minimal filtering (Lavin and
/// Gray 2015; ncnn's `conv3x3s1_winograd43`/`23`), for a 3x3 stride-1
/// convolution on NHWC images, eight channels per vector. F(4x4, 3x3): 6x6
/// input tiles, 4x4 output tiles; F(2x2, 3x3): 4x4 input tiles, 2x2 outputs.
/// Tile element `xi` (`xi = row * alpha + column`, alpha = 6 or 4) of a tile
/// goes to matrix `xi`; the engine multiplies each matrix by its transformed
/// weights with the GEMM microkernels, then the output transform sums them.
/// The transforms are additions and multiplications by small powers of two
/// (exact in float) in a fixed order, so a tile's numbers never depend on
/// which thread or block computes it.
public enum WinogradTransforms {
    public typealias Vector = SIMD8<Float>

    /// Input transform of `tiles` tiles from `firstTile` (numbered image by image,
    /// row by row, `tilesX` per row, `tilesPerImage` per image) of NHWC images
    /// `height x width x channels` from `input`, padded by `padTop` and `padLeft`
    /// (zeros outside the image). `alpha`: 6 for F(4x4, 3x3), 4 for F(2x2, 3x3).
    /// Tile `t`'s element `xi` goes to `v + xi * matrixStride + t * ldv`, a row
    /// of whole vectors (`ldv` rounds the channels up to 8). `work`: 36 vectors.
    ///
    /// `lastUnused`: the tiles' last row and column of input, where they fall past the
    /// image, feed only outputs past the image (F(3x3, 2x2) with no padding: Bᵀ's last
    /// row alone reads it, and only Aᵀ's last row, the tile's third output row, reads
    /// that element), so such tiles read their third row or column there instead of
    /// zeros, through the registers, and give the same bits where they are stored.
    public static func f32Input(
        alpha: Int, step: Int, input: UnsafePointer<Float>, height: Int, width: Int, channels: Int, padTop: Int,
        padLeft: Int, tilesX: Int, tilesPerImage: Int, firstTile: Int, tiles: Int, v: UnsafeMutablePointer<Float>,
        ldv: Int, matrixStride: Int, work: UnsafeMutablePointer<Float>, lastUnused: Bool = false
    ) {
        for t in 0..<tiles {
            let tile = firstTile + t
            let image = tile / tilesPerImage
            let inImage = tile - image * tilesPerImage
            let ty = inImage / tilesX
            let tx = inImage - ty * tilesX
            let source = Source(
                image: input + image * height * width * channels, height: height, width: width, channels: channels,
                y: ty * step - padTop, x: tx * step - padLeft)
            if alpha == 6 {
                f32Input6x6(source, v: v + t * ldv, matrixStride: matrixStride, work: work)
            } else if lastUnused && channels >= 8 && source.y >= 0 && source.x >= 0 && source.y + 3 <= height
                && source.x + 3 <= width
            {
                f32Input4x4Inside(
                    source, v: v + t * ldv, matrixStride: matrixStride, lastRow: source.y + 4 <= height ? 3 : 2,
                    lastColumn: source.x + 4 <= width ? 3 : 2)
            } else {
                f32Input4x4(source, v: v + t * ldv, matrixStride: matrixStride, work: work)
            }
        }
    }

    /// Output transform of the same tiles (see `f32Input`): tile `t`'s element
    /// `xi` is read from `m + xi * matrixStride + t * ldm + firstChannel`;
    /// channels `firstChannel ..< firstChannel + channels` of each output pixel
    /// (`outputChannels` per pixel) are written, plus `bias`, clamped as the GEMM
    /// microkernels clamp. `bias` and the rows of `m` are padded to whole vectors.
    public static func f32Output(
        alpha: Int, step: Int, m: UnsafePointer<Float>, ldm: Int, matrixStride: Int, bias: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, height: Int, width: Int, outputChannels: Int, firstChannel: Int,
        channels: Int, tilesX: Int, tilesPerImage: Int, firstTile: Int, tiles: Int, clampMinimum: Float,
        clampMaximum: Float, clampActive: Bool, work: UnsafeMutablePointer<Float>
    ) {
        let clamp = GEMMMicrokernels.Clamp(minimum: clampMinimum, maximum: clampMaximum, isActive: clampActive)
        for t in 0..<tiles {
            let tile = firstTile + t
            let image = tile / tilesPerImage
            let inImage = tile - image * tilesPerImage
            let ty = inImage / tilesX
            let tx = inImage - ty * tilesX
            let oy = ty * step
            let ox = tx * step
            let destination = Destination(
                output: output + ((image * height + oy) * width + ox) * outputChannels + firstChannel,
                rowStride: width * outputChannels, pixelStride: outputChannels, rows: min(step, height - oy),
                columns: min(step, width - ox), channels: channels)
            let from = m + t * ldm + firstChannel
            if alpha == 6 {
                f32Output6x6(
                    m: from, matrixStride: matrixStride, bias: bias + firstChannel, destination: destination,
                    clamp: clamp, work: work)
            } else if step == 2 {
                f32Output4x4(
                    m: from, matrixStride: matrixStride, bias: bias + firstChannel, destination: destination,
                    clamp: clamp, work: work)
            } else {
                f32Output4x4To3x3(
                    m: from, matrixStride: matrixStride, bias: bias + firstChannel, destination: destination,
                    clamp: clamp, work: work)
            }
        }
    }

    /// Where a tile's input comes from: an image, `height x width x channels`
    /// NHWC floats; the tile's top-left pixel is `(y, x)`, which may lie in the
    /// padding (negative, or past the image): pixels outside read as zero.
    struct Source {
        let image: UnsafePointer<Float>
        let height: Int
        let width: Int
        let channels: Int
        let y: Int
        let x: Int

        init(image: UnsafePointer<Float>, height: Int, width: Int, channels: Int, y: Int, x: Int) {
            self.image = image
            self.height = height
            self.width = width
            self.channels = channels
            self.y = y
            self.x = x
        }
    }

    /// Where a tile's output goes: `rows x columns` pixels (the tile's, fewer at
    /// the image's bottom and right edge) from `output`, rows `rowStride` floats
    /// apart, pixels `pixelStride` apart; channels `0..<channels` of each.
    struct Destination {
        let output: UnsafeMutablePointer<Float>
        let rowStride: Int
        let pixelStride: Int
        let rows: Int
        let columns: Int
        let channels: Int

        init(
            output: UnsafeMutablePointer<Float>, rowStride: Int, pixelStride: Int, rows: Int, columns: Int,
            channels: Int
        ) {
            self.output = output
            self.rowStride = rowStride
            self.pixelStride = pixelStride
            self.rows = rows
            self.columns = columns
            self.channels = channels
        }
    }

    /// F(4x4, 3x3) input transform `Bᵀ d B` of one 6x6 tile, every channel:
    /// element `xi`'s channels go to `v + xi * matrixStride` (the tile's row of
    /// matrix `xi`). `work`: 36 vectors of scratch.
    static func f32Input6x6(
        _ source: Source, v: UnsafeMutablePointer<Float>, matrixStride: Int, work: UnsafeMutablePointer<Float>
    ) {
        let w = UnsafeMutableRawPointer(work)
        let inside =
            source.y >= 0 && source.x >= 0 && source.y + 6 <= source.height && source.x + 6 <= source.width
        let rowFloats = source.width * source.channels
        var c = 0
        while c < source.channels {
            let count = min(8, source.channels - c)
            // Rows: t[k][i] = (Bᵀ d[i][·])[k], stored transposed for the column pass.
            for i in 0..<6 {
                let iy = source.y &+ i
                var d = (Vector(), Vector(), Vector(), Vector(), Vector(), Vector())
                if inside && count == 8 {
                    let p =
                        UnsafeRawPointer(source.image) + (iy &* rowFloats &+ source.x &* source.channels &+ c) &* 4
                    let s = source.channels &* 4
                    d = (
                        p.loadUnaligned(as: Vector.self), p.loadUnaligned(fromByteOffset: s, as: Vector.self),
                        p.loadUnaligned(fromByteOffset: 2 * s, as: Vector.self),
                        p.loadUnaligned(fromByteOffset: 3 * s, as: Vector.self),
                        p.loadUnaligned(fromByteOffset: 4 * s, as: Vector.self),
                        p.loadUnaligned(fromByteOffset: 5 * s, as: Vector.self)
                    )
                } else if iy >= 0 && iy < source.height {
                    let row = UnsafeRawPointer(source.image) + (iy &* rowFloats &+ c) &* 4
                    d = (
                        load(row, source, 0, count), load(row, source, 1, count), load(row, source, 2, count),
                        load(row, source, 3, count), load(row, source, 4, count), load(row, source, 5, count)
                    )
                }
                let r = transform6(d)
                w.storeBytes(of: r.0, toByteOffset: (0 * 6 + i) * 32, as: Vector.self)
                w.storeBytes(of: r.1, toByteOffset: (1 * 6 + i) * 32, as: Vector.self)
                w.storeBytes(of: r.2, toByteOffset: (2 * 6 + i) * 32, as: Vector.self)
                w.storeBytes(of: r.3, toByteOffset: (3 * 6 + i) * 32, as: Vector.self)
                w.storeBytes(of: r.4, toByteOffset: (4 * 6 + i) * 32, as: Vector.self)
                w.storeBytes(of: r.5, toByteOffset: (5 * 6 + i) * 32, as: Vector.self)
            }
            // Columns: V[l][k] = (Bᵀ t[k][·])[l]. Whole vectors are stored: the
            // rows of V are padded to a multiple of 8 channels.
            for k in 0..<6 {
                let t = w + k * 6 * 32
                let r = transform6(
                    (
                        t.load(as: Vector.self), t.load(fromByteOffset: 32, as: Vector.self),
                        t.load(fromByteOffset: 64, as: Vector.self), t.load(fromByteOffset: 96, as: Vector.self),
                        t.load(fromByteOffset: 128, as: Vector.self), t.load(fromByteOffset: 160, as: Vector.self)
                    ))
                let out = UnsafeMutableRawPointer(v) + (k &* matrixStride &+ c) &* 4
                let step = 6 &* matrixStride &* 4
                out.storeBytes(of: r.0, as: Vector.self)
                out.storeBytes(of: r.1, toByteOffset: step, as: Vector.self)
                out.storeBytes(of: r.2, toByteOffset: 2 * step, as: Vector.self)
                out.storeBytes(of: r.3, toByteOffset: 3 * step, as: Vector.self)
                out.storeBytes(of: r.4, toByteOffset: 4 * step, as: Vector.self)
                out.storeBytes(of: r.5, toByteOffset: 5 * step, as: Vector.self)
            }
            c += 8
        }
    }

    /// F(4x4, 3x3) output transform `Aᵀ m A` of one tile, plus `bias`, clamped,
    /// stored to `destination`: element `xi` of the tile is read from
    /// `m + xi * matrixStride`, channels `0..<destination.channels` (whole
    /// vectors are read: the rows of m are padded). `work`: 24 vectors.
    static func f32Output6x6(
        m: UnsafePointer<Float>, matrixStride: Int, bias: UnsafePointer<Float>, destination: Destination,
        clamp: GEMMMicrokernels.Clamp, work: UnsafeMutablePointer<Float>
    ) {
        let w = UnsafeMutableRawPointer(work)
        var c = 0
        while c < destination.channels {
            // Rows: s[o][l] = (Aᵀ m[l][·])[o].
            for l in 0..<6 {
                let p = UnsafeRawPointer(m) + (l &* 6 &* matrixStride &+ c) &* 4
                let step = matrixStride &* 4
                let r = output6(
                    (
                        p.load(as: Vector.self), p.load(fromByteOffset: step, as: Vector.self),
                        p.load(fromByteOffset: 2 * step, as: Vector.self),
                        p.load(fromByteOffset: 3 * step, as: Vector.self),
                        p.load(fromByteOffset: 4 * step, as: Vector.self),
                        p.load(fromByteOffset: 5 * step, as: Vector.self)
                    ))
                w.storeBytes(of: r.0, toByteOffset: (0 * 6 + l) * 32, as: Vector.self)
                w.storeBytes(of: r.1, toByteOffset: (1 * 6 + l) * 32, as: Vector.self)
                w.storeBytes(of: r.2, toByteOffset: (2 * 6 + l) * 32, as: Vector.self)
                w.storeBytes(of: r.3, toByteOffset: (3 * 6 + l) * 32, as: Vector.self)
            }
            let b = UnsafeRawPointer(bias + c).loadUnaligned(as: Vector.self)
            let count = min(8, destination.channels - c)
            for o in 0..<destination.columns {
                let t = w + o * 6 * 32
                let r = output6(
                    (
                        t.load(as: Vector.self), t.load(fromByteOffset: 32, as: Vector.self),
                        t.load(fromByteOffset: 64, as: Vector.self), t.load(fromByteOffset: 96, as: Vector.self),
                        t.load(fromByteOffset: 128, as: Vector.self), t.load(fromByteOffset: 160, as: Vector.self)
                    ))
                let out = UnsafeMutableRawPointer(destination.output) + (o &* destination.pixelStride &+ c) &* 4
                let row = destination.rowStride &* 4
                store(r.0 + b, out, count, clamp)
                if destination.rows > 1 { store(r.1 + b, out + row, count, clamp) }
                if destination.rows > 2 { store(r.2 + b, out + 2 &* row, count, clamp) }
                if destination.rows > 3 { store(r.3 + b, out + 3 &* row, count, clamp) }
            }
            c += 8
        }
    }

    /// Pixel `j` of a tile row (channels from the row's `c`), zero outside the image.
    @inline(__always)
    static func load(_ row: UnsafeRawPointer, _ source: Source, _ j: Int, _ count: Int) -> Vector {
        let ix = source.x &+ j
        guard ix >= 0 && ix < source.width else { return Vector() }
        let p = row + ix &* source.channels &* 4
        if count == 8 { return p.loadUnaligned(as: Vector.self) }
        var value = Vector()
        for lane in 0..<count { value[lane] = p.load(fromByteOffset: lane &* 4, as: Float.self) }
        return value
    }

    /// `Bᵀ x` for F(4x4, 3x3), Bᵀ rows: (4 0 -5 0 1 0), (0 -4 -4 1 1 0),
    /// (0 4 -4 -1 1 0), (0 -2 -1 2 1 0), (0 2 -1 -2 1 0), (0 4 0 -5 0 1).
    @inline(__always)
    static func transform6(
        _ x: (Vector, Vector, Vector, Vector, Vector, Vector)
    ) -> (Vector, Vector, Vector, Vector, Vector, Vector) {
        let four = Vector(repeating: 4)
        let five = Vector(repeating: 5)
        let two = Vector(repeating: 2)
        let a = x.4 - x.2
        let b = x.3 - x.1
        return (
            four * x.0 - five * x.2 + x.4,
            (x.3 + x.4) - four * (x.1 + x.2),
            (x.4 - x.3) + four * (x.1 - x.2),
            a + two * b,
            a - two * b,
            four * x.1 - five * x.3 + x.5
        )
    }

    /// `Aᵀ m` for F(4x4, 3x3), Aᵀ rows: (1 1 1 1 1 0), (0 1 -1 2 -2 0),
    /// (0 1 1 4 4 0), (0 1 -1 8 -8 1).
    @inline(__always)
    static func output6(
        _ m: (Vector, Vector, Vector, Vector, Vector, Vector)
    ) -> (Vector, Vector, Vector, Vector) {
        let sum12 = m.1 + m.2
        let difference12 = m.1 - m.2
        let sum34 = m.3 + m.4
        let difference34 = m.3 - m.4
        return (
            m.0 + sum12 + sum34,
            difference12 + Vector(repeating: 2) * difference34,
            sum12 + Vector(repeating: 4) * sum34,
            difference12 + Vector(repeating: 8) * difference34 + m.5
        )
    }

    /// Clamps (as the GEMM's store does) and stores the first `count` channels.
    @inline(__always)
    static func store(
        _ value: Vector, _ out: UnsafeMutableRawPointer, _ count: Int, _ clamp: GEMMMicrokernels.Clamp
    ) {
        let v = clamp.isActive ? GEMMMicrokernels.clamped(value, clamp) : value
        if count == 8 {
            out.storeBytes(of: v, as: Vector.self)
        } else {
            GEMMMicrokernels.storePartial(v, v, out.assumingMemoryBound(to: Float.self), count)
        }
    }
}
