"""Throughput of the Spark example against one process, from Python and from C, on the same images.

    bash Examples/spark/setup.sh && .venv-spark/bin/pip install pillow   # Pillow writes the JPEG files
    .venv-spark/bin/python Benchmarks/spark_throughput.py [--models mobilenet,mobilenet224:2000]
        [--formats jpeg,png] [--count 4000] [--repeat 3]

Models (`name[:count]`; count defaults to --count):

- `example`: Examples/fashion-mnist-small.cnnz, 86k MACs, on 28x28 gray images;
- `mobilenet`: Benchmarks/make_bench_model.py --size 96, 51.6M MACs, on 96x96 RGB;
- `mobilenet224`: the same network at --size 224, 281M MACs, on 224x224 RGB: an
  image model of a realistic cost (milliseconds per image).

For each model and each --format (jpeg, png: as users keep images; pnm:
uncompressed Netpbm, every seventh ASCII, the older benchmark's files) it
writes the images (Examples/spark/make_images.py; JPEG needs Pillow) and
measures, each --repeat times, in images per second:

- C: Examples/c/classify.c (one session, one thread, cnnz_classify_file per image);
- Python loop: one process, `model.classify(path)` per image (the one-image API);
- Python loop, two processes: the classify loop on half the images each, at the
  same time: what two cores give this moment (the control for the Spark lines);
- Python, the Spark worker's function without Spark: the same files read and
  run through cnnz_spark.classify_batch 256 at a time (the worker's own work:
  `model.predict_encoded` on 256 files' bytes at a time, and the result
  columns; the fastest one-process Python with the public API);
- Spark local[2], the example's job (classify_images.classify: folder in,
  Parquet out), three ways: a folder whose files the Python workers read (the
  example's default on a local master), a folder that Spark's JVM reads
  (binaryFile, as on HDFS or S3), and a Parquet table of the images' bytes.

One Spark session runs every job. Spark jobs are timed after warm-up jobs
(the JVM's start and JIT, the Python workers' start are paid once per session,
not per image: printed separately; Spark ends Python workers idle for a
minute, so each round starts with an untimed job of 200 images). The Spark runs and the one-process runs are
interleaved (each round runs every Spark job, then every one-process mode), so
that load from other processes hits all alike; each line prints every run and
the median. Each line also gives the CPU time per image (user + system, of this
process and everything under it: the JVM, Spark's Python workers, the C
program), which other load changes far less than wall time; for Spark, split
into the JVM and the Python workers. Not run by the tests.
"""
import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Examples" / "spark"))
sys.path.insert(0, str(ROOT / "Benchmarks"))

import cnnz  # noqa: E402
import classify_images  # noqa: E402
import cnnz_spark  # noqa: E402
from spark_cpu_split import descendants, kind, snapshot  # noqa: E402

SHAPES = {"example": "28x28x1", "mobilenet": "96x96x3", "mobilenet224": "224x224x3"}
SPARK_MODES = {"folder, workers read": dict(workers_read=True), "folder, JVM reads": dict(workers_read=False),
               "Parquet of bytes": dict(parquet=True)}


def run(command, **kwargs):
    return subprocess.run(command, check=True, cwd=ROOT, **kwargs)


def build_tools(work: pathlib.Path) -> pathlib.Path:
    """Builds release libcnnz, convert and the C example; returns the C program."""
    run(["swift", "build", "-c", "release", "--product", "cnnz"], stdout=subprocess.DEVNULL)
    run(["swift", "build", "-c", "release", "--product", "convert"], stdout=subprocess.DEVNULL)
    program = work / "classify"
    release = ROOT / ".build" / "release"
    run(["cc", "-O2", "-std=c99", "-Iinclude", "Examples/c/classify.c", f"-L{release}", "-lcnnz",
         f"-Wl,-rpath,{release}", "-o", str(program)])
    return program


def make_model(name: str, work: pathlib.Path) -> pathlib.Path:
    if name == "example":
        return ROOT / "Examples" / "fashion-mnist-small.cnnz"
    size = SHAPES[name].split("x")[0]
    run([sys.executable, "Benchmarks/make_bench_model.py", str(work / f"{name}.json"), "--size", size])
    run([str(ROOT / ".build" / "release" / "convert"), str(work / f"{name}.json"), "-o", str(work / f"{name}.cnnz")],
        stdout=subprocess.DEVNULL)
    return work / f"{name}.cnnz"


CPU_TIMES: dict = {}  # what each timed run also cost: {wall seconds: {kind of process: CPU seconds}}


def cpu_by_kind() -> dict:
    """User + system CPU seconds of this process and everything under it, by kind of process."""
    processes = snapshot()
    totals: dict = {}
    for pid in descendants(processes, os.getpid()):
        name = kind(pid, processes[pid][2])
        totals[name] = totals.get(name, 0.0) + processes[pid][1]
    return totals


