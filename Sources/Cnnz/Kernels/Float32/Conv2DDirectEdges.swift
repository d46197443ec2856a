extension Conv2DDirect {
    /// A padded layer's output rows whose window rows are all inside the image: the pixels
    /// whose windows are inside along x read the input where it lies, and only the border
    /// pixels' columns are copied, between zeros, into a buffer whose rows are as far apart
    /// as the input's window rows (so one row stride serves every pixel of the call). Copying
    /// every window row whole for every output row took 1.5 % of mobile_res's pass (memmove,
    /// b0: 96 x 96 x 3, stride 2: 864 floats a row, of which its last pixel reads 6).
    /// The taps are the same values in the same order: the same sums.
    struct EdgeCopies {
        /// Floats from one window row to the next, in the input and in the buffer.
        let rowStep: Int
        /// The output pixels whose windows lie inside the image along x.
        let inside: Range<Int>
        /// Padded columns the left part holds, from padded column 0 (input column -padLeft).
        let leftColumns: Int
        /// The right part's first padded column, and its columns (to the last window's end).
        let rightFirst: Int
        let rightColumns: Int
        /// The buffer's floats: its last row holds only the two parts.
        let floats: Int

        /// Nil at stride 1 along x, when no pixel's window is inside along x, or when the two
        /// parts outgrow a row step. At stride 1 the microkernel read the input in place
        /// slower than the copies: fashion_cnn's conv0 (28 x 28 x 1) 6.6 -> 7.2 us (its share
        /// of the samples 11.3 -> 13.8 %), cifar_vgg's (32 x 32 x 3) 18.2 -> 18.5; b0 at
        /// stride 2 gained 19.9 -> 19.0.
        init?(
            columns: AxisGeometry, inputWidth: Int, channels: Int, kernelWidth: Int, strideWidth: Int, rowStep: Int,
            kernelHeight: Int
        ) {
            guard strideWidth >= 2 else { return nil }
            let pad = columns.padBefore
            let first = Swift.min((pad + strideWidth - 1) / strideWidth, columns.output)
            let last = inputWidth - kernelWidth + pad
            let end = last < 0 ? 0 : Swift.min(last / strideWidth + 1, columns.output)
            guard first < end else { return nil }
            let span = (columns.output - 1) * strideWidth + kernelWidth
            inside = first..<end
            leftColumns = first > 0 ? (first - 1) * strideWidth + kernelWidth : 0
            rightFirst = end * strideWidth
            rightColumns = end < columns.output ? span - rightFirst : 0
            guard (leftColumns + rightColumns) * channels <= rowStep else { return nil }
            self.rowStep = rowStep
            floats = (kernelHeight - 1) * rowStep + (leftColumns + rightColumns) * channels
        }

        /// Copies the border pixels' input columns of the window rows from `row` (the first
        /// window row's pixel 0) into `buffer`, whose padding columns stay zero, and points
        /// `origins` at each pixel's window. Out of line, in wrapping arithmetic: inlined into
        /// `run`, the origins' loop reloaded its spilled pointers and checked a product for
        /// overflow per pixel (0.8 % of mobile_res's pass, as much as the copies it replaced).
        @inline(never)
        func prepare(
            origins: UnsafeMutablePointer<UnsafePointer<Float>>, width: Int, row: UnsafePointer<Float>,
            buffer: UnsafeMutablePointer<Float>, kernelHeight: Int, pixelStride: Int, padLeft: Int, channels: Int,
            inputWidth: Int
        ) {
            // Input columns [0, leftCount) and [rightFirst - padLeft, inputWidth): the others are padding.
            let leftCount = leftColumns - padLeft
            let rightStart = rightFirst - padLeft
            let rightCount = inputWidth - rightStart
            // A few floats each (b0: 6, cifar_vgg's conv0: 6 a side): copied in line, where a
            // memmove call per part and row cost more than the whole rows' copies it replaced.
            let left = leftColumns > 0 && leftCount > 0 ? leftCount &* channels : 0
            let right = rightColumns > 0 && rightCount > 0 ? rightCount &* channels : 0
            for ky in 0..<kernelHeight {
                let source = row + ky &* rowStep
                let target = buffer + ky &* rowStep
                Self.copy(left, from: source, to: target + padLeft &* channels)
                Self.copy(right, from: source + rightStart &* channels, to: target + leftColumns &* channels)
            }
            var leftOrigin = UnsafePointer(buffer)
            var ox = 0
            while ox < inside.lowerBound {
                origins[ox] = leftOrigin
                leftOrigin += pixelStride
                ox &+= 1
            }
            var origin = row + (ox &* pixelStride &- padLeft &* channels)
            while ox < inside.upperBound {
                origins[ox] = origin
                origin += pixelStride
                ox &+= 1
            }
            var rightOrigin = UnsafePointer(buffer + leftColumns &* channels)
            while ox < width {
                origins[ox] = rightOrigin
                rightOrigin += pixelStride
                ox &+= 1
            }
        }

        /// `count` floats, four at a time then one by one.
        @inline(__always)
        static func copy(_ count: Int, from source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>) {
            var i = 0
            while i &+ 4 <= count {
                UnsafeMutableRawPointer(target + i).storeBytes(
                    of: UnsafeRawPointer(source + i).loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
                i &+= 4
            }
            while i < count {
                target[i] = source[i]
                i &+= 1
            }
        }
    }
}
