/// Places buffers with known lifetimes in one arena so that two buffers that
/// are never alive at the same step may share memory (TFLM's greedy planner):
/// largest first, each at the lowest offset that overlaps no placed buffer
/// alive at the same time.
enum BufferPlanner {
    struct Request {
        /// Bytes per image.
        var bytes: Int
        /// The step that writes it, and the last step that reads it.
        var firstStep: Int
        var lastStep: Int
    }

    /// Offsets are multiples of 64 bytes (16 floats, a cache line), for aligned SIMD access.
    static let alignment = 64

    /// Above this many buffers the greedy search (quadratic in the count) is
    /// skipped and every buffer gets memory of its own, so that a crafted graph
    /// of 65,536 layers plans in linear time. Real CNNs have far fewer layers.
    static let greedyLimit = 4096

    static func plan(_ requests: [Request]) -> (offsets: [Int], total: Int) {
        if requests.count > greedyLimit {
            var offsets: [Int] = []
            offsets.reserveCapacity(requests.count)
            var total = 0
            for request in requests {
                offsets.append(total)
                total += (request.bytes + alignment - 1) / alignment * alignment
            }
            return (offsets, total)
        }
        let order = requests.indices.sorted {
            requests[$0].bytes != requests[$1].bytes ? requests[$0].bytes > requests[$1].bytes : $0 < $1
        }
        var offsets = [Int](repeating: 0, count: requests.count)
        var placed: [Int] = []
        var total = 0
        for index in order {
            let request = requests[index]
            let size = (request.bytes + alignment - 1) / alignment * alignment
            // Intervals of the arena taken by buffers alive during this one, by offset.
            let conflicts = placed.filter {
                requests[$0].firstStep <= request.lastStep && request.firstStep <= requests[$0].lastStep
            }.map {
                (start: offsets[$0], end: offsets[$0] + (requests[$0].bytes + alignment - 1) / alignment * alignment)
            }
            .sorted { $0.start < $1.start }
            var candidate = 0
            for interval in conflicts {
                if candidate + size <= interval.start { break }
                candidate = max(candidate, interval.end)
            }
            offsets[index] = candidate
            placed.append(index)
            total = max(total, candidate + size)
        }
        return (offsets, total)
    }
}
