#!/usr/bin/env bash
# Set up, build, and run the main job.
# Until the backbone and `visattn heatmap` land (issue 4), the main job is the engine check:
# export a random PyTorch Conv2d + BatchNorm2d, run it with `visattn run`, compare with PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
OUT=${1:-out/demo}
mkdir -p "$OUT"
/usr/bin/python3 tools/export_conv_bn.py "$OUT"
./build/visattn info "$OUT/model.safetensors" --shape 2,16,13,11
./build/visattn run "$OUT/model.safetensors" "$OUT/input.npy" "$OUT/output.npy"
/usr/bin/python3 -c "
import numpy as np, sys
want, got = np.load('$OUT/expected.npy'), np.load('$OUT/output.npy')
print(f'output {got.shape}, max abs error vs PyTorch: {np.abs(want - got).max():.2e}')"
