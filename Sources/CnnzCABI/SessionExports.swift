public import CCnnzHeader
import Cnnz

// The C API's session functions, checked against include/cnnz.h.

@c @implementation
public func cnnz_session_create(_ model: OpaquePointer?, _ outSession: UnsafeMutablePointer<OpaquePointer?>?)
    -> cnnz_status
{
    cnnz_session_create_with(model, 1, 1, outSession)
}

@c @implementation
public func cnnz_session_create_with(
    _ model: OpaquePointer?, _ batchCapacity: Int, _ threads: Int, _ outSession: UnsafeMutablePointer<OpaquePointer?>?
) -> cnnz_status {
    guard let outSession else { return argumentError("cnnz_session_create: out_session is NULL") }
    guard let handle = Registry.model(model) else { return CNNZ_ERROR_ARGUMENT }
    guard batchCapacity >= 1, batchCapacity <= 65536 else {
        return argumentError(
            "cnnz_session_create: batch capacity \(UInt(bitPattern: batchCapacity)) is outside 1...65536")
    }
    guard threads >= 1, threads <= Session.maxThreads else {
        return argumentError(
            "cnnz_session_create: thread count \(UInt(bitPattern: threads)) is outside 1...\(Session.maxThreads)")
    }
    do {
        let session = try handle.model.makeSession(batchCapacity: batchCapacity, threads: threads)
        outSession.pointee = Registry.register(SessionHandle(session))
        return CNNZ_OK
    } catch {
        return fail(error)
    }
}

@c @implementation
public func cnnz_session_thread_count(_ session: OpaquePointer?) -> Int {
    Registry.session(session)?.session.threadCount ?? 0
}

@c @implementation
public func cnnz_session_free(_ session: OpaquePointer?) {
    guard let session else { return }
    Registry.freeSession(session)
}

/// Validates a run's arguments, marks the session busy, and calls `body`
/// with the element counts it may use.
private func withRun(
    _ function: String, _ session: OpaquePointer?, _ input: UnsafeRawPointer?, _ available: Int, _ batch: Int,
    _ output: UnsafeMutablePointer<Float>?, _ capacity: Int,
    _ body: (Session, Int, UnsafeMutableBufferPointer<Float>) throws(CnnzError) -> Void
) -> cnnz_status {
    guard let handle = Registry.session(session) else { return CNNZ_ERROR_ARGUMENT }
    guard let output else { return argumentError("\(function): output is NULL") }
    return withRunInput(function, handle, input, available, batch) { (session, inputCount) throws(CnnzError) in
        let model = session.model
        // Below Int.max: withRunInput checked batch x the input's size, which is at least as large.
        let outputCount = batch.multipliedReportingOverflow(by: model.outputSize)
        guard !outputCount.overflow, capacity >= 0, capacity >= outputCount.partialValue else {
            throw .argument(
                "\(function): output capacity \(UInt(bitPattern: capacity)) is below batch \(batch) x \(model.outputSize) outputs"
            )
        }
        try body(session, inputCount, UnsafeMutableBufferPointer(start: output, count: outputCount.partialValue))
    }
}

/// Validates the input of a run (`available` values at `input`, `batch` images), marks the
/// session busy, and calls `body` with the number of input values it may read.
func withRunInput(
    _ function: String, _ handle: SessionHandle, _ input: UnsafeRawPointer?, _ available: Int, _ batch: Int,
    _ body: (Session, Int) throws(CnnzError) -> Void
) -> cnnz_status {
    guard input != nil else { return argumentError("\(function): input is NULL") }
    // size_t values above Int.max arrive negative.
    guard batch >= 1 else {
        return argumentError("\(function): batch must be at least 1, got \(UInt(bitPattern: batch))")
    }
    let model = handle.session.model
    let (outputCount, outputOverflow) = batch.multipliedReportingOverflow(by: model.outputSize)
    let (inputCount, inputOverflow) = batch.multipliedReportingOverflow(by: model.inputShape.elementCount)
    guard !outputOverflow, !inputOverflow, outputCount >= 0,
        inputCount.multipliedReportingOverflow(by: 4).overflow == false
    else {
        return argumentError("\(function): batch \(batch) is too large")
    }
    // A count above Int.max arrives negative: more than enough, as no buffer is that large.
    guard available < 0 || available >= inputCount else {
        return argumentError(
            "\(function): the input holds \(available) values, below batch \(batch) x \(model.inputShape.elementCount) (\(model.inputShape))"
        )
    }
    guard handle.busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
        return argumentError("\(function): the session is in use by another thread; use one session per thread")
    }
    defer { handle.busy.store(false, ordering: .releasing) }
    do {
        try body(handle.session, inputCount)
        return CNNZ_OK
    } catch {
        return fail(error)
    }
}

@c @implementation
public func cnnz_run(
    _ session: OpaquePointer?, _ input: UnsafePointer<Float>?, _ inputCount: Int, _ batch: Int,
    _ output: UnsafeMutablePointer<Float>?, _ outputCapacity: Int
) -> cnnz_status {
    withRun("cnnz_run", session, input.map(UnsafeRawPointer.init), inputCount, batch, output, outputCapacity) {
        (session, count, out) throws(CnnzError) in
        try session.run(input: UnsafeBufferPointer(start: input, count: count), batch: batch, output: out)
    }
}

@c @implementation
public func cnnz_run_u8(
    _ session: OpaquePointer?, _ pixels: UnsafePointer<UInt8>?, _ pixelCount: Int, _ batch: Int,
    _ output: UnsafeMutablePointer<Float>?, _ outputCapacity: Int
) -> cnnz_status {
    withRun("cnnz_run_u8", session, pixels.map(UnsafeRawPointer.init), pixelCount, batch, output, outputCapacity) {
        (session, count, out) throws(CnnzError) in
        try session.run(pixels: UnsafeBufferPointer(start: pixels, count: count), batch: batch, output: out)
    }
}

@c @implementation
public func cnnz_classify_file(
    _ session: OpaquePointer?, _ imagePath: UnsafePointer<CChar>?, _ output: UnsafeMutablePointer<Float>?,
    _ outputCapacity: Int
) -> cnnz_status {
    guard let imagePath else { return argumentError("cnnz_classify_file: image_path is NULL") }
    return withRun("cnnz_classify_file", session, UnsafeRawPointer(imagePath), -1, 1, output, outputCapacity) {
        (session, _, out) throws(CnnzError) in
        let image = try ImageReader.read(path: String(cString: imagePath))
        let input = session.model.prepare(image).input
        try input.withUnsafeBufferPointer { (buffer) throws(CnnzError) in
            try session.run(input: buffer, batch: 1, output: out)
        }
    }
}
