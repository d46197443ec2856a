public import CCnnzHeader
import Cnnz

// The C API's functions for images held in memory, checked by the compiler against include/cnnz.h.

@c @implementation
public func cnnz_classify_image(
    _ session: OpaquePointer?, _ data: UnsafeRawPointer?, _ size: Int, _ output: UnsafeMutablePointer<Float>?,
    _ outputCapacity: Int
) -> cnnz_status {
    guard data != nil || size == 0 else { return argumentError("cnnz_classify_image: data is NULL") }
    // The offsets of the one image, on the stack (an array would be allocated per call).
    return withUnsafeTemporaryAllocation(of: Int.self, capacity: 2) { offsets in
        offsets.initialize(repeating: 0)
        offsets[1] = size
        return classifyImages(
            "cnnz_classify_image", session, data, size, UnsafePointer(offsets.baseAddress), 1, output,
            outputCapacity, nil, indexInMessages: false)
    }
}

@c @implementation
public func cnnz_classify_images(
    _ session: OpaquePointer?, _ data: UnsafeRawPointer?, _ dataSize: Int, _ offsets: UnsafePointer<Int>?,
    _ count: Int, _ output: UnsafeMutablePointer<Float>?, _ outputCapacity: Int,
    _ statuses: UnsafeMutablePointer<cnnz_status>?
) -> cnnz_status {
    classifyImages(
        "cnnz_classify_images", session, data, dataSize, offsets, count, output, outputCapacity, statuses,
        indexInMessages: true)
}

/// Checks every argument, then runs the images through the session (busy meanwhile); the status
/// is that of the first image that failed, whose message is the thread's last error.
private func classifyImages(
    _ function: String, _ session: OpaquePointer?, _ data: UnsafeRawPointer?, _ dataSize: Int,
    _ offsets: UnsafePointer<Int>?, _ count: Int, _ output: UnsafeMutablePointer<Float>?, _ outputCapacity: Int,
    _ statuses: UnsafeMutablePointer<cnnz_status>?, indexInMessages: Bool
) -> cnnz_status {
    guard let handle = Registry.session(session) else { return CNNZ_ERROR_ARGUMENT }
    guard let output else { return argumentError("\(function): output is NULL") }
    guard let offsets else { return argumentError("\(function): offsets is NULL") }
    // size_t values above Int.max arrive negative; no real buffer or count is that large.
    guard count >= 1, count < Int.max else {
        return argumentError("\(function): count must be at least 1, got \(UInt(bitPattern: count))")
    }
    guard dataSize >= 0 else {
        return argumentError("\(function): data_size \(UInt(bitPattern: dataSize)) is too large")
    }
    guard data != nil || dataSize == 0 else { return argumentError("\(function): data is NULL") }
    let outputSize = handle.session.model.outputSize
    let (outputCount, overflow) = count.multipliedReportingOverflow(by: outputSize)
    guard !overflow, outputCapacity >= 0, outputCapacity >= outputCount else {
        return argumentError(
            "\(function): output capacity \(UInt(bitPattern: outputCapacity)) is below \(count) images x \(outputSize) outputs"
        )
    }
    let offsetList = UnsafeBufferPointer(start: offsets, count: count + 1)
    for index in 0..<count {
        let (start, end) = (offsetList[index], offsetList[index + 1])
        guard start >= 0, start <= end, end <= dataSize else {
            let image = indexInMessages ? "image \(index)" : "the image"
            return argumentError(
                "\(function): \(image) spans bytes \(UInt(bitPattern: start))..<\(UInt(bitPattern: end)), outside the \(dataSize) bytes of data"
            )
        }
    }
    guard handle.busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
        return argumentError("\(function): the session is in use by another thread; use one session per thread")
    }
    defer { handle.busy.store(false, ordering: .releasing) }
    // Each image's status as it runs (an array of errors would be allocated per call); the first
    // failure's message is the thread's last error.
    if let statuses { statuses.update(repeating: CNNZ_OK, count: count) }
    var first: (status: cnnz_status, index: Int, error: CnnzError)?
    do {
        try handle.session.run(
            encodedImages: count,
            bytes: { index in
                let start = offsetList[index]
                return UnsafeRawBufferPointer(start: data.map { $0 + start }, count: offsetList[index + 1] - start)
            },
            output: UnsafeMutableBufferPointer(start: output, count: outputCount),
            failed: { index, error in
                let status = status(of: error)
                statuses?[index] = status
                if first == nil { first = (status, index, error) }
            })
    } catch {
        return fail(error)
    }
    guard let first else { return CNNZ_OK }
    fail(indexInMessages ? "image \(first.index): \(first.error.message)" : first.error.message)
    return first.status
}
