#!/usr/bin/env bash
# Builds the engine with libFuzzer and AddressSanitizer and fuzzes the .cnnz
# loader, its payload decoder, the image reader (PNG, JPEG, Netpbm) and the
# model.json converter, seeded with the repository's own files. Each target first replays
# the inputs that once crashed it (Tests/Fuzz/regressions/TARGET/: add every new finding there).
#   bash Tests/Fuzz/run.sh [seconds per target, default 60]   a random seed, for a while
#   bash Tests/Fuzz/run.sh --ci                                a fixed seed and a fixed number of runs
#     per target (20 s to 2 min each): the same inputs on every run of the same code, so that CI
#     fails on what a change did, not on what a random seed happened to find that day. The payload
#     target runs fewer: its mutants of the 65,536-layer hostile graph take seconds each under
#     AddressSanitizer (150,000 runs took 317 s on the 2-core machine, most of a CI's fuzz time).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = --ci ]; then
  length() { case $1 in ModelReader) echo "-seed=1 -runs=8000" ;; Payload) echo "-seed=1 -runs=50000" ;;
    Image) echo "-seed=1 -runs=300000" ;; Converter) echo "-seed=1 -runs=200000" ;; esac; }
else
  seconds=${1:-60}
  length() { echo "-max_total_time=$seconds"; }
fi
out=.build-fuzz
mkdir -p "$out/CZlib" "$out/CImageCodecs" "$out/corpus-model" "$out/corpus-payload" "$out/corpus-image" "$out/corpus-json"
cp Sources/CZlib/include/CZlib.h "$out/CZlib/"
printf 'module CZlib {\n  header "CZlib.h"\n  link "z"\n  export *\n}\n' > "$out/CZlib/module.modulemap"
# The PNG and JPEG shims, instrumented too; CNNZ_FUZZING ignores PNG checksums.
cp Sources/CImageCodecs/include/CImageCodecs.h "$out/CImageCodecs/"
printf 'module CImageCodecs {\n  header "CImageCodecs.h"\n  link "png"\n  link "jpeg"\n  export *\n}\n' \
  > "$out/CImageCodecs/module.modulemap"
