#!/usr/bin/python3
"""Export a random nn.Conv2d (+ nn.BatchNorm2d, eval mode) and an input array, for checking
`visattn run` end to end against PyTorch.

    /usr/bin/python3 tools/export_conv_bn.py OUTDIR [--no-bn] [--config JSON] [--shape N,C,H,W]

writes OUTDIR/model.safetensors, OUTDIR/input.npy and OUTDIR/expected.npy (PyTorch's output).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export import export  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402


class ConvBN(nn.Module):
    """Keys: conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var."""

    def __init__(self, eps=1e-5, momentum=0.1, **conv_args):
        super().__init__()
        self.conv = nn.Conv2d(**conv_args)
        self.bn = nn.BatchNorm2d(conv_args["out_channels"], eps=eps, momentum=momentum)

    def forward(self, x):
        return self.bn(self.conv(x))


def make(config: dict, with_bn: bool, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    m = ConvBN(**config) if with_bn else nn.Conv2d(**config)
    return randomize_(m, seed)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--no-bn", action="store_true", help="a plain nn.Conv2d ('conv2d' model)")
    ap.add_argument("--config", default='{"in_channels": 16, "out_channels": 32, '
                    '"kernel_size": 3, "padding": 1}')
    ap.add_argument("--shape", default="2,16,13,11")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    config = json.loads(args.config)
    shape = [int(v) for v in args.shape.split(",")]
    os.makedirs(args.outdir, exist_ok=True)
    module = make(config, not args.no_bn, args.seed)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(args.seed + 1))
    with torch.no_grad():
        y = module(x)
    export(module, os.path.join(args.outdir, "model.safetensors"),
           model="conv2d" if args.no_bn else "conv_bn", config=config)
    np.save(os.path.join(args.outdir, "input.npy"), x.numpy())
    np.save(os.path.join(args.outdir, "expected.npy"), y.numpy())


if __name__ == "__main__":
    main()
