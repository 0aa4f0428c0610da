"""SimAM (Yang et al., ICML 2021), as simam_module in ZjjConan/SimAM
networks/attentions/simam_module.py.

Per (n, c) plane with M = H * W: d = (x - mean)^2, v = sum(d) / (M - 1),
e_inv = d / (4 * (v + e_lambda)) + 0.5 (the inverse of the minimal energy), y = x * sigmoid(e_inv).
No parameters; `channels` is accepted and unused, as in the reference. A 1 x 1 plane (M - 1 = 0,
NaN in the reference) is a shape error here.
Maps: "element" the weight of each element (N x C x H x W); "spatial" e_inv averaged over
channels (N x 1 x H x W).
"""
import torch
from torch import nn

NAME = "simam"


class SimAM(nn.Module):
    def __init__(self, channels=None, e_lambda=1e-4):
        super().__init__()
        self.e_lambda = e_lambda
        self.last_weight = None
        self.last_energy = None

    def forward(self, x):
        m = x.shape[2] * x.shape[3]
        if m < 2:
            raise ValueError("simam needs H * W >= 2")
        d = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
        e_inv = d / (4 * (d.sum(dim=(2, 3), keepdim=True) / (m - 1) + self.e_lambda)) + 0.5
        weight = torch.sigmoid(e_inv)
        self.last_weight = weight.detach()
        self.last_energy = e_inv.mean(dim=1, keepdim=True).detach()
        return x * weight


def build(config):
    return SimAM(**config)


def maps(module):
    return {"element": module.last_weight, "spatial": module.last_energy}


PARITY_CASES = [
    ({}, (2, 64, 56, 56)),
    ({"channels": 16}, (2, 16, 7, 5)),
    ({"channels": None, "e_lambda": 0.1}, (2, 8, 9, 13)),
    ({"e_lambda": 0.0}, (3, 5, 3, 2)),
    ({"channels": 256, "e_lambda": 1e-3}, (2, 256, 14, 14)),
    # The smallest planes the block takes: two positions.
    ({}, (2, 4, 1, 2)),
    ({"e_lambda": 2}, (2, 3, 2, 1)),
    ({}, (1, 1, 11, 4)),
]

# (config, input shape, expected words): a 1 x 1 plane leaves H * W - 1 = 0 to divide by.
BAD_SHAPES = [
    ({}, (2, 4, 1, 1), "H * W must be >= 2"),
    ({"channels": 3}, (1, 3, 1, 1), "H * W must be >= 2"),
]

BAD_CONFIGS = [
    ({"e_lambda": -1e-4}, "e_lambda"),
    ({"e_lambda": "small"}, "e_lambda"),
    ({"channels": 0}, "channels"),
    ({"channels": -4}, "channels"),
    ({"channels": "all"}, "channels"),
    ({"lambda": 1e-4}, "lambda"),
]