def own_cpu() -> dict:
    return {"this process": time.process_time()}


def children_cpu() -> dict:
    usage = os.times()
    return {"child": usage.children_user + usage.children_system}


def timed(action, cpu_clock=cpu_by_kind) -> float:
    """Runs `action`; returns its wall time and keeps its CPU time by `cpu_clock` in CPU_TIMES. The loops
    in this process use own_cpu, so that the idle JVM's background threads are not counted for them."""
    before = cpu_clock()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    after = cpu_clock()
    CPU_TIMES[seconds] = {name: after[name] - before.get(name, 0.0) for name in after}
    return seconds


def python_loop(model_path, files):
    model = cnnz.Model(str(model_path))
    for path in files:
        model.classify(path, top=1)


def python_loop_two_processes(model_path, files) -> float:
    """Runs python_loop on each half of `files` in two processes at once; returns the slower one's time."""
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); import spark_throughput as b; "
            "files = sys.argv[3:]; start, cpu = time.perf_counter(), time.process_time(); "
            "b.python_loop(sys.argv[2], files); print(time.perf_counter() - start, time.process_time() - cpu)")
    halves = [files[0::2], files[1::2]]
    processes = [subprocess.Popen([sys.executable, "-c", code, str(ROOT / "Benchmarks"), str(model_path)] + half,
                                  stdout=subprocess.PIPE, text=True) for half in halves]
    results = [[float(value) for value in process.communicate()[0].split()] for process in processes]
    seconds = max(wall for wall, _ in results)
    CPU_TIMES[seconds] = {"loops": sum(cpu for _, cpu in results)}  # the loops' own, not the interpreters' start
    return seconds


def worker_function(model_path, files, batch=256):
    """The Spark worker's own work on the same files, without Spark: names in, files read, a record batch out."""
    import pyarrow as pa

    model = cnnz.Model(str(model_path))
    model = cnnz.Model(str(model_path), batch_capacity=cnnz_spark.engine_batch(model.input_shape))
    for start in range(0, len(files), batch):
        names = pa.array(files[start:start + batch], pa.string())
        contents, failures = cnnz_spark.read_files(names)
        cnnz_spark.classify_batch(model, names, contents, failures)


