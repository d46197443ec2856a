"""Keras against cnnz's `train`: the same architecture, data, batch, optimizer and learning rate,
one epoch of each in turn (so a slow spell of a shared machine lands on both), seconds per epoch
and their ratio. Run through `bash Benchmarks/train/run.sh`; see Benchmarks/README.md.

The architecture is a cnnz model.json without weights (Examples/fashion-cnn.arch.json by default);
its layers (Conv2D, MaxPooling2D, BatchNormalization, Flatten, Dropout, Dense, ReLU) are built as
the same Keras layers. The timed part is the training epoch alone, in both: Keras's `fit` for one
epoch (data already in memory as float32, scaled as the model.json's preprocess says) and the
epoch time `train` prints (its data loading and evaluation are outside it too).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

import numpy as np


def read_idx(path: pathlib.Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder: pathlib.Path, stem: str) -> np.ndarray:
    for suffix in (".gz", ""):
        if (folder / (stem + suffix)).exists():
            return read_idx(folder / (stem + suffix))
    sys.exit(f"error: {folder}: no {stem}[.gz]")


def keras_model(arch: dict):
    import keras

    layers = [keras.Input(shape=tuple(arch["input"]["shape"]))]
    for layer in arch["layers"]:
        name, config = layer["class_name"], dict(layer.get("config", {}))
        config.pop("trainable", None)
        if name == "Conv2D":
            layers.append(keras.layers.Conv2D(**config))
        elif name == "Dense":
            layers.append(keras.layers.Dense(**config))
        elif name == "MaxPooling2D":
            layers.append(keras.layers.MaxPooling2D(**config))
        elif name == "BatchNormalization":
            layers.append(keras.layers.BatchNormalization(**config))
        elif name == "Flatten":
            layers.append(keras.layers.Flatten())
        elif name == "Dropout":
            layers.append(keras.layers.Dropout(**config))
        elif name == "ReLU":
            layers.append(keras.layers.ReLU())
        elif name == "Activation":
            layers.append(keras.layers.Activation(**config))
        else:
            sys.exit(f"error: the benchmark has no Keras twin for {name}")
    return keras.Sequential(layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", required=True, help="the built cnnz `train` executable")
    parser.add_argument("--work", default=".build-train-bench")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--arch", default="Examples/fashion-cnn.arch.json")
    parser.add_argument("--rounds", type=int, default=3, help="epochs of each, alternating")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N images only (a quicker run; seconds per epoch are then scaled "
                             "to the whole training set)")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    data = pathlib.Path(args.data)
    arch = json.loads(pathlib.Path(args.arch).read_text())
    scale = arch.get("preprocess", {}).get("scale", 1.0)
    x = load(data, "train-images-idx3-ubyte").astype(np.float32) * scale
    x = x.reshape((x.shape[0], *arch["input"]["shape"]))
    y = load(data, "train-labels-idx1-ubyte").astype(np.int64)
    everything = x.shape[0]
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    x_test = load(data, "t10k-images-idx3-ubyte").astype(np.float32).reshape((-1, *arch["input"]["shape"])) * scale
    y_test = load(data, "t10k-labels-idx1-ubyte").astype(np.int64)

    keras.utils.set_random_seed(1)
    model = keras_model(arch)
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = work / "bench-model.json"
    print(f"Keras {keras.__version__} (TensorFlow {tf.__version__}) and cnnz train; {x.shape[0]} images, "
          f"batch {args.batch}, Adam lr {args.lr}, {args.threads} threads; {args.arch}", flush=True)
    keras_seconds, cnnz_seconds, keras_cpu, cnnz_cpu = [], [], [], []
    for round_ in range(1, args.rounds + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        history = model.fit(x, y, batch_size=args.batch, epochs=round_, initial_epoch=round_ - 1, verbose=0,
                            shuffle=True)
        keras_seconds.append(time.perf_counter() - start)
        keras_cpu.append(time.process_time() - start_cpu)
        command = [args.train, "--data", str(data), "--epochs", str(round_), "--batch", str(args.batch),
                   "--lr", str(args.lr), "--threads", str(args.threads), "--out", str(out),
                   "--history", str(work / "bench-history.csv"), "--report", str(work / "bench-report.svg")]
        command += ["--arch", args.arch] if round_ == 1 else ["--resume", str(out)]
        command += ["--limit", str(args.limit)] if args.limit else []
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(result.stderr.strip())
        match = re.search(rf"^epoch {round_}/{round_}: .*; [0-9]+ images/s, ([0-9.]+) s \(CPU ([0-9.]+) s\)$",
                          result.stdout, re.M)
        cnnz_seconds.append(float(match.group(1)))
        cnnz_cpu.append(float(match.group(2)))
        cnnz_test = re.search(r"^test: .*accuracy ([0-9.]+) %", result.stdout, re.M).group(1)
        print(f"epoch {round_}: Keras {keras_seconds[-1]:.1f} s, CPU {keras_cpu[-1]:.1f} s (train accuracy "
              f"{history.history['accuracy'][-1] * 100:.2f} %); cnnz {cnnz_seconds[-1]:.1f} s, CPU {cnnz_cpu[-1]:.1f} s "
              f"(test accuracy {cnnz_test} %)", flush=True)
    keras_test = model.evaluate(x_test, y_test, verbose=0)[1]
    # The first Keras epoch traces and compiles the graph: the median leaves it out when there are 3+.
    full = everything / x.shape[0]  # scaled to the whole training set

    k, c = statistics.median(keras_seconds) * full, statistics.median(cnnz_seconds) * full
    print(f"seconds per epoch of {everything} images (median of {args.rounds}"
          f"{f', scaled from {x.shape[0]}' if args.limit else ''}): Keras {k:.1f}, cnnz {c:.1f}; "
          f"cnnz / Keras = {c / k:.2f} (Keras test accuracy after {args.rounds} epochs "
          f"{keras_test * 100:.2f} %)")
    kc, cc = statistics.median(keras_cpu) * full, statistics.median(cnnz_cpu) * full
    print(f"CPU seconds per epoch (every thread; steadier than wall time on a shared machine): "
          f"Keras {kc:.1f}, cnnz {cc:.1f}; cnnz / Keras = {cc / kc:.2f}")


if __name__ == "__main__":
    main()
