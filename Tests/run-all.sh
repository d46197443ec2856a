#!/usr/bin/env bash
# Runs every test of cnnz: format lint, a warnings-as-errors build, the Swift
# test suites (engine, converter, CLIs as processes), the C API tests and the
# C example, the Python binding's tests, example and wheel, the Spark example
# (skipped without Java), and the shipped example models (self-tests; their
# test-set accuracy when dataset-fashion-mnist is installed).
# Usage: bash Tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Declares the test-only malloc counter in Package.swift, so that the allocation test runs.
export CNNZ_TEST_ALLOCATIONS=1

step() { printf '\n== %s\n' "$*"; }

step "swift format lint"
swift format lint --strict -r Sources Tests Package.swift

step "swift build (warnings are errors)"
swift build --build-tests -Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error

step "swift test"
swift test --skip-build

step "C: libcnnz, the C API tests, the thread test, the C example"
bash Tests/c/run.sh

step "Python: the ctypes binding, its example, pip install"
bash Tests/python/run.sh

step "Python: the self-contained wheel (bindings/python/build-wheel.sh)"
bash Tests/python/wheel.sh

step "Spark: the example in local[2], every row against infer --json"
bash Tests/spark/run.sh

step "the README's first command"
swift run infer Examples/fashion-mnist-small.cnnz Examples/images/ankle-boot.pgm | tee /tmp/cnnz-readme.$$
grep -q "Ankle boot" /tmp/cnnz-readme.$$ && rm -f /tmp/cnnz-readme.$$

step "the example model is up to date with its model.json"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swift run convert Examples/fashion-mnist-small.json -o "$work/example.cnnz" >/dev/null
cmp "$work/example.cnnz" Examples/fashion-mnist-small.cnnz

step "the shipped models: self-tests, and test-set accuracy through Python (issue 16's bars)"
for model in Examples/fashion-mnist-small.cnnz Examples/fashion-mnist-vgg.cnnz Examples/fashion-mnist-vgg-int8.cnnz; do
  swift run infer "$model" --selftest
done
if [ -d /usr/share/datasets/fashion-mnist ]; then
  for check in fashion-mnist-small:92 fashion-mnist-vgg:93 fashion-mnist-vgg-int8:93; do
    PYTHONPATH=bindings/python python3 Examples/python/test_accuracy.py "Examples/${check%:*}.cnnz" \
      --min-accuracy "${check#*:}"
  done
else
  echo "skipped the accuracy check: no /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)"
fi

printf '\nall tests passed\n'
