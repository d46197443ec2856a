#!/usr/bin/env bash
# Training speed: the same CNN with the same settings trained by Keras (tensorflow-cpu) and by
# cnnz's `train` on the same machine, alternating epoch by epoch; prints seconds per epoch for
# each and their ratio. A benchmark, not a test. See Benchmarks/README.md.
#
#   bash Benchmarks/train/run.sh                      # 3 rounds of one epoch each, full Fashion-MNIST
#   bash Benchmarks/train/run.sh --rounds 5 --arch Examples/fashion-cnn.arch.json --batch 64
#
# Needs the Fashion-MNIST IDX files (Debian: apt-get install dataset-fashion-mnist, or --data DIR),
# Python 3.10+ with venv, and PyPI the first time: tensorflow-cpu goes into a virtual environment
# (.build-train-bench/venv, or $CNNZ_BENCH_VENV) through pip's download cache, never into the product.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=.build-train-bench
venv=${CNNZ_BENCH_VENV:-$work/venv}
requirements=Benchmarks/train/requirements.txt
mkdir -p "$work"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "== virtual environment $venv (pip install -r $requirements)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi
echo "== swift build -c release --product train" >&2
swift build -c release --product train >&2
bin=$(swift build -c release --show-bin-path)
export TF_CPP_MIN_LOG_LEVEL=3 KERAS_BACKEND=tensorflow
"$venv/bin/python" Benchmarks/train/train_vs_keras.py --train "$bin/train" --work "$work" "$@"
