#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan) and run each for a bounded time.
#
#   bash scripts/fuzz.sh [--time SECONDS] [--runs N] [--out DIR] [TARGET ...]
#
# TARGET is any of: safetensors npy model image (default: all four, one after another). Each run
# starts from a copy of tests/fuzz/corpus/TARGET, stops after SECONDS (default 30) or N executions,
# whichever comes first, and prints one summary line. A crash, leak, sanitizer report, timeout or
# out-of-memory stops that target; the input that caused it is kept in DIR/TARGET/ (default
# out/fuzz) and the script exits 1. CI runs it with --time 15; see docs/hardening.md for the long
# runs and what they found.
set -euo pipefail
cd "$(dirname "$0")/.."
time_s=30 runs=-1 out=out/fuzz targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_s=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    safetensors|npy|model|image) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(safetensors npy model image)

build=build-fuzz
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVISATTN_FUZZ=ON -DVISATTN_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

status=0
for t in "${targets[@]}"; do
  dir="$out/$t"
  rm -rf "$dir" && mkdir -p "$dir/corpus"
  cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
  # Inputs that once failed (tests/fuzz/regressions/) run first in every run.
  if [ -d tests/fuzz/regressions/"$t" ]; then cp tests/fuzz/regressions/"$t"/* "$dir/corpus/"; fi
  # One process per target; a single input may take at most 10 s and 2 GB.
  log="$dir/log.txt"
  start=$(date +%s)
  set +e
  (cd "$dir" && VISATTN_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$OLDPWD/$build/tests/fuzz/fuzz_$t" -max_total_time="$time_s" -runs="$runs" -timeout=10 \
     -rss_limit_mb=2048 -print_final_stats=1 corpus) >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  found=$(cd "$dir" && ls crash-* leak-* timeout-* oom-* slow-unit-* 2>/dev/null | head -1 || true)
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} executions; input kept in $dir/${found:-?}; log $log"
    grep -m3 -E 'ERROR|runtime error|SUMMARY' "$log" || true
  else
    echo "fuzz_$t: ok, ${execs:-?} executions in $(( $(date +%s) - start )) s, ${cov:-cov: ?}, corpus $(ls "$dir/corpus" | wc -l) inputs"
  fi
done
exit $status
