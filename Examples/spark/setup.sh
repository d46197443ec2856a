#!/usr/bin/env bash
# Sets up what the Spark example needs:
#
#   bash Examples/spark/setup.sh [VENV]      # default VENV: .venv-spark in the clone
#
# - Java 17 or later (Spark 4 runs on 17 and 21): installed with apt-get
#   (openjdk-17-jre-headless) when run as root, otherwise the command is printed;
# - a virtual environment with Examples/spark/requirements.txt (PySpark 4,
#   pandas < 3, pyarrow, NumPy) from PyPI, through pip's cache;
# - the self-contained cnnz wheel (bindings/python/build-wheel.sh) installed in it.
# Running it again updates the wheel and skips what is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-$root/.venv-spark}

java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    echo "error: Spark needs Java 17: sudo apt-get install -y openjdk-17-jre-headless" >&2
    exit 1
  fi
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet -r "$root/Examples/spark/requirements.txt"
bash "$root/bindings/python/build-wheel.sh" --out "$venv/wheel"
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$venv"/wheel/cnnz-*.whl
echo "ready: $venv/bin/python Examples/spark/classify_images.py MODEL IMAGES --out OUT.parquet --master 'local[2]'"
