/// The store of the int8 kernels without a GEMM (pooling, Add, Concatenate):
/// a sum in the input's scale requantized by `realMultiplier` to the output
/// (or to the pre-activation scale), plus the zero point, clamped, and mapped
/// through the activation's table when it has one.
struct Int8Store {
    let multiplier: Int32
    let shift: Int32
    let zeroPoint: Int32
    let bounds: ClosedRange<Int32>
    let table: [Int8]?

    /// `realMultiplier` is the factor from the sum's scale to the output's;
    /// it is divided here by the requantized scale when the activation is a table.
    init(realMultiplier: Double, activation: Activation, output: ActivationQuantization) {
        let stage = Int8Activation(activation, output: output)
        // Rescaled only for a table: x * s / s need not be x in floating point.
        let real = stage.table == nil ? realMultiplier : realMultiplier * Double(output.scale) / Double(stage.scale)
        (multiplier, shift) = Requantization.multiplier(real)
        zeroPoint = stage.zeroPoint
        bounds = stage.bounds
        table = stage.table
    }

    @inline(__always) func callAsFunction(_ sum: Int32) -> Int8 {
        let q = Requantization.store(
            Requantization.apply(sum, multiplier: multiplier, shift: shift), zeroPoint: zeroPoint, bounds: bounds)
        guard let table else { return q }
        return table[Int(q) + 128]
    }
}
