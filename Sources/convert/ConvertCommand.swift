import ArgumentParser
import Cnnz
import CnnzConvert
import Foundation

@main
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract:
            "Convert a model.json (Keras layer configs and weights) into a .cnnz model, or inspect a .cnnz model.",
        discussion: """
            Batch normalizations are folded into the convolution or dense layer before them, and \
            activations into the layer before them. The converted model is read back and run on the \
            model.json's self-test vector (or a generated one); the file is written only if it matches.
            """)

    static func main() { mainReportingErrors() }

    @Argument(help: "The model.json to convert, or with --inspect the .cnnz model to describe.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the .cnnz model (default: beside the input, extension .cnnz).")
    var output: String?

    @Flag(help: "Print a summary of a .cnnz model: layers, output shapes, parameters, MACs, sizes.")
    var inspect = false

    @Option(
        help: ArgumentHelp(
            "Quantize: 'int8' (int8 weights and activations; needs --calibration) or 'weights-int8' (int8 weights, float32 compute).",
            valueName: "int8|weights-int8"))
    var quantize: String?

    @Option(
        help: ArgumentHelp(
            "Calibration images for --quantize int8: a folder of PGM/PPM/PNG/JPEG images (recursive), an IDX images file (raw or .gz), or a .npy float32 array of prepared NHWC inputs.",
            valueName: "path"))
    var calibration: String?

    @Option(help: "Use at most this many calibration images (default 500).")
    var calibrationCount = 500

    @Option(
        help: ArgumentHelp(
            "The most memory the calibration images may take as prepared floats (default 1G); more is refused before any is read.",
            valueName: "bytes, e.g. 512M"))
    var calibrationMemory: ByteSize?

    @Option(
        help: ArgumentHelp(
            "How activation ranges are taken: 'minmax' (the default: smallest and largest value seen) or 'percentile' (clip the --percentile tails).",
            valueName: "minmax|percentile"))
    var calibrationMethod = "minmax"

    @Option(help: "With --calibration-method percentile: the share of values (percent) clipped at each end.")
    var percentile = 0.01

    @Option(
        help: ArgumentHelp(
            "With --quantize int8: bits of the Conv2D and Dense weights, 8 (the default, -127...127) or 7 (-63...63: exact and about twice as fast on x86 CPUs with AVX2 but no VNNI, at some accuracy; docs/QUANTIZATION.md).",
            valueName: "8|7"))
    var weightBits = 8

    func run() throws {
        if inspect {
            try runInspect()
        } else {
            try runConvert()
        }
    }

    /// The first bytes of every .cnnz file (docs/FORMAT.md): \x89 C N N Z.
    static let cnnzMagic: [UInt8] = [0x89, 0x43, 0x4E, 0x4E, 0x5A]

    private func runConvert() throws(CnnzError) {
        let data: Data
        do {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory), !isDirectory.boolValue
            else {
                throw CnnzError.io("cannot read \(input): no such file")
            }
            data = try Data(contentsOf: URL(fileURLWithPath: input))
        } catch let error as CnnzError {
            throw error
        } catch {
            throw .io("cannot read \(input): \(error.localizedDescription)")
        }
        if data.starts(with: Self.cnnzMagic) {
            throw .format(
                "\(input): this is a .cnnz model, not a model.json; to describe it, run `convert --inspect \(input)`")
        }
        let destination = output ?? Self.defaultOutput(for: input)
        if let quantize {
            try runQuantized(json: [UInt8](data), mode: quantize, destination: destination, jsonBytes: data.count)
            return
        }
        guard calibration == nil else {
            throw .argument("--calibration needs --quantize int8")
        }
        guard weightBits == 8 else { throw .argument("--weight-bits needs --quantize int8") }
        let (description, bytes) = try Converter.convertToCNNZ(json: [UInt8](data))
        try ModelWriter.write(bytes, to: destination)
        let test = description.selfTest.map { _ in "self-test stored and passed" } ?? ""
        print(
            "wrote \(destination): \(description.graph.layers.count) layers, \(bytes.count) bytes (\(data.count) bytes of JSON); \(test)"
        )
    }

    private func runQuantized(json: [UInt8], mode: String, destination: String, jsonBytes: Int) throws(CnnzError) {
        let quantization: Converter.Quantization
        switch mode {
        case "weights-int8":
            guard calibration == nil else { throw .argument("--quantize weights-int8 takes no --calibration") }
            guard weightBits == 8 else { throw .argument("--weight-bits is for --quantize int8") }
            quantization = .weightsInt8
        case "int8":
            guard let path = calibration else {
                throw .argument(
                    "--quantize int8 needs --calibration PATH (images, an IDX file or a .npy array); without data, use --quantize weights-int8"
                )
            }
            let method: Quantizer.RangeMethod
            switch calibrationMethod {
            case "minmax": method = .minMax
            case "percentile":
                guard percentile > 0, percentile < 50 else {
                    throw .argument(
                        "--percentile must be between 0 and 50 (percent clipped at each end), got \(percentile)")
                }
                method = .percentile(percentile)
            default:
                throw .argument("--calibration-method must be minmax or percentile, got '\(calibrationMethod)'")
            }
            guard weightBits == 8 || weightBits == 7 else {
                throw .argument("--weight-bits must be 8 or 7, got \(weightBits)")
            }
            let limit = calibrationCount
            let budget = calibrationMemory?.bytes ?? CalibrationData.defaultBudget
            quantization = .int8(
                method: method, weightBits: weightBits,
                inputs: { model throws(CnnzError) in
                    try CalibrationData.load(path, limit: limit, budget: budget, model: model)
                })
        default:
            throw .argument("--quantize must be int8 or weights-int8, got '\(mode)'")
        }
        let bar = ProgressBar(label: "calibrating")
        let (description, bytes, report) = try Converter.convertToCNNZ(
            json: json, quantization: quantization, progress: bar.update)
        try ModelWriter.write(bytes, to: destination)
        print(
            "wrote \(destination): \(description.graph.layers.count) layers, \(bytes.count) bytes (\(jsonBytes) bytes of JSON), \(description.precision.rawValue); on the self-test input the largest difference from float32 is \(report.maxDifference), top-1 \(report.sameTop1 ? "the same" : "different")"
        )
    }

    static func defaultOutput(for input: String) -> String {
        let url = URL(fileURLWithPath: input)
        let base = url.pathExtension.lowercased() == "json" ? url.deletingPathExtension() : url
        let path = base.appendingPathExtension("cnnz").path
        return input.hasPrefix("/") ? path : relative(path)
    }

    private static func relative(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(cwd) ? String(path.dropFirst(cwd.count)) : path
    }

    private func runInspect() throws(CnnzError) {
        let bytes = try ModelReader.readFile(input)
        let model: Model
        do {
            model = try Model(bytes: bytes)
        } catch {
            if !bytes.starts(with: Self.cnnzMagic),
                bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{")
            {
                throw .format(
                    "\(input): this is a model.json, not a .cnnz model; to convert it, run `convert \(input)`")
            }
            throw error.message.hasPrefix(input) ? error : CnnzError.format("\(input): \(error.message)")
        }
        print(Inspector.summary(of: model, fileBytes: bytes))
    }
}
