/// Turns a decoded image into a model input: channel conversion, bilinear
/// resize, then the model's preprocessing.
extension Image {
    /// Gray to RGB repeats the value; RGB to gray is ITU-R BT.601 luma
    /// (`0.299 R + 0.587 G + 0.114 B`, not rounded).
    public func converted(toChannels target: Int) -> Image {
        if target == channels { return self }
        let pixels = width * height
        var out = [Float](repeating: 0, count: pixels * target)
        if channels == 1 {
            for p in 0..<pixels { for c in 0..<target { out[p * target + c] = samples[p] } }
        } else if target == 1 {
            for p in 0..<pixels {
                out[p] = 0.299 * samples[3 * p] + 0.587 * samples[3 * p + 1] + 0.114 * samples[3 * p + 2]
            }
        } else {
            // Models with another channel count: luma, repeated.
            for p in 0..<pixels {
                let y = 0.299 * samples[3 * p] + 0.587 * samples[3 * p + 1] + 0.114 * samples[3 * p + 2]
                for c in 0..<target { out[p * target + c] = y }
            }
        }
        return Image(width: width, height: height, channels: target, samples: out)
    }

    /// Bilinear resize with half-pixel centres (TensorFlow's `resize`,
    /// `bilinear`, antialias off).
    public func resized(width newWidth: Int, height newHeight: Int) -> Image {
        if newWidth == width && newHeight == height { return self }
        func axis(_ out: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Float) {
            let scale = Float(inSize) / Float(outSize)
            let position = (Float(out) + 0.5) * scale - 0.5
            let floor = position.rounded(.down)
            let lower = max(Int(floor), 0)
            let upper = min(Int(position.rounded(.up)), inSize - 1)
            return (lower, upper, position - floor)
        }
        var out = [Float](repeating: 0, count: newWidth * newHeight * channels)
        let xs = (0..<newWidth).map { axis($0, width, newWidth) }
        for y in 0..<newHeight {
            let (y0, y1, fy) = axis(y, height, newHeight)
            for x in 0..<newWidth {
                let (x0, x1, fx) = xs[x]
                for c in 0..<channels {
                    let tl = samples[(y0 * width + x0) * channels + c]
                    let tr = samples[(y0 * width + x1) * channels + c]
                    let bl = samples[(y1 * width + x0) * channels + c]
                    let br = samples[(y1 * width + x1) * channels + c]
                    let top = tl + (tr - tl) * fx
                    let bottom = bl + (br - bl) * fx
                    out[(y * newWidth + x) * channels + c] = top + (bottom - top) * fy
                }
            }
        }
        return Image(width: newWidth, height: newHeight, channels: channels, samples: out)
    }
}

extension Model {
    /// Converts, resizes and preprocesses `image` into one input for this model.
    /// `wasResized` tells whether the size differed from the model's.
    public func prepare(_ image: Image) -> (input: [Float], wasResized: Bool) {
        let shape = inputShape
        // Gray to RGB repeats values, which commutes with the resize to the bit: resizing
        // first keeps a large gray image from being tripled (2^26 pixels: 768 MiB of floats).
        // Fewer channels (luma) go first, as the order is not bit-neutral there.
        let fitted =
            shape.channels > image.channels
            ? image.resized(width: shape.width, height: shape.height).converted(toChannels: shape.channels)
            : image.converted(toChannels: shape.channels).resized(width: shape.width, height: shape.height)
        let p = preprocessing
        var input = fitted.samples
        for i in input.indices { input[i] = p.apply(input[i], channel: i % shape.channels) }
        return (input, image.width != shape.width || image.height != shape.height)
    }
}
