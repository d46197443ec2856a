import CCnnzHeader
import CnnzCABI
import Foundation
import MallocInterposerSwift
import Synchronization
import Testing

@testable import Cnnz
@testable import CnnzConvert

/// True when AddressSanitizer's allocator replaces malloc: the interposer then counts nothing.
// nil is RTLD_DEFAULT on glibc: look the symbol up in the whole process.
private let addressSanitizerIsActive = dlsym(nil, "__asan_init") != nil

/// Running a prepared session must not allocate (TFLM's prepare/eval rule).
@Suite(.serialized, .disabled(if: addressSanitizerIsActive, "AddressSanitizer replaces the malloc being counted"))
struct AllocationTests {
    static func countMallocs(_ body: () throws -> Void) rethrows -> Int {
        MallocInterposerSwift.initialize()
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        defer { MallocInterposerSwift.unhook() }
        try body()
        return MallocInterposerSwift.getStatistics().mallocCount
    }

    /// The mallocs of `body` on the calling thread alone: the interposer's counters are
    /// process-wide, and other tests allocate on their own threads meanwhile.
    static func countMallocsOnThisThread(_ body: () throws -> Void) rethrows -> Int {
        countedThread = pthread_self()
        countedThreadMallocs = 0
        // Runs inside the allocator on the allocating thread: it must not allocate.
        MallocInterposerSwift.setAllocationHook { _ in
            if pthread_equal(pthread_self(), countedThread) != 0 { countedThreadMallocs += 1 }
        }
        defer { MallocInterposerSwift.setAllocationHook(nil) }
        _ = try countMallocs(body)
        return countedThreadMallocs
    }

    @Test func runningASessionAllocatesNothing() throws {
        // The counter must see allocations at all, or a zero below would prove nothing.
        let control = Self.countMallocs {
            let array = [Float](repeating: 1, count: 1000 + Int.random(in: 0..<10))
            #expect(array.count >= 1000)
        }
        #expect(control >= 1, "the malloc counter is not active in this process")

        var models: [(String, [UInt8])] = []
        for name in ["tiny-graph", "tiny"] {
            let json = try Fixtures.bytes("\(name).json")
            models.append((name, try Converter.convertToCNNZ(json: json).1))
            // The int8 model of the same graph (issue 14): quantize, int8 kernels, dequantize, softmax.
            let calibration = Converter.Quantization.int8(method: .minMax) { model throws(CnnzError) in
                var rng = SplitMix64(seed: 8)
                return ([Float].random(8 * model.inputShape.elementCount, &rng), 8)
            }
            models.append(("\(name) int8", try Converter.convertToCNNZ(json: json, quantization: calibration).1))
        }
        models.append(("winograd", try ModelWriter.encode(Self.winogradModel())))
        models.append(("residual", try ModelWriter.encode(Self.residualModel())))
        models.append(("int8 winograd", try ModelWriter.encode(Self.int8WinogradModel())))
        models.append(("int8 dense", try ModelWriter.encode(Self.int8DenseModel())))
        // A depthwise and a pointwise convolution run as one task per band (`JoinedLayers`): 6 rows,
        // 2 or 1 images in 3 parts, the same bands of pixels.
        var rng = SplitMix64(seed: 11)
        models.append(
            (
                "joined",
                try ModelWriter.encode(
                    JoinedLayersTests.description(
                        TensorShape(height: 6, width: 4, channels: 8), stride: 1, multiplier: 1, filters: 16,
                        residual: true, rng: &rng))
            ))
        // Three threads, and every layer split (a batch capacity below the thread count), then
        // batches split by images: handing parts to helpers allocates nothing either; and one
        // thread running a batch of more than 8 images in groups.
        let variants = models + models.map { ("\($0.0) by images", $0.1) } + models.map { ("\($0.0) in groups", $0.1) }
        // The int8 Winograd runs only with the int16 variants: a VNNI CPU's own variant keeps
        // `Conv2DInt8`, so that model is loaded with the int16 variant this CPU has.
        let int16Variant: Int8GEMM.Variant = Int8GEMM.available.contains(.avx2) ? .avx2 : .portable
        for (name, bytes) in variants {
            let model = try Int8GEMM.$forced.withValue(name.hasPrefix("int8 winograd") ? int16Variant : nil) {
                try Model(bytes: bytes)
            }
            if name.hasPrefix("winograd") {
                #expect(model.plan.kernels.filter { $0 is Conv2DWinograd }.count == 2, "winograd: not run by Winograd")
            }
            if name.hasPrefix("int8 winograd") {
                #expect(model.plan.kernels.contains { $0 is Conv2DInt8Winograd }, "int8 winograd: not run by it")
            }
            if name.hasPrefix("residual") || name.hasPrefix("tiny-graph int8") {
                #expect(model.plan.kernelFusedLayers.contains { $0 != nil }, "\(name): no Add fused")
            }
            #expect(model.precision == (name.contains("int8") ? .int8 : .float32))
            let byImages = name.hasSuffix("by images")
            let inGroups = name.hasSuffix("in groups")
            let session =
                inGroups
                ? try model.makeSession(batchCapacity: 12, threads: 1)
                : try model.makeSession(batchCapacity: byImages ? 6 : 2, threads: 3, minimumWorkPerPart: 1)
            #expect((session.lanes != nil) == byImages)
            if name == "joined" {
                // Every layer split: the pair runs joined (the session's own choice varies).
                session.fixedSplit = .every
                #expect(session.joins.contains { $0 != nil }, "joined: no pair")
            }
            if name == "int8 dense" {
                // Every layer split: the Dense layer's 1 or 2 rows by panels of columns.
                session.fixedSplit = .every
                let dense = model.plan.kernels.lazy.compactMap { $0 as? DenseInt8 }.first
                #expect(dense?.convolution.columnShare(rows: 2, part: 2, of: 3) != nil, "int8 dense: not by columns")
            }
            let batch = inGroups ? 11 : 5
            let input = [Float](repeating: 0.5, count: batch * model.inputShape.elementCount)
            let pixels = [UInt8](repeating: 7, count: 3 * model.inputShape.elementCount)
            var output = [Float](repeating: 0, count: batch * model.outputSize)
            try input.withUnsafeBufferPointer { i in
                try pixels.withUnsafeBufferPointer { p in
                    try output.withUnsafeMutableBufferPointer { o in
                        try session.run(input: i, batch: batch, output: o)  // warm-up
                        // The counter is process-wide and other tests run in parallel, so a
                        // window may see their mallocs. Runs allocate deterministically: if one
                        // window of 40 runs sees no malloc at all, running allocates nothing.
                        var count = Int.max
                        for _ in 0..<3000 where count > 0 {
                            count = min(
                                count,
                                try Self.countMallocs {
                                    for _ in 0..<20 {
                                        try session.run(input: i, batch: batch, output: o)
                                        try session.run(pixels: p, batch: 3, output: o)
                                    }
                                })
                            if count > 0 { usleep(10_000) }
                        }
                        #expect(count == 0, "\(name): at least \(count) mallocs in every window of 40 runs")
                    }
                }
            }
        }
    }

