#!/usr/bin/env bash
# The self-contained wheel: builds it with bindings/python/build-wheel.sh, checks
# its size (<= 10 MB) and that every shared library in it needs only the
# libraries every Linux has or libraries inside the wheel (readelf -d), then
# installs it into a fresh virtual environment and classifies an image with no
# Swift toolchain on the path, no CNNZ_LIBRARY and no LD_LIBRARY_PATH.
#   bash Tests/python/wheel.sh   (needs readelf, unzip-free: Python reads the wheel)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bash bindings/python/build-wheel.sh --out "$work/dist"
wheel=$(ls "$work"/dist/cnnz-*-py3-none-linux_x86_64.whl)
size=$(stat -c %s "$wheel")
echo "wheel: $(basename "$wheel"), $size bytes"
[ "$size" -le $((10 * 1024 * 1024)) ] || { echo "FAIL: the wheel is over 10 MB" >&2; exit 1; }

python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$wheel" "$work/unpacked"
allowed='^(libc\.so\.6|libm\.so\.6|libz\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|ld-linux-x86-64\.so\.2|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1)$'
libraries=$(cd "$work/unpacked" && find . -name '*.so*' -type f | sort)
[ -n "$libraries" ] && echo "$libraries" | grep -q '/libcnnz\.so$' || { echo "FAIL: no libcnnz.so in the wheel" >&2; exit 1; }
for library in $libraries; do
  for name in $(readelf -d "$work/unpacked/$library" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    if [[ $name =~ $allowed ]]; then continue; fi
    if [ -e "$(dirname "$work/unpacked/$library")/$name" ]; then
      readelf -d "$work/unpacked/$library" | grep -q 'RUNPATH.*\[\$ORIGIN\]' ||
        { echo "FAIL: $library needs $name from the wheel but has no RUNPATH \$ORIGIN" >&2; exit 1; }
      continue
    fi
    echo "FAIL: $library needs $name, neither a system library nor in the wheel" >&2
    exit 1
  done
  echo "$library: NEEDED $(readelf -d "$work/unpacked/$library" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
done

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel"
# A clean environment: no Swift on PATH, no CNNZ_LIBRARY, and run from outside the clone.
(cd "$work" && env -i HOME="$HOME" PATH=/usr/bin:/bin "$work/venv/bin/python" -c "
import cnnz
result = cnnz.Model('$root/Examples/fashion-mnist-small.cnnz').classify('$root/Examples/images/bag.pgm')
print(result)
assert result[0][0] == 'Bag', result
# Encoded images in memory, decoded by the wheel's libcnnz with its bundled libpng and libjpeg.
model = cnnz.Model('$root/Examples/fashion-mnist-small.cnnz')
folder = '$root/Tests/CnnzTests/Fixtures/images/examples/'
outputs = model.predict_encoded([open(folder + name, 'rb').read() for name in ('bag.png', 'bag.jpg')])
assert [model.labels[i] for i in outputs.argmax(axis=1)] == ['Bag', 'Bag'], outputs
maps = [line.split()[-1] for line in open('/proc/self/maps') if 'libcnnz' in line]
assert maps and all(path.startswith('$work/venv/') for path in maps), maps
print('wheel: installs and classifies in a fresh virtual environment, libcnnz from', maps[0])
")
