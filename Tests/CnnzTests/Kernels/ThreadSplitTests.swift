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
        for rows in [1, 2, tile - 1, tile, tile + 1, 2 * tile, 3 * tile + 2, 100] where rows >= 1 {
            for panels in [0, 1, 2, 3, 5, 8] {
                for parts in 1...5 {
                    let columns = Swift.max(panels, 1)
                    var count = [Int](repeating: 0, count: rows * columns)
                    for part in 0..<parts {
                        let share = GEMMShare(rows: rows, panels: panels, part: part, of: parts)
                        for r in share.rows {
                            for p in share.panels ?? 0..<columns { count[r * columns + p] += 1 }
                        }
                        // Rows are split in whole tiles (the last may be short).
                        if share.panels == nil && !share.rows.isEmpty {
                            #expect(share.rows.lowerBound % tile == 0)
                            #expect(share.rows.count % tile == 0 || share.rows.upperBound == rows)
                        }
                    }
                    #expect(count.allSatisfy { $0 == 1 }, "rows \(rows), panels \(panels), parts \(parts): \(count)")
                }
            }
        }
    }

    /// `GEMM.run` over a range of panels computes exactly those columns, the same to the bit as a
    /// run over all panels, and writes nothing else; for every microkernel this CPU runs.
    @Test(arguments: [(1, 37, 5), (2, 70, 33), (9, 49, 300), (3, 129, 17), (1, 16, 1), (1, 129, 2100)])
    func panelRangesMatchTheWholeProduct(_ shape: (m: Int, n: Int, k: Int)) throws {
        var rng = SplitMix64(seed: UInt64(shape.m * 131 + shape.n * 7 + shape.k))
        let a = [Float].random(shape.m * shape.k, &rng)
        let b = [Float].random(shape.k * shape.n, &rng)
        let bias = [Float].random(shape.n, &rng)
        for microkernel in GEMM.available {
            let packed = try PackedWeights(
                k: shape.k, n: shape.n, element: { b[$0 * shape.n + $1] }, bias: { bias[$0] },
                panelWidth: microkernel.panelWidth)
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
