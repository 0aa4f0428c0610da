"""ECA (Wang et al., ECA-Net, CVPR 2020), as eca_layer in BangguWu/ECANet models/eca_module.py.

gate = sigmoid(conv1d_k(mean of x over H x W)) along the channel axis, y = x * gate. The conv is
Conv1d(1, 1, k_size, padding=(k_size - 1) // 2, bias=False) sliding over the C channel means;
k_size must be odd (an even one gives C - 1 outputs and the reference fails at the product).
`channel` is required and unused, as in the reference.
"""
import torch
import torch.nn.functional as F
from torch import nn

NAME = "eca"


class ChannelConv(nn.Conv1d):
    """The reference's Conv1d(1, 1, k_size, padding=(k_size - 1) // 2, bias=False), run as a
    1 x k conv2d on an N x 1 x 1 x C view: the same numbers, and torch.profiler counts its MACs
    (it has no FLOP formula for conv1d)."""

    def __init__(self, k_size):
        super().__init__(1, 1, k_size, padding=(k_size - 1) // 2, bias=False)

    def forward(self, y):
        return F.conv2d(y.unsqueeze(2), self.weight.unsqueeze(2),
                        padding=(0, self.padding[0])).squeeze(2)


class ECALayer(nn.Module):
    def __init__(self, channel, k_size=3):
        super().__init__()
        if k_size < 1 or k_size % 2 == 0:
            raise ValueError("k_size must be odd and >= 1")
        self.conv = ChannelConv(k_size)
        self.last_gate = None

    def forward(self, x):
        n, c = x.shape[:2]
        z = self.conv(x.mean(dim=(2, 3)).reshape(n, 1, c))
        gate = torch.sigmoid(z).reshape(n, c, 1, 1)
        self.last_gate = gate.detach()
        return x * gate


def build(config):
    return ECALayer(**config)


def maps(module):
    return {"channel": module.last_gate}


PARITY_CASES = [
    ({"channel": 64}, (2, 64, 56, 56)),
    ({"channel": 16}, (2, 16, 7, 5)),
    ({"channel": 32, "k_size": 5}, (2, 32, 9, 13)),
    ({"channel": 24, "k_size": 7}, (3, 24, 1, 1)),
    ({"channel": 256, "k_size": 9}, (2, 256, 14, 14)),
    # A kernel wider than the channel count: most taps fall on the zero padding.
    ({"channel": 3, "k_size": 9}, (2, 3, 5, 8)),
    ({"channel": 1, "k_size": 1}, (2, 1, 3, 2)),
    ({"channel": 12}, (2, 12, 1, 7)),
]

BAD_CONFIGS = [
    ({}, "channel"),
    ({"channel": 16, "k_size": 4}, "k_size"),
    ({"channel": 16, "k_size": 0}, "k_size"),
    ({"channel": 16, "k_size": -3}, "k_size"),
    ({"channel": 0}, "channel"),
    ({"channel": -8}, "channel"),
    ({"channel": 16, "k_size": 2.5}, "k_size"),
    ({"channel": 16, "kernel_size": 3}, "kernel_size"),
]
