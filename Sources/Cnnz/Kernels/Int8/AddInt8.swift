import CInt8Kernels

/// Int8 Add of any number of inputs, TensorFlow Lite's way: each input's
/// `q - zeroPoint` is shifted left by 20 bits and requantized by
/// `scale / (2 * largest input scale)`, the terms are added (in 64 bits,
/// then saturated to 32), and the sum requantized to the output.
final class AddInt8: RegisteredKernel {
    static let leftShift: Int32 = 20
    let operands: KernelOperands
    let zeroPoints: [Int32]
    let multipliers: [Int32]
    let shifts: [Int32]
    let store: Int8Store
    let scratchBytes = 1024 * 8
    /// Two inputs (the common case): the C kernel's parameters, vectorized with AVX2 or AVX-512.
    let pair: cnnz_qs8_add
    let pairOutput: Int8StoreParameters
    let variant = Int8GEMM.selected
    /// Two inputs at level `CNNZ_INT8_AVX2`: the Add as a linear form of its two bytes, or nil.
    let linear: cnnz_qs8_add_linear?

    init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .add = setup.layer.kind, let output = setup.outputQuantization else { throw setup.mismatch }
        operands = setup.operands
        (zeroPoints, multipliers, shifts, store) = Self.parameters(
            inputs: setup.inputQuantization, activation: setup.layer.activation, output: output)
        pair = Self.pair(zeroPoints: zeroPoints, multipliers: multipliers, shifts: shifts)
        pairOutput = Int8StoreParameters(store)
        // Only at level CNNZ_INT8_AVX2 here (the one measured for an Add on its own: AVX-512
        // keeps its Add kernel).
        linear =
            operands.inputs.count == 2 && variant.level == CNNZ_INT8_AVX2
            ? Self.linearForm(level: variant.level, pair: pair, output: pairOutput) : nil
    }

    /// The Add of two inputs as one linear form of the two bytes (`cnnz_qs8_add_linear`), found
    /// and checked against `cnnz_qs8_add2` on all 65536 pairs at prepare time; from level
    /// `CNNZ_INT8_AVX2` (on an AVX2 Zen 4, mobile_res's two fused Adds about 3 times faster,
    /// 6.6 % of a batch-64 run's time -> 2.2 %; with AVX512-VNNI, in the 512-bit GEMM's fused
    /// store, see `Int8ResidualAdd`).
    static func linearForm(level: Int32, pair: cnnz_qs8_add, output: Int8StoreParameters) -> cnnz_qs8_add_linear? {
        guard level >= CNNZ_INT8_AVX2 else { return nil }
        var form = cnnz_qs8_add_linear()
        let found = withUnsafePointer(to: pair) { p in
            withUnsafePointer(to: output.output) { cnnz_qs8_add_linear_prepare(level, p, $0, &form) }
        }
        return found != 0 ? form : nil
    }

    /// Each input's zero point, multiplier and shift, and the store of the sum: TensorFlow
    /// Lite's parameters (also those of an Add fused into a convolution, `Conv2DInt8`).
    static func parameters(inputs: [ActivationQuantization], activation: Activation, output: ActivationQuantization)
        -> (zeroPoints: [Int32], multipliers: [Int32], shifts: [Int32], store: Int8Store)
    {
        let twiceMax = 2 * Double(inputs.map(\.scale).max()!)
        let scaled = inputs.map { Requantization.multiplier(Double($0.scale) / twiceMax) }
        let store = Int8Store(
            realMultiplier: twiceMax / (Double(1 << leftShift) * Double(output.scale)), activation: activation,
            output: output)
        return (inputs.map(\.zeroPoint), scaled.map(\.multiplier), scaled.map(\.shift), store)
    }

    /// The first two inputs' parameters as the C kernels take them.
    static func pair(zeroPoints: [Int32], multipliers: [Int32], shifts: [Int32]) -> cnnz_qs8_add {
        let z = zeroPoints + [0, 0]
        let m = multipliers + [0, 0]
        let sh = shifts + [0, 0]
        return cnnz_qs8_add(
            zero_point: (z[0], z[1]), multiplier: (m[0], m[1]), shift: (sh[0], sh[1]), left_shift: leftShift)
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let count = batch * operands.outputShape.elementCount
        return (items: (count + 1023) / 1024, work: count * operands.inputs.count)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let count = context.batch * operands.outputShape.elementCount
        let blocks = Partition.range((count + 1023) / 1024, part: part, of: parts)
        let output = context.output(operands, as: Int8.self)
        // Input by input over blocks of 1024 elements, summing in 64 bits in the scratch.
        if operands.inputs.count == 2 {
            let a = UnsafePointer(context.int8(operands.inputs[0]))
            let b = UnsafePointer(context.int8(operands.inputs[1]))
            let start = blocks.lowerBound * 1024
            let n = min(count, blocks.upperBound * 1024) - start
            guard n > 0 else { return }
            if let linear {
                withUnsafePointer(to: linear) {
                    cnnz_qs8_add2_linear(variant.level, n, a + start, b + start, $0, output + start)
                }
                return
            }
            withUnsafePointer(to: pair) { p in
                withUnsafePointer(to: pairOutput.output) { out in
                    cnnz_qs8_add2(variant.level, n, a + start, b + start, p, out, output + start)
                }
            }
            return
        }
        let sums = context.scratch(part: part, bytes: scratchBytes, as: Int64.self)
        for block in blocks {
            let start = block * 1024
            let n = min(count, start + 1024) - start
            sums.update(repeating: 0, count: n)
            for (k, value) in operands.inputs.enumerated() {
                let input = UnsafePointer(context.int8(value)) + start
                let zero = zeroPoints[k]
                let (m, s) = (multipliers[k], shifts[k])
                for i in 0..<n {
                    let q = (Int32(input[i]) &- zero) << Self.leftShift
                    sums[i] &+= Int64(Requantization.apply(q, multiplier: m, shift: s))
                }
            }
            for i in 0..<n { output[start + i] = store(Int32(clamping: sums[i])) }
        }
    }
}

