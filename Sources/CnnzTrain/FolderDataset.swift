import Cnnz
import Foundation

/// Loads images from a folder with one sub-folder per class (Keras's
/// `flow_from_directory` layout): `DIR/<class>/*.pgm` (Netpbm, PNG or JPEG,
/// told from the bytes), with the class names sorted. A `test/` folder
/// beside the classes (`DIR/test/<class>/...`) is the test set; a folder with
/// `train/` and `test/` sub-folders works too. Every image is converted to the
/// architecture's channels and resized (bilinearly, as `infer` does) to its
/// input size. Files whose names start with "." are skipped.
public enum FolderDataset {
    /// The training set and, when present, the test set.
    public static func loadFolder(_ folder: String, height: Int, width: Int, channels: Int) throws(CnnzError) -> (
        train: ImageDataset, test: ImageDataset?
    ) {
        let manager = FileManager.default
        func isDirectory(_ path: String) -> Bool {
            var directory: ObjCBool = false
            return manager.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
        }
        let join = { (a: String, b: String) in (a as NSString).appendingPathComponent(b) }
        let trainRoot = isDirectory(join(folder, "train")) ? join(folder, "train") : folder
        let classNames = try subfolders(trainRoot).filter { !(trainRoot == folder && $0 == "test") }
        guard !classNames.isEmpty else {
            throw .format("\(folder): no class folders (expected one sub-folder of images per class)")
        }
        let train = try load(
            trainRoot, classNames: classNames, height: height, width: width, channels: channels, testSet: false)
        let testRoot = join(folder, "test")
        guard isDirectory(testRoot) else { return (train, nil) }
        for name in try subfolders(testRoot) where !classNames.contains(name) {
            throw .format("\(join(testRoot, name)): class \"\(name)\" is not among the training classes")
        }
        let test = try load(
            testRoot, classNames: classNames, height: height, width: width, channels: channels, testSet: true)
        return (train, test)
    }

    /// The sorted names of the folders in `path` (hidden ones skipped).
    static func subfolders(_ path: String) throws(CnnzError) -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw .io("\(path): cannot list this folder")
        }
        return names.filter { name in
            var directory: ObjCBool = false
            return !name.hasPrefix(".")
                && FileManager.default.fileExists(
                    atPath: (path as NSString).appendingPathComponent(name), isDirectory: &directory)
                && directory.boolValue
        }.sorted()
    }

    /// Every image of every class folder under `root`; in the test set a class may be absent.
    static func load(
        _ root: String, classNames: [String], height: Int, width: Int, channels: Int, testSet: Bool
    ) throws(CnnzError) -> ImageDataset {
        var pixels: [UInt8] = []
        var labels: [Int] = []
        for (label, name) in classNames.enumerated() {
            let classFolder = (root as NSString).appendingPathComponent(name)
            var files: [String]
            do { files = try FileManager.default.contentsOfDirectory(atPath: classFolder) } catch {
                if testSet { continue }
                throw .io("\(classFolder): cannot list this folder")
            }
            files = files.filter { !$0.hasPrefix(".") }.sorted()
            var count = 0
            for file in files {
                let path = (classFolder as NSString).appendingPathComponent(file)
                var directory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: path, isDirectory: &directory)
                if directory.boolValue { continue }
                var image = try ImageReader.read(path: path).converted(toChannels: channels)
                if image.width != width || image.height != height {
                    image = image.resized(width: width, height: height)
                }
                for v in image.samples { pixels.append(UInt8(max(0, min(255, v.rounded())))) }
                labels.append(label)
                count += 1
            }
            if count == 0, !testSet { throw .format("\(classFolder): no images in this class folder") }
        }
        guard !labels.isEmpty else { throw .format("\(root): holds no images") }
        return ImageDataset(
            height: height, width: width, channels: channels, pixels: pixels, labels: labels, classNames: classNames)
    }
}
