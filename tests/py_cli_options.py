#!/usr/bin/python3
"""The command line's conventions, for every command, and every `--help` against the command.

1. One parser: `--opt=value` works as `--opt value`; `--` ends the options (a file named `-x.png`
   can be passed); a single-dash unknown option such as `-o` is a usage error (exit 2) and nothing
   is written; a flag given a value, or an option missing its value, is a usage error.
2. One exit-code rule: 0 success, 1 a failure on the input, 2 a usage error.
3. `heatmap --block` takes a comma list; `--model` with `--block` is refused.
4. `run` checks its outputs' locations before writing anything and creates the --maps directory.
5. Threads: OMP_NUM_THREADS is honoured when --threads and VISATTN_NUM_THREADS are absent; a count
   above the cores is lowered, with a warning.
6. `--help`, per command: exit 0 on stdout; every option it names is one the command accepts; an
   option outside [...] in the usage line is required (omitting it is exit 2), the commands run
   with none of the bracketed ones; every "(default X)" it states gives the same output as passing
   X explicitly.
Prints one line per check.
"""
import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ASSETS = os.path.join(ROOT, "assets")
MODEL = os.path.join(ASSETS, "models", "cbam.safetensors")
IMAGE = os.path.join(ASSETS, "images", "fmnist_0000_ankle_boot.png")
FMNIST = "/usr/share/datasets/fashion-mnist"
IDX = [os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"),
       os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")]

results = []


def report(ok, label, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail and not ok else ''}",
          flush=True)


class Cli:
    def __init__(self, exe, work):
        self.exe, self.work, self.n = exe, work, 0

    def fresh(self, name):
        """An empty directory to run in, so that anything written is seen."""
        self.n += 1
        d = os.path.join(self.work, f"{self.n:03d}_{name}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    def run(self, args, cwd=None, env=None):
        e = dict(os.environ, VISATTN_ASSETS=ASSETS)
        e.update(env or {})
        for k, v in list(e.items()):
            if v is None:
                del e[k]
        return subprocess.run([self.exe, *args], cwd=cwd or self.work, env=e,
                              capture_output=True, text=True)


def tree(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)


def same_tree(a, b):
    ta, tb = tree(a), tree(b)
    return ta == tb and all(filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)
                            for f in ta)


def minimal_commands(cli):
    """Each command with its required arguments only, and an input that works."""
    inp = os.path.join(cli.work, "in.npy")
    np.save(inp, np.random.default_rng(0).standard_normal((1, 1, 28, 28)).astype(np.float32))
    return {
        "run": [MODEL, inp, "out.npy"],
        "info": [MODEL, "--shape", "1,1,28,28"],
        "eval": [MODEL, *IDX, "--limit", "20"],
        "heatmap": [IMAGE, "--block", "cbam"],
        "bench": ["--blocks", "se", "--shape", "1,8,9,7", "--iters", "1", "--min-time", "0",
                  "--warmup", "0", "--no-yardstick"],
    }


