#!/usr/bin/python3
"""Export one attention block (our PyTorch version, random weights and BN statistics) with an input
array and PyTorch's output, to try `visattn run` or to compare against it.

    /usr/bin/python3 tools/export_block.py cbam --config '{"gate_channels": 64}' \\
        --shape 1,64,32,48 --out out/cbam

writes out/cbam/model.safetensors, out/cbam/input.npy, out/cbam/expected.npy and the reference's
attention maps as out/cbam/expected_maps/<map>.npy. To export a module you trained, call
export.export(module, path, block=NAME, config=CONFIG) from your own script instead.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import visattn_ref  # noqa: E402
from export import export  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("block", choices=visattn_ref.BLOCK_NAMES)
    ap.add_argument("--config", default="{}", help="constructor arguments as JSON")
    ap.add_argument("--shape", default="1,64,32,48", help="input N,C,H,W")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    config = json.loads(args.config)
    shape = [int(v) for v in args.shape.split(",")]
    ref = visattn_ref.load(args.block)
    torch.manual_seed(args.seed)
    module = randomize_(ref.build(dict(config)), args.seed)
    x = torch.randn(*shape)
    with torch.no_grad():
        y = module(x)
    os.makedirs(os.path.join(args.out, "expected_maps"), exist_ok=True)
    export(module, os.path.join(args.out, "model.safetensors"), block=args.block, config=config)
    np.save(os.path.join(args.out, "input.npy"), x.numpy())
    np.save(os.path.join(args.out, "expected.npy"), y.numpy())
    for name, m in ref.maps(module).items():
        np.save(os.path.join(args.out, "expected_maps", name + ".npy"), m.numpy())


if __name__ == "__main__":
    main()
