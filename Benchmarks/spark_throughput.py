"""Throughput of the Spark example against one process, from Python and from C, on the same images.

    bash Examples/spark/setup.sh
    .venv-spark/bin/python Benchmarks/spark_throughput.py [--count 4000] [--repeat 3] [--models example,mobilenet]

For each model (`example`: Examples/fashion-mnist-small.cnnz, 86k MACs, on
28x28 gray images; `mobilenet`: Benchmarks/make_bench_model.py, 51.6M MACs, on
96x96 RGB images) it writes --count images (Examples/spark/make_images.py) and
measures, each --repeat times, in images per second:

- C: Examples/c/classify.c (one session, one thread, cnnz_classify_file per image);
- Python loop: one process, `model.classify(path)` per image (the one-image API);
- Python loop, batch API: one process reading the files and running them with
  `model.predict_encoded` 256 at a time (the fastest one-process Python with
  the public API);
- Python, the Spark worker's function without Spark: the same files as Arrow
  arrays through cnnz_spark.classify_batch, 256 at a time (the worker's own
  work, for Spark's overhead below);
- Python loop, two processes: the classify loop on half the images each, at the
  same time: what two cores give this moment (the control for the Spark lines);
- Spark local[2] and local[1]: the example's job (classify_images.classify),
  folder in, Parquet out; and local[2] with a Parquet table of the same
  images' bytes in (--parquet). Timed after warm-up jobs on the same images in
  the same session (two in the first session, which warms the JVM's JIT), so
  that the JVM's start, its JIT and the Python workers' start are not counted
  (they are printed separately: they are paid once per job, not per image).

Spark's overhead per image is (local[1] time - worker function time) / count:
what Spark adds to the same work on one core. Each line also gives the CPU
time per image (user + system, of this process and everything under it: the
JVM, Spark's Python workers, the C program), which other load on the machine
changes far less than wall time. The Spark runs and the one-process runs are
interleaved (each Spark run is followed by one run of every one-process mode),
so that load from other processes hits all alike; each line prints every run
and the median. Not run by the tests.
"""
import argparse
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Examples" / "spark"))

import cnnz  # noqa: E402
import classify_images  # noqa: E402
import cnnz_spark  # noqa: E402


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