    /// An int8 3x3 convolution that `Conv2DInt8Winograd` runs: 7x9x20 to 24 filters, "same".
    /// An int8 Dense layer of 5 panels of 16 columns: 1 or 2 rows on 3 threads split by columns
    /// (`Conv2DInt8.columnShare`).
    static func int8DenseModel() -> ModelDescription {
        var rng = SplitMix64(seed: 12)
        let (inputs, units) = (40, 70)
        let tensors = Int8KernelTests.perChannelTensors(
            kernelShape: [inputs, units],
            weights: (0..<(inputs * units)).map { _ in Int8.random(in: -127...127, using: &rng) },
            weightScales: .init(repeating: 0.01, count: units), bias: .init(repeating: 100, count: units),
            inputScale: 0.02)
        let layer = Layer(
            kind: .dense(units: units, hasBias: true), activation: .plainReLU, inputs: [0], weights: [0, 1])
        return Int8KernelTests.model(
            input: TensorShape(height: 1, width: 1, channels: inputs),
            ActivationQuantization(scale: 0.02, zeroPoint: -3), layers: [layer], tensors: tensors,
            outputs: [ActivationQuantization(scale: 0.05, zeroPoint: -128)])
    }

    static func int8WinogradModel() -> ModelDescription {
        var rng = SplitMix64(seed: 10)
        let (channels, filters) = (20, 24)
        let tensors = Int8KernelTests.perChannelTensors(
            kernelShape: [3, 3, channels, filters],
            weights: (0..<(9 * channels * filters)).map { _ in Int8.random(in: -127...127, using: &rng) },
            weightScales: .init(repeating: 0.01, count: filters), bias: .init(repeating: 100, count: filters),
            inputScale: 0.02)
        let layer = Layer(
            kind: .conv2D(
                window: Window(kernelHeight: 3, kernelWidth: 3, padding: .same), filters: filters, groups: 1,
                hasBias: true),
            activation: .plainReLU, inputs: [0], weights: [0, 1])
        return Int8KernelTests.model(
            input: TensorShape(height: 7, width: 9, channels: channels),
            ActivationQuantization(scale: 0.02, zeroPoint: -3), layers: [layer], tensors: tensors,
            outputs: [ActivationQuantization(scale: 0.05, zeroPoint: -128)])
    }

