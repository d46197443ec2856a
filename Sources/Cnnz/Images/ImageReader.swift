/// The image formats cnnz reads.
public enum ImageFormat: String, Sendable, CaseIterable {
    case png = "PNG"
    case jpeg = "JPEG"
    case netpbm = "Netpbm"

    /// The format whose magic number `bytes` start with, or nil. The file name plays no part.
    public init?(sniffing bytes: [UInt8]) {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), (0x31...0x37).contains(bytes[1]) {
            // P1...P7: the Netpbm reader names the types it does not read.
            self = .netpbm
        } else {
            return nil
        }
    }
}

/// Reads PNG, JPEG and Netpbm images from untrusted bytes, telling the format
/// from the bytes themselves. Every image comes back in the same form: gray or
/// RGB samples in 0...255. Alpha is ignored: the colour channels are used as
/// stored, without compositing (as Pillow's `convert("RGB")` does). PNG
/// palettes are expanded to RGB, 1 to 4-bit gray is scaled to 0...255 exactly,
/// and 16-bit PNG samples are scaled as 16-bit Netpbm ones (`v * 255 / 65535`),
/// so a PNG and a Netpbm file of the same pixels decode to the same `Image`.
/// JPEGs are decoded by libjpeg-turbo with its defaults (accurate integer IDCT,
/// smooth chroma upsampling); EXIF orientation is not applied.
public enum ImageReader {
    /// The formats, as error messages name them.
    static let formatsRead = "cnnz reads PNG, JPEG and Netpbm (P2, P3, P5, P6)"
    /// How much of a file is read: more than the largest image within the caps needs in any of
    /// the three formats (a 16-bit RGB Netpbm, or a PNG stored uncompressed, is 6 bytes a pixel).
    static let fileByteLimit = Limits.maxImagePixels * 7

    /// Reads the image in the file at `path`; errors start with the path.
    public static func read(path: String) throws(CnnzError) -> Image {
        let bytes = try FileIO.readFile(path, limit: fileByteLimit, prefix: true)
        do {
            return try decode(bytes)
        } catch {
            throw error.prefixed("\(path): ")
        }
    }

    /// Decodes the PNG, JPEG or Netpbm image in `bytes`.
    public static func decode(_ bytes: [UInt8]) throws(CnnzError) -> Image {
        switch ImageFormat(sniffing: bytes) {
        case .png: return try CompressedImageDecoder.decode(bytes, format: .png)
        case .jpeg: return try CompressedImageDecoder.decode(bytes, format: .jpeg)
        case .netpbm: return try NetpbmReader.decode(bytes)
        case nil: throw .format(unknownFormatMessage(bytes))
        }
    }

    /// Says what the bytes look like, for formats people often try.
    static func unknownFormatMessage(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "the file is empty; \(formatsRead)" }
        func has(_ text: String, at offset: Int = 0) -> Bool {
            let magic = Array(text.utf8)
            return bytes.count >= offset + magic.count && Array(bytes[offset..<(offset + magic.count)]) == magic
        }
        let brand = bytes.count >= 12 ? String(decoding: bytes[8..<12], as: UTF8.self) : ""
        let guess: String?
        if bytes.starts(with: [0x89] + Array("CNNZ".utf8)) {
            guess = "a cnnz model"
        } else if has("GIF8") {
            guess = "a GIF image"
        } else if has("BM") {
            guess = "a BMP image"
        } else if has("RIFF") && has("WEBP", at: 8) {
            guess = "a WebP image"
        } else if bytes.starts(with: [0x49, 0x49, 0x2A, 0x00]) || bytes.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            guess = "a TIFF image"
        } else if has("ftyp", at: 4) && (brand == "avif" || brand == "avis") {
            guess = "an AVIF image"
        } else if has("ftyp", at: 4) && ["heic", "heix", "mif1", "msf1"].contains(brand) {
            guess = "a HEIF image"
        } else {
            guess = nil
        }
        if let guess { return "not an image cnnz reads: this looks like \(guess); \(formatsRead)" }
        let start = bytes.prefix(4).map { "0x" + String($0, radix: 16, uppercase: true) }.joined(separator: " ")
        return "unknown image format (the file starts with \(start)); \(formatsRead)"
    }
}