def check_parser(cli, cmds):
    for cmd, args in cmds.items():
        d = cli.fresh(f"{cmd}_dash_o")
        r = cli.run([cmd, *args, "-o", "x"], cwd=d)
        report(r.returncode == 2 and "unknown option '-o'" in r.stderr and not tree(d),
               f"{cmd} -o: exit 2, nothing written", f"exit {r.returncode}, {r.stderr.strip()}, "
               f"wrote {tree(d)}")
        r = cli.run([cmd, *args, "--no-such-option"], cwd=d)
        report(r.returncode == 2 and "unknown option" in r.stderr, f"{cmd} --no-such-option: exit 2",
               r.stderr.strip())
    # --opt=value is --opt value.
    d = cli.fresh("equals")
    pairs = [
        (["run", *cmds["run"][:2], "a.npy", "--maps", "m1"],
         ["run", *cmds["run"][:2], "b.npy", "--maps=m2"], ("a.npy", "b.npy"), ("m1", "m2")),
        (["heatmap", IMAGE, "--block", "cbam", "--out", "h1", "--alpha", "0.3"],
         ["heatmap", IMAGE, "--block=cbam", "--out=h2", "--alpha=0.3"], None, ("h1", "h2")),
    ]
    for a, b, files, dirs in pairs:
        ra, rb = cli.run(a, cwd=d), cli.run(b, cwd=d)
        ok = ra.returncode == 0 and rb.returncode == 0
        if ok and files:
            ok = filecmp.cmp(os.path.join(d, files[0]), os.path.join(d, files[1]), shallow=False)
        if ok and dirs:
            ok = bool(tree(os.path.join(d, dirs[0]))) and same_tree(os.path.join(d, dirs[0]),
                                                                    os.path.join(d, dirs[1]))
        report(ok, f"{a[0]}: --opt=value gives what --opt value gives", ra.stderr + rb.stderr)
    for cmd, opt in (("info", "--shape=1,1,28,28"), ("eval", "--limit=20")):
        base = [x for x in cmds[cmd] if x not in ("--shape", "1,1,28,28", "--limit", "20")]
        ra, rb = cli.run([cmd, *cmds[cmd]]), cli.run([cmd, *base, opt])
        report(ra.returncode == 0 and ra.stdout == rb.stdout, f"{cmd} {opt}",
               ra.stdout + rb.stdout + rb.stderr)
    # -- ends the options: a file named -x.png.
    d = cli.fresh("dashdash")
    shutil.copy(IMAGE, os.path.join(d, "-x.png"))
    r = cli.run(["heatmap", "--block", "cbam", "--out", "o", "--", "-x.png"], cwd=d)
    report(r.returncode == 0 and any(f.startswith("o/-x_cbam") for f in tree(d)),
           "heatmap -- -x.png: a file named like an option", r.stderr.strip())
    r = cli.run(["heatmap", "--block", "cbam", "--out", "o2", "-x.png"], cwd=d)
    report(r.returncode == 2 and not os.path.exists(os.path.join(d, "o2")),
           "heatmap -x.png without --: an unknown option, exit 2", r.stderr.strip())
    # A flag with a value, an option without its value.
    for args, what in ((["heatmap", IMAGE, "--cam=1"], "takes no value"),
                       (["run", *cmds["run"], "--maps"], "needs a value"),
                       (["info", MODEL, "--shape"], "needs a value")):
        r = cli.run(args)
        report(r.returncode == 2 and what in r.stderr, f"{' '.join(args[:1] + args[-1:])}: {what}",
               r.stderr.strip())


def check_exit_codes(cli, cmds):
    d = cli.fresh("exit")
    missing = os.path.join(d, "missing.png")
    cases = [
        (["heatmap", IMAGE, "--block", "cbma"], 2, "unknown block 'cbma'"),
        (["heatmap", IMAGE, "--colormap", "hot"], 2, "hot"),
        (["heatmap", IMAGE, "--alpha", "2"], 2, "--alpha"),
        (["heatmap", missing, "--block", "cbam"], 1, "missing.png"),
        (["run", MODEL, missing, "o.npy"], 1, "missing.png"),
        (["run", MODEL, "a", "b", "c"], 2, "too many"),
        (["info", missing, "--shape", "1,1,1,1"], 1, "missing.png"),
        (["info", MODEL, "--shape", "1,1"], 2, "--shape"),
        (["eval", MODEL, os.path.join(d, "no_dir")], 1, "no_dir"),
        (["eval", MODEL, *IDX, "--batch", "0"], 2, "--batch"),
        (["bench", "--blocks", "nope"], 2, "nope"),
        (["nosuchcommand"], 2, "unknown command"),
        (["list", "extra"], 2, "extra"),
    ]
    for args, code, needle in cases:
        r = cli.run(args, cwd=d)
        report(r.returncode == code and needle in r.stderr and len(r.stderr.splitlines()) == 1,
               f"exit {code}: {' '.join(os.path.basename(a) for a in args)}",
               f"exit {r.returncode}, {r.stderr.strip()}")


