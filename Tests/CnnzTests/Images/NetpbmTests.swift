import Testing

@testable import Cnnz

@Suite struct NetpbmTests {
    @Test func readsAllFourTypesWithComments() throws {
        let p2 = try NetpbmReader.decode(Array("P2\n# a comment\n3 1 # width height\n\t4\r\n0 2 4\n".utf8))
        #expect(p2 == Image(width: 3, height: 1, channels: 1, samples: [0, 127.5, 255]))
        let p3 = try NetpbmReader.decode(Array("P3 1 1 255 10 20 30".utf8))
        #expect(p3 == Image(width: 1, height: 1, channels: 3, samples: [10, 20, 30]))
        // Bytes after the first image are ignored.
        let p5 = try NetpbmReader.decode(Array("P5 2 1 255\n".utf8) + [7, 200] + [1, 2, 3])
        #expect(p5 == Image(width: 2, height: 1, channels: 1, samples: [7, 200]))
        let p6 = try NetpbmReader.decode(Array("P6\n1 1\n65535\n".utf8) + [0xFF, 0xFF, 0x80, 0x00, 0x00, 0x01])
        #expect(p6.samples[0] == 255)
        #expect(abs(p6.samples[1] - Float(0x8000) * 255 / 65535) < 1e-4)
        #expect(abs(p6.samples[2] - 255 / 65535) < 1e-7)
        let maxval1000 = try NetpbmReader.decode(Array("P2 1 1 1000 999".utf8))
        #expect(abs(maxval1000.samples[0] - 999 * 255 / 1000) < 1e-4)
    }

