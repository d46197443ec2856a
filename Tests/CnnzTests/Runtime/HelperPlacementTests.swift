import Foundation
import Synchronization
import Testing

@testable import Cnnz

#if canImport(CCPUFeatures)
    import CCPUFeatures
#endif

/// A pool's helpers keep off the CPU their caller runs on (`WorkerPool.avoidCallersCPU`): a helper
/// queued behind its caller computes nothing until the caller stops.
@Suite(.serialized) struct HelperPlacementTests {
    /// Records, for each of two parts, the scratch slot (0: the caller, 1: the helper) and the CPU
    /// that ran it, after about 20 µs of spinning, so that the helper gets to claim parts.
    final class CPURecorder: SplitWork, @unchecked Sendable {
        let slots = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 2)
        let cpus = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 2)
        init() {
            for i in 0..<2 {
                (slots + i).initialize(to: Atomic(-2))
                (cpus + i).initialize(to: Atomic(-2))
            }
        }
        deinit {
            slots.deinitialize(count: 2)
            cpus.deinitialize(count: 2)
            slots.deallocate()
            cpus.deallocate()
        }
        func run(_ context: RunContext, part: Int, of parts: Int) {
            let start = LayerSplit.nanoseconds()
            while LayerSplit.nanoseconds() - start < 20_000 {}
            for p in Partition.range(2, part: part, of: parts) {
                slots[p].store(context.scratchSlot, ordering: .relaxed)
                cpus[p].store(WorkerPool.currentCPU(), ordering: .relaxed)
            }
        }
    }

    /// CPUs in a saved affinity mask (a cpu_set_t: bit i of byte j is CPU 8j + i).
    static func cpus(in mask: UnsafeMutableRawPointer) -> [Int] {
        #if canImport(CCPUFeatures)
            let bytes = mask.assumingMemoryBound(to: UInt8.self)
            return (0..<Int(CNNZ_CPU_MASK_BYTES) * 8).filter { bytes[$0 / 8] & (1 << ($0 % 8)) != 0 }
        #else
            return []
        #endif
    }

    /// Pins the calling thread to `cpu`, `other` being another CPU it may use.
    static func pin(to cpu: Int, other: Int) {
        #if canImport(CCPUFeatures)
            let mask = UnsafeMutableRawPointer.allocate(byteCount: Int(CNNZ_CPU_MASK_BYTES), alignment: 16)
            defer { mask.deallocate() }
            mask.initializeMemory(as: UInt8.self, repeating: 0, count: Int(CNNZ_CPU_MASK_BYTES))
            let bytes = mask.assumingMemoryBound(to: UInt8.self)
            for c in [cpu, other] { bytes[c / 8] |= 1 << (c % 8) }
            #expect(WorkerPool.setAffinity(mask, without: other))
        #endif
    }

    /// With the caller pinned to one CPU, then to another, every part the helper runs runs on
    /// another CPU than the caller's, and the helper's affinity changed once per caller CPU.
    @Test func helpersKeepOffTheCallersCPU() {
        guard let original = WorkerPool.savedAffinity(), ProcessInfo.processInfo.activeProcessorCount >= 2 else {
            return  // one CPU: there is no other to go to
        }
        defer {
            _ = WorkerPool.setAffinity(original, without: -1)
            original.deallocate()
        }
        let cpus = Self.cpus(in: original)
        // Made before the caller is pinned: the helper inherits the caller's affinity.
        let pool = WorkerPool(helpers: 1)
        defer { pool.shutdown() }
        let recorder = CPURecorder()
        var values = UnsafeMutableRawPointer(bitPattern: 64)!
        withUnsafeMutablePointer(to: &values) { table in
            let context = RunContext(values: table, batch: 1, scratch: UnsafeMutableRawPointer(bitPattern: 64)!)
            for (caller, other) in [(cpus[0], cpus[1]), (cpus[1], cpus[0])] {
                Self.pin(to: caller, other: other)
                #expect(WorkerPool.currentCPU() == caller)
                var helped = 0
                let deadline = LayerSplit.nanoseconds() + 10_000_000_000
                for task in 0..<10_000 where helped < 20 && LayerSplit.nanoseconds() < deadline {
                    pool.run(recorder, context, parts: 2)
                    for p in 0..<2 where recorder.slots[p].load(ordering: .relaxed) == 1 {
                        helped += 1
                        let cpu = recorder.cpus[p].load(ordering: .relaxed)
                        #expect(cpu != caller, "caller on \(caller), task \(task): the helper ran part \(p) on \(cpu)")
                    }
                }
                #expect(helped >= 20, "caller on \(caller): the helper ran \(helped) parts")
            }
        }
        #expect(pool.avoids.load(ordering: .relaxed) == 2)
    }

    /// With more threads than CPUs the helpers share CPUs anyway: none of them keeps off one.
    @Test func oversubscribedHelpersStayWhereTheyAre() {
        // As the pool counts them.
        let pool = WorkerPool(helpers: sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        defer { pool.shutdown() }
        let recorder = CPURecorder()
        var values = UnsafeMutableRawPointer(bitPattern: 64)!
        withUnsafeMutablePointer(to: &values) { table in
            let context = RunContext(values: table, batch: 1, scratch: UnsafeMutableRawPointer(bitPattern: 64)!)
            for _ in 0..<200 { pool.run(recorder, context, parts: 2) }
        }
        #expect(pool.avoids.load(ordering: .relaxed) == 0)
    }
}
