#!/usr/bin/env bash
# Set up, build and run the whole test suite: a release build, then an ASan + UBSan build, each
# running every Check suite and PyTorch parity script through CTest; then a short run of every
# fuzz target, valgrind memcheck on the CLI's commands, and an install check (docs/hardening.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=$(nproc)
start=$(date +%s)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVISATTN_SANITIZE=ON
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure

bash scripts/fuzz.sh --time 15
bash scripts/valgrind.sh
bash scripts/check_install.sh build
echo "all test stages passed in $(( $(date +%s) - start )) s"
