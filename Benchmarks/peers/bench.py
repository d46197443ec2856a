"""cnnz against TensorFlow Lite and ONNX Runtime, in one process, alternating between engines.

Run through `bash Benchmarks/peers/run.sh` (which makes the virtual environment, builds libcnnz,
`convert`, the C driver and the peak probe, and passes their paths here). See Benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import pathlib
import platform
import subprocess
import sys
import threading
import time
from typing import Callable

import numpy as np

import models
from report import TOLERANCE, render

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


def other_threads() -> tuple[int, int]:
    """Nanoseconds on a CPU of every thread of this process but the calling one, and how many of
    them are running or waiting for a CPU (Linux; (0, 0) elsewhere).

    The time is read from each thread's CPU-time clock (clock_gettime on the clock id Linux
    derives from a thread id), which counts a running thread's current time slice. The first
    version read /proc/self/task/*/schedstat, whose total is brought up to date only when the
    thread is descheduled or at a scheduler tick: a thread spinning on the other core could
    show no progress over a 5 ms window. And a spinning thread that waits for a CPU (another
    process runs on its core) makes no progress either: hence the count of runnable threads
    (state R in /proc/self/task/*/stat)."""
    me = threading.get_native_id()
    total = runnable = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0, 0
    for task in tasks:
        tid = int(task)
        if tid == me:
            continue
        try:
            # MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) of linux/posix-timers.h.
            total += time.clock_gettime_ns(((~tid) << 3) | 6)
            with open(f"/proc/self/task/{task}/stat") as f:
                runnable += f.read().rpartition(")")[2].split()[0] == "R"
        except (OSError, IndexError):
            pass  # the thread ended
    return total, runnable


def settle(limit: float = 1.0) -> None:
    """Waits (at most `limit` seconds) until the other threads of the process stop running: the
    thread pools of the engine just timed. ONNX Runtime's workers spin for tens of milliseconds
    of CPU after a call (cnnz's helpers for 1 ms, XNNPACK's for much less), and a spinning
    thread takes half of the second core from the next engine's threads: TFLite's and cnnz's
    two-thread times doubled when they came right after ORT. Each engine is then timed on a
    process whose other threads are idle, whatever comes before it in the rotation.

    Measured (session 28): with the first version's clock (`other_threads`), settle returned
    while ORT int8's worker still spun (about 100 ms after its last call, 50 to 60 ms of CPU);
    the engine after ORT int8 in the rotation, cnnz from Python, ran its chunks beside that spin
    (11 to 18 ms of the peers' threads' CPU in many of its 50-call chunks, 0 with this version),
    and at 2 threads was 0.04 to 0.12 ms a call slower than cnnz from C, which came after it."""
    deadline = time.perf_counter() + limit
    before, _ = other_threads()
    while time.perf_counter() < deadline:
        time.sleep(0.005)
        now, runnable = other_threads()
        if now - before < 250_000 and runnable == 0:  # under 5 % of a core over 5 ms: the pools are asleep
            return
        before = now


def measure(engines: list[Engine], rounds: int, chunk: int, warmup: int) -> None:
    """Warms every engine up, then runs `rounds` rounds of `chunk` calls per engine, the engines'
    order rotating from round to round, so that a slow spell of the machine touches them all;
    between chunks, waits for the last engine's threads to stop spinning (`settle`), and before the
    first warm-up too: ONNX Runtime's workers spin after the session is made, and the first engine's
    warm-up (cnnz's, whose layer split learns from its first runs) ran beside them."""
    settle()
    for engine in engines:
        engine.time(warmup)
        engine.times = []
        settle()
    for r in range(rounds):
        order = engines[r % len(engines):] + engines[:r % len(engines)]
        for engine in order:
            engine.times += engine.time(chunk)
            settle()



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


if __name__ == "__main__":
    sys.exit(main())