    /// Two 3x3 convolutions that `Conv2DWinograd` runs: F(4x4, 3x3) on 8x9, then F(2x2, 3x3) to 6x7 (valid).
    static func winogradModel() -> ModelDescription {
        var rng = SplitMix64(seed: 9)
        let same = Window(kernelHeight: 3, kernelWidth: 3, padding: .same)
        let valid = Window(kernelHeight: 3, kernelWidth: 3, padding: .valid)
        let tensors = [
            Tensor(shape: [3, 3, 12, 20], values: .random(9 * 12 * 20, &rng)),
            Tensor(shape: [20], values: .random(20, &rng)),
            Tensor(shape: [3, 3, 20, 9], values: .random(9 * 20 * 9, &rng)),
        ]
        let layers = [
            Layer(
                kind: .conv2D(window: same, filters: 20, groups: 1, hasBias: true), activation: .plainReLU,
                inputs: [0], weights: [0, 1]),
            Layer(
                kind: .conv2D(window: valid, filters: 9, groups: 1, hasBias: false), activation: .linear,
                inputs: [1], weights: [2]),
        ]
        return ModelDescription(
            name: "winograd", labels: [], preprocessing: .identity,
            graph: Graph(inputShape: TensorShape(height: 8, width: 9, channels: 12), layers: layers),
            tensors: tensors, selfTest: nil)
    }

    /// A pointwise convolution (linear, 16 filters: `Conv2DIm2ColGEMM`) whose Add is fused into it.
    static func residualModel() -> ModelDescription {
        var rng = SplitMix64(seed: 10)
        let pointwise = LayerKind.conv2D(
            window: Window(kernelHeight: 1, kernelWidth: 1), filters: 16, groups: 1, hasBias: true)
        let tensors = (0..<2).flatMap { _ in
            [
                Tensor(shape: [1, 1, 16, 16], values: .random(256, &rng)),
                Tensor(shape: [16], values: .random(16, &rng)),
            ]
        }
        let layers = [
            Layer(kind: pointwise, activation: .plainReLU, inputs: [0], weights: [0, 1]),
            Layer(kind: pointwise, activation: .linear, inputs: [1], weights: [2, 3]),
            Layer(kind: .add, activation: .relu(maxValue: 6, negativeSlope: 0, threshold: 0), inputs: [1, 2]),
        ]
        return ModelDescription(
            name: "residual", labels: [], preprocessing: .identity,
            graph: Graph(inputShape: TensorShape(height: 5, width: 6, channels: 16), layers: layers),
            tensors: tensors, selfTest: nil)
    }

    @Test func cnnzRunThroughTheCABIAllocatesNothing() throws {
        let bytes = try Converter.convertToCNNZ(json: try Fixtures.bytes("tiny-graph.json")).1
        var model: OpaquePointer?
        #expect(bytes.withUnsafeBytes { cnnz_model_load_memory($0.baseAddress, $0.count, &model) } == CNNZ_OK)
        defer { cnnz_model_free(model) }
        var session: OpaquePointer?
        // Two threads: handing a layer to a helper allocates nothing either.
        #expect(cnnz_session_create_with(model, 2, 2, &session) == CNNZ_OK)
        defer { cnnz_session_free(session) }
        let input = [Float](repeating: 0.25, count: 3 * 6 * 7 * 3)
        let pixels = [UInt8](repeating: 9, count: 3 * 6 * 7 * 3)
        var output = [Float](repeating: 0, count: 9)
        var count = Int.max
        // Every counted call must succeed: a call refused early would allocate nothing and prove nothing.
        var failures = 0
        input.withUnsafeBufferPointer { i in
            pixels.withUnsafeBufferPointer { p in
                output.withUnsafeMutableBufferPointer { o in
                    #expect(cnnz_run(session, i.baseAddress, i.count, 3, o.baseAddress, 9) == CNNZ_OK)
                    for _ in 0..<3000 where count > 0 {
                        count = min(
                            count,
                            Self.countMallocs {
                                for _ in 0..<20 {
                                    if cnnz_run(session, i.baseAddress, i.count, 3, o.baseAddress, 9) != CNNZ_OK {
                                        failures += 1
                                    }
                                    if cnnz_run_u8(session, p.baseAddress, p.count, 3, o.baseAddress, 9) != CNNZ_OK {
                                        failures += 1
                                    }
                                }
                            })
                        if count > 0 { usleep(10_000) }
                    }
                }
            }
        }
        #expect(failures == 0, "\(failures) counted calls failed: \(String(cString: cnnz_last_error()))")
        #expect(count == 0, "at least \(count) mallocs in every window of 40 cnnz_run calls")
    }

