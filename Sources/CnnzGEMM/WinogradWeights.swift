// Compiled three times, as WinogradTransforms.swift is (CnnzGEMM, and through symbolic links
// CnnzGEMMAVX2 and CnnzGEMMAVX512): the weights' transform is most of loading a model of 3x3
// convolutions, and its Double arithmetic takes two lanes per SSE2 vector, four per AVX2.
// Swift fuses no multiply with an add, so every build computes the same bits.

extension WinogradTransforms {
    /// The Winograd transform of a `[taps, taps, cin, cout]` kernel (Keras's layout), `U = G g
    /// Gᵀ` per input and output channel, in Double, rounded once to Float, written into
    /// `alpha²` packed matrices: element `(a, b)` of channel pair `(ci, co)` goes to
    /// `outputs[a * alpha + b] + (co / width * cin + ci) * width + co % width` (GEMM panels of
    /// `width` columns). `g`: G, `alpha` rows of `taps`. `half`: `taps * alpha * cout` Doubles
    /// of scratch; `row`: `cout` Floats of scratch.
    ///
    /// Per input channel, `half[ky][b][co] = ((0 + t0 G[b][0]) + t1 G[b][1]) + t2 G[b][2]` for
    /// the taps `t` of row `ky`, then `U[a][b][co] = Float((G[a][0] h0 + G[a][1] h1) + G[a][2]
    /// h2)` for the rows `h` of column `b`, each over every `co` at once (whole rows, where a
    /// loop per panel spent most of its time on its bookkeeping).
    public static func f64TransformWeights(
        kernel w: UnsafePointer<Float>, cin: Int, cout: Int, taps r: Int, alpha: Int, g: UnsafePointer<Double>,
        half h: UnsafeMutablePointer<Double>, row u: UnsafeMutablePointer<Float>,
        outputs: UnsafePointer<UnsafeMutablePointer<Float>>, width: Int
    ) {
        for ci in 0..<cin {
            for ky in 0..<r {
                let t0 = w + (ky * r * cin + ci) * cout
                let t1 = t0 + cin * cout
                for b in 0..<alpha {
                    let out = h + (ky * alpha + b) * cout
                    let (g0, g1) = (g[b * r], g[b * r + 1])
                    if r == 3 {
                        let (t2, g2) = (t1 + cin * cout, g[b * r + 2])
                        for co in 0..<cout {
                            var s = 0.0
                            s += Double(t0[co]) * g0
                            s += Double(t1[co]) * g1
                            s += Double(t2[co]) * g2
                            out[co] = s
                        }
                    } else {
                        for co in 0..<cout {
                            var s = 0.0
                            s += Double(t0[co]) * g0
                            s += Double(t1[co]) * g1
                            out[co] = s
                        }
                    }
                }
            }
            for a in 0..<alpha {
                let (g0, g1) = (g[a * r], g[a * r + 1])
                for b in 0..<alpha {
                    let (p0, p1) = (h + b * cout, h + (alpha + b) * cout)
                    if r == 3 {
                        let (g2, p2) = (g[a * r + 2], h + (2 * alpha + b) * cout)
                        for co in 0..<cout { u[co] = Float(g0 * p0[co] + g1 * p1[co] + g2 * p2[co]) }
                    } else {
                        for co in 0..<cout { u[co] = Float(g0 * p0[co] + g1 * p1[co]) }
                    }
                    let data = outputs[a * alpha + b] + ci * width
                    var first = 0
                    while first < cout {
                        (data + first * cin).update(from: u + first, count: Swift.min(width, cout - first))
                        first += width
                    }
                }
            }
        }
    }
}
