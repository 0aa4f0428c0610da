#!/usr/bin/python3
"""visattn, ONNX Runtime (CPU) and PyTorch eager side by side on the same modules and weights.

    /usr/bin/python3 tools/compare_engines.py [--blocks cbam,se,...] [--shape N,C,H,W ...]
        [--conv SPEC,SPEC ...] [--networks resnet50,resnet50+cbam,...] [--net-shape N,C,H,W]
        [--threads 1,2] [--rounds 6] [--warmup 5] [--iters 20] [--tol 1e-3] [--keep-going]
        [--visattn build/visattn] [--ort-dir tools/ort] [--node node] [--workdir DIR]
        [--json FILE]
    /usr/bin/python3 tools/compare_engines.py --from-json FILE

Cases (any mix; at least one):
  --blocks LIST    attention blocks (and the yardstick conv3x3_bn_relu) at their `visattn bench`
                   configs, read from `visattn bench --json`, at each --shape (default: the
                   bench's default shapes); the PyTorch module is tools/compare_torch.py's
  --conv SPECS     single convs, KHxKW[:OPT...]@NxCxHxW, comma-separated, repeatable:
                   3x3@1x64x56x56        3x3 conv C -> C, padding 1, + BatchNorm2d + ReLU
                   options (after ':'): oN out channels (default C), sN stride, gN groups,
                   dw depthwise (groups = C), dN dilation, pN padding (default d*(k-1)/2),
                   bias (a conv bias; default only without BN), norelu (conv + BN), nobn
                   (the conv alone: no BN, no ReLU). E.g. 1x1:o256@1x64x56x56,
                   3x3:s2@1x64x56x56, 3x3:dw@1x256x14x14, 3x3:g32:o128@1x128x28x28
  --networks LIST  tools/networks.py builders (torchvision's models), BUILDER[+ATTENTION] for a
                   block in the attention slot (resnet50+cbam), at --net-shape (1,3,224,224)

For each case: one PyTorch module with random weights and BN statistics (randomize_, eval mode),
written as a visattn model file (tools/export.py's export()) and as ONNX (torch.onnx.export,
opset 13). Before any timing, every case's outputs are checked on one random input: visattn
(`visattn run`), ONNX Runtime and PyTorch float32 against PyTorch in float64, as max |error| /
max |reference|; a case over --tol (1e-3) stops the tool before timing (--keep-going times it
anyway and marks it). Timing, per case and thread count: R rounds; in each round every engine
runs W warm-up passes and K timed passes, the engines in an order rotated by one each round
(visattn, ORT, PyTorch; then ORT, PyTorch, visattn; ...), so that load from other processes
falls on all of them alike. visattn is `visattn bench --model FILE --no-yardstick --min-time 0`
(a fresh process per round), ONNX Runtime tools/ort_time.js in Node.js (a fresh process and
session per round: intra-op threads T, inter-op 1, sequential, all graph optimisations; a minor
garbage collection after each pass, untimed, so that output buffers are reused: see there),
PyTorch this process (torch.set_num_threads(T), torch.no_grad()). An engine's time is the median
over rounds of each round's median pass; p10 and p90 are taken over the round medians (linear
interpolation between ranks: with 3 rounds p10 = 0.8 fastest + 0.2 middle); the ratios are an
engine's median over visattn's (> 1: visattn is faster).

ONNX Runtime is installed outside the tracked files, once:
    ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix tools/ort --no-save --no-package-lock \\
        onnxruntime-node@1.30.0
(the variable skips the GPU download; the CPU library is in the package). docs/bench.md,
"Against ONNX Runtime and PyTorch". The tool never sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE; to
time the kernel OpenBLAS picks itself, unset both in the one command:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 tools/compare_engines.py ...
"""
import argparse
import contextlib
import datetime
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import compare_torch  # noqa: E402
import emo  # noqa: E402
from export import export  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402

