/// One node of the graph.
public struct Layer: Equatable, Sendable {
    /// What the layer computes, with its parameters.
    public var kind: LayerKind
    /// Applied to the layer's output (fused into the kernel).
    public var activation: Activation
    /// Value indices: 0 is the model input, `i + 1` the output of layer `i`.
    public var inputs: [Int]
    /// Indices into the model's tensors, in the order `kind` documents.
    public var weights: [Int]
    /// The layer's name, for display (may be empty).
    public var name: String

    /// A layer reading `inputs` (value indices) and the tensors `weights`.
    public init(
        kind: LayerKind, activation: Activation = .linear, inputs: [Int], weights: [Int] = [], name: String = ""
    ) {
        self.kind = kind
        self.activation = activation
        self.inputs = inputs
        self.weights = weights
        self.name = name
    }
}
