#!/usr/bin/env bash
# Builds a self-contained wheel of the Python binding:
#
#   bash bindings/python/build-wheel.sh [--out DIR]     # default DIR: bindings/python/dist
#
# libcnnz.so is built in release with the Swift standard library linked
# statically (its own scratch folder, .build-wheel, so it does not disturb the
# debug build), stripped, and put in the package. Every library it needs
# outside the set every Linux has (the C library, libm, zlib, the C++ runtime,
# the dynamic loader) is copied into the wheel under a name of its own, as
# `auditwheel repair` does, and found through the RUNPATH $ORIGIN; that needs
# patchelf (Debian: `apt-get install patchelf`). The wheel is tagged
# py3-none-linux_x86_64: it works with any Python 3, on this CPU architecture.
# Needs: the Swift toolchain, readelf and strip (binutils), pip (it builds the
# wheel with setuptools from PyPI, as `pip install ./bindings/python` does).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/bindings/python/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    *) echo "usage: bash bindings/python/build-wheel.sh [--out DIR]" >&2; exit 2 ;;
  esac
done
cd "$root"
python=${PYTHON:-python3}

scratch=.build-wheel
swift build -c release --product cnnz -Xswiftc -static-stdlib --scratch-path "$scratch"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/cnnz"
cp bindings/python/pyproject.toml bindings/python/setup.py "$stage/"
cp bindings/python/cnnz/*.py "$stage/cnnz/"
lib="$stage/cnnz/libcnnz.so"
cp "$scratch/release/libcnnz.so" "$lib"
strip --strip-unneeded "$lib"

# Libraries every Linux distribution has, which a wheel may need without carrying.
allowed='^(libc\.so\.6|libm\.so\.6|libz\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|ld-linux-x86-64\.so\.2|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1)$'
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
# awk reads all of ldconfig's output (no early exit): under pipefail, an awk that left early
# could kill ldconfig with SIGPIPE and fail the build at random.
located() { ldconfig -p | awk -v name="$1" '$1 == name && /x86-64/ && !found { print $NF; found = 1 }'; }

# Bundle what is outside that set, and what the bundled libraries need in turn.
pending=("$lib")
while [ ${#pending[@]} -gt 0 ]; do
  object=${pending[0]}
  pending=("${pending[@]:1}")
  for name in $(needed "$object"); do
    [[ $name =~ $allowed ]] && continue
    if [ -e "$stage/cnnz/$name" ]; then continue; fi
    if ! command -v patchelf >/dev/null; then
      echo "error: libcnnz.so needs $name, which a wheel must carry; install patchelf to bundle it" >&2
      exit 1
    fi
    source=$(located "$name")
    if [ -z "$source" ]; then
      echo "error: libcnnz.so needs $name, which ldconfig cannot find on this machine" >&2
      exit 1
    fi
    # A name of its own (hash of the contents) so that another copy of the same
    # library already loaded in the process (by Pillow, say) is not used instead.
    hash=$(sha256sum "$source" | cut -c1-8)
    unique="${name%%.so*}-$hash.so${name#*.so}"
    cp "$source" "$stage/cnnz/$unique"
    chmod u+w "$stage/cnnz/$unique"
    patchelf --set-soname "$unique" "$stage/cnnz/$unique"
    patchelf --set-rpath '$ORIGIN' "$stage/cnnz/$unique"
    for user in "$stage"/cnnz/*.so*; do
      if needed "$user" | grep -qx "$name"; then patchelf --replace-needed "$name" "$unique" "$user"; fi
    done
    echo "bundled $source as cnnz/$unique"
    pending+=("$stage/cnnz/$unique")
  done
done
if ! readelf -d "$lib" | grep -q 'R\(UN\)\?PATH.*\[\$ORIGIN\]'; then
  if command -v patchelf >/dev/null; then
    patchelf --set-rpath '$ORIGIN' "$lib"
  elif ls "$stage"/cnnz/ | grep -qv '^libcnnz.so$\|\.py$'; then
    echo "error: libcnnz.so has no RUNPATH \$ORIGIN; install patchelf" >&2
    exit 1
  fi
fi

rm -f "$out"/cnnz-*.whl
env -u CNNZ_LIBRARY "$python" -m pip wheel --quiet --no-deps --wheel-dir "$out" "$stage"
wheel=$(ls "$out"/cnnz-*.whl)
size=$(stat -c %s "$wheel")
if [ "$size" -gt $((10 * 1024 * 1024)) ]; then
  echo "error: $wheel is $size bytes, over the 10 MB budget" >&2
  exit 1
fi
if command -v auditwheel >/dev/null; then auditwheel show "$wheel" || true; fi
echo "$wheel ($((size / 1024)) KB)"
