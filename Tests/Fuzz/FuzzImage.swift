// libFuzzer entry point for the image reader (PNG, JPEG and Netpbm, told apart by
// their bytes) and image preparation. Built by Tests/Fuzz/run.sh, with the PNG
// checksums ignored (CNNZ_FUZZING) so that mutations reach the decoder.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let image = try? ImageReader.decode(bytes) {
        _ = image.converted(toChannels: 3 - image.channels + 1).resized(width: 7, height: 5)
    }
    return 0
}