    struct BadCase: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        var message: String
        var testDescription: String { name }
    }

    static let badCases: [BadCase] = [
        BadCase(name: "empty", bytes: [], message: "not a Netpbm image"),
        BadCase(name: "PNG", bytes: [0x89, 0x50, 0x4E, 0x47], message: "not a Netpbm image"),
        BadCase(name: "P4 bitmap", bytes: Array("P4 1 1\n\0".utf8), message: "unsupported Netpbm type P4"),
        BadCase(name: "P7", bytes: Array("P7\n".utf8), message: "unsupported Netpbm type P7"),
        BadCase(
            name: "no whitespace", bytes: Array("P53 3 255\n".utf8), message: "expected whitespace before the width"),
        BadCase(name: "incomplete header", bytes: Array("P5 3 3".utf8), message: "incomplete, the maxval is missing"),
        BadCase(name: "letters", bytes: Array("P5 3 x 255\n".utf8), message: "the height at byte 4 is not a number"),
        BadCase(name: "zero width", bytes: Array("P5 0 3 255\n".utf8), message: "zero size 0x3"),
        BadCase(name: "zero maxval", bytes: Array("P5 1 1 0\n\0".utf8), message: "maxval 0"),
        BadCase(name: "huge maxval", bytes: Array("P5 1 1 65536\n\0".utf8), message: "maxval exceeds 65535"),
        BadCase(name: "huge width", bytes: Array("P5 99999999999 1 255\n".utf8), message: "width exceeds 65536"),
        BadCase(
            name: "huge area", bytes: Array("P5 65536 65536 255\n".utf8), message: "exceeds the cap of 67108864 pixels"),
        BadCase(
            name: "truncated binary", bytes: Array("P5 4 4 255\n".utf8) + [1, 2, 3],
            message: "needs 16 bytes of samples, the file has 3"),
        BadCase(
            name: "truncated 16-bit", bytes: Array("P6 2 1 1000\n".utf8) + [UInt8](repeating: 0, count: 11),
            message: "needs 12 bytes"),
        BadCase(name: "truncated ASCII", bytes: Array("P2 2 2 255 1 2 3".utf8), message: "the file is too short"),
        BadCase(
            name: "sample above maxval", bytes: Array("P5 1 1 100\n".utf8) + [101],
            message: "sample 0 is 101, above maxval 100"),
        BadCase(name: "ASCII above maxval", bytes: Array("P2 2 1 7 3 8".utf8), message: "sample 1 is above maxval 7"),
        BadCase(
            name: "ASCII garbage", bytes: Array("P2 2 1 7 3 x ".utf8), message: "sample 1 at byte 11 is not a number"),
        BadCase(
            name: "no separator after maxval", bytes: Array("P5 1 1 255".utf8),
            message: "one whitespace byte after maxval"),
    ]

    @Test(arguments: badCases)
    func refusesBadImages(_ c: BadCase) {
        do {
            _ = try NetpbmReader.decode(c.bytes)
            Issue.record("\(c.name): decoded")
        } catch {
            #expect(error.message.contains(c.message), "\(c.name): \(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func grayAndRGBConversion() {
        let rgb = Image(width: 1, height: 1, channels: 3, samples: [100, 50, 200])
        let luma: Float = 0.299 * 100 + 0.587 * 50 + 0.114 * 200
        #expect(rgb.converted(toChannels: 1).samples == [luma])
        let gray = Image(width: 2, height: 1, channels: 1, samples: [3, 9])
        #expect(gray.converted(toChannels: 3).samples == [3, 3, 3, 9, 9, 9])
    }

    /// `Model.prepare` resizes a gray image before repeating it into RGB (so a large gray
    /// image is not tripled first): that order must give the same bits as the other.
    @Test func grayToRGBCommutesWithTheResizeToTheBit() {
        var generator = SystemRandomNumberGenerator()
        for (width, height, newWidth, newHeight) in [(13, 7, 5, 4), (3, 9, 8, 2), (31, 17, 28, 28), (1, 1, 3, 3)] {
            let gray = Image(
                width: width, height: height, channels: 1,
                samples: (0..<(width * height)).map { _ in Float(UInt8.random(in: 0...255, using: &generator)) })
            let resizedFirst = gray.resized(width: newWidth, height: newHeight).converted(toChannels: 3)
            let convertedFirst = gray.converted(toChannels: 3).resized(width: newWidth, height: newHeight)
            #expect(resizedFirst == convertedFirst, "\(width)x\(height) -> \(newWidth)x\(newHeight)")
        }
    }

    @Test func bilinearResizeUsesHalfPixelCentres() {
        // 2x1 -> 4x1: centres at -0.25, 0.25, 0.75, 1.25 in source pixels, clamped at the borders.
        let image = Image(width: 2, height: 1, channels: 1, samples: [0, 100])
        #expect(image.resized(width: 4, height: 1).samples == [0, 25, 75, 100])
        // 4x4 -> 2x2: each output averages a 2x2 block (centres at 0.5 and 2.5).
        let big = Image(width: 4, height: 4, channels: 1, samples: (0..<16).map(Float.init))
        #expect(big.resized(width: 2, height: 2).samples == [2.5, 4.5, 10.5, 12.5])
        // Same size: unchanged.
        #expect(big.resized(width: 4, height: 4) == big)
    }

    @Test func modelPreparationAppliesPreprocessing() throws {
        let description = ModelDescription(
            name: "", labels: [], preprocessing: Preprocessing(scale: 0.5, mean: [1, 2, 3], std: [2, 4, 8]),
            graph: Graph(
                inputShape: TensorShape(height: 1, width: 1, channels: 3), layers: [Layer(kind: .flatten, inputs: [0])]),
            tensors: [], selfTest: nil)
        let model = try Model(description)
        let (input, resized) = model.prepare(Image(width: 1, height: 1, channels: 1, samples: [10]))
        #expect(!resized)
        let expected: [Float] = [2, 0.75, 0.25]
        #expect(input == expected)
        // run(pixels:) applies the same preprocessing to UInt8 pixels.
        #expect(try model.makeSession().run(pixels: [10, 10, 10]) == input)
    }
}
