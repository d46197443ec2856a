#!/bin/bash
# A process's first loads of a model, SAMPLES fresh processes, alternating two builds of
# libcnnz (e.g. main's and a branch's release .build/release directories):
#   bash Benchmarks/load/first_loads.sh MODEL.cnnz LIBDIR_A [LIBDIR_B] [SAMPLES] [LOADS]
# Each line: the build, then wall ms / CPU ms / page faults of loads 1..LOADS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model=$1; a=$2; b=${3:-}; samples=${4:-6}; loads=${5:-3}
exe=$(mktemp -d)/first_loads
cc -O2 -I"$here/../../include" -o "$exe" "$here/first_loads.c" -L"$a" -lcnnz
for _ in $(seq "$samples"); do
  for lib in $a $b; do
    echo "$lib $(LD_LIBRARY_PATH=$lib OPENBLAS_NUM_THREADS=1 "$exe" "$model" "$loads")"
  done
done
