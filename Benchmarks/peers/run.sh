#!/usr/bin/env bash
# cnnz against TensorFlow Lite and ONNX Runtime: builds the four benchmark models with the same
# weights in all three engines, checks their outputs agree, and times them alternating between
# engines; prints the table and writes it to Benchmarks/results/latest.md (--quick:
# .build-peers/quick.md). See Benchmarks/README.md.
#
#   bash Benchmarks/peers/run.sh            # the full run (about 3 minutes, plus the first install)
#   bash Benchmarks/peers/run.sh --quick    # two models, fewer calls: to try it out
#   bash Benchmarks/peers/run.sh --models cifar_vgg mobile_res
#
# The peers are installed from PyPI into a virtual environment (default .build-peers/venv, or
# $CNNZ_BENCH_VENV), with pip's download cache; nothing is installed into the system Python.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/peers
work=.build-peers
venv=${CNNZ_BENCH_VENV:-$work/venv}
out=Benchmarks/results/latest.md
for arg in "$@"; do [ "$arg" = --quick ] && out=$work/quick.md; done  # a try-out is not committed
mkdir -p "$work"

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  echo "== virtual environment $venv (pip install -r $here/requirements.txt)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

echo "== swift build -c release: libcnnz, convert" >&2
swift build -c release --product cnnz >&2
swift build -c release --product convert >&2
bin=$(swift build -c release --show-bin-path)

echo "== cc: the C driver and the peak probe" >&2
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -shared -fPIC -Iinclude -o "$work/libdriver.so" "$here/driver.c" \
  -L"$bin" -lcnnz -Wl,-rpath,"$bin"
cc -O2 -march=native -o "$work/peak" "$here/peak.c"

echo "== measuring (the table follows)" >&2
export CNNZ_LIBRARY="$bin/libcnnz.so" PYTHONPATH="$PWD/bindings/python:$PWD/$here"
export TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0
"$venv/bin/python" "$here/bench.py" --convert "$bin/convert" --driver "$work/libdriver.so" --peak "$work/peak" \
  --out "$out" --command "bash Benchmarks/peers/run.sh${*:+ $*}" "$@"