/// An int8 Add fused into `Conv2DInt8`: the Add's parameters (`AddInt8.parameters`) as the C
/// kernels take them, and where its other operand is.
final class Int8ResidualAdd: @unchecked Sendable {
    /// The other operand's value.
    let value: Int
    /// Which input of the Add the convolution's result is.
    let operand: Int
    let pair: cnnz_qs8_add
    let output: Int8StoreParameters
    /// From level `CNNZ_INT8_AVX2`, the Add as a linear form of its two bytes when one gives every
    /// pair's byte (`AddInt8.linearForm`), else nil: at level `CNNZ_INT8_AVX2` for `add`, at
    /// `CNNZ_INT8_AVX512` in the 512-bit VNNI GEMM's store (`gemm512`; mobile_res's p3 + Add
    /// 24.7 -> 18.2 us and p5 + Add 17.7 -> 14.5 us against the exact terms there, Zen 4).
    let linear: UnsafeMutablePointer<cnnz_qs8_add_linear>?

    /// `level`: the convolution's (`Int8GEMM.Variant.level`), which `add` is then called with.
    init(_ residual: ResidualAdd, value: Int, level: Int32) {
        self.value = value
        operand = residual.convolutionOperand
        let (zeroPoints, multipliers, shifts, store) = AddInt8.parameters(
            inputs: residual.inputQuantization, activation: residual.activation, output: residual.outputQuantization!)
        pair = AddInt8.pair(zeroPoints: zeroPoints, multipliers: multipliers, shifts: shifts)
        output = Int8StoreParameters(store)
        linear = AddInt8.linearForm(level: level, pair: pair, output: output).map {
            let form = UnsafeMutablePointer<cnnz_qs8_add_linear>.allocate(capacity: 1)
            form.initialize(to: $0)
            return form
        }
    }

    deinit { linear?.deallocate() }

    /// The Add of `count` results at `c + start` (in place) and the other operand's elements
    /// at the same offset.
    @inline(__always)
    func add(_ context: RunContext, level: Int32, to c: UnsafeMutablePointer<Int8>, from start: Int, count: Int) {
        let other = UnsafePointer(context.int8(value)) + start
        let result = c + start
        if level == CNNZ_INT8_AVX2, let form = linear {
            if operand == 0 {
                cnnz_qs8_add2_linear(level, count, result, other, form, result)
            } else {
                cnnz_qs8_add2_linear(level, count, other, result, form, result)
            }
            return
        }
        withUnsafePointer(to: pair) { p in
            withUnsafePointer(to: output.output) { out in
                if operand == 0 {
                    cnnz_qs8_add2(level, count, result, other, p, out, result)
                } else {
                    cnnz_qs8_add2(level, count, other, result, p, out, result)
                }
            }
        }
    }

