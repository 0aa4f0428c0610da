"""CBAM's spatial attention gate, as SpatialGate in Jongchan/attention-module MODELS/cbam.py.

Channel pool to 2 channels in the order [max over C, mean over C], a 7x7 conv (2 -> 1, padding 3,
no bias), BatchNorm2d(1, eps=1e-5, momentum=0.01, affine), no ReLU; gate = sigmoid of that,
y = x * gate. No constructor arguments.
"""
import torch
from torch import nn

NAME = "spatial"


class ConvBN(nn.Module):
    """The reference's BasicConv(2, 1, 7, padding=3, relu=False): conv without bias, then BN."""

    def __init__(self, kernel_size=7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01, affine=True)

    def forward(self, x):
        return self.bn(self.conv(x))


class SpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = ConvBN(7)
        self.last_gate = None

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        gate = torch.sigmoid(self.spatial(pooled))
        self.last_gate = gate.detach()
        return x * gate


def build(config):
    return SpatialGate(**config)


def maps(module):
    return {"spatial": module.last_gate}


PARITY_CASES = [
    ({}, (2, 16, 7, 5)),
    ({}, (1, 64, 56, 56)),
    ({}, (2, 3, 13, 9)),
    ({}, (2, 1, 1, 1)),
    ({}, (3, 5, 3, 2)),
    ({}, (1, 8, 2, 17)),
    ({}, (2, 256, 14, 14)),
]

BAD_CONFIGS = [
    ({"kernel_size": 7}, "kernel_size"),
    ({"gate_channels": 16}, "gate_channels"),
]
