/// The whole network: an input and layers in execution order.
public struct Graph: Equatable, Sendable {
    /// The shape of one input image.
    public var inputShape: TensorShape
    /// The layers in execution order; the last one's output is the model's.
    public var layers: [Layer]

    /// A graph; `ShapeInference` checks it.
    public init(inputShape: TensorShape, layers: [Layer]) {
        self.inputShape = inputShape
        self.layers = layers
    }
}
