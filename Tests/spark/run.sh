#!/usr/bin/env bash
# The Spark example (Examples/spark): classifies a few hundred generated images
# (and PNG, JPEG, RGB, 16-bit and resized ones, and bad files) in local[2], from
# a folder and from a Parquet table of image bytes, and checks every row against
# `infer --json` run on the same files in one process: the same scores bit for
# bit, the same top label, and an error row for each bad file. Skipped, with a message, when Java is missing.
#   bash Tests/spark/run.sh   (sets up .venv-spark with Examples/spark/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v java >/dev/null; then
  echo "SKIPPED: the Spark test needs Java 17 (apt-get install openjdk-17-jre-headless; .ci/run installs it)"
  exit 0
fi
bash Examples/spark/setup.sh >/dev/null
python=$PWD/.venv-spark/bin/python
swift build --product infer >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=Examples/fashion-mnist-small.cnnz

"$python" Examples/spark/make_images.py "$work/images" --count 300
# Every format the engine reads, and images it converts: RGB, 16-bit, another size (resized, as infer does).
fixtures=Tests/CnnzTests/Fixtures/images
cp "$fixtures/examples/bag.png" "$fixtures/examples/coat.jpg" "$fixtures/jpeg-rgb-420.jpg" "$fixtures/gray16.png" \
  "$work/images/"
"$python" Examples/spark/make_images.py "$work/other" --count 1 --shape 32x32x1 >/dev/null
mv "$work/other/00000-ankle-boot.pgm" "$work/images/32x32.pgm"
printf 'P5\n28 28\n65535\n' > "$work/images/16bit.pgm"
head -c 1568 /dev/urandom >> "$work/images/16bit.pgm"
# A name that a URI would escape: the workers must open the file Spark lists, not a decoded or escaped name.
cp "$fixtures/examples/bag.png" "$work/images/a b%20c #1.png"
good=("$work"/images/*)
# Bad files: each gets an error row, and the job goes on.
head -c 400 "$work/images/00001-bag.pgm" > "$work/images/truncated.pgm"
echo "not an image" > "$work/images/notes.pgm"
: > "$work/images/empty.png"
cp "$fixtures/jpeg-cmyk.jpg" "$work/images/cmyk.jpg"
bad=("$work/images/truncated.pgm" "$work/images/notes.pgm" "$work/images/cmyk.jpg")
.build/debug/infer "$model" "${good[@]}" --json > "$work/reference.jsonl" 2>/dev/null

# A folder two ways: the Python workers read the files (the default on a local master: the JVM only
# lists them), and Spark's JVM reads them (binaryFile, as on HDFS or S3).
echo "folder of images, local[2], the workers read the files:"
"$python" Examples/spark/classify_images.py "$model" "$work/images" --out "$work/labels.parquet" \
  --master 'local[2]' --partitions 4
"$python" Tests/spark/compare.py "$work/labels.parquet" "$work/reference.jsonl" "${bad[@]}"
echo "folder of images, local[2], Spark reads the files:"
"$python" Examples/spark/classify_images.py "$model" "$work/images" --out "$work/labels-jvm.parquet" \
  --master 'local[2]' --read spark --batch 64
"$python" Tests/spark/compare.py "$work/labels-jvm.parquet" "$work/reference.jsonl" "${bad[@]}"

echo "Parquet table of image bytes (path, content), local[2]:"
"$python" - "$work/images" "$work/images.parquet" <<'PY'
import pathlib, sys
import pyarrow as pa, pyarrow.parquet as pq
files = sorted(pathlib.Path(sys.argv[1]).iterdir())
# A row without bytes (a null), as a table may have.
pq.write_table(pa.table({"path": [str(f) for f in files] + [sys.argv[1] + "/null.pgm"],
                         "content": [f.read_bytes() for f in files] + [None]}), sys.argv[2], row_group_size=64)
PY
"$python" Examples/spark/classify_images.py "$model" "$work/images.parquet" --parquet --out "$work/labels2.parquet" \
  --master 'local[2]' --batch 50
# The table holds the empty file too (Spark's folder reader skips empty files), and a null.
"$python" Tests/spark/compare.py "$work/labels2.parquet" "$work/reference.jsonl" "${bad[@]}" "$work/images/empty.png" \
  "$work/images/null.pgm"
echo "Spark tests passed"
