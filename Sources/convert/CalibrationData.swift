import Cnnz
import CnnzTrain
import Foundation

/// Calibration images for `convert --quantize int8 --calibration PATH`: a
/// folder of Netpbm, PNG or JPEG images (searched recursively, in path order),
/// an IDX file of images (raw or gzip), or a `.npy` float32 array of prepared
/// NHWC inputs. Every problem is a one-line `CnnzError` naming the path.
///
/// Calibration runs over all its images twice at most, so they are kept in
/// memory as prepared floats; `budget` bounds that (`--calibration-memory`,
/// default 1 GiB), and a request beyond it is refused before any image is read.
enum CalibrationData {
    static let imageExtensions: Set<String> = ["pgm", "ppm", "pnm", "pbm", "png", "jpg", "jpeg"]
    /// The default of `--calibration-memory`: the engine's default memory budget for a model.
    static let defaultBudget = 1 << 30

    /// Up to `limit` prepared images for `model`, one after another, in at most `budget` bytes of floats.
    static func load(
        _ path: String, limit: Int, budget: Int = defaultBudget, model: Model
    ) throws(CnnzError) -> (values: [Float], count: Int) {
        guard limit >= 1 else { throw .argument("--calibration-count must be at least 1, got \(limit)") }
        let reserve = { (count: Int) throws(CnnzError) in
            try checkBudget(count, of: model.inputShape, budget: budget, path: path)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .io("calibration data \(path): no such file or folder")
        }
        let result: (values: [Float], count: Int)
        if isDirectory.boolValue {
            result = try folder(path, limit: limit, model: model, reserve: reserve)
        } else if path.lowercased().hasSuffix(".npy") {
            result = try npy(path, limit: limit, model: model, reserve: reserve)
        } else {
            result = try idx(path, limit: limit, model: model, reserve: reserve)
        }
        if let bad = result.values.firstIndex(where: { !$0.isFinite }) {
            let perImage = model.inputShape.elementCount
            throw .format(
                "calibration data \(path): image \(bad / perImage) holds \(result.values[bad]) at element \(bad % perImage); calibration needs finite numbers"
            )
        }
        return result
    }

    /// Refuses `count` prepared images of `shape` that take more than `budget` bytes.
    static func checkBudget(_ count: Int, of shape: TensorShape, budget: Int, path: String) throws(CnnzError) {
        let bytesPerImage = shape.elementCount * MemoryLayout<Float>.size
        let fitting = budget / bytesPerImage
        guard count > fitting else { return }
        let fewer = fitting == 0 ? "" : "use --calibration-count \(fitting) or fewer, or "
        let advice = fewer + "raise --calibration-memory"
        throw .argument(
            "calibration data \(path): \(count) images of \(shape) floats (\(bytesPerImage) bytes each) exceed the calibration memory budget of \(budget) bytes; \(advice)"
        )
    }

    private typealias Reserve = (Int) throws(CnnzError) -> Void

    private static func folder(
        _ path: String, limit: Int, model: Model, reserve: Reserve
    ) throws(CnnzError) -> ([Float], Int) {
        guard let walker = FileManager.default.enumerator(atPath: path) else {
            throw .io("calibration data \(path): cannot list the folder")
        }
        var files: [String] = []
        while let item = walker.nextObject() as? String {
            if imageExtensions.contains((item as NSString).pathExtension.lowercased()) { files.append(item) }
        }
        files.sort()
        guard !files.isEmpty else {
            throw .format(
                "calibration data \(path): the folder holds no images (.pgm, .ppm, .pnm, .png, .jpg, .jpeg, searched recursively)"
            )
        }
        let count = min(limit, files.count)
        try reserve(count)
        var values: [Float] = []
        values.reserveCapacity(count * model.inputShape.elementCount)
        for file in files.prefix(count) {
            let image = try ImageReader.read(path: (path as NSString).appendingPathComponent(file))
            values += model.prepare(image).input
        }
        return (values, count)
    }

