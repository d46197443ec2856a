"""Classifies a folder of images, or a Parquet table of image bytes, with cnnz on Apache Spark.

    bash Examples/spark/setup.sh     # Java 17, .venv-spark with PySpark and the cnnz wheel
    .venv-spark/bin/python Examples/spark/classify_images.py Examples/fashion-mnist-small.cnnz \\
        Examples/images --out labels.parquet --master 'local[2]'

Writes a Parquet table with one row per image: `file`, `label` (the top
class), `probability`, `scores` (every output of the model) and `error`
(null, or why the image could not be run; such rows have no scores). The
model's bytes are broadcast to the executors and loaded once per Python worker;
`mapInArrow` hands each worker batches of image bytes, which the engine decodes
and runs through the worker's one session in one call per batch (see
cnnz_spark.py, which the job ships to the workers).

Images are PNG, JPEG or Netpbm, as `infer` reads them. Input: a folder (read
recursively; files matching --glob; on a local master the Python workers read
the files and the JVM only lists them, see --read) or, with --parquet,
a Parquet table with a string column of names and a binary column of image
bytes (--path-column, --content-column; the defaults are the columns of
Spark's `binaryFile` source, `path` and `content`).
"""
import argparse
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Optional

import cnnz
import cnnz_spark

#: Images per Arrow batch and engine call: large enough that the worker's per-call Python is
#: negligible, small enough that a batch of large images stays a few tens of MB.
DEFAULT_BATCH = 256
#: The files read from a folder: the formats the engine decodes.
DEFAULT_GLOB = "*.{png,jpg,jpeg,pgm,ppm,pnm}"


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the .cnnz model")
    parser.add_argument("input", help="a folder of images, or with --parquet a Parquet table of image bytes")
    parser.add_argument("--out", required=True, help="the Parquet table to write (must not exist)")
    parser.add_argument("--master", help="Spark master, e.g. local[2] (default: spark-submit's, else local[*])")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                        help=f"images per Arrow batch and engine call (default {DEFAULT_BATCH})")
    parser.add_argument("--glob", default=DEFAULT_GLOB, help=f"file names to read in a folder ({DEFAULT_GLOB})")
    parser.add_argument("--parquet", action="store_true", help="the input is a Parquet table of image bytes")
    parser.add_argument("--path-column", default="path", help="with --parquet: the column of file names")
    parser.add_argument("--content-column", default="content", help="with --parquet: the column of bytes")
    parser.add_argument("--partitions", type=int, help="repartition the input into this many parts first")
    parser.add_argument("--read", choices=("auto", "workers", "spark"), default="auto",
                        help="who reads a folder's files: Spark's JVM (binaryFile, any file system Spark reads), "
                             "or the Python workers (the JVM only lists them; the folder must be at the same "
                             "path on every executor: local, NFS, a mounted share). auto (the default): the "
                             "workers on a local master with a local folder, else Spark")
    return parser.parse_args(argv)


def classify(spark, model_bytes: bytes, source: str, out: str, batch: int = DEFAULT_BATCH, parquet: bool = False,
             glob: str = DEFAULT_GLOB, path_column: str = "path", content_column: str = "content",
             partitions: Optional[int] = None, workers_read: Optional[bool] = None) -> None:
    """Reads the images at `source`, classifies them on the executors and writes the table `out`.

    With `workers_read` (a folder only), the JVM only lists the files and the Python workers read
    them: Spark then moves names, not images, from the JVM to Python. None (the default) chooses
    it for a local master and a folder on the local file system."""
    if workers_read is None:
        workers_read = spark.sparkContext.master.startswith("local") and is_local_path(source)
    workers_read = workers_read and not parquet
    if parquet:
        images = spark.read.parquet(source).selectExpr(f"`{path_column}` AS file", f"`{content_column}` AS content")
    else:
        # binaryFile opens a file only when its content column is selected: with workers_read it lists.
        images = (spark.read.format("binaryFile").option("pathGlobFilter", glob)
                  .option("recursiveFileLookup", "true").load(source)
                  .selectExpr(*(["path AS file"] if workers_read else ["path AS file", "content"])))
    if partitions:
        images = images.repartition(partitions)
    broadcast = spark.sparkContext.broadcast(model_bytes)
    key = hashlib.sha256(model_bytes).hexdigest()

    def run(frames):
        return cnnz_spark.classify_partition(broadcast, key, batch, frames, read=workers_read)

    images.mapInArrow(run, cnnz_spark.RESULT_SCHEMA).write.parquet(out)


