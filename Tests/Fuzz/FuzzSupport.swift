// Shared by the fuzz targets of models (Tests/Fuzz/run.sh compiles it into each).

/// What the fuzzer loads with: the budget of docs/SECURITY.md's bar, and an
/// operation cap that keeps each run of a loaded model short.
let fuzzOptions = LoadOptions(maxMemory: 64 << 20, maxOperationsPerImage: 1 << 26)

/// A model that loads must also run: its self-test when it has one, else one image.
func runLoaded(_ model: Model) {
    if model.contents.selfTest != nil {
        _ = try? model.runSelfTest()
    } else {
        _ = try? model.predict([Float](repeating: 0.5, count: model.inputShape.elementCount))
    }
}