def write_parquet(images: pathlib.Path, out: pathlib.Path) -> None:
    """The images as a Parquet table (path, content), as a user with many images would keep them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(images.iterdir())
    table = pa.table({"path": [str(f) for f in files], "content": [f.read_bytes() for f in files]})
    pq.write_table(table, out, row_group_size=1024)


def cpu_per_image(count, seconds, kinds=None) -> float:
    """Median CPU seconds per image of the runs that took `seconds` (of the given kinds of process)."""
    return statistics.median(sum(cpu for name, cpu in CPU_TIMES[s].items() if kinds is None or name in kinds)
                             for s in seconds) / count


def rate(count, seconds):
    return (f"{count / statistics.median(seconds):7.0f} images/s, {cpu_per_image(count, seconds) * 1e3:6.3f} CPU ms "
            f"per image (runs: " + ", ".join(f"{count / s:.0f}" for s in seconds) + ")")


def measure(spark, name, model_path, image_format, count, repeat, program, work):
    """Every mode on `count` images of one model in one format; prints the lines and returns a summary row."""
    images = work / f"{name}-{image_format}"
    run([sys.executable, "Examples/spark/make_images.py", str(images), "--count", str(count),
         "--shape", SHAPES[name], "--format", image_format], stdout=subprocess.DEVNULL)
    files = sorted(str(path) for path in images.iterdir())
    size = sum(os.path.getsize(path) for path in files) / count
    table = work / f"{name}-{image_format}.parquet"
    write_parquet(images, table)
    model_bytes = model_path.read_bytes()
    jobs = 0

    def job(options):
        nonlocal jobs
        jobs += 1
        out = work / f"{name}-{image_format}-{jobs}.parquet"
        source = table if options.get("parquet") else images
        seconds = timed(lambda: classify_images.classify(spark, model_bytes, str(source), str(out), **options))
        rows = spark.read.parquet(str(out)).where("error IS NULL").count()
        if rows != count:
            raise SystemExit(f"the Spark job classified {rows} images, expected {count}")
        shutil.rmtree(out)
        return seconds

    for options in SPARK_MODES.values():  # warm-up: the workers load this model; the JVM compiles this path
        job(options)
    times = {mode: [] for mode in ["C", "loop", "2 processes", "worker"] + list(SPARK_MODES)}
    for round_number in range(repeat):
        # Spark's Python daemon ends workers idle for a minute (the one-process modes can take longer):
        # an untimed small job starts them again, so that no mode pays for it by its place in the round.
        classify_images.classify(spark, model_bytes, str(work / "first"),
                                 str(work / f"{name}-{image_format}-idle-{round_number}.parquet"))
        for mode, options in SPARK_MODES.items():
            times[mode].append(job(options))
        times["loop"].append(timed(lambda: python_loop(model_path, files), own_cpu))
        times["2 processes"].append(python_loop_two_processes(model_path, files))
        times["worker"].append(timed(lambda: worker_function(model_path, files), own_cpu))
        times["C"].append(timed(lambda: run([str(program), str(model_path)] + files, stdout=subprocess.DEVNULL),
                                children_cpu))
    loop = statistics.median(times["loop"])
    print(f"\n{name} model ({SHAPES[name]}), {count} {image_format} images ({size / 1024:.1f} KB each on average), "
          f"load average {os.getloadavg()[0]:.1f} at the end:")
    print(f"  C, one thread (classify_file):          {rate(count, times['C'])}")
    print(f"  Python loop (classify):                 {rate(count, times['loop'])}")
    print(f"  Python loop, 2 processes (control):     {rate(count, times['2 processes'])}")
    print(f"  Python, the worker's function:          {rate(count, times['worker'])}")
    for mode in SPARK_MODES:
        print(f"  Spark local[2], {mode + ':':23}{rate(count, times[mode])}")
    worker_cpu = cpu_per_image(count, times["worker"])
    for mode in SPARK_MODES:
        jvm = cpu_per_image(count, times[mode], {"JVM"})
        python = cpu_per_image(count, times[mode], {"Python workers", "driver (Python)"})
        print(f"    {mode}: {loop / statistics.median(times[mode]):.2f}x the Python loop; CPU per image: JVM "
              f"{jvm * 1e6:.0f} us, Python {python * 1e6:.0f} us (the worker's function alone: {worker_cpu * 1e6:.0f})")
    control = loop / statistics.median(times["2 processes"])
    print(f"  Python loop in 2 processes / Python loop: {control:.2f}x")
    return (name, image_format, count, count / loop, control,
            [loop / statistics.median(times[mode]) for mode in SPARK_MODES])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4000, help="images per model (default 4000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default="mobilenet,mobilenet224:2000",
                        help="name[:count],... of example, mobilenet, mobilenet224")
    parser.add_argument("--formats", default="jpeg,png", help="of jpeg, png, pnm")
    args = parser.parse_args()
    models = [(spec.split(":")[0], int(spec.split(":")[1]) if ":" in spec else args.count)
              for spec in args.models.split(",")]
    for name, _ in models:
        if name not in SHAPES:
            raise SystemExit(f"error: unknown model {name}; choose from {', '.join(SHAPES)}")
    formats = args.formats.split(",")
    if "jpeg" in formats:
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise SystemExit("error: JPEG images need Pillow: .venv-spark/bin/pip install pillow") from None
    started = time.perf_counter()
    load = os.getloadavg()[0]
    work = pathlib.Path(tempfile.mkdtemp())
    summary = []
    try:
        program = build_tools(work)
        start = time.perf_counter()
        spark = classify_images.start_spark("local[2]")
        session = time.perf_counter() - start
        try:
            first_model = make_model(models[0][0], work)
            run([sys.executable, "Examples/spark/make_images.py", str(work / "first"), "--count", "200",
                 "--shape", SHAPES[models[0][0]]], stdout=subprocess.DEVNULL)
            first = timed(lambda: classify_images.classify(spark, first_model.read_bytes(), str(work / "first"),
                                                           str(work / "first.parquet")))
            print(f"Spark local[2]: session start {session:.1f} s; first job (200 images: the Python workers "
                  f"start, the JVM compiles) {first:.1f} s, {sum(CPU_TIMES[first].values()):.1f} s CPU")
            for name, count in models:
                model_path = make_model(name, work)
                for image_format in formats:
                    summary.append(measure(spark, name, model_path, image_format, count, args.repeat, program, work))
        finally:
            spark.stop()
    finally:
        shutil.rmtree(work)
    print(f"\nSummary ({os.cpu_count()} cores, load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at "
          f"the end, {(time.perf_counter() - started) / 60:.1f} minutes): Spark local[2] / the Python loop; "
          f"the bar is 1.6x")
    print(f"  {'model, images':34} {'loop/s':>7} {'control':>8} " + " ".join(f"{mode:>21}" for mode in SPARK_MODES))
    for name, image_format, count, loop_rate, control, ratios in summary:
        print(f"  {f'{name}, {count} {image_format}':34} {loop_rate:7.0f} {control:7.2f}x " +
              " ".join(f"{ratio:20.2f}x" for ratio in ratios))


if __name__ == "__main__":
    main()
