"""cnnz against TensorFlow Lite and ONNX Runtime, in one process, alternating between engines.

Run through `bash Benchmarks/peers/run.sh` (which makes the virtual environment, builds libcnnz,
`convert`, the C driver and the peak probe, and passes their paths here). See Benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable

import numpy as np

import models

TOLERANCE = 1e-4  # largest |difference| allowed between engines' float32 probabilities
CALIBRATION_IMAGES = 32


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Engines: each is a name and a factory (threads, batch, x) -> a function that times `calls` calls
# and returns their seconds, plus a function returning the outputs for x.


class Engine:
    def __init__(self, name: str, kind: str, run: Callable[[], np.ndarray] | None = None,
                 timer: Callable[[int], list[float]] | None = None, close: Callable[[], None] | None = None):
        self.name, self.kind = name, kind
        self._run, self._timer, self._close = run, timer, close
        self.times: list[float] = []

    def outputs(self) -> np.ndarray:
        return self._run()

    def time(self, calls: int) -> list[float]:
        if self._timer is not None:
            return self._timer(calls)
        run, clock, seconds = self._run, time.perf_counter, []
        for _ in range(calls):
            start = clock()
            run()
            seconds.append(clock() - start)
        return seconds

    def close(self) -> None:
        if self._close:
            self._close()


def cnnz_python(path: str, threads: int, x: np.ndarray, name: str = "cnnz") -> Engine:
    import cnnz

    model = cnnz.Model(path, batch_capacity=x.shape[0], threads=threads)
    return Engine(name, "cnnz", run=lambda: model.predict(x), close=model.close)


def cnnz_c(driver: ctypes.CDLL, path: str, threads: int, x: np.ndarray, output_size: int) -> Engine:
    x = np.ascontiguousarray(x, dtype=np.float32)
    handle = driver.driver_open(os.fsencode(path), x.shape[0], threads, x.ctypes.data)
    if not handle:
        raise RuntimeError(f"cnnz C driver: cannot open {path}")

    def timer(calls: int) -> list[float]:
        seconds = (ctypes.c_double * calls)()
        status = driver.driver_time(handle, calls, seconds)
        if status:
            raise RuntimeError(f"cnnz_run failed with status {status}")
        return list(seconds)

    def run() -> np.ndarray:
        timer(1)
        pointer = driver.driver_output(handle)
        return np.ctypeslib.as_array(pointer, shape=(x.shape[0] * output_size,)).reshape(x.shape[0], -1).copy()

    return Engine("cnnz C", "cnnz", run=run, timer=timer, close=lambda: driver.driver_close(handle))


def load_driver(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.driver_open.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
    lib.driver_open.restype = ctypes.c_void_p
    lib.driver_time.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_double)]
    lib.driver_time.restype = ctypes.c_int
    lib.driver_output.argtypes = [ctypes.c_void_p]
    lib.driver_output.restype = ctypes.POINTER(ctypes.c_float)
    lib.driver_close.argtypes = [ctypes.c_void_p]
    return lib


def tflite(name: str, interpreter_class, content: bytes, threads: int, x: np.ndarray) -> Engine:
    interpreter = interpreter_class(model_content=content, num_threads=threads)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(x.shape))
    interpreter.allocate_tensors()
    output = interpreter.get_output_details()[0]["index"]

    def run() -> np.ndarray:
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output)

    return Engine(name, "peer", run=run)


def onnxruntime(name: str, content: bytes, threads: int, x: np.ndarray) -> Engine:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(content, options, providers=["CPUExecutionProvider"])
    nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # ORT's layout, made once outside the timing
    feed = {session.get_inputs()[0].name: nchw}
    return Engine(name, "peer", run=lambda: session.run(None, feed)[0])


# Model conversion ------------------------------------------------------------------------------


def build(model: models.Model, work: pathlib.Path, convert: str, calibration: np.ndarray) -> dict[str, bytes | str]:
    import tensorflow as tf
    from onnxruntime import quantization as q

    artifacts: dict[str, bytes | str] = {}
    json_path = work / f"{model.name}.json"
    json_path.write_text(json.dumps(model.model_json()))
    cnnz_path = work / f"{model.name}.cnnz"
    subprocess.run([convert, str(json_path), "-o", str(cnnz_path)], check=True, stdout=subprocess.DEVNULL)
    artifacts["cnnz"] = str(cnnz_path)
    # cnnz's own int8 (issue 14), calibrated on the same images as the peers.
    calibration_path = work / f"{model.name}.calibration.npy"
    np.save(calibration_path, calibration.astype(np.float32))
    cnnz_int8 = work / f"{model.name}.int8.cnnz"
    subprocess.run([convert, str(json_path), "-o", str(cnnz_int8), "--quantize", "int8", "--calibration",
                    str(calibration_path)], check=True, stdout=subprocess.DEVNULL)
    artifacts["cnnz_int8"] = str(cnnz_int8)
    # The same with 7-bit Conv2D and Dense weights: what docs/QUANTIZATION.md tells users of x86 CPUs
    # with AVX2 but no VNNI to convert with (exact vpmaddubsw there); the same speed elsewhere.
    cnnz_int8_w7 = work / f"{model.name}.int8w7.cnnz"
    subprocess.run([convert, str(json_path), "-o", str(cnnz_int8_w7), "--quantize", "int8", "--weight-bits", "7",
                    "--calibration", str(calibration_path)], check=True, stdout=subprocess.DEVNULL)
    artifacts["cnnz_int8_w7"] = str(cnnz_int8_w7)

    keras_model = model.keras()
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    artifacts["tflite"] = converter.convert()
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[np.newaxis]] for image in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    artifacts["tflite_int8"] = converter.convert()  # float input and output, int8 inside

    onnx_model = model.onnx()
    artifacts["onnx"] = onnx_model.SerializeToString()
    f32, i8 = work / f"{model.name}.onnx", work / f"{model.name}.int8.onnx"
    f32.write_bytes(artifacts["onnx"])

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.images = iter(calibration)

        def get_next(self):
            image = next(self.images, None)
            return None if image is None else {"input": np.ascontiguousarray(image.transpose(2, 0, 1)[np.newaxis])}

    q.quantize_static(str(f32), str(i8), Reader(), quant_format=q.QuantFormat.QDQ, per_channel=True,
                      activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8)
    artifacts["onnx_int8"] = i8.read_bytes()
    return artifacts


# Measurement -----------------------------------------------------------------------------------


def other_threads_cpu() -> int:
    """Nanoseconds on a CPU of every thread of this process but the calling one (Linux; 0 elsewhere)."""
    try:
        me = str(threading.get_native_id())
        total = 0
        for task in os.listdir("/proc/self/task"):
            if task != me:
                try:
                    with open(f"/proc/self/task/{task}/schedstat") as f:
                        total += int(f.read().split()[0])
                except (OSError, ValueError, IndexError):
                    pass  # the thread ended
        return total
    except OSError:
        return 0


def settle(limit: float = 1.0) -> None:
    """Waits (at most `limit` seconds) until the other threads of the process stop running: the
    thread pools of the engine just timed. ONNX Runtime's workers spin for tens of milliseconds
    of CPU after a call (cnnz's helpers for 1 ms, XNNPACK's for much less), and a spinning
    thread takes half of the second core from the next engine's threads: TFLite's and cnnz's
    two-thread times doubled when they came right after ORT. Each engine is then timed on a
    process whose other threads are idle, whatever comes before it in the rotation."""
    deadline = time.perf_counter() + limit
    before = other_threads_cpu()
    while time.perf_counter() < deadline:
        time.sleep(0.005)
        now = other_threads_cpu()
        if now - before < 250_000:  # under 5 % of a core over 5 ms: the pools are asleep
            return
        before = now


def measure(engines: list[Engine], rounds: int, chunk: int, warmup: int) -> None:
    """Warms every engine up, then runs `rounds` rounds of `chunk` calls per engine, the engines'
    order rotating from round to round, so that a slow spell of the machine touches them all;
    between chunks, waits for the last engine's threads to stop spinning (`settle`)."""
    for engine in engines:
        engine.time(warmup)
        engine.times = []
        settle()
    for r in range(rounds):
        order = engines[r % len(engines):] + engines[:r % len(engines)]
        for engine in order:
            engine.times += engine.time(chunk)
            settle()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(p * len(ordered))) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls, two models: to try the script out")
    parser.add_argument("--models", nargs="*", help="models to run (default: all four; --quick: two)")
    parser.add_argument("--convert", required=True)
    parser.add_argument("--driver", required=True)
    parser.add_argument("--peak", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--models-dir", default=".build-peers/models", help="where the built models are written")
    parser.add_argument("--command", default="bash Benchmarks/peers/run.sh")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()

    names = args.models or (["fashion_cnn", "mobile_res"] if args.quick else list(models.MODELS))
    rounds1, chunk1, warm1 = (4, 25, 20) if args.quick else (10, 50, 50)
    rounds64, chunk64, warm64 = (2, 2, 1) if args.quick else (6, 5, 3)
    load_before = os.getloadavg()
    started = time.time()

    def probe() -> dict[str, str]:
        output = subprocess.run([args.peak], check=True, capture_output=True, text=True).stdout
        return dict(line.split(" ", 1) for line in output.splitlines())

    log("measuring this core's peak ...")
    peak_lines = probe()

    import tensorflow as tf
    import onnxruntime as ort
    import onnx

    interpreters = [("TFLite", tf.lite.Interpreter)]
    try:
        from ai_edge_litert.interpreter import Interpreter as LiteRT
        import ai_edge_litert

        interpreters.append(("LiteRT", LiteRT))
        litert_version = getattr(ai_edge_litert, "__version__", "installed")
    except ImportError:
        litert_version = "not installed"
    driver = load_driver(args.driver)
    rng = np.random.default_rng(args.seed)
    rows, checks = [], []
    # The models stay there, for `infer MODEL.cnnz IMAGE --profile` afterwards.
    work = pathlib.Path(args.models_dir)
    work.mkdir(parents=True, exist_ok=True)
    for name in names:
        model = models.Model(name, args.seed)
        calibration = rng.uniform(0, 1, (CALIBRATION_IMAGES,) + model.input_shape).astype(np.float32)
        log(f"{name}: {model.macs / 1e6:.2f} M MACs; building the cnnz, TFLite and ONNX models ...")
        artifacts = build(model, work, args.convert, calibration)

        def engines_for(threads: int, x: np.ndarray, int8: bool) -> list[Engine]:
            engines = ([cnnz_python(artifacts["cnnz_int8"], threads, x, name="cnnz int8"),
                        cnnz_python(artifacts["cnnz_int8_w7"], threads, x, name="cnnz int8 7-bit")] if int8
                       else [cnnz_python(artifacts["cnnz"], threads, x),
                             cnnz_c(driver, artifacts["cnnz"], threads, x, model.output_size)])
            suffix = " int8" if int8 else ""
            for label, interpreter in interpreters:
                engines.append(tflite(label + suffix, interpreter, artifacts["tflite_int8" if int8 else "tflite"],
                                      threads, x))
            engines.append(onnxruntime("ORT" + suffix, artifacts["onnx_int8" if int8 else "onnx"], threads, x))
            return engines

        # Agreement, on images the calibration did not see.
        x = rng.uniform(0, 1, (8,) + model.input_shape).astype(np.float32)
        float_engines = engines_for(1, x, int8=False)
        outputs = {e.name: np.asarray(e.outputs(), dtype=np.float32).reshape(8, -1) for e in float_engines}
        reference = outputs["TFLite"]
        worst = max(float(np.abs(o - reference).max()) for o in outputs.values())
        int8_engines = engines_for(1, x, int8=True)
        int8_top1 = {e.name: float((np.asarray(e.outputs()).reshape(8, -1).argmax(1) == reference.argmax(1)).mean())
                     for e in int8_engines}
        for e in float_engines + int8_engines:
            e.close()
        checks.append((name, worst, {k: float(np.abs(v - reference).max()) for k, v in outputs.items()},
                       int8_top1))
        if worst > TOLERANCE:
            log(f"error: {name}: float32 outputs differ by {worst:.3g} (> {TOLERANCE}): {checks[-1][2]}")
            return 1
        log(f"{name}: float32 outputs agree (max |difference| {worst:.2g}); int8 top-1 agreement {int8_top1}")

        for batch in (1, 64):
            x = rng.uniform(0, 1, (batch,) + model.input_shape).astype(np.float32)
            for threads in (1, 2):
                log(f"{name}: batch {batch}, {threads} thread(s) ...")
                engines = engines_for(threads, x, False) + engines_for(threads, x, True)
                if batch == 1:
                    measure(engines, rounds1, chunk1, warm1)
                else:
                    measure(engines, rounds64, chunk64, warm64)
                rows.append({"model": name, "macs": model.macs, "batch": batch, "threads": threads,
                             "engines": {e.name: e.times for e in engines}})
                for e in engines:
                    e.close()
    # The peak again at the end: the higher of the two, each figure on its own (a busy machine lowers it).
    for key, value in probe().items():
        if key.endswith(("gflops", "gops")) and float(value) > float(peak_lines[key]):
            peak_lines[key] = value
    fma_peak = float(peak_lines["fma_gflops"]) * 1e9
    int8_peak = float(peak_lines["int8_gops"]) * 1e9
    elapsed = time.time() - started
    report = render(rows, checks, args, fma_peak, int8_peak, peak_lines, load_before, os.getloadavg(), elapsed,
                    versions={"tensorflow": tf.__version__, "onnxruntime": ort.__version__, "onnx": onnx.__version__,
                              "ai-edge-litert": litert_version, "numpy": np.__version__,
                              "python": platform.python_version()})
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(report)
    print(report)
    log(f"written to {args.out}")
    return 0


# The table -------------------------------------------------------------------------------------


def render(rows, checks, args, fma_peak, int8_peak, peak_lines, load_before, load_after, elapsed, versions) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:.3f}"

    def cell(times: list[float], batch: int) -> str:
        median = statistics.median(times)
        if batch == 1:
            return f"{ms(median)} / {ms(percentile(times, 0.9))}"
        return f"{ms(median)} ({batch / median:,.0f}/s)"

    def machine() -> str:
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                   platform.processor())
        return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "Sources"], capture_output=True, text=True).stdout
    lines = [
        "# cnnz against TensorFlow Lite and ONNX Runtime",
        "",
        f"- command: `{args.command}`{' (quick mode: fewer calls and models)' if args.quick else ''}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"cnnz {commit}{' with uncommitted changes in Sources' if dirty else ''}, run took {elapsed:.0f} s",
        f"- machine: {machine()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        "(the machine is shared: other processes' work shows up as noise)",
        f"- this core's peak (`peak.c` at the start and the end, best of 40 loops, the wider vectors the CPU has): float32 FMA "
        f"{fma_peak / 1e9:.1f} GFLOP/s (256-bit {float(peak_lines['fma256_gflops']):.1f}, "
        f"512-bit {float(peak_lines['fma512_gflops']):.1f}; 0: no AVX-512), int8 {int8_peak / 1e9:.1f} GOP/s "
        f"(256-bit {float(peak_lines['int8_256_gops']):.1f} with {peak_lines['int8_instruction']}, "
        f"512-bit vpdpbusd {float(peak_lines['int8_512_gops']):.1f})",
        "- peers: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "- every engine called from Python on NumPy arrays (cnnz through bindings/python); `cnnz C` is the same "
        "library timed in a C loop (Benchmarks/peers/driver.c), without the binding",
        "",
        "## Agreement (float32, 8 images the calibration did not see)",
        "",
        f"Largest |difference| of each engine's probabilities from TFLite's; the run stops above {TOLERANCE:g}. "
        "Int8: share of the 8 images whose top-1 class is float32 TFLite's.",
        "",
        "| model | float32 max difference per engine | int8 top-1 agreement |",
        "| --- | --- | --- |",
    ]
    for name, worst, per_engine, top1 in checks:
        lines.append(f"| {name} | " + ", ".join(f"{k} {v:.1g}" for k, v in per_engine.items()) + " | "
                     + ", ".join(f"{k} {v:.0%}" for k, v in top1.items()) + " |")
    lines += [
        "",
        "## float32",
        "",
        "Batch 1: median / p90 ms per call. Batch 64: median ms per call (images per second). "
        "**cnnz / best** is cnnz's median divided by the best peer's (below 1: cnnz is faster); "
        "**C / best** the same for cnnz from C; **% peak**: cnnz's (from C) achieved GFLOP/s "
        "(2 × MACs × batch / median) over this core's FMA peak (the wider vectors) times the threads.",
        "",
    ]
    peer_names = [n for n in rows[0]["engines"] if n not in ("cnnz", "cnnz C") and not n.endswith(" int8")
                  and not n.startswith("cnnz int8")]
    header = ["model (MACs)", "batch", "threads", "cnnz", "cnnz C", *peer_names, "best peer", "cnnz / best",
              "C / best", "% peak"]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        e, batch = row["engines"], row["batch"]
        medians = {k: statistics.median(v) for k, v in e.items()}
        best = min(peer_names, key=lambda k: medians[k])
        flops = 2 * row["macs"] * batch / medians["cnnz C"]
        lines.append("| " + " | ".join([
            f"{row['model']} ({row['macs'] / 1e6:.2f} M)", str(batch), str(row["threads"]),
            cell(e["cnnz"], batch), cell(e["cnnz C"], batch), *(cell(e[k], batch) for k in peer_names), best,
            f"**{medians['cnnz'] / medians[best]:.2f}**", f"{medians['cnnz C'] / medians[best]:.2f}",
            f"{flops / (fma_peak * row['threads']):.1%}"]) + " |")
    int8_names = [n for n in rows[0]["engines"] if n.endswith(" int8") and n != "cnnz int8"]
    lines += [
        "",
        "## int8",
        "",
        "The peers' own post-training quantization of the same weights, with the same 32 calibration images: "
        "TFLite full-integer (float input and output, int8 inside), ONNX Runtime `quantize_static` per-channel "
        "(QDQ, uint8 activations, int8 weights); cnnz int8 is `convert --quantize int8` calibrated on the same "
        "images (from Python). **cnnz int8 / best int8** is cnnz's int8 median over the best int8 peer's "
        "(below 1: cnnz is faster; issue 15's bar is 0.8), **cnnz f32 / best int8** compares cnnz's float32 with the best int8 peer, "
        "**cnnz f32 / cnnz int8** cnnz's two precisions; **peer % peak**: the best int8 peer's achieved operations "
        "over this core's int8 peak times the threads. **cnnz int8 7-bit** is the same conversion with "
        "`--weight-bits 7` (Conv2D and Dense weights in -63...63), what docs/QUANTIZATION.md recommends on x86 "
        "CPUs with AVX2 but no VNNI, where it runs on exact `vpmaddubsw` kernels (elsewhere it runs as fast as "
        "8-bit); **7-bit / best int8** its median over the best int8 peer's.",
        "",
    ]
    header = ["model", "batch", "threads", *int8_names, "best int8 peer", "cnnz int8", "cnnz int8 / best int8",
              "cnnz int8 7-bit", "7-bit / best int8", "cnnz f32 / best int8",
              "cnnz f32 / cnnz int8", "peer % peak"]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        e, batch = row["engines"], row["batch"]
        medians = {k: statistics.median(v) for k, v in e.items()}
        best = min(int8_names, key=lambda k: medians[k])
        ops = 2 * row["macs"] * batch / medians[best]
        lines.append("| " + " | ".join([
            row["model"], str(batch), str(row["threads"]), *(cell(e[k], batch) for k in int8_names), best,
            cell(e["cnnz int8"], batch), f"**{medians['cnnz int8'] / medians[best]:.2f}**",
            cell(e["cnnz int8 7-bit"], batch), f"**{medians['cnnz int8 7-bit'] / medians[best]:.2f}**",
            f"{medians['cnnz'] / medians[best]:.2f}",
            f"{medians['cnnz'] / medians['cnnz int8']:.2f}",
            f"{ops / (int8_peak * row['threads']):.1%}"]) + " |")
    if any(2 * r["macs"] * r["batch"] / min(statistics.median(v) for k, v in r["engines"].items() if k in int8_names)
           > int8_peak * r["threads"] for r in rows):
        lines += ["", "A share of peak above 100 % means the peak probe was slowed by other work on the machine "
                  "(it measures the best of short loops, at the start and the end of the run)."]
    calls1 = len(rows[0]["engines"]["cnnz"]) if rows and rows[0]["batch"] == 1 else 0
    lines += ["", f"Batch 1: {calls1} timed calls per engine per cell after warm-up; batch 64: "
              f"{len(rows[-1]['engines']['cnnz']) if rows else 0}; calls alternate between engines in chunks.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
