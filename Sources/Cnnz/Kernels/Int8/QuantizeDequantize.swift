import CInt8Kernels

/// Float32 to int8 at an int8 model's edges (its input, and after a layer
/// that ran in float): `q = clamp(round(x / scale) + zeroPoint)`, rounding
/// half away from zero as TensorFlow Lite; NaN becomes the zero point. With
/// AVX2 or AVX-512, 8 or 16 at a time in C (`cnnz_qs8_quantize`, the same bits).
final class QuantizeKernel: Kernel {
    let operands: KernelOperands
    let scale: Float
    let zeroPoint: Float
    let scratchBytes = 0
    let level = Int8GEMM.selected.level

    init(operands: KernelOperands, quantization: ActivationQuantization) {
        self.operands = operands
        scale = quantization.scale
        zeroPoint = Float(quantization.zeroPoint)
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let count = batch * operands.outputShape.elementCount
        return (items: (count + 1023) / 1024, work: count)
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let count = context.batch * operands.outputShape.elementCount
        let blocks = Partition.range((count + 1023) / 1024, part: part, of: parts)
        let input = UnsafePointer(context.float32(operands.input))
        let output = context.output(operands, as: Int8.self)
        let start = blocks.lowerBound * 1024
        let end = min(count, blocks.upperBound * 1024)
        guard start < end else { return }
        if level != CNNZ_INT8_PORTABLE {
            cnnz_qs8_quantize(level, end - start, input + start, scale, zeroPoint, output + start)
            return
        }
        for i in start..<end {
            output[i] = Self.quantize(input[i], scale: scale, zeroPoint: zeroPoint)
        }
    }

    @inline(__always) static func quantize(_ x: Float, scale: Float, zeroPoint: Float) -> Int8 {
        let q = (x / scale).rounded(.toNearestOrAwayFromZero) + zeroPoint
        guard q == q else { return Int8(zeroPoint) }
        return Int8(Swift.min(Swift.max(q, -128), 127))
    }
}

/// Int8 to float32: `x = scale * (q - zeroPoint)`, where a layer without an
/// int8 kernel reads an int8 value and at the model's output; with `softmax`,
/// the softmax of each position's dequantized values (softmax runs in float).
final class DequantizeKernel: Kernel {
    let operands: KernelOperands
    let scale: Float
    let zeroPoint: Int32
    let softmax: Bool
    let scratchBytes = 0

    init(operands: KernelOperands, quantization: ActivationQuantization, softmax: Bool) {
        self.operands = operands
        scale = quantization.scale
        zeroPoint = quantization.zeroPoint
        self.softmax = softmax
    }

    func workload(batch: Int) -> (items: Int, work: Int) {
        let positions = batch * operands.outputShape.pixels
        return (items: positions, work: positions * operands.outputShape.channels * (softmax ? 8 : 1))
    }

    func run(_ context: RunContext, part: Int, of parts: Int) {
        let channels = operands.outputShape.channels
        let positions = Partition.range(context.batch * operands.outputShape.pixels, part: part, of: parts)
        let input = UnsafePointer(context.int8(operands.input))
        let output = context.output(operands, as: Float.self)
        for p in positions {
            let row = output + p * channels
            for c in 0..<channels { row[c] = Float(Int32(input[p * channels + c]) - zeroPoint) * scale }
            if softmax { ActivationFunction.softmax(row, count: channels) }
        }
    }
}
