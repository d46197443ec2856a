import Synchronization

// Tests/Fuzz/run.sh compiles the engine without the C targets: see `currentCPU`.
#if canImport(CCPUFeatures)
    import CCPUFeatures
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Work the pool can split: `run(context, part:, of:)` computes share `part`
/// of `parts`; shares write disjoint outputs and may run at the same time.
/// Kernels (one layer) and `BatchLanes` (whole images) are such work.
protocol SplitWork: AnyObject, Sendable {
    func run(_ context: RunContext, part: Int, of parts: Int)
}

/// A session's helper threads: `run(kernel, context, parts)` runs the parts
/// of a kernel on the calling thread and on whichever helpers are awake, and
/// returns when all are done. Parts are claimed one at a time (a
/// compare-and-swap on `claims`; the caller from the first part on, helpers from
/// the last one back, so that with a part per thread each thread computes the same
/// share of every layer, and of every run, and finds its input in its own cache:
/// see `LayerSplit`), so a helper that is asleep or descheduled
/// (a busy machine) never holds up a layer: the caller runs the parts nobody
/// claimed and waits only for parts a running helper has taken. (The first
/// version handed part i to helper i and waited for every helper to report:
/// on a loaded 2-core machine one late wake-up cost a whole time slice, the
/// 2-thread p90 of the benchmark.) A part computes the same numbers whoever
/// runs it. Nothing is allocated per call: the kernel and its context are
/// stored in fields before the task is published. Helpers spin for up to
/// `spinNanoseconds` after their last part before sleeping on a condition
/// variable: long enough to bridge the gap between two layers and between two
/// calls of a caller in a loop, because waking a sleeping thread takes tens of
/// microseconds on a virtual machine (a halted vCPU), by which time the caller
/// has run every part of a batch-1 layer itself. (The first spin, 20,000 loads,
/// lasted about 10 µs: at batch 1 the helper slept through every layer and a
/// second thread gained nothing.) Thread pools of the peers do the same:
/// XNNPACK's pthreadpool and ONNX Runtime spin before they block.
final class WorkerPool: @unchecked Sendable {
    private var threads: [pthread_t] = []
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Signalled by a helper that finishes a part while the caller sleeps waiting (`callerSleeps`).
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let callerSleeps = Atomic<Bool>(false)
    /// The current task and its unclaimed parts: `generation << 24 | parts << 16 | back << 8 | front`:
    /// the caller claims parts from the front (0, 1, ...), helpers from the back (parts - 1, ...).
    /// A new task gets a new generation, so a claim on a finished task fails.
    private let claims = Atomic<Int>(0)
    /// Parts of the current task finished.
    private let finished = Atomic<Int>(0)
    /// Helpers waiting on `wake` (the caller signals only when there are some).
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    // The current task. Written by the caller before `claims` publishes it; read by a
    // helper only after it claimed one of its parts (the caller then waits for that part).
    private var kernel: (any SplitWork)?
    private var context: RunContext?
    private var generation = 0
    private var joined = false
    /// More threads than processors: spinning helpers then yield.
    private let oversubscribed: Bool

    /// How long a helper looks for a new task before it sleeps: 1 ms, far longer than the gap
    /// between two layers or between two calls in a loop, short enough that an idle session
    /// stops burning its core almost at once.
    static let spinNanoseconds = 1_000_000
    /// How much longer than its own share the caller may wait for a helper's part before it
    /// backs off, and for how long it then runs every kernel alone: `soloFactor` times the
    /// wait (at least 1 ms), so that waits cost at most about a fifth of the time; doubled
    /// (up to `maximumSoloNanoseconds`) when the first layer split after a back-off is held
    /// up again, and started over when it is not. A helper is held up when another thread
    /// takes its core: another library's thread pool spinning after its own call (ONNX
    /// Runtime's spins for about 35 ms of CPU), another cnnz session's helpers (they spin
    /// 1 ms), a busy machine. The first design ran alone for 20 ms doubling up to a second,
    /// and started over only after a quiet second: in a process that alternates between
    /// engines every few hundred milliseconds (the peer benchmark), cnnz then ran alone for
    /// good, from Python and from C.
    static let contentionSlackNanoseconds = 200_000
    static let soloFactor = 4
    static let minimumSoloNanoseconds = 1_000_000
    static let maximumSoloNanoseconds = 160_000_000
    /// Until when (`nanoseconds()`) the caller runs kernels alone, or 0; and for how long
    /// the next time. The caller's alone.
    private var soloUntil = 0
    private var soloNanoseconds = 0
    /// Set when a back-off ends: the next split layer decides whether to double or start over.
    private var probing = false
    /// Back-offs so far and kernels run alone because of them (for tests and diagnostics).
    private(set) var backOffs = 0
    private(set) var soloRuns = 0
    /// The last split task's wait: nanoseconds the caller waited for helpers' parts after it ran
    /// out of parts to claim (0: none left), and how many parts it ran itself (`Session.profile`).
    private(set) var lastWaitNanoseconds = 0
    private(set) var lastCallerParts = 0
    /// Set while the caller runs alone: spinning helpers go to sleep at once.
    private let backingOff = Atomic<Bool>(false)
    /// The CPU the caller published its last split task from (-1: unknown), and how many times
    /// a helper's affinity was set to leave it out (`avoidCallersCPU`).
    private let callerCPU = Atomic<Int>(-1)
    let avoids = Atomic<Int>(0)

