import CInt8Kernels
import Testing

@testable import Cnnz

/// Int8 global pooling (`GlobalPool2DInt8`): its reduction `cnnz_qs8_channel_reduce` at every
/// level this CPU has against a plain loop (channel counts around the vectors of 16, 32 and 64,
/// one pixel to a few hundred, sums and maxima), and whole layers of many channels against
/// `Int8Reference.globalPool` with every variant and 1 and 3 threads (`Int8KernelTests` covers
/// 1 to 40 channels beside the windowed pooling).
@Suite struct Int8GlobalPoolTests {
    @Test func channelReduceMatchesAPlainLoop() {
        var rng = SplitMix64(seed: 6174)
        for trial in 0..<60 {
            let channels =
                trial % 3 == 0
                ? [1, 15, 17, 31, 33, 63, 65, 127, 129, 256, 300][trial / 3 % 11] : Int.random(in: 1...200, using: &rng)
            let many = trial % 5 == 0 || trial % 4 == 2
            let pixels = many ? Int.random(in: 200...400, using: &rng) : Int.random(in: 1...40, using: &rng)
            let isMax = trial % 2 == 1
            // Every other trial: values near one end, for the sums with 200 to 400 pixels (past the
            // AVX-512 kernel's int16 runs of 256 pixels, either sign).
            let extreme: ClosedRange<Int8> = trial % 8 >= 4 ? -128 ... -121 : 120...127
            let x = (0..<(pixels * channels)).map { _ in
                trial % 4 >= 2 ? Int8.random(in: extreme, using: &rng) : Int8.random(in: .min ... .max, using: &rng)
            }
            var expected = [Int32](repeating: isMax ? -128 : 0, count: channels)
            for p in 0..<pixels {
                for j in 0..<channels {
                    let v = Int32(x[p * channels + j])
                    expected[j] = isMax ? max(expected[j], v) : expected[j] &+ v
                }
            }
            for level in Set(Int8GEMM.available.map(\.level)).sorted() {
                // One past the end must stay untouched.
                var acc = [Int32](repeating: 0x5555, count: channels + 1)
                cnnz_qs8_channel_reduce(level, pixels, channels, x, isMax ? 1 : 0, &acc)
                #expect(
                    Array(acc.prefix(channels)) == expected && acc[channels] == 0x5555,
                    "level \(level) trial \(trial) pixels \(pixels) channels \(channels) max \(isMax)")
            }
        }
    }

    @Test func layersOfManyChannelsMatchTheReference() throws {
        var rng = SplitMix64(seed: 2718)
        for trial in 0..<12 {
            let shape = TensorShape(
                height: Int.random(in: 1...7, using: &rng), width: Int.random(in: 1...7, using: &rng),
                channels: [48, 64, 65, 100, 129, 256][trial % 6])
            let isMax = trial % 4 == 3
            let inScale = Float.random(in: 0.01...0.05, using: &rng)
            let input = Int8KernelTests.activation(
                shape, batch: Int.random(in: 1...3, using: &rng), zeroPoint: Int8KernelTests.zeroPoint(&rng),
                scale: inScale, &rng)
            let outScale = Float.random(in: 0.005...0.05, using: &rng)
            let outZero = Int8KernelTests.zeroPoint(&rng)
            let kind: LayerKind = isMax ? .globalMaxPool2D(keepDims: false) : .globalAveragePool2D(keepDims: false)
            let m = Int8KernelTests.model(
                input: shape, ActivationQuantization(scale: inScale, zeroPoint: input.zeroPoint),
                layers: [Layer(kind: kind, inputs: [0])],
                outputs: [ActivationQuantization(scale: outScale, zeroPoint: outZero)])
            let expected = Int8Reference.globalPool(
                input, max: isMax, outputScale: Double(outScale), outputZeroPoint: outZero
            ).values
            for (threads, variant) in Int8KernelTests.runs {
                #expect(
                    try Int8KernelTests.run(m, input, threads: threads, variant: variant) == expected,
                    "trial \(trial) \(kind) shape \(shape) batch \(input.batch) threads \(threads) \(variant)")
            }
        }
    }
}
