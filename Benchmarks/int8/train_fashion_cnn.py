"""Trains issue 14's Fashion-MNIST CNN in Keras and writes what the int8 bar needs.

Conv2D(32, 3x3, same, relu) -> MaxPool 2 -> Conv2D(64, 3x3, same, relu) -> MaxPool 2
-> Flatten -> Dense(128, relu) -> Dense(10, softmax), inputs scaled to [0, 1]
(a Rescaling layer, so cnnz's preprocessing does it and pixels can be fed directly).

Writes into OUT (default .build/int8-bar): fashion_cnn.keras, fashion_cnn.json (exported
with `cnnz.export`), calibration.npy (the first N training images, prepared NHWC float32 in
[0, 1]), test_images.npy (uint8, 10000x28x28x1) and test_labels.npy.

    KERAS_BACKEND=jax python3 Benchmarks/int8/train_fashion_cnn.py [--epochs 8] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path: str) -> np.ndarray:
    """An IDX file (raw or .gz) as a NumPy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4 : 4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--out", default=".build/int8-bar")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--calibration-count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    import keras

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python"))
    from cnnz.keras_export import export

    keras.utils.set_random_seed(args.seed)
    x_train = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))[..., None]
    y_train = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"))
    x_test = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))[..., None]
    y_test = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train.astype("float32"), y_train, epochs=args.epochs, batch_size=64, validation_split=0.1, verbose=2)
    _, accuracy = model.evaluate(x_test.astype("float32"), y_test, verbose=0)
    print(f"keras float32 test accuracy: {accuracy * 100:.2f} %")

    os.makedirs(args.out, exist_ok=True)
    model.save(os.path.join(args.out, "fashion_cnn.keras"))
    labels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    export(model, os.path.join(args.out, "fashion_cnn.json"), labels=labels)
    calibration = x_train[: args.calibration_count].astype(np.float32) / 255
    np.save(os.path.join(args.out, "calibration.npy"), calibration)
    np.save(os.path.join(args.out, "test_images.npy"), x_test)
    np.save(os.path.join(args.out, "test_labels.npy"), y_test)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
