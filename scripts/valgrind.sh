#!/usr/bin/env bash
# valgrind memcheck over `visattn run`, `visattn heatmap` and `visattn bench` on small inputs, each
# with 1 and with 2 threads, and a few error paths. Builds its own tree, prints one summary line per
# run and fails (exit 1) if any run reports a memcheck error or a definitely/indirectly/possibly
# lost byte, or exits with another status than expected (0; 1 for the error paths).
#
#   bash scripts/valgrind.sh [--build DIR] [--out DIR] [--track-origins]
#
# --build DIR (default build-valgrind) is configured RelWithDebInfo without -march=native: valgrind
# 3.19 does not decode AVX-512. --out DIR (default out/valgrind) gets the inputs, the outputs and
# one memcheck log per run (RUN.log). --track-origins says where uninitialised values came from
# (about twice as slow). scripts/valgrind.supp lists the only suppressions (libgomp's pool threads).
#
# Inputs: the bundled Fashion-MNIST image and models (assets/), one block file per block from the
# fuzz seed corpus (tests/fuzz/corpus/model/, real PyTorch exports), JPEG, PNG, GIF and BMP seeds
# and the regressions of the image fuzz target (tests/fuzz/), and float32 .npy arrays that
# this script writes itself, so that nothing but the build is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C # valgrind's and printf's numbers as parsed below
build=build-valgrind out=out/valgrind origins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --track-origins) origins=(--track-origins=yes); shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "valgrind.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if ! command -v valgrind >/dev/null; then
  echo "valgrind.sh: valgrind not found (bash scripts/setup.sh installs it)" >&2
  exit 2
fi
start=$(date +%s)

mkdir -p "$out"
if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVISATTN_NATIVE=OFF \
         -DVISATTN_TESTS=OFF && cmake --build "$build" -j"$(nproc)" --target visattn; } \
       >"$out/build.log" 2>&1; then
  tail -20 "$out/build.log"
  echo "valgrind.sh: build failed, see $out/build.log" >&2
  exit 1
fi
visattn=$build/visattn

