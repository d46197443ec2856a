// libFuzzer entry point: every byte string must load or throw, never crash,
// hang or allocate beyond the budget. Built by Tests/Fuzz/run.sh, which runs it
// with -malloc_limit_mb and -rss_limit_mb at that budget.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let model = try? Model(bytes: bytes, options: fuzzOptions) { runLoaded(model) }
    return 0
}

@_silgen_name("LLVMFuzzerMutate")
func LLVMFuzzerMutate(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int

/// Half of the mutations go to the decompressed payload, re-wrapped with correct
/// sizes and checksums, so that whole files reach the parser behind the checksums;
/// the other half mutate the file's bytes as they are (the header's checks).
@_cdecl("LLVMFuzzerCustomMutator")
public func mutateModel(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    let file = Array(UnsafeBufferPointer(start: data, count: size))
    guard seed % 2 == 0, size > ModelFormat.headerSize, let header = ModelReader.headerInfo(file),
        (0...(1 << 22)).contains(header.payloadBytes)
    else { return LLVMFuzzerMutate(data, size, maxSize) }
    var payload = [UInt8](repeating: 0, count: header.payloadBytes + 4096)
    let inflated: Bool = file.withUnsafeBytes { f in
        payload.withUnsafeMutableBytes { p in
            (try? Compression.inflate(
                UnsafeRawBufferPointer(rebasing: f[ModelFormat.headerSize...]),
                into: UnsafeMutableRawBufferPointer(rebasing: p[0..<header.payloadBytes]))) != nil
        }
    }
    guard inflated else { return LLVMFuzzerMutate(data, size, maxSize) }
    let newSize = payload.withUnsafeMutableBufferPointer {
        LLVMFuzzerMutate($0.baseAddress!, header.payloadBytes, $0.count)
    }
    let mutated = Array(payload[0..<newSize])
    guard let out = try? ModelWriter.file(payload: mutated), out.count <= maxSize else {
        return LLVMFuzzerMutate(data, size, maxSize)
    }
    out.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: out.count) }
    return out.count
}
