/// Zero padding around the spatial axes.
final class ZeroPadding2D: Kernel {
    let operands: KernelOperands
    let top: Int
    let left: Int
    let activation: Activation
    let scratchFloats = 0

    init(operands: KernelOperands, top: Int, left: Int, activation: Activation) {
        self.operands = operands
        self.top = top
        self.left = left
        self.activation = activation
    }

    func run(_ context: RunContext) {
        let x = operands.inputShape
        let y = operands.outputShape
        let input = UnsafePointer(context.values[operands.input])
        let output = context.values[operands.output]
        output.update(repeating: 0, count: context.batch * y.elementCount)
        let rowFloats = x.width * x.channels
        for image in 0..<context.batch {
            for row in 0..<x.height {
                (output + image * y.elementCount + ((row + top) * y.width + left) * y.channels).update(
                    from: input + image * x.elementCount + row * rowFloats, count: rowFloats)
            }
        }
        ActivationFunction.apply(
            activation, to: output, rows: context.batch * y.pixels, columns: y.channels, stride: y.channels)
    }
}

/// The sum of two or more tensors of one shape.
final class AddKernel: Kernel {
    let operands: KernelOperands
    let activation: Activation
    let scratchFloats = 0

    init(operands: KernelOperands, activation: Activation) {
        self.operands = operands
        self.activation = activation
    }

    func run(_ context: RunContext) {
        let count = context.batch * operands.outputShape.elementCount
        let output = context.values[operands.output]
        let first = UnsafePointer(context.values[operands.inputs[0]])
        let vectorEnd = count & ~7
        for index in 1..<operands.inputs.count {
            let a = index == 1 ? first : UnsafePointer(output)
            let b = UnsafePointer(context.values[operands.inputs[index]])
            var i = 0
            while i < vectorEnd {
                output.store8(a.vector8(i) + b.vector8(i), i)
                i += 8
            }
            while i < count {
                output[i] = a[i] + b[i]
                i += 1
            }
        }
        let channels = operands.outputShape.channels
        ActivationFunction.apply(activation, to: output, rows: count / channels, columns: channels, stride: channels)
    }
}

/// Joins tensors along channels, in input order.
final class ConcatenateKernel: Kernel {
    let operands: KernelOperands
    let activation: Activation
    let scratchFloats = 0

    init(operands: KernelOperands, activation: Activation) {
        self.operands = operands
        self.activation = activation
    }

    func run(_ context: RunContext) {
        let y = operands.outputShape
        let output = context.values[operands.output]
        let positions = context.batch * y.pixels
        var offset = 0
        for (value, shape) in zip(operands.inputs, operands.inputShapes) {
            let input = UnsafePointer(context.values[value])
            let c = shape.channels
            for p in 0..<positions {
                (output + p * y.channels + offset).update(from: input + p * c, count: c)
            }
            offset += c
        }
        ActivationFunction.apply(activation, to: output, rows: positions, columns: y.channels, stride: y.channels)
    }
}

/// `y = x * scale[c] + shift[c]`: a batch normalization that could not be folded.
final class ChannelAffineKernel: Kernel {
    let operands: KernelOperands
    let activation: Activation
    let scale: [Float]
    let shift: [Float]
    let scratchFloats = 0

    init(operands: KernelOperands, activation: Activation, scale: Tensor, shift: Tensor) {
        self.operands = operands
        self.activation = activation
        self.scale = scale.values
        self.shift = shift.values
    }

    func run(_ context: RunContext) {
        let channels = operands.outputShape.channels
        let positions = context.batch * operands.outputShape.pixels
        let input = UnsafePointer(context.values[operands.input])
        let output = context.values[operands.output]
        scale.withUnsafeBufferPointer { s in
            shift.withUnsafeBufferPointer { t in
                for p in 0..<positions {
                    let row = p * channels
                    for c in 0..<channels { output[row + c] = input[row + c] * s[c] + t[c] }
                }
            }
        }
        ActivationFunction.apply(activation, to: output, rows: positions, columns: channels, stride: channels)
    }
}

/// An activation on its own.
final class ActivationKernel: Kernel {
    let operands: KernelOperands
    let activation: Activation
    let scratchFloats = 0

    init(operands: KernelOperands, activation: Activation) {
        self.operands = operands
        self.activation = activation
    }

    func run(_ context: RunContext) {
        let channels = operands.outputShape.channels
        let positions = context.batch * operands.outputShape.pixels
        let output = context.values[operands.output]
        let input = UnsafePointer(context.values[operands.input])
        if UnsafePointer(output) != input { output.update(from: input, count: positions * channels) }
        ActivationFunction.apply(activation, to: output, rows: positions, columns: channels, stride: channels)
    }
}
