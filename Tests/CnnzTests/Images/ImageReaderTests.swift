import Foundation
import Testing

@testable import Cnnz

/// PNG and JPEG through ImageReader, against the fixtures made by
/// Tests/CnnzTests/Fixtures/images/make_images.py.
@Suite struct ImageReaderTests {
    static let folder = Fixtures.directory.appendingPathComponent("images")

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    static func files(_ suffix: String, in subfolder: String = "") throws -> [String] {
        let url = subfolder.isEmpty ? folder : folder.appendingPathComponent(subfolder)
        return try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasSuffix(suffix) }.sorted()
            .map { subfolder.isEmpty ? $0 : "\(subfolder)/\($0)" }
    }

    /// The file beside `name` with the same stem and one of `suffixes`.
    static func sibling(_ name: String, _ suffixes: [String]) throws -> String {
        let stem = String(name[..<name.lastIndex(of: ".")!])
        for suffix in suffixes
        where FileManager.default.fileExists(atPath: folder.appendingPathComponent(stem + suffix).path) {
            return stem + suffix
        }
        throw CnnzError.io("no \(suffixes) beside \(name)")
    }

    @Test func everyKindOfPNGDecodesToItsNetpbmTwin() throws {
        let pngs = try Self.files(".png")
        // Gray 1/2/4/8/16, gray+alpha, RGB, RGBA (8 and 16 bits), palettes of 1...8 bits, tRNS,
        // interlaced variants, ancillary chunks.
        #expect(pngs.count == 31)
        for png in pngs {
            let image = try ImageReader.decode(try Self.bytes(png))
            let twin = try NetpbmReader.decode(try Self.bytes(try Self.sibling(png, [".pgm", ".ppm"])))
            #expect(image == twin, "\(png)")
            let kind = png.hasPrefix("gray") ? 1 : 3
            #expect(image.channels == kind && image.width == 7 && image.height == 5, "\(png)")
        }
    }

    @Test func sixteenBitPNGKeepsSixteenBits() throws {
        // 16-bit samples are scaled (v * 255 / 65535), not cut to their high byte.
        let image = try ImageReader.decode(try Self.bytes("gray16.png"))
        let pgm = try Self.bytes("gray16.pgm")
        let data = Array(pgm.suffix(2 * 35))
        let expected = (0..<35).map { Float(Int(data[2 * $0]) << 8 | Int(data[2 * $0 + 1])) * (255 / Float(65535)) }
        #expect(image.samples == expected)
        #expect(image.samples.contains { $0 != $0.rounded() })
    }

    @Test func jpegsDecodeToLibjpegTurbosPixels() throws {
        // Expected: what Pillow (its own libjpeg-turbo) decoded from the same files.
        let jpegs = try Self.files(".jpg") + Self.files(".jpg", in: "examples")
        #expect(jpegs.count == 17)
        for jpeg in jpegs where !jpeg.contains("cmyk") {
            let image = try ImageReader.decode(try Self.bytes(jpeg))
            let expected = try NetpbmReader.decode(
                try Self.bytes(try Self.sibling(jpeg, [".pillow.pgm", ".pillow.ppm"])))
            #expect(image == expected, "\(jpeg)")
        }
        let progressive = try ImageReader.decode(try Self.bytes("jpeg-rgb-progressive.jpg"))
        #expect(progressive.width == 21 && progressive.height == 13 && progressive.channels == 3)
    }

    @Test func formatComesFromTheBytesNotTheName() throws {
        #expect(ImageFormat(sniffing: try Self.bytes("rgb8.png")) == .png)
        #expect(ImageFormat(sniffing: try Self.bytes("jpeg-gray.jpg")) == .jpeg)
        #expect(ImageFormat(sniffing: try Self.bytes("rgb8.ppm")) == .netpbm)
        #expect(ImageFormat(sniffing: Array("GIF89a".utf8)) == nil)
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let misnamed = dir.appendingPathComponent("photo.pgm")
        try Data(try Self.bytes("jpeg-rgb-444.jpg")).write(to: misnamed)
        let image = try ImageReader.read(path: misnamed.path)
        #expect(image == (try ImageReader.decode(try Self.bytes("jpeg-rgb-444.jpg"))))
    }

    struct BadCase: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: @Sendable () throws -> [UInt8]
        var error: CnnzError
        var testDescription: String { name }
    }

    /// A PNG chunk with its CRC, for headers the decoder must refuse on their values, not their checksum.
    static func pngWithHeader(width: UInt32, height: UInt32, bitDepth: UInt8 = 8, colorType: UInt8 = 0) throws
        -> [UInt8]
    {
        var png = try bytes("gray8.png")
        var ihdr = Array("IHDR".utf8)
        for value in [width, height] { ihdr += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
        ihdr += [bitDepth, colorType, 0, 0, 0]
        let crc = crc32(ihdr)
        png.replaceSubrange(12..<33, with: ihdr + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: crc >> $0) })
        return png
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// A JPEG whose frame header (SOF) gets `change` applied to its bytes after the marker.
    static func jpegWithFrame(_ name: String, _ change: @escaping (inout [UInt8], Int) -> Void) throws -> [UInt8] {
        var jpeg = try bytes(name)
        let sof = (2..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && (jpeg[$0 + 1] == 0xC0 || jpeg[$0 + 1] == 0xC2) }!
        change(&jpeg, sof + 2)  // length (2 bytes), precision, height (2), width (2), components
        return jpeg
    }

    static let badCases: [BadCase] = [
        BadCase(
            name: "PNG truncated in the image data", bytes: { Array(try bytes("rgb8.png").prefix(80)) },
            error: .format("PNG: the file ends early (truncated)")),
        BadCase(
            name: "PNG signature only", bytes: { Array(try bytes("rgb8.png").prefix(8)) },
            error: .format("PNG: the file ends early (truncated)")),
        BadCase(
            name: "PNG with a damaged image chunk",
            bytes: {
                var png = try bytes("rgb8.png")
                png[png.count - 20] ^= 0x40
                return png
            }, error: .format("PNG: IDAT: incorrect data check")),
        BadCase(
            name: "PNG of 8193x8193 pixels", bytes: { try pngWithHeader(width: 8193, height: 8193) },
            error: .memory("PNG header: 8193x8193 exceeds the cap of 67108864 pixels")),
        BadCase(
            name: "PNG 70000 pixels wide", bytes: { try pngWithHeader(width: 70000, height: 1) },
            error: .memory("PNG header: 70000x1 exceeds the cap of 65536 pixels a side")),
        BadCase(
            name: "PNG of the largest size PNG allows",
            bytes: { try pngWithHeader(width: 0x7FFF_FFFF, height: 0x7FFF_FFFF, bitDepth: 16, colorType: 6) },
            error: .memory("PNG header: 2147483647x2147483647 exceeds the cap of 65536 pixels a side")),
        BadCase(
            name: "PNG of zero width", bytes: { try pngWithHeader(width: 0, height: 5) },
            error: .format("PNG: Invalid IHDR data (Image width is zero in IHDR)")),
        BadCase(
            name: "PNG with bit depth 3", bytes: { try pngWithHeader(width: 7, height: 5, bitDepth: 3) },
            error: .format("PNG: Invalid IHDR data (Invalid bit depth in IHDR)")),
        BadCase(
            name: "JPEG truncated in the scan", bytes: { Array(try bytes("jpeg-rgb-420.jpg").dropLast(200)) },
            error: .format("JPEG: the file ends early (truncated)")),
        BadCase(
            name: "JPEG signature only", bytes: { [0xFF, 0xD8, 0xFF] },
            error: .format("JPEG: the file ends early (truncated)")),
        BadCase(
            name: "JPEG of 65500x65500 pixels",
            bytes: {
                try jpegWithFrame("jpeg-rgb-420.jpg") { j, i in
                    j.replaceSubrange(i + 3..<i + 7, with: [0xFF, 0xDC, 0xFF, 0xDC])
                }
            },
            error: .memory("JPEG header: 65500x65500 exceeds the cap of 67108864 pixels")),
        BadCase(
            name: "JPEG of zero height",
            bytes: { try jpegWithFrame("jpeg-gray.jpg") { j, i in j.replaceSubrange(i + 3..<i + 5, with: [0, 0]) } },
            error: .format("JPEG: Empty JPEG image (DNL not supported)")),
        BadCase(
            name: "12-bit JPEG", bytes: { try jpegWithFrame("jpeg-gray.jpg") { j, i in j[i + 2] = 12 } },
            error: .unsupported("JPEG: Unsupported JPEG data precision 12")),
        BadCase(
            name: "lossless JPEG", bytes: { try jpegWithFrame("jpeg-gray.jpg") { j, i in j[i - 1] = 0xC3 } },
            error: .unsupported("JPEG: Unsupported JPEG process: SOF type 0xc3")),
        BadCase(
            name: "JPEG of 1,001 scans",
            bytes: {
                // The last scan of a progressive JPEG, repeated: each is a valid scan on its own.
                let jpeg = try bytes("jpeg-gray-progressive.jpg")
                let last = (2..<(jpeg.count - 1)).last { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xDA }!
                let scan = Array(jpeg[last..<(jpeg.count - 2)])
                return Array(jpeg[..<last]) + Array([[UInt8]](repeating: scan, count: 1001).joined()) + [0xFF, 0xD9]
            }, error: .format("JPEG: more than 1000 scans")),
        BadCase(
            name: "CMYK JPEG", bytes: { try bytes("jpeg-cmyk.jpg") },
            error: .unsupported("JPEG: 4-component images (CMYK, YCCK) are not read, only gray and RGB")),
        BadCase(
            name: "empty", bytes: { [] },
            error: .format("the file is empty; cnnz reads PNG, JPEG and Netpbm (P2, P3, P5, P6)")),
        BadCase(
            name: "GIF", bytes: { Array("GIF89a\u{1}\0\u{1}\0".utf8) },
            error: .format(
                "not an image cnnz reads: this looks like a GIF image; cnnz reads PNG, JPEG and Netpbm (P2, P3, P5, P6)"
            )),
        BadCase(
            name: "WebP", bytes: { Array("RIFF\0\0\0\0WEBPVP8 ".utf8) },
            error: .format(
                "not an image cnnz reads: this looks like a WebP image; cnnz reads PNG, JPEG and Netpbm (P2, P3, P5, P6)"
            )),
        BadCase(
            name: "BMP", bytes: { Array("BM".utf8) + [UInt8](repeating: 0, count: 20) },
            error: .format(
                "not an image cnnz reads: this looks like a BMP image; cnnz reads PNG, JPEG and Netpbm (P2, P3, P5, P6)"
            )),
        BadCase(
            name: "text", bytes: { Array("hello".utf8) },
            error: .format(
                "unknown image format (the file starts with 0x68 0x65 0x6C 0x6C); cnnz reads PNG, JPEG and Netpbm (P2, P3, P5, P6)"
            )),
        BadCase(
            name: "unsupported Netpbm", bytes: { Array("P4 1 1\n\0".utf8) },
            error: .format("unsupported Netpbm type P4: only P2, P3, P5 and P6 are read")),
    ]

    @Test(arguments: badCases)
    func refusesBadImagesWithOneLine(_ c: BadCase) throws {
        let bytes = try c.bytes()
        #expect(throws: c.error) { try ImageReader.decode(bytes) }
    }

    @Test func readNamesTheFile() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cut.png").path
        try Data(try Self.bytes("rgb8.png").prefix(60)).write(to: URL(fileURLWithPath: path))
        #expect(throws: CnnzError.format("\(path): PNG: the file ends early (truncated)")) {
            try ImageReader.read(path: path)
        }
    }

    /// Every truncation and every single-bit change of a small PNG and JPEG either decodes or
    /// gives a one-line error; nothing traps.
    @Test(arguments: ["palette4-interlaced.png", "rgba16.png", "jpeg-rgb-420.jpg", "jpeg-gray-progressive.jpg"])
    func everyCutAndFlipIsSafe(_ name: String) throws {
        let original = try Self.bytes(name)
        var refused = 0
        func attempt(_ bytes: [UInt8]) {
            do {
                let image = try ImageReader.decode(bytes)
                #expect(image.samples.count == image.width * image.height * image.channels)
            } catch {
                refused += 1
                #expect(!error.message.contains("\n") && !error.message.isEmpty, "\(name): \(error.message)")
            }
        }
        for length in 0..<original.count { attempt(Array(original.prefix(length))) }
        // Every cut is refused, but a PNG's last 12 bytes (IEND), which the decoder does not need.
        #expect(refused == original.count - (name.hasSuffix(".png") ? 12 : 0), "\(name)")
        for index in original.indices {
            for bit in [0, 5] {
                var changed = original
                changed[index] ^= 1 << bit
                attempt(changed)
            }
        }
    }
}
