// swift-tools-version:6.0
import PackageDescription

// The engine is compiled with optimization even in debug builds, because the
// README's `swift run infer ...` builds a debug configuration and a debug-built
// convolution is roughly 7x slower than a release one. `-O` (not -Ounchecked):
// the model loader relies on Swift's bounds and overflow checks as a second
// line of defence behind its explicit validation.
//
// SwiftPM refuses unsafe flags in packages resolved by version. A Swift package
// that depends on cnnz by version sets CNNZ_PORTABLE_MANIFEST=1 when it resolves,
// which drops the flag (debug builds of the engine are then slower, release
// builds are unaffected).
let portable = Context.environment["CNNZ_PORTABLE_MANIFEST"] != nil
let engineSettings: [SwiftSetting] = portable ? [] : [.unsafeFlags(["-O"], .when(configuration: .debug))]
// Haswell-class code (AVX2, FMA) for one kernel module, on x86-64 hosts only.
#if arch(x86_64)
    let avx2Settings: [SwiftSetting] =
        portable ? [] : [.define("CNNZ_FMA"), .unsafeFlags(["-target-cpu", "haswell"])]
    // AVX-512 (F, and the BW/DQ/VL that every AVX-512 CPU has) for a third build of the same kernels.
    let avx512Settings: [SwiftSetting] =
        portable ? [] : [.define("CNNZ_FMA"), .define("CNNZ_AVX512"), .unsafeFlags(["-target-cpu", "skylake-avx512"])]
#else
    let avx2Settings: [SwiftSetting] = []
    let avx512Settings: [SwiftSetting] = []
#endif
// The allocation test counts malloc calls with ordo-one/malloc-interposer. It is a test-only
// dependency, and SwiftPM resolves (clones) every dependency of the package for any command, so
// it is declared only when CNNZ_TEST_ALLOCATIONS is set (Tests/run-all.sh and .ci/run set it):
// a newcomer's first `swift run infer ...` then fetches swift-argument-parser alone.
let countAllocations = Context.environment["CNNZ_TEST_ALLOCATIONS"] != nil
// The C part of libcnnz, which also compiles include/cnnz.h, builds warning-free under pedantic C99.
let strictC: [CSetting] = portable ? [] : [.unsafeFlags(["-Wall", "-Wextra", "-Werror", "-pedantic"])]

let package = Package(
    name: "cnnz",
    products: [
        .library(name: "Cnnz", targets: ["Cnnz"]),
        // libcnnz.so: the C API (include/cnnz.h) for C, C++ and Python.
        .library(name: "cnnz", type: .dynamic, targets: ["CnnzCABI"]),
        .executable(name: "convert", targets: ["convert"]),
        .executable(name: "infer", targets: ["infer"]),
        .executable(name: "train", targets: ["train"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ]
        + (countAllocations
            // Test-only: counts malloc calls to prove that running a session allocates nothing.
            ? [.package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.0")] : []),
    targets: [
        .target(
            name: "CZlib",
            linkerSettings: [.linkedLibrary("z")]
        ),
        // PNG and JPEG decoding through the system libpng and libjpeg-turbo (libpng-dev, libjpeg-dev).
        .target(
            name: "CImageCodecs",
            cSettings: strictC,
            linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg")]
        ),
        .target(name: "CCPUFeatures"),
        // The int8 GEMM microkernels (portable C and AVX2 intrinsics behind the run-time CPU check).
        .target(name: "CInt8Kernels", cSettings: strictC),
        .target(
            name: "CnnzSIMD",
            swiftSettings: engineSettings
        ),
        .target(
            name: "CnnzGEMM",
            swiftSettings: engineSettings
        ),
        // The same microkernels (a symbolic link) built for AVX2 + FMA; called only
        // after a run-time CPU check, so the binary still runs on any x86-64.
        .target(
            name: "CnnzGEMMAVX2",
            swiftSettings: engineSettings + avx2Settings
        ),
        // And for AVX-512 (symbolic links too), after the same kind of check.
        .target(
            name: "CnnzGEMMAVX512",
            swiftSettings: engineSettings + avx512Settings
        ),
        .target(
            name: "Cnnz",
            dependencies: [
                "CZlib", "CImageCodecs", "CCPUFeatures", "CnnzSIMD", "CnnzGEMM", "CnnzGEMMAVX2", "CnnzGEMMAVX512",
                "CInt8Kernels",
            ],
            exclude: ["Kernels/Int8/README.md"],
            swiftSettings: engineSettings
        ),
        .target(
            name: "CCnnzHeader",
            cSettings: strictC
        ),
        .target(
            name: "CnnzCABI",
            dependencies: ["Cnnz", "CCnnzHeader"],
            swiftSettings: engineSettings
        ),
        .target(
            name: "CnnzConvert",
            dependencies: ["Cnnz"],
            swiftSettings: engineSettings
        ),
        .executableTarget(
            name: "convert",
            dependencies: [
                "Cnnz", "CnnzConvert", "CnnzTrain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "infer",
            dependencies: [
                "Cnnz",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "CnnzTests",
            dependencies: [
                "Cnnz", "CnnzConvert", "CnnzCABI", "CCnnzHeader",
            ]
                + (countAllocations
                    ? [.product(name: "MallocInterposerSwift", package: "malloc-interposer")] : []),
            // One of the two allocation test files: the counting one, or the one that says how to run it.
            exclude: ["Fixtures"]
                + (countAllocations ? ["Runtime/AllocationTestsSkipped.swift"] : ["Runtime/AllocationTests.swift"])
        ),
        // The trainer's GEMM microkernels (forward, dY·Wᵀ, Xᵀ·dY), built twice as the engine's are.
        .target(
            name: "CnnzTrainKernels",
            swiftSettings: engineSettings
        ),
        .target(
            name: "CnnzTrainKernelsAVX2",
            swiftSettings: engineSettings + avx2Settings
        ),
        // And 12x32 tiles for AVX-512 (a file of its own: zmm tiles are shaped differently).
        .target(
            name: "CnnzTrainKernelsAVX512",
            swiftSettings: engineSettings + avx512Settings
        ),
        // The trainer's 2x2 max pooling loops, in C that the compiler vectorizes.
        .target(name: "CTrainKernels", cSettings: strictC + (portable ? [] : [.unsafeFlags(["-O3"])])),
        // The trainer (issue 16): backward passes and optimizers on top of the engine's GEMM.
        .target(
            name: "CnnzTrain",
            dependencies: [
                "Cnnz", "CnnzConvert", "CZlib", "CCPUFeatures", "CnnzTrainKernels", "CnnzTrainKernelsAVX2",
                "CnnzTrainKernelsAVX512", "CTrainKernels",
            ],
            swiftSettings: engineSettings
        ),
        .executableTarget(
            name: "train",
            dependencies: [
                "Cnnz", "CnnzTrain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: engineSettings
        ),
        .testTarget(
            name: "CnnzTrainTests",
            dependencies: ["Cnnz", "CnnzConvert", "CnnzTrain", "CZlib"]
        ),
        .testTarget(
            name: "CnnzToolTests",
            dependencies: ["Cnnz"]
        ),
    ]
)