def make_model(name: str, work: pathlib.Path):
    """The model's path and its images' shape."""
    if name == "example":
        return ROOT / "Examples" / "fashion-mnist-small.cnnz", "28x28x1"
    run([sys.executable, "Benchmarks/make_bench_model.py", str(work / "bench.json"), "--size", "96"])
    run([str(ROOT / ".build" / "release" / "convert"), str(work / "bench.json"), "-o", str(work / "bench.cnnz")],
        stdout=subprocess.DEVNULL)
    return work / "bench.cnnz", "96x96x3"


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_TIMES: dict = {}  # what each timed() call also cost in CPU seconds, by its wall time


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of `root` and every process under it (the JVM, Spark's Python
    workers), with their reaped children, from /proc."""
    parents, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        total += cpu.get(pid, 0.0)
        pending += [child for child, parent in parents.items() if parent == pid]
    return total


def tree_cpu() -> float:
    return tree_cpu_seconds(os.getpid())


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(action, cpu_clock=tree_cpu) -> float:
    """Runs `action`; returns its wall time and keeps its CPU time by `cpu_clock` in CPU_TIMES (by
    default this process's tree; the loops in this process use time.process_time, so that the idle
    JVM's background threads are not counted for them)."""
    cpu = cpu_clock()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    CPU_TIMES[seconds] = cpu_clock() - cpu
    return seconds


def python_loop(model_path, files):
    model = cnnz.Model(str(model_path))
    for path in files:
        model.classify(path, top=1)


def python_loop_batch_api(model_path, files, batch=256):
    model = cnnz.Model(str(model_path), batch_capacity=cnnz_spark.ENGINE_BATCH)
    for start in range(0, len(files), batch):
        images = []
        for path in files[start:start + batch]:
            with open(path, "rb") as file:
                images.append(file.read())
        model.predict_encoded(images)


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
    CPU_TIMES[seconds] = sum(cpu for _, cpu in results)  # the loops' own, not the interpreters' start
    return seconds


def worker_function(model_path, files, batch=256):
    """The Spark worker's own work on the same files, without Spark: Arrow arrays in, a record batch out."""
    import pyarrow as pa

    model = cnnz.Model(str(model_path), batch_capacity=cnnz_spark.ENGINE_BATCH)
    for start in range(0, len(files), batch):
        names = files[start:start + batch]
        contents = []
        for path in names:
            with open(path, "rb") as file:
                contents.append(file.read())
        cnnz_spark.classify_batch(model, pa.array(names, pa.string()), pa.array(contents, pa.binary()))


def write_parquet(images: pathlib.Path, out: pathlib.Path) -> None:
    """The images as a Parquet table (path, content), as a user with many images would keep them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(images.iterdir())
    table = pa.table({"path": [str(f) for f in files], "content": [f.read_bytes() for f in files]})
    pq.write_table(table, out, row_group_size=1024)


def spark_runs(master, model_path, images, work, repeat, count, interleaved, parquet=None):
    """Times the job `repeat` times in one session after a warm-up, alternating with `interleaved`;
    returns (start seconds, first job seconds, folder times, Parquet times)."""
    model_bytes = model_path.read_bytes()
    started = time.perf_counter()
    spark = classify_images.start_spark(master)
    start_seconds = time.perf_counter() - started
    tag = f"{images.name}-{master.strip(']').replace('[', '-')}"  # no brackets: Spark reads paths as globs

    def job(out, from_parquet=False):
        return timed(lambda: classify_images.classify(spark, model_bytes, str(parquet if from_parquet else images),
                                                      str(out), parquet=from_parquet))

    try:
        # The first session in this process also starts and warms the JVM: give it a second warm-up job.
        for warmup in range(1 if spark_runs.warm else 2):
            first = job(work / f"{tag}-warmup{warmup}.parquet")
            if parquet:
                job(work / f"{tag}-warmup{warmup}-pq.parquet", True)
        spark_runs.warm = True
        times, parquet_times = [], []
        for i in range(repeat):
            outs = [(work / f"{tag}-{i}.parquet", False)] + ([(work / f"{tag}-{i}-pq.parquet", True)] if parquet else [])
            for out, from_parquet in outs:
                (parquet_times if from_parquet else times).append(job(out, from_parquet))
                rows = spark.read.parquet(str(out)).where("error IS NULL").count()
                if rows != count:
                    raise SystemExit(f"the Spark job classified {rows} images, expected {count}")
            interleaved()
    finally:
        spark.stop()
    return start_seconds, first, times, parquet_times


spark_runs.warm = False


def cpu_per_image(count, seconds) -> float:
    """Median CPU seconds per image of the runs that took `seconds`."""
    return statistics.median(CPU_TIMES[s] for s in seconds) / count


def rate(count, seconds):
    return (f"{count / statistics.median(seconds):8.0f} images/s, {cpu_per_image(count, seconds) * 1e3:6.3f} CPU ms "
            f"per image (runs: " + ", ".join(f"{count / s:.0f}" for s in seconds) + ")")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default="example,mobilenet")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp())
    try:
        program = build_tools(work)
        for name in args.models.split(","):
            model_path, shape = make_model(name, work)
            images = work / f"{name}-images"
            run([sys.executable, "Examples/spark/make_images.py", str(images), "--count", str(args.count),
                 "--shape", shape], stdout=subprocess.DEVNULL)
            files = sorted(str(path) for path in images.iterdir())
            table = work / f"{name}-images.parquet"
            write_parquet(images, table)
            loop_times, batch_api_times, two_process_times, worker_times, c_times = [], [], [], [], []

            def one_process():
                loop_times.append(timed(lambda: python_loop(model_path, files), time.process_time))
                batch_api_times.append(timed(lambda: python_loop_batch_api(model_path, files), time.process_time))
                two_process_times.append(python_loop_two_processes(model_path, files))
                worker_times.append(timed(lambda: worker_function(model_path, files), time.process_time))
                c_times.append(timed(lambda: run([str(program), str(model_path)] + files, stdout=subprocess.DEVNULL),
                                     children_cpu))

            results = {"local[2]": spark_runs("local[2]", model_path, images, work, args.repeat, args.count,
                                              one_process, table),
                       "local[1]": spark_runs("local[1]", model_path, images, work, args.repeat, args.count,
                                              one_process)}
            count = args.count
            spark2, spark2_parquet, spark1 = results["local[2]"][2], results["local[2]"][3], results["local[1]"][2]
            loop, batch_api = statistics.median(loop_times), statistics.median(batch_api_times)
            print(f"\n{name} model ({model_path.name}, {shape} images, {count} of them), {os.cpu_count()} cores, "
                  f"load average {os.getloadavg()[0]:.1f} at the end:")
            print(f"  C, one thread (classify_file):    {rate(count, c_times)}")
            print(f"  Python loop (classify):           {rate(count, loop_times)}")
            print(f"  Python loop, batch API:           {rate(count, batch_api_times)}")
            print(f"  Python loop, 2 processes:         {rate(count, two_process_times)}")
            print(f"  Python, the worker's function:    {rate(count, worker_times)}")
            print(f"  Spark local[2], folder:           {rate(count, spark2)}")
            print(f"  Spark local[2], Parquet of bytes: {rate(count, spark2_parquet)}")
            print(f"  Spark local[1], folder:           {rate(count, spark1)}")
            for label, times in (("folder", spark2), ("Parquet", spark2_parquet)):
                spark = statistics.median(times)
                print(f"  Spark local[2] ({label}) / Python loop: {loop / spark:.2f}x (classify), "
                      f"{batch_api / spark:.2f}x (batch API)")
            print(f"  Python loop in 2 processes / Python loop: {loop / statistics.median(two_process_times):.2f}x")
            overhead = (statistics.median(spark1) - statistics.median(worker_times)) / count
            print(f"  Spark's overhead per image (local[1] - worker function): {overhead * 1e6:.0f} us wall, "
                  f"{(cpu_per_image(count, spark1) - cpu_per_image(count, worker_times)) * 1e6:.0f} us CPU")
            for master, (start, first, _, _) in results.items():
                print(f"  {master}: session start {start:.1f} s, first job (workers start, JIT) {first:.1f} s")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
