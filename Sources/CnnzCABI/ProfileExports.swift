public import CCnnzHeader
import Cnnz

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// The C API's layer list and profiler (what `infer --profile` prints), checked against
// include/cnnz.h.

/// The layers' names and types as C strings in one allocation, and their multiply-adds per
/// image: what `cnnz_model_layer` hands out, owned by the model's handle.
struct LayerTable {
    /// Every layer's name, then its type, each NUL-terminated.
    let text: UnsafeMutablePointer<CChar>
    /// Where layer i's name and type start in `text`.
    let names: [Int]
    let types: [Int]
    let macs: [Int]

    init(_ model: Model) throws(CnnzError) {
        let summaries = model.layerSummaries
        var bytes = 0
        for summary in summaries {
            bytes += summary.layer.name.utf8.count + summary.layer.kind.className.utf8.count + 2
        }
        guard let text = malloc(max(bytes, 1))?.assumingMemoryBound(to: CChar.self) else {
            throw .memory("out of memory while copying the model's layer names")
        }
        var names: [Int] = []
        var types: [Int] = []
        names.reserveCapacity(summaries.count)
        types.reserveCapacity(summaries.count)
        var offset = 0
        func append(_ string: String) -> Int {
            let start = offset
            for byte in string.utf8 {
                text[offset] = CChar(bitPattern: byte)
                offset += 1
            }
            text[offset] = 0
            offset += 1
            return start
        }
        for summary in summaries {
            names.append(append(summary.layer.name))
            types.append(append(summary.layer.kind.className))
        }
        self.text = text
        self.names = names
        self.types = types
        macs = summaries.map(\.macs)
    }

    func deallocate() { free(text) }
}

@c @implementation
public func cnnz_model_layer_count(_ model: OpaquePointer?) -> Int {
    Registry.model(model)?.layers.names.count ?? 0
}

@c @implementation
public func cnnz_model_layer(
    _ model: OpaquePointer?, _ index: Int, _ name: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
    _ type: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ macs: UnsafeMutablePointer<UInt64>?
) -> cnnz_status {
    guard let handle = Registry.model(model) else { return CNNZ_ERROR_ARGUMENT }
    let layers = handle.layers
    // size_t arrives as Int: a value above Int.max is negative here.
    guard index >= 0, index < layers.names.count else {
        return argumentError(
            "cnnz_model_layer: index \(UInt(bitPattern: index)) is out of range (the model has \(layers.names.count) layers)"
        )
    }
    name?.pointee = UnsafePointer(layers.text + layers.names[index])
    type?.pointee = UnsafePointer(layers.text + layers.types[index])
    macs?.pointee = UInt64(layers.macs[index])
    return CNNZ_OK
}

@c @implementation
public func cnnz_session_profile(
    _ session: OpaquePointer?, _ input: UnsafePointer<Float>?, _ inputCount: Int, _ batch: Int, _ runs: Int,
    _ layerMilliseconds: UnsafeMutablePointer<Double>?, _ layerCapacity: Int
) -> cnnz_status {
    guard let handle = Registry.session(session) else { return CNNZ_ERROR_ARGUMENT }
    guard let layerMilliseconds else { return argumentError("cnnz_session_profile: layer_milliseconds is NULL") }
    let layerCount = handle.session.model.contents.graph.layers.count
    // size_t values above Int.max arrive negative.
    guard layerCapacity >= 0, layerCapacity >= layerCount else {
        return argumentError(
            "cnnz_session_profile: layer capacity \(UInt(bitPattern: layerCapacity)) is below the model's \(layerCount) layers"
        )
    }
    guard runs >= 1, runs <= 1_000_000 else {
        return argumentError("cnnz_session_profile: runs \(UInt(bitPattern: runs)) is outside 1...1000000")
    }
    return withRunInput("cnnz_session_profile", handle, input.map(UnsafeRawPointer.init), inputCount, batch) {
        (session, count) throws(CnnzError) in
        let profile = try session.profile(
            input: UnsafeBufferPointer(start: input, count: count), batch: batch, runs: runs, warmup: min(runs, 10))
        for layer in profile.layers { layerMilliseconds[layer.index] = layer.seconds * 1000 }
    }
}
