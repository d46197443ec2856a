internal import CCnnzHeader
import Cnnz
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a `cnnz_model *` points to: the model, plus the C strings the API
/// hands out (owned here, freed with the handle). Immutable, so Sendable.
final class ModelHandle: @unchecked Sendable {
    let model: Model
    let name: UnsafeMutablePointer<CChar>
    let labels: [UnsafeMutablePointer<CChar>]
    /// The layers' names, types and multiply-adds (`cnnz_model_layer`).
    let layers: LayerTable

    /// Copies the name and labels as C strings; out of memory is an error, not an abort.
    init(_ model: Model) throws(CnnzError) {
        self.model = model
        var copies: [UnsafeMutablePointer<CChar>] = []
        copies.reserveCapacity(model.labels.count + 1)
        for text in [model.name] + model.labels {
            guard let copy = strdup(text) else {
                for earlier in copies { free(earlier) }
                throw .memory("out of memory while copying the model's labels")
            }
            copies.append(copy)
        }
        do {
            layers = try LayerTable(model)
        } catch {
            for copy in copies { free(copy) }
            throw error
        }
        name = copies[0]
        labels = Array(copies.dropFirst())
    }

    deinit {
        free(name)
        for label in labels { free(label) }
        layers.deallocate()
    }
}

/// What a `cnnz_session *` points to. Sendable because `busy` serializes every use of `session`.
final class SessionHandle: @unchecked Sendable {
    let session: Session
    /// Set while a call runs, so that two threads using one session get an error instead of corrupt output.
    let busy = Atomic<Bool>(false)

    init(_ session: Session) { self.session = session }
}

/// The live handles. Every call looks its pointer up here first, so a NULL,
/// freed or foreign pointer is an error, never a dereference.
enum Registry {
    private static let models = Mutex<Set<UInt>>([])
    private static let sessions = Mutex<Set<UInt>>([])

    static func register(_ handle: ModelHandle) -> OpaquePointer {
        let pointer = Unmanaged.passRetained(handle).toOpaque()
        _ = models.withLock { $0.insert(UInt(bitPattern: pointer)) }
        return OpaquePointer(pointer)
    }

    static func register(_ handle: SessionHandle) -> OpaquePointer {
        let pointer = Unmanaged.passRetained(handle).toOpaque()
        _ = sessions.withLock { $0.insert(UInt(bitPattern: pointer)) }
        return OpaquePointer(pointer)
    }

    static func model(_ pointer: OpaquePointer?) -> ModelHandle? {
        guard let pointer else {
            fail("model is NULL")
            return nil
        }
        let key = UInt(bitPattern: UnsafeRawPointer(pointer))
        let handle: ModelHandle? = models.withLock { live in
            live.contains(key)
                ? Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue() : nil
        }
        if handle == nil { fail("model \(pointer) is not a live cnnz_model (freed, or never created)") }
        return handle
    }

    static func session(_ pointer: OpaquePointer?) -> SessionHandle? {
        guard let pointer else {
            fail("session is NULL")
            return nil
        }
        let key = UInt(bitPattern: UnsafeRawPointer(pointer))
        let handle: SessionHandle? = sessions.withLock { live in
            live.contains(key)
                ? Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue() : nil
        }
        if handle == nil { fail("session \(pointer) is not a live cnnz_session (freed, or never created)") }
        return handle
    }

    static func freeModel(_ pointer: OpaquePointer) {
        let key = UInt(bitPattern: UnsafeRawPointer(pointer))
        if models.withLock({ $0.remove(key) }) != nil {
            Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(pointer)).release()
        } else {
            fail("cnnz_model_free: \(pointer) is not a live cnnz_model; ignored")
        }
    }

    static func freeSession(_ pointer: OpaquePointer) {
        let key = UInt(bitPattern: UnsafeRawPointer(pointer))
        if sessions.withLock({ $0.remove(key) }) != nil {
            Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(pointer)).release()
        } else {
            fail("cnnz_session_free: \(pointer) is not a live cnnz_session; ignored")
        }
    }
}

/// Records `message` as this thread's last error.
func fail(_ message: String) {
    message.withCString { cnnz_internal_set_last_error($0) }
}

/// Records `error` and returns its status.
func fail(_ error: CnnzError) -> cnnz_status {
    fail(error.message)
    return status(of: error)
}

/// The status of `error`.
func status(of error: CnnzError) -> cnnz_status {
    switch error {
    case .argument: return CNNZ_ERROR_ARGUMENT
    case .io: return CNNZ_ERROR_IO
    case .format: return CNNZ_ERROR_FORMAT
    case .unsupported: return CNNZ_ERROR_UNSUPPORTED
    case .memory: return CNNZ_ERROR_MEMORY
    case .selfTest: return CNNZ_ERROR_INTERNAL
    }
}

func argumentError(_ message: String) -> cnnz_status {
    fail(message)
    return CNNZ_ERROR_ARGUMENT
}
