#!/usr/bin/python3
"""`visattn bench` runs, its outputs agree with each other, and its counts are right.

(a) `visattn bench` on two small shapes at 1 and 2 threads, with --json, --csv and --svg: every
    registered block plus the yardstick in every (shape, threads) group; JSON and CSV hold the same
    rows with the same fields; the SVG parses as XML with an <svg> root; the timings are sane.
    A config the bench's table cannot run at some C fails with a clear one-line message.
(b) For every row, params, MACs and FLOPs equal `visattn info` on a file exported from our PyTorch
    version of that block and config (tools/export.py), and params and MACs equal the closed-form
    counts of tools/analytic_cost.py (and params equal sum(p.numel()) of the PyTorch module).
(e) `visattn bench --network resnet18 --attention ...` and mobilenet_v3_small: one row per block in
    the slot, the plain network first, params and MACs equal PyTorch's (tools/networks.py, the
    parameters' sum and the convs' and Linears' MACs), 'vs none' 1 for the plain row; misuse is a
    usage error.
(c) For each block, at several shapes (odd sizes, N = 2, H != W, 1 x 1, irmb windows that do not
    divide the map), with the bench config and with every PARITY_CASES config: `visattn info`'s MACs
    and params equal analytic_cost's (simam refuses 1 x 1 with one line).
The benchmark's speed is not tested: it is a program, not a test. Prints one line per failure and
a summary; exits non-zero if anything fails.
"""
import argparse
import csv
import datetime
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import analytic_cost  # noqa: E402
import visattn_ref  # noqa: E402
from export import export  # noqa: E402
from export_conv_bn import ConvBN  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402

YARDSTICK = analytic_cost.YARDSTICK
BENCH_SHAPES = [(1, 16, 9, 7), (2, 32, 14, 10)]
FIELDS = ["block", "config", "weights", "n", "c", "h", "w", "threads", "params", "macs", "flops",
          "median_ms", "p10_ms", "p90_ms", "images_per_s", "workspace_bytes", "iters",
          "overhead_vs_conv", "noise"]
# Extra input shapes per channel count for (c): odd sizes, batch 2, H != W, 1 x 1, and maps that
# irmb's 7 x 7 windows do not divide (15 x 8, 5 x 23) or that are smaller than one window.
EXTRA_HW = [(1, 9, 7), (2, 14, 10), (1, 5, 23), (2, 15, 8), (1, 1, 1), (3, 13, 13), (2, 3, 2),
            (1, 56, 56)]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL " + msg)


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def registered_blocks(visattn):
    r = run([visattn, "list"])
    if r.returncode != 0:
        sys.exit(f"visattn list failed: {r.stderr}")
    return [line.split()[1] for line in r.stdout.splitlines() if line.startswith("block ")]


def torch_module(block, config, seed):
    torch.manual_seed(seed)
    if block == YARDSTICK:
        return randomize_(ConvBN(**config), seed)  # keys conv.*, bn.*, as conv_bn_relu reads them
    return randomize_(visattn_ref.load(block).build(dict(config)), seed)


class Exported:
    """One exported weight file per (block, config), reused for every shape."""

    def __init__(self, workdir):
        self.workdir, self.files, self.modules = workdir, {}, {}

    def get(self, block, config):
        key = (block, json.dumps(config, sort_keys=True))
        if key not in self.files:
            module = torch_module(block, config, len(self.files) + 1)
            path = os.path.join(self.workdir, f"{block}_{len(self.files)}.safetensors")
            if block == YARDSTICK:
                export(module, path, model="conv_bn_relu", config=config)
            else:
                export(module, path, block=block, config=config)
            self.files[key], self.modules[key] = path, module
        return self.files[key], self.modules[key]


def info(visattn, path, shape):
    r = run([visattn, "info", path, "--shape", ",".join(map(str, shape))])
    if r.returncode != 0:
        return None, r.stderr.strip()
    return json.loads(r.stdout), None


