#!/usr/bin/env bash
# Set up, build, and run the main job: `visattn heatmap` on a bundled image with every shipped
# model (assets/models/), writing one overlay per block and stage plus a contact sheet.
# Then, last, the engine check: a random PyTorch Conv2d + BatchNorm2d run by `visattn run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
OUT=${1:-out}
mkdir -p "$OUT"

# The main job.
./build/visattn heatmap assets/images/fmnist_0000_ankle_boot.png --block all --out "$OUT/heatmap"

# Engine check: PyTorch and visattn agree on a conv + BN.
/usr/bin/python3 tools/export_conv_bn.py "$OUT/engine"
./build/visattn info "$OUT/engine/model.safetensors" --shape 2,16,13,11
./build/visattn run "$OUT/engine/model.safetensors" "$OUT/engine/input.npy" "$OUT/engine/output.npy"
/usr/bin/python3 -c "
import numpy as np, sys
want, got = np.load('$OUT/engine/expected.npy'), np.load('$OUT/engine/output.npy')
print(f'engine check: output {got.shape}, max abs error vs PyTorch: {np.abs(want - got).max():.2e}')"
