// libFuzzer entry point for the model.json converter: any bytes must convert
// or throw, never crash. Built by Tests/Fuzz/run.sh.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConverter(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? Converter.convertToCNNZ(json: Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
