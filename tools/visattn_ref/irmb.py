"""iRMB (inverted residual mobile block), as iRMB in zhangzjn/EMO model/emo.py.

    x0 = x
    x = norm(x)                                     BatchNorm2d(dim_in, eps=1e-6) if norm_in
    if attn_s:                                      window self-attention, then v
        pad x with zeros at the bottom/right to multiples of window_size (<= 0: one window = image)
        windows: n1 x n2 windows of ws x ws pixels; window (i, j) holds the pixels
                 (a * n1 + i, c * n2 + j), a, c < ws -- an interleaved grid, not a contiguous tile
        qk = conv1x1(x) (2 * dim_in channels: q = the first dim_in, k = the rest), heads of dim_head
        attn = softmax(q k^T * dim_head ** -0.5) over the keys of the window (padded keys included)
        attn_pre=False: out = attn @ v(x);  attn_pre=True: out = v(attn @ x)
        un-partition, crop to H x W
    else:
        x = v(x)                                    Identity when v_proj is False
    x = (x + conv_local(x)) if skip else conv_local(x)   depthwise dw_ks, BN(eps 1e-6), SiLU
    x = proj(x)                                     conv1x1, no bias
    return x0 + x if skip else x                    skip = has_skip and dim_in == dim_out and stride 1

Every conv is ConvNormAct (key prefix "<name>.conv."), padding ceil((k - stride) / 2) whatever the
dilation. qk and v are convs with bias=qkv_bias, no norm; v has act_layer; proj has no bias.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

NAME = "irmb"

BN_EPS = 1e-6  # EMO's get_norm uses eps=1e-6 for every norm


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class HardSigmoid(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.0) / 6.0


class HardSwish(nn.Module):
    def forward(self, x):
        return x * (F.relu6(x + 3.0) / 6.0)


class Mish(nn.Module):
    """timm 0.6.5's Mish: x.mul(F.softplus(x).tanh())."""

    def forward(self, x):
        return x.mul(F.softplus(x).tanh())


class HardMish(nn.Module):
    """timm 0.6.5's hard_mish as EMO builds it (inplace=True): x.mul_(0.5 * (x + 2).clamp(0, 2))."""

    def forward(self, x):
        return x * (0.5 * (x + 2).clamp(min=0, max=2))


# EMO's get_act names that visattn runs (the timm modules it names compute these functions).
ACTS = {
    "none": nn.Identity,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "swish": Swish,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "hsigmoid": HardSigmoid,
    "hswish": HardSwish,
    "tanh": nn.Tanh,
    "mish": Mish,
    "hmish": HardMish,
    "prelu": nn.PReLU,  # timm's PReLU: nn.PReLU(num_parameters=1, init=0.25), key "weight"
}


class LayerNorm2d(nn.Module):
    """EMO's LayerNorm2d: nn.LayerNorm over the channels of each pixel, held as .norm."""

    def __init__(self, channels, eps=BN_EPS):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


NORMS = {"bn_2d": lambda c: nn.BatchNorm2d(c, eps=BN_EPS), "none": lambda c: nn.Identity(),
         "ln_2d": LayerNorm2d, "in_2d": lambda c: nn.InstanceNorm2d(c, eps=BN_EPS)}


