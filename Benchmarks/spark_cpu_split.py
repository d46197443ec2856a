"""Where a Spark job's CPU goes: the JVM, the Python workers, the driver; per job and per image.

    bash Examples/spark/setup.sh
    .venv-spark/bin/python Benchmarks/spark_cpu_split.py [--count 4000] [--scale 5] [--master 'local[2]']

Writes --count example images (Examples/spark/make_images.py) as a Parquet
table of bytes, and the same rows --scale times over as a second table, runs
the example's job (classify_images.classify, --parquet) three times on each
after two warm-up jobs in one session, and reads the CPU time (user + system)
of every process under this one from /proc before and after. From the two
sizes it splits each kind of process's CPU into a fixed cost per job and a
cost per image (a straight line through the two points), which says whether
Spark's overhead is per job (planning, scheduling, committing the output,
the JVM's background threads) or per image. Not run by the tests.
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Examples" / "spark"))

import classify_images  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def snapshot():
    """(parent, own user + system seconds, command line) of every process."""
    processes = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        processes[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:13]) / CLOCK_TICKS, command)
    return processes


def descendants(processes, root):
    found, pending = set(), [root]
    while pending:
        pid = pending.pop()
        found.add(pid)
        pending += [child for child, (parent, _, _) in processes.items() if parent == pid]
    return found


def kind(pid, command):
    if pid == os.getpid():
        return "driver (Python)"
    if "java" in command.split("\0")[0]:
        return "JVM"
    if "pyspark" in command:
        return "Python workers"
    return "other"


def cpu_by_kind(spark, model_bytes, table, count, work, tag):
    """CPU seconds per kind of process for three jobs on `table`, and their wall time."""
    before = snapshot()
    start = time.perf_counter()
    for i in range(3):
        classify_images.classify(spark, model_bytes, str(table), str(work / f"{tag}-{i}"), parquet=True)
    wall = time.perf_counter() - start
    after = snapshot()
    totals = {}
    for pid in descendants(after, os.getpid()):
        cpu = after[pid][1] - (before[pid][1] if pid in before else 0.0)
        name = kind(pid, after[pid][2])
        totals[name] = totals.get(name, 0.0) + cpu / 3
    return totals, wall / 3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--scale", type=int, default=5)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    work = pathlib.Path(tempfile.mkdtemp())
    try:
        subprocess.run([sys.executable, str(ROOT / "Examples/spark/make_images.py"), str(work / "images"),
                        "--count", str(args.count)], check=True, stdout=subprocess.DEVNULL)
        files = sorted((work / "images").iterdir())
        contents = [f.read_bytes() for f in files]
        small, large = work / "small.parquet", work / "large.parquet"
        pq.write_table(pa.table({"path": [str(f) for f in files], "content": contents}), small, row_group_size=1024)
        pq.write_table(pa.table({"path": [f"{f}#{i}" for i in range(args.scale) for f in files],
                                 "content": contents * args.scale}), large, row_group_size=1024)
        model_bytes = (ROOT / "Examples" / "fashion-mnist-small.cnnz").read_bytes()
        spark = classify_images.start_spark(args.master)
        try:
            for i in range(2):
                classify_images.classify(spark, model_bytes, str(small), str(work / f"warmup-{i}"), parquet=True)
            measured = {}
            for name, table, count in (("small", small, args.count), ("large", large, args.count * args.scale)):
                measured[name] = (count,) + cpu_by_kind(spark, model_bytes, table, count, work, name)
        finally:
            spark.stop()
        (n1, cpu1, wall1), (n2, cpu2, wall2) = measured["small"], measured["large"]
        print(f"{args.master}, example model, Parquet input, load average {os.getloadavg()[0]:.1f}:")
        for count, _, wall in (measured["small"], measured["large"]):
            print(f"  {count} images a job: {wall:.2f} s a job, {count / wall:.0f} images/s")
        for name in sorted(set(cpu1) | set(cpu2)):
            a, b = cpu1.get(name, 0.0), cpu2.get(name, 0.0)
            per_image = (b - a) / (n2 - n1)
            print(f"  {name:16} {a:6.2f} s CPU a job of {n1}, {b:6.2f} s of {n2}: "
                  f"{(a - per_image * n1):5.2f} s fixed per job + {per_image * 1e6:5.1f} us per image")
        per_image_wall = (wall2 - wall1) / (n2 - n1)
        print(f"  wall: {wall1 - per_image_wall * n1:.2f} s fixed per job + {per_image_wall * 1e6:.1f} us per image")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
