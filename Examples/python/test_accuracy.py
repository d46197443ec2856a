"""Measures a .cnnz model's accuracy on the Fashion-MNIST (or MNIST) test set through the Python binding.

    swift build -c release --product cnnz
    PYTHONPATH=bindings/python python3 Examples/python/test_accuracy.py Examples/fashion-mnist.cnnz

The test set is the IDX files t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in --data
(default /usr/share/datasets/fashion-mnist: Debian's dataset-fashion-mnist). The images go to the
model as uint8 pixels, so the model's own preprocessing is applied. Prints the accuracy and the
per-class accuracy; exits 1 (with one line) when the files cannot be read, or when the accuracy is
below --min-accuracy (a percentage; Tests/run-all.sh checks the shipped models so).
"""
from __future__ import annotations

import argparse
import gzip
import pathlib
import sys

import numpy as np

import cnnz


def read_idx(path: pathlib.Path) -> np.ndarray:
    """An IDX file (raw or gzip) as a uint8 array of its dimensions."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0:3] != b"\0\0\x08":
        raise ValueError(f"{path}: not an IDX file of bytes")
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--min-accuracy", type=float, default=None,
                        help="exit 1 when the test accuracy (in %%) is below this")
    args = parser.parse_args()
    data = pathlib.Path(args.data)
    try:
        images = read_idx(data / "t10k-images-idx3-ubyte.gz")
        labels = read_idx(data / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    model = cnnz.Model(args.model, batch_capacity=args.batch)
    x = images.reshape((images.shape[0], *model.input_shape))
    predicted = np.concatenate([model.predict(x[i:i + args.batch]).argmax(axis=1)
                                for i in range(0, len(x), args.batch)])
    correct = predicted == labels
    print(f"{args.model}: test accuracy {correct.mean() * 100:.2f} % ({correct.sum()} of {len(labels)} images)")
    for k in range(model.output_size):
        name = model.labels[k] if model.labels else str(k)
        print(f"  {name:12s} {correct[labels == k].mean() * 100:6.2f} %")
    if args.min_accuracy is not None and correct.mean() * 100 < args.min_accuracy:
        print(f"error: {args.model}: test accuracy {correct.mean() * 100:.2f} % is below {args.min_accuracy} %",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
