#!/usr/bin/python3
"""End-to-end engine check: PyTorch nn.Conv2d (+ BatchNorm2d, eval, random running statistics)
exported by tools/export_conv_bn.py, run by `visattn run`, compared to PyTorch's output.
Tolerance: max abs error <= 1e-5. One line per case."""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORT = os.path.join(HERE, "..", "tools", "export_conv_bn.py")

CASES = [  # (bn, config, shape)
    (True, {"in_channels": 16, "out_channels": 32, "kernel_size": 3, "padding": 1}, "2,16,13,11"),
    (True, {"in_channels": 3, "out_channels": 8, "kernel_size": 7, "stride": 2, "padding": 3},
     "1,3,7,5"),
    (True, {"in_channels": 17, "out_channels": 17, "kernel_size": 3, "padding": 2, "dilation": 2,
            "groups": 17, "bias": False}, "2,17,13,11"),
    (True, {"in_channels": 12, "out_channels": 8, "kernel_size": [3, 5], "padding": [1, 2],
            "groups": 4}, "2,12,9,6"),
    (True, {"in_channels": 64, "out_channels": 48, "kernel_size": 1}, "1,64,14,15"),
    (False, {"in_channels": 5, "out_channels": 7, "kernel_size": 3, "stride": [2, 1]}, "3,5,8,9"),
    (False, {"in_channels": 6, "out_channels": 6, "kernel_size": 1, "stride": 2, "bias": False},
     "1,6,5,5"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    failed = 0
    for i, (bn, config, shape) in enumerate(CASES):
        d = os.path.join(args.workdir, f"case{i}")
        cmd = [sys.executable, EXPORT, d, "--config", json.dumps(config), "--shape", shape,
               "--seed", str(i)]
        subprocess.run(cmd + ([] if bn else ["--no-bn"]), check=True)
        r = subprocess.run([args.visattn, "run", f"{d}/model.safetensors", f"{d}/input.npy",
                            f"{d}/output.npy"], capture_output=True, text=True)
        label = f"{'conv_bn' if bn else 'conv2d'} {shape} {json.dumps(config)}"
        if r.returncode != 0:
            print(f"FAIL {label}: {r.stderr.strip()}")
            failed += 1
            continue
        want, got = np.load(f"{d}/expected.npy"), np.load(f"{d}/output.npy")
        err = float(np.max(np.abs(want - got))) if want.shape == got.shape else float("inf")
        ok = err <= 1e-5
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {label}: max abs err {err:.2e}")
    print(f"{len(CASES) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
