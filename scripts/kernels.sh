#!/usr/bin/env bash
# Run the Release build's test suite once per OpenBLAS kernel and thread count, one line each.
#
#   bash scripts/kernels.sh [--threads "1 2"] [--kernels "own Haswell ..."] [BUILD_DIR]
#
# OpenBLAS picks its GEMM kernel at run time (from the CPU, or OPENBLAS_CORETYPE), and kernels sum
# in different orders; every test must hold under each (issue: the suite failed on AMD machines).
# "own" runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE both unset, so OpenBLAS detects the CPU;
# a named kernel sets OPENBLAS_CORETYPE and leaves the environment's OPENBLAS_L2_SIZE as it is.
# BUILD_DIR (default build) must hold a Release build; failing tests' output goes to
# BUILD_DIR/kernels-<kernel>-t<threads>.log. Exits 1 if any run fails.
set -uo pipefail
cd "$(dirname "$0")/.."
threads="1 2"
kernels="own Haswell SkylakeX Cooperlake Zen Sandybridge"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --kernels) kernels="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
build="${1:-build}"
if [ ! -x "$build/visattn" ] || [ ! -f "$build/CTestTestfile.cmake" ]; then
  echo "kernels.sh: no Release build with tests in $build (cmake -S . -B $build && cmake --build $build)" >&2
  exit 2
fi

failed=0
for k in $kernels; do
  for t in $threads; do
    if [ "$k" = own ]; then
      envs=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
    else
      envs=(env OPENBLAS_CORETYPE="$k")
    fi
    envs+=(VISATTN_NUM_THREADS="$t")
    used=$("${envs[@]}" "$build/visattn" --version | sed -n 's/.*OpenBLAS kernel \([^,]*\),.*/\1/p')
    log="$build/kernels-$k-t$t.log"
    start=$(date +%s)
    "${envs[@]}" ctest --test-dir "$build" --output-on-failure >"$log" 2>&1
    rc=$?
    summary=$(grep -E "tests passed|tests failed" "$log" | tail -n 1)
    bad=$(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) .*/\1/p' "$log" | tr '\n' ' ')
    printf '%-12s kernel %-12s threads %s  %s  (%d s)%s\n' "$k" "$used" "$t" "${summary:-no ctest summary}" \
      $(( $(date +%s) - start )) "${bad:+  failed: $bad}"
    if [ $rc -ne 0 ]; then failed=1; else rm -f "$log"; fi
  done
done
exit $failed
