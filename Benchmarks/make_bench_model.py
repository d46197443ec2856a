"""Writes a MobileNet-style model.json with random weights (seeded) for benchmarks.

    python3 Benchmarks/make_bench_model.py OUT.json [--size 96] [--width 32]

Conv 3x3/2 + BN + ReLU6, then depthwise-separable blocks (DepthwiseConv2D 3x3
+ BN + ReLU6, Conv2D 1x1 + BN + ReLU6) with a residual Add where shapes allow,
GlobalAveragePooling2D, Dense + softmax. Only NumPy is needed.
"""
import argparse, base64, json
import numpy as np


def b64(a):
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "dtype": "float32", "base64": base64.b64encode(a.tobytes()).decode()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--width", type=int, default=32)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    layers = []

    def bn(c):
        return {"class_name": "BatchNormalization", "config": {},
                "weights": [b64(rng.uniform(0.5, 1.5, c)), b64(rng.normal(0, 0.1, c)),
                            b64(rng.normal(0, 0.1, c)), b64(rng.uniform(0.5, 1.5, c))]}

    def relu6(name=None):
        layer = {"class_name": "ReLU", "config": {"max_value": 6.0}}
        if name:
            layer["name"] = name
        return layer

    c = args.width
    layers += [{"class_name": "Conv2D", "config": {"filters": c, "kernel_size": 3, "strides": 2, "padding": "same",
                                                   "use_bias": False},
                "weights": [b64(rng.normal(0, (2 / 27) ** 0.5, (3, 3, 3, c)))]}, bn(c), relu6("b0")]
    blocks = [(c * 2, 1), (c * 4, 2), (c * 4, 1), (c * 8, 2), (c * 8, 1), (c * 16, 2), (c * 16, 1)]
    previous = "b0"
    for i, (out, stride) in enumerate(blocks, 1):
        layers += [{"class_name": "DepthwiseConv2D", "config": {"kernel_size": 3, "strides": stride, "padding": "same",
                                                                "use_bias": False},
                    "weights": [b64(rng.normal(0, (2 / 9) ** 0.5, (3, 3, c, 1)))]}, bn(c), relu6(),
                   {"class_name": "Conv2D", "config": {"filters": out, "kernel_size": 1, "use_bias": False},
                    "weights": [b64(rng.normal(0, (2 / c) ** 0.5, (1, 1, c, out)))]}, bn(out), relu6(f"p{i}")]
        if stride == 1 and out == c:
            layers.append({"class_name": "Add", "name": f"b{i}", "inputs": [previous, f"p{i}"]})
        else:
            layers[-1]["name"] = f"b{i}"
        previous = f"b{i}"
        c = out
    layers += [{"class_name": "GlobalAveragePooling2D", "config": {}},
               {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"},
                "weights": [b64(rng.normal(0, (1 / c) ** 0.5, (c, 10))), b64(np.zeros(10))]}]
    model = {"format": "cnnz-json", "version": 1, "name": f"bench-mobilenet-{args.size}",
             "input": {"shape": [args.size, args.size, 3]},
             "preprocess": {"scale": 1 / 127.5, "mean": [1.0], "std": [1.0]}, "layers": layers}
    with open(args.out, "w") as f:
        json.dump(model, f)


if __name__ == "__main__":
    main()
