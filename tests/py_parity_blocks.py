#!/usr/bin/python3
"""Parity suite: every attention block in C against our PyTorch versions (tools/visattn_ref).

For each PARITY_CASE of each block: random weights and BN statistics (randomize_), random input,
export to safetensors, `visattn run ... --maps`, compare the output and every attention map with
the PyTorch module run in float64 (max abs error <= 1e-4 and max error relative to the largest
magnitude <= 1e-4). Also checks, per
case, `visattn info`'s parameter count against sum(p.numel()) and its MACs against torch.profiler's
FLOP count of convs and matmuls (2 per MAC); and per block, that BAD_CONFIGS, a missing key, a
wrong-shaped weight, an unexpected key and the BAD_SHAPES inputs each fail with a clear one-line
message.
Prints one line per check; exits non-zero if any fails.
"""
import argparse
import json
import os
import subprocess
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import visattn_ref  # noqa: E402
from export import export, state_dict_arrays  # noqa: E402
from safetensors_io import save_file  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402

ATOL = 1e-4
RTOL = 1e-4
MATMUL_OPS = {"aten::conv2d", "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def compare(ref, got):
    ref = np.asarray(ref, dtype=np.float32)
    if ref.shape != got.shape:
        return None, None, f"shape {got.shape} != reference {ref.shape}"
    if ref.size == 0:
        return 0.0, 0.0, None
    abs_err = float(np.max(np.abs(ref.astype(np.float64) - got)))
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    if not np.all(np.isfinite(got)):
        return float("inf"), float("inf"), "non-finite values"
    return abs_err, abs_err / scale, None


def profiler_macs(module, x):
    with torch.no_grad(), torch.profiler.profile(with_flops=True) as prof:
        module(x)
    return sum(e.flops for e in prof.key_averages() if e.key in MATMUL_OPS) // 2


def check_case(args, ref, name, idx, config, shape, failures):
    seed = zlib.crc32(f"{name}/{idx}".encode())
    torch.manual_seed(seed)
    module = randomize_(ref.build(dict(config)), seed)
    x = torch.randn(*shape)
    # The reference is the same module in float64: both float32 implementations (PyTorch's and
    # ours) are compared with the exact answer, not with each other's rounding.
    module.double()
    with torch.no_grad():
        y = module(x.double())
    want_maps = {k: v.detach().numpy() for k, v in ref.maps(module).items()}
    module.float()
    base = os.path.join(args.workdir, f"{name}_{idx}")
    os.makedirs(base + "_maps", exist_ok=True)
    export(module, base + ".safetensors", block=name, config=config)
    np.save(base + "_in.npy", x.numpy())
    r = run([args.visattn, "run", base + ".safetensors", base + "_in.npy", base + "_out.npy",
             "--maps", base + "_maps"])
    label = f"{name:17s} case {idx:2d} {str(tuple(shape)):18s} {json.dumps(config)}"
    if r.returncode != 0:
        failures.append(label)
        print(f"FAIL {label}: visattn run failed: {r.stderr.strip()}")
        return
    a, rel, why = compare(y.numpy(), np.load(base + "_out.npy"))
    worst = [a or 0.0, rel or 0.0]
    problems = [f"output: {why}"] if why else []
    for mname, mval in want_maps.items():
        p = os.path.join(base + "_maps", mname + ".npy")
        if not os.path.exists(p):
            problems.append(f"map '{mname}' not written")
            continue
        ma, mrel, mwhy = compare(mval, np.load(p))
        if mwhy:
            problems.append(f"map '{mname}': {mwhy}")
            continue
        worst = [max(worst[0], ma), max(worst[1], mrel)]
    extra = set(f[:-4] for f in os.listdir(base + "_maps")) - set(want_maps)
    if extra:
        problems.append(f"C wrote maps the reference lacks: {sorted(extra)}")
    if worst[0] > ATOL or worst[1] > RTOL:
        problems.append("over tolerance")
    info = run([args.visattn, "info", base + ".safetensors", "--shape", ",".join(map(str, shape))])
    if info.returncode != 0:
        problems.append(f"visattn info failed: {info.stderr.strip()}")
    else:
        got = json.loads(info.stdout)
        params = sum(p.numel() for p in module.parameters())
        if got["params"] != params:
            problems.append(f"params {got['params']} != PyTorch {params}")
        pmacs = profiler_macs(module, x)
        if got["macs"] != pmacs:
            problems.append(f"MACs {got['macs']} != torch.profiler {pmacs}")
        if list(got["output"]) != list(y.shape):
            problems.append(f"info output shape {got['output']} != {list(y.shape)}")
    status = "FAIL" if problems else "ok  "
    print(f"{status} {label}: max abs err {worst[0]:.2e}, max rel err {worst[1]:.2e}, "
          f"maps {sorted(want_maps)}" + (f" -- {'; '.join(problems)}" if problems else ""))
    if problems:
        failures.append(label)


def expect_error(args, path, inp, needle, label, failures):
    r = run([args.visattn, "run", path, inp, path + ".out.npy"])
    msg = r.stderr.strip()
    ok = (r.returncode not in (0,) and r.returncode > 0 and needle.lower() in msg.lower()
          and "\n" not in msg)
    print(f"{'ok  ' if ok else 'FAIL'} {label}: exit {r.returncode}, {msg!r}")
    if not ok:
        failures.append(label)


def check_errors(args, ref, name, failures):
    config, shape = ref.PARITY_CASES[0]
    module = randomize_(ref.build(dict(config)), 1)
    base = os.path.join(args.workdir, f"{name}_err")
    inp = base + "_in.npy"
    np.save(inp, torch.randn(*shape).numpy())
    meta = {"visattn.block": name}
    for i, (bad, needle) in enumerate(getattr(ref, "BAD_CONFIGS", [])):
        path = f"{base}_badcfg{i}.safetensors"
        save_file({}, path, metadata={**meta, "visattn.config": json.dumps(bad)})
        expect_error(args, path, inp, needle, f"{name:17s} bad config {json.dumps(bad)}", failures)
    sd = state_dict_arrays(module)
    keys = [k for k in sd if not k.endswith("num_batches_tracked")]
    meta["visattn.config"] = json.dumps(config)
    # Inputs the block refuses (e.g. simam's 1 x 1 planes), with a config that loads.
    for i, (cfg, bad_shape, needle) in enumerate(getattr(ref, "BAD_SHAPES", [])):
        path, bad_in = f"{base}_badshape{i}.safetensors", f"{base}_badshape{i}_in.npy"
        export(randomize_(ref.build(dict(cfg)), 1), path, block=name, config=cfg)
        np.save(bad_in, torch.randn(*bad_shape).numpy())
        expect_error(args, path, bad_in, needle,
                     f"{name:17s} bad input {tuple(bad_shape)} {json.dumps(cfg)}", failures)
    if keys:
        missing = dict(sd)
        del missing[keys[0]]
        save_file(missing, base + "_missing.safetensors", metadata=meta)
        expect_error(args, base + "_missing.safetensors", inp, keys[0],
                     f"{name:17s} missing key {keys[0]}", failures)
        wrong = dict(sd)
        wrong[keys[-1]] = np.zeros((wrong[keys[-1]].size + 1,), np.float32)
        save_file(wrong, base + "_shape.safetensors", metadata=meta)
        expect_error(args, base + "_shape.safetensors", inp, keys[-1],
                     f"{name:17s} wrong shape {keys[-1]}", failures)
    extra = dict(sd)
    extra["not_a_key.weight"] = np.zeros((3,), np.float32)
    save_file(extra, base + "_extra.safetensors", metadata=meta)
    expect_error(args, base + "_extra.safetensors", inp, "not_a_key.weight",
                 f"{name:17s} unexpected key", failures)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--blocks", default="all", help="comma-separated block names, or all")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    torch.set_num_threads(1)
    names = visattn_ref.available() if args.blocks == "all" else args.blocks.split(",")
    if not names:
        print("no reference blocks found")
        return 1
    failures, cases = [], 0
    for name in names:
        ref = visattn_ref.load(name)
        for idx, (config, shape) in enumerate(ref.PARITY_CASES):
            check_case(args, ref, name, idx, config, shape, failures)
            cases += 1
        check_errors(args, ref, name, failures)
    print(f"{cases} parity cases over {len(names)} blocks; {len(failures)} failed")
    for f in failures:
        print(f"  failed: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
