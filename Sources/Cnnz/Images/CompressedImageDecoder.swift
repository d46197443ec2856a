import CImageCodecs

/// PNG and JPEG through the C shims over libpng and libjpeg-turbo
/// (Sources/CImageCodecs), which catch the libraries' errors so that only a
/// status and a message come back. The header is read first and checked
/// against the caps; only then is the pixel buffer allocated and decoded into.
enum CompressedImageDecoder {
    static func decode(_ bytes: [UInt8], format: ImageFormat) throws(CnnzError) -> Image {
        let name = format.rawValue
        var info = cimg_info()
        let headerStatus = bytes.withUnsafeBufferPointer { data in
            format == .png
                ? cimg_png_header(data.baseAddress, data.count, &info)
                : cimg_jpeg_header(data.baseAddress, data.count, &info)
        }
        try check(headerStatus, info)
        let width = Int(info.width)
        let height = Int(info.height)
        let channels = Int(info.channels)
        let sampleBytes = Int(info.bit_depth) / 8
        guard width >= 1, height >= 1 else { throw .format("\(name) header: zero size \(width)x\(height)") }
        guard width <= Limits.maxDimension, height <= Limits.maxDimension else {
            throw .memory("\(name) header: \(width)x\(height) exceeds the cap of \(Limits.maxDimension) pixels a side")
        }
        guard width * height <= Limits.maxImagePixels else {
            throw .memory("\(name) header: \(width)x\(height) exceeds the cap of \(Limits.maxImagePixels) pixels")
        }
        guard channels == 1 || channels == 3, sampleBytes == 1 || sampleBytes == 2 else {
            throw .format("\(name) header: \(channels) channels of \(info.bit_depth) bits")
        }
        let count = width * height * channels
        var decodeStatus = CIMG_OK
        let pixels = [UInt8](unsafeUninitializedCapacity: count * sampleBytes) { buffer, initialized in
            decodeStatus = bytes.withUnsafeBufferPointer { data in
                format == .png
                    ? cimg_png_decode(data.baseAddress, data.count, buffer.baseAddress, buffer.count, &info)
                    : cimg_jpeg_decode(data.baseAddress, data.count, buffer.baseAddress, buffer.count, &info)
            }
            initialized = decodeStatus == CIMG_OK ? buffer.count : 0
        }
        try check(decodeStatus, info)
        var samples = [Float](repeating: 0, count: count)
        if sampleBytes == 1 {
            for i in 0..<count { samples[i] = Float(pixels[i]) }
        } else {
            // As NetpbmReader scales maxval 65535, so that both give the same floats.
            let scale = 255 / Float(65535)
            for i in 0..<count { samples[i] = Float(Int(pixels[2 * i]) << 8 | Int(pixels[2 * i + 1])) * scale }
        }
        return Image(width: width, height: height, channels: channels, samples: samples)
    }

    private static func check(_ status: cimg_status, _ info: cimg_info) throws(CnnzError) {
        if status == CIMG_OK { return }
        let message = withUnsafeBytes(of: info.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        switch status {
        case CIMG_ERROR_UNSUPPORTED: throw .unsupported(message)
        case CIMG_ERROR_MEMORY: throw .memory(message)
        case CIMG_ERROR_ARGUMENT: throw .argument(message)
        default: throw .format(message)
        }
    }
}
