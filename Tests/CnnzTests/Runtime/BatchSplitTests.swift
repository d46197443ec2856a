import Foundation
import Synchronization
import Testing

@testable import Cnnz
@testable import CnnzConvert

/// How a session shares a run between threads: a batch by images (`BatchLanes`),
/// batch 1 by layers, and the pool's claims under both. Outputs must be the same to
/// the bit for every thread count, batch size, batch capacity and split.
@Suite struct BatchSplitTests {
    /// The fixture graphs in float32 and int8, and the two example models (a CNN and a VGG with
    /// batch normalization, pooling and Dense layers).
    static func models() throws -> [(String, Model)] {
        var models: [(String, Model)] = []
        for name in ["tiny-graph", "tiny"] {
            let json = try Fixtures.bytes("\(name).json")
            models.append((name, try Model(bytes: try Converter.convertToCNNZ(json: json).1)))
            let calibration = Converter.Quantization.int8(method: .minMax) { model throws(CnnzError) in
                var rng = SplitMix64(seed: 8)
                return ([Float].random(8 * model.inputShape.elementCount, &rng), 8)
            }
            models.append(
                ("\(name) int8", try Model(bytes: try Converter.convertToCNNZ(json: json, quantization: calibration).1))
            )
        }
        for name in ["fashion-mnist-small", "fashion-mnist-vgg-int8"] {
            let url = Fixtures.repository.appendingPathComponent("Examples/\(name).cnnz")
            models.append((name, try Model(bytes: [UInt8](try Data(contentsOf: url)))))
        }
        return models
    }

    /// Every image of a batch, on 1, 2 and 3 threads, split by images and by layers, with batch
    /// capacities that divide the batch, do not, and are below the thread count: the outputs of
    /// one thread running the images one by one, to the bit.
    @Test func everySplitGivesTheOutputsOfOneThreadImageByImage() throws {
        for (name, model) in try Self.models() {
            var rng = SplitMix64(seed: 15)
            let batch = 11
            let perImage = model.inputShape.elementCount
            let x = [Float].random(batch * perImage, &rng)
            let single = try model.makeSession(batchCapacity: 1, threads: 1)
            var expected: [Float] = []
            for i in 0..<batch {
                expected += try single.run(Array(x[(i * perImage)..<((i + 1) * perImage)]))
            }
            for threads in [1, 2, 3] {
                for capacity in [1, 2, 3, 11] {
                    for splitBatches in [true, false] {
                        let session = try model.makeSession(
                            batchCapacity: capacity, threads: threads, minimumWorkPerPart: 1, splitBatches: splitBatches
                        )
                        for count in [1, 2, 3, 5, batch] {
                            let got = try session.run(Array(x[0..<(count * perImage)]), batch: count)
                            let want = Array(expected[0..<(count * model.outputSize)])
                            #expect(
                                got == want,
                                "\(name): \(threads) threads, capacity \(capacity), batch \(count), split by \(splitBatches ? "images" : "layers"): \(firstMismatch(got, want, tolerance: 0) ?? "NaN differs")"
                            )
                        }
                    }
                }
            }
        }
    }

    /// A session splits by images exactly when its batch capacity holds an image per thread.
    @Test func batchesAreSplitByImagesWhenEveryThreadCanHaveOne() throws {
        let model = try Self.models()[0].1
        #expect(try model.makeSession(batchCapacity: 64, threads: 2).lanes?.lanes == 2)
        #expect(try model.makeSession(batchCapacity: 3, threads: 3).lanes?.imagesPerLane == 1)
        #expect(try model.makeSession(batchCapacity: 2, threads: 3).lanes == nil)
        #expect(try model.makeSession(batchCapacity: 64, threads: 1).lanes == nil)
        #expect(
            try model.makeSession(batchCapacity: 64, threads: 2, minimumWorkPerPart: 1, splitBatches: false).lanes
                == nil)
    }

    /// Groups: at least one image, at most a lane's share of the arena and 8, and about four per thread.
    @Test func groupSizes() throws {
        let model = try Self.models()[0].1
        let session = try model.makeSession(batchCapacity: 64, threads: 2)
        let lanes = try #require(session.lanes)
        #expect(lanes.groupSize(count: 64) == 8)
        #expect(lanes.groupSize(count: 32) == 4)
        #expect(lanes.groupSize(count: 2) == 1)
        let small = try #require(try model.makeSession(batchCapacity: 6, threads: 3).lanes)
        #expect(small.imagesPerLane == 2)
        #expect(small.groupSize(count: 6) == 1)
    }
}