    init(helpers: Int) {
        oversubscribed = helpers + 1 > sysconf(Int32(_SC_NPROCESSORS_ONLN))
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        for _ in 0..<helpers {
            var thread = pthread_t()
            // Helpers hold the pool unretained: `shutdown()` joins them before the pool can go away.
            // Slots of the helpers that started are 1, 2, ...: below the session's thread count.
            let argument = Unmanaged.passRetained(
                HelperStart(pool: Unmanaged.passUnretained(self), slot: threads.count + 1)
            ).toOpaque()
            let status = pthread_create(
                &thread, nil,
                { argument in
                    let start = Unmanaged<HelperStart>.fromOpaque(argument!).takeRetainedValue()
                    start.pool.takeUnretainedValue().helperLoop(slot: start.slot)
                    return nil
                }, argument)
            if status == 0 {
                threads.append(thread)
            } else {
                Unmanaged<HelperStart>.fromOpaque(argument).release()
            }
        }
    }

    /// Threads actually running (helpers that failed to start are not counted), caller included.
    var threadCount: Int { threads.count + 1 }

    /// Stops and joins the helpers. The owner calls it once, when no run is in progress.
    func shutdown() {
        guard !joined else { return }
        joined = true
        stopping.store(true, ordering: .sequentiallyConsistent)
        publish(parts: 0)
        for thread in threads { pthread_join(thread, nil) }
    }

    deinit {
        shutdown()
        pthread_cond_destroy(wake)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wake.deallocate()
        done.deallocate()
    }

    /// Publishes a new task of `parts` parts and wakes sleeping helpers.
    private func publish(parts: Int) {
        generation += 1
        claims.store((generation << 24) | (parts << 16), ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }
    }

    /// Wakes sleeping helpers with an empty task, so that they spin (up to `spinNanoseconds`)
    /// ready for the next one: the caller's next split is then not timed against a helper
    /// still waking up (see `LayerSplit.warmsUpBeforeNext`).
    func wakeHelpers() {
        guard sleepers.load(ordering: .sequentiallyConsistent) > 0, !joined else { return }
        publish(parts: 0)
    }

    /// Claims the next part of task `generation`, or returns nil when all are claimed or the task is gone.
    private func claim(generation: Int, fromBack: Bool = false) -> (part: Int, of: Int)? {
        var state = claims.load(ordering: .acquiring)
        while true {
            let parts = (state >> 16) & 0xff
            let back = (state >> 8) & 0xff
            let front = state & 0xff
            guard state >> 24 == generation, front + back < parts else { return nil }
            let (exchanged, original) = claims.compareExchange(
                expected: state, desired: state + (fromBack ? 1 << 8 : 1), ordering: .acquiringAndReleasing)
            if exchanged { return (fromBack ? parts - 1 - back : front, parts) }
            state = original
        }
    }

