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
        let outputSize = model.outputSize
        let (needed, overflow) = max(count, 0).multipliedReportingOverflow(by: outputSize)
        guard !overflow, output.count >= needed else {
            throw .argument("the output holds \(output.count) values; \(count) images need \(outputSize) each")
        }
        let perImage = model.inputShape.elementCount
        var errors = [CnnzError?](repeating: nil, count: max(count, 0))
        // One batch of prepared images and their outputs; the session's budget covers a batch of input.
        var input = [Float](repeating: 0, count: min(batchCapacity, max(count, 1)) * perImage)
        var scores = [Float](repeating: 0, count: min(batchCapacity, max(count, 1)) * outputSize)
        var rows: [Int] = []
        rows.reserveCapacity(batchCapacity)

        func runBatch() throws(CnnzError) {
            let result: Result<Void, CnnzError> = input.withUnsafeBufferPointer { source in
                scores.withUnsafeMutableBufferPointer { destination in
                    Result { () throws(CnnzError) in
                        try run(
                            input: UnsafeBufferPointer(rebasing: source[..<(rows.count * perImage)]), batch: rows.count,
                            output: UnsafeMutableBufferPointer(rebasing: destination[..<(rows.count * outputSize)]))
                    }
                }
            }
            try result.get()
            for (slot, row) in rows.enumerated() {
                for k in 0..<outputSize { output[row * outputSize + k] = scores[slot * outputSize + k] }
            }
            rows.removeAll(keepingCapacity: true)
        }

        for index in 0..<max(count, 0) {
            do {
                let prepared = model.prepare(try Self.decodeEncoded(bytes(index))).input
                let start = rows.count * perImage
                for k in 0..<perImage { input[start + k] = prepared[k] }
                rows.append(index)
            } catch {
                errors[index] = error
                for k in 0..<outputSize { output[index * outputSize + k] = .nan }
            }
            if rows.count == batchCapacity { try runBatch() }
        }
        if !rows.isEmpty { try runBatch() }
        return errors
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
