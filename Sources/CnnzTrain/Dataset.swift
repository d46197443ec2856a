import Cnnz
import Foundation

/// Labelled images of one size, as bytes (0...255), row-major `[count, H, W, C]`.
public struct ImageDataset: Sendable {
    public var height: Int
    public var width: Int
    public var channels: Int
    /// `count * height * width * channels` bytes.
    public var pixels: [UInt8]
    /// One class index per image, each below `classCount`.
    public var labels: [Int]
    /// The class names, one per class (may be generic "class N").
    public var classNames: [String]

    public var count: Int { labels.count }
    public var classCount: Int { classNames.count }
    public var imageSize: Int { height * width * channels }

    /// A dataset; the caller keeps the sizes consistent.
    public init(height: Int, width: Int, channels: Int, pixels: [UInt8], labels: [Int], classNames: [String]) {
        self.height = height
        self.width = width
        self.channels = channels
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
    }

    /// The images at `indices`, in that order.
    public func subset(_ indices: some Collection<Int>) -> ImageDataset {
        var result = self
        result.pixels = []
        result.pixels.reserveCapacity(indices.count * imageSize)
        result.labels = []
        for i in indices {
            result.pixels += pixels[(i * imageSize)..<((i + 1) * imageSize)]
            result.labels.append(labels[i])
        }
        return result
    }
}

/// Loads MNIST-style IDX data: `train-images-idx3-ubyte[.gz]` and friends.
public enum IDXDataset {
    /// Fashion-MNIST's classes, in label order.
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Pairs an images file with a labels file and checks that they agree.
    public static func load(images imagesPath: String, labels labelsPath: String) throws(CnnzError) -> ImageDataset {
        let images = try IDXReader.read(path: imagesPath)
        let labels = try IDXReader.read(path: labelsPath)
        let imagesName = (imagesPath as NSString).lastPathComponent
        let labelsName = (labelsPath as NSString).lastPathComponent
        guard images.dimensions.count == 3 || images.dimensions.count == 4 else {
            throw .format(
                "\(imagesName): holds a rank-\(images.dimensions.count) array, images need [count, H, W(, C)]")
        }
        guard labels.dimensions.count == 1 else {
            throw .format("\(labelsName): holds a rank-\(labels.dimensions.count) array, labels need [count]")
        }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw .format(
                "\(imagesName) holds \(images.dimensions[0]) images but \(labelsName) holds \(labels.dimensions[0]) labels"
            )
        }
        guard images.dimensions[0] > 0 else { throw .format("\(imagesName): holds no images") }
        guard images.dimensions[1...].allSatisfy({ $0 > 0 }) else {
            throw .format("\(imagesName): an image dimension is 0")
        }
        let labelValues = labels.bytes.map(Int.init)
        let classCount = (labelValues.max() ?? 0) + 1
        let names = (0..<max(classCount, 2)).map { String($0) }
        return ImageDataset(
            height: images.dimensions[1], width: images.dimensions[2],
            channels: images.dimensions.count == 4 ? images.dimensions[3] : 1,
            pixels: images.bytes, labels: labelValues, classNames: names)
    }

    /// Whether `folder` holds IDX training files (else it may be a folder of class folders).
    public static func isIDXFolder(_ folder: String) -> Bool {
        [
            "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte",
            "train-labels-idx1-ubyte.gz",
        ].contains {
            FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent($0))
        }
    }

    /// The training set, and the `t10k` test set when the folder holds one.
    public static func loadFolder(_ folder: String) throws(CnnzError) -> (train: ImageDataset, test: ImageDataset?) {
        func find(_ stem: String) -> String? {
            for suffix in [".gz", ""] {
                let path = (folder as NSString).appendingPathComponent(stem + suffix)
                if FileManager.default.fileExists(atPath: path) { return path }
            }
            return nil
        }
        guard let trainImages = find("train-images-idx3-ubyte"), let trainLabels = find("train-labels-idx1-ubyte")
        else {
            throw .io("\(folder): no train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] in this folder")
        }
        var train = try load(images: trainImages, labels: trainLabels)
        var test: ImageDataset?
        if let images = find("t10k-images-idx3-ubyte"), let labels = find("t10k-labels-idx1-ubyte") {
            let t = try load(images: images, labels: labels)
            guard t.height == train.height, t.width == train.width, t.channels == train.channels else {
                throw .format("\(folder): the test images are not the training images' size")
            }
            test = t
        }
        // Fashion-MNIST's labels are known; other IDX data is named by label value.
        let classes = max(train.classCount, test?.classCount ?? 0)
        let names =
            classes <= 10 && folder.lowercased().contains("fashion")
            ? fashionMNISTClassNames : (0..<classes).map { String($0) }
        train.classNames = names
        test?.classNames = names
        return (train, test)
    }
}
