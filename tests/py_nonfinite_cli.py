#!/usr/bin/python3
"""NaN and Inf through the CLI. NaN/Inf weights are valid safetensors; the library propagates them
as PyTorch does, and the CLI must neither hit undefined behaviour nor draw them as a picture.

`visattn heatmap` on a bundled model rewritten with one NaN weight, and separately one Inf weight,
must print exactly one stderr line naming the model file and the map, exit 1 (no signal, and under
the sanitizer build no ASan/UBSan report) and write no file for that image, not even the other
models' overlays or the contact sheet (--block all). A non-finite value that no shown map sees (the
classifier, without --cam) is not an error. Config numbers that do not fit a float, and a std that
makes the preprocessed input infinite, are one-line errors too. `visattn eval` counts NaN class
scores as torch.argmax does, prints the accuracy, and exits 1 with one line. The untouched model
still works.

Where the values are planted, and why they must reach the map whatever the implementation:
  NaN  stages.1 spatial-gate 7x7 conv, centre tap: every position's sum includes NaN * x, so every
       gate of 'stage2.spatial' is sigmoid(NaN) = NaN.
  Inf  stages.0 BatchNorm bias of channel 0 in the model without attention: that channel is
       relu(finite + Inf) = Inf everywhere, so the channel mean 'stage1.energy' is Inf everywhere.
       (An Inf inside a sigmoid gate would be absorbed: sigmoid(+-Inf) is 1 or 0, correctly.)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
from safetensors_io import load_file, save_file  # noqa: E402

MODELS = os.path.join(ROOT, "assets", "models")
IMAGE = os.path.join(ROOT, "assets", "images", "fmnist_0000_ankle_boot.png")

results = []


def check(label, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail else ''}")


def rewrite(src, dst, key=None, index=None, value=None, config=None):
    """Copy model src to dst with tensors[key][index] = value, or its config text replaced."""
    tensors, meta = load_file(src)
    if key is not None:
        t = np.array(tensors[key], dtype=np.float32)
        t[index] = value
        tensors[key] = t
    if config is not None:
        meta["visattn.config"] = config
    save_file(tensors, dst, metadata=meta)
    return dst


def run(cmd, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def files_in(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def expect_error(label, r, needles, out_dir=None):
    lines = r.stderr.strip().splitlines()
    missing = [n for n in needles if not lines or n not in lines[0]]
    written = files_in(out_dir) if out_dir else []
    ok = r.returncode == 1 and len(lines) == 1 and not missing and not written
    detail = f"exit {r.returncode}: {r.stderr.strip()!r}"
    if missing:
        detail += f"; missing {missing}"
    if written:
        detail += f"; wrote {written}"
    check(label, ok, detail)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    exe, w = args.visattn, args.workdir
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    cbam = os.path.join(MODELS, "cbam.safetensors")
    none = os.path.join(MODELS, "none.safetensors")
    for path in (cbam, none):
        if not os.path.isfile(path):
            print(f"FAIL {path} is missing (the bundled models are part of the repository)")
            return 1

    spatial_key = "stages.1.attn.SpatialGate.spatial.conv.weight"
    cbam_nan = rewrite(cbam, os.path.join(w, "cbam_nan.safetensors"), spatial_key, (0, 0, 3, 3),
                       np.nan)
    none_inf = rewrite(none, os.path.join(w, "none_inf.safetensors"), "stages.0.layers.0.bn.bias",
                       0, np.inf)
    # Column 0: every class's weight for feature channel 0, so all logits and any class's CAM.
    fc_nan = rewrite(cbam, os.path.join(w, "cbam_fc_nan.safetensors"), "fc.weight",
                     (slice(None), 0), np.nan)

    def heatmap(name, model, *extra, env=None):
        out = os.path.join(w, name)
        return run([exe, "heatmap", IMAGE, "--model", model, "--out", out, *extra], env), out

    r, out = heatmap("nan", cbam_nan)
    expect_error("NaN weight: heatmap refuses", r,
                 [cbam_nan, "'stage2.spatial'", "non-finite", "NaN/Inf"], out)
    r, out = heatmap("inf", none_inf, "--cam")
    expect_error("Inf weight: heatmap refuses", r,
                 [none_inf, "'stage1.energy'", "non-finite", "NaN/Inf"], out)

    # A NaN in the classifier reaches only the logits and the CAM.
    r, out = heatmap("fc_nan", fc_nan)
    check("NaN in the classifier, maps not shown: heatmap works",
          r.returncode == 0 and not r.stderr and len(files_in(out)) == 3,
          f"exit {r.returncode}, {files_in(out)}, {r.stderr.strip()!r}")
    r, out = heatmap("fc_nan_cam", fc_nan, "--cam")
    expect_error("NaN in the classifier, --cam: heatmap refuses", r, [fc_nan, "'cam'"], out)

    # --block all: one broken model among good ones; nothing at all is written for the image.
    assets = os.path.join(w, "assets")
    os.makedirs(os.path.join(assets, "models"))
    shutil.copy(none, os.path.join(assets, "models", "none.safetensors"))
    shutil.copy(cbam_nan, os.path.join(assets, "models", "cbam.safetensors"))
    env = dict(os.environ, VISATTN_ASSETS=assets)
    out = os.path.join(w, "all")
    r = run([exe, "heatmap", IMAGE, "--block", "all", "--cam", "--out", out], env)
    expect_error("--block all with one NaN model: no partial output", r,
                 [os.path.join(assets, "models", "cbam.safetensors"), "'stage2.spatial'"], out)

    # Config numbers: std so small that the preprocessed input overflows to Inf; a mean of 1e999
    # (cJSON reads it as inf, which has no float value).
    cfg = json.loads(load_file(cbam)[1]["visattn.config"])
    cfg["std"] = [1e-45]
    tiny_std = rewrite(cbam, os.path.join(w, "tiny_std.safetensors"), config=json.dumps(cfg))
    r, out = heatmap("tiny_std", tiny_std)
    expect_error("std 1e-45: heatmap refuses the input", r,
                 [tiny_std, "preprocessed input", "non-finite"], out)
    cfg["std"] = [0.353]
    cfg["mean"] = ["HUGE"]
    huge = json.dumps(cfg).replace('["HUGE"]', "[1e999]")  # not expressible through json.dumps
    huge_mean = rewrite(cbam, os.path.join(w, "huge_mean.safetensors"), config=huge)
    r, out = heatmap("huge_mean", huge_mean)
    expect_error("mean 1e999: heatmap config error", r, [huge_mean, "mean"])

    # `visattn eval` on three images: NaN scores count as torch.argmax counts them.
    img = bytes([0, 0, 8, 3]) + np.array([3, 28, 28], ">u4").tobytes() + \
        (np.arange(3 * 784) % 251).astype(np.uint8).tobytes()
    lab = bytes([0, 0, 8, 1]) + np.array([3], ">u4").tobytes() + bytes([0, 1, 9])
    img_path, lab_path = os.path.join(w, "img.idx"), os.path.join(w, "lab.idx")
    with open(img_path, "wb") as f:
        f.write(img)
    with open(lab_path, "wb") as f:
        f.write(lab)
    r = run([exe, "eval", cbam_nan, img_path, lab_path])
    lines = r.stderr.strip().splitlines()
    # Every score is NaN, so torch.argmax picks class 0 for each: only the first label matches.
    check("NaN weight: eval prints the accuracy and exits 1",
          r.returncode == 1 and "1/3 correct" in r.stdout and len(lines) == 1 and
          cbam_nan in lines[0] and "3 of 3 images" in lines[0],
          f"exit {r.returncode}: {r.stdout.strip()!r} {r.stderr.strip()!r}")
    cfg["std"] = [0]
    cfg["mean"] = [0.286]
    zero_std = rewrite(cbam, os.path.join(w, "zero_std.safetensors"), config=json.dumps(cfg))
    r = run([exe, "eval", zero_std, img_path, lab_path])
    expect_error("std 0: eval config error", r, [zero_std, "std"])
    r = run([exe, "eval", cbam, img_path, lab_path])
    check("valid model: eval works", r.returncode == 0 and "/3 correct" in r.stdout,
          f"exit {r.returncode}: {r.stdout.strip()!r} {r.stderr.strip()!r}")

    # The untouched model on the same image still works.
    r, out = heatmap("valid", cbam, "--cam")
    check("valid model: heatmap works",
          r.returncode == 0 and not r.stderr and len(files_in(out)) == 4 and "top-5" in r.stdout,
          f"exit {r.returncode}, {files_in(out)}, {r.stderr.strip()!r}")

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
