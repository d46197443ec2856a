#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a run of fewer images than threads (batch 1) shares its layers between threads, and
/// which of the ways (`Choice`) is fastest on this machine now, judged from the run times.
///
/// A layer split in parts costs more than its hand-over and join: the activations one core
/// wrote, the other reads (and a buffer of the arena one core wrote last, the other writes
/// again), each cache line crossing between cores. On the benchmark's 2-vCPU virtual machine
/// that cost depends on where the host puts the two vCPUs, and changes from one second to the
/// next: a round trip of a cache line took 60 ns at times (two cores of one CCX) and 320 ns
/// most of the time (two CCDs). Measured at batch 1 (`infer --bench`, chrt -f 10), one thread
/// against two with each choice: cifar_vgg near 0.38-0.41 ms, `every` 0.22, `dense` 0.33; far
/// 0.39-0.46, `every` 0.36-0.44, `dense` 0.37-0.42; mobile_res near 0.28-0.33, `every` 0.15-0.19;
/// far 0.28, `every` 0.20-0.24, `dense` 0.28, and 0.41-0.51 when layers under 150k operations
/// (Add, small depthwise) stayed on the caller (its inputs half in the other core's cache, its
/// output read back by it). No fixed rule is best both ways, so the session measures:
/// it runs with the choice whose recent runs were fastest, and every `probeInterval` runs
/// with another for `probeRuns` runs, so that it notices when the machine changes. Only
/// steady runs are timed: not the first run after a change of choice, nor the runs right
/// after a pause (`record`). Parts never change a number of the output (each kernel computes
/// an element the same way whatever the split), so the choice only moves time.
///
/// Within a split layer, one part per thread: parts are claimed from both ends (the caller
/// from the first, helpers from the last), so each thread computes the same half of each layer
/// from one layer to the next and finds most of its input in its own cache. (Four parts per
/// thread, claimed in order, scattered the halves; and each part of a Winograd convolution split
/// by output channels transforms the whole input again: cifar_vgg took 0.57 to 0.69 ms on far
/// cores, against 0.40 on one thread.)
struct LayerSplit {
    enum Choice: Int {
        /// Every layer on the calling thread (what one thread does).
        case none
        /// Only layers with at least `denseWork` operations per byte of activations: Dense
        /// layers and deep convolutions, whose weights (read by both cores, never written)
        /// outweigh the activations crossing between them.
        case dense
        /// Every layer with at least `Partition.minimumWorkPerPart` operations per part, the
        /// small ones too (pooling, Add, depthwise): each thread then keeps its share of the
        /// image from layer to layer.
        case every

        /// How many there are (`allCases` would make an array per call: `run` allocates nothing).
        static let count = 3
    }

    /// Operations per byte of activations (input and output) from which `dense` splits a
    /// layer: cifar_vgg's 8x8 and 16x16 convolutions (50 to 150) and Dense layers (30 to 60)
    /// are split, first layers, pooling, depthwise and pointwise convolutions (under 20) not.
    static let denseWork = 25
    /// Run times kept per choice: the choice whose median is the lowest is used.
    static let window = 8
    /// Every this many runs, a probe: `probeRuns` runs in a row with another choice (the one that
    /// ran longest ago), to keep its times current.
    static let probeInterval = 32
    /// Runs of a probe. Only runs that follow a run with the same choice are timed: the first
    /// run after a change moves the work between cores (a helper that slept wakes, each core
    /// fetches the share of the weights and activations it did not hold), and timing it made
    /// every probe lose. Measured in the peer benchmark's conditions (mobile_res float32, two
    /// threads, chunks of 50 calls between other engines' chunks): `every` took 0.15 ms run
    /// after run, 0.22-0.27 ms as a single probe after `none` or `dense`; the session stayed on
    /// `none` (0.24 ms) for hundreds of runs, and sessions of one model ended up 0.19 or 0.31 ms.
    static let probeRuns = 2
    /// At the start the choices take turns, `warmUpRuns` runs in a row each, `warmUpTurns` times.
    static let warmUpRuns = 3
    static let warmUpTurns = 2
    /// A pause between runs longer than this (the helpers' spin, `WorkerPool.spinNanoseconds`)
    /// leaves the helpers asleep and the caches to other work: the runs that start within
    /// `resumeNanoseconds` after it are not timed, unless most runs come after such a pause
    /// (then that is how this session is used). In the benchmark's chunks the first run after
    /// another engine's chunk took 1.47 times the chunk's median, the second 1.06, the third
    /// 1.02 (medians over 225 chunks); a chunk that started slow filled the window of the best
    /// choice with those times and made another one best.
    static let idleNanoseconds = 1_000_000
    static let resumeNanoseconds = 300_000

