// Compiled three times, as DepthwiseMicrokernels.swift is: in CnnzGEMM (baseline)
// and, through symbolic links, in CnnzGEMMAVX2 and CnnzGEMMAVX512. Only the FMA
// builds call it (the baseline build's SSE registers hold half as many floats).

extension DepthwiseMicrokernels {
    /// Eight pixels' accumulators of 8 channels (eight ymm registers).
    typealias Pixels8x8 = (
        SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>,
        SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>
    )

    /// The interior pixels `pixels` (a multiple of 8) x 8 channels of a 3x3 row, the
    /// FMA builds' tile: eight pixels at a time, eight independent chains of FMAs,
    /// where the four-pixel loop kept the FMA unit half idle (four chains of 4-cycle
    /// FMAs). Eight accumulators and the nine weight vectors do not fit in 16 ymm
    /// registers, so the weights are loaded per window row (three vectors for 24
    /// FMAs); at stride 1 and 2 each row's inputs are loaded once and used by every
    /// pixel whose window covers them (10 loads for 24 FMAs at stride 1, 17 at
    /// stride 2), streamed column by column so that few are live. Each pixel's taps
    /// are in (ky, kx) order: the same sum as the other paths. `origin`: pixel 0's
    /// window's first row (`top`'s row, which may lie above the image when `rows`
    /// starts at 1), channel block `c`; `weights`: tap 0's block `c`; pixel `i`'s
    /// window starts `i * step` floats after pixel 0's, its columns `d` floats apart;
    /// `out`: pixel 0's output, channel block `c`.
    static func f32DWConv3x3Row8x8FMA(
        pixels count: Int, origin: UnsafePointer<Float>, step: Int, d: Int, rows: Range<Int>, rowStep: Int,
        weights: UnsafePointer<Float>, channels: Int, bias: SIMD8<Float>, out: UnsafeMutablePointer<Float>,
        clamp: GEMMMicrokernels.Clamp
    ) {
        if d == step {
            row8x8Blocks(
                stride: 1, count: count, origin: origin, step: step, d: d, rows: rows, rowStep: rowStep,
                weights: weights, channels: channels, bias: bias, out: out, clamp: clamp)
        } else if step == 2 &* d {
            row8x8Blocks(
                stride: 2, count: count, origin: origin, step: step, d: d, rows: rows, rowStep: rowStep,
                weights: weights, channels: channels, bias: bias, out: out, clamp: clamp)
        } else {
            row8x8Blocks(
                stride: 0, count: count, origin: origin, step: step, d: d, rows: rows, rowStep: rowStep,
                weights: weights, channels: channels, bias: bias, out: out, clamp: clamp)
        }
    }

    /// `f32DWConv3x3Row8x8FMA`'s blocks: `stride` 1 and 2 load each input column once
    /// (the windows' columns overlap), 0 loads every tap. Transparent: inlined once per
    /// `stride`, so each copy is straight-line code (`@inline(__always)` left one shared
    /// copy testing `stride` in the inner loop).
    @_transparent
    static func row8x8Blocks(
        stride: Int, count: Int, origin: UnsafePointer<Float>, step: Int, d: Int, rows: Range<Int>, rowStep: Int,
        weights: UnsafePointer<Float>, channels: Int, bias b: SIMD8<Float>, out: UnsafeMutablePointer<Float>,
        clamp: GEMMMicrokernels.Clamp
    ) {
        // Pointers advanced block by block: offsets from the row's first pixel, recomputed
        // per block, took a hundred instructions a block.
        var p = origin
        var o = out
        var left = count
        while left > 0 {
            var s: Pixels8x8 = (b, b, b, b, b, b, b, b)
            for r in rows {
                let row = p + r &* rowStep
                let w = weights + 3 &* r &* channels
                if stride == 1 {
                    row8x8Stride1(&s, row, d, w, channels)
                } else if stride == 2 {
                    row8x8Stride2(&s, row, d, w, channels)
                } else {
                    for t in 0..<3 {
                        let wt = load8(w + t &* channels)
                        let x = row + t &* d
                        GEMMMicrokernels.accumulate(&s.0, load8(x), wt)
                        GEMMMicrokernels.accumulate(&s.1, load8(x + step), wt)
                        GEMMMicrokernels.accumulate(&s.2, load8(x + 2 &* step), wt)
                        GEMMMicrokernels.accumulate(&s.3, load8(x + 3 &* step), wt)
                        GEMMMicrokernels.accumulate(&s.4, load8(x + 4 &* step), wt)
                        GEMMMicrokernels.accumulate(&s.5, load8(x + 5 &* step), wt)
                        GEMMMicrokernels.accumulate(&s.6, load8(x + 6 &* step), wt)
                        GEMMMicrokernels.accumulate(&s.7, load8(x + 7 &* step), wt)
                    }
                }
            }
            store8x8(s, o, channels, clamp)
            left &-= 8
            p += 8 &* step
            o += 8 &* channels
        }
    }

