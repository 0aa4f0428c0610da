#!/usr/bin/env bash
# Install a build tree into a temporary prefix and build a small program against it twice: with
# pkg-config (visattn.pc) and with CMake's find_package(visattn).
set -euo pipefail
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$(mktemp -d)
trap 'rm -rf "$PREFIX"' EXIT
cmake --install "$BUILD" --prefix "$PREFIX" > /dev/null
test -f "$PREFIX/include/visattn/visattn.h"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig:$PREFIX/lib/x86_64-linux-gnu/pkgconfig"
cc -std=c11 "$SRC/tests/install/main.c" -o "$PREFIX/with_pkgconfig" \
  $(pkg-config --cflags --libs --static visattn) -Wl,-rpath,"$PREFIX/lib"
"$PREFIX/with_pkgconfig"
cmake -S "$SRC/tests/install" -B "$PREFIX/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX" > /dev/null
cmake --build "$PREFIX/cmake-build" > /dev/null
"$PREFIX/cmake-build/with_cmake"
echo "install check passed (pkg-config and find_package)"
