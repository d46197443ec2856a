public import CCnnzHeader
import Cnnz

// The C API's image functions, checked by the compiler against include/cnnz.h.

@c @implementation
public func cnnz_image_size(
    _ imagePath: UnsafePointer<CChar>?, _ width: UnsafeMutablePointer<Int32>?,
    _ height: UnsafeMutablePointer<Int32>?, _ channels: UnsafeMutablePointer<Int32>?
) -> cnnz_status {
    guard let imagePath else { return argumentError("cnnz_image_size: image_path is NULL") }
    do {
        // The same reader as cnnz_classify_file, so that the size is the one it will see.
        let image = try ImageReader.read(path: String(cString: imagePath))
        // The reader caps an image at 2^26 pixels, so each dimension fits in int32_t (clamped all the same).
        width?.pointee = Int32(clamping: image.width)
        height?.pointee = Int32(clamping: image.height)
        channels?.pointee = Int32(clamping: image.channels)
        return CNNZ_OK
    } catch {
        return fail(error)
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
    do {
        // The same decoder as cnnz_classify_image, so that the size is the one it will see.
        let image = try Session.decodeEncoded(UnsafeRawBufferPointer(start: data, count: size))
        width?.pointee = Int32(clamping: image.width)
        height?.pointee = Int32(clamping: image.height)
        channels?.pointee = Int32(clamping: image.channels)
        return CNNZ_OK
    } catch {
        return fail(error)
    }
}
