import Foundation
import Synchronization
import Testing

@testable import Cnnz

/// How batch 1 splits its layers (`LayerSplit`): the choice follows the run times of runs that
/// follow a run with the same choice and no pause, and the pool hands the caller the first parts
/// and helpers the last ones.
@Suite struct LayerSplitTests {
    /// Runs a session's choices on a simulated clock: `cost(choice, previous choice, run)`
    /// nanoseconds a run, `pause(run)` nanoseconds before it; runs that start less than
    /// `slowAfterPause.nanoseconds` after a pause of over 1 ms take `factor` times longer.
    /// Returns how many runs used each choice.
    struct Clock {
        var now = 1_000_000_000
        var previous: LayerSplit.Choice?
        var run = 0
        var resumed = 0
        var slowAfterPause = (nanoseconds: 0, factor: 1)

        @discardableResult
        mutating func run(
            _ split: inout LayerSplit, _ count: Int, pause: (Int) -> Int = { _ in 10_000 },
            cost: (LayerSplit.Choice, LayerSplit.Choice?, Int) -> Int
        ) -> [LayerSplit.Choice: Int] {
            var used: [LayerSplit.Choice: Int] = [:]
            for _ in 0..<count {
                run += 1
                let choice = split.next()
                used[choice, default: 0] += 1
                let gap = pause(run)
                now += gap
                if gap > 1_000_000 { resumed = now }
                let started = now
                let slow = started - resumed < slowAfterPause.nanoseconds
                now += cost(choice, previous, run) * (slow ? slowAfterPause.factor : 1)
                split.record(choice, started: started, ended: now)
                previous = choice
            }
            return used
        }
    }

    /// Runs before the choices have all had their turns.
    static let warmUp = LayerSplit.Choice.count * LayerSplit.warmUpRuns * LayerSplit.warmUpTurns

    /// The choices take turns at first; then the fastest by median is used, with
    /// `probeRuns` runs every `probeInterval` runs of another one, so that a change is noticed.
    @Test func followsTheFastestChoiceAndProbesTheOthers() {
        var split = LayerSplit()
        defer { split.deallocate() }
        var clock = Clock()
        // Run times: `none` 400, `dense` 300, `every` 200 µs.
        let cost: [LayerSplit.Choice: Int] = [.none: 400_000, .dense: 300_000, .every: 200_000]
        clock.run(&split, Self.warmUp) { choice, _, _ in cost[choice]! }
        #expect(split.best == .every)
        // Every 11th run preempted (ten times as long): the median ignores it.
        let used = clock.run(&split, 64 * LayerSplit.probeInterval) { choice, _, run in
            cost[choice]! * (run % 11 == 0 ? 10 : 1)
        }
        #expect(split.best == .every)
        // The 64 probes: half of them each.
        for choice in [LayerSplit.Choice.none, .dense] {
            #expect(used[choice] == 32 * LayerSplit.probeRuns, "\(choice): \(used)")
        }
        // The machine changes: `every` becomes the slowest.
        clock.run(&split, 2 * LayerSplit.window) { choice, _, _ in choice == .every ? 900_000 : cost[choice]! }
        #expect(split.best == .dense)
    }

    /// A probe tries the choice other than the best that ran longest ago. Here `none` and
    /// `dense` take turns being the faster from one probe to the next, so that each probe makes
    /// the one it tries the best: taking the others in turn relative to the best, every probe
    /// then tried `none` or `dense`, never `every` (the peer benchmark's sessions stayed on
    /// `none` and `dense` for whole chunks of runs without trying `every`).
    @Test func probesTakeTheChoiceThatRanLongestAgo() {
        var split = LayerSplit()
        defer { split.deallocate() }
        var clock = Clock()
        let probes = 64
        let used = clock.run(&split, Self.warmUp + probes * LayerSplit.probeInterval) { choice, _, run in
            let faster: LayerSplit.Choice = (run / LayerSplit.probeInterval) % 2 == 0 ? .dense : .none
            return choice == .every ? 400_000 : choice == faster ? 250_000 : 300_000
        }
        #expect(used[.every, default: 0] >= (probes / 2 - 2) * LayerSplit.probeRuns, "\(used)")
        // And once `every` is the fastest, its next probe makes it the best.
        clock.run(&split, 2 * LayerSplit.probeInterval + LayerSplit.probeRuns) { choice, _, _ in
            choice == .every ? 150_000 : 300_000
        }
        #expect(split.best == .every)
    }