    /// `Choice.count * window` run times in nanoseconds per image; choice c's first
    /// `filled[c]` entries hold its recent times.
    private let times: UnsafeMutablePointer<Int>
    private let filled: UnsafeMutablePointer<Int>
    /// The next slot of each choice's ring of times.
    private let slots: UnsafeMutablePointer<Int>
    /// Room to sort one window of times.
    private let sorted: UnsafeMutablePointer<Int>
    private var runs = 0
    /// The previous run's choice (`rawValue`), -1 before the first run.
    private var previous = -1
    /// When the previous run ended, and when the first run after the last pause started.
    private var lastEnd = 0
    private var resumed = 0
    /// Bit i: whether the i-th run back started after a pause.
    private var pauses: UInt16 = 0
    private(set) var best = Choice.every
    /// Runs with each choice so far (`Session.layerSplitRuns`: which choice a session settles on).
    private(set) var used = (none: 0, dense: 0, every: 0)
    /// The run (`runs`) each choice last ran in: a probe takes the one other than the best that
    /// ran longest ago. (Taking the others in turn relative to the best missed `every` for good
    /// when the best flipped between `none` and `dense`, whose times are close on models where
    /// `dense` splits few layers: in the peer benchmark a session stayed on them for whole
    /// chunks of 50 runs without once trying `every`, which took half their time.)
    private let lastRuns: UnsafeMutablePointer<Int>
    /// The choice of the probe under way, and of the current run.
    private var probe = Choice.none
    private var current = Choice.none

    init() {
        let count = Choice.count
        times = .allocate(capacity: count * Self.window)
        times.initialize(repeating: 0, count: count * Self.window)
        filled = .allocate(capacity: count)
        filled.initialize(repeating: 0, count: count)
        slots = .allocate(capacity: count)
        slots.initialize(repeating: 0, count: count)
        sorted = .allocate(capacity: Self.window)
        sorted.initialize(repeating: 0, count: Self.window)
        lastRuns = .allocate(capacity: count)
        lastRuns.initialize(repeating: 0, count: count)
    }

    /// Frees the buffers (the owner calls it once).
    func deallocate() {
        times.deallocate()
        filled.deallocate()
        slots.deallocate()
        sorted.deallocate()
        lastRuns.deallocate()
    }

    /// The choice for run `run` (from 1) while `best` is the best.
    private func choice(run: Int) -> Choice {
        let count = Choice.count
        if run <= count * Self.warmUpRuns * Self.warmUpTurns {
            return Choice(rawValue: (run - 1) / Self.warmUpRuns % count)!
        }
        guard run % Self.probeInterval < Self.probeRuns else { return best }
        // A probe's later runs keep its choice (its first run made that choice the latest).
        if run % Self.probeInterval > 0 { return probe }
        var oldest = best
        for raw in 0..<count where raw != best.rawValue {
            if oldest == best || lastRuns[raw] < lastRuns[oldest.rawValue] { oldest = Choice(rawValue: raw)! }
        }
        return oldest
    }

    /// The choice for the next run: the best, or for `probeRuns` runs every `probeInterval`
    /// the other one that ran longest ago; at first, the choices in turn.
    mutating func next() -> Choice {
        runs &+= 1
        let next = choice(run: runs)
        if runs % Self.probeInterval == 0 { probe = next }
        lastRuns[next.rawValue] = runs
        current = next
        switch next {
        case .none: used.none &+= 1
        case .dense: used.dense &+= 1
        case .every: used.every &+= 1
        }
        return next
    }