def check_block_lists(cli):
    d = cli.fresh("blocks")
    r = cli.run(["heatmap", IMAGE, "--block", "cbam,triplet", "--out", "o"], cwd=d)
    names = tree(os.path.join(d, "o"))
    ok = (r.returncode == 0 and any("_cbam_stage" in f for f in names)
          and any("_triplet_stage" in f for f in names) and any("contact" in f for f in names))
    report(ok, "heatmap --block cbam,triplet: both models and a contact sheet", f"{names}")
    r = cli.run(["heatmap", IMAGE, "--model", "cbam", "--block", "cbam", "--out", "p"], cwd=d)
    report(r.returncode == 2 and "not both" in r.stderr and not os.path.exists(
        os.path.join(d, "p")), "heatmap --model with --block is refused", r.stderr.strip())


def check_run_outputs(cli, cmds):
    d = cli.fresh("run_outputs")
    r = cli.run(["run", *cmds["run"][:2], "out.npy", "--maps", "new/sub"], cwd=d)
    maps = tree(os.path.join(d, "new", "sub")) if os.path.isdir(os.path.join(d, "new")) else []
    report(r.returncode == 0 and os.path.exists(os.path.join(d, "out.npy")) and maps,
           "run --maps new/sub: the directory is created and the maps written", r.stderr.strip())
    d = cli.fresh("run_bad_output")
    r = cli.run(["run", *cmds["run"][:2], "nodir/out.npy", "--maps", "m"], cwd=d)
    report(r.returncode == 1 and "nodir" in r.stderr and not tree(d) and not os.listdir(d),
           "run with OUTPUT in a missing directory: exit 1 before writing anything",
           f"{r.stderr.strip()}, left {os.listdir(d)}")


def check_threads(cli, cmds):
    no_env = {"VISATTN_NUM_THREADS": None}
    r = cli.run(["--version"], env=dict(no_env, OMP_NUM_THREADS="1"))
    report(r.returncode == 0 and "1 thread)" in r.stdout,
           "OMP_NUM_THREADS=1 is honoured without --threads or VISATTN_NUM_THREADS", r.stdout)
    r = cli.run(["--version"], env=dict(OMP_NUM_THREADS="1", VISATTN_NUM_THREADS="2"))
    want = min(2, os.cpu_count() or 1)
    report(f"{want} thread" in r.stdout, "VISATTN_NUM_THREADS comes before OMP_NUM_THREADS",
           r.stdout)
    r = cli.run(["--version"], env=dict(no_env, OMP_NUM_THREADS="x"))
    report(r.returncode == 2 and "OMP_NUM_THREADS" in r.stderr,
           "a bad OMP_NUM_THREADS is a usage error naming it", r.stderr.strip())
    cores = len(os.sched_getaffinity(0))
    d = cli.fresh("threads")
    r = cli.run(["run", *cmds["run"][:2], "o.npy", "--threads", "4096"], cwd=d)
    report(r.returncode == 0 and "warning" in r.stderr and f"using {cores}" in r.stderr,
           f"--threads 4096 on {cores} cores: a warning, and {cores} used", r.stderr.strip())


def help_text(cli, cmd):
    r = cli.run([cmd, "--help"])
    return r, r.stdout


