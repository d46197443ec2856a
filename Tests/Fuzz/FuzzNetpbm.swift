// libFuzzer entry point for the Netpbm reader and image preparation.
// Built by Tests/Fuzz/run.sh.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetpbm(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let image = try? NetpbmReader.decode(bytes) {
        _ = image.converted(toChannels: 3 - image.channels + 1).resized(width: 7, height: 5)
    }
    return 0
}
