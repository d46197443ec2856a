// libFuzzer entry point for the image reader (PNG, JPEG and Netpbm, told apart by
// their bytes) and image preparation. Built by Tests/Fuzz/run.sh, with the PNG
// checksums ignored (CNNZ_FUZZING) so that mutations reach the decoder.
// Resized before the channel conversion: a 144-byte progressive JPEG can declare
// 2^26 pixels (Limits.maxImagePixels), and converting that many to three float
// channels first took over 10 s under AddressSanitizer (regressions/Image/).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let image = try? ImageReader.decode(bytes) {
        _ = image.resized(width: 7, height: 5).converted(toChannels: 3 - image.channels + 1)
    }
    return 0
}
