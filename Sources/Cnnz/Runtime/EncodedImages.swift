extension Session {
    /// Decodes encoded images (the bytes of PNG, JPEG or Netpbm files) and runs them, in batches of
    /// `batchCapacity`, so that a caller with many images in memory makes one call, not one per image.
    ///
    /// Each image is decoded by `ImageReader.decode` and prepared by `Model.prepare`, as
    /// `cnnz_classify_file` does with a file of the same bytes, so the outputs are the same to the
    /// bit. An image that cannot be read does not stop the others: its row of `output` is NaN and
    /// its error is in the result.
    ///
    /// - Parameters:
    ///   - count: how many images there are.
    ///   - bytes: image `i`'s encoded bytes; read during the call only.
    ///   - output: receives `count * model.outputSize` floats, row `i` for image `i`.
    /// - Returns: each image's error, nil for the images that ran.
    /// - Throws: `CnnzError.argument` when `output` is too small (before anything is decoded).
    public func run(
        encodedImages count: Int, bytes: (Int) -> UnsafeRawBufferPointer, output: UnsafeMutableBufferPointer<Float>
    ) throws(CnnzError) -> [CnnzError?] {
        var errors = [CnnzError?](repeating: nil, count: max(count, 0))
        try run(encodedImages: count, bytes: bytes, output: output) { errors[$0] = $1 }
        return errors
    }

    /// `run(encodedImages:bytes:output:)` reporting each image that cannot be read to `failed`
    /// (its index and error, in order) rather than in an array, for the C API: after a session's
    /// first call it allocates nothing but what decoding and preparing each image takes. The
    /// prepared images go to the session's input staging buffer (which holds a pass), a pass's
    /// outputs to a buffer the session allocates on its first call and keeps.
    public func run(
        encodedImages count: Int, bytes: (Int) -> UnsafeRawBufferPointer, output: UnsafeMutableBufferPointer<Float>,
        failed: (Int, CnnzError) -> Void
    ) throws(CnnzError) {
        let outputSize = model.outputSize
        let (needed, overflow) = max(count, 0).multipliedReportingOverflow(by: outputSize)
        guard !overflow, output.count >= needed, let destination = output.baseAddress else {
            if count <= 0 { return }
            throw .argument("the output holds \(output.count) values; \(count) images need \(outputSize) each")
        }
        let perImage = model.inputShape.elementCount
        let pass = encodedPassBuffer()
        var filled = 0  // images prepared in this pass; pass.rows[slot] is each one's index

        func runPass() {
            runUnchecked(input: staging.pointer, batch: filled, output: pass.scores)
            for slot in 0..<filled {
                (destination + pass.rows[slot] * outputSize).update(
                    from: pass.scores + slot * outputSize, count: outputSize)
            }
            filled = 0
        }

        for index in 0..<max(count, 0) {
            do {
                let prepared = model.prepare(try Self.decodeEncoded(bytes(index))).input
                prepared.withUnsafeBufferPointer {
                    (staging.pointer + filled * perImage).update(from: $0.baseAddress!, count: perImage)
                }
                pass.rows[filled] = index
                filled += 1
            } catch {
                failed(index, error)
                (destination + index * outputSize).update(repeating: .nan, count: outputSize)
            }
            if filled == batchCapacity { runPass() }
        }
        if filled > 0 { runPass() }
    }

    /// Decodes one image held in memory; an empty buffer is named as such (not as an empty file).
    /// (Public for the C API's `cnnz_image_size_memory`.)
    public static func decodeEncoded(_ bytes: UnsafeRawBufferPointer) throws(CnnzError) -> Image {
        guard !bytes.isEmpty else { throw .format("the image is empty (0 bytes); \(ImageReader.formatsRead)") }
        // As the file reader: a larger buffer is read up to the most any image within the caps takes
        // (trailing bytes are then never looked at), so nothing is copied beyond that.
        return try ImageReader.decode(Array(bytes.prefix(ImageReader.fileByteLimit)))
    }
}
