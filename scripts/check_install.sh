#!/usr/bin/env bash
# Install a build tree into a temporary prefix and build three small programs against it, each
# twice: with pkg-config (visattn.pc, visattn-vis.pc) and with CMake's find_package(visattn). The
# second uses libvisattn_vis: it overlays a map on a bundled image and writes a PNG. The third is
# the README's example program (examples/pipeline.c, checked against the README's text). Last, the
# installed CLI runs `heatmap` with its installed models.
set -euo pipefail
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$(mktemp -d)
trap 'rm -rf "$PREFIX"' EXIT
cmake --install "$BUILD" --prefix "$PREFIX" > /dev/null
test -f "$PREFIX/include/visattn/visattn.h"
test -f "$PREFIX/include/visattn/vis.h"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig:$PREFIX/lib/x86_64-linux-gnu/pkgconfig"
cc -std=c11 "$SRC/tests/install/main.c" -o "$PREFIX/with_pkgconfig" \
  $(pkg-config --cflags --libs --static visattn) -Wl,-rpath,"$PREFIX/lib"
"$PREFIX/with_pkgconfig"
IMAGE="$SRC/assets/images/fmnist_0000_ankle_boot.png"
cc -std=c11 "$SRC/tests/install/vis_main.c" -o "$PREFIX/vis_with_pkgconfig" \
  $(pkg-config --cflags --libs --static visattn-vis) -Wl,-rpath,"$PREFIX/lib"
"$PREFIX/vis_with_pkgconfig" "$IMAGE" "$PREFIX/overlay_pkgconfig.png"
test -s "$PREFIX/overlay_pkgconfig.png"
cmake -S "$SRC/tests/install" -B "$PREFIX/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX" > /dev/null
cmake --build "$PREFIX/cmake-build" > /dev/null
"$PREFIX/cmake-build/with_cmake"
"$PREFIX/cmake-build/with_cmake_vis" "$IMAGE" "$PREFIX/overlay_cmake.png"
test -s "$PREFIX/overlay_cmake.png"

# The README's example program, which must be the README's text: examples/pipeline.c, built both
# ways, run from four threads over the bundled images.
awk '/^<!-- examples\/pipeline.c -->$/{on=1; next} on && /^```c$/{inside=1; next}
     inside && /^```$/{exit} inside' "$SRC/README.md" > "$PREFIX/readme_pipeline.c"
if ! diff -u "$SRC/examples/pipeline.c" "$PREFIX/readme_pipeline.c" > "$PREFIX/readme.diff"; then
  echo "README.md's example program differs from examples/pipeline.c:" >&2
  cat "$PREFIX/readme.diff" >&2
  exit 1
fi
cc -std=c11 -Wall -Wextra -Werror "$SRC/examples/pipeline.c" -o "$PREFIX/pipeline_pkgconfig" \
  $(pkg-config --cflags --libs --static visattn-vis) -pthread -Wl,-rpath,"$PREFIX/lib"
for prog in "$PREFIX/pipeline_pkgconfig" "$PREFIX/cmake-build/pipeline_cmake"; do
  out="$PREFIX/out_$(basename "$prog")"
  mkdir -p "$out"
  "$prog" "$SRC/assets/models/cbam.safetensors" "$out" "$SRC"/assets/images/fmnist_*.png > "$out.txt"
  n=$(ls "$SRC"/assets/images/fmnist_*.png | wc -l)
  test "$(ls "$out"/*_cam.png | wc -l)" -eq "$n"
  test "$(wc -l < "$out.txt")" -eq "$n"
done
# The installed CLI finds its models and sample images under <prefix>/share/visattn, from any
# directory and without VISATTN_ASSETS.
test -f "$PREFIX/share/visattn/models/cbam.safetensors"
(cd "$PREFIX" && env -u VISATTN_ASSETS "$PREFIX/bin/visattn" heatmap \
   "$PREFIX/share/visattn/images/fmnist_0000_ankle_boot.png" --block cbam --out "$PREFIX/hm" \
   > "$PREFIX/hm.txt")
test "$(ls "$PREFIX"/hm/*.png | wc -l)" -ge 1
# Without them (and with no assets in the working directory) it says where it looked.
mv "$PREFIX/share/visattn" "$PREFIX/share/visattn.moved"
if (cd "$PREFIX" && env -u VISATTN_ASSETS "$PREFIX/bin/visattn" heatmap \
      "$PREFIX/share/visattn.moved/images/fmnist_0000_ankle_boot.png" --block cbam \
      --out "$PREFIX/hm2" 2> "$PREFIX/hm2.err"); then
  echo "the installed visattn ran without its data directory" >&2; exit 1
fi
grep -q "looked in" "$PREFIX/hm2.err"

echo "install check passed (visattn and visattn-vis; pkg-config and find_package; the README's example)"
