#!/usr/bin/python3
"""Zero-size and degenerate input shapes through `visattn run`, for every block and the backbone.

  N = 0        An empty batch gives an empty output: shape (0, C', H', W') where C', H', W' are
               what PyTorch gives at N = 1, and every attention map with N = 0 (same names and
               other dims as PyTorch's maps at N = 1). PyTorch itself returns that for se,
               spatial, triplet, double_attention and the backbone without attention; cbam,
               shuffle and iRMB (and a backbone holding them) fail on it there only because they
               reshape with -1, which cannot be inferred from 0 elements. Also with a large
               plane (0 x C x 4096 x 4096), which must not allocate for it.
  C, H or W = 0 (and all four 0)
               A one-line error naming the input shape (e.g. "2x4x0x3"), exit status 1. PyTorch
               fails on these too (no channels to pool or convolve, a 7x7 or 3x3 conv over an
               empty plane), except se with an empty H or W, which returns an empty tensor after
               gating it with the NaN mean of an empty plane; the error is the clearer answer.
  1x1, 1x2, 2x1 planes
               The output and maps as PyTorch's, within 1e-4; simam refuses 1x1 with one line
               (its variance divides by H * W - 1: NaN in the reference).
Never a crash, a sanitizer report or a hang (each run has a time limit).
Prints one line per case; exits non-zero if any fails.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import backbone  # noqa: E402
import visattn_ref  # noqa: E402
from export import export  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402

ATOL = 1e-4
TIMEOUT = 120

BLOCKS = [
    ("se", {"input_channels": 4, "squeeze_channels": 2}),
    ("spatial", {}),
    ("cbam", {"gate_channels": 4, "reduction_ratio": 2}),
    ("cbam", {"gate_channels": 4, "reduction_ratio": 2, "pool_types": ["avg", "max", "lp", "lse"],
              "no_spatial": True}),
    ("triplet", {"gate_channels": 4}),
    ("shuffle", {"channel": 4, "groups": 1}),
    ("double_attention", {"in_channels": 4, "c_m": 2, "c_n": 3}),
    ("irmb", {"dim_in": 4, "dim_out": 4, "dim_head": 2, "window_size": 2}),
    ("irmb", {"dim_in": 4, "dim_out": 8, "attn_s": False, "stride": 2}),
    ("eca", {"channel": 4, "k_size": 5}),
    ("simam", {}),
    ("bam", {"gate_channel": 16}),
]
BACKBONES = [None, "cbam", "irmb"]


class Checker:
    def __init__(self):
        self.passed, self.failed = 0, []

    def report(self, ok, label, detail):
        print(f"{'ok  ' if ok else 'FAIL'} {label:44s} {detail}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(label)


def run(visattn, model, x, work):
    inp, out, mdir = (os.path.join(work, f) for f in ("in.npy", "out.npy", "maps"))
    os.makedirs(mdir, exist_ok=True)
    for f in os.listdir(mdir):
        os.remove(os.path.join(mdir, f))
    if os.path.exists(out):
        os.remove(out)
    np.save(inp, x)
    try:
        r = subprocess.run([visattn, "run", model, inp, out, "--maps", mdir], capture_output=True,
                           text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, None, f"no answer within {TIMEOUT} s"
    if r.returncode != 0:
        return r, None, None
    got = {"output": np.load(out)}
    for f in os.listdir(mdir):
        got[f[:-4]] = np.load(os.path.join(mdir, f))
    return r, got, None


def torch_run(module, mapsfn, x):
    with torch.no_grad():
        y = module(torch.from_numpy(x))
    return {"output": y.numpy(), **{k: v.numpy() for k, v in mapsfn(module).items()}}


def check_model(chk, visattn, work, label, module, mapsfn, meta, c):
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, "model.safetensors")
    export(module, model, **meta)
    rng = np.random.default_rng(0)

    # N = 0: the shapes PyTorch gives at N = 1, with N = 0. With the large plane, whose N = 1
    # output PyTorch would have to compute, only emptiness is checked.
    small = torch_run(module, mapsfn, rng.standard_normal((1, c, 5, 3), dtype=np.float32))
    for h, w in ((5, 3), (4096, 4096)):
        r, got, why = run(visattn, model, np.zeros((0, c, h, w), np.float32), work)
        tag = f"{label} 0x{c}x{h}x{w}"
        if why or r.returncode != 0:
            chk.report(False, tag, why or f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
            continue
        problems = [f"{k} {v.shape} is not empty with N = 0" for k, v in got.items()
                    if v.ndim != 4 or v.shape[0] != 0]
        if (h, w) == (5, 3):
            want = {k: (0,) + v.shape[1:] for k, v in small.items()}
            if set(got) != set(want):
                problems.append(f"maps {sorted(got)}, PyTorch {sorted(want)}")
            problems += [f"{k} {got[k].shape}, expected {v}" for k, v in want.items()
                         if k in got and got[k].shape != v]
        chk.report(not problems, tag, "; ".join(problems) or
                   f"empty output {got['output'].shape}, {len(got) - 1} empty maps")

    # An empty C, H or W: a one-line error that names the shape.
    for shape in ((2, 0, 5, 3), (2, c, 0, 3), (2, c, 5, 0), (0, 0, 0, 0)):
        r, got, why = run(visattn, model, np.zeros(shape, np.float32), work)
        name = "x".join(map(str, shape))
        tag = f"{label} {name}"
        if why:
            chk.report(False, tag, why)
            continue
        msg = r.stderr.strip()
        ok = (r.returncode == 1 and name in msg and len(msg.splitlines()) == 1
              and "Sanitizer" not in msg and "runtime error" not in msg)
        chk.report(ok, tag, f"exit {r.returncode}: {msg[-300:]!r}")

    # Single-pixel and single-row/column planes: PyTorch's values. simam refuses 1 x 1 planes
    # (its variance divides by H * W - 1; NaN in the reference) with one line.
    for shape in ((2, c, 1, 1), (1, c, 1, 2), (2, c, 2, 1)):
        x = rng.standard_normal(shape, dtype=np.float32)
        if meta.get("block") == "simam" and shape[2] * shape[3] == 1:
            r, got, why = run(visattn, model, x, work)
            msg = "" if why else r.stderr.strip()
            chk.report(not why and r.returncode == 1 and "H * W must be >= 2" in msg and
                       len(msg.splitlines()) == 1, f"{label} {'x'.join(map(str, shape))}",
                       why or f"exit {r.returncode}: {msg[-300:]!r}")
            continue
        want = torch_run(module, mapsfn, x)
        r, got, why = run(visattn, model, x, work)
        tag = f"{label} {'x'.join(map(str, shape))}"
        if why or r.returncode != 0:
            chk.report(False, tag, why or f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
            continue
        problems, worst = [], 0.0
        if set(got) != set(want):
            problems.append(f"maps {sorted(got)}, PyTorch {sorted(want)}")
        for k, v in want.items():
            if k not in got or got[k].shape != v.shape:
                problems.append(f"{k}: {got[k].shape if k in got else 'missing'} vs {v.shape}")
                continue
            worst = max(worst, float(np.abs(got[k].astype(np.float64) - v).max()))
        if worst > ATOL:
            problems.append("over tolerance")
        if "cam" in want and backbone.cam_tie_problem(want["output"]):
            problems.append(backbone.cam_tie_problem(want["output"]))
        chk.report(not problems, tag, "; ".join(problems) or f"max abs err {worst:.1e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    chk = Checker()
    for i, (name, config) in enumerate(BLOCKS):
        ref = visattn_ref.load(name)
        module = randomize_(ref.build(dict(config)), i)
        c = config.get("input_channels") or config.get("gate_channels") or \
            config.get("channel") or config.get("in_channels") or config.get("dim_in") or \
            config.get("gate_channel") or 4
        check_model(chk, args.visattn, os.path.join(args.workdir, f"{name}{i}"), f"{name}[{i}]",
                    module, ref.maps, {"block": name, "config": config}, c)
    for i, att in enumerate(BACKBONES):
        module, cfg = backbone.random_model(att, seed=i)
        check_model(chk, args.visattn, os.path.join(args.workdir, f"backbone_{att}"),
                    f"backbone[{att or 'none'}]", module, backbone.maps,
                    {"model": "backbone", "config": cfg}, cfg["in_channels"])
    print(f"{chk.passed} passed, {len(chk.failed)} failed")
    for f in chk.failed:
        print(f"  failed: {f}")
    return 1 if chk.failed else 0


if __name__ == "__main__":
    sys.exit(main())