def check_outputs(args, blocks):
    """(a): run the bench, compare JSON, CSV, SVG and stdout."""
    j, c, s = (os.path.join(args.workdir, "bench." + e) for e in ("json", "csv", "svg"))
    cmd = [args.visattn, "bench", "--iters", "2", "--warmup", "1", "--min-time", "0",
           "--threads", "1,2", "--json", j, "--csv", c, "--svg", s]
    for shape in BENCH_SHAPES:
        cmd += ["--shape", ",".join(map(str, shape))]
    r = run(cmd)
    if r.returncode != 0:
        fail(f"visattn bench failed (exit {r.returncode}): {r.stderr.strip()}")
        return []
    with open(j) as f:
        doc = json.load(f)
    rows = doc["rows"]
    want = [(b, shape, t) for shape in BENCH_SHAPES for t in (1, 2) for b in [YARDSTICK] + blocks]
    got = [(x["block"], (x["n"], x["c"], x["h"], x["w"]), x["threads"]) for x in rows]
    if got != want:
        fail(f"bench rows {got} != expected {want}")
    table = [line.split()[0] for line in r.stdout.splitlines()[4:] if line.strip()]
    if table != [x["block"] for x in rows]:
        fail(f"stdout table rows {table} != JSON rows")
    # Which OpenBLAS kernel ran (as `visattn --version` names it) and the thread counts, in the
    # table's header and the JSON.
    version = run([args.visattn, "--version"]).stdout
    m = re.search(r"OpenBLAS kernel (\w+),", version)
    kernel = m.group(1) if m else None
    coretype = os.environ.get("OPENBLAS_CORETYPE") or None
    want_line = (f"OpenBLAS kernel {kernel} (OPENBLAS_CORETYPE {coretype or 'unset'}), "
                 f"threads 1,2")
    if not kernel or r.stdout.splitlines()[1] != want_line:
        fail(f"bench header line {r.stdout.splitlines()[1]!r} != {want_line!r} "
             f"(visattn --version: {version.strip()!r})")
    got_head = (doc.get("blas_kernel"), doc.get("openblas_coretype"), doc.get("threads"))
    if got_head != (kernel, coretype, [1, 2]):
        fail(f"JSON blas_kernel, openblas_coretype, threads {got_head} != "
             f"{(kernel, coretype, [1, 2])}")
    with open(c, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        crows = list(reader)
    if header != FIELDS:
        fail(f"CSV header {header} != {FIELDS}")
    if len(crows) != len(rows):
        fail(f"CSV has {len(crows)} rows, JSON {len(rows)}")
    for i, (jr, cr) in enumerate(zip(rows, crows)):
        if list(jr) != FIELDS:
            fail(f"JSON row {i} fields {list(jr)} != {FIELDS}")
            continue
        for k, v in zip(header, cr):
            jv = jr[k]
            if k == "config":
                same = json.loads(v) == jv
            elif isinstance(jv, str):
                same = v == jv
            elif jv is None:
                same = v == ""
            else:
                same = abs(float(v) - jv) <= 1e-6 * max(1.0, abs(jv))
            if not same:
                fail(f"row {i} field {k}: CSV {v!r} != JSON {jv!r}")
    for x in rows:
        label = f"{x['block']} {x['n']}x{x['c']}x{x['h']}x{x['w']} t{x['threads']}"
        if not (0 < x["p10_ms"] <= x["median_ms"] <= x["p90_ms"]):
            fail(f"{label}: p10 {x['p10_ms']}, median {x['median_ms']}, p90 {x['p90_ms']}")
        if abs(x["images_per_s"] - x["n"] / (x["median_ms"] / 1e3)) > 1e-3 * x["images_per_s"]:
            fail(f"{label}: images/s {x['images_per_s']} != N / median")
        if x["iters"] < 2 or x["workspace_bytes"] < 0:
            fail(f"{label}: iters {x['iters']}, workspace {x['workspace_bytes']}")
        if x["block"] == YARDSTICK and abs(x["overhead_vs_conv"] - 1) > 1e-9:
            fail(f"{label}: yardstick overhead {x['overhead_vs_conv']} != 1")
    root = ET.parse(s).getroot()
    if root.tag != "{http://www.w3.org/2000/svg}svg":
        fail(f"SVG root is <{root.tag}>, not <svg>")
    if len(root.findall(".//{http://www.w3.org/2000/svg}rect")) < 2 * len(rows):
        fail("SVG has fewer bars than rows")

    # The bench's config table cannot run shuffle at an odd C (2·groups never divides it): the
    # bench skips it with one line naming the block, the shape and the config, and since nothing
    # asked for was timed, fails.
    r = run([args.visattn, "bench", "--blocks", "shuffle", "--shape", "1,15,8,8", "--iters", "1"])
    notes = [x for x in r.stderr.splitlines() if "bench: skipped " in x]
    if r.returncode != 1 or len(notes) != 1 or not all(
            s in notes[0] for s in ("shuffle", "1x15x8x8", "{")):
        fail(f"bench with an unrunnable config: exit {r.returncode}, {r.stderr.strip()!r}")
    # The config table at every C from 1 to 40 and a few larger ones: every block runs, except
    # shuffle at an odd C and bam below C = 16 (its gates are C // 16 wide), which must fail as
    # above.
    for c in list(range(1, 41)) + [96, 100, 192, 384]:
        names = [b for b in blocks if (b != "shuffle" or c % 2 == 0) and (b != "bam" or c >= 16)]
        r = run([args.visattn, "bench", "--blocks", ",".join(names), "--shape", f"1,{c},3,2",
                 "--iters", "1", "--warmup", "0", "--threads", "1"])
        if r.returncode != 0:
            fail(f"bench config table at C = {c}: {r.stderr.strip()}")
        for b, cannot in (("shuffle", c % 2), ("bam", c < 16)):
            if not cannot or b not in blocks:
                continue
            r = run([args.visattn, "bench", "--blocks", b, "--shape", f"1,{c},3,2",
                     "--iters", "1", "--threads", "1"])
            if r.returncode == 0 or f"{b} config" not in r.stderr:
                fail(f"{b} at C = {c}: exit {r.returncode}, {r.stderr.strip()!r}")
    # An explicit block list, an alias, and --no-yardstick.
    r = run([args.visattn, "bench", "--blocks", "channel", "--no-yardstick", "--shape", "1,8,3,3",
             "--iters", "1", "--json", j])
    with open(j) as f:
        names = [x["block"] for x in json.load(f)["rows"]]
    if r.returncode != 0 or names != ["se"]:
        fail(f"--blocks channel --no-yardstick: exit {r.returncode}, rows {names}, {r.stderr}")
    # A model by name (an EMO variant at its default config); "all" stays the blocks.
    r = run([args.visattn, "bench", "--blocks", "EMO_1M", "--no-yardstick", "--shape",
             "1,3,40,36", "--iters", "1", "--min-time", "0", "--json", j])
    with open(j) as f:
        got = [(x["block"], x["params"]) for x in json.load(f)["rows"]]
    if r.returncode != 0 or got != [("EMO_1M", 1361168)]:
        fail(f"--blocks EMO_1M: exit {r.returncode}, rows {got}, {r.stderr}")
    if any(x["block"].startswith("EMO") for x in rows):
        fail("--blocks all included a model")
    r = run([args.visattn, "bench", "--blocks", "EMO_9M", "--iters", "1"])
    if r.returncode == 0 or "EMO_9M" not in r.stderr:
        fail(f"--blocks EMO_9M: exit {r.returncode}, {r.stderr.strip()!r}")
    return rows


QUICK = ["--iters", "1", "--min-time", "0", "--warmup", "0"]
SVG_NS = "{http://www.w3.org/2000/svg}"


def bench_json(args, extra, name="opt.json"):
    """Run `visattn bench ... --json FILE`; (process, document or None)."""
    path = os.path.join(args.workdir, name)
    if os.path.exists(path):
        os.remove(path)
    r = run([args.visattn, "bench", "--json", path] + extra)
    doc = None
    if os.path.exists(path):
        with open(path) as f:
            doc = json.load(f)
    return r, doc


def row_keys(doc):
    return [(x["block"], x["c"], x["threads"]) for x in doc["rows"]] if doc else None


def check_svg_labels(args):
    """Each median label sits at the end of its own bar, not after the p10-p90 whisker."""
    svg = os.path.join(args.workdir, "labels.svg")
    r, doc = bench_json(args, ["--blocks", "se,cbam,triplet", "--shape", "1,16,9,7", "--shape",
                               "1,32,6,6", "--threads", "1", "--iters", "9", "--min-time", "0",
                               "--warmup", "1", "--svg", svg], "labels.json")
    if r.returncode != 0 or not doc:
        fail(f"bench --svg: exit {r.returncode}, {r.stderr.strip()!r}")
        return
    root = ET.parse(svg).getroot()
    bars = [e for e in root.iter(SVG_NS + "rect") if e.get("class") == "latency"]
    labels = [e for e in root.iter(SVG_NS + "text") if e.get("class") == "median"]
    whiskers = [e for e in root.iter(SVG_NS + "path") if e.get("class") == "whisker"]
    rows = doc["rows"]
    if not (len(bars) == len(labels) == len(whiskers) == len(rows)):
        fail(f"SVG: {len(bars)} latency bars, {len(labels)} median labels, {len(whiskers)} "
             f"whiskers for {len(rows)} rows")
        return
    past_bar = 0
    for x, bar, label, whisker in zip(rows, bars, labels, whiskers):
        end = float(bar.get("x")) + float(bar.get("width"))
        lx = float(label.get("x"))
        x90 = float(re.search(r"H\s*([\d.]+)", whisker.get("d")).group(1))
        if label.text != f"{x['median_ms']:.3f}":
            fail(f"SVG label {label.text!r} != median {x['median_ms']:.3f} of {x['block']}")
        if not (end <= lx <= end + 6):
            fail(f"SVG {x['block']} c{x['c']}: label at x {lx}, its bar ends at {end:.1f} "
                 f"(whisker to {x90})")
        past_bar += x90 > end + 6
    # The case the label used to get wrong must be in the chart for this check to mean anything.
    if past_bar == 0:
        fail("SVG: no whisker reaches past its bar's label position; label check proved nothing")


def check_noise_and_metadata(args):
    """Per-row noise flags agree with the rule and the warnings; the run's circumstances."""
    cores = len(os.sched_getaffinity(0))
    r, doc = bench_json(args, ["--blocks", "se,spatial", "--shape", "1,16,9,7", "--threads",
                               f"1,{cores}", "--iters", "7", "--min-time", "0", "--warmup", "1"])
    if r.returncode != 0 or not doc:
        fail(f"bench for noise flags: exit {r.returncode}, {r.stderr.strip()!r}")
        return
    version = run([args.visattn, "--version"]).stdout
    m = re.search(r"OpenBLAS kernel (\w+),", version)
    cpu = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    date = doc.get("date") or ""
    try:
        when = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        age = (datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()
    except ValueError:
        age = None
    if age is None or not -5 <= age <= 600:
        fail(f"JSON date {date!r} is not the UTC ISO 8601 time of the run")
    want = {"visattn": version.split()[1] if version.split()[:1] == ["visattn"] else None,
            "cpu_model": cpu, "cores": cores, "blas_kernel": m.group(1) if m else None,
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE") or None,
            "threads": sorted({1, cores}), "noise_spread": 1.2}
    got = {k: doc.get(k) for k in want}
    if got != want:
        fail(f"JSON run record {got} != {want}")
    loads = (doc.get("load_avg_start"), doc.get("load_avg_end"))
    if not all(isinstance(v, (int, float)) and 0 <= v < 10000 for v in loads):
        fail(f"JSON load averages {loads}")
        return
    warnings = [x for x in r.stderr.splitlines() if "warning" in x]
    for x in doc["rows"]:
        ratio = x["p90_ms"] / x["median_ms"]
        if abs(ratio - 1.2) < 1e-3:
            continue  # too close to the threshold to tell after rounding
        want = []
        if ratio > 1.2:
            want.append("spread")
        if loads[0] > cores - x["threads"]:
            want.append("load")
        want = "+".join(want) or None
        label = f"{x['block']} at {x['n']}x{x['c']}x{x['h']}x{x['w']}, {x['threads']} thread"
        if x["noise"] != want:
            fail(f"{label}: noise {x['noise']!r}, expected {want!r} (p90/median {ratio:.3f}, "
                 f"load {loads[0]}, {cores} cores)")
        said = any(label in w and "p90" in w for w in warnings)
        if said != (ratio > 1.2):
            fail(f"{label}: spread warning {'given' if said else 'missing'} at p90/median "
                 f"{ratio:.3f}: {warnings}")
    for t in sorted({1, cores}):
        said = any(f"at {t} thread" in w and "load average" in w for w in warnings)
        if said != (loads[0] > cores - t):
            fail(f"load warning at {t} threads {'given' if said else 'missing'} (load "
                 f"{loads[0]}, {cores} cores): {warnings}")


def check_options(args, exported):
    """--blocks repeated, --config, --model, '-' outputs, skipped rows, thread counts."""
    q1 = QUICK + ["--threads", "1"]
    # --blocks adds up, in either option form; rows in registry order, yardstick first.
    r, doc = bench_json(args, ["--blocks", "cbam", "--blocks=se", "--shape", "1,8,3,3"] + q1)
    want = [(YARDSTICK, 8, 1), ("se", 8, 1), ("cbam", 8, 1)]
    if r.returncode != 0 or row_keys(doc) != want:
        fail(f"--blocks cbam --blocks=se: exit {r.returncode}, rows {row_keys(doc)}, {r.stderr}")
    r, doc = bench_json(args, ["--blocks=se", "--no-yardstick", "--shape", "1,8,3,3"] + q1)
    if r.returncode != 0 or row_keys(doc) != [("se", 8, 1)]:
        fail(f"--blocks=se: exit {r.returncode}, rows {row_keys(doc)}, {r.stderr}")

    # --config: merged into the bench config of the one block named.
    shape = (1, 16, 3, 3)
    r, doc = bench_json(args, ["--blocks", "cbam", "--config", '{"reduction_ratio": 4}',
                               "--no-yardstick", "--shape", "1,16,3,3"] + q1)
    config = {"gate_channels": 16, "reduction_ratio": 4}
    params = analytic_cost.cost("cbam", config, shape)[0]
    got = [(x["block"], x["config"], x["params"]) for x in doc["rows"]] if doc else None
    if r.returncode != 0 or got != [("cbam", config, params)]:
        fail(f"--config reduction_ratio 4: exit {r.returncode}, rows {got}, {r.stderr}")
    if params == analytic_cost.cost("cbam", {"gate_channels": 16}, shape)[0]:
        fail("--config check: reduction_ratio 4 does not change cbam's params; pick another key")
    for extra in (["--blocks", "se,cbam"], ["--blocks", "se", "--blocks", "cbam"], []):
        r, doc = bench_json(args, extra + ["--config", '{"reduction_ratio": 4}', "--shape",
                                           "1,16,3,3"] + q1)
        if r.returncode != 2 or doc or r.stdout or "--config" not in r.stderr:
            fail(f"--config with {extra or 'every block'}: exit {r.returncode}, {r.stderr!r}")
    r, doc = bench_json(args, ["--blocks", "cbam", "--config", "[4]"] + q1)
    if r.returncode != 2 or doc or "--config" not in r.stderr:
        fail(f"--config '[4]': exit {r.returncode}, {r.stderr!r}")

    # A block that cannot run at a shape is skipped with one note; the rest is timed.
    r, doc = bench_json(args, ["--blocks", "irmb", "--config", '{"dim_head": 16}', "--shape",
                               "1,16,3,3", "--shape", "1,24,3,3"] + QUICK + ["--threads", "1,2"])
    notes = [x for x in r.stderr.splitlines() if "bench: skipped " in x]
    want = [(b, c, t) for c in (16, 24) for t in (1, 2) for b in (YARDSTICK, "irmb")
            if (b, c) != ("irmb", 24)]
    want = sorted(want, key=lambda k: (k[1], k[2]))
    want = [k for k in want if k[2] <= len(os.sched_getaffinity(0))]
    if (r.returncode != 0 or row_keys(doc) != want or len(notes) != 1
            or not all(s in notes[0] for s in ("irmb", "1x24x3x3", "dim_head"))
            or [(x["block"], x["c"]) for x in doc["skipped"]] != [("irmb", 24)]):
        fail(f"irmb dim_head 16 at C = 16 and 24: exit {r.returncode}, rows {row_keys(doc)}, "
             f"notes {notes}")
    r, doc = bench_json(args, ["--blocks", "shuffle,se", "--no-yardstick", "--shape", "1,15,4,4",
                               "--shape", "1,16,4,4"] + q1)
    want = [("se", 15, 1), ("shuffle", 16, 1), ("se", 16, 1)]
    if r.returncode != 0 or sorted(row_keys(doc) or []) != sorted(want):
        fail(f"shuffle at C = 15 skipped, the rest timed: exit {r.returncode}, "
             f"rows {row_keys(doc)}, {r.stderr.strip()!r}")

    # --model FILE: that file's block with its weights and config, at the given shapes.
    path, module = exported.get("cbam", {"gate_channels": 16})
    r, doc = bench_json(args, ["--model", path, "--no-yardstick", "--shape", "1,16,5,5", "--shape",
                               "1,8,5,5"] + q1)
    got = [(x["block"], x["config"], x["weights"], x["c"], x["params"]) for x in doc["rows"]] \
        if doc else None
    numel = sum(p.numel() for p in module.parameters())
    if r.returncode != 0 or got != [("cbam", {"gate_channels": 16}, path, 16, numel)] or \
            not any("skipped cbam at 1x8x5x5" in x for x in r.stderr.splitlines()):
        fail(f"--model {path}: exit {r.returncode}, rows {got}, {r.stderr.strip()!r}")
    r, doc = bench_json(args, ["--model", path, "--shape", "1,8,5,5"] + q1)
    if r.returncode != 1 or "nothing to time" not in r.stderr:
        fail(f"--model at a shape it cannot take: exit {r.returncode}, {r.stderr.strip()!r}")
    r, doc = bench_json(args, ["--model", os.path.join(args.workdir, "absent.safetensors")] + q1)
    if r.returncode != 1 or "absent.safetensors" not in r.stderr or doc:
        fail(f"--model absent file: exit {r.returncode}, {r.stderr.strip()!r}")

    # '-' is standard output: it then holds only the JSON or CSV, the table goes to stderr.
    base = [args.visattn, "bench", "--blocks", "se", "--shape", "1,8,3,3"] + q1
    r = run(base + ["--json", "-"])
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = None
    if r.returncode != 0 or row_keys(doc) != [(YARDSTICK, 8, 1), ("se", 8, 1)] or \
            "median ms" not in r.stderr:
        fail(f"--json -: exit {r.returncode}, stdout {r.stdout[:200]!r}, {r.stderr!r}")
    r = run(base + ["--csv", "-"])
    lines = list(csv.reader(r.stdout.splitlines()))
    if r.returncode != 0 or not lines or lines[0] != FIELDS or [x[0] for x in lines[1:]] != \
            [YARDSTICK, "se"] or "median ms" not in r.stderr:
        fail(f"--csv -: exit {r.returncode}, stdout {r.stdout[:200]!r}, {r.stderr!r}")
    r = run(base + ["--json", "-", "--csv", "-"])
    if r.returncode != 2 or r.stdout:
        fail(f"--json - --csv -: exit {r.returncode}, stdout {r.stdout[:100]!r}")

    # Thread counts above the cores are lowered to the cores with a warning, repeats dropped.
    cores = len(os.sched_getaffinity(0))
    r, doc = bench_json(args, ["--blocks", "se", "--no-yardstick", "--shape", "1,8,3,3",
                               "--threads", f"1,{cores + 1},{cores}"] + QUICK)
    want = sorted({1, cores})
    got = [x["threads"] for x in doc["rows"]] if doc else None
    if r.returncode != 0 or got != want or (doc or {}).get("threads") != want or \
            not any(f"asks for {cores + 1} threads" in x for x in r.stderr.splitlines()):
        fail(f"--threads 1,{cores + 1},{cores} on {cores} cores: exit {r.returncode}, threads "
             f"{got}, {r.stderr.strip()!r}")

    # Usage errors write nothing; an output that cannot be written fails before any timing.
    j = os.path.join(args.workdir, "never.json")
    if os.path.exists(j):
        os.remove(j)
    r = run([args.visattn, "bench", "--json", j, "-o"] + q1)
    if r.returncode != 2 or r.stdout or os.path.exists(j) or "'-o'" not in r.stderr:
        fail(f"bench -o: exit {r.returncode}, stdout {r.stdout[:100]!r}, {r.stderr.strip()!r}")
    r = run(base + ["--json", os.path.join(args.workdir, "no", "such", "dir.json")])
    if r.returncode != 1 or r.stdout or "dir.json" not in r.stderr:
        fail(f"bench --json into a missing directory: exit {r.returncode}, stdout "
             f"{r.stdout[:100]!r}, {r.stderr.strip()!r}")

    # --help names every option.
    r = run([args.visattn, "bench", "--help"])
    missing = [o for o in ("--blocks", "--config", "--model", "--shape", "--threads", "--warmup",
                           "--iters", "--min-time", "--json", "--csv", "--svg", "--no-yardstick")
               if o not in r.stdout]
    if r.returncode != 0 or missing or "'-'" not in r.stdout:
        fail(f"bench --help: exit {r.returncode}, missing {missing}")


def check_compare_torch(args):
    """tools/compare_torch.py reads the bench's JSON: one tiny run end to end."""
    out = os.path.join(args.workdir, "compare.json")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools",
                          "compare_torch.py")
    r = run([sys.executable, script, "--visattn", args.visattn, "--blocks", "se", "--shape",
             "1,8,5,5", "--threads", "1", "--rounds", "1", "--min-time", "0", "--iters", "1",
             "--warmup", "0", "--idle-wait", "0", "--retries", "0", "--json", out])
    try:
        with open(out) as f:
            doc = json.load(f)
        got = [(x["block"], x["threads"], x["visattn_ms"] > 0, x["torch_ms"] > 0)
               for x in doc["rows"]]
    except (OSError, ValueError, KeyError):
        got = None
    if r.returncode != 0 or got != [(YARDSTICK, 1, True, True), ("se", 1, True, True)]:
        fail(f"compare_torch.py: exit {r.returncode}, rows {got}, {r.stderr.strip()[-500:]!r}")


def check_counts(args, rows, exported):
    """(b): each bench row against `visattn info` and the analytic counts."""
    for x in rows:
        shape = (x["n"], x["c"], x["h"], x["w"])
        label = f"{x['block']} {json.dumps(x['config'])} at {shape}"
        path, module = exported.get(x["block"], x["config"])
        got, err = info(args.visattn, path, shape)
        if err:
            fail(f"{label}: visattn info failed: {err}")
            continue
        for k in ("params", "macs", "flops"):
            if got[k] != x[k]:
                fail(f"{label}: bench {k} {x[k]} != visattn info {got[k]}")
        p, m = analytic_cost.cost(x["block"], x["config"], shape)
        if (x["params"], x["macs"]) != (p, m):
            fail(f"{label}: bench params, MACs {x['params']}, {x['macs']} != analytic {p}, {m}")
        numel = sum(t.numel() for t in module.parameters())
        if numel != p:
            fail(f"{label}: analytic params {p} != PyTorch's {numel}")
    print(f"(b) {len(rows)} bench rows checked against visattn info and analytic_cost")


def check_shapes(args, blocks, exported):
    """(c): MACs and params at many shapes, bench configs and every parity config."""
    cases = []
    for c in (16, 32, 64):
        bench_rows = run([args.visattn, "bench", "--shape", f"1,{c},2,2", "--iters", "1",
                          "--warmup", "0", "--threads", "1", "--json",
                          os.path.join(args.workdir, f"cfg{c}.json")])
        if bench_rows.returncode != 0:
            fail(f"bench at C = {c}: {bench_rows.stderr.strip()}")
            continue
        with open(os.path.join(args.workdir, f"cfg{c}.json")) as f:
            for x in json.load(f)["rows"]:
                cases += [(x["block"], x["config"], (n, c, h, w)) for n, h, w in EXTRA_HW]
    for name in blocks:
        for config, shape in visattn_ref.load(name).PARITY_CASES:
            n, c, h, w = shape
            for s in (shape, (2, c, h + 3, w + 1), (1, c, 2 * h + 1, w)):
                cases.append((name, config, s))
    checked = 0
    for block, config, shape in cases:
        path, _ = exported.get(block, config)
        got, err = info(args.visattn, path, shape)
        if block == "simam" and shape[2] * shape[3] < 2:
            # SimAM's variance divides by H * W - 1: a 1 x 1 map is refused with one line.
            if got or "H * W must be >= 2" not in err or "\n" in err:
                fail(f"simam at {shape}: visattn info gave {got}, {err!r}")
            continue
        if err:
            fail(f"{block} {json.dumps(config)} at {shape}: visattn info failed: {err}")
            continue
        p, m = analytic_cost.cost(block, config, shape)
        if (got["params"], got["macs"]) != (p, m):
            fail(f"{block} {json.dumps(config)} at {shape}: visattn info params, MACs "
                 f"{got['params']}, {got['macs']} != analytic {p}, {m}")
        checked += 1
    print(f"(c) {checked} (block, config, shape) cases: visattn info's MACs and params equal "
          f"analytic_cost's")


def check_network(args):
    import networks
    from py_networks import count_macs
    cases = [("resnet18", "cbam,none,se,channel,triplet,shuffle,spatial",
              ["none", "cbam", "se", "triplet", "shuffle", "spatial"]),
             ("mobilenet_v3_small", "se,none", ["none", "se"])]
    for net, arg, want in cases:
        r, doc = bench_json(args, ["--network", net, "--attention", arg, "--threads", "1",
                                   "--warmup", "0", "--iters", "1"], name=f"net_{net}.json")
        names = [x["block"] for x in doc["rows"]] if doc else None
        want_names = [net if a == "none" else f"{net}+{a}" for a in want]
        if r.returncode != 0 or names != want_names:
            fail(f"bench --network {net} --attention {arg}: rows {names}, wanted {want_names}; "
                 f"{r.stderr.strip()}")
            continue
        if doc["rows"][0].get("overhead_vs_none") != 1.0 or doc.get("yardstick") != net:
            fail(f"bench --network {net}: the plain row is not the baseline: {doc['rows'][0]}")
        for row, a in zip(doc["rows"], want):
            model = networks.build("torchvision", net, {"attention": None if a == "none" else a})
            macs, hooks = count_macs(model)
            with torch.no_grad():
                model(torch.zeros(1, 3, 224, 224))
            for h in hooks:
                h.remove()
            params = sum(p.numel() for p in model.parameters())
            if (row["params"], row["macs"]) != (params, macs[0]):
                fail(f"bench --network {net} {a}: params {row['params']}, MACs {row['macs']}; "
                     f"PyTorch {params}, {macs[0]}")
    for extra, needle in ((["--network", "resnet18", "--attention", "nonesuch"], "nonesuch"),
                          (["--network", "se"], "not a registered network"),
                          (["--network", "resnet18", "--blocks", "cbam"], "--network"),
                          (["--attention", "cbam"], "needs --network")):
        r = run([args.visattn, "bench"] + extra)
        if r.returncode != 2 or needle not in r.stderr or len(r.stderr.strip().splitlines()) != 1:
            fail(f"bench {' '.join(extra)}: exit {r.returncode}, stderr {r.stderr.strip()!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    torch.set_num_threads(1)
    blocks = registered_blocks(args.visattn)
    missing = [b for b in blocks if b not in analytic_cost.BLOCKS]
    if missing:
        fail(f"blocks without an analytic count in tools/analytic_cost.py: {missing}")
    blocks = [b for b in blocks if b in analytic_cost.BLOCKS]
    exported = Exported(args.workdir)
    rows = check_outputs(args, blocks)
    print(f"(a) bench: {len(rows)} rows; JSON, CSV, SVG and stdout agree")
    check_svg_labels(args)
    check_noise_and_metadata(args)
    check_options(args, exported)
    check_compare_torch(args)
    print("(d) SVG labels, noise flags, run record, --blocks, --config, --model, '-', skipped "
          "rows, --threads, usage errors, compare_torch.py")
    check_network(args)
    print("(e) bench --network: rows, params and MACs against PyTorch, usage errors")
    check_counts(args, rows, exported)
    check_shapes(args, blocks, exported)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
