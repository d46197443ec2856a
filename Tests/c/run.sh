#!/usr/bin/env bash
# Builds libcnnz and the C programs (pedantic C99 under gcc and clang, and the
# header from C++), then runs the C API tests (test_api, test_encoded,
# test_profile), the thread test, czlib_crc32 from threads under
# ThreadSanitizer and the C example.
#   bash Tests/c/run.sh            # release libcnnz
#   bash Tests/c/run.sh address    # libcnnz and the C programs under AddressSanitizer
set -euo pipefail
cd "$(dirname "$0")/../.."
extra=""
scratch=.build
cc=cc
cxx=g++
if [ "${1:-}" = address ]; then
  # The Swift toolchain's clang: its ASan runtime is the one libcnnz was built against.
  cc=clang
  cxx=clang++
  extra="-fsanitize=address -fno-omit-frame-pointer"
  scratch=.build-asan
  swift build -c release --product cnnz --sanitize=address --scratch-path "$scratch"
else
  swift build -c release --product cnnz
fi
swift build --product convert
lib=$scratch/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in tiny tiny-graph; do
  .build/debug/convert "Tests/CnnzTests/Fixtures/$name.json" -o "$work/$name.cnnz" >/dev/null
done
# A model big enough that sessions of 2 threads split its layers.
python3 Benchmarks/make_bench_model.py "$work/bench.json" --size 48 --width 16
.build/debug/convert "$work/bench.json" -o "$work/bench.cnnz" >/dev/null
flags="-std=c99 -Wall -Wextra -Werror -pedantic -Iinclude $extra"
link="-L$lib -lcnnz -Wl,-rpath,$PWD/$lib"
for compiler in gcc clang; do
  command -v "$compiler" >/dev/null || continue
  $compiler $flags -c Tests/c/test_api.c -o "$work/test_api.$compiler.o"
done
# The header from C++, with the same warnings.
printf '#include "cnnz.h"\nint main() { return cnnz_version() == nullptr; }\n' > "$work/header.cpp"
$cxx -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude $extra "$work/header.cpp" $link -o "$work/header_cpp"
"$work/header_cpp"

$cc $flags Tests/c/test_api.c $link -lz -lm -o "$work/test_api"
$cc $flags -pthread Tests/c/test_threads.c $link -o "$work/test_threads"
$cc $flags Tests/c/test_encoded.c $link -lm -o "$work/test_encoded"
$cc $flags Tests/c/test_profile.c $link -o "$work/test_profile"
$cc $flags Examples/c/classify.c $link -o "$work/classify"

"$work/test_api" Tests/CnnzTests/Fixtures "$work" Examples/fashion-mnist-small.cnnz Examples/images/bag.pgm
"$work/test_encoded" Tests/CnnzTests/Fixtures Examples/fashion-mnist-small.cnnz
"$work/test_profile" "$work/tiny-graph.cnnz" Examples/fashion-mnist-small.cnnz
"$work/test_threads" "$work/tiny-graph.cnnz"
"$work/test_threads" Examples/fashion-mnist-small.cnnz
"$work/test_threads" "$work/bench.cnnz" 2
"$work/test_threads" "$work/tiny-graph.cnnz" 3

# czlib_crc32's lazily cached CPU check from eight threads under ThreadSanitizer (gcc's runtime:
# the Swift toolchain's clang links one that needs libdispatch); skipped where gcc has no TSan.
if [ -z "${1:-}" ] && printf 'int main(void){return 0;}' | gcc -x c -fsanitize=thread - -o "$work/tsan-probe" 2>/dev/null; then
  gcc -std=c11 -O1 -g -Wall -Wextra -Werror -pedantic -fsanitize=thread -ISources/CZlib/include \
    Tests/c/crc32_threads.c Sources/CZlib/shim.c -lz -pthread -o "$work/crc32_threads"
  TSAN_OPTIONS=halt_on_error=1 "$work/crc32_threads"
else
  echo "skipped czlib_crc32 under ThreadSanitizer: gcc -fsanitize=thread unavailable"
fi

# The example's output, checked line by line.
"$work/classify" Examples/fashion-mnist-small.cnnz Examples/images/trouser.pgm Examples/images/sneaker.pgm > "$work/classify.out"
grep -qx 'Examples/images/trouser.pgm: Trouser ([01]\.[0-9]*)' "$work/classify.out"
grep -qx 'Examples/images/sneaker.pgm: Sneaker ([01]\.[0-9]*)' "$work/classify.out"
if "$work/classify" Examples/fashion-mnist-small.cnnz /nonexistent.pgm 2> "$work/classify.err"; then
  echo "classify accepted a missing image" >&2; exit 1
fi
grep -qx 'error: cannot open /nonexistent.pgm: no such file' "$work/classify.err"

# The README's C example, as written there: it works and leaves nothing for git to track.
if [ -z "${1:-}" ] && git rev-parse --git-dir >/dev/null 2>&1; then
  before=$(git status --porcelain)
  grep -A1 '^cc -std=c99 .*Examples/c/classify.c' README.md | sed 's/ *#.*//' > "$work/readme-c.sh"
  [ "$(wc -l < "$work/readme-c.sh")" -eq 2 ] || { echo "README: the C example's two commands not found" >&2; exit 1; }
  bash -e "$work/readme-c.sh" | grep -qx 'Examples/images/bag.pgm: Bag ([01]\.[0-9]*)'
  [ "$(git status --porcelain)" = "$before" ] || { echo "README's C example left files for git:" >&2; git status --porcelain >&2; exit 1; }
fi
echo "C tests passed"