class SqueezeExcite(nn.Module):
    """timm 0.6.5's SqueezeExcite(in_chs, rd_ratio, act_layer) with its default sigmoid gate."""

    def __init__(self, in_chs, rd_ratio, act_layer):
        super().__init__()
        rd = round(in_chs * rd_ratio)
        self.conv_reduce = nn.Conv2d(in_chs, rd, 1, bias=True)
        self.act1 = ACTS[act_layer]()
        self.conv_expand = nn.Conv2d(rd, in_chs, 1, bias=True)

    def forward(self, x):
        s = self.conv_expand(self.act1(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(s)


class ConvNormAct(nn.Module):
    """EMO's ConvNormAct without its unused skip: conv, then norm ('bn_2d' or 'none'), then act."""

    def __init__(self, dim_in, dim_out, kernel_size, stride=1, dilation=1, groups=1, bias=False,
                 norm_layer="bn_2d", act_layer="relu"):
        super().__init__()
        padding = math.ceil((kernel_size - stride) / 2)
        self.conv = nn.Conv2d(dim_in, dim_out, kernel_size, stride, padding, dilation, groups, bias)
        self.norm = NORMS[norm_layer](dim_out)
        self.act = ACTS[act_layer]()

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


def partition(x, n1, n2):
    """B x C x (ws_h n1) x (ws_w n2) -> (B n1 n2) x C x ws_h x ws_w; pixel (a n1 + i, c n2 + j) goes
    to window (i, j), position (a, c)."""
    b, c, hp, wp = x.shape
    x = x.reshape(b, c, hp // n1, n1, wp // n2, n2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b * n1 * n2, c, hp // n1, wp // n2)


def unpartition(x, n1, n2):
    bw, c, wsh, wsw = x.shape
    x = x.reshape(bw // (n1 * n2), n1, n2, c, wsh, wsw).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(bw // (n1 * n2), c, wsh * n1, wsw * n2)


class iRMB(nn.Module):
    def __init__(self, dim_in, dim_out, norm_in=True, has_skip=True, exp_ratio=1.0,
                 norm_layer="bn_2d", act_layer="relu", v_proj=True, dw_ks=3, stride=1, dilation=1,
                 se_ratio=0.0, dim_head=64, window_size=7, attn_s=True, qkv_bias=False,
                 attn_drop=0.0, drop=0.0, drop_path=0.0, v_group=False, attn_pre=False):
        super().__init__()
        self.norm = NORMS[norm_layer](dim_in) if norm_in else nn.Identity()
        dim_mid = int(dim_in * exp_ratio)
        self.has_skip = (dim_in == dim_out and stride == 1) and has_skip
        self.attn_s = attn_s
        if attn_s:
            if dim_in % dim_head != 0:
                raise ValueError("dim_in must be divisible by dim_head")
            self.dim_head = dim_head
            self.window_size = window_size
            self.num_head = dim_in // dim_head
            self.scale = dim_head ** -0.5
            self.attn_pre = attn_pre
            self.qk = ConvNormAct(dim_in, 2 * dim_in, 1, bias=qkv_bias, norm_layer="none",
                                  act_layer="none")
            self.v = ConvNormAct(dim_in, dim_mid, 1, groups=self.num_head if v_group else 1,
                                 bias=qkv_bias, norm_layer="none", act_layer=act_layer)
        elif v_proj:
            self.v = ConvNormAct(dim_in, dim_mid, 1, bias=qkv_bias, norm_layer="none",
                                 act_layer=act_layer)
        else:
            self.v = nn.Identity()
        self.conv_local = ConvNormAct(dim_mid, dim_mid, dw_ks, stride=stride, dilation=dilation,
                                      groups=dim_mid, norm_layer="bn_2d", act_layer="silu")
        self.se = SqueezeExcite(dim_mid, se_ratio, act_layer) if se_ratio > 0.0 else nn.Identity()
        self.proj = ConvNormAct(dim_mid, dim_out, 1, norm_layer="none", act_layer="none")
        self.last_attention = None

    def window_attention(self, x):
        n, c, h, w = x.shape
        wsh, wsw = (h, w) if self.window_size <= 0 else (self.window_size, self.window_size)
        pad_b, pad_r = (-h) % wsh, (-w) % wsw
        x = F.pad(x, (0, pad_r, 0, pad_b))
        n1, n2 = (h + pad_b) // wsh, (w + pad_r) // wsw
        xw = partition(x, n1, n2)
        bw, length, heads = xw.shape[0], wsh * wsw, self.num_head

        def split_heads(t):  # Bw x (heads d) x ws x ws -> Bw x heads x L x d
            return t.reshape(bw, heads, -1, length).transpose(2, 3)

        qk = self.qk(xw)
        q, k = split_heads(qk[:, :c]), split_heads(qk[:, c:])
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        if self.attn_pre:
            out = attn @ split_heads(xw)
            out = self.v(out.transpose(2, 3).reshape(bw, -1, wsh, wsw))
        else:
            out = attn @ split_heads(self.v(xw))
            out = out.transpose(2, 3).reshape(bw, -1, wsh, wsw)

        # Map: for each key, the mean over heads and over the window's real (unpadded) queries
        # of the softmax weight it receives.
        real = F.pad(torch.ones(1, 1, h, w), (0, pad_r, 0, pad_b))
        real = partition(real, n1, n2).reshape(1, n1 * n2, length)  # per window, per query
        real = real.repeat(n, 1, 1).reshape(bw, 1, length, 1)
        received = (attn * real).sum(dim=2) / real.sum(dim=2)  # Bw x heads x L (keys)
        received = received.mean(dim=1).reshape(bw, 1, wsh, wsw)
        self.last_attention = unpartition(received, n1, n2)[:, :, :h, :w].detach()

        return unpartition(out, n1, n2)[:, :, :h, :w]

    def forward(self, x):
        shortcut = x
        x = self.norm(x)
        x = self.window_attention(x) if self.attn_s else self.v(x)
        x = x + self.se(self.conv_local(x)) if self.has_skip else self.se(self.conv_local(x))
        x = self.proj(x)
        return shortcut + x if self.has_skip else x


def build(config):
    return iRMB(**config)


def maps(module):
    return {"attention": module.last_attention} if module.attn_s else {}


PARITY_CASES = [
    ({"dim_in": 64, "dim_out": 64}, (2, 64, 9, 13)),
    ({"dim_in": 128, "dim_out": 128, "dim_head": 32, "exp_ratio": 2.0, "qkv_bias": True},
     (1, 128, 15, 8)),
    ({"dim_in": 64, "dim_out": 64, "dim_head": 16}, (2, 64, 3, 2)),  # smaller than the window
    ({"dim_in": 32, "dim_out": 48, "dim_head": 16, "exp_ratio": 1.5, "act_layer": "silu",
      "qkv_bias": True}, (2, 32, 7, 14)),
    ({"dim_in": 64, "dim_out": 64, "dim_head": 32, "window_size": 4, "act_layer": "gelu",
      "attn_pre": True, "exp_ratio": 3.0, "dw_ks": 5, "qkv_bias": True}, (2, 64, 9, 11)),
    ({"dim_in": 48, "dim_out": 96, "stride": 2, "exp_ratio": 2.0, "dim_head": 24, "v_group": True,
      "window_size": 3, "qkv_bias": True, "act_layer": "relu6"}, (2, 48, 10, 7)),
    ({"dim_in": 32, "dim_out": 32, "attn_s": False, "exp_ratio": 4.0, "qkv_bias": True,
      "act_layer": "hswish"}, (2, 32, 11, 6)),
    ({"dim_in": 24, "dim_out": 24, "attn_s": False, "v_proj": False, "dw_ks": 5},
     (2, 24, 6, 5)),
    ({"dim_in": 16, "dim_out": 32, "attn_s": False, "v_proj": False, "norm_in": False,
      "stride": 2, "dilation": 2, "act_layer": "none"}, (2, 16, 9, 8)),
    ({"dim_in": 32, "dim_out": 32, "dim_head": 8, "window_size": 0, "has_skip": False,
      "act_layer": "sigmoid", "qkv_bias": True}, (2, 32, 5, 6)),
    ({"dim_in": 32, "dim_out": 32, "dim_head": 16, "norm_layer": "none"}, (1, 32, 1, 1)),
    ({"dim_in": 32, "dim_out": 32, "dim_head": 16, "act_layer": "mish", "qkv_bias": True},
     (2, 32, 9, 5)),
    ({"dim_in": 24, "dim_out": 24, "attn_s": False, "act_layer": "tanh", "exp_ratio": 2.0},
     (2, 24, 7, 6)),
    ({"dim_in": 16, "dim_out": 24, "dim_head": 8, "act_layer": "hmish", "stride": 2,
      "window_size": 3}, (2, 16, 11, 9)),
    # A window far larger than the input: 1598 zero-padded keys share one logit, and the softmax
    # sums 1600 terms per query.
    ({"dim_in": 4, "dim_out": 4, "dim_head": 4, "window_size": 40}, (1, 4, 1, 2)),
    # Every norm, SqueezeExcite (rd = round(mid * se_ratio), half to even), PReLU.
    ({"dim_in": 32, "dim_out": 32, "dim_head": 16, "norm_layer": "ln_2d", "se_ratio": 0.25,
      "qkv_bias": True}, (2, 32, 9, 7)),
    ({"dim_in": 24, "dim_out": 24, "attn_s": False, "norm_layer": "in_2d", "se_ratio": 0.125,
      "act_layer": "prelu", "exp_ratio": 2.0}, (2, 24, 7, 5)),
    ({"dim_in": 16, "dim_out": 16, "dim_head": 8, "act_layer": "prelu", "attn_pre": True,
      "norm_layer": "ln_2d", "window_size": 3}, (2, 16, 8, 11)),
    ({"dim_in": 16, "dim_out": 32, "attn_s": False, "v_proj": False, "norm_layer": "ln_2d",
      "se_ratio": 1.0, "act_layer": "hswish", "stride": 2}, (2, 16, 9, 6)),
    ({"dim_in": 20, "dim_out": 20, "attn_s": False, "v_proj": False, "norm_layer": "in_2d",
      "se_ratio": 0.5, "act_layer": "gelu", "dw_ks": 5}, (1, 20, 6, 6)),
    ({"dim_in": 16, "dim_out": 16, "attn_s": False, "norm_in": False, "exp_ratio": 2.5,
      "se_ratio": 0.25, "act_layer": "tanh", "qkv_bias": True}, (2, 16, 5, 5)),
    ({"dim_in": 8, "dim_out": 8, "dim_head": 4, "window_size": 33}, (2, 8, 3, 2)),
]

BAD_CONFIGS = [
    ({}, "dim_in"),
    ({"dim_in": 64}, "dim_out"),
    ({"dim_in": 48, "dim_out": 48}, "dim_head"),
    ({"dim_in": 64, "dim_out": 64, "dim_head": 32, "se_ratio": 0.001}, "se_ratio"),
    ({"dim_in": 64, "dim_out": 64, "dim_head": 32, "se_ratio": -1}, "se_ratio"),
    ({"dim_in": 64, "dim_out": 64, "norm_layer": "gn"}, "fails in the official"),
    ({"dim_in": 64, "dim_out": 64, "norm_layer": "batchnorm"}, "norm_layer"),
    ({"dim_in": 64, "dim_out": 64, "act_layer": "softplus"}, "act_layer"),
    ({"dim_in": 64, "dim_out": 64, "act_layer": "leaky"}, "act_layer"),
    ({"dim_in": 64, "dim_out": 64, "exp_ratio": 1.1, "dim_head": 16}, "exp_ratio"),  # 70 % 4
    ({"dim_in": 64, "dim_out": 64, "exp_ratio": 1.1, "dim_head": 16, "attn_pre": True,
      "v_group": True}, "v_group"),
    ({"dim_in": 64, "dim_out": 64, "dim_head": 0}, "dim_head"),
    ({"dim_in": 64, "dim_out": 32, "dw_ks": 1, "stride": 4}, "padding"),
    ({"dim_in": 64, "dim_out": 64, "attn_s": False, "v_proj": False, "exp_ratio": 2.0}, "v_proj"),
    ({"dim_in": 64, "dim_out": 64, "dilation": 2}, "has_skip"),
    ({"dim_in": 64, "dim_out": 64, "dw_ks": 4}, "has_skip"),
    ({"dim_in": 64, "dim_out": 64, "window": 7}, "window"),
    ({"dim_in": 64, "dim_out": 64, "drop": 1.5}, "drop"),
]