    private static func idx(
        _ path: String, limit: Int, model: Model, reserve: Reserve
    ) throws(CnnzError) -> ([Float], Int) {
        let array = try IDXReader.read(path: path)
        let shape = model.inputShape
        let expected: [[Int]] =
            [[shape.height, shape.width, shape.channels]] + (shape.channels == 1 ? [[shape.height, shape.width]] : [])
        guard array.dimensions.count >= 2, expected.contains(Array(array.dimensions.dropFirst())) else {
            throw .format(
                "calibration data \(path): holds items of \(array.dimensions.dropFirst().map(String.init).joined(separator: "x")); the model takes \(shape) images"
            )
        }
        let count = min(limit, array.dimensions[0])
        guard count > 0 else { throw .format("calibration data \(path): holds no images") }
        try reserve(count)
        let perImage = shape.elementCount
        let p = model.preprocessing
        let values = (0..<(count * perImage)).map { p.apply(Float(array.bytes[$0]), channel: $0 % shape.channels) }
        return (values, count)
    }

    /// NumPy's format 1.0 to 3.0: magic, version, a header dict, then the data.
    /// The file is mapped, not copied: only the images used become floats.
    private static func npy(
        _ path: String, limit: Int, model: Model, reserve: Reserve
    ) throws(CnnzError) -> ([Float], Int) {
        let file: Data
        do {
            file = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw .io("calibration data \(path): cannot read (\(error.localizedDescription))")
        }
        let result: Result<([Float], Int), CnnzError> = file.withUnsafeBytes { raw in
            Result { () throws(CnnzError) in try npy(raw, path: path, limit: limit, model: model, reserve: reserve) }
        }
        return try result.get()
    }

    private static func npy(
        _ data: UnsafeRawBufferPointer, path: String, limit: Int, model: Model, reserve: Reserve
    ) throws(CnnzError) -> ([Float], Int) {
        guard data.count >= 10, data[0] == 0x93, Array(data[1..<6]) == Array("NUMPY".utf8) else {
            throw .format("calibration data \(path): not a .npy file (no \\x93NUMPY magic)")
        }
        let major = data[6]
        let headerLength: Int
        let start: Int
        if major == 1 {
            headerLength = Int(data[8]) | Int(data[9]) << 8
            start = 10
        } else {
            guard data.count >= 12 else { throw .format("calibration data \(path): the header is cut short") }
            headerLength = (0..<4).reduce(0) { $0 | Int(data[8 + $1]) << (8 * $1) }
            start = 12
        }
        guard data.count >= start + headerLength else {
            throw .format("calibration data \(path): the header is cut short")
        }
        let header = String(decoding: data[start..<(start + headerLength)], as: UTF8.self)
        guard header.contains("'descr': '<f4'") else {
            throw .format(
                "calibration data \(path): holds \(field("descr", in: header) ?? "an unknown type"); calibration takes float32 ('<f4') arrays, e.g. x.astype(np.float32)"
            )
        }
        guard header.contains("'fortran_order': False") else {
            throw .format("calibration data \(path): the array is in Fortran order; save a C-ordered array")
        }
        let dims = (field("shape", in: header) ?? "").split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        let shape = model.inputShape
        let expected: [[Int]] =
            [[shape.height, shape.width, shape.channels]] + (shape.channels == 1 ? [[shape.height, shape.width]] : [])
        guard dims.count >= 2, expected.contains(Array(dims.dropFirst())) else {
            throw .format(
                "calibration data \(path): has shape (\(dims.map(String.init).joined(separator: ", "))); the model needs (N, \(shape.height), \(shape.width), \(shape.channels)) prepared NHWC inputs"
            )
        }
        let perImage = shape.elementCount
        let available = (data.count - start - headerLength) / 4
        // Divide rather than multiply: a header may declare any count, and dims[0] * perImage would trap.
        guard dims[0] <= available / perImage else {
            throw .format(
                "calibration data \(path): declares \(dims[0]) images, the file holds \(available / perImage)")
        }
        let count = min(limit, dims[0])
        guard count > 0 else { throw .format("calibration data \(path): holds no images") }
        try reserve(count)
        let base = start + headerLength
        let values = (0..<(count * perImage)).map {
            Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: base + 4 * $0, as: UInt32.self)))
        }
        return (values, count)
    }

    /// The text after `'key': ` in a .npy header dict, up to the next comma outside parentheses.
    private static func field(_ key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)': ") else { return nil }
        var depth = 0
        var result = ""
        for ch in header[range.upperBound...] {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if ch == "," && depth == 0 { break }
            if ch == "}" { break }
            result.append(ch)
        }
        return result
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct ProgressBar {
    let label: String
    let enabled = isatty(STDERR_FILENO) != 0

    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
