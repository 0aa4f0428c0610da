"""Shuffle attention, SA-Net (Zhang and Yang, ICASSP 2021, arXiv:2102.00240).

State-dict keys and constructor arguments follow sa_layer in wofmanaf/SA-Net
(models/sa_resnet.py): sa_layer(channel, groups=64); parameters cweight, cbias, sweight, sbias of
shape 1 x channel//(2*groups) x 1 x 1, and gn = GroupNorm(channel//(2*groups),
channel//(2*groups)) (one channel per GroupNorm group, eps 1e-5).

x is viewed as (N*groups) x k x H x W with k = channel/groups and chunked into a channel half
x_0 (the first ceil(k/2) channels) and a spatial half x_1 (the last floor(k/2)):
  x_0 * sigmoid(cweight * mean_HW(x_0) + cbias)
  x_1 * sigmoid(sweight * gn(x_1) + sbias)
then concatenated back in place, viewed as N x C x H x W and channel-shuffled with 2 groups
(channel s*C/2 + a goes to a*2 + s).

What the official module can run with an input of `channel` channels: channel divisible by
2*groups; or k = 3 with an even channel (then x_0 has 2 channels, x_1 one, and the single cweight
and cbias broadcast over both channels of x_0). Everything else fails in its constructor or forward.

Maps: "channel" = the channel half's gates, N x (groups*ceil(k/2)) x 1 x 1 in (group, channel)
order; "spatial" = the spatial half's gates averaged over all groups and channels, N x 1 x H x W.
"""
import torch
from torch import nn

NAME = "shuffle"


class ShuffleAttention(nn.Module):
    def __init__(self, channel, groups=64):
        super().__init__()
        self.groups = groups
        m = channel // (2 * groups)
        self.cweight = nn.Parameter(torch.zeros(1, m, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, m, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, m, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, m, 1, 1))
        self.gn = nn.GroupNorm(m, m)
        self.last_maps = {}

    def forward(self, x):
        n, c, h, w = x.shape
        g = self.groups
        xg = x.reshape(n * g, c // g, h, w)
        c0 = (c // g + 1) // 2  # torch.chunk(2) puts the larger half first
        x0, x1 = xg[:, :c0], xg[:, c0:]
        gate_c = torch.sigmoid(self.cweight * x0.mean(dim=(2, 3), keepdim=True) + self.cbias)
        gate_s = torch.sigmoid(self.sweight * self.gn(x1) + self.sbias)
        out = torch.cat((x0 * gate_c, x1 * gate_s), dim=1).reshape(n, c, h, w)
        # Channel shuffle with 2 groups: (N, 2, C/2, H, W) -> (N, C/2, 2, H, W).
        out = out.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        self.last_maps = {
            "channel": gate_c.reshape(n, -1, 1, 1).detach(),
            "spatial": gate_s.reshape(n, -1, h, w).mean(dim=1, keepdim=True).detach(),
        }
        return out


def build(config: dict) -> nn.Module:
    return ShuffleAttention(**config)


def maps(module: nn.Module) -> dict:
    return dict(module.last_maps)


PARITY_CASES = [
    ({"channel": 128}, (2, 128, 7, 5)),
    ({"channel": 256}, (1, 256, 14, 14)),
    ({"channel": 64, "groups": 8}, (2, 64, 9, 13)),
    ({"channel": 48, "groups": 4}, (2, 48, 3, 2)),
    ({"channel": 16, "groups": 1}, (2, 16, 1, 1)),
    ({"channel": 12, "groups": 6}, (2, 12, 1, 8)),
    # channel/groups = 3: x_0 has 2 channels sharing one cweight/cbias.
    ({"channel": 192}, (2, 192, 5, 3)),
    ({"channel": 6, "groups": 2}, (2, 6, 4, 4)),
    ({"channel": 40, "groups": 2}, (1, 40, 31, 29)),
]

BAD_CONFIGS = [
    ({}, "channel"),
    ({"channel": 64}, "channel"),                 # < 2*groups: GroupNorm(0, 0) in the constructor
    ({"channel": 100, "groups": 8}, "divisible"),  # reshape to (N*8, 12.5, H, W) fails
    ({"channel": 80, "groups": 16}, "channel"),   # k = 5: 3-channel x_0 against a 2-channel cweight
    ({"channel": 9, "groups": 3}, "channel"),     # k = 3 but an odd channel: channel_shuffle fails
    ({"channel": 64, "groups": 0}, "groups"),
    ({"channel": 64, "groups": -4}, "groups"),
    ({"channel": 64, "groups": 4, "k_size": 3}, "k_size"),
]
