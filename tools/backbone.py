#!/usr/bin/python3
"""The backbone (docs/backbone.md) in PyTorch, with the C model's config keys, state_dict keys and
maps. The attention slot uses our PyTorch blocks (tools/visattn_ref).

    build(config)  -> nn.Module      maps(module) -> dict name -> tensor of the last forward

    /usr/bin/python3 tools/backbone.py --export-random OUT.safetensors --attention cbam
"""
import argparse
import copy
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import visattn_ref  # noqa: E402

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]

DEFAULTS = {
    "in_channels": 1,
    "num_classes": 10,
    "stem_width": 16,
    "widths": [32, 64, 128],
    "depths": [1, 1, 1],
    "strides": [2, 2, 2],
    "attention": None,
    "attention_args": {},
    "attention_reduction": 4,
    "attention_residual": False,
    "class_names": [],
    "input_size": [28, 28],
    "mean": [0.2860],
    "std": [0.3530],
}

# The settings the shipped models are trained with, per block: sensible at widths 32..128.
ALIASES = {"channel": "se"}
DEFAULT_ARGS = {
    None: {},
    "se": {"attention_reduction": 4},
    "spatial": {},
    "cbam": {"attention_args": {"reduction_ratio": 8}},
    "triplet": {},
    "shuffle": {"attention_args": {"groups": 8}},
    "double_attention": {"attention_reduction": 4, "attention_residual": True},
    "irmb": {"attention_args": {"dim_head": 32}},
    "eca": {},
    "simam": {},
    "bam": {},
}


def model_config(attention=None, **extra):
    """The full config of a Fashion-MNIST model with `attention` and its default settings."""
    cfg = copy.deepcopy(DEFAULTS)
    cfg["class_names"] = list(FASHION_MNIST_CLASSES)
    cfg["attention"] = attention
    cfg.update(copy.deepcopy(DEFAULT_ARGS[attention]))
    cfg.update(extra)
    return cfg


def attention_config(cfg, channels):
    """The block's constructor config at a stage of `channels` channels (docs/backbone.md)."""
    name = ALIASES.get(cfg["attention"], cfg["attention"])
    args = dict(cfg.get("attention_args") or {})
    r = cfg.get("attention_reduction", 4)
    c = channels
    if name == "se":
        args.update(input_channels=c, squeeze_channels=max(1, c // r))
    elif name in ("cbam", "triplet"):
        args.update(gate_channels=c)
    elif name == "shuffle":
        g = max(1, args.get("groups", 64))
        while g > 1 and c % (2 * g) != 0:
            g -= 1
        args.update(channel=c, groups=g)
    elif name == "double_attention":
        args.update(in_channels=c, c_m=max(1, c // r), c_n=max(1, c // r))
    elif name == "irmb":
        args.update(dim_in=c, dim_out=c)
    elif name == "eca":
        args.update(channel=c)
    elif name == "simam":
        args.update(channels=c)
    elif name == "bam":
        args.update(gate_channel=c)
    return name, args


class ConvBNReLU(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Stage(nn.Module):
    def __init__(self, cin, cout, depth, stride, cfg):
        super().__init__()
        self.layers = nn.ModuleList(
            [ConvBNReLU(cin if j == 0 else cout, cout, stride if j == 0 else 1)
             for j in range(depth)])
        self.residual = bool(cfg.get("attention_residual", False))
        self.ref = None
        if cfg.get("attention"):
            name, args = attention_config(cfg, cout)
            self.ref = visattn_ref.load(name)
            self.attn = self.ref.build(args)
        self.last_energy = None

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        if self.ref is not None:
            a = self.attn(x)
            x = x + a if self.residual else a
        self.last_energy = x.mean(dim=1, keepdim=True).detach()
        return x


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.stem = ConvBNReLU(cfg["in_channels"], cfg["stem_width"], 1)
        stages, cin = [], cfg["stem_width"]
        for w, d, s in zip(cfg["widths"], cfg["depths"], cfg["strides"]):
            stages.append(Stage(cin, w, d, s, cfg))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(cin, cfg["num_classes"])
        self.last_cam = None

    def forward(self, x):
        x = self.stem(x)
        for s in self.stages:
            x = s(x)
        logits = self.fc(x.mean(dim=(2, 3)))
        top = logits.argmax(dim=1)
        self.last_cam = torch.einsum("nc,nchw->nhw", self.fc.weight[top], x)[:, None].detach()
        return logits[:, :, None, None]


def build(config):
    cfg = copy.deepcopy(DEFAULTS)
    cfg.update(config)
    return Backbone(cfg)


def maps(module):
    out = {}
    for k, s in enumerate(module.stages, 1):
        if s.ref is not None:
            for name, t in s.ref.maps(s.attn).items():
                out[f"stage{k}.{name}"] = t
        out[f"stage{k}.energy"] = s.last_energy
    out["cam"] = module.last_cam
    return out


# The smallest gap between a model's two largest logits for which a test may compare CAMs.
CAM_TIE_REL = 1e-3


def cam_near_ties(logits, rel=CAM_TIE_REL):
    """Samples whose two largest logits are finite and within rel * max(1, |largest|). The CAM is
    the argmax class's map; such a near tie may go either way in float32 under another summation
    order (another BLAS kernel or thread count), so a test must not assert one CAM for them: the
    tests fail on such an input and ask for another, rather than pass or fail by kernel."""
    lg = torch.as_tensor(logits).flatten(1).double()
    if lg.shape[1] < 2:
        return []
    top2 = lg.topk(2, dim=1).values
    tie = torch.isfinite(top2).all(1) & (top2[:, 0] - top2[:, 1] <=
                                         rel * top2[:, 0].abs().clamp(min=1.0))
    return tie.nonzero().flatten().tolist()


def cam_tie_problem(logits):
    """A one-line problem for a test's report when the CAM's class is a near tie, else None."""
    ties = cam_near_ties(logits)
    return (f"near tie of the two largest logits in samples {ties}: the CAM's class depends on "
            f"summation order; choose another input") if ties else None


def randomize_bn(module, gen):
    """Random BN statistics and affine parameters, so an untrained export exercises BN folding."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            with torch.no_grad():
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=gen))
                    m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
        # Zero-initialised gates (shuffle's cweight/sweight) would hide half the block.
        for pname, p in m.named_parameters(recurse=False):
            if pname in ("cweight", "sweight"):
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=gen))


def random_model(attention, seed=0, **extra):
    cfg = model_config(attention, **extra)
    torch.manual_seed(seed)
    m = build(cfg)
    randomize_bn(m, torch.Generator().manual_seed(seed + 1))
    return m.eval(), cfg


def main():
    from export import export
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--export-random", metavar="OUT", required=True,
                    help="write an untrained model (random weights) to OUT.safetensors")
    ap.add_argument("--attention", default="none",
                    help="block name, or 'none' (default)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    att = None if a.attention in ("none", "null", "") else ALIASES.get(a.attention, a.attention)
    if att not in DEFAULT_ARGS:
        ap.error(f"unknown attention '{a.attention}'")
    m, cfg = random_model(att, a.seed)
    export(m, a.export_random, model="backbone", config=cfg)
    print(f"wrote {a.export_random}")


if __name__ == "__main__":
    main()
