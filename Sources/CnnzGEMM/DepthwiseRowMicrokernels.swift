// Compiled three times, as DepthwiseMicrokernels.swift is: in CnnzGEMM (baseline)
// and, through symbolic links, in CnnzGEMMAVX2 and CnnzGEMMAVX512. The FMA builds
// (AVX2 and AVX-512) call it (`f32DWConvRow`).

extension DepthwiseMicrokernels {
    /// Whether `f32DWConv3x3RowTilesFMA` takes a row of this layer: a 3x3 window whose
    /// columns overlap from pixel to pixel (stride equal to the dilation, or twice it),
    /// at least 4 output pixels a row and 16 channels, and at most one padding column on
    /// each side of the image (so a tile skips at most its first and its last column).
    /// A single block of 8 channels stays on the older path: each tile position's call
    /// and set-up, over one block, took twice the time of its eight-pixel loop.
    @inline(__always)
    static func rowTilesFit(_ g: Geometry) -> Bool {
        let overlap = g.strideWidth == g.dilationWidth ? 1 : g.strideWidth == 2 * g.dilationWidth ? 2 : 0
        let lastColumn = (g.outputWidth - 1) * g.strideWidth - g.padLeft + 2 * g.dilationWidth
        return g.kernelHeight == 3 && g.kernelWidth == 3 && overlap > 0 && g.outputWidth >= 4
            && g.channels >= 16 && g.padLeft <= g.dilationWidth && lastColumn - g.dilationWidth < g.inputWidth
    }

    /// A whole output row of a 3x3 layer (`rowTilesFit`), every pixel in tiles of eight
    /// (or six, or four) pixels x 8 channels, the border pixels included: a border tile skips
    /// the product of its first or last column, which lies in the padding. A row whose
    /// width is not a multiple of 8 ends with a tile of six or four, or one that overlaps the
    /// tile before it (its shared pixels computed twice, the same taps in the same
    /// order: the same values). Every pixel's taps in (ky, kx) order, the padding
    /// skipped, as on the other paths: the same sums. The border-pixel, four-pixel and
    /// single-pixel paths this replaces ran at a half to a tenth of the eight-pixel
    /// tile's speed (one to four chains of dependent FMAs) and took most of MobileNet's
    /// depthwise time at 24, 12 and 6 pixels a row. The channels past the last multiple
    /// of 8 one at a time. `rows`: the window rows inside the image, counted from
    /// `top`, the window's first row.
    static func f32DWConv3x3RowTilesFMA(
        _ g: Geometry, rows: Range<Int>, top: UnsafePointer<Float>, rowStep: Int, weights: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, clamp: GEMMMicrokernels.Clamp
    ) {
        let channels = g.channels
        rowTiles(
            overlap: g.strideWidth == g.dilationWidth ? 1 : 2, g, rows: rows, top: top, rowStep: rowStep,
            weights: weights, bias: bias, output: output, clamp: clamp)
        let first = channels & ~7
        if first < channels {
            for ox in 0..<g.outputWidth {
                let ix0 = ox * g.strideWidth - g.padLeft
                rowRemainder(
                    g, from: first, iy0: 0, ix0: ix0, rowTaps: rows,
                    columnTaps: validTaps(origin: ix0, count: 3, dilation: g.dilationWidth, size: g.inputWidth),
                    input: top, weights: weights, bias: bias, out: output + ox * channels, clamp: clamp)
            }
        }
    }

    /// What every tile of a row shares (`f32DWConv3x3RowTilesFMA`).
    struct RowTiles {
        let channels: Int
        /// The floats from one column to the next (the dilation's).
        let d: Int
        let rowStep: Int
        /// Which of the three window rows are inside the image.
        let rows: (Bool, Bool, Bool)
        let weights: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
        let clamp: GEMMMicrokernels.Clamp
    }

