#!/usr/bin/env bash
# Install a build tree into a temporary prefix and build two small programs against it, each twice:
# with pkg-config (visattn.pc, visattn-vis.pc) and with CMake's find_package(visattn). The second
# program uses libvisattn_vis: it overlays a map on a bundled image and writes a PNG.
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
echo "install check passed (visattn and visattn-vis; pkg-config and find_package)"
