"""A^2-Nets double attention (Chen et al., NeurIPS 2018, arXiv:1810.11579).

State-dict keys and constructor arguments follow DoubleAttention in xmu-xiaoma666/
External-Attention-pytorch (model/attention/A2Atttention.py): in_channels, c_m, c_n (required),
reconstruct=True; convA, convB, convV and conv_reconstruct are 1x1 convs with bias.

The softmax axes follow the paper, not that file (docs/blocks/double_attention.md): its master
branch calls F.softmax without dim (PyTorch then picks dim 0, the batch axis, for a 3-D tensor) and
an unmerged later revision uses dim=1 (c_n) for both. Here the gathering maps are a softmax of
convB(x) over the H*W positions and the distribution vectors a softmax of convV(x) over c_n.
"""
import torch
from torch import nn

NAME = "double_attention"


class DoubleAttention(nn.Module):
    def __init__(self, in_channels, c_m, c_n, reconstruct=True):
        super().__init__()
        self.in_channels = in_channels
        self.c_m = c_m
        self.c_n = c_n
        self.reconstruct = reconstruct
        self.convA = nn.Conv2d(in_channels, c_m, 1)
        self.convB = nn.Conv2d(in_channels, c_n, 1)
        self.convV = nn.Conv2d(in_channels, c_n, 1)
        if reconstruct:
            self.conv_reconstruct = nn.Conv2d(c_m, in_channels, 1)
        self.last_maps = {}

    def forward(self, x):
        n, c, h, w = x.shape
        assert c == self.in_channels
        feats = self.convA(x).reshape(n, self.c_m, h * w)
        # Paper eq. (2): each of the c_n gathering maps is a distribution over positions.
        gather = torch.softmax(self.convB(x).reshape(n, self.c_n, h * w), dim=2)
        # Paper eq. (3): at each position, a distribution over the c_n global descriptors.
        distribute = torch.softmax(self.convV(x).reshape(n, self.c_n, h * w), dim=1)
        descriptors = torch.bmm(feats, gather.transpose(1, 2))  # n x c_m x c_n
        z = torch.bmm(descriptors, distribute).reshape(n, self.c_m, h, w)
        if self.reconstruct:
            z = self.conv_reconstruct(z)
        gmap = gather.reshape(n, self.c_n, h, w)
        self.last_maps = {
            "gather": gmap.detach(),
            "distribute": distribute.reshape(n, self.c_n, h, w).detach(),
            "spatial": gmap.mean(dim=1, keepdim=True).detach(),
        }
        return z


def build(config: dict) -> nn.Module:
    return DoubleAttention(**config)


def maps(module: nn.Module) -> dict:
    return dict(module.last_maps)


PARITY_CASES = [
    ({"in_channels": 16, "c_m": 8, "c_n": 6}, (2, 16, 7, 5)),
    ({"in_channels": 64, "c_m": 16, "c_n": 16}, (2, 64, 14, 14)),
    ({"in_channels": 12, "c_m": 5, "c_n": 7, "reconstruct": False}, (2, 12, 5, 9)),
    ({"in_channels": 32, "c_m": 8, "c_n": 12, "reconstruct": True}, (1, 32, 11, 13)),
    # c_n much larger than c_m: the C code keeps conv_reconstruct separate instead of folding it.
    ({"in_channels": 8, "c_m": 3, "c_n": 24}, (2, 8, 6, 4)),
    ({"in_channels": 8, "c_m": 20, "c_n": 5}, (2, 8, 9, 3)),
    ({"in_channels": 4, "c_m": 4, "c_n": 4}, (2, 4, 1, 1)),
    ({"in_channels": 6, "c_m": 2, "c_n": 1}, (2, 6, 3, 2)),
    ({"in_channels": 1, "c_m": 1, "c_n": 1, "reconstruct": False}, (1, 1, 1, 7)),
    ({"in_channels": 16, "c_m": 8, "c_n": 4}, (1, 16, 31, 29)),
]

BAD_CONFIGS = [
    ({"c_m": 4, "c_n": 4}, "in_channels"),
    ({"in_channels": 8, "c_n": 4}, "c_m"),
    ({"in_channels": 8, "c_m": 4}, "c_n"),
    ({"in_channels": 0, "c_m": 4, "c_n": 4}, "in_channels"),
    ({"in_channels": 8, "c_m": 0, "c_n": 4}, "c_m"),
    ({"in_channels": 8, "c_m": 4, "c_n": -2}, "c_n"),
    ({"in_channels": 8, "c_m": 4, "c_n": 4, "reconstruct": "yes"}, "reconstruct"),
    ({"in_channels": 8, "c_m": 4, "c_n": 4, "reduction": 2}, "reduction"),
]