    /// The 512-bit VNNI GEMM with the Add in its store; `c` is the output at element `start`,
    /// where the other operand's rows are read too.
    @inline(__always)
    func gemm512(
        _ context: RunContext, m: Int, a: UnsafePointer<UInt8>, lda: Int, weights: Int8PackedWeights,
        c: UnsafeMutablePointer<Int8>, ldc: Int, at start: Int
    ) {
        let packed = UnsafePointer(weights.panels.assumingMemoryBound(to: Int8.self))
        withUnsafePointer(to: output.output) { out in
            var residual = cnnz_qs8_residual(
                residual: UnsafePointer(context.int8(value)) + start, ldr: ldc, convolution_operand: Int32(operand),
                add: pair, out: out, linear: linear.map { UnsafePointer($0) })
            withUnsafePointer(to: weights.output) { stage in
                cnnz_qu8_gemm_vnni512_add(
                    m, weights.n, weights.kGroups, a, lda, packed, weights.stage, stage, &residual, c, ldc)
            }
        }
    }
}

/// An `Int8Store` as the C kernels' output stage: `count` columns of bias `bias` and the store's
/// multiplier and shift (the Add's: one column, bias 0).
final class Int8StoreParameters: @unchecked Sendable {
    private let columns: UnsafeMutablePointer<Int32>
    private let table: UnsafeMutablePointer<Int8>?
    let output: cnnz_qs8_output

    init(_ store: Int8Store, columns count: Int = 1, bias: Int32 = 0) {
        columns = .allocate(capacity: 3 * count)
        columns.initialize(repeating: bias, count: count)
        (columns + count).initialize(repeating: store.multiplier, count: count)
        (columns + 2 * count).initialize(repeating: store.shift, count: count)
        if let values = store.table {
            let t = UnsafeMutablePointer<Int8>.allocate(capacity: 256)
            for i in 0..<256 { t[i] = values[i] }
            table = t
        } else {
            table = nil
        }
        output = cnnz_qs8_output(
            bias: columns, multiplier: columns + count, shift: columns + 2 * count, zero_point: store.zeroPoint,
            min: store.bounds.lowerBound, max: store.bounds.upperBound, table: table.map { UnsafePointer($0) })
    }

    deinit {
        columns.deallocate()
        table?.deallocate()
    }
}

/// Int8 Concatenate along channels: each input requantized from its scale
/// and zero point to the output's (a copy when they are equal: the multiplier
/// 1 is exact).
final class ConcatenateInt8: RegisteredKernel {
    let operands: KernelOperands
    let zeroPoints: [Int32]
    let stores: [Int8Store]
    let scratchBytes = 0

    init(_ setup: KernelSetup) throws(CnnzError) {
        guard case .concatenate = setup.layer.kind, let output = setup.outputQuantization else {
            throw setup.mismatch
        }
        operands = setup.operands
        zeroPoints = setup.inputQuantization.map(\.zeroPoint)
        stores = setup.inputQuantization.map {
            Int8Store(
                realMultiplier: Double($0.scale) / Double(output.scale), activation: setup.layer.activation,
                output: output)
        }
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let count = batch * operands.outputShape.pixels
        return (items: count, work: count * operands.outputShape.channels)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let y = operands.outputShape
        let output = context.output(operands, as: Int8.self)
        let positions = Partition.range(context.batch * y.pixels, part: part, of: parts)
        var offset = 0
        for (n, (value, shape)) in zip(operands.inputs, operands.inputShapes).enumerated() {
            let input = UnsafePointer(context.int8(value))
            let c = shape.channels
            let store = stores[n]
            let zero = zeroPoints[n]
            for p in positions {
                let out = output + p * y.channels + offset
                let source = input + p * c
                for i in 0..<c { out[i] = store(Int32(source[i]) &- zero) }
            }
            offset += c
        }
    }
}

/// An int8 activation on its own (and a Flatten with one): a 256-entry table
/// from the input's quantization through the function to the output's.
final class ActivationInt8: RegisteredKernel {
    let operands: KernelOperands
    let table: [Int8]
    let scratchBytes = 0

    init(_ setup: KernelSetup) throws(CnnzError) {
        guard let output = setup.outputQuantization else { throw setup.mismatch }
        operands = setup.operands
        // The table covers the clamps too; its input is the input's quantization.
        table = Int8Activation.table(
            setup.layer.activation, input: setup.inputQuantization[0], output: output)
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let count = batch * operands.outputShape.elementCount
        return (items: (count + 1023) / 1024, work: count)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let count = context.batch * operands.outputShape.elementCount
        let blocks = Partition.range((count + 1023) / 1024, part: part, of: parts)
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Int8.self)
        table.withUnsafeBufferPointer { t in
            for i in (blocks.lowerBound * 1024)..<min(count, blocks.upperBound * 1024) {
                output[i] = t[Int(input[i]) + 128]
            }
        }
    }
}
