// Packing for the trainer's GEMM microkernels, compiled into CnnzTrainKernels
// and, through symbolic links, into CnnzTrainKernelsAVX2 and
// CnnzTrainKernelsAVX512: each build packs panels of its own `panelWidth`.

extension TrainingMicrokernels {
    /// Floats `pack` writes for a `[k, n]` matrix.
    public static func packedCount(k: Int, n: Int) -> Int { (n + panelWidth - 1) / panelWidth * panelWidth * k }

    /// Packs `B[k, n]` (row stride `ldb`), or when `transposed` the transpose of
    /// `B[n, k]` (row stride `ldb`), into panels of `panelWidth` columns, `k` rows of `panelWidth`
    /// contiguous floats each, zero past `n`.
    public static func pack(
        k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int, transposed: Bool, into packed: UnsafeMutablePointer<Float>
    ) {
        let panels = (n + panelWidth - 1) / panelWidth
        for p in 0..<panels {
            let target = packed + p * k * panelWidth
            let first = p * panelWidth
            let width = min(panelWidth, n - first)
            if transposed {
                // Row j of B is column j of the product: walk it contiguously.
                if width < panelWidth { target.update(repeating: 0, count: k * panelWidth) }
                for j in 0..<width {
                    let row = b + (first + j) * ldb
                    for kk in 0..<k { target[kk * panelWidth + j] = row[kk] }
                }
            } else {
                for kk in 0..<k {
                    let row = b + kk * ldb + first
                    let out = target + kk * panelWidth
                    for j in 0..<width { out[j] = row[j] }
                    for j in width..<panelWidth { out[j] = 0 }
                }
            }
        }
    }
}
