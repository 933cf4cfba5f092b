#!/usr/bin/env bash
# The README's test command: installs what is needed (Debian packages),
# builds Tessera with warnings as errors, and runs the whole test suite,
# then builds the pure cores and the daemons without libtorch with clang under
# AddressSanitizer + UndefinedBehaviorSanitizer and runs their tests again,
# with the libFuzzer targets' short runs over their seed corpora (label
# `fuzz`, about 10 s each; scripts/fuzz.sh fuzzes for longer).
#
#   scripts/test.sh            # everything
#   TESSERA_SKIP_ASAN=1 scripts/test.sh   # skip the sanitizer pass (local iteration)
#
# Build folders: build/ and build-asan/ (git-ignored). Exit code 0 only when
# every test passed.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${TESSERA_JOBS:-$(nproc)}
start=$(date +%s)

scripts/install-deps.sh

last=$start
step() {
  local now
  now=$(date +%s)
  printf '\n==> %s (previous step took %d s)\n' "$*" $((now - last))
  last=$now
}

step "configure and build (warnings as errors)"
cmake -S . -B build -G Ninja -DTESSERA_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"

step "run the test suite"
(cd build && ctest --output-on-failure -j "$jobs" --timeout 600)

if [ "${TESSERA_SKIP_ASAN:-0}" != "1" ]; then
  step "build without libtorch with clang under AddressSanitizer + UndefinedBehaviorSanitizer, with the fuzz targets"
  # clang, so that the same build has the libFuzzer targets (tests/fuzz/);
  # a folder configured earlier with another compiler is configured afresh.
  if [ -f build-asan/CMakeCache.txt ] &&
     ! grep -q '^CMAKE_CXX_COMPILER:.*clang++' build-asan/CMakeCache.txt; then
    rm -rf build-asan/CMakeCache.txt build-asan/CMakeFiles
  fi
  CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DTESSERA_WERROR=ON -DTESSERA_SANITIZE=ON \
    -DTESSERA_FUZZ=ON -DTESSERA_WITH_TORCH=OFF -DTESSERA_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=Debug
  cmake --build build-asan -j "$jobs"
  step "run the non-torch tests under the sanitizers, and each fuzz target on its corpus"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j "$jobs" --timeout 900)
fi

step "all tests passed in $(( $(date +%s) - start )) s"
