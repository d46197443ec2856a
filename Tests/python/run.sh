#!/usr/bin/env bash
# The Python binding: pytest on the source tree, the Python example, and a
# `pip install ./bindings/python` into a fresh virtual environment. The Keras
# exporter's tests (test_keras_export.py) need Keras 3 and a backend and are
# skipped without them, unless CNNZ_REQUIRE_KERAS=1.
#   bash Tests/python/run.sh   (needs numpy and pytest, and keras and jax; .ci/run installs them)
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product cnnz
swift build --product convert
python3 -m pytest -q bindings/python/tests

out=$(PYTHONPATH=bindings/python python3 Examples/python/classify.py Examples/fashion-mnist-small.cnnz \
  Examples/images/trouser.pgm Examples/images/sneaker.pgm)
echo "$out"
echo "$out" | grep -qx 'Examples/images/trouser.pgm: Trouser ([01]\.[0-9]*)'
echo "$out" | grep -qx 'Examples/images/sneaker.pgm: Sneaker ([01]\.[0-9]*)'

work=$(mktemp -d)
trap 'rm -rf "$work"; rm -rf bindings/python/build bindings/python/*.egg-info' EXIT
python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install -q ./bindings/python
root=$PWD
(cd "$work" && env -u CNNZ_LIBRARY "$work/venv/bin/python" -c "
import cnnz
model = cnnz.Model('$root/Examples/fashion-mnist-small.cnnz')
assert model.classify('$root/Examples/images/bag.pgm', top=1)[0][0] == 'Bag'
print('pip install ./bindings/python: works, libcnnz bundled')
")
(cd "$work" && "$work/venv/bin/python" -m cnnz.export --help | grep -q "^usage: python -m cnnz.export")
echo "Python tests passed"
