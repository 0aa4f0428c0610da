#!/usr/bin/python3
"""EfficientNetV2 in C (backbone/mbconv.c on the network engine backbone/net.c) against
torchvision 0.14's efficientnet_v2_s / _m / _l.

Cases: efficientnet_v2_s at 2 x 3 x 224 x 224; efficientnet_v2_m at a reduced 2 x 3 x 64 x 64 and
efficientnet_v2_l with 10 classes at 2 x 3 x 48 x 48 (the blocks are the same at any size, fewer
positions keep this file under a minute); efficientnet_v2_s with a cbam slot at 1 x 3 x 96 x 96
and with no slot (attention null) at 2 x 3 x 64 x 64, against tools/networks.py's twin. Each as
py_networks.run_case: random weights and BN statistics, `visattn run --maps`, logits within 1e-3
absolute and 1e-4 relative to the largest logit of the float64 reference, every SE / slot map
within 1e-4, the CAM within the logits' bounds, `visattn info`'s params equal to sum(p.numel())
and its MACs to the convs' and Linears'. The slot maps' names also show that the FusedMBConv
stages (features.1-3) have no slot. Then configs torchvision's v2 builders do not take, refused
in one line; export.py --network torchvision:efficientnet_v2_s. Prints one line per check.

Speed: PyTorch 1.13 runs a float64 depthwise conv one group at a time (about half a millisecond a
channel whatever the input size: most of this file's time before the change), so this process
computes float64 depthwise convs as the same sum over the k x k window by unfold and einsum
(_depthwise_float64); check_depthwise compares the two on a small input first.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import py_networks  # noqa: E402  (puts tools/ on the path)
import networks  # noqa: E402

CASES = [
    # Cases are seeded by their index: these inputs give no near tie of the two top logits.
    ("efficientnet_v2_s", {}, (2, 3, 224, 224)),
    ("efficientnet_v2_m", {}, (2, 3, 64, 64)),
    ("efficientnet_v2_l", {"num_classes": 10}, (2, 3, 48, 48)),
    ("efficientnet_v2_s", {"attention": "cbam", "attention_args": {"reduction_ratio": 8}},
     (1, 3, 96, 96)),
    ("efficientnet_v2_s", {"attention": None, "stochastic_depth_prob": 0.5}, (2, 3, 64, 64)),
]

# Configs visattn refuses, with what the one line must name.
BAD = [
    ("efficientnet_v2_s", {"width_mult": 1.5}, ("width_mult", "fixed by the builder")),
    ("efficientnet_v2_m", {"depth_mult": 2.0}, ("depth_mult", "fixed by the builder")),
    ("efficientnet_v2_l", {"dropout": 0.1}, ("dropout", "fixed by the builder")),
    ("efficientnet_v2_s", {"last_channel": 1536}, ("last_channel", "fixed by the builder")),
    ("efficientnet_v2_s", {"norm_layer": "bn"}, ("norm_layer", "fixed by the builder")),
    ("efficientnet_v2_m", {"attention_args": {"squeeze_channels": 4}}, ("squeeze_channels",)),
    ("efficientnet_v2_l", {"attention_reduction": 8}, ("attention_reduction", "se")),
    ("efficientnet_v2_s", {"block": "MBConv"}, ("unknown key", "block")),
]


_conv_forward = torch.nn.Conv2d._conv_forward


def _depthwise_float64(self, x, weight, bias):
    """nn.Conv2d's forward; a float64 depthwise conv (zero padding, no dilation) as the sum over
    its window of unfolded input times weight, in one einsum instead of a loop over channels."""
    c = self.in_channels
    if x.dtype != torch.float64 or not (c > 1 and self.groups == c == self.out_channels) or \
            self.padding_mode != "zeros" or self.dilation != (1, 1) or \
            not isinstance(self.padding, tuple):
        return _conv_forward(self, x, weight, bias)
    (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
    win = F.pad(x, (pw, pw, ph, ph)).unfold(2, kh, sh).unfold(3, kw, sw)  # N C Ho Wo kh kw
    y = torch.einsum("nchwij,cij->nchw", win, weight[:, 0])
    return y if bias is None else y + bias[:, None, None]


def check_depthwise():
    """_depthwise_float64 against PyTorch's own float64 depthwise conv."""
    problems = []
    g = torch.Generator().manual_seed(7)
    for k, stride, bias, hw in ((3, 1, False, (9, 7)), (5, 2, True, (11, 8)), (3, 2, False, (6, 6))):
        conv = torch.nn.Conv2d(12, 12, k, stride, (k - 1) // 2, groups=12, bias=bias).double()
        x = torch.randn(2, 12, *hw, generator=g, dtype=torch.float64)
        with torch.no_grad():
            want = _conv_forward(conv, x, conv.weight, conv.bias)
            got = conv(x)
        err = float((got - want).abs().max()) if got.shape == want.shape else float("inf")
        if err > 1e-12:
            problems.append(f"k {k} stride {stride}: max abs err {err:.1e}")
    print(f"{'FAIL' if problems else 'ok  '} float64 depthwise conv by unfold and einsum: " +
          ("; ".join(problems) if problems else "equal to PyTorch's within 1e-12"), flush=True)
    return bool(problems)


def check_slots():
    """The slot sits in every MBConv and in no FusedMBConv: the twin's SE list, by stage."""
    want = {"efficientnet_v2_s": [0, 0, 0, 6, 9, 15],
            "efficientnet_v2_m": [0, 0, 0, 7, 14, 18, 5],
            "efficientnet_v2_l": [0, 0, 0, 10, 19, 25, 7]}
    problems = []
    for builder, per_stage in want.items():
        model = networks.build("torchvision", builder, {})
        got = [0] * len(per_stage)
        for scope, _, _ in networks._se_blocks(model):
            got[int(scope.split(".")[1]) - 1] += 1
        if got != per_stage:
            problems.append(f"{builder}: SE blocks per stage {got} != {per_stage}")
    print(f"{'FAIL' if problems else 'ok  '} SE slots per stage (none in the fused stages): " +
          ("; ".join(problems) if problems else "as torchvision's stage tables"), flush=True)
    return bool(problems)


def check_bad(args):
    problems = py_networks.refused(args, BAD)
    # export.py builds the same networks by name, and its twin refuses the fixed keys too.
    problems += filter(None, [py_networks.exports(
        args, "torchvision:efficientnet_v2_s", {"num_classes": 5, "attention": "triplet"})])
    r = py_networks.export_cli("--network", "torchvision:efficientnet_v2_s", "--config",
                               '{"width_mult": 1.5}', "--out",
                               os.path.join(args.workdir, "export_cli.safetensors"))
    p = py_networks.one_line(r, "width_mult", "fixed by the builder")
    if p:
        problems.append(f"export.py efficientnet_v2_s width_mult: {p}")
    print(f"{'FAIL' if problems else 'ok  '} {len(BAD)} configs torchvision's v2 builders do not "
          "take refused; export.py --network torchvision:efficientnet_v2_s: " +
          ("; ".join(problems) if problems else "one line each, export works"), flush=True)
    return bool(problems)


def main():
    args = py_networks.setup(__doc__)
    torch.nn.Conv2d._conv_forward = _depthwise_float64
    failed = check_depthwise()
    # Quick: V2-M at 64 x 64 (fused and MBConv stages), V2-S without a slot.
    failed_cases, run = py_networks.run_cases(args, CASES, 300, quick=[1, 4])
    failed += failed_cases
    failed += check_slots()
    failed += check_bad(args)
    print(f"{run + 3 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