    /// The first run after a change of choice moves the work between cores (a helper wakes,
    /// each core fetches its share): it is not timed, or no probe would ever win.
    @Test func theFirstRunOfAChoiceIsNotTimed() {
        for fastest in [LayerSplit.Choice.none, .every] {
            var split = LayerSplit()
            defer { split.deallocate() }
            var clock = Clock()
            let steady: [LayerSplit.Choice: Int] =
                fastest == .none
                ? [.none: 200_000, .dense: 300_000, .every: 250_000]
                : [.none: 300_000, .dense: 280_000, .every: 200_000]
            // A change costs more than the choices differ by, a change to a split the most.
            let used = clock.run(&split, Self.warmUp + 32 * LayerSplit.probeInterval) { choice, previous, _ in
                steady[choice]! + (choice == previous ? 0 : choice == .none ? 150_000 : 250_000)
            }
            #expect(split.best == fastest)
            #expect(used[fastest]! > 28 * LayerSplit.probeInterval, "\(fastest): \(used)")
            // The times kept are the steady runs' (the probes' second runs).
            for choice in [LayerSplit.Choice.none, .dense, .every] {
                #expect(split.median(choice) == steady[choice], "fastest \(fastest): \(choice)")
            }
        }
    }

    /// After a pause longer than the helpers spin (another engine's calls, in the peer benchmark),
    /// the first runs are slow whatever the choice: they are not timed, unless most runs come
    /// after a pause (then that is how the session runs, and the choice is made for it).
    @Test func runsRightAfterAPauseAreNotTimedUnlessMostAre() {
        // Chunks of 50 runs back to back, 20 ms apart; the runs of the first 300 µs of a chunk
        // take 3 times longer: with `every`, the first five (more than half a window).
        var split = LayerSplit()
        defer { split.deallocate() }
        var clock = Clock()
        clock.slowAfterPause = (300_000, 3)
        let steady: [LayerSplit.Choice: Int] = [.none: 40_000, .dense: 38_000, .every: 20_000]
        let used = clock.run(&split, Self.warmUp + 50 * 50, pause: { run in run % 50 == 1 ? 20_000_000 : 5_000 }) {
            choice, _, _ in steady[choice]!
        }
        #expect(split.best == .every)
        #expect(used[.every]! > 50 * 50 * 14 / 16, "\(used)")

        // Every run after a pause: the helpers asleep each time; a split costs what it costs then.
        var paused = LayerSplit()
        defer { paused.deallocate() }
        var pausedClock = Clock()
        let woken: [LayerSplit.Choice: Int] = [.none: 250_000, .dense: 300_000, .every: 330_000]
        pausedClock.run(&paused, Self.warmUp + 8 * LayerSplit.probeInterval, pause: { _ in 5_000_000 }) {
            choice, _, _ in
            woken[choice]!
        }
        #expect(paused.best == .none)
    }

    /// A probe faster than the best's median starts its choice's times over: old times from a
    /// slow spell do not keep it out for a window of probes. A lucky probe does not hold.
    @Test func aFasterProbeWinsAtOnce() {
        var split = LayerSplit()
        defer { split.deallocate() }
        var clock = Clock()
        // A slow spell for the splits: `none` is best, and the splits' windows fill with slow times.
        clock.run(&split, Self.warmUp + 16 * LayerSplit.probeInterval) { choice, _, _ in
            choice == .none ? 250_000 : 600_000
        }
        #expect(split.best == .none)
        // It ends: `every` takes 150 µs; the first probe of it (within two intervals) makes it best.
        let used = clock.run(&split, 2 * LayerSplit.probeInterval + LayerSplit.probeRuns) { choice, _, _ in
            choice == .none ? 250_000 : choice == .every ? 150_000 : 600_000
        }
        #expect(split.best == .every, "\(used)")
        // `every` takes 400 µs, but its probes' timed runs are lucky (100 µs): each makes it best
        // for one run, whose time takes it back.
        let lucky = clock.run(&split, 8 * LayerSplit.probeInterval) { choice, _, run in
            switch choice {
            case .none: 250_000
            case .every: run % LayerSplit.probeInterval == LayerSplit.probeRuns - 1 ? 100_000 : 400_000
            case .dense: 600_000
            }
        }
        #expect(split.best == .none)
        #expect(lucky[.every]! < 8 * LayerSplit.probeInterval / 4, "\(lucky)")
    }

    /// The run before a run that changes to a split says to wake the helpers (they may sleep,
    /// and the first run of the probe costs less with them awake); no other run does.
    @Test func helpersAreWokenOneRunBeforeASplitStarts() {
        for best in [LayerSplit.Choice.none, .dense, .every] {
            var split = LayerSplit()
            defer { split.deallocate() }
            var cost: [LayerSplit.Choice: Int] = [.none: 300_000, .dense: 300_000, .every: 300_000]
            cost[best] = 100_000
            var now = 1_000_000_000
            var previous: LayerSplit.Choice?
            var warmed = false
            var wrong = 0
            var woken = 0
            for _ in 0..<(Self.warmUp + 8 * LayerSplit.probeInterval) {
                let choice = split.next()
                if warmed != (choice != .none && choice != previous) { wrong += 1 }
                // Asked during this run, about the next one.
                warmed = split.warmsUpBeforeNext
                if warmed { woken += 1 }
                now += 10_000
                let started = now
                now += cost[choice]!
                split.record(choice, started: started, ended: now)
                previous = choice
            }
            #expect(split.best == best)
            #expect(wrong == 0, "best \(best): \(wrong) runs woken wrongly")
            #expect(woken > 0)
        }
    }

