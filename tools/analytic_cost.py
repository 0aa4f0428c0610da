#!/usr/bin/python3
"""Closed-form parameter and MAC counts of every block, from the papers and docs/blocks/*.md.

    cost(block, config, (N, C, H, W)) -> (params, macs)

Written from the definitions, independently of the C library's cost functions and of PyTorch's
module parameters, so that tests/py_bench.py can check `visattn bench` and `visattn info` against
a third count. Conventions (docs/cost.md): params = learnable parameters (BN running statistics
are buffers, not parameters); MACs = multiply-accumulates of convs, linears and matrix products
only, N·C_out·H_out·W_out·(C_in/groups)·k_h·k_w for a conv, batch·M·N·K for a matmul.

    /usr/bin/python3 tools/analytic_cost.py irmb '{"dim_in": 64, "dim_out": 64}' 1,64,56,56
"""
import json
import math
import sys

YARDSTICK = "conv3x3_bn_relu"


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_bn_relu(cfg, n, c, h, w):
    """nn.Conv2d(**cfg) + BatchNorm2d(C_out) + ReLU: the yardstick of `visattn bench`."""
    cin, cout = cfg["in_channels"], cfg["out_channels"]
    kh, kw = _pair(cfg["kernel_size"])
    sh, sw = _pair(cfg.get("stride", 1))
    ph, pw = _pair(cfg.get("padding", 0))
    dh, dw = _pair(cfg.get("dilation", 1))
    groups = cfg.get("groups", 1)
    bias = cfg.get("bias", True)
    assert c == cin, f"input has {c} channels, the conv takes {cin}"
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    weights = cout * (cin // groups) * kh * kw
    params = weights + (cout if bias else 0) + 2 * cout  # BN weight and bias
    return params, n * oh * ow * weights


def se(cfg, n, c, h, w):
    """Hu et al., SE: avgpool, fc1 (1x1 conv C->S, bias), act, fc2 (S->C, bias), gate."""
    s = cfg["squeeze_channels"]
    assert c == cfg["input_channels"]
    return 2 * c * s + s + c, 2 * n * c * s


def spatial(cfg, n, c, h, w):
    """CBAM's spatial gate: [max, mean] over C, 7x7 conv 2->1 without bias, BN(1), sigmoid."""
    return 2 * 49 + 2, n * h * w * 2 * 49


def cbam(cfg, n, c, h, w):
    """Woo et al., CBAM: a shared MLP C->C//r->C (Linear layers with bias) run once per pool
    type, then the spatial gate unless no_spatial."""
    assert c == cfg["gate_channels"]
    cr = c // cfg.get("reduction_ratio", 16)
    pools = len(cfg.get("pool_types", ["avg", "max"]))
    gate = 0 if cfg.get("no_spatial", False) else 1
    sp_params, sp_macs = spatial({}, n, c, h, w)
    params = (c * cr + cr) + (cr * c + c) + gate * sp_params
    macs = pools * n * (c * cr + cr * c) + gate * sp_macs
    return params, macs


def triplet(cfg, n, c, h, w):
    """Misra et al., triplet attention: a 7x7 2->1 conv (no bias) + BN(1) gate on each of the
    (C, W), (H, C) and, unless no_spatial, (H, W) planes."""
    planes = [c * w, h * c] + ([] if cfg.get("no_spatial", False) else [h * w])
    return 100 * len(planes), sum(n * p * 2 * 49 for p in planes)


def shuffle(cfg, n, c, h, w):
    """Zhang and Yang, SA-Net: cweight, cbias, sweight, sbias and GroupNorm's affine, each of
    C // (2G) values; no convs or matmuls."""
    assert c == cfg["channel"]
    return 6 * (c // (2 * cfg.get("groups", 64))), 0


def double_attention(cfg, n, c, h, w):
    """Chen et al., A^2-Nets: 1x1 convs A (C->c_m), B, V (C->c_n), all with bias; G = A g^T
    (c_m x P times P x c_n), Z = G d (c_m x c_n times c_n x P); optional 1x1 conv c_m->C."""
    assert c == cfg["in_channels"]
    cm, cn = cfg["c_m"], cfg["c_n"]
    rec = 1 if cfg.get("reconstruct", True) else 0
    p = h * w
    params = c * (cm + 2 * cn) + (cm + 2 * cn) + rec * (cm * c + c)
    macs = n * p * c * (cm + 2 * cn) + n * (cm * p * cn) + n * (cm * cn * p) + rec * n * p * cm * c
    return params, macs


def irmb(cfg, n, c, h, w):
    """Zhang et al., EMO's iRMB: BN or LayerNorm (if norm_in), window attention (qk 1x1 C->2C, v
    1x1 C->M) or a v projection, depthwise dw_ks conv + BN + SiLU, SqueezeExcite (se_ratio), proj
    1x1 M->dim_out without bias."""
    assert c == cfg["dim_in"]
    dim_out = cfg["dim_out"]
    m = int(c * cfg.get("exp_ratio", 1.0))
    bias = 1 if cfg.get("qkv_bias", False) else 0
    k, stride, dil = cfg.get("dw_ks", 3), cfg.get("stride", 1), cfg.get("dilation", 1)
    params = macs = 0
    if cfg.get("norm_in", True) and cfg.get("norm_layer", "bn_2d") in ("bn_2d", "ln_2d"):
        params += 2 * c  # BN's or LayerNorm's weight and bias (InstanceNorm2d: none)
    prelu = cfg.get("act_layer", "relu") == "prelu"  # one learned slope per PReLU
    if cfg.get("attn_s", True):
        dim_head = cfg.get("dim_head", 64)
        heads = c // dim_head
        ws = cfg.get("window_size", 7)
        wsh, wsw = (h, w) if ws <= 0 else (ws, ws)
        n1, n2 = -(-h // wsh), -(-w // wsw)  # windows per column and row, after zero padding
        pixels = n * n1 * wsh * n2 * wsw  # qk and v run on the padded image
        groups = heads if cfg.get("v_group", False) else 1
        params += 2 * c * c + 2 * c * bias + m * (c // groups) + m * bias + prelu
        macs += pixels * 2 * c * c + pixels * m * (c // groups)
        length = wsh * wsw
        dv = dim_head if cfg.get("attn_pre", False) else m // heads
        macs += n * n1 * n2 * heads * length * length * (dim_head + dv)  # q k^T, then attn v
    elif cfg.get("v_proj", True):
        params += m * c + m * bias + prelu
        macs += n * h * w * m * c
    pad = math.ceil((k - stride) / 2)  # EMO's ConvNormAct padding, whatever the dilation
    oh = (h + 2 * pad - dil * (k - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dil * (k - 1) - 1) // stride + 1
    params += m * k * k + 2 * m + dim_out * m
    macs += n * m * oh * ow * k * k + n * dim_out * m * oh * ow
    if cfg.get("se_ratio", 0.0) > 0:  # timm SqueezeExcite: 1x1 convs m -> rd -> m with bias
        rd = round(m * cfg["se_ratio"])
        params += 2 * m * rd + rd + m + prelu
        macs += n * 2 * m * rd
    return params, macs


def eca(cfg, n, c, h, w):
    """Wang et al., ECA-Net: a 1-D conv of k_size taps (no bias) along the C channel means,
    zero padded to C outputs: k_size MACs per channel, the padded taps included."""
    k = cfg.get("k_size", 3)
    return k, n * c * k


def simam(cfg, n, c, h, w):
    """Yang et al., SimAM: an energy function of each neuron in its plane; no parameters, no
    convs or matmuls."""
    return 0, 0


def bam(cfg, n, c, h, w):
    """Park et al., BAM with r = 16: channel MLP Linear(C, C/16) + BatchNorm1d + ReLU +
    Linear(C/16, C); spatial 1x1 conv C -> C/16, two 3x3 convs C/16 -> C/16 (dilation 4, padding
    4: same size), a 1x1 conv C/16 -> 1, each but the last + BatchNorm2d; all with bias."""
    assert c == cfg["gate_channel"]
    cr = c // 16
    params = (c * cr + cr) + 2 * cr + (cr * c + c)
    params += (c * cr + cr) + 2 * (9 * cr * cr + cr) + 3 * 2 * cr + (cr + 1)
    macs = n * 2 * c * cr + n * h * w * (c * cr + 2 * 9 * cr * cr + cr)
    return params, macs


BLOCKS = {
    YARDSTICK: conv_bn_relu,
    "se": se,
    "channel": se,
    "spatial": spatial,
    "cbam": cbam,
    "triplet": triplet,
    "shuffle": shuffle,
    "double_attention": double_attention,
    "irmb": irmb,
    "eca": eca,
    "simam": simam,
    "bam": bam,
}


def cost(block, config, shape):
    """(params, MACs) of `block` with `config` on an N x C x H x W input."""
    n, c, h, w = shape
    return BLOCKS[block](dict(config), n, c, h, w)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    p, m = cost(sys.argv[1], json.loads(sys.argv[2]), [int(v) for v in sys.argv[3].split(",")])
    print(json.dumps({"params": p, "macs": m}))
