import Testing

@testable import Cnnz

/// Tensors that carry their element type and quantization, the byte-based
/// planner and the kernel registry (issue 14, step 1).
@Suite struct ElementTypeTests {
    /// A Dense 3 -> 2 model whose kernel is `kernel`.
    func denseModel(kernel: Tensor) -> ModelDescription {
        ModelDescription(
            name: "", labels: [], preprocessing: .identity,
            graph: Graph(
                inputShape: TensorShape(height: 1, width: 1, channels: 3),
                layers: [Layer(kind: .dense(units: 2, hasBias: false), inputs: [0], weights: [0])]),
            tensors: [kernel], selfTest: nil)
    }

    let int8Kernel = Tensor(
        shape: [3, 2], int8: [-128, -1, 0, 1, 2, 127],
        quantization: Quantization(scales: [0.5, 0.25], zeroPoints: [0, 0], axis: 1))

    @Test func floatValuesAreReadAndModifiedInPlace() {
        var tensor = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        #expect(tensor.elementType == .float32)
        #expect(tensor.byteCount == 16)
        let before = tensor.values.withUnsafeBufferPointer { $0.baseAddress }
        tensor.values[1] = 9
        let after = tensor.values.withUnsafeBufferPointer { $0.baseAddress }
        #expect(tensor.values == [1, 9, 3, 4])
        // The same buffer: the converter's element-by-element folding does not copy the array each time.
        #expect(before == after)
    }

    @Test func integerTensorsKeepTheirTypeAndQuantization() {
        var tensor = int8Kernel
        #expect(tensor.elementType == .int8)
        #expect(tensor.elementCount == 6)
        #expect(tensor.byteCount == 6)
        #expect(tensor.values.isEmpty)
        let bias = Tensor(shape: [2], int32: [7, -7], quantization: Quantization(scale: 0.125, zeroPoint: 0))
        #expect(bias.elementType == .int32)
        #expect(bias.byteCount == 8)
        // Assigning float values makes a float32 tensor without quantization.
        tensor.values = [1, 2, 3, 4, 5, 6]
        #expect(tensor.elementType == .float32)
        #expect(tensor.quantization == nil)
    }

    @Test func quantizationIsValidatedWithTheTensor() throws {
        try denseModel(kernel: int8Kernel).validate()
        func expectError(_ tensor: Tensor, _ message: String) {
            #expect(throws: CnnzError.format(message)) { try denseModel(kernel: tensor).validate() }
        }
        var tensor = int8Kernel
        tensor.quantization?.axis = 0
        expectError(tensor, "tensor 0 has 2 scales and 2 zero points; its quantization needs 3 of each")
        tensor.quantization?.axis = 2
        expectError(tensor, "tensor 0 is quantized along axis 2, but its shape [3, 2] has no such axis")
        tensor = int8Kernel
        tensor.quantization?.scales[1] = 0
        expectError(tensor, "tensor 0 scale 1 is 0.0, not a positive finite number")
        tensor = int8Kernel
        tensor.quantization?.zeroPoints[0] = 128
        expectError(tensor, "tensor 0 zero point 0 is 128, outside int8's range")
        tensor = int8Kernel
        tensor.quantization = nil
        expectError(tensor, "tensor 0 is int8 without a quantization")
        var float = Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6])
        float.quantization = Quantization(scale: 1, zeroPoint: 0)
        expectError(float, "tensor 0 is float32 but has a quantization")
        tensor = int8Kernel
        tensor.storage = .int8([1, 2])
        expectError(tensor, "tensor 0 has 2 values, its shape [3, 2] needs 6")
    }

    @Test func intWeightsInAFloatModelAreDequantizedAtLoadAndStoredAsVersion2() throws {
        let int8Model = try Model(denseModel(kernel: int8Kernel))
        let floatModel = try Model(denseModel(kernel: int8Kernel.dequantized))
        #expect(int8Model.precision == .weightsInt8)
        #expect(floatModel.precision == .float32)
        let input: [Float] = [0.5, -1, 2]
        #expect(try int8Model.predict(input) == floatModel.predict(input))
        let bytes = try ModelWriter.encode(denseModel(kernel: int8Kernel))
        #expect(ModelReader.headerInfo(bytes)?.version == 2)
        #expect(try ModelReader.decode(bytes) == denseModel(kernel: int8Kernel))
        #expect(
            ModelReader.headerInfo(try ModelWriter.encode(denseModel(kernel: int8Kernel.dequantized)))?.version == 1)
    }

    @Test func everyOperatorHasAFloat32Kernel() {
        for op in Operator.allCases {
            let float32 = KernelRegistry.all.filter { $0.op == op && $0.input == .float32 }
            #expect(!float32.isEmpty, "\(op)")
            #expect(float32.allSatisfy { $0.output == .float32 }, "\(op)")
        }
        // A kernel is registered once per (operator, input type); specialised
        // kernels for one operator sit above its general one.
        let keys = KernelRegistry.all.map { "\($0.op) \($0.input) \($0.kernel)" }
        #expect(Set(keys).count == keys.count)
    }

    /// Sizes in bytes, rounded to 64: int8 activations of 10 and 3 bytes share
    /// memory (their lifetimes do not meet) beside a 100-byte one.
    @Test func thePlannerPlacesBytes() {
        let (offsets, total) = BufferPlanner.plan([
            .init(bytes: 10, firstStep: 0, lastStep: 1),
            .init(bytes: 100, firstStep: 1, lastStep: 2),
            .init(bytes: 3, firstStep: 2, lastStep: 3),
        ])
        #expect(offsets == [128, 0, 128])
        #expect(total == 192)
    }

    @Test func aFloatModelsValuesAreFloat32At64ByteOffsets() throws {
        let conv = LayerKind.conv2D(
            window: Window(kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: .same),
            filters: 4, groups: 1, hasBias: false)
        let description = ModelDescription(
            name: "", labels: [], preprocessing: .identity,
            graph: Graph(
                inputShape: TensorShape(height: 5, width: 5, channels: 3),
                layers: [
                    Layer(kind: conv, inputs: [0], weights: [0]), Layer(kind: .flatten, inputs: [1]),
                    Layer(kind: .dense(units: 2, hasBias: false), inputs: [2], weights: [1]),
                ]),
            tensors: [
                Tensor(shape: [3, 3, 3, 4], values: .init(repeating: 0.5, count: 108)),
                Tensor(shape: [100, 2], values: .init(repeating: 0.25, count: 200)),
            ], selfTest: nil)
        let model = try Model(description)
        #expect(model.plan.elementTypes == [.float32, .float32, .float32, .float32])
        #expect(model.plan.offsets.dropFirst().allSatisfy { $0 >= 0 && $0 % 64 == 0 })
        // The convolution's 5x5x4 floats (400 bytes, 448 rounded) and the Dense output (8 bytes, 64) are both alive.
        #expect(model.activationBytesPerImage == 512)
        #expect(model.plan.offsets[1] == model.plan.offsets[2])
        #expect(model.plan.kernels.count == 2)
    }
}
