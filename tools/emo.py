"""EMO (zhangzjn/EMO model/emo.py) in PyTorch with the official state_dict keys and constructor
arguments, built from our iRMB (tools/visattn_ref/irmb.py); the C model is backbone/emo.c.

    build(config, variant="emo")  -> nn.Module in eval mode; config: EMO's keyword arguments,
                                     over the variant's defaults (EMO_1M, EMO_2M, EMO_5M, EMO_6M)
    maps(module)                  -> the attention iRMBs' maps, "stage<i>.<j>.attention", each
                                     stage's "stage<k>.energy" and, when pre_dim is 0, "cam"

forward returns the logits as N x num_classes x 1 x 1 (the C model's output shape; the official
forward returns {'out': logits, 'out_kd': logits}). For tools and tests only.
"""
import math

import torch
from torch import nn

from visattn_ref.irmb import ACTS, NORMS, iRMB

DEFAULTS = dict(dim_in=3, num_classes=1000, img_size=224, depths=[1, 2, 4, 2], stem_dim=16,
                embed_dims=[64, 128, 256, 512], exp_ratios=[4., 4., 4., 4.],
                norm_layers=["bn_2d"] * 4, act_layers=["relu"] * 4, dw_kss=[3, 3, 5, 5],
                se_ratios=[0.0] * 4, dim_heads=[32] * 4, window_sizes=[7] * 4,
                attn_ss=[False, False, True, True], qkv_bias=True, attn_drop=0., drop=0.,
                drop_path=0., v_group=False, attn_pre=False, pre_dim=0)
_V = dict(stem_dim=24, norm_layers=["bn_2d", "bn_2d", "ln_2d", "ln_2d"],
          act_layers=["silu", "silu", "gelu", "gelu"], dw_kss=[3, 3, 5, 5], window_sizes=[7] * 4,
          attn_ss=[False, False, True, True], qkv_bias=True, v_group=False, attn_pre=True,
          pre_dim=0)
VARIANTS = {
    "emo": {},
    "EMO_1M": dict(_V, depths=[2, 2, 8, 3], embed_dims=[32, 48, 80, 168],
                   exp_ratios=[2., 2.5, 3.0, 3.5], dim_heads=[16, 16, 20, 21], drop_path=0.04036),
    "EMO_2M": dict(_V, depths=[3, 3, 9, 3], embed_dims=[32, 48, 120, 200],
                   exp_ratios=[2., 2.5, 3.0, 3.5], dim_heads=[16, 16, 20, 20], drop_path=0.05),
    "EMO_5M": dict(_V, depths=[3, 3, 9, 3], embed_dims=[48, 72, 160, 288],
                   exp_ratios=[2., 3., 4., 4.], dim_heads=[24, 24, 32, 32], drop_path=0.05),
    "EMO_6M": dict(_V, depths=[3, 3, 9, 3], embed_dims=[48, 72, 160, 320],
                   exp_ratios=[2., 3., 4., 5.], dim_heads=[16, 24, 20, 32], drop_path=0.05),
}


class MSPatchEmb(nn.Module):
    """EMO's MSPatchEmb as EMO builds it (dilations=[1], c_group=1): convs.0 = conv, norm, act."""

    def __init__(self, dim_in, emb_dim, kernel_size, stride, norm_layer):
        super().__init__()
        padding = math.ceil((kernel_size - 1 + 1 - stride) / 2)
        self.convs = nn.ModuleList([nn.Sequential(
            nn.Conv2d(dim_in, emb_dim, kernel_size, stride, padding, 1, groups=1),
            NORMS[norm_layer](emb_dim), nn.Identity())])

    def forward(self, x):
        return self.convs[0](x)


class EMO(nn.Module):
    def __init__(self, dim_in, num_classes, img_size, depths, stem_dim, embed_dims, exp_ratios,
                 norm_layers, act_layers, dw_kss, se_ratios, dim_heads, window_sizes, attn_ss,
                 qkv_bias, attn_drop, drop, drop_path, v_group, attn_pre, pre_dim):
        super().__init__()
        common = dict(qkv_bias=qkv_bias, v_group=v_group, attn_pre=attn_pre)
        self.stage0 = nn.ModuleList([
            MSPatchEmb(dim_in, stem_dim, dw_kss[0], 2, norm_layers[0]),
            iRMB(stem_dim, stem_dim, norm_in=False, has_skip=False, exp_ratio=1,
                 norm_layer=norm_layers[0], act_layer=act_layers[0], v_proj=False,
                 dw_ks=dw_kss[0], stride=1, dilation=1, se_ratio=1, dim_head=dim_heads[0],
                 window_size=window_sizes[0], attn_s=False, **common)])
        prev = stem_dim
        for i in range(len(depths)):
            layers = []
            for j in range(depths[i]):
                first = j == 0
                layers.append(iRMB(
                    prev, embed_dims[i], norm_in=True, has_skip=not first,
                    exp_ratio=exp_ratios[i] * 2 if first else exp_ratios[i],
                    norm_layer=norm_layers[i], act_layer=act_layers[i], v_proj=True,
                    dw_ks=dw_kss[i], stride=2 if first else 1, dilation=1, se_ratio=se_ratios[i],
                    dim_head=dim_heads[i], window_size=window_sizes[i],
                    attn_s=False if first else attn_ss[i], **common))
                prev = embed_dims[i]
            setattr(self, f"stage{i + 1}", nn.ModuleList(layers))
        self.norm = NORMS[norm_layers[-1]](embed_dims[-1])
        if pre_dim > 0:
            self.pre_head = nn.Sequential(nn.Linear(embed_dims[-1], pre_dim), ACTS[act_layers[-1]]())
        else:
            self.pre_head = nn.Identity()
        self.head = nn.Linear(pre_dim if pre_dim > 0 else embed_dims[-1], num_classes)

    def forward(self, x):
        self.last_energy = {}
        for name in ("stage0", "stage1", "stage2", "stage3", "stage4"):
            for blk in getattr(self, name):
                x = blk(x)
            if name != "stage0":
                self.last_energy[name] = x.mean(dim=1, keepdim=True)
        x = self.norm(x)
        logits = self.head(self.pre_head(x.mean(dim=(2, 3))))
        self.last_cam = None
        if isinstance(self.pre_head, nn.Identity):  # the head reads the pooled features
            top = logits.argmax(dim=1)
            self.last_cam = torch.einsum("nc,nchw->nhw", self.head.weight[top], x)[:, None]
        return logits[:, :, None, None]


def config_for(variant="emo", **overrides):
    cfg = dict(DEFAULTS)
    cfg.update(VARIANTS[variant])
    cfg.update(overrides)
    return cfg


def build(config=None, variant="emo"):
    return EMO(**config_for(variant, **(config or {}))).eval()


def maps(module):
    out = {}
    for i in range(1, 5):
        for j, blk in enumerate(getattr(module, f"stage{i}")):
            if blk.attn_s:
                out[f"stage{i}.{j}.attention"] = blk.last_attention
    for name, e in module.last_energy.items():
        out[f"{name}.energy"] = e.detach()
    if module.last_cam is not None:
        out["cam"] = module.last_cam.detach()
    return out