    /// Runs `kernel` in `count` parts (at most 255); this thread runs every part no helper
    /// claims. Each thread uses its own scratch area (slot 0: the caller, `i`: helper `i`),
    /// whichever parts it runs. A helper that holds the caller up makes it run alone for a
    /// while (see `contentionSlackNanoseconds`): held up means waiting longer than the
    /// caller's own share took plus the slack, or, with `byPart` (work in many parts of about
    /// the same time, `BatchLanes`, where the caller's share is most of the run), longer than
    /// two of the caller's parts took on average plus the slack: a helper on a free core has
    /// at most one part left when the caller runs out.
    func run(_ kernel: any SplitWork, _ context: RunContext, parts count: Int, byPart: Bool = false) {
        let parts = min(count, 255)
        lastWaitNanoseconds = 0
        lastCallerParts = parts
        if parts <= 1 {
            kernel.run(context, part: 0, of: 1)
            return
        }
        if soloUntil != 0 {
            // Backing off (see below): the whole kernel here, the same numbers as in parts.
            if Self.nanoseconds() < soloUntil {
                soloRuns += 1
                kernel.run(context, part: 0, of: 1)
                return
            }
            soloUntil = 0
            probing = true
            backingOff.store(false, ordering: .relaxed)
        }
        self.kernel = kernel
        self.context = context
        finished.store(0, ordering: .relaxed)
        let started = Self.nanoseconds()
        if !oversubscribed { callerCPU.store(Self.currentCPU(), ordering: .relaxed) }
        publish(parts: parts)
        let current = generation
        var mine = context
        mine.scratchSlot = 0
        var ran = 0
        while let (part, of) = claim(generation: current) {
            kernel.run(mine, part: part, of: of)
            finished.add(1, ordering: .releasing)
            ran += 1
        }
        lastCallerParts = ran
        // Only parts that running helpers claimed are left.
        if finished.load(ordering: .acquiring) < parts {
            let waiting = Self.nanoseconds()
            var spins = 0
            while finished.load(ordering: .acquiring) < parts {
                spins += 1
                if spins & 1023 == 0 && Self.nanoseconds() &- waiting > Self.sleepAfterNanoseconds {
                    sleepUntilFinished(parts)
                }
            }
            // A helper that held the caller up for longer than the caller's own share took
            // (and 0.2 ms more) was descheduled holding a part: its core is busy with another
            // thread. Run alone for a while rather than wait a time slice per layer.
            let now = Self.nanoseconds()
            lastWaitNanoseconds = now &- waiting
            let allowed = byPart ? 2 * (waiting &- started) / max(ran, 1) : waiting &- started
            if now &- waiting > allowed &+ Self.contentionSlackNanoseconds {
                let solo = max((now &- waiting) * Self.soloFactor, Self.minimumSoloNanoseconds)
                soloNanoseconds = min(max(probing ? soloNanoseconds * 2 : 0, solo), Self.maximumSoloNanoseconds)
                soloUntil = now &+ soloNanoseconds
                backOffs += 1
                backingOff.store(true, ordering: .relaxed)
            }
        }
        // The first split after a back-off was a probe: held up again, it doubled the next
        // back-off (above); not held up, the next starts over.
        probing = false
        self.kernel = nil
    }

    /// How long the caller spins waiting for a helper's part before it sleeps until the part is
    /// done. A helper that takes longer was descheduled (its core runs another thread): while
    /// the caller spins, its own core is busy and the helper waits for the other one; once the
    /// caller sleeps, the scheduler moves the helper onto the idle core. (The caller used to
    /// spin, calling `sched_yield`, which gives nothing away when no other thread waits for
    /// the caller's core.)
    static let sleepAfterNanoseconds = 50_000

    /// Sleeps until `parts` parts are finished; helpers signal `done` while `callerSleeps`.
    private func sleepUntilFinished(_ parts: Int) {
        pthread_mutex_lock(mutex)
        // Sequentially consistent with the helpers' `finished.add` then `callerSleeps.load`:
        // either the caller sees the part finished or the helper sees the caller asleep.
        callerSleeps.store(true, ordering: .sequentiallyConsistent)
        while finished.load(ordering: .sequentiallyConsistent) < parts {
            pthread_cond_wait(done, mutex)
        }
        callerSleeps.store(false, ordering: .relaxed)
        pthread_mutex_unlock(mutex)
    }

    /// A helper finished a part: counts it and wakes the caller if it sleeps waiting.
    private func finishPart() {
        finished.add(1, ordering: .sequentiallyConsistent)
        if callerSleeps.load(ordering: .sequentiallyConsistent) {
            pthread_mutex_lock(mutex)
            pthread_cond_signal(done)
            pthread_mutex_unlock(mutex)
        }
    }