ENGINES = ("visattn", "ort", "torch")
TITLES = {"visattn": "visattn", "ort": "ONNX Runtime", "torch": "PyTorch"}
CHECKED = {"visattn": "visattn", "ort": "ONNX Runtime", "torch": "PyTorch float32"}
ORT_VERSION = "1.30.0"
INSTALL = ("ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix {dir} --no-save --no-package-lock "
           "onnxruntime-node@" + ORT_VERSION)


class Failure(Exception):
    """One line for the user; the tool stops with it."""


# ---- cases ---------------------------------------------------------------------------------------

class ConvBNAct(nn.Module):
    """A conv, optionally BatchNorm2d and ReLU, with the keys visattn's conv_bn / conv_bn_relu
    models read (conv.*, bn.*)."""

    def __init__(self, config, bn, relu):
        super().__init__()
        self.conv = nn.Conv2d(**config)
        self.bn = nn.BatchNorm2d(config["out_channels"]) if bn else None
        self.relu = relu

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return torch.relu(x) if self.relu else x


def parse_dims(text, sep, what):
    try:
        dims = tuple(int(v) for v in text.split(sep))
    except ValueError:
        dims = ()
    if len(dims) != 4 or min(dims) < 1:
        raise Failure(f"{what} '{text}': want four positive integers N{sep}C{sep}H{sep}W")
    return dims


