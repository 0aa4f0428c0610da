#!/usr/bin/python3
"""The EMO networks in C (backbone/emo.c) against our PyTorch EMO (tools/emo.py), in float64.

For EMO_1M, EMO_2M, EMO_5M and EMO_6M at 1 x 3 x 224 x 224, EMO_1M at an odd 2 x 3 x 97 x 75, and
small "emo" configurations that reach the other options (SqueezeExcite in every stage, pre_head
with PReLU, LayerNorm and InstanceNorm stems, attention everywhere, attn_pre false, v_group):
random weights and BN statistics (randomize_), `visattn run --maps`, then the logits, every
attention map and the CAM (whose class must not be a near tie of two logits) within 1e-4 absolute and 1e-4 relative to the largest magnitude of the float64
reference; `visattn info`'s parameter count equal to sum(p.numel()). Prints one line per case.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import backbone  # noqa: E402
import emo  # noqa: E402
from export import export  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402

TOL = 1e-4
SMALL = dict(depths=[1, 2, 2, 2], stem_dim=8, embed_dims=[8, 16, 16, 24], dim_heads=[4, 8, 8, 8],
             window_sizes=[3, 3, 4, 4], exp_ratios=[2., 2., 2., 1.5])
CASES = [
    ("EMO_1M", {}, (1, 3, 224, 224)),
    ("EMO_2M", {}, (1, 3, 224, 224)),
    ("EMO_5M", {}, (1, 3, 224, 224)),
    ("EMO_6M", {}, (1, 3, 224, 224)),
    ("EMO_1M", {}, (2, 3, 97, 75)),
    ("emo", dict(SMALL, se_ratios=[0.25, 0.5, 0.25, 0.125], pre_dim=32,
                 act_layers=["prelu", "relu", "mish", "prelu"], num_classes=7), (2, 3, 45, 38)),
    ("emo", dict(SMALL, norm_layers=["ln_2d", "in_2d", "bn_2d", "ln_2d"],
                 attn_ss=[True, True, True, True], attn_pre=False, v_group=True, dim_in=1,
                 num_classes=5, act_layers=["hswish", "tanh", "gelu", "silu"]), (1, 1, 33, 52)),
    ("EMO_1M", dict(num_classes=10, dim_in=1, img_size=64), (2, 1, 64, 64)),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    torch.set_num_threads(1)
    failed = 0
    for i, (variant, config, shape) in enumerate(CASES):
        label = f"{variant} {json.dumps(config)} {'x'.join(map(str, shape))}"
        module = randomize_(emo.build(config, variant), 100 + i)
        base = os.path.join(args.workdir, f"case{i}")
        mdir = base + "_maps"
        os.makedirs(mdir, exist_ok=True)
        for f in os.listdir(mdir):
            os.remove(os.path.join(mdir, f))
        export(module, base + ".safetensors", model=variant, config=config)
        torch.manual_seed(i)
        x = torch.randn(*shape)
        np.save(base + "_in.npy", x.numpy())
        r = subprocess.run([args.visattn, "run", base + ".safetensors", base + "_in.npy",
                            base + "_out.npy", "--maps", mdir], capture_output=True, text=True)
        problems = []
        if r.returncode != 0:
            problems.append(f"visattn run: {r.stderr.strip()}")
        else:
            module.double()
            with torch.no_grad():
                want = {"output": module(x.double()).numpy()}
            want.update({k: v.numpy() for k, v in emo.maps(module).items()})
            got = {"output": np.load(base + "_out.npy")}
            got.update({f[:-4]: np.load(os.path.join(mdir, f)) for f in os.listdir(mdir)})
            if sorted(got) != sorted(want):
                problems.append(f"maps {sorted(got)} != {sorted(want)}")
            # The CAM's class must not be a near tie (docs/testing.md).
            if "cam" in want and backbone.cam_tie_problem(want["output"]):
                problems.append(backbone.cam_tie_problem(want["output"]))
            worst = 0.0
            for k, v in want.items():
                if k not in got or got[k].shape != v.shape:
                    problems.append(f"{k}: shape")
                    continue
                err = float(np.abs(got[k] - v).max())
                rel = err / max(float(np.abs(v).max()), 1e-30)
                worst = max(worst, err)
                if err > TOL or rel > TOL:
                    problems.append(f"{k}: max abs err {err:.2e}, rel {rel:.2e}")
            info = subprocess.run([args.visattn, "info", base + ".safetensors", "--shape",
                                   ",".join(map(str, shape))], capture_output=True, text=True)
            params = sum(p.numel() for p in module.parameters())
            got_params = json.loads(info.stdout)["params"] if info.returncode == 0 else None
            if got_params != params:
                problems.append(f"params {got_params} != PyTorch {params}")
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {label}: " +
              ("; ".join(problems) if problems else
               f"{len(want) - 1} maps, max abs err {worst:.2e}, {params} params"), flush=True)
    failed += check_converter(args)
    print(f"{len(CASES) + 1 - failed} passed, {failed} failed")
    return 1 if failed else 0


def check_converter(args):
    """tools/convert_emo.py on a checkpoint laid out as EMO's trainer saves one (under 'net', with
    DataParallel's 'module.' prefix): the converted file must run to the same logits."""
    config = {"num_classes": 10}
    module = randomize_(emo.build(config, "EMO_1M"), 7)
    ckpt = os.path.join(args.workdir, "net.pth")
    torch.save({"net": {"module." + k: v for k, v in module.state_dict().items()}}, ckpt)
    out = os.path.join(args.workdir, "converted.safetensors")
    r = subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "convert_emo.py"), ckpt,
                        "EMO_1M", out, "--config", json.dumps(config)], capture_output=True,
                       text=True)
    problems = [] if r.returncode == 0 else [f"convert_emo: {r.stderr.strip()[-300:]}"]
    if not problems:
        torch.manual_seed(0)
        x = torch.randn(1, 3, 64, 80)
        np.save(os.path.join(args.workdir, "conv_in.npy"), x.numpy())
        r = subprocess.run([args.visattn, "run", out, os.path.join(args.workdir, "conv_in.npy"),
                            os.path.join(args.workdir, "conv_out.npy")], capture_output=True,
                           text=True)
        if r.returncode != 0:
            problems.append(f"visattn run: {r.stderr.strip()}")
        else:
            module.double()
            with torch.no_grad():
                want = module(x.double()).numpy()
            err = float(np.abs(np.load(os.path.join(args.workdir, "conv_out.npy")) - want).max())
            if err > TOL:
                problems.append(f"max abs err {err:.2e}")
    # A checkpoint of another variant is refused by the converter, naming keys.
    bad = subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "convert_emo.py"),
                          ckpt, "EMO_2M", out + ".bad"], capture_output=True, text=True)
    if bad.returncode == 0 or "keys" not in bad.stderr:
        problems.append("a checkpoint of another variant was not refused")
    print(f"{'FAIL' if problems else 'ok  '} convert_emo.py net.pth (under 'net', 'module.' "
          f"prefix) -> visattn: " + ("; ".join(problems) if problems else "same logits"))
    return bool(problems)


if __name__ == "__main__":
    sys.exit(main())