    /// `f32DWConv3x3RowTilesFMA`'s tiles, `overlap` the stride in dilations (1 or 2). Each
    /// tile position calls a function that takes every channel block of its pixels (the
    /// pixels' channels are contiguous: each cache line read whole, in order), one per tile
    /// shape, which keeps the registers to itself: inlined into the row's loop, with the
    /// channel blocks outside, the same tiles ran 10-30 % slower or faster from one build to
    /// the next (LLVM kept a dozen spilled column pointers or offsets).
    static func rowTiles(
        overlap: Int, _ g: Geometry, rows: Range<Int>, top: UnsafePointer<Float>, rowStep: Int,
        weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        clamp: GEMMMicrokernels.Clamp
    ) {
        let channels = g.channels
        let width = g.outputWidth
        let t = RowTiles(
            channels: channels, d: g.dilationWidth * channels, rowStep: rowStep,
            rows: (rows.lowerBound == 0, rows.contains(1), rows.upperBound == 3), weights: weights, bias: bias,
            clamp: clamp)
        var ox = 0
        while ox < width {
            // Eight pixels while eight are left, six for six (a tile of 6, not 8 or 4 + 4
            // that overlap: mobile_res's dw13 rows of 6 took two tiles of 4, 8 pixels'
            // work), the last eight for five or seven in a row of eight or more; four for
            // four or fewer, or five or seven in a row of four to seven.
            let left = width &- ox
            let pixels = left >= 8 ? 8 : left == 6 ? 6 : left > 4 && width >= 8 ? 8 : 4
            let start = min(ox, width &- pixels)
            let ix0 = start &* g.strideWidth &- g.padLeft
            let lastColumn = ix0 &+ ((pixels &- 1) &* overlap &+ 2) &* g.dilationWidth
            let skipFirst = ix0 < 0
            let skipLast = lastColumn >= g.inputWidth
            let origin = top + ix0 &* channels
            let out = output + start &* channels
            // A separate copy for the tiles inside the image: the tests of a border tile in
            // it (LLVM made the optional first product a select of its two halves).
            switch (pixels, overlap == 1, !skipFirst && !skipLast) {
            case (8, true, true): tiles8Overlap1(t, origin, out)
            case (8, false, true): tiles8Overlap2(t, origin, out)
            case (6, true, true): tiles6Overlap1(t, origin, out)
            case (6, false, true): tiles6Overlap2(t, origin, out)
            case (4, true, true): tiles4Overlap1(t, origin, out)
            case (4, false, true): tiles4Overlap2(t, origin, out)
            default: borderTiles(pixels: pixels, overlap: overlap, t, origin, out, skipFirst, skipLast)
            }
            ox = start &+ pixels
        }
    }