def parse_conv(spec):
    """'3x3:s2:o128@1x64x56x56' -> (model kind, nn.Conv2d config, shape)."""
    m = re.fullmatch(r"(\d+)x(\d+)((?::\w+)*)@([\dx]+)", spec)
    if not m:
        raise Failure(f"--conv '{spec}': want KHxKW[:OPTION...]@NxCxHxW, e.g. 3x3:s2@1x64x56x56")
    kh, kw = int(m.group(1)), int(m.group(2))
    shape = parse_dims(m.group(4), "x", f"--conv '{spec}': shape")
    c = shape[1]
    opts = {"o": c, "s": 1, "g": 1, "d": 1, "p": None}
    flags = set()
    for opt in m.group(3).split(":")[1:]:
        num = re.fullmatch(r"([osgdp])(\d+)", opt)
        if num:
            opts[num.group(1)] = int(num.group(2))
        elif opt in ("dw", "bias", "norelu", "nobn"):
            flags.add(opt)
        else:
            raise Failure(f"--conv '{spec}': unknown option '{opt}' (oN sN gN dN pN dw bias "
                          "norelu nobn)")
    if "dw" in flags:
        opts["g"] = c
    d = opts["d"]
    pad = opts["p"] if opts["p"] is not None else (d * (kh - 1) // 2, d * (kw - 1) // 2)
    with_bn = "nobn" not in flags
    config = {"in_channels": c, "out_channels": opts["o"], "kernel_size": [kh, kw],
              "stride": opts["s"], "padding": list(pad) if isinstance(pad, tuple) else pad,
              "dilation": d, "groups": opts["g"], "bias": "bias" in flags or not with_bn}
    if c % opts["g"] or opts["o"] % opts["g"]:
        raise Failure(f"--conv '{spec}': groups {opts['g']} must divide in ({c}) and out "
                      f"({opts['o']}) channels")
    kind = "conv2d" if not with_bn else ("conv_bn" if "norelu" in flags else "conv_bn_relu")
    return kind, config, shape


def bench_json(visattn, args):
    """`visattn bench ARGS --json -`: the document, or Failure naming the command."""
    cmd = [visattn, "bench", *args, "--json", "-"]
    return json.loads(run_checked(cmd, " ".join(cmd)))


def block_cases(visattn, blocks, shapes):
    """One case per bench row: the block at its bench config at each shape."""
    cmd = ["--blocks", blocks, "--no-yardstick", "--iters", "1", "--warmup", "0",
           "--min-time", "0", "--threads", "1"]
    for s in shapes:
        cmd += ["--shape", ",".join(map(str, s))]
    doc = bench_json(visattn, cmd)
    notes = [f"{s['block']} at {s['n']}x{s['c']}x{s['h']}x{s['w']} skipped by visattn bench: "
             f"{s['reason']}" for s in doc.get("skipped", [])]
    cases = []
    for row in doc["rows"]:
        shape = (row["n"], row["c"], row["h"], row["w"])
        if row["block"] == compare_torch.YARDSTICK:
            cases.append({"kind": "conv", "name": row["block"], "model": "conv_bn_relu",
                          "config": row["config"], "shape": shape})
        else:
            cases.append({"kind": "block", "name": row["block"], "config": row["config"],
                          "shape": shape})
    return cases, notes


def network_cases(names, shapes):
    import networks  # torchvision
    known = networks.SOURCES["torchvision"]
    cases = []
    for item in names:
        builder, _, attention = item.partition("+")
        if builder not in known:
            raise Failure(f"--networks: '{builder}' is not a builder tools/networks.py knows on "
                          f"this branch (known: {', '.join(known)}); add it there (and to visattn) "
                          "first, or leave it out")
        config = {"attention": attention} if attention else {}
        for s in shapes:
            cases.append({"kind": "network", "name": item, "builder": builder, "config": config,
                          "shape": s})
    return cases


def build_module(case, seed):
    """The case's PyTorch module (random weights, eval) and the export() keyword naming it."""
    torch.manual_seed(seed)
    if case["kind"] == "conv":
        kind = case["model"]
        module = ConvBNAct(case["config"], kind != "conv2d", kind == "conv_bn_relu")
        module = randomize_(module.conv if kind == "conv2d" else module, seed)
        return module, {"model": kind}
    if case["kind"] == "network":
        import networks
        module = randomize_(networks.build("torchvision", case["builder"], case["config"]), seed)
        return module, {"model": case["builder"]}
    x = torch.rand(*case["shape"]) * 2 - 1
    # compare_torch's module: our reference block minus the map bookkeeping the official
    # modules lack, or an EMO model (ImportError for a block without a tools/visattn_ref version).
    module = compare_torch.torch_module(case["name"], case["config"], x)
    return module, ({"model": case["name"]} if case["name"] in emo.VARIANTS else
                    {"block": case["name"]})


def label(case):
    if case["kind"] == "conv" and case["name"] != compare_torch.YARDSTICK:
        return "conv " + case["name"]
    return case["name"]


def shape_str(s):
    return "x".join(map(str, s))


# ---- engines -------------------------------------------------------------------------------------

def run_checked(cmd, what):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines()
        raise Failure(f"{what}: {lines[-1] if lines else f'exit {r.returncode}'}")
    return r.stdout


def ort_command(args):
    return [args.node, os.path.join(HERE, "ort_time.js"), "--ort-dir", args.ort_dir]


def ort_version(args):
    install = INSTALL.format(dir=os.path.abspath(args.ort_dir))
    if not shutil.which(args.node):
        raise Failure(f"Node.js ('{args.node}') not found: ONNX Runtime runs in Node.js here; "
                      f"install nodejs and npm (or give --node), then: {install}")
    r = subprocess.run(ort_command(args) + ["--version"], capture_output=True, text=True)
    if r.returncode == 3:  # ort_time.js: onnxruntime-node not found
        raise Failure(f"ONNX Runtime (onnxruntime-node) is missing: install it once with\n"
                      f"    {install}\n(or give --ort-dir, the directory whose node_modules "
                      "holds onnxruntime-node)")
    if r.returncode != 0:
        raise Failure(f"ort_time.js --version: {r.stderr.strip()}")
    return json.loads(r.stdout)["ort_version"]


def time_visattn(args, case, threads):
    doc = bench_json(args.visattn, [
        "--model", case["file"], "--no-yardstick", "--shape", ",".join(map(str, case["shape"])),
        "--threads", str(threads), "--warmup", str(args.warmup), "--iters", str(args.iters),
        "--min-time", "0"])
    if len(doc["rows"]) != 1 or doc["rows"][0]["threads"] != threads:
        raise Failure(f"visattn bench timed {len(doc['rows'])} rows for {label(case)}: "
                      f"{doc.get('skipped')}")
    row = doc["rows"][0]
    return {"median_ms": row["median_ms"], "p10_ms": row["p10_ms"], "p90_ms": row["p90_ms"]}, doc


def time_ort(args, case, threads):
    out = run_checked(ort_command(args) + [
        "--model", case["onnx"], "--shape", ",".join(map(str, case["shape"])),
        "--threads", str(threads), "--warmup", str(args.warmup), "--iters", str(args.iters),
        "--input", case["input_f32"]], f"ort_time.js on {label(case)}")
    doc = json.loads(out)
    return {k: doc[k] for k in ("median_ms", "p10_ms", "p90_ms")}


def time_torch(args, case, threads):
    torch.set_num_threads(threads)
    module, x = case["module"], case["x"]
    with torch.no_grad():
        for _ in range(args.warmup):
            module(x)
        times = []
        for _ in range(args.iters):
            t0 = time.perf_counter()
            module(x)
            times.append(1e3 * (time.perf_counter() - t0))
    times.sort()
    return {"median_ms": quantile(times, 0.5), "p10_ms": quantile(times, 0.1),
            "p90_ms": quantile(times, 0.9)}


def quantile(sorted_values, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(sorted_values) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


# ---- preparation and the check before timing -----------------------------------------------------

def prepare(args, cases, check_threads):
    """Writes each case's files and checks the three engines' outputs; returns the problems."""
    problems = []
    for i, case in enumerate(cases):
        base = os.path.join(args.workdir, f"case{i}")
        case["label"] = label(case)
        try:
            module, meta = build_module(case, 100 + i)
        except (ValueError, TypeError, KeyError, NotImplementedError, ImportError) as e:
            raise Failure(f"{case['label']} with config {json.dumps(case['config'])}: no PyTorch "
                          f"module ({type(e).__name__}: {e})") from None
        case["file"], case["onnx"] = base + ".safetensors", base + ".onnx"
        case["input_npy"], case["input_f32"] = base + "_in.npy", base + "_in.f32"
        export(module, case["file"], config=case["config"], **meta)
        g = torch.Generator().manual_seed(i)
        x = torch.rand(*case["shape"], generator=g) * 2 - 1
        np.save(case["input_npy"], x.numpy())
        x.numpy().astype("<f4").tofile(case["input_f32"])
        with torch.no_grad(), warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(module, x, case["onnx"], opset_version=13,
                                  input_names=["input"], output_names=["output"],
                                  do_constant_folding=True)
            except Exception as e:  # an op without an opset-13 export, ...: torch's reason
                reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise Failure(f"{case['label']}: torch.onnx.export (opset 13) failed: "
                              f"{reason}") from None
            want32 = module(x).numpy()
            want = module.double()(x.double()).numpy()
            module.float()
        case["module"], case["x"] = module, x
        # The same input through visattn and ONNX Runtime, at the largest thread count.
        got = {"torch": want32}
        out = base + "_visattn.npy"
        try:
            run_checked([args.visattn, "run", case["file"], case["input_npy"], out, "--threads",
                         str(check_threads)], f"visattn run on {case['label']}")
            got["visattn"] = np.load(out)
        except Failure as e:
            problems.append(str(e))
        out = base + "_ort.f32"
        try:
            run_checked(ort_command(args) + [
                "--model", case["onnx"], "--shape", ",".join(map(str, case["shape"])),
                "--threads", str(check_threads), "--warmup", "0", "--iters", "1", "--input",
                case["input_f32"], "--output", out], f"ort_time.js on {case['label']}")
            got["ort"] = np.fromfile(out, dtype="<f4")
        except Failure as e:
            problems.append(str(e))
        scale = max(float(np.abs(want).max()), 1e-30)
        check = {"reference": "PyTorch float64", "max_abs_reference": scale, "tol": args.tol}
        case["ok"] = True
        for eng in ENGINES:
            if eng not in got:
                check[eng] = None
                case["ok"] = False
                continue
            g = got[eng]
            if g.size != want.size:
                problems.append(f"{case['label']} {shape_str(case['shape'])}: {TITLES[eng]} gave "
                                f"{g.size} values, PyTorch {want.size} ({want.shape})")
                check[eng] = None
                case["ok"] = False
                continue
            err = float(np.abs(g.reshape(want.shape).astype(np.float64) - want).max()) / scale
            check[eng] = err
            if not err <= args.tol:  # NaN fails too
                problems.append(f"{case['label']} {shape_str(case['shape'])}: {CHECKED[eng]} "
                                f"differs from PyTorch float64 by {err:.2e} of the largest "
                                f"output (tolerance {args.tol:g})")
                case["ok"] = False
        case["check"] = check
        print(f"checked {case['label']} {shape_str(case['shape'])}: max |err| / max |ref| "
              f"against PyTorch float64: " + ", ".join(
                  f"{CHECKED[e]} {check[e]:.1e}" if check[e] is not None else f"{CHECKED[e]} -"
                  for e in ENGINES), file=sys.stderr)
    return problems


# ---- timing --------------------------------------------------------------------------------------

def measure(args, case, threads):
    """One row: every engine's rounds; also the last `visattn bench` document (its header)."""
    load = os.getloadavg()[0]
    rounds = {e: [] for e in ENGINES}
    for r in range(args.rounds):
        order = ENGINES[r % len(ENGINES):] + ENGINES[:r % len(ENGINES)]
        for eng in order:
            if eng == "visattn":
                t, doc = time_visattn(args, case, threads)
            elif eng == "ort":
                t = time_ort(args, case, threads)
            else:
                t = time_torch(args, case, threads)
            t["position"] = order.index(eng)
            rounds[eng].append(t)
    row = {"case": case["label"], "kind": case["kind"], "config": case["config"],
           "shape": list(case["shape"]), "threads": threads, "checked": case["ok"],
           "load_avg_start": load, "engines": {}}
    for eng in ENGINES:
        med = sorted(t["median_ms"] for t in rounds[eng])
        row["engines"][eng] = {"median_ms": statistics.median(med), "p10_ms": quantile(med, 0.1),
                               "p90_ms": quantile(med, 0.9), "rounds": rounds[eng]}
    v = row["engines"]["visattn"]["median_ms"]
    row["ort_over_visattn"] = row["engines"]["ort"]["median_ms"] / v
    row["torch_over_visattn"] = row["engines"]["torch"]["median_ms"] / v
    return row, doc


# ---- report --------------------------------------------------------------------------------------

def header_lines(doc):
    env = doc["environment"]
    la = doc["load_avg"]
    return [
        f"{doc['date']}; {doc['cpu_model']}, {doc['cores']} cores; visattn {doc['visattn']} "
        f"(OpenBLAS kernel {doc['blas_kernel']}); ONNX Runtime {doc['ort_version']} "
        f"(onnxruntime-node, Node.js {doc['node_version']}); PyTorch {doc['torch_version']}",
        "environment: " + ", ".join(f"{k}={v if v is not None else 'unset'}" for k, v in
                                    env.items()) +
        f"; load average {la['before'][0]:.2f} before, {la['after'][0]:.2f} after",
        f"{doc['rounds']} rounds, engine order rotated each round; per round and engine "
        f"{doc['warmup']} warm-up and {doc['iters']} timed passes; ms = median over rounds of "
        "each round's median pass (p10-p90 over the round medians); ORT/visattn and "
        "PyTorch/visattn = ratio of medians (> 1: visattn faster)",
    ]


def ratio_str(x):
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 0.1 else f"{x:.2g}"


def table(doc):
    head = ["case", "input", "threads", "visattn ms", "ONNX Runtime ms", "PyTorch ms",
            "ORT÷visattn", "PyTorch÷visattn"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 5) + "|"]
    for r in doc["rows"]:
        cells = [r["case"] + ("" if r["checked"] else " (MISMATCH)"), shape_str(r["shape"]),
                 str(r["threads"])]
        for eng in ENGINES:
            e = r["engines"][eng]
            cells.append(f"{e['median_ms']:.3f} ({e['p10_ms']:.3f}–{e['p90_ms']:.3f})")
        cells += [ratio_str(r["ort_over_visattn"]), ratio_str(r["torch_over_visattn"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def check_lines(doc):
    out = ["Checked before timing (max |error| / max |output| against PyTorch float64, "
           f"tolerance {doc['tol']:g}):"]
    for c in doc["cases"]:
        ch = c["check"]
        out.append(f"- {c['label']} {shape_str(c['shape'])}: " + ", ".join(
            f"{CHECKED[e]} {ch[e]:.1e}" if ch[e] is not None else f"{CHECKED[e]} failed"
            for e in ENGINES))
    return out


def report(doc):
    print("\n".join(header_lines(doc)))
    print()
    print("\n".join(table(doc)))
    print()
    print("\n".join(check_lines(doc)))
    for n in doc.get("notes", []):
        print(f"note: {n}")


# ---- main ----------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--blocks", help="comma list of blocks (visattn bench names)")
    ap.add_argument("--shape", action="append",
                    help="N,C,H,W for --blocks (repeat); default: the bench's default shapes")
    ap.add_argument("--conv", action="append", help="conv specs, comma list (repeatable)")
    ap.add_argument("--networks", help="comma list of BUILDER[+ATTENTION]")
    ap.add_argument("--net-shape", action="append", help="N,C,H,W for --networks (repeat); "
                    "default 1,3,224,224")
    ap.add_argument("--threads", default="1,2", help="comma list (default 1,2)")
    ap.add_argument("--rounds", type=int, default=6,
                    help="rotated rounds (default 6: each engine twice in each position)")
    ap.add_argument("--warmup", type=int, default=5,
                    help="untimed passes per round and engine (default 5)")
    ap.add_argument("--iters", type=int, default=20,
                    help="timed passes per round and engine (default 20)")
    ap.add_argument("--tol", type=float, default=1e-3,
                    help="max |error| / max |output| against PyTorch float64 (default 1e-3)")
    ap.add_argument("--keep-going", action="store_true",
                    help="time cases that failed the check too (marked MISMATCH)")
    ap.add_argument("--visattn", default="build/visattn", help="the visattn CLI")
    ap.add_argument("--ort-dir", default=os.path.join(HERE, "ort"),
                    help="directory whose node_modules holds onnxruntime-node (default tools/ort)")
    ap.add_argument("--node", default="node", help="the Node.js executable")
    ap.add_argument("--workdir", help="keep the exported files here (default: a temporary dir)")
    ap.add_argument("--json", help="write everything measured here")
    ap.add_argument("--from-json", metavar="FILE", help="print a saved --json run; measure nothing")
    args = ap.parse_args()
    try:
        if args.from_json:
            with open(args.from_json) as f:
                report(json.load(f))
            return 0
        if args.workdir:
            os.makedirs(args.workdir, exist_ok=True)
            return run(args)
        with tempfile.TemporaryDirectory(prefix="compare_engines.") as tmp:
            args.workdir = tmp
            return run(args)
    except Failure as e:
        print(f"compare_engines: {e}", file=sys.stderr)
        return 1


def run(args):
    if not os.path.exists(args.visattn) and os.path.exists(os.path.join(ROOT, args.visattn)):
        args.visattn = os.path.join(ROOT, args.visattn)
    if not os.path.exists(args.visattn):
        raise Failure(f"no visattn CLI at {args.visattn} (build it, or give --visattn)")
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        threads = []
    cores = len(os.sched_getaffinity(0))
    if not threads or min(threads) < 1 or max(threads) > cores:
        raise Failure(f"--threads '{args.threads}': want counts from 1 to the {cores} cores this "
                      "process may use (visattn would lower a larger count, the others not)")
    if args.rounds < 1 or args.iters < 1 or args.warmup < 0:
        raise Failure("--rounds and --iters must be >= 1, --warmup >= 0")
    if not (args.blocks or args.conv or args.networks):
        raise Failure("nothing to compare: give --blocks, --conv and/or --networks")
    ort = ort_version(args)
    if ort != ORT_VERSION:
        print(f"compare_engines: warning: ONNX Runtime {ort}, not the {ORT_VERSION} the docs "
              "measured", file=sys.stderr)

    cases, notes = [], []
    if args.blocks:
        shapes = [parse_dims(s, ",", "--shape") for s in args.shape or []]
        found, notes = block_cases(args.visattn, args.blocks, shapes)
        cases += found
    for item in ",".join(args.conv or []).split(","):
        if item:
            kind, config, shape = parse_conv(item)
            cases.append({"kind": "conv", "name": item.split("@")[0], "model": kind,
                          "config": config, "shape": shape})
    if args.networks:
        shapes = [parse_dims(s, ",", "--net-shape") for s in args.net_shape or ["1,3,224,224"]]
        cases += network_cases([n for n in args.networks.split(",") if n], shapes)
    if not cases:
        raise Failure("nothing to compare: " + "; ".join(notes))

    problems = prepare(args, cases, max(threads))
    if problems:
        for p in problems:
            print(f"compare_engines: {p}", file=sys.stderr)
        if not args.keep_going:
            raise Failure(f"{len(problems)} problem(s) in the check before timing; nothing was "
                          "timed (--keep-going times the cases that ran anyway)")
        # Mismatching cases are timed (and marked); cases an engine could not run are not.
        cases = [c for c in cases if all(c["check"][e] is not None for e in ENGINES)]
        if not cases:
            raise Failure("no case ran in all three engines; nothing to time")

    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    load_before = os.getloadavg()
    rows = []
    for case in cases:
        for t in threads:
            row, bench = measure(args, case, t)
            rows.append(row)
            r = rows[-1]
            print(f"timed {r['case']} {shape_str(r['shape'])} t{t}: " + ", ".join(
                f"{TITLES[e]} {r['engines'][e]['median_ms']:.3f} ms" for e in ENGINES),
                file=sys.stderr)
    load_after = os.getloadavg()
    node = subprocess.run([args.node, "--version"], capture_output=True, text=True).stdout.strip()
    doc = {
        "tool": "tools/compare_engines.py",
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu_model": bench.get("cpu_model") or compare_torch.cpu_model(),
        "cores": os.cpu_count(), "cores_usable": cores,
        "visattn": bench["visattn"], "blas_kernel": bench["blas_kernel"],
        "openblas_coretype": bench["openblas_coretype"],
        "ort_version": ort, "node_version": node, "torch_version": torch.__version__,
        "environment": env,
        "load_avg": {"before": list(load_before), "after": list(load_after)},
        "threads": threads, "rounds": args.rounds, "warmup": args.warmup, "iters": args.iters,
        "tol": args.tol, "engine_order": "rotated by one each round, starting "
                                         + ", ".join(ENGINES),
        "ort_session": {"intraOpNumThreads": "threads", "interOpNumThreads": 1,
                        "executionMode": "sequential", "graphOptimizationLevel": "all",
                        "between_passes": "minor V8 garbage collection, untimed"},
        "cases": [{k: c[k] for k in ("label", "kind", "config", "shape", "check")}
                  for c in cases],
        "notes": notes + [f"problem before timing: {p}" for p in problems],
        "rows": rows,
    }
    doc["markdown"] = "\n".join(header_lines(doc) + [""] + table(doc))
    report(doc)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