/// The pool's claims: whatever the threads and timing, every part of every task runs exactly
/// once, on the scratch slot of the thread that claimed it, and the caller returns only after
/// all have finished.
@Suite struct WorkerPoolTests {
    final class Recorder: SplitWork, @unchecked Sendable {
        let runs: UnsafeMutablePointer<Atomic<Int>>
        let slots: UnsafeMutablePointer<Atomic<Int>>
        let capacity: Int
        /// The task's items: part `p` of `parts` runs `Partition.range(items, part: p, of: parts)`
        /// (the pool runs a task in one part when it backs off).
        var items = 0
        init(capacity: Int) {
            self.capacity = capacity
            runs = .allocate(capacity: capacity)
            slots = .allocate(capacity: capacity)
            for i in 0..<capacity {
                (runs + i).initialize(to: Atomic(0))
                (slots + i).initialize(to: Atomic(-1))
            }
        }
        deinit {
            runs.deinitialize(count: capacity)
            slots.deinitialize(count: capacity)
            runs.deallocate()
            slots.deallocate()
        }
        func reset() {
            for i in 0..<capacity {
                runs[i].store(0, ordering: .relaxed)
                slots[i].store(-1, ordering: .relaxed)
            }
        }
        func run(_ context: RunContext, part: Int, of parts: Int) {
            // A little work, so that helpers get to claim some parts.
            var x = 0
            for i in 0..<(part * 97 % 500) { x &+= i }
            if x == -1 { print(x) }
            for p in Partition.range(items, part: part, of: parts) {
                runs[p].add(1, ordering: .relaxed)
                slots[p].store(context.scratchSlot, ordering: .relaxed)
            }
        }
    }

    @Test(arguments: [2, 3, 4])
    func everyPartRunsOnceOnItsClaimersSlot(threads: Int) {
        let pool = WorkerPool(helpers: threads - 1)
        defer { pool.shutdown() }
        let recorder = Recorder(capacity: 256)
        var values = UnsafeMutableRawPointer(bitPattern: 64)!
        var helped = 0
        withUnsafeMutablePointer(to: &values) { table in
            let context = RunContext(values: table, batch: 1, scratch: UnsafeMutableRawPointer(bitPattern: 64)!)
            for task in 0..<2000 {
                let parts = [1, 2, 3, 7, 16, 64, 255][task % 7]
                recorder.reset()
                recorder.items = parts
                pool.run(recorder, context, parts: parts, byPart: task % 2 == 0)
                for p in 0..<parts {
                    #expect(recorder.runs[p].load(ordering: .relaxed) == 1, "task \(task): part \(p) of \(parts)")
                    let slot = recorder.slots[p].load(ordering: .relaxed)
                    // -1: run on the caller with the context as given (one part, or backing off).
                    #expect((-1..<threads).contains(slot) && (parts > 1 || slot == -1), "task \(task): slot \(slot)")
                    if slot > 0 { helped += 1 }
                }
                #expect(recorder.runs[parts].load(ordering: .relaxed) == 0)
            }
        }
        // Not asserted (a busy machine may keep every helper off a core): only reported.
        print("WorkerPoolTests: \(threads) threads, \(helped) parts run by helpers")
    }
}
