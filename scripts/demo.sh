#!/usr/bin/env bash
# Set up, build, and run the main job: `visattn heatmap` on a bundled image with every shipped
# model (assets/models/), writing one overlay per block and stage plus a contact sheet. It installs
# only what building and running visattn needs (no PyTorch: that is for the tests and tools/).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh --runtime
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVISATTN_TESTS=OFF > /dev/null
cmake --build build -j"$(nproc)" --target visattn > /dev/null
OUT=${1:-out}
mkdir -p "$OUT"
./build/visattn heatmap assets/images/fmnist_0000_ankle_boot.png --block all --out "$OUT/heatmap" --cam
echo "demo done in $(( $(date +%s) - start )) s; pictures in $OUT/heatmap/"
