#!/usr/bin/python3
"""visattn against PyTorch eager, block by block, on the same configs, shapes and thread counts.

    /usr/bin/python3 tools/compare_torch.py [--visattn build/visattn] [--blocks all|a,b,c]
        [--shape N,C,H,W ...] [--threads 1,2] [--min-time S] [--warmup K] [--rounds R]
        [--markdown] [--json FILE]
    /usr/bin/python3 tools/compare_torch.py --from-json FILE [--markdown]

The rows and their configs come from `visattn bench --json` (this script holds no config table of
its own). For each row, visattn (`visattn bench --blocks B --no-yardstick ...`, a fresh process)
and PyTorch (our version of the block from tools/visattn_ref, or Conv2d + BatchNorm2d + ReLU for
the yardstick; random weights, eval mode, torch.no_grad(), torch.set_num_threads(threads)) are
timed back to back, in R alternating rounds (visattn first in even rounds, PyTorch first in odd
ones) of min-time / R seconds each after a warm-up, so that load from other processes hits both
sides alike. Each side's time is the median over rounds of the per-round median latency.

Prints one table (block, shape, threads, visattn median, PyTorch median, speed-up) under a line
naming the CPU, thread counts, OpenBLAS kernel, torch version, date and load average, then the
performance targets of docs/bench.md: which blocks are under 2x PyTorch, and how conv-heavy blocks
scale from 1 to 2 threads, with the throughput each reaches (what limits a block that misses).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emo  # noqa: E402
import visattn_ref  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402
from visattn_ref.irmb import iRMB  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YARDSTICK = "conv3x3_bn_relu"
SPEEDUP_TARGET = 2.0   # every block at least 2x faster than PyTorch eager
SCALING_TARGET = 1.6   # conv-heavy blocks: 2 threads at least 1.6x faster than 1 on 1x64x56x56
SCALING_SHAPE = (1, 64, 56, 56)
CONV_HEAVY = 0.9       # a block is conv-heavy when 2 * MACs is at least this share of its FLOPs


# ---- PyTorch side -------------------------------------------------------------------------------
# Our reference modules also record attention maps for the parity suite; shuffle, double_attention,
# irmb and simam compute extra tensors for that (a mean over gates, irmb's received-attention map,
# simam's mean energy). The official modules do not, and `visattn bench` runs with maps off, so
# those are timed with the same forward minus the map bookkeeping (checked against the reference's
# output below).

def _shuffle_forward(self, x):
    n, c, h, w = x.shape
    g = self.groups
    xg = x.reshape(n * g, c // g, h, w)
    c0 = (c // g + 1) // 2
    x0, x1 = xg[:, :c0], xg[:, c0:]
    gate_c = torch.sigmoid(self.cweight * x0.mean(dim=(2, 3), keepdim=True) + self.cbias)
    gate_s = torch.sigmoid(self.sweight * self.gn(x1) + self.sbias)
    out = torch.cat((x0 * gate_c, x1 * gate_s), dim=1).reshape(n, c, h, w)
    return out.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


def _double_attention_forward(self, x):
    n, c, h, w = x.shape
    feats = self.convA(x).reshape(n, self.c_m, h * w)
    gather = torch.softmax(self.convB(x).reshape(n, self.c_n, h * w), dim=2)
    distribute = torch.softmax(self.convV(x).reshape(n, self.c_n, h * w), dim=1)
    z = torch.bmm(torch.bmm(feats, gather.transpose(1, 2)), distribute).reshape(n, self.c_m, h, w)
    return self.conv_reconstruct(z) if self.reconstruct else z


def _simam_forward(self, x):
    # The official forward: no channel mean of the inverse energy for the "spatial" map.
    d = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
    m = x.shape[2] * x.shape[3]
    return x * torch.sigmoid(d / (4 * (d.sum(dim=(2, 3), keepdim=True) / (m - 1) +
                                       self.e_lambda)) + 0.5)


def _irmb_window_attention(self, x):
    irmb = visattn_ref.load("irmb")
    n, c, h, w = x.shape
    wsh, wsw = (h, w) if self.window_size <= 0 else (self.window_size, self.window_size)
    pad_b, pad_r = (-h) % wsh, (-w) % wsw
    x = F.pad(x, (0, pad_r, 0, pad_b))
    n1, n2 = (h + pad_b) // wsh, (w + pad_r) // wsw
    xw = irmb.partition(x, n1, n2)
    bw, length, heads = xw.shape[0], wsh * wsw, self.num_head

    def split_heads(t):
        return t.reshape(bw, heads, -1, length).transpose(2, 3)

    qk = self.qk(xw)
    q, k = split_heads(qk[:, :c]), split_heads(qk[:, c:])
    attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
    if self.attn_pre:
        out = self.v((attn @ split_heads(xw)).transpose(2, 3).reshape(bw, -1, wsh, wsw))
    else:
        out = (attn @ split_heads(self.v(xw))).transpose(2, 3).reshape(bw, -1, wsh, wsw)
    return irmb.unpartition(out, n1, n2)[:, :, :h, :w]


def torch_module(block, config, x):
    if block == YARDSTICK:
        c = config["out_channels"]
        module = nn.Sequential(nn.Conv2d(**config), nn.BatchNorm2d(c), nn.ReLU())
        return randomize_(module, 1)
    if block in emo.VARIANTS:
        # EMO: its attention iRMBs run without recording maps, as the official module does.
        module = randomize_(emo.build(dict(config), block), 1)
        with torch.no_grad():
            want = module(x)
            for m in module.modules():
                if isinstance(m, iRMB) and m.attn_s:
                    m.window_attention = types.MethodType(_irmb_window_attention, m)
            got = module(x)
        if not torch.allclose(want, got, rtol=1e-5, atol=1e-5):
            sys.exit("compare_torch: the map-free iRMB forward differs in EMO; update it")
        return module
    module = randomize_(visattn_ref.load(block).build(dict(config)), 1)
    patch = {"shuffle": ("forward", _shuffle_forward),
             "double_attention": ("forward", _double_attention_forward),
             "irmb": ("window_attention", _irmb_window_attention),
             "simam": ("forward", _simam_forward)}.get(block)
    if patch:
        with torch.no_grad():
            want = module(x)
            setattr(module, patch[0], types.MethodType(patch[1], module))
            got = module(x)
        if not torch.allclose(want, got, rtol=1e-5, atol=1e-5):
            sys.exit(f"compare_torch: the map-free {block} forward differs from "
                     f"tools/visattn_ref/{block}.py; update it")
    return module


def time_torch(module, x, seconds, min_iters, warmup):
    with torch.no_grad():
        for _ in range(warmup):
            module(x)
        times = []
        start = time.perf_counter()
        while len(times) < min_iters or time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            module(x)
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


# ---- visattn side -------------------------------------------------------------------------------

def run_bench(visattn, blocks, shapes, threads, extra):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.json")
        cmd = [visattn, "bench", "--blocks", blocks, "--json", path] + extra
        for s in shapes:
            cmd += ["--shape", ",".join(map(str, s))]
        if threads:
            cmd += ["--threads", ",".join(map(str, threads))]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"compare_torch: {' '.join(cmd)} failed: {r.stderr.strip()}")
        with open(path) as f:
            return json.load(f)


def time_visattn(visattn, row, seconds, min_iters, warmup):
    extra = ["--no-yardstick", "--warmup", str(warmup), "--iters", str(min_iters),
             "--min-time", str(seconds)]
    shape = (row["n"], row["c"], row["h"], row["w"])
    doc = run_bench(visattn, row["block"], [shape], [row["threads"]], extra)
    if len(doc["rows"]) != 1:  # the bench skips a block that cannot run at the shape
        sys.exit(f"compare_torch: visattn bench timed {len(doc['rows'])} rows for {row['block']} "
                 f"at {shape_str(row)}: {doc.get('skipped')}")
    (got,) = doc["rows"]
    if got["config"] != row["config"]:
        sys.exit(f"compare_torch: bench config changed between runs: {got['config']}")
    return got["median_ms"]


# ---- a shared machine ----------------------------------------------------------------------------
# At 2 threads on 2 cores, one busy process elsewhere makes every parallel region wait for a
# descheduled thread: latencies jump to multiples of the scheduler tick (4-8 ms) on both sides.
# So each row waits (up to --idle-wait s) until the other processes use little CPU, and a row
# whose rounds disagree (spread > --max-spread) is measured again (up to --retries times).

def cores_busy(seconds=0.3):
    """CPU cores in use by everything else while this process sleeps, from /proc/stat."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except OSError:
        return 0.0
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(t1 - t0, 1))


