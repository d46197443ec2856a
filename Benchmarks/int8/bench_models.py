"""Int8 against float32 in cnnz on the peer benchmark's four models (Benchmarks/peers/models.py:
the same weights), batch 1 and 64, one thread, with `infer --bench`.

    python3 Benchmarks/int8/bench_models.py [--runs 2000] [--models fashion_cnn cifar_vgg]

Each model is converted to float32 and to int8 (calibrated, as the peer benchmark calibrates
the peers, on 32 uniform random images in [0, 1]); its input is preprocessed from pixels as
pixel / 255. The two are timed alternately, three rounds, and the median of the three medians
is kept, so that a busy moment on this shared machine hits both. Prints a Markdown table of
microseconds per image and the ratio float32 / int8 (above 1: int8 is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks", "peers"))
import models  # noqa: E402


def median_ms(infer: str, model: str, image: str, batch: int, runs: int) -> float:
    out = subprocess.run([infer, model, image, "--bench", str(runs), "--batch", str(batch), "--threads", "1"],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"median ([0-9.]+) ms per batch", out).group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000, help="infer --bench runs at batch 1 (batch 64: / 32)")
    parser.add_argument("--models", nargs="*", default=list(models.MODELS))
    parser.add_argument("--work", default=os.path.join(ROOT, ".build", "int8-bench"))
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    for product in ["convert", "infer"]:
        subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True,
                       capture_output=True)
    bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    convert, infer = os.path.join(bin_dir, "convert"), os.path.join(bin_dir, "infer")
    rng = np.random.default_rng(14)
    lines = ["| model | MMACs | batch | float32 us/image | int8 us/image | float32 / int8 |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name in args.models:
        model = models.Model(name, 15)  # the peer benchmark's seed
        spec = model.model_json()
        spec["preprocess"] = {"scale": 1 / 255}
        source = os.path.join(args.work, f"{name}.json")
        with open(source, "w") as f:
            json.dump(spec, f)
        h, w, c = model.input_shape
        calibration = os.path.join(args.work, f"{name}.calibration.npy")
        np.save(calibration, rng.uniform(0, 1, (32, h, w, c)).astype(np.float32))
        paths = {"float32": os.path.join(args.work, f"{name}.cnnz"), "int8": os.path.join(args.work, f"{name}.int8.cnnz")}
        subprocess.run([convert, source, "-o", paths["float32"]], check=True, capture_output=True)
        subprocess.run([convert, source, "-o", paths["int8"], "--quantize", "int8", "--calibration", calibration],
                       check=True, capture_output=True)
        image = os.path.join(args.work, f"{name}.{'pgm' if c == 1 else 'ppm'}")
        with open(image, "wb") as f:
            f.write(f"P{5 if c == 1 else 6}\n{w} {h}\n255\n".encode() + rng.integers(0, 256, h * w * c, dtype=np.uint8).tobytes())
        for batch in (1, 64):
            runs = args.runs if batch == 1 else max(10, args.runs // 32)
            times: dict[str, list[float]] = {"float32": [], "int8": []}
            for _ in range(3):
                for kind, path in paths.items():
                    times[kind].append(median_ms(infer, path, image, batch, runs) / batch * 1000)
            f32, i8 = statistics.median(times["float32"]), statistics.median(times["int8"])
            lines.append(f"| {name} | {model.macs / 1e6:.2f} | {batch} | {f32:.1f} | {i8:.1f} | {f32 / i8:.2f} |")
            print(lines[-1], file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
