public import CCnnzHeader
import Cnnz

// The C API's model functions, checked by the compiler against include/cnnz.h
// (@c @implementation). Each validates every pointer before any Swift code
// that could trap runs.

@c @implementation
public func cnnz_model_load(_ path: UnsafePointer<CChar>?, _ outModel: UnsafeMutablePointer<OpaquePointer?>?)
    -> cnnz_status
{
    load("cnnz_model_load", path: path, options: nil, outModel)
}

@c @implementation
public func cnnz_model_load_with(
    _ path: UnsafePointer<CChar>?, _ options: UnsafePointer<cnnz_load_options>?,
    _ outModel: UnsafeMutablePointer<OpaquePointer?>?
) -> cnnz_status {
    load("cnnz_model_load_with", path: path, options: options, outModel)
}

@c @implementation
public func cnnz_model_load_memory(
    _ data: UnsafeRawPointer?, _ size: Int, _ outModel: UnsafeMutablePointer<OpaquePointer?>?
) -> cnnz_status {
    load("cnnz_model_load_memory", data: data, size: size, options: nil, outModel)
}

@c @implementation
public func cnnz_model_load_memory_with(
    _ data: UnsafeRawPointer?, _ size: Int, _ options: UnsafePointer<cnnz_load_options>?,
    _ outModel: UnsafeMutablePointer<OpaquePointer?>?
) -> cnnz_status {
    load("cnnz_model_load_memory_with", data: data, size: size, options: options, outModel)
}

/// Reads the caller's options, of which only the first `struct_size` bytes exist.
private func loadOptions(_ function: String, _ pointer: UnsafePointer<cnnz_load_options>?) throws(CnnzError)
    -> LoadOptions
{
    var options = LoadOptions()
    guard let pointer else { return options }
    let raw = UnsafeRawPointer(pointer)
    // struct_size comes first in every version of the struct.
    let size = raw.loadUnaligned(as: Int.self)
    guard size >= MemoryLayout<Int>.size, size <= 4096 else {
        throw .argument("\(function): options->struct_size \(UInt(bitPattern: size)) is not sizeof(cnnz_load_options)")
    }
    if size >= MemoryLayout<cnnz_load_options>.offset(of: \.max_operations_per_image)! {
        let maxMemory = pointer.pointee.max_memory
        // size_t above Int.max: larger than any machine; the same as no budget beyond the caps.
        if maxMemory != 0 { options.maxMemory = Int(clamping: maxMemory) }
    }
    if size >= MemoryLayout<cnnz_load_options>.size {
        let maxOperations = pointer.pointee.max_operations_per_image
        if maxOperations != 0 { options.maxOperationsPerImage = Int(clamping: maxOperations) }
    }
    return options
}

private func load(
    _ function: String, path: UnsafePointer<CChar>?, options: UnsafePointer<cnnz_load_options>?,
    _ outModel: UnsafeMutablePointer<OpaquePointer?>?
) -> cnnz_status {
    guard let path else { return argumentError("\(function): path is NULL") }
    guard let outModel else { return argumentError("\(function): out_model is NULL") }
    do {
        let model = try Model(contentsOfFile: String(cString: path), options: loadOptions(function, options))
        outModel.pointee = Registry.register(try ModelHandle(model))
        return CNNZ_OK
    } catch {
        return fail(error)
    }
}

private func load(
    _ function: String, data: UnsafeRawPointer?, size: Int, options: UnsafePointer<cnnz_load_options>?,
    _ outModel: UnsafeMutablePointer<OpaquePointer?>?
) -> cnnz_status {
    guard let outModel else { return argumentError("\(function): out_model is NULL") }
    guard data != nil || size == 0 else { return argumentError("\(function): data is NULL, size \(size)") }
    // A size_t above Int.max arrives negative: no buffer is that large.
    guard size >= 0 else {
        return argumentError("\(function): size \(UInt(bitPattern: size)) is larger than any buffer")
    }
    do {
        let model = try Model(
            bytes: UnsafeRawBufferPointer(start: data, count: size), options: loadOptions(function, options))
        outModel.pointee = Registry.register(try ModelHandle(model))
        return CNNZ_OK
    } catch {
        return fail(error)
    }
}

@c @implementation
public func cnnz_model_free(_ model: OpaquePointer?) {
    guard let model else { return }
    Registry.freeModel(model)
}

@c @implementation
public func cnnz_model_input_shape(
    _ model: OpaquePointer?, _ height: UnsafeMutablePointer<Int32>?, _ width: UnsafeMutablePointer<Int32>?,
    _ channels: UnsafeMutablePointer<Int32>?
) -> cnnz_status {
    guard let handle = Registry.model(model) else { return CNNZ_ERROR_ARGUMENT }
    let shape = handle.model.inputShape
    // Dimensions are at most 65536 (checked at load): they fit in int32_t.
    height?.pointee = Int32(shape.height)
    width?.pointee = Int32(shape.width)
    channels?.pointee = Int32(shape.channels)
    return CNNZ_OK
}

@c @implementation
public func cnnz_model_output_size(_ model: OpaquePointer?) -> Int {
    Registry.model(model)?.model.outputSize ?? 0
}

@c @implementation
public func cnnz_model_precision(_ model: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let handle = Registry.model(model) else { return nil }
    // Static strings in the binary: valid for the life of the process.
    let name: StaticString
    switch handle.model.precision {
    case .float32: name = "float32"
    case .int8: name = "int8"
    case .weightsInt8: name = "weights-int8"
    }
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c @implementation
public func cnnz_model_label(_ model: OpaquePointer?, _ index: Int) -> UnsafePointer<CChar>? {
    guard let handle = Registry.model(model) else { return nil }
    // size_t arrives as Int: a value above Int.max is negative here.
    guard index >= 0, index < handle.labels.count else {
        if !handle.labels.isEmpty { fail("cnnz_model_label: index \(UInt(bitPattern: index)) is out of range") }
        return nil
    }
    return UnsafePointer(handle.labels[index])
}

@c @implementation
public func cnnz_model_name(_ model: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let handle = Registry.model(model) else { return nil }
    return UnsafePointer(handle.name)
}

@c @implementation
public func cnnz_model_selftest(_ model: OpaquePointer?, _ maxDifference: UnsafeMutablePointer<Float>?) -> cnnz_status {
    guard let handle = Registry.model(model) else { return CNNZ_ERROR_ARGUMENT }
    guard handle.model.contents.selfTest != nil else {
        fail("the model holds no self-test vector")
        return CNNZ_ERROR_UNSUPPORTED
    }
    do {
        let report = try handle.model.runSelfTest()
        maxDifference?.pointee = report.maxDifference
        guard report.passed else {
            fail(
                "self-test failed: output \(report.index) differs by \(report.maxDifference), above the tolerance \(report.tolerance)"
            )
            return CNNZ_ERROR_INTERNAL
        }
        return CNNZ_OK
    } catch {
        return fail(error)
    }
}