def wait_idle(max_wait, threshold=0.15):
    """Wait until other processes use < threshold cores; returns (idle reached, cores busy)."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = cores_busy()
        if busy < threshold or time.monotonic() >= deadline:
            return busy < threshold, busy
        time.sleep(1.0)


# ---- report -------------------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def shape_str(r):
    return f"{r['n']}x{r['c']}x{r['h']}x{r['w']}"


def print_table(results, markdown):
    head = ["block", "shape", "threads", "visattn ms", "PyTorch ms", "speed-up", "spread"]
    rows = [[r["block"], shape_str(r), str(r["threads"]), f"{r['visattn_ms']:.3f}",
             f"{r['torch_ms']:.3f}", f"{r['speedup']:.2f}x",
             f"{100 * r['spread']:.0f}%" + ("" if r["idle"] else " busy")] for r in results]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] * 3 + ["---:"] * 4) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(x[i]) for x in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*head))
    for row in rows:
        print(fmt.format(*row))


def limit_note(r, yard):
    """What the row's numbers say limits it: compute throughput for conv-heavy blocks (against the
    yardstick conv's at the same shape and threads), else memory traffic (at least the input
    read and the output written once)."""
    s = r["visattn_ms"] * 1e-3
    gflops = r["flops"] / s / 1e9
    gbps = 2 * 4 * r["n"] * r["c"] * r["h"] * r["w"] / s / 1e9
    if r["conv_heavy"]:
        note = f"conv-heavy: {gflops:.1f} GFLOP/s"
        if yard:
            note += f" (yardstick conv {yard['flops'] / (yard['visattn_ms'] * 1e-3) / 1e9:.1f})"
        return note
    return (f"{gflops:.2f} GFLOP/s, >= {gbps:.1f} GB/s of input+output; "
            f"{r['visattn_ms'] * 1e3:.0f} us per call")


def print_targets(results, markdown):
    bullet = "- " if markdown else "  "
    yard = {(shape_str(r), r["threads"]): r for r in results if r["block"] == YARDSTICK}
    blocks = [r for r in results if r["block"] != YARDSTICK]
    misses = [r for r in blocks if r["speedup"] < SPEEDUP_TARGET]
    print()
    print(f"Target: every block >= {SPEEDUP_TARGET:g}x faster than PyTorch eager: "
          f"{len(blocks) - len(misses)} of {len(blocks)} rows met.")
    for r in misses:
        print(f"{bullet}{r['block']} {shape_str(r)} t{r['threads']}: {r['speedup']:.2f}x, "
              f"{100 * (1 - r['speedup'] / SPEEDUP_TARGET):.0f}% short; "
              f"{limit_note(r, yard.get((shape_str(r), r['threads'])))}")
    by_key = {(r["block"], shape_str(r), r["threads"]): r for r in results}
    scaling = []
    for r in results:
        if r["threads"] != 1 or (r["n"], r["c"], r["h"], r["w"]) != SCALING_SHAPE:
            continue
        r2 = by_key.get((r["block"], shape_str(r), 2))
        if r2 and r["conv_heavy"]:
            scaling.append((r, r["visattn_ms"] / r2["visattn_ms"], r["torch_ms"] / r2["torch_ms"]))
    if scaling:
        ok = sum(1 for _, v, _ in scaling if v >= SCALING_TARGET)
        print(f"Target: conv-heavy blocks (2*MACs >= {CONV_HEAVY:.0%} of FLOPs) on "
              f"{'x'.join(map(str, SCALING_SHAPE))}, 2 threads >= {SCALING_TARGET:g}x faster than "
              f"1: {ok} of {len(scaling)} met.")
        for r, v, t in scaling:
            status = "ok" if v >= SCALING_TARGET else \
                f"MISS, {100 * (1 - v / SCALING_TARGET):.0f}% short"
            print(f"{bullet}{r['block']}: visattn {v:.2f}x ({status}); PyTorch {t:.2f}x")


def report(header, method, results, markdown):
    print(header + "\n" + method + ("\n" if markdown else ""))
    print_table(results, markdown)
    print_targets(results, markdown)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--visattn", default="build/visattn", help="the visattn CLI")
    ap.add_argument("--blocks", default="all")
    ap.add_argument("--shape", action="append", help="N,C,H,W (repeat); default: the bench's")
    ap.add_argument("--threads", help="comma list, e.g. 1,2; default: the bench's (all cores)")
    ap.add_argument("--min-time", type=float, default=1.0,
                    help="seconds of timed passes per row and side, split over the rounds")
    ap.add_argument("--warmup", type=int, default=3, help="untimed passes before each round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating visattn/PyTorch rounds")
    ap.add_argument("--iters", type=int, default=5, help="at least this many passes per round")
    ap.add_argument("--idle-wait", type=float, default=30,
                    help="seconds to wait per row for other processes to go quiet (0: don't)")
    ap.add_argument("--max-spread", type=float, default=0.25,
                    help="re-measure a row whose rounds differ by more than this fraction")
    ap.add_argument("--retries", type=int, default=2, help="re-measurements per row")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--from-json", metavar="FILE",
                    help="measure nothing: print the results a --json run saved (e.g. as Markdown)")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        report(saved["header"], saved["method"], saved["rows"], args.markdown)
        return 0
    visattn = args.visattn
    if not os.path.exists(visattn) and os.path.exists(os.path.join(ROOT, visattn)):
        visattn = os.path.join(ROOT, visattn)
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shape or []]
    threads = [int(t) for t in args.threads.split(",")] if args.threads else []
    if args.rounds < 1 or args.min_time < 0:
        sys.exit("compare_torch: --rounds must be >= 1 and --min-time >= 0")

    # The rows and configs, from one quick bench pass (no timing that matters).
    listing = run_bench(visattn, args.blocks, shapes, threads,
                        ["--iters", "1", "--warmup", "0", "--min-time", "0"])
    load_start = os.getloadavg()
    per_round = args.min_time / args.rounds
    # Measured block by block, each block's thread counts one after another, so that the 1- and
    # 2-thread rows compared by the scaling target run close together in time; printed in the
    # bench's order.
    rows = listing["rows"]
    blocks = list(dict.fromkeys(r["block"] for r in rows))
    order = sorted(range(len(rows)), key=lambda i: (
        (rows[i]["n"], rows[i]["c"], rows[i]["h"], rows[i]["w"]), blocks.index(rows[i]["block"]),
        rows[i]["threads"]))
    results = [None] * len(rows)
    for index in order:
        row = rows[index]
        shape = (row["n"], row["c"], row["h"], row["w"])
        torch.set_num_threads(row["threads"])
        torch.manual_seed(0)
        x = torch.rand(*shape) * 2 - 1
        module = torch_module(row["block"], row["config"], x)
        best = None
        for attempt in range(1 + max(args.retries, 0)):
            idle, busy = wait_idle(args.idle_wait) if args.idle_wait > 0 else (True, 0.0)
            v_ms, t_ms = [], []
            for rnd in range(args.rounds):
                sides = [("v", v_ms), ("t", t_ms)]
                for side, out in (sides if rnd % 2 == 0 else sides[::-1]):
                    if side == "v":
                        out.append(time_visattn(visattn, row, per_round, args.iters, args.warmup))
                    else:
                        out.append(time_torch(module, x, per_round, args.iters, args.warmup))
            # How far apart the rounds were (either side): a large spread means a busy machine.
            spread = max(max(v_ms) / min(v_ms), max(t_ms) / min(t_ms)) - 1
            if best is None or spread < best[0]:
                best = (spread, v_ms, t_ms, idle, busy)
            if spread <= args.max_spread:
                break
        spread, v_ms, t_ms, idle, busy = best
        r = {k: row[k] for k in ("block", "config", "n", "c", "h", "w", "threads", "macs",
                                 "flops")}
        r["visattn_ms"], r["torch_ms"] = statistics.median(v_ms), statistics.median(t_ms)
        r["visattn_rounds_ms"], r["torch_rounds_ms"] = v_ms, t_ms
        r["speedup"] = r["torch_ms"] / r["visattn_ms"]
        r["spread"], r["idle"], r["other_cores_busy"] = spread, idle, busy
        r["conv_heavy"] = 2 * row["macs"] >= CONV_HEAVY * row["flops"] and row["flops"] > 0
        results[index] = r
    load_end = os.getloadavg()

    nthreads = sorted({r["threads"] for r in results})
    coretype = listing.get("openblas_coretype")
    # The CPU as the bench recorded it (older visattn JSON has no cpu_model).
    header = (f"{listing.get('cpu_model') or cpu_model()}, {os.cpu_count()} logical CPUs; "
              f"threads {','.join(map(str, nthreads))}; "
              f"OpenBLAS kernel {listing['blas_kernel']} (OPENBLAS_CORETYPE "
              f"{coretype if coretype is not None else 'unset'}); "
              f"torch {torch.__version__}, visattn {listing['visattn']}; "
              f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; load average "
              f"{load_start[0]:.2f} at start, {load_end[0]:.2f} at end")
    method = (f"median latency per forward pass; median of {args.rounds} alternating rounds of "
              f">= {per_round:.2g} s and >= {args.iters} passes each, after {args.warmup} warm-up "
              f"passes; speed-up = PyTorch / visattn; spread = largest max/min - 1 of "
              f"either side's round medians (high: the machine was busy; 'busy': other processes "
              f"were using CPU when the row started)")
    report(header, method, results, args.markdown)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "method": method, "blas_kernel": listing["blas_kernel"],
                       "openblas_coretype": coretype, "threads": nthreads, "rows": results}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