    /// - Parameter slot: the helper's number from 1, its scratch area.
    private func helperLoop(slot: Int) {
        var seen = 0
        // More threads than CPUs: helpers share CPUs anyway; keeping off one would crowd the rest.
        let mask = oversubscribed ? nil : Self.savedAffinity()
        defer { mask?.deallocate() }
        var avoided = -1
        while true {
            var spins = 0
            var current = claims.load(ordering: .acquiring) >> 24
            let start = Self.nanoseconds()
            while current == seen {
                spins &+= 1
                if spins & 1023 == 0 {
                    // With more threads than cores, let the thread this one waits for run. Not
                    // otherwise: on a busy machine a yield gives the core away for a time
                    // slice, the helper then misses the next layer and sleeps.
                    if oversubscribed { sched_yield() }
                    if Self.nanoseconds() &- start > Self.spinNanoseconds || backingOff.load(ordering: .relaxed) {
                        break
                    }
                    avoidCallersCPU(avoided: &avoided, mask: mask)
                }
                current = claims.load(ordering: .acquiring) >> 24
            }
            if current == seen {
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                current = claims.load(ordering: .sequentiallyConsistent) >> 24
                while current == seen {
                    pthread_cond_wait(wake, mutex)
                    current = claims.load(ordering: .sequentiallyConsistent) >> 24
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            avoidCallersCPU(avoided: &avoided, mask: mask)
            while let (part, of) = claim(generation: current, fromBack: true) {
                // Claimed: the caller waits for this part, so the task's fields stay as published.
                if let kernel, var context {
                    context.scratchSlot = slot
                    kernel.run(context, part: part, of: of)
                }
                finishPart()
            }
        }
    }
}

extension WorkerPool {
    /// Keeps this helper off the CPU its caller published its last task from (`avoided`: the
    /// CPU its affinity leaves out now, -1 for none; `mask`: its affinity as it started, nil when
    /// that holds fewer than two CPUs). Why: measured in the peer benchmark on the quiet 2-vCPU
    /// machine, a session's helper and its caller sat on one CPU for whole 50-run chunks while the
    /// other CPU was idle: both threads waited 2-10 ms per chunk for that CPU, the helper ran 0-8
    /// parts, and the layer split chose `none` (0.27-0.29 ms against 0.16-0.19 with the helper on
    /// the other CPU), chunk after chunk, for one session and not the other: which one depended
    /// on where its helper had landed. The scheduler does not fix it: the waking helper is queued
    /// on its waker's CPU, and with `none` chosen it sleeps, so the load balancer sees one running
    /// thread. Moving the helper off once (then restoring its mask) did not hold: the next wake-up
    /// put it back (13 of the 40 chunks of one run at 1-thread speed, against 9 before). So the helper's mask
    /// leaves out the caller's CPU until the caller moves; the kernel moves the thread at once.
    fileprivate func avoidCallersCPU(avoided: inout Int, mask: UnsafeMutableRawPointer?) {
        guard let mask else { return }
        let caller = callerCPU.load(ordering: .relaxed)
        guard caller >= 0, caller != avoided else { return }
        avoided = caller
        if Self.setAffinity(mask, without: caller) { avoids.add(1, ordering: .relaxed) }
    }

    /// The calling thread's CPU, or -1 where unknown.
    static func currentCPU() -> Int {
        #if canImport(CCPUFeatures)
            Int(cnnz_current_cpu())
        #else
            -1
        #endif
    }

    /// Saves the calling thread's affinity mask in a new buffer if it holds at least two CPUs
    /// (the caller deallocates it), else nil (also where there is no affinity).
    static func savedAffinity() -> UnsafeMutableRawPointer? {
        #if canImport(CCPUFeatures)
            let mask = UnsafeMutableRawPointer.allocate(byteCount: Int(CNNZ_CPU_MASK_BYTES), alignment: 16)
            if cnnz_affinity_get(mask) >= 2 { return mask }
            mask.deallocate()
        #endif
        return nil
    }

    /// Sets the calling thread's affinity to the saved `mask` without `cpu` (true when `cpu` was
    /// left out), or to `mask` itself when that would leave no CPU.
    static func setAffinity(_ mask: UnsafeMutableRawPointer, without cpu: Int) -> Bool {
        #if canImport(CCPUFeatures)
            cnnz_affinity_set_without(mask, Int32(cpu)) != 0
        #else
            false
        #endif
    }

    /// A monotonic clock in nanoseconds (no allocation, a vDSO call).
    @inline(__always)
    fileprivate static func nanoseconds() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time.tv_sec &* 1_000_000_000 &+ time.tv_nsec
    }
}

/// What a helper thread is started with.
private final class HelperStart {
    let pool: Unmanaged<WorkerPool>
    let slot: Int
    init(pool: Unmanaged<WorkerPool>, slot: Int) {
        self.pool = pool
        self.slot = slot
    }
}