codecs=""
for source in Sources/CImageCodecs/*.c; do
  clang -O1 -g -fsanitize=fuzzer-no-link,address -DCNNZ_FUZZING -ISources/CImageCodecs/include -c "$source" \
    -o "$out/CImageCodecs/$(basename "$source" .c).o"
  codecs="$codecs $out/CImageCodecs/$(basename "$source" .c).o"
done
# The zlib shim's own C (the folded CRC-32, the inflate without Adler-32), instrumented too.
clang -O1 -g -fsanitize=fuzzer-no-link,address -ISources/CZlib -c Sources/CZlib/shim.c -o "$out/CZlib/shim.o"
codecs="$codecs $out/CZlib/shim.o"
# The int8 GEMM microkernels (C), instrumented too.
mkdir -p "$out/CInt8Kernels"
cp Sources/CInt8Kernels/include/CInt8Kernels.h "$out/CInt8Kernels/"
printf 'module CInt8Kernels {\n  header "CInt8Kernels.h"\n  export *\n}\n' > "$out/CInt8Kernels/module.modulemap"
for source in Sources/CInt8Kernels/*.c; do
  clang -O1 -g -fsanitize=fuzzer-no-link,address -ISources/CInt8Kernels/include -c "$source" \
    -o "$out/CInt8Kernels/$(basename "$source" .c).o"
  codecs="$codecs $out/CInt8Kernels/$(basename "$source" .c).o"
done
# One module: the engine, the SIMD helpers and the baseline microkernels (the
# engine's canImport tests then leave out the AVX2 build and the CPU check).
# The converter joins them for its target (its `import Cnnz` is then ignored, with a warning).
engine=$(find Sources/Cnnz Sources/CnnzSIMD Sources/CnnzGEMM -name '*.swift' | sort)
converter=$(find Sources/CnnzConvert -name '*.swift' | sort)
# -package-name: the engine has `package` declarations (the trainer's entry points).
for target in ModelReader Payload Image Converter; do
  extra=""
  [ "$target" = Converter ] && extra=$converter
  case $target in ModelReader | Payload) extra=Tests/Fuzz/FuzzSupport.swift ;; esac
  swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name Cnnz -package-name cnnz -I "$out/CZlib" -I "$out/CImageCodecs" -I "$out/CInt8Kernels" \
    $engine $extra $codecs "Tests/Fuzz/Fuzz$target.swift" -o "$out/fuzz-$target" 2>&1 | { grep -v 'ignoring import' || true; }
done
# Seeds: the shipped and test models (converted), and every image. Models of a megabyte or more
# (the VGG example) are left out: libFuzzer mutates inputs up to the largest seed's size, and a
# run on a 3 MB model under AddressSanitizer takes long enough to cut CI's fixed run counts short.
find Examples -maxdepth 1 -name '*.cnnz' -size -1024k -exec cp {} "$out/corpus-model/" \;
# An int8 model (format version 2: int8 and int32 tensors, the QUAN section).
cp Tests/CnnzTests/Fixtures/format-v2/*.cnnz "$out/corpus-model/"
# Crafted files aimed at the loader's memory and time (Tests/CnnzToolTests/HostileModels.swift).
cp Tests/Fuzz/hostile/*.cnnz "$out/corpus-model/"
for json in Tests/CnnzTests/Fixtures/tiny.json Tests/CnnzTests/Fixtures/tiny-graph.json; do
  swift run -q convert "$json" -o "$out/corpus-model/$(basename "$json" .json).cnnz" >/dev/null
done
for model in "$out"/corpus-model/*.cnnz; do
  python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.decompress(open(sys.argv[1], "rb").read()[48:]))' \
    "$model" > "$out/corpus-payload/$(basename "$model" .cnnz).payload"
done
cp Examples/images/*.pgm "$out/corpus-image/"
cp Tests/CnnzTests/Fixtures/images/*.png Tests/CnnzTests/Fixtures/images/*.jpg "$out/corpus-image/"
for file in Tests/CnnzTests/Fixtures/images/examples/*.png Tests/CnnzTests/Fixtures/images/examples/*.jpg; do
  cp "$file" "$out/corpus-image/example-$(basename "$file")"
done
cp Tests/CnnzTests/Fixtures/tiny.json Tests/CnnzTests/Fixtures/tiny-graph.json "$out/corpus-json/"
printf 'P3\n2 1\n65535\n1 2 3 4 5 6\n' > "$out/corpus-image/rgb16.ppm"
printf 'P2 # c\n2 2 9\n1 2\n3 9\n' > "$out/corpus-image/ascii.pgm"
# The model targets load with a 64 MiB budget (FuzzSupport.swift): no single allocation may pass
# it, and the process may not grow past it by more than the fuzzer's and ASan's own memory
# (a small quarantine keeps freed memory from counting).
budget="-malloc_limit_mb=64 -rss_limit_mb=320"
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}
for target in ModelReader Payload Image Converter; do
  regressions=(Tests/Fuzz/regressions/$target/*)
  if [ -e "${regressions[0]}" ]; then
    "$out/fuzz-$target" "${regressions[@]}" >"$out/regressions-$target.log" 2>&1 || {
      tail -n 40 "$out/regressions-$target.log"
      echo "fuzz-$target: a regression input crashes again (log: $out/regressions-$target.log)" >&2
      exit 1
    }
  fi
done
# Findings land in $out/findings (the fuzzer writes crash-*, oom-*, timeout-* files there).
mkdir -p "$out/findings"
run() { "$@" -artifact_prefix="$out/findings/" -print_final_stats=1 2>&1 | tail -n 12; }
# shellcheck disable=SC2046
run "$out/fuzz-ModelReader" $(length ModelReader) $budget -timeout=10 "$out/corpus-model"
# shellcheck disable=SC2046
run "$out/fuzz-Payload" $(length Payload) $budget -timeout=10 "$out/corpus-payload"
# shellcheck disable=SC2046
run "$out/fuzz-Image" $(length Image) -rss_limit_mb=2048 -malloc_limit_mb=1100 -timeout=10 \
  -dict=Tests/Fuzz/image.dict "$out/corpus-image"
# shellcheck disable=SC2046
run "$out/fuzz-Converter" $(length Converter) -rss_limit_mb=2048 -malloc_limit_mb=1100 -timeout=10 \
  -dict=Tests/Fuzz/model-json.dict "$out/corpus-json"