def is_local_path(source: str) -> bool:
    """Whether Spark reads `source` from the local file system (a plain path, or a file: URI).

    (A plain path could name another default file system set in Hadoop's configuration; a local
    master with such a configuration should pass --read spark.)"""
    return source.startswith("file:") or "://" not in source


def start_spark(master: Optional[str] = None, batch: int = DEFAULT_BATCH):
    """A SparkSession set up for this job (quiet, workers on this interpreter, cnnz_spark shipped)."""
    # Local workers must run this interpreter, which has cnnz, NumPy, pandas and pyarrow. (On a
    # cluster the executors' Python is set at submission: this path may not exist there.)
    if master and master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("cnnz-classify-images").config("spark.ui.showConsoleProgress", "false")
    if master:
        builder = builder.master(master)
    # The rows per Arrow batch handed to a worker: one engine call each (image bytes can be large).
    builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch))
    # Spark counts each file as at least 4 MB when it splits a folder into tasks, so small image
    # files would make a task per 32 images, each with its own scheduling and Arrow round trip.
    builder = builder.config("spark.sql.files.openCostInBytes", str(64 * 1024))
    if master and master.startswith("local"):
        # The JVM that this script starts only moves bytes between files, Arrow and Parquet: its
        # C2 JIT compiles for seconds of CPU in a job's first minutes (on the cores the workers
        # need) and gains little here, so the quick C1 compiler alone compiles it.
        builder = builder.config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    # At least one task per core for a folder or table (Spark splits by bytes, so images of one kind make
    # tasks of equal work): every task pays for its scheduling, its Hadoop configuration, its Python
    # round trip and its output file, and more tasks than cores only add these costs.
    spark.conf.set("spark.sql.files.minPartitionNum", str(spark.sparkContext.defaultParallelism))
    spark.sparkContext.addPyFile(cnnz_spark.__file__)
    return spark


def main(argv) -> int:
    args = parse_arguments(argv)
    try:
        if args.batch < 1:
            raise ValueError(f"--batch must be at least 1, got {args.batch}")
        model_bytes = Path(args.model).read_bytes()
        try:
            cnnz.Model(model_bytes).close()  # a bad model fails here, in one line, before Spark starts
        except cnnz.Error as error:
            raise ValueError(f"{args.model}: {error}") from None
        if os.path.exists(args.out):
            raise ValueError(f"{args.out} exists; choose another --out or remove it")
        if not os.path.exists(args.input):
            raise ValueError(f"{args.input}: no such file or folder")
    except OSError as error:
        print(f"error: {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    spark = start_spark(args.master, args.batch)
    try:
        start = time.perf_counter()
        classify(spark, model_bytes, args.input, args.out, args.batch, args.parquet, args.glob, args.path_column,
                 args.content_column, args.partitions, {"auto": None, "workers": True, "spark": False}[args.read])
        seconds = time.perf_counter() - start
        result = spark.read.parquet(args.out)
        total = result.count()
        failed = result.where("error IS NOT NULL").count()
        print(f"{args.out}: {total} images ({failed} with errors) in {seconds:.2f} s, "
              f"{total / seconds:.1f} images/s on {spark.sparkContext.master}")
        for row in result.where("error IS NOT NULL").select("error").limit(5).collect():
            print(f"  {row.error}", file=sys.stderr)
    except Exception as error:  # Spark's errors carry a Java stack trace: its first line is the message
        print(f"error: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
