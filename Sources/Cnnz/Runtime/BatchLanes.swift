/// A batch split by images instead of by layers: each thread (a lane) runs a
/// few images at a time through the whole network in its own share of the
/// session's arena, with no synchronization between layers. Groups of images
/// are claimed one at a time through the `WorkerPool` (a group is a part), so a
/// helper that is asleep or descheduled (beside another library's spinning
/// thread pool, or on a busy machine) simply runs fewer groups: the caller
/// waits at most for the one group a late helper holds, never for a layer. A
/// layer split in parts costs a hand-over and a join per layer; on a quiet
/// machine that is a few microseconds, beside a busy core a time slice per
/// layer, which lost the second thread entirely in the peer benchmark.
///
/// Every image goes through the same kernels as in a run of one thread (part 0
/// of 1), and no kernel's result for an image depends on the other images of
/// its run, so the outputs are the same to the bit whatever the grouping.
/// Nothing is allocated per run: the lanes' value tables are made at creation,
/// and their arenas are the session's arena cut in `lanes` equal slices, so
/// the split costs no memory beyond a pointer per value per thread.
final class BatchLanes: SplitWork, @unchecked Sendable {
    private let plan: ExecutionPlan
    /// Threads, caller included: lane `i` is run by the pool's thread `i`.
    let lanes: Int
    /// The most images a lane runs at once (its slice of the arena).
    let imagesPerLane: Int
    private let valueCount: Int
    /// `lanes * valueCount` value addresses: lane `i`'s from `i * valueCount`.
    private let tables: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private let scratch: UnsafeMutableRawPointer
    private let scratchStride: Int
    private let inputElements: Int
    private let outputSize: Int

    // The current run, written by the caller before the pool publishes it.
    private var source: UnsafePointer<Float>?
    private var destination: UnsafeMutablePointer<Float>?
    private var count = 0
    private var group = 1

    /// - Parameters: `arena` holds `batchCapacity` images' activations;
    ///   `scratch` holds `lanes` areas of `scratchStride` bytes.
    init(
        plan: ExecutionPlan, lanes: Int, batchCapacity: Int, arena: UnsafeMutableRawPointer,
        scratch: UnsafeMutableRawPointer, scratchStride: Int, inputElements: Int, outputSize: Int
    ) {
        precondition(lanes >= 1 && batchCapacity >= lanes)
        self.plan = plan
        self.lanes = lanes
        imagesPerLane = batchCapacity / lanes
        valueCount = plan.offsets.count
        tables = .allocate(capacity: lanes * valueCount)
        for lane in 0..<lanes {
            let base = arena + lane * imagesPerLane * plan.arenaBytesPerImage
            for (value, offset) in plan.offsets.enumerated() {
                // The input's entries are set per group; until then they point at the arena.
                tables[lane * valueCount + value] = base + max(offset, 0) * imagesPerLane
            }
        }
        self.scratch = scratch
        self.scratchStride = scratchStride
        self.inputElements = inputElements
        self.outputSize = outputSize
    }

    deinit { tables.deallocate() }

    /// Images per group for a run of `count` images: about four groups per
    /// thread, so that a late helper holds up the caller for at most an eighth
    /// of the run on two threads, and at most 8 images, past which a larger
    /// group makes the layers little faster (their weights are already reused
    /// across the group's images) and only the wait for the last group longer.
    func groupSize(count: Int) -> Int {
        max(1, min(imagesPerLane, Self.maximumGroup, count / (lanes * Self.groupsPerThread)))
    }

    static let maximumGroup = 8
    static let groupsPerThread = 4

    /// Prepares a run of `count` images from `source` to `destination`; returns its parts (groups).
    func prepare(source: UnsafePointer<Float>, count: Int, destination: UnsafeMutablePointer<Float>) -> Int {
        self.source = source
        self.destination = destination
        self.count = count
        group = groupSize(count: count)
        return (count + group - 1) / group
    }

    /// Runs the groups of `part`, in the lane of the pool thread running it (`scratchSlot`).
    func run(_ context: RunContext, part: Int, of parts: Int) {
        guard let source, let destination else { return }
        let lane = max(context.scratchSlot, 0)
        let table = tables + lane * valueCount
        let groups = (count + group - 1) / group
        for g in Partition.range(groups, part: part, of: parts) {
            let start = g * group
            let images = min(group, count - start)
            let input = UnsafeMutableRawPointer(mutating: source + start * inputElements)
            for value in plan.inputValues { table[value] = input }
            let laneContext = RunContext(values: table, batch: images, scratch: scratch + lane * scratchStride)
            for kernel in plan.kernels { kernel.run(laneContext, part: 0, of: 1) }
            (destination + start * outputSize).update(
                from: laneContext.float32(plan.outputValue), count: images * outputSize)
        }
    }
}
