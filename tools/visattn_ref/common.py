"""Helpers shared by the reference blocks and the test drivers."""
import torch
from torch import nn


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Give every parameter and norm statistic random, non-trivial values, so that parity tests
    exercise biases, BN running statistics and affine terms (defaults would hide mistakes such as a
    skipped bias or a BN that is not folded). Deterministic for a seed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.numel() == 0:  # e.g. CBAM's Linear(C, 0) when C // reduction_ratio == 0
                continue
            fan_in = p[0].numel() if p.dim() > 1 else 1
            scale = 1.0 / max(fan_in, 1) ** 0.5 if p.dim() > 1 else 0.5
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * scale * 1.7)
            if p.dim() == 1 and name.endswith("weight"):
                p.add_(1.0)  # norm scales around 1, not 0
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.5)
                m.num_batches_tracked.fill_(7)
    return module.eval()
