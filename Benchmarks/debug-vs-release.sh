#!/usr/bin/env bash
# Measures what `swift run infer` (a debug build) costs against a release build,
# on a MobileNet-style model (Benchmarks/make_bench_model.py) and on the example
# model, one thread each; then the release build on two threads. Prints each
# median and the debug/release ratio (the project asks for <= 1.5).
#
#   bash Benchmarks/debug-vs-release.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swift build --product infer >/dev/null
swift build --product convert >/dev/null
swift build -c release --product infer >/dev/null
python3 Benchmarks/make_bench_model.py "$work/bench.json"
.build/debug/convert "$work/bench.json" -o "$work/bench.cnnz" >/dev/null
python3 - "$work/bench.ppm" <<'PY'
import sys
w = h = 96
open(sys.argv[1], "wb").write(b"P6\n%d %d\n255\n" % (w, h) + bytes((i * 7) % 256 for i in range(w * h * 3)))
PY
median() { "$1" "$2" "$3" --bench "$runs" --threads "${4:-1}" | sed -E 's/.*median ([0-9.]+) ms.*/\1/'; }
for case in "$work/bench.cnnz $work/bench.ppm" "Examples/fashion-mnist-small.cnnz Examples/images/bag.pgm"; do
  set -- $case
  release=$(median .build/release/infer "$1" "$2")
  debug=$(median .build/debug/infer "$1" "$2")
  ratio=$(python3 -c "print(f'{$debug / $release:.2f}')")
  threaded=$(median .build/release/infer "$1" "$2" 2)
  echo "$(basename "$1"): one thread: release median $release ms, debug median $debug ms, debug/release $ratio;" \
    "two threads: release median $threaded ms"
done
