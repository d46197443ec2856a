public import CCnnzHeader
import Cnnz

// The C API's image functions, checked by the compiler against include/cnnz.h.

@c @implementation
public func cnnz_image_size(
    _ imagePath: UnsafePointer<CChar>?, _ width: UnsafeMutablePointer<Int32>?,
    _ height: UnsafeMutablePointer<Int32>?, _ channels: UnsafeMutablePointer<Int32>?
) -> cnnz_status {
    guard let imagePath else { return argumentError("cnnz_image_size: image_path is NULL") }
    // The same reader as cnnz_classify_file, so that the size is the one it will see.
    return writeSize(width, height, channels) { () throws(CnnzError) in
        try ImageReader.read(path: String(cString: imagePath))
    }
}

@c @implementation
public func cnnz_image_size_memory(
    _ data: UnsafeRawPointer?, _ size: Int, _ width: UnsafeMutablePointer<Int32>?,
    _ height: UnsafeMutablePointer<Int32>?, _ channels: UnsafeMutablePointer<Int32>?
) -> cnnz_status {
    // size_t values above Int.max arrive negative; no real buffer is that large.
    guard size >= 0 else { return argumentError("cnnz_image_size_memory: size \(UInt(bitPattern: size)) is too large") }
    guard data != nil || size == 0 else { return argumentError("cnnz_image_size_memory: data is NULL") }
    // The same decoder as cnnz_classify_image, so that the size is the one it will see.
    return writeSize(width, height, channels) { () throws(CnnzError) in
        try Session.decodeEncoded(UnsafeRawBufferPointer(start: data, count: size))
    }
}

/// Decodes an image with `decode` and writes its size through the pointers given (any may be
/// NULL); a failure is the call's status and the thread's last error.
private func writeSize(
    _ width: UnsafeMutablePointer<Int32>?, _ height: UnsafeMutablePointer<Int32>?,
    _ channels: UnsafeMutablePointer<Int32>?, decode: () throws(CnnzError) -> Image
) -> cnnz_status {
    do {
        let image = try decode()
        // Decoders cap an image at 2^26 pixels, so each dimension fits in int32_t (clamped all the same).
        width?.pointee = Int32(clamping: image.width)
        height?.pointee = Int32(clamping: image.height)
        channels?.pointee = Int32(clamping: image.channels)
        return CNNZ_OK
    } catch {
        return fail(error)
    }
}
