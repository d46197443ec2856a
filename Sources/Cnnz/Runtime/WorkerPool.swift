import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A session's helper threads: `run(kernel, context, parts)` runs part 0 of
/// a kernel on the calling thread and the other parts on the helpers, and
/// returns when all are done. Nothing is allocated per call: the kernel and
/// its context are stored in fields before the generation counter is
/// published, and helpers spin briefly between layers (the next layer comes
/// within microseconds) before sleeping on a condition variable.
final class WorkerPool: @unchecked Sendable {
    private var threads: [pthread_t] = []
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Bumped (under `mutex`, with release ordering) to hand out a new task.
    private let generation = Atomic<Int>(0)
    /// Parts not finished yet by helpers.
    private let pending = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    // The current task. Written by the caller before `generation` is bumped; read by helpers after they see it.
    private var kernel: (any Kernel)?
    private var context: RunContext?
    private var parts = 1
    private var joined = false

    /// Spin iterations before a helper sleeps: about 50 µs, longer than the gap between two layers.
    private static let spinLimit = 20_000

    init(helpers: Int) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for _ in 0..<helpers {
            var thread = pthread_t()
            // Parts are numbered by the helpers that did start, so a failed start leaves no part undone.
            // Helpers hold the pool unretained: `shutdown()` joins them before the pool can go away.
            let argument = Unmanaged.passRetained(
                HelperStart(pool: Unmanaged.passUnretained(self), index: threads.count + 1)
            ).toOpaque()
            let status = pthread_create(
                &thread, nil,
                { argument in
                    let start = Unmanaged<HelperStart>.fromOpaque(argument!).takeRetainedValue()
                    start.pool.takeUnretainedValue().helperLoop(index: start.index)
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
        pthread_mutex_lock(mutex)
        stopping.store(true, ordering: .releasing)
        generation.wrappingAdd(1, ordering: .releasing)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
    }

    deinit {
        shutdown()
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wake.deallocate()
    }

    /// Runs `kernel` in `count` parts (at most `threadCount`), part 0 on this thread.
    func run(_ kernel: any Kernel, _ context: RunContext, parts count: Int) {
        let helpers = min(count, threadCount) - 1
        if helpers <= 0 {
            kernel.run(context, part: 0, of: 1)
            return
        }
        self.kernel = kernel
        self.context = context
        parts = helpers + 1
        pending.store(threads.count, ordering: .relaxed)
        pthread_mutex_lock(mutex)
        generation.wrappingAdd(1, ordering: .releasing)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        kernel.run(context, part: 0, of: helpers + 1)
        var spins = 0
        while pending.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins & 1023 == 0 { sched_yield() }
        }
        self.kernel = nil
    }

    private func helperLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen && spins < Self.spinLimit {
                spins += 1
                // With more threads than cores, let the thread this one waits for run.
                if spins & 1023 == 0 { sched_yield() }
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                pthread_mutex_lock(mutex)
                current = generation.load(ordering: .acquiring)
                while current == seen {
                    pthread_cond_wait(wake, mutex)
                    current = generation.load(ordering: .acquiring)
                }
                pthread_mutex_unlock(mutex)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            // Helpers beyond the parts of this task have nothing to do but report.
            if index < parts, let kernel, let context {
                kernel.run(context, part: index, of: parts)
            }
            pending.subtract(1, ordering: .releasing)
        }
    }
}

/// What a helper thread is started with.
private final class HelperStart {
    let pool: Unmanaged<WorkerPool>
    let index: Int
    init(pool: Unmanaged<WorkerPool>, index: Int) {
        self.pool = pool
        self.index = index
    }
}
