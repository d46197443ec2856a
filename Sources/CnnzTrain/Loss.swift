import Foundation

/// Softmax followed by categorical cross-entropy, averaged over the batch.
public enum SoftmaxCrossEntropy {
    /// The mean loss, its gradient with respect to the logits, and how many rows
    /// have their largest logit at the label.
    public static func evaluate(logits: [Float], labels: [Int], classes: Int) -> (
        loss: Double, gradient: [Float], correct: Int
    ) {
        let batch = labels.count
        var gradient = [Float](repeating: 0, count: logits.count)
        var loss = 0.0
        var correct = 0
        for b in 0..<batch {
            let row = b * classes
            var largest = logits[row]
            var best = 0
            for j in 1..<classes where logits[row + j] > largest {
                largest = logits[row + j]
                best = j
            }
            if best == labels[b] { correct += 1 }
            var sum: Float = 0
            for j in 0..<classes {
                let e = exp(logits[row + j] - largest)
                gradient[row + j] = e
                sum += e
            }
            for j in 0..<classes { gradient[row + j] /= sum }
            // -log p = log(sum) - (z - max), computed without the rounded probability.
            loss += Double(log(sum) - (logits[row + labels[b]] - largest))
            gradient[row + labels[b]] -= 1
            for j in 0..<classes { gradient[row + j] /= Float(batch) }
        }
        return (loss / Double(batch), gradient, correct)
    }
}