    /// Eight pixels' accumulators, clamped, `channels` floats apart.
    @_transparent
    static func store8x8(
        _ s: Pixels8x8, _ out: UnsafeMutablePointer<Float>, _ channels: Int, _ clamp: GEMMMicrokernels.Clamp
    ) {
        GEMMMicrokernels.store(s.0, out, 8, clamp)
        GEMMMicrokernels.store(s.1, out + channels, 8, clamp)
        GEMMMicrokernels.store(s.2, out + 2 &* channels, 8, clamp)
        GEMMMicrokernels.store(s.3, out + 3 &* channels, 8, clamp)
        GEMMMicrokernels.store(s.4, out + 4 &* channels, 8, clamp)
        GEMMMicrokernels.store(s.5, out + 5 &* channels, 8, clamp)
        GEMMMicrokernels.store(s.6, out + 6 &* channels, 8, clamp)
        GEMMMicrokernels.store(s.7, out + 7 &* channels, 8, clamp)
    }

    /// One window row of eight pixels at stride 1 (pixel i's columns are i, i + 1,
    /// i + 2, `d` floats apart): ten loads for 24 FMAs, column k feeding pixels k - 2,
    /// k - 1 and k (their third, second and first taps), so each pixel still takes
    /// its taps in column order.
    @_transparent
    static func row8x8Stride1(
        _ s: inout Pixels8x8, _ p: UnsafePointer<Float>, _ d: Int, _ w: UnsafePointer<Float>, _ channels: Int
    ) {
        let wa = load8(w)
        let wb = load8(w + channels)
        let wc = load8(w + 2 &* channels)
        let x0 = load8(p)
        GEMMMicrokernels.accumulate(&s.0, x0, wa)
        let x1 = load8(p + d)
        GEMMMicrokernels.accumulate(&s.0, x1, wb)
        GEMMMicrokernels.accumulate(&s.1, x1, wa)
        let x2 = load8(p + 2 &* d)
        GEMMMicrokernels.accumulate(&s.0, x2, wc)
        GEMMMicrokernels.accumulate(&s.1, x2, wb)
        GEMMMicrokernels.accumulate(&s.2, x2, wa)
        let x3 = load8(p + 3 &* d)
        GEMMMicrokernels.accumulate(&s.1, x3, wc)
        GEMMMicrokernels.accumulate(&s.2, x3, wb)
        GEMMMicrokernels.accumulate(&s.3, x3, wa)
        let x4 = load8(p + 4 &* d)
        GEMMMicrokernels.accumulate(&s.2, x4, wc)
        GEMMMicrokernels.accumulate(&s.3, x4, wb)
        GEMMMicrokernels.accumulate(&s.4, x4, wa)
        let x5 = load8(p + 5 &* d)
        GEMMMicrokernels.accumulate(&s.3, x5, wc)
        GEMMMicrokernels.accumulate(&s.4, x5, wb)
        GEMMMicrokernels.accumulate(&s.5, x5, wa)
        let x6 = load8(p + 6 &* d)
        GEMMMicrokernels.accumulate(&s.4, x6, wc)
        GEMMMicrokernels.accumulate(&s.5, x6, wb)
        GEMMMicrokernels.accumulate(&s.6, x6, wa)
        let x7 = load8(p + 7 &* d)
        GEMMMicrokernels.accumulate(&s.5, x7, wc)
        GEMMMicrokernels.accumulate(&s.6, x7, wb)
        GEMMMicrokernels.accumulate(&s.7, x7, wa)
        let x8 = load8(p + 8 &* d)
        GEMMMicrokernels.accumulate(&s.6, x8, wc)
        GEMMMicrokernels.accumulate(&s.7, x8, wb)
        let x9 = load8(p + 9 &* d)
        GEMMMicrokernels.accumulate(&s.7, x9, wc)
    }

