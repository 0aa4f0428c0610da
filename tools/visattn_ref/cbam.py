"""CBAM, as CBAM in Jongchan/attention-module MODELS/cbam.py.

Channel gate: each pool in pool_types ('avg', 'max', 'lp' = power-2 LP pool, 'lse' = log-sum-exp)
reduces x to N x C, goes through the same MLP (Linear(C, C // reduction_ratio), ReLU,
Linear(C // reduction_ratio, C)); the MLP outputs are summed, gate = sigmoid(sum), x1 = x * gate.
Then, unless no_spatial, the spatial gate of spatial.py on x1.
"""
import torch
import torch.nn.functional as F
from torch import nn

from visattn_ref.spatial import SpatialGate

NAME = "cbam"

POOL_TYPES = ("avg", "max", "lp", "lse")


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.size(0), -1)


def pool(x, kind):
    """N x C x H x W -> N x C x 1 x 1 with the reference's formulas."""
    if kind == "avg":
        return x.mean(dim=(2, 3), keepdim=True)
    if kind == "max":
        return x.amax(dim=(2, 3), keepdim=True)
    if kind == "lp":
        # F.lp_pool2d(x, 2, (H, W)): average of x^2 over the window, times the window size, ^(1/2)
        return F.lp_pool2d(x, 2, (x.size(2), x.size(3)))
    # the reference's logsumexp_2d: shift by the max for stability
    flat = x.flatten(2)
    s = flat.amax(dim=2, keepdim=True)
    return (s + (flat - s).exp().sum(dim=2, keepdim=True).log()).unsqueeze(3)


class ChannelGate(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16, pool_types=("avg", "max")):
        super().__init__()
        hidden = gate_channels // reduction_ratio
        self.mlp = nn.Sequential(Flatten(), nn.Linear(gate_channels, hidden), nn.ReLU(),
                                 nn.Linear(hidden, gate_channels))
        for p in pool_types:
            if p not in POOL_TYPES:
                raise ValueError(f"unknown pool type '{p}'")
        if not pool_types:
            raise ValueError("pool_types is empty")
        self.pool_types = list(pool_types)
        self.last_gate = None

    def forward(self, x):
        total = None
        for p in self.pool_types:
            raw = self.mlp(pool(x, p))
            total = raw if total is None else total + raw
        gate = torch.sigmoid(total)[:, :, None, None]
        self.last_gate = gate.detach()
        return x * gate


class CBAM(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16, pool_types=("avg", "max"),
                 no_spatial=False):
        super().__init__()
        self.ChannelGate = ChannelGate(gate_channels, reduction_ratio, pool_types)
        self.no_spatial = no_spatial
        if not no_spatial:
            self.SpatialGate = SpatialGate()

    def forward(self, x):
        x = self.ChannelGate(x)
        if not self.no_spatial:
            x = self.SpatialGate(x)
        return x


def build(config):
    return CBAM(**config)


def maps(module):
    out = {"channel": module.ChannelGate.last_gate}
    if not module.no_spatial:
        out["spatial"] = module.SpatialGate.last_gate
    return out


PARITY_CASES = [
    ({"gate_channels": 64}, (1, 64, 56, 56)),
    ({"gate_channels": 32}, (2, 32, 7, 5)),
    ({"gate_channels": 256}, (1, 256, 14, 14)),
    ({"gate_channels": 24, "reduction_ratio": 4, "pool_types": ["avg", "max", "lp", "lse"]},
     (2, 24, 9, 13)),
    ({"gate_channels": 16, "reduction_ratio": 3, "pool_types": ["lse"]}, (2, 16, 3, 2)),
    ({"gate_channels": 20, "reduction_ratio": 2, "pool_types": ["lp", "avg"],
      "no_spatial": True}, (2, 20, 6, 11)),
    ({"gate_channels": 8, "reduction_ratio": 1, "pool_types": ["max", "max"]}, (2, 8, 1, 1)),
    # gate_channels // reduction_ratio == 0 is valid in the reference: Linear(8, 0) and
    # Linear(0, 8), so the channel gate is sigmoid(number of pools * the second bias).
    ({"gate_channels": 8}, (2, 8, 5, 3)),
    ({"gate_channels": 12, "reduction_ratio": 5, "no_spatial": True}, (3, 12, 1, 4)),
]

BAD_CONFIGS = [
    ({}, "gate_channels"),
    ({"gate_channels": 0}, "gate_channels"),
    ({"gate_channels": 16, "reduction_ratio": 0}, "reduction_ratio"),
    ({"gate_channels": 16, "reduction_ratio": -4}, "reduction_ratio"),
    ({"gate_channels": 16, "pool_types": ["avg", "median"]}, "median"),
    ({"gate_channels": 16, "pool_types": []}, "pool_types"),
    ({"gate_channels": 16, "pool_types": "avg"}, "pool_types"),
    ({"gate_channels": 16, "no_spatial": 2}, "no_spatial"),
    ({"gate_channels": 16, "reduction": 4}, "reduction"),
]
