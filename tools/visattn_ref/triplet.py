"""Triplet attention (Misra, Nalamada, Arasanipalai, Hou, WACV 2021, arXiv:2010.03045).

State-dict keys and constructor arguments follow TripletAttention in landskape-ai/triplet-attention
(MODELS/triplet_attention.py): TripletAttention(gate_channels, reduction_ratio=16,
pool_types=["avg", "max"], no_spatial=False). Only no_spatial has an effect; the other three are
accepted and unused, as in that file (gate_channels is still required, and the input's channel
count is not checked against it).

Three gates, each a Z-pool (channel 0 = max, channel 1 = mean over one axis), a 7x7 conv 2->1
without bias (padding 3), an eval BatchNorm (eps 1e-5) and a sigmoid:
  ChannelGateH  pools over H, gate over the (C, W) plane  -> map "gate_cw", N x 1 x C x W
  ChannelGateW  pools over W, gate over the (H, C) plane  -> map "gate_hc", N x 1 x H x C
  SpatialGate   pools over C, gate over the (H, W) plane  -> map "spatial", N x 1 x H x W
The official file permutes x so that the pooled axis is dim 1 (x.permute(0, 2, 1, 3) and
x.permute(0, 3, 2, 1)); pooling the original layout along that axis gives the same planes, in the
same (row, column) order, which is what is done here.
out = 1/3 * (x*g_hw + x*g_cw + x*g_hc), or 1/2 * (x*g_cw + x*g_hc) when no_spatial.
"""
import torch
from torch import nn

NAME = "triplet"


class _ConvBN(nn.Module):
    """The official BasicConv(2, 1, 7, padding=3, relu=False): conv without bias, then BN."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=7, stride=1, padding=3, bias=False)
        # momentum 0.01 as in the official file; it only matters in training.
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01, affine=True)

    def forward(self, x):
        return self.bn(self.conv(x))


class _Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = _ConvBN()

    def forward(self, pooled):
        """pooled: N x 2 x A x B (max, mean) -> sigmoid gate N x 1 x A x B."""
        return torch.sigmoid(self.spatial(pooled))


def _zpool(x, dim):
    # Official ChannelPool: cat((max, mean)) -- max first.
    return torch.stack((torch.amax(x, dim=dim), torch.mean(x, dim=dim)), dim=1)


class TripletAttention(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16, pool_types=("avg", "max"),
                 no_spatial=False):
        super().__init__()
        self.gate_channels = gate_channels  # unused, as in the official file
        self.ChannelGateH = _Gate()
        self.ChannelGateW = _Gate()
        self.no_spatial = no_spatial
        if not no_spatial:
            self.SpatialGate = _Gate()
        self.last_maps = {}

    def forward(self, x):
        g_cw = self.ChannelGateH(_zpool(x, 2))  # N x 1 x C x W
        g_hc = self.ChannelGateW(_zpool(x, 3).transpose(2, 3))  # N x 1 x H x C
        # Broadcast each gate back over the axis it pooled.
        out_cw = x * g_cw.transpose(1, 2)  # N x C x 1 x W
        out_hc = x * g_hc.permute(0, 3, 2, 1)  # N x C x H x 1
        maps = {"gate_cw": g_cw.detach(), "gate_hc": g_hc.detach()}
        if not self.no_spatial:
            g_hw = self.SpatialGate(_zpool(x, 1))  # N x 1 x H x W
            out = (1 / 3) * (x * g_hw + out_cw + out_hc)
            maps["spatial"] = g_hw.detach()
        else:
            out = (1 / 2) * (out_cw + out_hc)
        self.last_maps = maps
        return out


def build(config: dict) -> nn.Module:
    return TripletAttention(**config)


def maps(module: nn.Module) -> dict:
    return dict(module.last_maps)


PARITY_CASES = [
    ({"gate_channels": 16}, (2, 16, 9, 7)),
    ({"gate_channels": 64}, (1, 64, 14, 14)),
    ({"gate_channels": 8, "no_spatial": True}, (2, 8, 5, 11)),
    ({"gate_channels": 32, "reduction_ratio": 4, "pool_types": ["avg"]}, (2, 32, 3, 2)),
    # gate_channels is unused by the reference: any input channel count runs.
    ({"gate_channels": 5}, (2, 3, 13, 6)),
    ({"gate_channels": 1}, (2, 1, 1, 1)),
    ({"gate_channels": 4, "no_spatial": False}, (1, 4, 1, 9)),
    ({"gate_channels": 24, "no_spatial": True}, (2, 24, 8, 1)),
    ({"gate_channels": 7}, (2, 7, 17, 23)),
    # Large enough for the C code's parallel loops.
    ({"gate_channels": 64}, (2, 64, 20, 33)),
]

BAD_CONFIGS = [
    ({}, "gate_channels"),
    ({"gate_channels": 16, "no_spatial": "yes"}, "no_spatial"),
    ({"gate_channels": 16, "kernel_size": 5}, "kernel_size"),
]
