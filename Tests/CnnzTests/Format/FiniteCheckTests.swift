import Testing

@testable import Cnnz

/// `Tensor.allFinite`, the vector check every float32 weight passes at load, against
/// `Float.isFinite` on every position of every length that misses its 16 lanes.
@Suite struct FiniteCheckTests {
    @Test func everyNonFiniteValueAtEveryPositionIsFound() {
        let bad: [Float] = [.nan, -.nan, .signalingNaN, .infinity, -.infinity, Float(bitPattern: 0x7F80_0001)]
        for count in 0...40 {
            var values = (0..<count).map { Float($0) * (($0 % 2 == 0) ? 1 : -1) }
            if count > 0 { values[count / 2] = .greatestFiniteMagnitude }
            #expect(Tensor.allFinite(values), "\(count) finite values")
            for position in 0..<count {
                for value in bad {
                    let saved = values[position]
                    values[position] = value
                    #expect(!Tensor.allFinite(values), "\(value) at \(position) of \(count)")
                    values[position] = saved
                }
            }
        }
        var large = [Float](repeating: -.greatestFiniteMagnitude, count: 100_003)
        #expect(Tensor.allFinite(large))
        large[77_777] = .nan
        #expect(!Tensor.allFinite(large))
    }
}