    /// One window row of eight pixels at stride 2 and dilation 1 (pixel i's columns
    /// are 2i, 2i + 1, 2i + 2, `d` floats apart): 17 loads for 24 FMAs, each even
    /// column the third tap of one pixel and the first of the next.
    @_transparent
    static func row8x8Stride2(
        _ s: inout Pixels8x8, _ p: UnsafePointer<Float>, _ d: Int, _ w: UnsafePointer<Float>, _ channels: Int
    ) {
        let wa = load8(w)
        let wb = load8(w + channels)
        let wc = load8(w + 2 &* channels)
        GEMMMicrokernels.accumulate(&s.0, load8(p), wa)
        GEMMMicrokernels.accumulate(&s.0, load8(p + d), wb)
        let x2 = load8(p + 2 &* d)
        GEMMMicrokernels.accumulate(&s.0, x2, wc)
        GEMMMicrokernels.accumulate(&s.1, x2, wa)
        GEMMMicrokernels.accumulate(&s.1, load8(p + 3 &* d), wb)
        let x4 = load8(p + 4 &* d)
        GEMMMicrokernels.accumulate(&s.1, x4, wc)
        GEMMMicrokernels.accumulate(&s.2, x4, wa)
        GEMMMicrokernels.accumulate(&s.2, load8(p + 5 &* d), wb)
        let x6 = load8(p + 6 &* d)
        GEMMMicrokernels.accumulate(&s.2, x6, wc)
        GEMMMicrokernels.accumulate(&s.3, x6, wa)
        GEMMMicrokernels.accumulate(&s.3, load8(p + 7 &* d), wb)
        let x8 = load8(p + 8 &* d)
        GEMMMicrokernels.accumulate(&s.3, x8, wc)
        GEMMMicrokernels.accumulate(&s.4, x8, wa)
        GEMMMicrokernels.accumulate(&s.4, load8(p + 9 &* d), wb)
        let x10 = load8(p + 10 &* d)
        GEMMMicrokernels.accumulate(&s.4, x10, wc)
        GEMMMicrokernels.accumulate(&s.5, x10, wa)
        GEMMMicrokernels.accumulate(&s.5, load8(p + 11 &* d), wb)
        let x12 = load8(p + 12 &* d)
        GEMMMicrokernels.accumulate(&s.5, x12, wc)
        GEMMMicrokernels.accumulate(&s.6, x12, wa)
        GEMMMicrokernels.accumulate(&s.6, load8(p + 13 &* d), wb)
        let x14 = load8(p + 14 &* d)
        GEMMMicrokernels.accumulate(&s.6, x14, wc)
        GEMMMicrokernels.accumulate(&s.7, x14, wa)
        GEMMMicrokernels.accumulate(&s.7, load8(p + 15 &* d), wb)
        GEMMMicrokernels.accumulate(&s.7, load8(p + 16 &* d), wc)
    }
}