def check_help(cli, cmds):
    for cmd, args in cmds.items():
        r, text = help_text(cli, cmd)
        report(r.returncode == 0 and text.startswith(f"usage: visattn {cmd}") and not r.stderr,
               f"{cmd} --help: usage on stdout, exit 0", r.stderr.strip())
        r2 = cli.run([cmd, "-h"])
        report(r2.stdout == text, f"{cmd} -h is --help")
        # Every option the help names is accepted (it may then want a good value).
        usage = text.split("\n\n")[0]
        for opt in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))):
            # A trailing unknown option stops the command before it does any work.
            r = cli.run([cmd, opt, "1", "--stop-here"], cwd=cli.fresh(f"{cmd}_accepts"))
            report(r.returncode == 2 and f"unknown option '{opt}" not in r.stderr,
                   f"{cmd} --help names {opt}: accepted", r.stderr.strip())
        # Options outside [...] in the usage are required.
        bare = re.sub(r"\[[^\[\]]*(\[[^\[\]]*\][^\[\]]*)*\]", "", usage)
        for opt in sorted(set(re.findall(r"--[a-z][a-z-]*", bare))):
            i = args.index(opt)
            without = args[:i] + args[i + 2:]
            r = cli.run([cmd, *without], cwd=cli.fresh(f"{cmd}_required"))
            report(r.returncode == 2 and opt in r.stderr,
                   f"{cmd}: {opt} is outside [...] in the usage, so it is required",
                   f"exit {r.returncode} {r.stderr.strip()}")
        # The command runs with only what the usage line requires: each option of our working
        # command line that the usage brackets can be left out. (Not for bench, whose options
        # only keep this test short.)
        d = cli.fresh(f"{cmd}_minimal")
        r = cli.run([cmd, *args], cwd=d)
        report(r.returncode == 0, f"{cmd} runs", r.stderr.strip())
        for opt in [a for a in args if a.startswith("--")] if cmd != "bench" else []:
            if opt in bare:
                continue
            i = args.index(opt)
            r = cli.run([cmd, *args[:i], *args[i + 2:]], cwd=cli.fresh(f"{cmd}_optional"))
            report(r.returncode == 0, f"{cmd}: {opt} is in [...] in the usage, so it is optional",
                   f"exit {r.returncode} {r.stderr.strip()}")
        check_defaults(cli, cmd, args, text)


def check_defaults(cli, cmd, args, text):
    """Every "(default X)" / "X (default)" in the help: the same output as passing X."""
    if cmd == "bench":
        return  # timings differ run to run; tests/py_bench.py checks bench's defaults
    for line in text.splitlines():
        m = re.match(r"\s+(--[a-z][a-z-]*)\b", line)
        if not m:
            continue
        opt = m.group(1)
        d = re.search(r"\(default:? ([^;)\s]+)", line) or re.search(r"(\S+) \(default\)", line)
        if not d:
            continue
        value = d.group(1).rstrip(",")
        if value.isupper():  # "(default: VISATTN_NUM_THREADS or all cores)": not one value
            continue
        if value == "current":  # --out: "(default: current directory)"
            a = cli.fresh(f"{cmd}_default_out")
            r = cli.run([cmd, *args], cwd=a)
            report(r.returncode == 0 and any(f.endswith(".png") for f in os.listdir(a)),
                   f"{cmd} {opt}: the default is the current directory", r.stderr.strip())
            continue
        outs = []
        for explicit in (False, True):
            w = cli.fresh(f"{cmd}_default_{opt[2:]}")
            # The option is left out, or given its default (in place of a value args has).
            base = list(args)
            if opt in base:
                i = base.index(opt)
                base = base[:i] + base[i + 2:]
            extra = [opt, value] if explicit else []
            outdir = ["--out", "o"] if cmd == "heatmap" else []
            r = cli.run([cmd, *base, *outdir, *extra], cwd=w)
            outs.append((r, w))
        (ra, wa), (rb, wb) = outs
        ok = (ra.returncode == rb.returncode == 0 and ra.stdout == rb.stdout
              and same_tree(wa, wb))
        report(ok, f"{cmd} {opt}: the stated default {value} is what runs",
               f"{ra.stderr.strip()} {rb.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    cli = Cli(os.path.abspath(args.visattn), os.path.abspath(args.workdir))
    cmds = minimal_commands(cli)
    check_parser(cli, cmds)
    check_exit_codes(cli, cmds)
    check_block_lists(cli)
    check_run_outputs(cli, cmds)
    check_threads(cli, cmds)
    check_help(cli, cmds)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