    /// Waking the helpers between tasks (an empty task) leaves every part of the next ones run once.
    @Test func wakingHelpersBetweenTasksChangesNoTask() {
        let pool = WorkerPool(helpers: 2)
        defer { pool.shutdown() }
        let recorder = WorkerPoolTests.Recorder(capacity: 16)
        var values = UnsafeMutableRawPointer(bitPattern: 64)!
        withUnsafeMutablePointer(to: &values) { table in
            let context = RunContext(values: table, batch: 1, scratch: UnsafeMutableRawPointer(bitPattern: 64)!)
            for task in 0..<300 {
                if task % 3 == 0 { pool.wakeHelpers() }
                if task % 50 == 0 { usleep(3000) }  // the helpers fall asleep
                recorder.reset()
                recorder.items = 6
                pool.run(recorder, context, parts: 6)
                for p in 0..<6 {
                    #expect(recorder.runs[p].load(ordering: .relaxed) == 1, "task \(task): part \(p)")
                }
            }
        }
    }

    /// A split that saves less than 1/32 of the time is not worth it: `none` stays the choice.
    @Test func aSplitMustSaveAThirtySecond() {
        for (every, expected) in [(390_000, LayerSplit.Choice.none), (385_000, .every)] {
            var split = LayerSplit()
            defer { split.deallocate() }
            var clock = Clock()
            let cost: [LayerSplit.Choice: Int] = [.none: 400_000, .dense: 420_000, .every: every]
            clock.run(&split, Self.warmUp + 4 * LayerSplit.probeInterval) { choice, _, _ in cost[choice]! }
            #expect(split.best == expected, "every: \(every)")
        }
    }

    /// `none` runs everything on the caller; `dense` splits only layers with at least `denseWork`
    /// operations per byte of activations; `every` any layer worth splitting; never more parts
    /// than threads, items, or `minimumWork` allows.
    @Test func partsPerChoice() {
        let big = (items: 100, work: 1_000_000)
        #expect(LayerSplit.parts(big, activationBytes: 1000, threads: 2, minimumWork: 1000, choice: .none) == 1)
        #expect(LayerSplit.parts(big, activationBytes: 1000, threads: 2, minimumWork: 1000, choice: .dense) == 2)
        #expect(LayerSplit.parts(big, activationBytes: 100_000, threads: 2, minimumWork: 1000, choice: .dense) == 1)
        #expect(LayerSplit.parts(big, activationBytes: 100_000, threads: 2, minimumWork: 1000, choice: .every) == 2)
        #expect(LayerSplit.parts(big, activationBytes: 100_000, threads: 5, minimumWork: 1000, choice: .every) == 5)
        #expect(LayerSplit.parts((3, 1_000_000), activationBytes: 0, threads: 5, minimumWork: 1, choice: .every) == 3)
        #expect(LayerSplit.parts(big, activationBytes: 0, threads: 5, minimumWork: 400_000, choice: .every) == 2)
        #expect(LayerSplit.parts(big, activationBytes: 0, threads: 5, minimumWork: 2_000_000, choice: .every) == 1)
    }

    /// Records which thread's scratch slot ran each part, after about 20 µs of spinning, so
    /// that the helper gets to claim some.
    final class SlowRecorder: SplitWork, @unchecked Sendable {
        let slots = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 6)
        init() { for i in 0..<6 { (slots + i).initialize(to: Atomic(-2)) } }
        deinit {
            slots.deinitialize(count: 6)
            slots.deallocate()
        }
        func run(_ context: RunContext, part: Int, of parts: Int) {
            let start = LayerSplit.nanoseconds()
            while LayerSplit.nanoseconds() - start < 20_000 {}
            for p in Partition.range(6, part: part, of: parts) {
                slots[p].store(context.scratchSlot, ordering: .relaxed)
            }
        }
    }

    /// The caller claims parts from the first on, a helper from the last one back: on two
    /// threads, every part the caller ran comes before every part the helper ran.
    @Test func helpersClaimFromTheLastPart() {
        let pool = WorkerPool(helpers: 1)
        defer { pool.shutdown() }
        let recorder = SlowRecorder()
        var values = UnsafeMutableRawPointer(bitPattern: 64)!
        var helped = 0
        withUnsafeMutablePointer(to: &values) { table in
            let context = RunContext(values: table, batch: 1, scratch: UnsafeMutableRawPointer(bitPattern: 64)!)
            for task in 0..<200 {
                pool.run(recorder, context, parts: 6)
                // Slot 0: the caller; 1: the helper; -1: the caller running alone (backing off).
                let slots = (0..<6).map { recorder.slots[$0].load(ordering: .relaxed) }
                let lastCaller = slots.lastIndex(of: 0) ?? -1
                let firstHelper = slots.firstIndex(of: 1) ?? 6
                #expect(lastCaller < firstHelper, "task \(task): slots \(slots)")
                if firstHelper < 6 { helped += 1 }
            }
        }
        print("LayerSplitTests: the helper ran parts in \(helped) of 200 tasks")
    }
}
