"""Builds Examples/fashion-mnist-small.json, the example model that ships in the repo.

A stop-gap until cnnz's own trainer (a later issue) replaces it: the convolution
is random and fixed (seed 7), only the Dense classifier is trained, by softmax
regression on the convolution's features. Needs NumPy and the Debian package
dataset-fashion-mnist. Also writes a few test images as PGM.

    python3 Examples/tools/make_example_model.py
"""
import base64, gzip, json, os, struct
import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        magic, = struct.unpack(">I", f.read(4))
        dims = struct.unpack(">" + "I" * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


def features(images, kernel, bias):
    # Conv2D 16 filters 5x5 stride 2 "same" + ReLU, then MaxPooling2D 2x2: [N, 7, 7, 16].
    x = images.astype(np.float32) / 255.0
    x = np.pad(x, ((0, 0), (1, 2), (1, 2)))  # TF same padding for 28, k5, s2: total 3, before 1
    cols = np.stack([x[:, ky:ky + 28:2, kx:kx + 28:2] for ky in range(5) for kx in range(5)], axis=-1)
    y = np.maximum(cols @ kernel.reshape(25, 16) + bias, 0)  # [N, 14, 14, 16]
    y = y.reshape(-1, 7, 2, 7, 2, 16).max(axis=(2, 4))
    return y.reshape(len(images), -1)


def b64(a):
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "dtype": "float32", "base64": base64.b64encode(a.tobytes()).decode()}


def main():
    rng = np.random.default_rng(7)
    train_x, train_y = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
    test_x, test_y = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
    kernel = rng.normal(0, 0.3, (5, 5, 1, 16)).astype(np.float32)
    bias = rng.normal(0, 0.1, 16).astype(np.float32)
    f_train = features(train_x, kernel, bias)
    f_test = features(test_x, kernel, bias)
    w = np.zeros((f_train.shape[1], 10), np.float32)
    b = np.zeros(10, np.float32)
    onehot = np.eye(10, dtype=np.float32)[train_y]
    lr = 0.05
    for epoch in range(8):
        order = rng.permutation(len(f_train))
        for start in range(0, len(order), 128):
            i = order[start:start + 128]
            logits = f_train[i] @ w + b
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            g = (p - onehot[i]) / len(i)
            w -= lr * (f_train[i].T @ g + 1e-4 * w)
            b -= lr * g.sum(0)
        accuracy = ((f_test @ w + b).argmax(1) == test_y).mean()
        print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f}")

    sample = test_x[0].astype(np.float32) / 255.0
    logits = features(test_x[:1], kernel, bias) @ w + b
    p = np.exp(logits - logits.max())
    p /= p.sum()
    model = {
        "format": "cnnz-json", "version": 1, "name": "fashion-mnist-small",
        "input": {"shape": [28, 28, 1]},
        "preprocess": {"scale": 1 / 255, "mean": [0.0], "std": [1.0]},
        "labels": LABELS,
        "layers": [
            {"class_name": "Conv2D", "config": {"filters": 16, "kernel_size": [5, 5], "strides": [2, 2],
                                                "padding": "same", "activation": "relu"},
             "weights": [b64(kernel), b64(bias)]},
            {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
            {"class_name": "Flatten", "config": {}},
            {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}, "weights": [b64(w), b64(b)]},
        ],
        "selftest": {"input": b64(sample.reshape(28, 28, 1)), "output": b64(p[0]), "tolerance": 1e-4},
    }
    with open(os.path.join(OUT, "fashion-mnist-small.json"), "w") as f:
        json.dump(model, f, indent=1)
    # One test image per class, the first of each in the test set.
    for c in range(10):
        i = int(np.nonzero(test_y == c)[0][0])
        name = LABELS[c].lower().replace("/", "-").replace(" ", "-")
        with open(os.path.join(OUT, "images", f"{name}.pgm"), "wb") as f:
            f.write(b"P5\n28 28\n255\n" + test_x[i].tobytes())


if __name__ == "__main__":
    main()
