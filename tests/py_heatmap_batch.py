#!/usr/bin/python3
"""`visattn heatmap` over batches of images.

1. Names: inputs sharing a file stem (a/x.png, b/x.png, c/x.jpg, a/x.png given twice, and a
   d/x-2.png whose own stem is what a second x would get) each get files of their own, named as
   docs/heatmap.md says (x, x-3, x-4, x-5, x-2: a later duplicate skips the stems of inputs), the
   contact sheets included; the number of files equals the number of "wrote" lines; a second run
   names them the same way; the two runs of the same file give the same bytes.
2. Summary: a batch with one broken image ends with "visattn: heatmap: 3 images, 2 done, 1 failed,
   N files written in S s" on stderr (N = the "wrote" lines), exits 1, and still writes the other
   images; a batch without failures exits 0 with "0 failed".
3. --jobs: six images (grey and RGB, several sizes, --cam and --save-input) give the same files,
   byte for byte, with --jobs 1 and --jobs 3 (both at one BLAS/OpenMP thread per job, once given
   by --threads 1 and once by --jobs' default), and the same stdout lines, each whole.
4. --jobs 0, -1, junk or empty is a usage error (exit 2, one line naming --jobs); more jobs than
   images is fine.

Models: random exports of tools/backbone.py without attention and with cbam, found through
$VISATTN_ASSETS (so --block all makes a contact sheet per image).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

import numpy as np

from pngio import png_write

results = []


def check(label, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail else ''}")


def run(cmd, env):
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def wrote(r):
    return [l[len("wrote "):] for l in r.stdout.splitlines() if l.startswith("wrote ")]


def files(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def read(d, name):
    p = os.path.join(d, name)
    return open(p, "rb").read() if os.path.isfile(p) else None


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


# A stdout line as one image prints it: a file written, or --cam's top-5.
WHOLE = r"wrote \S+\.(png|npy)|\S+  (none|cbam)  top-5:( .+ [01]\.\d{3},){4} .+ [01]\.\d{3}"
SUMMARY = re.compile(r"^visattn: heatmap: (\d+) images, (\d+) done, (\d+) failed, "
                     r"(\d+) files written in \d+\.\d s$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    exe, w = args.visattn, args.workdir
    fresh(w)

    if "backbone" not in run([exe, "list"], None).stdout.split():
        print("SKIPPED: model 'backbone' is not registered in this build; nothing was checked")
        return 0
    import torch
    import torchvision.io
    import backbone
    from export import export

    assets = os.path.join(w, "assets")
    os.makedirs(os.path.join(assets, "models"))
    for att in (None, "cbam"):
        m, c = backbone.random_model(att, seed=7)
        export(m, os.path.join(assets, "models", f"{att or 'none'}.safetensors"), model="backbone",
               config=c)
    env = dict(os.environ, VISATTN_ASSETS=assets)
    rng = np.random.default_rng(0)

    def image(path, h, wd, rgb=True):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        px = rng.integers(0, 256, (h, wd, 3) if rgb else (h, wd), dtype=np.uint8)
        if path.endswith(".jpg"):
            data = torchvision.io.encode_jpeg(torch.from_numpy(px).permute(2, 0, 1).contiguous(),
                                              quality=90).numpy().tobytes()
        else:
            data = png_write(px)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # ---- 1: same stems ---------------------------------------------------------------------
    src = os.path.join(w, "same")
    ax = image(os.path.join(src, "a", "x.png"), 30, 40)
    bx = image(os.path.join(src, "b", "x.png"), 26, 35, rgb=False)
    cx = image(os.path.join(src, "c", "x.jpg"), 32, 32)
    dx = image(os.path.join(src, "d", "x-2.png"), 20, 28)
    out = fresh(os.path.join(w, "out_same"))
    cmd = [exe, "heatmap", ax, bx, cx, ax, dx, "--out", out]
    r = run(cmd, env)
    check("same-stem batch runs", r.returncode == 0, r.stderr.strip()[-400:])
    lines = wrote(r)
    have = files(out)
    check("as many files as 'wrote' lines", len(lines) == len(set(lines)) == len(have) > 0,
          f"{len(lines)} lines ({len(set(lines))} distinct), {len(have)} files")
    names = ["x", "x-3", "x-4", "x-5", "x-2"]  # in command-line order
    want = sorted(f"{n}_{b}_stage{k}.png" for n in names for b in ("none", "cbam")
                  for k in (1, 2, 3)) + sorted(f"{n}_contact.png" for n in names)
    check("names: x, x-3, x-4, x-5 and d/x-2.png's own x-2", have == sorted(want),
          f"missing {sorted(set(want) - set(have))}, unexpected {sorted(set(have) - set(want))}")
    same = all(read(out, f"x_{s}") == read(out, f"x-5_{s}") is not None
               for s in ("cbam_stage2.png", "contact.png"))
    check("the file given twice gives the same bytes under both names", same)
    r2 = run(cmd, env)
    check("a second run names the files the same way",
          r2.returncode == 0 and wrote(r2) == lines and files(out) == have, r2.stderr.strip())

    # ---- 2: one broken image in a batch -----------------------------------------------------
    src = os.path.join(w, "broken")
    good1 = image(os.path.join(src, "one.png"), 24, 30)
    good2 = image(os.path.join(src, "two.png"), 30, 24)
    broken = os.path.join(src, "broken.png")
    with open(broken, "wb") as f:
        f.write(png_write(np.zeros((30, 30), np.uint8))[:60])
    for jobs in ("1", "2"):
        out = fresh(os.path.join(w, f"out_broken{jobs}"))
        r = run([exe, "heatmap", good1, broken, good2, "--out", out, "--jobs", jobs], env)
        err = r.stderr.strip().splitlines()
        m = SUMMARY.match(err[-1]) if err else None
        problems = [l for l in err if "[" not in l and not SUMMARY.match(l)]
        check(f"--jobs {jobs}: one broken image: exit 1", r.returncode == 1,
              f"exit {r.returncode}")
        check(f"--jobs {jobs}: summary line last, 3 images, 2 done, 1 failed",
              m is not None and m.groups()[:3] == ("3", "2", "1"), repr(err[-1:]))
        check(f"--jobs {jobs}: the summary counts the files written",
              m is not None and int(m.group(4)) == len(wrote(r)) == len(files(out)) == 14,
              f"{m and m.group(4)} in the summary, {len(wrote(r))} lines, {len(files(out))} files")
        check(f"--jobs {jobs}: one error line, naming the broken image",
              len(problems) == 1 and "broken.png" in problems[0], repr(problems))
        progress = [f"visattn: heatmap [{i + 1}/3] {p}"
                    for i, p in enumerate((good1, broken, good2))]
        check(f"--jobs {jobs}: a progress line per image",
              sorted(l for l in err if "heatmap [" in l) == progress, repr(err))
    r = run([exe, "heatmap", good1, good2, "--out", fresh(os.path.join(w, "out_good"))], env)
    err = r.stderr.strip().splitlines()
    m = SUMMARY.match(err[-1]) if err else None
    check("a batch without failures: exit 0, '2 done, 0 failed'", r.returncode == 0 and m and
          m.groups()[:3] == ("2", "2", "0") and int(m.group(4)) == len(wrote(r)) == 14, repr(err))

    # ---- 3: --jobs 1 and --jobs 3 give the same bytes -----------------------------------------
    src = os.path.join(w, "jobs")
    imgs = [image(os.path.join(src, f"img{i}.png"), 18 + 5 * i, 40 - 3 * i, rgb=i % 2 == 0)
            for i in range(5)] + [image(os.path.join(src, "img5.jpg"), 33, 29)]
    runs = {}
    for label, extra in (("--jobs 1 --threads 1", ["--jobs", "1", "--threads", "1"]),
                         ("--jobs 3 --threads 1", ["--jobs", "3", "--threads", "1"]),
                         ("--jobs 3", ["--jobs", "3"])):
        out = fresh(os.path.join(w, "out_jobs" + "".join(extra).replace("-", "_")))
        r = run([exe, "heatmap", *imgs, "--out", out, "--cam", "--save-input", *extra], env)
        check(f"{label} runs", r.returncode == 0, r.stderr.strip()[-400:])
        torn = [l for l in r.stdout.splitlines() if not re.fullmatch(WHOLE, l)]
        torn += [l for l in r.stderr.splitlines() if not l.startswith("visattn: heatmap")]
        check(f"{label}: every output line whole", r.stdout and not torn, repr(torn[:3]))
        runs[label] = (out, sorted(r.stdout.splitlines()))
    ref_out, ref_lines = runs["--jobs 1 --threads 1"]
    ref = {f: read(ref_out, f) for f in files(ref_out)}
    check("--jobs 1 writes every file", len(ref) == 6 * (2 * 3 + 2 + 2 + 1), f"{len(ref)} files")
    for label in ("--jobs 3 --threads 1", "--jobs 3"):
        out, lines = runs[label]
        got = {f: read(out, f) for f in files(out)}
        differ = sorted(f for f in ref if got.get(f) != ref[f])
        check(f"{label}: the same files, byte for byte, as --jobs 1",
              len(ref) > 0 and got.keys() == ref.keys() and not differ,
              f"{len(got)} vs {len(ref)} files; differ: {differ[:5]}")
        strip = lambda ls: sorted(l.replace(out, "OUT") for l in ls)
        strip_ref = sorted(l.replace(ref_out, "OUT") for l in ref_lines)
        check(f"{label}: the same stdout lines as --jobs 1 (in any order)",
              len(lines) > 0 and strip(lines) == strip_ref)

    # ---- 4: --jobs values -------------------------------------------------------------------
    out = fresh(os.path.join(w, "out_usage"))
    for bad in ("0", "-1", "two", "", "3x"):
        r = run([exe, "heatmap", good1, good2, "--out", out, f"--jobs={bad}"], env)
        err = r.stderr.strip().splitlines()
        check(f"--jobs={bad!r}: usage error (exit 2, one line naming --jobs)",
              r.returncode == 2 and len(err) == 1 and "--jobs needs a positive integer" in err[0]
              and not files(out), f"exit {r.returncode}: {r.stderr.strip()!r}")
    r = run([exe, "heatmap", good1, good2, "--out", out, "--jobs", "64"], env)
    check("--jobs above the number of images", r.returncode == 0 and len(wrote(r)) == 14,
          r.stderr.strip())

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
