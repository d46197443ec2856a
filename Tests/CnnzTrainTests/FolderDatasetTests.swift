import Cnnz
import Foundation
import Testing

@testable import CnnzTrain

/// Class folders of images (Keras's flow_from_directory layout) and their broken cases.
@Suite struct FolderDatasetTests {
    static func pgm(width: Int, height: Int, _ value: (Int, Int) -> UInt8) -> Data {
        var bytes = Array("P5\n\(width) \(height)\n255\n".utf8)
        for y in 0..<height { for x in 0..<width { bytes.append(value(y, x)) } }
        return Data(bytes)
    }

    /// `root/<class>/<i>.pgm` for classes "left" and "right" (8x8), and `root/test/...` when `test`.
    static func folder(perClass: Int, test: Bool) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cnnz-folder-\(UUID().uuidString)")
        for (set, count) in [("", perClass), ("test", test ? 2 : 0)] where count > 0 {
            for name in ["right", "left"] {
                let dir = root.appendingPathComponent(set).appendingPathComponent(name)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for i in 0..<count {
                    try pgm(width: 8, height: 8) { _, x in (x < 4) == (name == "left") ? 200 : UInt8(i) }
                        .write(to: dir.appendingPathComponent("\(i).pgm"))
                }
            }
        }
        return root
    }

    @Test func classesAreTheSortedFolderNamesAndTestIsTheTestSet() throws {
        let root = try Self.folder(perClass: 3, test: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("not an image".utf8).write(to: root.appendingPathComponent("left/.DS_Store"))
        let (train, test) = try FolderDataset.loadFolder(root.path, height: 4, width: 4, channels: 1)
        #expect(train.classNames == ["left", "right"])
        #expect(train.labels == [0, 0, 0, 1, 1, 1])
        #expect(train.height == 4 && train.width == 4 && train.pixels.count == 6 * 16)
        // Resized bilinearly: the left class stays bright on the left.
        #expect(train.pixels[0] == 200 && train.pixels[3] == 0)
        #expect(test?.count == 4)
        #expect(test?.labels == [0, 0, 1, 1])
    }

    @Test func anEmptyClassFolderIsAnError() throws {
        let root = try Self.folder(perClass: 2, test: false)
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("middle"), withIntermediateDirectories: true)
        #expect {
            try FolderDataset.loadFolder(root.path, height: 8, width: 8, channels: 1)
        } throws: { ($0 as? CnnzError)?.message == "\(root.path)/middle: no images in this class folder" }
    }

    @Test func aFileThatIsNotAnImageIsAnErrorNamingIt() throws {
        let root = try Self.folder(perClass: 2, test: false)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("label,notes\n".utf8).write(to: root.appendingPathComponent("right/notes.csv"))
        #expect {
            try FolderDataset.loadFolder(root.path, height: 8, width: 8, channels: 1)
        } throws: { error in
            let message = (error as? CnnzError)?.message ?? ""
            return message.hasPrefix("\(root.path)/right/notes.csv: ") && !message.contains("\n")
        }
    }

    @Test func aFolderWithoutClassFoldersIsAnError() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cnnz-folder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        #expect {
            try FolderDataset.loadFolder(root.path, height: 8, width: 8, channels: 1)
        } throws: {
            ($0 as? CnnzError)?.message.hasSuffix("no class folders (expected one sub-folder of images per class)")
                == true
        }
    }
}