    /// cnnz_classify_images and cnnz_classify_image allocate, after a session's first call, only what
    /// decoding and preparing each image takes (the decoded pixels, the prepared input): a call of
    /// 5 images (passes of 2, 2 and 1) counts 5 times the mallocs of decoding and preparing one image
    /// alone, and a call of one image once. They allocated an array of errors, a pass of input and
    /// outputs, and cnnz_classify_image the offsets of its one image, on every call.
    @Test func classifyingImagesAllocatesOnlyWhatDecodingTakes() throws {
        let bytes = try Converter.convertToCNNZ(json: try Fixtures.bytes("tiny-graph.json")).1
        let swiftModel = try Model(bytes: bytes)
        var model: OpaquePointer?
        #expect(bytes.withUnsafeBytes { cnnz_model_load_memory($0.baseAddress, $0.count, &model) } == CNNZ_OK)
        defer { cnnz_model_free(model) }
        var session: OpaquePointer?
        #expect(cnnz_session_create_with(model, 2, 1, &session) == CNNZ_OK)
        defer { cnnz_session_free(session) }
        // A binary PPM of the model's size (no resize): decoded without libpng or libjpeg.
        let shape = swiftModel.inputShape
        #expect(shape.channels == 3)
        let image =
            Array("P6\n\(shape.width) \(shape.height)\n255\n".utf8)
            + (0..<shape.elementCount).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let count = 5
        let data = (0..<count).flatMap { _ in image }
        let offsets = (0...count).map { $0 * image.count }
        var output = [Float](repeating: 0, count: count * swiftModel.outputSize)
        var statuses = [cnnz_status](repeating: CNNZ_OK, count: count)
        var failures = 0
        // The fewest mallocs on this thread of 20 repetitions of `body` in any of 5 windows (the
        // session runs on this thread alone: one thread); a one-time allocation is in 1 window.
        func fewest(_ body: () -> Void) -> Int {
            (0..<5).map { _ in Self.countMallocsOnThisThread { for _ in 0..<20 { body() } } }.min()!
        }
        // Another thread allocating all the while, as other tests running in parallel do: counted
        // process-wide, no window of this test was free of them on a busy CI machine.
        let noise = AllocatingThread()
        defer { noise.stop() }
        data.withUnsafeBytes { all in
            let decodeAndPrepare = fewest {
                guard let image = try? Session.decodeEncoded(UnsafeRawBufferPointer(rebasing: all[0..<image.count]))
                else { return failures += 1 }
                if swiftModel.prepare(image).input.count != shape.elementCount { failures += 1 }
            }
            #expect(decodeAndPrepare > 0)
            offsets.withUnsafeBufferPointer { offsets in
                output.withUnsafeMutableBufferPointer { out in
                    statuses.withUnsafeMutableBufferPointer { statuses in
                        let (out, statuses) = (out, statuses)
                        func several() {
                            let status = cnnz_classify_images(
                                session, all.baseAddress, all.count, offsets.baseAddress, count, out.baseAddress,
                                out.count, statuses.baseAddress)
                            if status != CNNZ_OK { failures += 1 }
                        }
                        func one() {
                            let status = cnnz_classify_image(
                                session, all.baseAddress, image.count, out.baseAddress, out.count)
                            if status != CNNZ_OK { failures += 1 }
                        }
                        several()  // the session's first call allocates its pass of outputs
                        let manyImages = fewest(several)
                        let oneImage = fewest(one)
                        #expect(
                            manyImages == count * decodeAndPrepare,
                            "cnnz_classify_images: \(manyImages) mallocs in 20 calls of \(count) images, decoding and preparing 20 images alone \(decodeAndPrepare)"
                        )
                        #expect(
                            oneImage == decodeAndPrepare,
                            "cnnz_classify_image: \(oneImage) mallocs in 20 calls, decoding and preparing 20 images alone \(decodeAndPrepare)"
                        )
                    }
                }
            }
        }
        #expect(failures == 0, "\(failures) counted calls failed: \(String(cString: cnnz_last_error()))")
        #expect(statuses.allSatisfy { $0 == CNNZ_OK })
    }
}

/// The thread whose mallocs `countMallocsOnThisThread` counts, and their count (file-scope
/// values: the allocation hook is a C function pointer and captures nothing).
nonisolated(unsafe) private var countedThread = pthread_t()
nonisolated(unsafe) private var countedThreadMallocs = 0

/// A thread that allocates until stopped: a measurement of one thread's mallocs must not see it.
final class AllocatingThread: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let done = Atomic<Bool>(false)

    init() {
        Thread.detachNewThread { [self] in
            var sink = 0
            while !stopped.load(ordering: .relaxed) {
                sink &+= [Int](repeating: sink, count: 16 + sink & 7).count
            }
            done.store(true, ordering: .releasing)
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        while !done.load(ordering: .acquiring) { usleep(100) }
    }
}
