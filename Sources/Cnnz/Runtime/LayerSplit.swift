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
/// it runs with the choice whose recent runs were fastest, and every `probeInterval`-th run
/// with another, so that it notices when the machine changes. Parts never change a number of
/// the output (each kernel computes an element the same way whatever the split), so the
/// choice only moves time.
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
    /// Every this many runs, one runs with another choice (in turn), to keep its times current.
    static let probeInterval = 16

    /// `Choice.count * window` run times in nanoseconds per image (0: none yet).
    private let times: UnsafeMutablePointer<Int>
    /// The next slot of each choice's ring of times.
    private let slots: UnsafeMutablePointer<Int>
    /// Room to sort one window of times.
    private let sorted: UnsafeMutablePointer<Int>
    private var runs = 0
    private(set) var best = Choice.every

    init() {
        let count = Choice.count
        times = .allocate(capacity: count * Self.window)
        times.initialize(repeating: 0, count: count * Self.window)
        slots = .allocate(capacity: count)
        slots.initialize(repeating: 0, count: count)
        sorted = .allocate(capacity: Self.window)
        sorted.initialize(repeating: 0, count: Self.window)
    }

    /// Frees the buffers (the owner calls it once).
    func deallocate() {
        times.deallocate()
        slots.deallocate()
        sorted.deallocate()
    }

    /// The choice for the next run: the best, or every `probeInterval`-th run another one in
    /// turn. Until each choice has a full window of times, the choices take turns.
    mutating func next() -> Choice {
        runs &+= 1
        let count = Choice.count
        if runs <= count * Self.window { return Choice(rawValue: runs % count)! }
        guard runs % Self.probeInterval == 0 else { return best }
        let other = 1 + (runs / Self.probeInterval) % (count - 1)
        return Choice(rawValue: (best.rawValue + other) % count)!
    }

    /// Whether the next run probes a split while the best is no split: helpers then sleep
    /// (they spin 1 ms after their last part, and `probeInterval` runs of cifar_vgg take 7),
    /// and a probe that starts by waking them would be timed tens of microseconds slow and
    /// never win back. The session wakes them one run ahead.
    var warmsUpBeforeNext: Bool {
        let upcoming = runs &+ 1
        return best == .none && upcoming > Choice.count * Self.window && upcoming % Self.probeInterval == 0
    }

    /// Records that a run with `choice` took `nanoseconds` per image, and picks the best.
    mutating func record(_ choice: Choice, nanoseconds: Int) {
        let slot = slots[choice.rawValue]
        times[choice.rawValue * Self.window + slot] = nanoseconds
        slots[choice.rawValue] = (slot + 1) % Self.window
        var bestMedian = Int.max
        for raw in 0..<Choice.count {
            let candidate = Choice(rawValue: raw)!
            var median = self.median(candidate)
            // A split must save at least 1/32 of the time: one that saves less loses as much on
            // a busy machine (a helper descheduled holding its part) and in the probes.
            if candidate == .none && median != .max { median -= median / 32 }
            if median < bestMedian {
                bestMedian = median
                best = candidate
            }
        }
    }

    /// The median of a choice's recent times (a preempted run does not move it), or Int.max
    /// while it has none.
    private func median(_ choice: Choice) -> Int {
        var filled = 0
        for i in 0..<Self.window {
            let time = times[choice.rawValue * Self.window + i]
            guard time > 0 else { continue }
            // Insertion into the sorted prefix.
            var j = filled
            while j > 0 && sorted[j - 1] > time {
                sorted[j] = sorted[j - 1]
                j -= 1
            }
            sorted[j] = time
            filled += 1
        }
        return filled == 0 ? .max : sorted[filled / 2]
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
