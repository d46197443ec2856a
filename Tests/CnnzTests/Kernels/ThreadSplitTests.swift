import Testing

@testable import Cnnz

/// How GEMM-based kernels share a layer between threads: by tiles of rows, or,
/// when there are fewer tiles than parts (Dense at batch 1), by panels of
/// columns. Outputs must be the same to the bit whichever way.
@Suite struct ThreadSplitTests {
    /// Every (row, panel) is computed by exactly one part, for row and panel counts
    /// around the tile and the part counts.
    @Test func sharesCoverEveryRowAndPanelOnce() {
        let tile = GEMM.best.tileRows
        for rows in [1, 2, tile - 1, tile, tile + 1, 2 * tile, 3 * tile + 2, 16, 25, 100, 169] where rows >= 1 {
            for panels in [0, 1, 2, 3, 5, 8] {
                for parts in 1...5 {
                    let columns = Swift.max(panels, 1)
                    var count = [Int](repeating: 0, count: rows * columns)
                    for part in 0..<parts {
                        let share = GEMMShare(rows: rows, panels: panels, part: part, of: parts)
                        for r in share.rows {
                            for p in share.panels ?? 0..<columns { count[r * columns + p] += 1 }
                        }
                        // Rows are split evenly (counts differ by at most one), not in whole tiles.
                        if share.panels == nil {
                            #expect(
                                abs(share.rows.count * parts - rows) < parts, "rows \(rows) / \(parts): \(share.rows)")
                        }
                    }
                    #expect(count.allSatisfy { $0 == 1 }, "rows \(rows), panels \(panels), parts \(parts): \(count)")
                }
            }
        }
    }

    /// Int8 convolutions' blocks of output pixels: 64 while the batch has a block per part, else
    /// fewer rows, a multiple of 8, so that the part with the most rows has about an even share.
    @Test func int8ConvolutionBlocksGiveEveryPartABlock() {
        for pixels in [1, 4, 8, 9, 16, 49, 63, 64, 65, 100, 128, 196, 1024] {
            for images in 1...3 {
                for parts in 1...4 {
                    let rows = Conv2DInt8.blockRows(pixels: pixels, images: images, parts: parts)
                    let blocks = images * ((pixels + rows - 1) / rows)
                    let context = "pixels \(pixels), images \(images), parts \(parts): rows \(rows)"
                    #expect(rows % 8 == 0 && rows >= 8 && rows <= Conv2DInt8.blockRows, "\(context)")
                    // The most rows a part computes: never more than with blocks of 64, and for one
                    // image within a tile of an even share.
                    let load = (blocks + parts - 1) / parts * rows
                    let load64 = (images * ((pixels + 63) / 64) + parts - 1) / parts * 64
                    #expect(load <= load64, "\(context)")
                    if images * ((pixels + 63) / 64) >= parts {
                        #expect(rows == Conv2DInt8.blockRows, "\(context)")
                    } else if images == 1 {
                        #expect(load <= (pixels + parts - 1) / parts + 8, "\(context)")
                    }
                }
            }
        }
        #expect(Conv2DInt8.blockRows(pixels: 64, images: 1, parts: 2) == 32)
        #expect(Conv2DInt8.blockRows(pixels: 64, images: 1, parts: 1) == 64)
    }

    /// `GEMM.run` over a range of panels computes exactly those columns, the same to the bit as a
    /// run over all panels, and writes nothing else; for every microkernel this CPU runs.
    @Test(arguments: [(1, 37, 5), (2, 70, 33), (9, 49, 300), (3, 129, 17), (1, 16, 1), (1, 129, 2100)])
    func panelRangesMatchTheWholeProduct(_ shape: (m: Int, n: Int, k: Int)) throws {
        try Self.randomProduct(shape, seed: UInt64(shape.m * 131 + shape.n * 7 + shape.k)) {
            microkernel, a, packed in
            let clamp = OutputClamp(minimum: -0.5, maximum: 0.75, isActive: true)
            func product(_ panels: Range<Int>?) -> [Float] {
                var out = [Float](repeating: 12345, count: shape.m * shape.n)
                a.withUnsafeBufferPointer { a in
                    out.withUnsafeMutableBufferPointer { o in
                        GEMM.run(
                            m: shape.m, a: a.baseAddress!, lda: shape.k, weights: packed, c: o.baseAddress!,
                            ldc: shape.n, clamp: clamp, microkernel: microkernel, panels: panels)
                    }
                }
                return out
            }
            let whole = product(nil)
            #expect(!whole.contains(12345))
            for parts in 2...4 {
                var pieced = [Float](repeating: 12345, count: shape.m * shape.n)
                for part in 0..<parts {
                    let panels = Partition.range(packed.panels, part: part, of: parts)
                    let piece = product(panels)
                    let first = panels.lowerBound * packed.panelWidth
                    let end = Swift.min(shape.n, panels.upperBound * packed.panelWidth)
                    for i in 0..<shape.m {
                        for j in 0..<shape.n {
                            let value = piece[i * shape.n + j]
                            if j >= first && j < end {
                                pieced[i * shape.n + j] = value
                            } else {
                                #expect(value == 12345, "\(microkernel) wrote column \(j) outside panels \(panels)")
                            }
                        }
                    }
                }
                #expect(pieced == whole, "\(microkernel), \(parts) parts, \(shape)")
            }
        }
    }

    /// `GEMM.run` over rows starting anywhere (not at a multiple of the tile) computes the same
    /// bits as the whole product: a row's sums do not depend on the tile it falls in.
    @Test(arguments: [(25, 37, 50), (16, 100, 200), (7, 20, 9), (169, 50, 300)])
    func rowRangesMatchTheWholeProduct(_ shape: (m: Int, n: Int, k: Int)) throws {
        try Self.randomProduct(shape, seed: UInt64(shape.m * 31 + shape.n * 5 + shape.k)) {
            microkernel, a, packed in
            func product(_ rows: Range<Int>) -> [Float] {
                var out = [Float](repeating: 12345, count: shape.m * shape.n)
                a.withUnsafeBufferPointer { a in
                    out.withUnsafeMutableBufferPointer { o in
                        GEMM.run(
                            m: rows.count, a: a.baseAddress! + rows.lowerBound * shape.k, lda: shape.k,
                            weights: packed, c: o.baseAddress! + rows.lowerBound * shape.n, ldc: shape.n,
                            clamp: .none, microkernel: microkernel, panels: nil)
                    }
                }
                return out
            }
            let whole = product(0..<shape.m)
            for parts in 2...5 {
                var pieced = [Float](repeating: 12345, count: shape.m * shape.n)
                for part in 0..<parts {
                    let rows = Partition.range(shape.m, part: part, of: parts)
                    let piece = product(rows)
                    for i in rows.lowerBound * shape.n..<rows.upperBound * shape.n { pieced[i] = piece[i] }
                }
                #expect(pieced == whole, "\(microkernel), \(parts) parts, \(shape)")
            }
        }
    }

    /// Calls `body` for every microkernel this CPU runs, with a seeded random m x k matrix A and
    /// a random k x n matrix B (with a bias) packed for that microkernel.
    static func randomProduct(
        _ shape: (m: Int, n: Int, k: Int), seed: UInt64,
        _ body: (GEMM.Microkernel, [Float], PackedWeights) throws -> Void
    ) throws {
        var rng = SplitMix64(seed: seed)
        let a = [Float].random(shape.m * shape.k, &rng)
        let b = [Float].random(shape.k * shape.n, &rng)
        let bias = [Float].random(shape.n, &rng)
        for microkernel in GEMM.available {
            let packed = try PackedWeights(
                k: shape.k, n: shape.n, element: { b[$0 * shape.n + $1] }, bias: { bias[$0] },
                panelWidth: microkernel.panelWidth)
            try body(microkernel, a, packed)
        }
    }

    /// Layers whose rows are not a multiple of the tile over the threads (5x5 and 4x4 outputs as
    /// seed002's, a 13x13 pointwise, a 3x3 on 14x10, Dense at batch 7), split evenly by rows.
    static let unevenRows: [LayerCase] = {
        func window(_ size: Int, _ padding: Padding) -> Window {
            Window(
                kernelHeight: size, kernelWidth: size, strideHeight: 1, strideWidth: 1, dilationHeight: 1,
                dilationWidth: 1, padding: padding)
        }
        return [
            LayerCase(
                height: 6, width: 6, channels: 50, batch: 1,
                kind: .conv2D(window: window(2, .valid), filters: 100, groups: 1, hasBias: true),
                activation: .plainReLU),
            LayerCase(
                height: 5, width: 5, channels: 100, batch: 1,
                kind: .conv2D(window: window(2, .valid), filters: 100, groups: 1, hasBias: true),
                activation: .plainReLU),
            LayerCase(
                height: 13, width: 13, channels: 9, batch: 1,
                kind: .conv2D(window: window(1, .valid), filters: 20, groups: 1, hasBias: true)),
            LayerCase(
                height: 14, width: 10, channels: 16, batch: 1,
                kind: .conv2D(window: window(3, .same), filters: 24, groups: 1, hasBias: true),
                activation: .plainReLU),
            LayerCase(
                height: 1, width: 1, channels: 40, batch: 7, kind: .dense(units: 30, hasBias: true),
                activation: .sigmoid),
        ]
    }()

    @Test(arguments: unevenRows)
    func evenRowSharesMatchTheReference(_ c: LayerCase) throws {
        let mismatch = try c.check()
        #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
    }

    /// Layers with fewer row tiles than threads, so 3 threads split them by columns (the check
    /// compares with the reference, then 3 threads with 1 to the bit): Dense at batch 1 and 2,
    /// a convolution and a pointwise convolution on tiny images; fused clamps, a second-pass
    /// activation, and a softmax (whole rows: never split by columns).
    static let cases: [LayerCase] = {
        var cases: [LayerCase] = []
        for activation in [Activation.linear, .plainReLU, .sigmoid, .softmax] {
            for batch in [1, 2] {
                cases.append(
                    LayerCase(
                        height: 1, width: 1, channels: 37, batch: batch, kind: .dense(units: 50, hasBias: true),
                        activation: activation))
            }
            cases.append(
                LayerCase(
                    height: 2, width: 2, channels: 5, batch: 1,
                    kind: .conv2D(
                        window: Window(
                            kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, dilationHeight: 1,
                            dilationWidth: 1, padding: .same), filters: 40, groups: 1, hasBias: true),
                    activation: activation))
            cases.append(
                LayerCase(
                    height: 3, width: 1, channels: 9, batch: 1,
                    kind: .conv2D(
                        window: Window(
                            kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, dilationHeight: 1,
                            dilationWidth: 1, padding: .valid), filters: 49, groups: 1, hasBias: false),
                    activation: activation))
        }
        return cases
    }()

    @Test(arguments: cases)
    func columnSharesMatchTheReference(_ c: LayerCase) throws {
        let mismatch = try c.check()
        #expect(mismatch == nil, "\(c.testDescription): \(mismatch ?? "")")
    }
}
