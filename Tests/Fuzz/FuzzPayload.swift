// libFuzzer entry point for the decompressed payload: feeds bytes straight to
// the section, graph and tensor decoders, within the same budget as the
// whole-file target. Built by Tests/Fuzz/run.sh, with FuzzModelReader.swift's options.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPayload(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The payload buffer is 64-byte aligned in the real reader; copy to match.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 64)
    defer { buffer.deallocate() }
    buffer.copyMemory(from: UnsafeRawBufferPointer(start: data, count: size))
    var budget = MemoryBudget(limit: fuzzOptions.maxMemory)
    guard (try? budget.reserve(size, for: "the payload")) != nil else { return 0 }
    if let description = try? ModelReader.decodePayload(
        UnsafeRawBufferPointer(rebasing: buffer[0..<size]), budget: &budget),
        let model = try? Model(description, options: fuzzOptions)
    {
        runLoaded(model)
    }
    return 0
}