# write_npy FILE N C H W: a float32 C-order array, values from 16 steps in [-1.875, 1.875] picked
# by a fixed LCG (exact in binary, so the file is the same everywhere).
write_npy() {
  local file=$1 n=$2 c=$3 h=$4 w=$5
  local header="{'descr': '<f4', 'fortran_order': False, 'shape': ($n, $c, $h, $w), }"
  while [ $(( (10 + ${#header} + 1) % 64 )) -ne 0 ]; do header+=" "; done
  header+=$'\n'
  local vals=('\x00\x00\xf0\xbf' '\x00\x00\xd0\xbf' '\x00\x00\xb0\xbf' '\x00\x00\x90\xbf'
              '\x00\x00\x60\xbf' '\x00\x00\x20\xbf' '\x00\x00\xc0\xbe' '\x00\x00\x00\xbe'
              '\x00\x00\x00\x3e' '\x00\x00\xc0\x3e' '\x00\x00\x20\x3f' '\x00\x00\x60\x3f'
              '\x00\x00\x90\x3f' '\x00\x00\xb0\x3f' '\x00\x00\xd0\x3f' '\x00\x00\xf0\x3f')
  local count=$((n * c * h * w)) s=12345 i data=""
  for ((i = 0; i < count; i++)); do
    s=$(( (s * 1103515245 + 12345) & 0x7fffffff ))
    data+=${vals[$(( (s >> 16) & 15 ))]}
  done
  local hl=${#header}
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((hl & 255)))\\x$(printf %02x $((hl >> 8)))"
    printf '%s' "$header"
    printf "$data"
  } >"$file"
}

# plant_nan SRC DST KEY INDEX: copy a model with element INDEX (flat) of tensor KEY set to NaN,
# found through the safetensors header (8-byte length, JSON with each tensor's data_offsets).
plant_nan() {
  local src=$1 dst=$2 key=$3 index=$4 hl begin
  hl=$(od -An -tu8 -N8 "$src" | tr -d ' ')
  begin=$(head -c $((8 + hl)) "$src" | grep -ao "\"$key\":{[^}]*}" |
            sed -n 's/.*"data_offsets":\[\([0-9]*\),.*/\1/p' || true)
  [ -n "$begin" ] || { echo "valgrind.sh: no tensor $key in $src" >&2; exit 1; }
  cp "$src" "$dst"
  printf '\x00\x00\xc0\x7f' | dd of="$dst" bs=1 seek=$((8 + hl + begin + 4 * index)) conv=notrunc \
    status=none
}

supp=scripts/valgrind.supp
failed=0 runs=0 want_rc=0

# vg NAME THREADS COMMAND...: run one command under memcheck with VISATTN_NUM_THREADS=THREADS (the
# first of a list such as 1,2, which bench gets as --threads); it must exit with $want_rc.
# OMP_WAIT_POLICY=passive: valgrind runs one thread at a time, so a spinning libgomp worker only
# burns the time slice of the thread it waits for; this does not change which code runs.
vg() {
  local name=$1 threads=$2
  shift 2
  local log="$out/$name.log" t0 t1 rc
  t0=$(date +%s.%N)
  set +e
  VISATTN_NUM_THREADS=${threads%%,*} OMP_WAIT_POLICY=passive \
    valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=all \
    --errors-for-leak-kinds=definite,indirect,possible --suppressions="$supp" "${origins[@]}" \
    --log-file="$log" "$visattn" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr"
  rc=$?
  set -e
  t1=$(date +%s.%N)
  runs=$((runs + 1))
  [ -f "$log" ] || : >"$log"
  # With no leak at all valgrind prints "All heap blocks were freed" instead of a LEAK SUMMARY.
  local errors def ind pos sup
  errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tr -d ,)
  def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d ,)
  ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d ,)
  pos=$(sed -n 's/.*possibly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d ,)
  sup=$(sed -n 's/.*suppressed: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d ,)
  local verdict=ok
  if [ -z "$errors" ] || [ "$rc" -ne "$want_rc" ] || [ "$errors" -ne 0 ] || [ "${def:-0}" -ne 0 ] ||
     [ "${ind:-0}" -ne 0 ] || [ "${pos:-0}" -ne 0 ]; then
    verdict=FAIL failed=$((failed + 1))
  fi
  printf '%-4s thr %s  errors %s  definitely %s B  indirectly %s B  possibly %s B  (suppressed %s B)  %5.1f s  exit %s  visattn %s\n' \
    "$verdict" "$threads" "${errors:-?}" "${def:-0}" "${ind:-0}" "${pos:-0}" "${sup:-0}" \
    "$(awk "BEGIN { print $t1 - $t0 }")" "$rc" "$*"
  if [ "$verdict" = FAIL ]; then
    [ -s "$out/$name.stderr" ] && sed 's/^/     stderr: /' "$out/$name.stderr" | head -5
    [ -n "$errors" ] || echo "     no ERROR SUMMARY in $log: valgrind itself failed"
    echo "     details: $log"
  fi
}

image=assets/images/fmnist_0000_ankle_boot.png
seeds=tests/fuzz/corpus/model
for f in cbam_4 se_0 spatial_0 triplet_0 shuffle_4 double_attention_0 irmb_22 irmb_23; do
  if [ ! -f "$seeds/$f.safetensors" ]; then
    echo "valgrind.sh: $seeds/$f.safetensors is missing (tools/make_fuzz_seeds.py writes it)" >&2
    exit 1
  fi
done
# Odd sizes and a batch of 2, so the edge paths of the kernels run too.
write_npy "$out/in16.npy" 2 16 9 7
write_npy "$out/in8.npy" 2 8 6 6

for t in 1 2; do
  d=$out/t$t
  rm -rf "$d" && mkdir -p "$d/maps"
  # Every bundled model (the backbone with each block), a contact sheet, CAMs, the model inputs.
  vg "heatmap_all_t$t" "$t" heatmap "$image" --block all --cam --save-input --out "$d"
  # The backbone on the input heatmap wrote, with every map (stage maps, energy, cam).
  vg "run_backbone_t$t" "$t" run assets/models/irmb.safetensors \
    "$d/fmnist_0000_ankle_boot_irmb_input.npy" "$d/out_backbone.npy" --maps "$d/maps"
  # Each block on its own, from a block file.
  for f in cbam_4 se_0 spatial_0 triplet_0 shuffle_4 double_attention_0; do
    vg "run_${f}_t$t" "$t" run "$seeds/$f.safetensors" "$out/in16.npy" "$d/out_$f.npy" \
      --maps "$d/maps"
  done
  for f in irmb_22 irmb_23; do
    vg "run_${f}_t$t" "$t" run "$seeds/$f.safetensors" "$out/in8.npy" "$d/out_$f.npy" \
      --maps "$d/maps"
  done
done
# Every decoder once: TurboJPEG (progressive, Adobe CMYK), libspng (16-bit RGBA, interlaced palette
# with tRNS), stb_image (GIF, BMP), from the structure-aware seeds.
img_seeds=tests/fuzz/corpus/image
vg heatmap_decoders_t1 1 heatmap "$img_seeds/dec_prog_default.jpg" "$img_seeds/dec_cmyk_adobe.jpg" \
  "$img_seeds/dec_rgba16.png" "$img_seeds/dec_palette4_interlaced_trns.png" "$img_seeds/rgb.gif" \
  "$img_seeds/rgb.bmp" --model cbam --out "$out/decoders"
# Error paths, where a leak hides best: a truncated image and a model with a NaN weight (one
# line each, exit 1), and an input with the wrong number of channels.
head -c $(( $(wc -c <"$image") * 3 / 4 )) "$image" >"$out/truncated.png"
plant_nan assets/models/cbam.safetensors "$out/cbam_nan.safetensors" \
  stages.1.attn.SpatialGate.spatial.conv.weight 24
want_rc=1
vg heatmap_errors_t2 2 heatmap "$out/truncated.png" "$image" --model "$out/cbam_nan.safetensors" \
  --out "$out/errors"
vg run_error_t1 1 run "$seeds/cbam_4.safetensors" "$out/in8.npy" "$out/errors/out.npy"
# The fuzz regressions: some refused, some decoded (docs/hardening.md), none with an error.
vg heatmap_regressions_t1 1 heatmap tests/fuzz/regressions/image/* --model cbam \
  --out "$out/regressions"
want_rc=0
# bench switches thread counts inside one process; every block and the yardstick, two shapes.
vg bench_t1-2 1,2 bench --shape 1,16,8,8 --shape 2,24,7,9 --threads 1,2 --warmup 1 --iters 2 \
  --json "$out/bench.json" --csv "$out/bench.csv" --svg "$out/bench.svg"

echo "valgrind.sh: $((runs - failed)) of $runs runs clean in $(( $(date +%s) - start )) s (logs in $out)"
[ "$failed" -eq 0 ]