    /// Whether the next run starts a probe (or a turn) of a split after a run with another
    /// choice: helpers may sleep (they spin 1 ms after their last part; `dense` splits no layer
    /// of some models), and the session wakes them one run ahead, so that the untimed first run
    /// of the probe costs less.
    var warmsUpBeforeNext: Bool {
        let upcoming = choice(run: runs &+ 1)
        return upcoming != .none && upcoming != current
    }

    /// Records that a run with `choice` started at `started` and ended at `ended`
    /// (`nanoseconds()`), for `images` images, and picks the best choice.
    mutating func record(_ choice: Choice, started: Int, ended: Int, images: Int = 1) {
        let paused = previous < 0 || started &- lastEnd > Self.idleNanoseconds
        pauses = pauses << 1 | (paused ? 1 : 0)
        if paused { resumed = started }
        lastEnd = ended
        let follows = previous == choice.rawValue
        previous = choice.rawValue
        let resuming = started &- resumed < Self.resumeNanoseconds && pauses.nonzeroBitCount <= UInt16.bitWidth / 2
        guard follows, !resuming else { return }
        let time = max(ended &- started, 1) / max(images, 1)
        // A probe faster than the best's median starts its choice's window over: the old times
        // may date from a slower spell (a chunk that started cold, a busy machine), and waiting
        // for the median to come down took several probes, hundreds of runs. If the probe was
        // lucky, the next runs (now with this choice) show it within two or three runs.
        if choice != best, Self.weighed(choice, time) < Self.weighed(best, median(best)) {
            filled[choice.rawValue] = 0
            slots[choice.rawValue] = 0
        }
        let slot = slots[choice.rawValue]
        times[choice.rawValue * Self.window + slot] = time
        slots[choice.rawValue] = (slot + 1) % Self.window
        filled[choice.rawValue] = min(filled[choice.rawValue] + 1, Self.window)
        var bestTime = Int.max
        for raw in 0..<Choice.count {
            let candidate = Choice(rawValue: raw)!
            let time = Self.weighed(candidate, median(candidate))
            if time < bestTime {
                bestTime = time
                best = candidate
            }
        }
    }

    /// A choice's time as compared with the others': a split must save at least 1/32 of the
    /// time; one that saves less loses as much on a busy machine (a helper descheduled holding
    /// its part) and in the probes.
    private static func weighed(_ choice: Choice, _ time: Int) -> Int {
        choice == .none && time != .max ? time - time / 32 : time
    }

    /// The median of a choice's recent times (a preempted run does not move it; of two, the
    /// higher), or Int.max while it has none.
    func median(_ choice: Choice) -> Int {
        let count = filled[choice.rawValue]
        guard count > 0 else { return .max }
        for i in 0..<count {
            let time = times[choice.rawValue * Self.window + i]
            // Insertion into the sorted prefix.
            var j = i
            while j > 0 && sorted[j - 1] > time {
                sorted[j] = sorted[j - 1]
                j -= 1
            }
            sorted[j] = time
        }
        return sorted[count / 2]
    }

    /// The parts of a layer with `workload` on `activationBytes` bytes of activations, run
    /// on `threads` threads, for `choice`: one per thread at most, each of at least
    /// `minimumWork` operations.
    static func parts(
        _ workload: (items: Int, work: Int), activationBytes: Int, threads: Int, minimumWork: Int, choice: Choice
    ) -> Int {
        switch choice {
        case .none: return 1
        case .dense where workload.work < denseWork * activationBytes: return 1
        case .dense, .every: return max(1, min(workload.items, threads, workload.work / minimumWork))
        }
    }

    /// A monotonic clock in nanoseconds.
    static func nanoseconds() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time.tv_sec &* 1_000_000_000 &+ time.tv_nsec
    }
}
