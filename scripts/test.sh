#!/usr/bin/env bash
# Set up, build and run the whole test suite: a release build, whose tests run twice (with the
# environment's OpenBLAS kernel and with a second one), then an ASan + UBSan build, each
# running every Check suite and PyTorch parity script through CTest; the threading test and
# `heatmap --jobs` under ThreadSanitizer; then a short run of every
# fuzz target, valgrind memcheck on the CLI's commands, and an install check (docs/hardening.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=$(nproc)
start=$(date +%s)

# Two threads unless the caller says otherwise, so the parallel paths run even on one core.
export VISATTN_NUM_THREADS="${VISATTN_NUM_THREADS:-2}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVISATTN_TESTS=ON
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure

# The suite must hold under any OpenBLAS kernel (they sum in different orders): run it again under
# a second one, Haswell unless that is the one in use already (docs/testing.md).
own=$(build/visattn --version | sed -n 's/.*OpenBLAS kernel \([^,]*\),.*/\1/p')
other=Haswell; [ "$own" = Haswell ] && other=SkylakeX
echo "OpenBLAS kernel in use: $own; the suite again with OPENBLAS_CORETYPE=$other:"
# The second kernel and the sanitizer build run the network parity scripts on a few small cases
# per family (VISATTN_TESTS_QUICK=1, docs/testing.md); the Release run above runs them all.
VISATTN_TESTS_QUICK=1 bash scripts/kernels.sh --kernels "$other" --threads "$VISATTN_NUM_THREADS" build ||
  { cat build/kernels-"$other"-t*.log; exit 1; }

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVISATTN_SANITIZE=ON
cmake --build build-asan -j"$JOBS"
VISATTN_TESTS_QUICK=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --test-dir build-asan --output-on-failure

# One loaded block from several threads at once, under ThreadSanitizer (tests/test_threads.c).
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DVISATTN_TSAN=ON
cmake --build build-tsan -j"$JOBS" --target test_threads visattn
TSAN_OPTIONS=halt_on_error=1:abort_on_error=1 ctest --test-dir build-tsan -R '^test_threads$' --output-on-failure
# heatmap --jobs: images in parallel, one shared model set, one OpenMP thread per job (libgomp
# itself is not instrumented, so its worker threads would give false reports).
TSAN_OPTIONS=halt_on_error=1:abort_on_error=1 build-tsan/visattn heatmap assets/images/*.png \
  --block cbam,irmb --cam --jobs 3 --threads 1 --out build-tsan/heatmap_jobs > /dev/null

bash scripts/fuzz.sh --time 15
bash scripts/valgrind.sh
bash scripts/check_install.sh build
echo "all test stages passed in $(( $(date +%s) - start )) s"
