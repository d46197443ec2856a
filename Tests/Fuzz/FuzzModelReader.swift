// libFuzzer entry point: every byte string must load or throw, never crash,
// hang or allocate without bound. Built by Tests/Fuzz/run.sh.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let model = try? Model(bytes: bytes) {
        // A model that loads must also run (small ones: a big arena only slows the fuzzer).
        if model.activationBytesPerImage < 1 << 26 && model.inputShape.elementCount < 1 << 20 {
            _ = try? model.predict([Float](repeating: 0.5, count: model.inputShape.elementCount))
        }
    }
    return 0
}
