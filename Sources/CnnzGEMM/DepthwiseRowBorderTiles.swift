// Compiled three times, as DepthwiseRowMicrokernels.swift is: in CnnzGEMM (baseline) and,
// through symbolic links, in CnnzGEMMAVX2 and CnnzGEMMAVX512.

extension DepthwiseMicrokernels {
    /// A tile of `rowTiles` whose first or last column is padding. A row's first or last tile
    /// has one of the two, known here, so each gets a copy with it constant
    /// (`firstTiles8Overlap1`, `lastTiles8Overlap1`, ...): with both as arguments, LLVM kept
    /// the tests and selects in the tile and spilled more of its column pointers. A tile with
    /// both (a row of 4 to 8 pixels, padding on either side) takes the copy with both tested.
    @inline(__always)
    static func borderTiles(
        pixels: Int, overlap: Int, _ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        _ skipFirst: Bool, _ skipLast: Bool
    ) {
        switch (pixels, overlap == 1, skipFirst, skipLast) {
        case (8, true, true, false): firstTiles8Overlap1(t, origin, out)
        case (8, true, false, true): lastTiles8Overlap1(t, origin, out)
        case (8, false, true, false): firstTiles8Overlap2(t, origin, out)
        case (8, false, false, true): lastTiles8Overlap2(t, origin, out)
        case (6, true, true, false): firstTiles6Overlap1(t, origin, out)
        case (6, true, false, true): lastTiles6Overlap1(t, origin, out)
        case (6, false, true, false): firstTiles6Overlap2(t, origin, out)
        case (6, false, false, true): lastTiles6Overlap2(t, origin, out)
        case (4, true, true, false): firstTiles4Overlap1(t, origin, out)
        case (4, true, false, true): lastTiles4Overlap1(t, origin, out)
        case (4, false, true, false): firstTiles4Overlap2(t, origin, out)
        case (4, false, false, true): lastTiles4Overlap2(t, origin, out)
        case (8, true, _, _): borderTiles8Overlap1(t, origin, out, skipFirst, skipLast)
        case (8, false, _, _): borderTiles8Overlap2(t, origin, out, skipFirst, skipLast)
        case (6, true, _, _): borderTiles6Overlap1(t, origin, out, skipFirst, skipLast)
        case (6, false, _, _): borderTiles6Overlap2(t, origin, out, skipFirst, skipLast)
        case (_, true, _, _): borderTiles4Overlap1(t, origin, out, skipFirst, skipLast)
        case (_, false, _, _): borderTiles4Overlap2(t, origin, out, skipFirst, skipLast)
        }
    }

    @inline(never)
    static func firstTiles8Overlap1(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 8, overlap: 1, t, origin, out, true, false)
    }

    @inline(never)
    static func lastTiles8Overlap1(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 8, overlap: 1, t, origin, out, false, true)
    }

    @inline(never)
    static func firstTiles8Overlap2(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 8, overlap: 2, t, origin, out, true, false)
    }

    @inline(never)
    static func lastTiles8Overlap2(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 8, overlap: 2, t, origin, out, false, true)
    }

    @inline(never)
    static func firstTiles6Overlap1(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 6, overlap: 1, t, origin, out, true, false)
    }

    @inline(never)
    static func lastTiles6Overlap1(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 6, overlap: 1, t, origin, out, false, true)
    }

    @inline(never)
    static func firstTiles6Overlap2(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 6, overlap: 2, t, origin, out, true, false)
    }

    @inline(never)
    static func lastTiles6Overlap2(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 6, overlap: 2, t, origin, out, false, true)
    }

    @inline(never)
    static func firstTiles4Overlap1(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 4, overlap: 1, t, origin, out, true, false)
    }

    @inline(never)
    static func lastTiles4Overlap1(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 4, overlap: 1, t, origin, out, false, true)
    }

    @inline(never)
    static func firstTiles4Overlap2(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 4, overlap: 2, t, origin, out, true, false)
    }

    @inline(never)
    static func lastTiles4Overlap2(_ t: RowTiles, _ origin: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        channelBlocks(pixels: 4, overlap: 2, t, origin, out, false, true)
    }
}
