"""Issue 14's bar for int8: accuracy, top-1 agreement, file size and speed of the
int8 Fashion-MNIST CNN against its float32 model, on the full 10,000-image test set.

Run Benchmarks/int8/train_fashion_cnn.py first (it writes DIR), then:

    python3 Benchmarks/int8/measure.py [--dir .build/int8-bar] [--bench 2000]

It builds the release `convert`, `infer` and libcnnz, converts DIR/fashion_cnn.json to
float32, int8 (min/max and percentile calibration on DIR/calibration.npy: 500 training
images) and weights-int8, runs every model on the test set through the Python binding
(uint8 pixels in, so the model's own preprocessing applies), times them with
`infer --bench` (batch 1 and 64, 1 thread, alternating float32 and int8 three times and
keeping the median of the medians), and prints a Markdown report (also written to
Benchmarks/results/int8.md with --write).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(args: list[str]) -> str:
    return subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def bench(infer: str, model: str, image: str, batch: int, runs: int) -> float:
    """Median milliseconds per image of `infer --bench` at `batch`, 1 thread."""
    out = run([infer, model, image, "--bench", str(runs), "--batch", str(batch), "--threads", "1"])
    match = re.search(r"median ([0-9.]+) ms per batch", out)
    if not match:
        raise RuntimeError(f"unexpected infer output: {out}")
    return float(match.group(1)) / batch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=os.path.join(ROOT, ".build", "int8-bar"))
    parser.add_argument("--bench", type=int, default=2000, help="runs per infer --bench at batch 1")
    parser.add_argument("--write", action="store_true", help="also write Benchmarks/results/int8.md")
    args = parser.parse_args()
    d = os.path.abspath(args.dir)

    for product in ["cnnz", "convert", "infer"]:
        subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True,
                       capture_output=True)
    bin_dir = run(["swift", "build", "-c", "release", "--show-bin-path"]).strip()
    convert, infer = os.path.join(bin_dir, "convert"), os.path.join(bin_dir, "infer")
    os.environ["CNNZ_LIBRARY"] = os.path.join(bin_dir, "libcnnz.so")
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    import cnnz

    source = os.path.join(d, "fashion_cnn.json")
    calibration = os.path.join(d, "calibration.npy")
    variants = {
        "float32": [],
        "int8 (min/max)": ["--quantize", "int8", "--calibration", calibration],
        "int8 (percentile 0.01 %)": ["--quantize", "int8", "--calibration", calibration,
                                     "--calibration-method", "percentile"],
        "weights-int8": ["--quantize", "weights-int8"],
    }
    paths = {}
    for name, flags in variants.items():
        slug = re.sub(r"[^a-z0-9]+", "-", name).strip("-")
        paths[name] = os.path.join(d, f"fashion_cnn.{slug}.cnnz")
        run([convert, source, "-o", paths[name], *flags])

    images = np.load(os.path.join(d, "test_images.npy"))
    labels = np.load(os.path.join(d, "test_labels.npy"))
    predictions = {}
    lines = ["| model | precision | file bytes | vs float32 | gzip -9 of file | test accuracy | top-1 agreement with float32 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    float_size = os.path.getsize(paths["float32"])
    for name, path in paths.items():
        model = cnnz.Model(path, batch_capacity=256)
        scores = model.predict(images)
        predictions[name] = scores.argmax(axis=1)
        accuracy = (predictions[name] == labels).mean() * 100
        agreement = (predictions[name] == predictions["float32"]).mean() * 100
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            gz = len(gzip.compress(f.read(), 9))
        lines.append(f"| {name} | {model.precision} | {size:,} | {size / float_size * 100:.1f} % | {gz:,} | "
                     f"{accuracy:.2f} % | {agreement:.2f} % |")

    image = os.path.join(d, "test0.pgm")
    with open(image, "wb") as f:
        f.write(b"P5\n28 28\n255\n" + images[0].astype(np.uint8).tobytes())
    timing = ["", "| model | batch 1, 1 thread (us/image) | batch 64, 1 thread (us/image) |", "| --- | --- | --- |"]
    speed = {}
    for name in ["float32", "int8 (min/max)"]:
        speed[name] = {1: [], 64: []}
    for _ in range(3):  # alternate, so that a busy moment hits both
        for name in speed:
            speed[name][1].append(bench(infer, paths[name], image, 1, args.bench))
            speed[name][64].append(bench(infer, paths[name], image, 64, max(20, args.bench // 32)))
    for name, by_batch in speed.items():
        timing.append(f"| {name} | {statistics.median(by_batch[1]) * 1000:.2f} | "
                      f"{statistics.median(by_batch[64]) * 1000:.2f} |")
    f1 = statistics.median(speed["float32"][1]) / statistics.median(speed["int8 (min/max)"][1])
    f64 = statistics.median(speed["float32"][64]) / statistics.median(speed["int8 (min/max)"][64])
    timing.append(f"\nint8 speed-up over float32: {f1:.2f}x at batch 1, {f64:.2f}x at batch 64 (1 thread).")
    report = "\n".join(lines + timing)
    print(report)
    if args.write:
        with open(os.path.join(ROOT, "Benchmarks", "results", "int8.md"), "w") as f:
            f.write("# Int8 Fashion-MNIST CNN (Benchmarks/int8/measure.py)\n\n" + report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