    @inline(never)
    static func tiles8Overlap1(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 8, overlap: 1, t, origin, out, false, false)
    }

    @inline(never)
    static func tiles8Overlap2(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 8, overlap: 2, t, origin, out, false, false)
    }

    @inline(never)
    static func tiles6Overlap1(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 6, overlap: 1, t, origin, out, false, false)
    }

    @inline(never)
    static func tiles6Overlap2(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 6, overlap: 2, t, origin, out, false, false)
    }

    @inline(never)
    static func borderTiles6Overlap1(
        _ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ first: Bool, _ last: Bool
    ) {
        channelBlocks(pixels: 6, overlap: 1, t, origin, out, first, last)
    }

    @inline(never)
    static func borderTiles6Overlap2(
        _ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ first: Bool, _ last: Bool
    ) {
        channelBlocks(pixels: 6, overlap: 2, t, origin, out, first, last)
    }

    @inline(never)
    static func tiles4Overlap1(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 4, overlap: 1, t, origin, out, false, false)
    }

    @inline(never)
    static func tiles4Overlap2(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 4, overlap: 2, t, origin, out, false, false)
    }

    @inline(never)
    static func borderTiles8Overlap1(
        _ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ first: Bool, _ last: Bool
    ) {
        channelBlocks(pixels: 8, overlap: 1, t, origin, out, first, last)
    }

    @inline(never)
    static func borderTiles8Overlap2(
        _ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ first: Bool, _ last: Bool
    ) {
        channelBlocks(pixels: 8, overlap: 2, t, origin, out, first, last)
    }

    @inline(never)
    static func borderTiles4Overlap1(
        _ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ first: Bool, _ last: Bool
    ) {
        channelBlocks(pixels: 4, overlap: 1, t, origin, out, first, last)
    }

    @inline(never)
    static func borderTiles4Overlap2(
        _ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ first: Bool, _ last: Bool
    ) {
        channelBlocks(pixels: 4, overlap: 2, t, origin, out, first, last)
    }

    /// One tile position, every block of channels: `origin` is pixel 0's first column
    /// (channel 0), `out` pixel 0's output. The AVX-512 build takes 16 channels a tile
    /// (zmm accumulators: half the loads, FMAs and stores of two 8-channel tiles to issue),
    /// then a last block of 8; the AVX2 build 8 channels a tile.
    @_transparent
    static func channelBlocks(
        pixels: Int, overlap: Int, _ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        _ skipFirst: Bool, _ skipLast: Bool
    ) {
        @_transparent
        func tile<V: TileVector>(_: V.Type, _ c: Int) {
            f32DWConv3x3Tile8x8FMA(
                V.self, pixels: pixels, overlap: overlap, origin: origin + c, skipFirst: skipFirst, skipLast: skipLast,
                d: t.d, rows: t.rows, rowStep: t.rowStep, weights: t.weights + c, channels: t.channels,
                bias: V.load(t.bias + c), out: out + c, clamp: t.clamp)
        }
        #if CNNZ_AVX512
            if t.channels == 16 {
                tile(SIMD16<Float>.self, 0)
                return
            }
            if t.channels == 32 {
                tile(SIMD16<Float>.self, 0)
                tile(SIMD16<Float>.self, 16)
                return
            }
            var c = 0
            while c &+ 16 <= t.channels {
                tile(SIMD16<Float>.self, c)
                c &+= 16
            }
            if c &+ 8 <= t.channels { tile(SIMD8<Float>.self, c) }
        #else
            // Two or four blocks (16 or 32 channels, mobile_res's first layers) in straight-line
            // code: as a loop, LLVM set up a pointer per column and row before it, a third of
            // the time of two tiles (dw1 14.0 -> 10.6 us, dw3 10.3 -> 8.2 in a loop of the six
            // layers' rows). Longer loops pay for it once over more blocks.
            if t.channels == 16 {
                tile(SIMD8<Float>.self, 0)
                tile(SIMD8<Float>.self, 8)
                return
            }
            if t.channels == 32 {
                tile(SIMD8<Float>.self, 0)
                tile(SIMD8<Float>.self, 8)
                tile(SIMD8<Float>.self, 16)
                tile(SIMD8<Float>.self, 24)
                return
            }
            var c = 0
            while c &+ 8 <= t.channels {
                tile(SIMD8<Float>.self, c)
                c &+= 8
            }
        #endif
    }

    /// `pixels` (8, 6 or 4) pixels x 8 channels of a 3x3 row: eight chains of FMAs (the FMA
    /// unit's latency times its throughput; six or four in the smaller tiles), the window rows
    /// `rows` in order, each row's columns loaded once and used by every pixel that
    /// covers them (10 loads for 24 FMAs at `overlap` 1 and 8 pixels, 17 at 2), each
    /// pixel's taps in (ky, kx) order. `origin`: pixel 0's first column in `top`'s row;
    /// `skipFirst` and `skipLast`: the tile's first or last column is padding, its
    /// product skipped (a predictable test per window row).
    @_transparent
    static func f32DWConv3x3Tile8x8FMA<V: TileVector>(
        _: V.Type, pixels: Int, overlap: Int, origin: UnsafePointer<Float>, skipFirst: Bool, skipLast: Bool, d: Int,
        rows: (Bool, Bool, Bool), rowStep: Int, weights: UnsafePointer<Float>, channels: Int, bias b: V,
        out: UnsafeMutablePointer<Float>, clamp: GEMMMicrokernels.Clamp
    ) {
        var s: (V, V, V, V, V, V, V, V) = (b, b, b, b, b, b, b, b)
        // The window rows unrolled: a loop over a range of them let LLVM rotate every
        // column's pointer through the loop, a dozen of them spilled.
        if rows.0 {
            windowRow(
                pixels: pixels, overlap: overlap, &s, origin, d, weights, channels, skipFirst, skipLast)
        }
        if rows.1 {
            windowRow(
                pixels: pixels, overlap: overlap, &s, origin + rowStep, d, weights + 3 &* channels, channels,
                skipFirst, skipLast)
        }
        if rows.2 {
            windowRow(
                pixels: pixels, overlap: overlap, &s, origin + 2 &* rowStep, d, weights + 6 &* channels, channels,
                skipFirst, skipLast)
        }
        s.0.store(out, V.lanes, clamp)
        s.1.store(out + channels, V.lanes, clamp)
        s.2.store(out + 2 &* channels, V.lanes, clamp)
        s.3.store(out + 3 &* channels, V.lanes, clamp)
        if pixels >= 6 {
            s.4.store(out + 4 &* channels, V.lanes, clamp)
            s.5.store(out + 5 &* channels, V.lanes, clamp)
        }
        if pixels == 8 {
            s.6.store(out + 6 &* channels, V.lanes, clamp)
            s.7.store(out + 7 &* channels, V.lanes, clamp)
        }
    }

    /// One window row of `f32DWConv3x3Tile8x8FMA`: `p` is pixel 0's first column, `w`
    /// the row's first tap. Column k feeds pixel i's tap k - i * overlap, for each pixel
    /// in order, so every pixel takes its three taps in column order.
    @_transparent
    static func windowRow<V: TileVector>(
        pixels: Int, overlap: Int, _ s: inout (V, V, V, V, V, V, V, V), _ p: UnsafePointer<Float>, _ d: Int,
        _ w: UnsafePointer<Float>, _ channels: Int, _ skipFirst: Bool, _ skipLast: Bool
    ) {
        let wa = V.load(w)
        let wb = V.load(w + channels)
        let wc = V.load(w + 2 &* channels)
        // The first column: pixel 0's first tap only.
        if !skipFirst { s.0.accumulate(V.load(p), wa) }
        if overlap == 1 {
            let x1 = V.load(p + d)
            s.0.accumulate(x1, wb)
            s.1.accumulate(x1, wa)
            let x2 = V.load(p + 2 &* d)
            s.0.accumulate(x2, wc)
            s.1.accumulate(x2, wb)
            s.2.accumulate(x2, wa)
            let x3 = V.load(p + 3 &* d)
            s.1.accumulate(x3, wc)
            s.2.accumulate(x3, wb)
            s.3.accumulate(x3, wa)
            let x4 = V.load(p + 4 &* d)
            s.2.accumulate(x4, wc)
            s.3.accumulate(x4, wb)
            if pixels == 4 {
                if !skipLast { s.3.accumulate(V.load(p + 5 &* d), wc) }
                return
            }
            s.4.accumulate(x4, wa)
            let x5 = V.load(p + 5 &* d)
            s.3.accumulate(x5, wc)
            s.4.accumulate(x5, wb)
            s.5.accumulate(x5, wa)
            let x6 = V.load(p + 6 &* d)
            s.4.accumulate(x6, wc)
            s.5.accumulate(x6, wb)
            if pixels == 6 {
                if !skipLast { s.5.accumulate(V.load(p + 7 &* d), wc) }
                return
            }
            s.6.accumulate(x6, wa)
            let x7 = V.load(p + 7 &* d)
            s.5.accumulate(x7, wc)
            s.6.accumulate(x7, wb)
            s.7.accumulate(x7, wa)
            let x8 = V.load(p + 8 &* d)
            s.6.accumulate(x8, wc)
            s.7.accumulate(x8, wb)
            if !skipLast { s.7.accumulate(V.load(p + 9 &* d), wc) }
        } else {
            s.0.accumulate(V.load(p + d), wb)
            let x2 = V.load(p + 2 &* d)
            s.0.accumulate(x2, wc)
            s.1.accumulate(x2, wa)
            s.1.accumulate(V.load(p + 3 &* d), wb)
            let x4 = V.load(p + 4 &* d)
            s.1.accumulate(x4, wc)
            s.2.accumulate(x4, wa)
            s.2.accumulate(V.load(p + 5 &* d), wb)
            let x6 = V.load(p + 6 &* d)
            s.2.accumulate(x6, wc)
            s.3.accumulate(x6, wa)
            s.3.accumulate(V.load(p + 7 &* d), wb)
            if pixels == 4 {
                if !skipLast { s.3.accumulate(V.load(p + 8 &* d), wc) }
                return
            }
            let x8 = V.load(p + 8 &* d)
            s.3.accumulate(x8, wc)
            s.4.accumulate(x8, wa)
            s.4.accumulate(V.load(p + 9 &* d), wb)
            let x10 = V.load(p + 10 &* d)
            s.4.accumulate(x10, wc)
            s.5.accumulate(x10, wa)
            s.5.accumulate(V.load(p + 11 &* d), wb)
            if pixels == 6 {
                if !skipLast { s.5.accumulate(V.load(p + 12 &* d), wc) }
                return
            }
            let x12 = V.load(p + 12 &* d)
            s.5.accumulate(x12, wc)
            s.6.accumulate(x12, wa)
            s.6.accumulate(V.load(p + 13 &* d), wb)
            let x14 = V.load(p + 14 &* d)
            s.6.accumulate(x14, wc)
            s.7.accumulate(x14, wa)
            s.7.accumulate(V.load(p + 15 &* d), wb)
            if !skipLast { s.7.accumulate(V.load(p + 16 &* d), wc) }
        }
    }
}
