// libFuzzer entry point for the decompressed payload: the checksums stop
// almost every mutation of a whole file, so this target feeds bytes straight
// to the section, graph and tensor decoders. Built by Tests/Fuzz/run.sh.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPayload(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The payload buffer is 64-byte aligned in the real reader; copy to match.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 64)
    defer { buffer.deallocate() }
    buffer.copyMemory(from: UnsafeRawBufferPointer(start: data, count: size))
    if let description = try? ModelReader.decodePayload(UnsafeRawBufferPointer(rebasing: buffer[0..<size])),
        let model = try? Model(description)
    {
        if model.activationBytesPerImage < 1 << 26 && model.inputShape.elementCount < 1 << 20 {
            _ = try? model.predict([Float](repeating: 0.5, count: model.inputShape.elementCount))
        }
    }
    return 0
}
