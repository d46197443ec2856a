import Cnnz
import CnnzConvert

/// Turns a trained model.json into `.cnnz` bytes, through the converter (which
/// folds batch normalizations, runs the result and stores its self-test).
public enum ModelExport {
    public static func cnnz(fromModelJSON json: [UInt8]) throws(CnnzError) -> [UInt8] {
        try Converter.convertToCNNZ(json: json).1
    }
}
