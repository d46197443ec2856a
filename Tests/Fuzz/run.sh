#!/usr/bin/env bash
# Builds the engine with libFuzzer and AddressSanitizer and fuzzes the .cnnz
# loader, its payload decoder, the image reader (PNG, JPEG, Netpbm) and the
# model.json converter, seeded with the repository's own files.
#   bash Tests/Fuzz/run.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
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
# The int8 GEMM microkernels (C), instrumented too.
mkdir -p "$out/CInt8Kernels"
cp Sources/CInt8Kernels/include/CInt8Kernels.h "$out/CInt8Kernels/"
printf 'module CInt8Kernels {\n  header "CInt8Kernels.h"\n  export *\n}\n' > "$out/CInt8Kernels/module.modulemap"
clang -O1 -g -fsanitize=fuzzer-no-link,address -ISources/CInt8Kernels/include -c Sources/CInt8Kernels/int8_gemm.c \
  -o "$out/CInt8Kernels/int8_gemm.o"
codecs="$codecs $out/CInt8Kernels/int8_gemm.o"
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
# Seeds: the shipped and test models (converted), and every image.
cp Examples/*.cnnz "$out/corpus-model/"
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
"$out/fuzz-ModelReader" -max_total_time="$seconds" $budget -timeout=10 \
  -print_final_stats=1 "$out/corpus-model" 2>&1 | tail -n 12
"$out/fuzz-Payload" -max_total_time="$seconds" $budget -timeout=10 \
  -print_final_stats=1 "$out/corpus-payload" 2>&1 | tail -n 12
"$out/fuzz-Image" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1100 -timeout=10 \
  -dict=Tests/Fuzz/image.dict -print_final_stats=1 "$out/corpus-image" 2>&1 | tail -n 12
"$out/fuzz-Converter" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1100 -timeout=10 \
  -dict=Tests/Fuzz/model-json.dict -print_final_stats=1 "$out/corpus-json" 2>&1 | tail -n 12
