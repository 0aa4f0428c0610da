"""BAM (Park et al., BMVC 2018), as BAM in Jongchan/attention-module MODELS/bam.py, with the two
decisions of the project's clarifications:

- the channel pool is the mean over the whole H x W plane (the reference's avg_pool2d with an
  H x H window fails unless H <= W < 2H and otherwise averages only the left H x H square);
- the constructor's undefined `gate_activation` is left out.

Channel part Mc (N x C): mean over H x W, Linear(C, C/16), BatchNorm1d, ReLU, Linear(C/16, C).
Spatial part Ms (N x 1 x H x W): 1x1 conv C -> C/16 + BN + ReLU, two 3x3 convs C/16 -> C/16 with
dilation 4 and padding 4, each + BN + ReLU, 1x1 conv C/16 -> 1; every conv with bias.
y = x * (1 + sigmoid(Mc * Ms)) -- a product of the broadcast parts, as the code has it (the paper
writes a sum). gate_channel is the only argument; C // 16 must be >= 1 (the reference fails with
fewer). Maps: "channel" Mc (N x C x 1 x 1), "spatial" Ms (N x 1 x H x W), both before the sigmoid.
"""
import torch
from torch import nn

NAME = "bam"

REDUCTION = 16
DILATION = 4


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.size(0), -1)


class ChannelGate(nn.Module):
    def __init__(self, gate_channel):
        super().__init__()
        cr = gate_channel // REDUCTION
        self.gate_c = nn.Sequential()
        self.gate_c.add_module("flatten", Flatten())
        self.gate_c.add_module("gate_c_fc_0", nn.Linear(gate_channel, cr))
        self.gate_c.add_module("gate_c_bn_1", nn.BatchNorm1d(cr))
        self.gate_c.add_module("gate_c_relu_1", nn.ReLU())
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(cr, gate_channel))

    def forward(self, x):
        return self.gate_c(x.mean(dim=(2, 3)))[:, :, None, None]


class SpatialGate(nn.Module):
    def __init__(self, gate_channel):
        super().__init__()
        cr = gate_channel // REDUCTION
        self.gate_s = nn.Sequential()
        self.gate_s.add_module("gate_s_conv_reduce0", nn.Conv2d(gate_channel, cr, 1))
        self.gate_s.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(cr))
        self.gate_s.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(2):
            self.gate_s.add_module(f"gate_s_conv_di_{i}",
                                   nn.Conv2d(cr, cr, 3, padding=DILATION, dilation=DILATION))
            self.gate_s.add_module(f"gate_s_bn_di_{i}", nn.BatchNorm2d(cr))
            self.gate_s.add_module(f"gate_s_relu_di_{i}", nn.ReLU())
        self.gate_s.add_module("gate_s_conv_final", nn.Conv2d(cr, 1, 1))

    def forward(self, x):
        return self.gate_s(x)


class BAM(nn.Module):
    def __init__(self, gate_channel):
        super().__init__()
        if gate_channel // REDUCTION < 1:
            raise ValueError("gate_channel // 16 must be >= 1")
        self.channel_att = ChannelGate(gate_channel)
        self.spatial_att = SpatialGate(gate_channel)
        self.last_channel = None
        self.last_spatial = None

    def forward(self, x):
        mc = self.channel_att(x)
        ms = self.spatial_att(x)
        self.last_channel = mc.detach()
        self.last_spatial = ms.detach()
        return (1 + torch.sigmoid(mc * ms)) * x


def build(config):
    return BAM(**config)


def maps(module):
    return {"channel": module.last_channel, "spatial": module.last_spatial}


PARITY_CASES = [
    ({"gate_channel": 64}, (2, 64, 56, 56)),
    ({"gate_channel": 16}, (2, 16, 7, 5)),
    ({"gate_channel": 32}, (2, 32, 9, 13)),
    # Maps smaller than the dilation: every 3x3 tap but the centre falls on the padding.
    ({"gate_channel": 48}, (3, 48, 1, 1)),
    ({"gate_channel": 40}, (2, 40, 3, 2)),
    ({"gate_channel": 256}, (2, 256, 14, 14)),
    # H > W and W >= 2H: shapes the reference's H x H pooling window gets wrong or fails on.
    ({"gate_channel": 17}, (2, 17, 11, 4)),
    ({"gate_channel": 20}, (2, 20, 3, 10)),
]

BAD_CONFIGS = [
    ({}, "gate_channel"),
    ({"gate_channel": 0}, "gate_channel"),
    ({"gate_channel": -32}, "gate_channel"),
    ({"gate_channel": 15}, "gate_channel"),
    ({"gate_channel": 64, "reduction_ratio": 8}, "reduction_ratio"),
    ({"gate_channel": 64, "gate_activation": "relu"}, "gate_activation"),
]
