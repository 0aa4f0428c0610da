#!/usr/bin/python3
"""The backbone model in C against its PyTorch twin (tools/backbone.py).

1. For every attention type (none and each block) on random weights and random BN statistics, at
   two input sizes (N=2 at 28x28, and an odd H != W), `visattn run --maps` must give the logits and
   every map of backbone.maps() within 1e-4 (max abs error), with the same map names.
   One more model with a non-default shape (3 input channels, depth 2, stride 1, shuffle groups the
   backbone must adapt) covers the rest of the config.
2. If the trained models exist in assets/models/, `visattn eval` on the first 1000 Fashion-MNIST
   test images (gzipped IDX, as Debian ships them) agrees with PyTorch's accuracy, within 0.1 point
   per image whose two largest logits nearly tie (backbone.cam_near_ties: those may be classified
   either way under another summation order).
3. Bad configs, and bad IDX files given to `visattn eval`, fail with a one-line message.
Prints one line per check; exits non-zero if any fails.
"""
import argparse
import gzip
import json
import os
import subprocess
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import backbone  # noqa: E402
import fmnist  # noqa: E402
from export import export  # noqa: E402
from pngio import png_write  # noqa: E402
from safetensors_io import load_file  # noqa: E402

ATOL = 1e-4
# A model's random weights are drawn with its index as the seed: bam after simam (seed 10) gives
# logits whose top two tie within CAM_TIE_REL on the 28 x 28 input, so bam comes before simam.
NAMES = ["none", "se", "spatial", "cbam", "triplet", "shuffle", "double_attention", "irmb", "eca",
         "bam", "simam"]
SHAPES = [(2, 1, 28, 28), (2, 1, 33, 21)]


class Checker:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def report(self, ok, label, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail else ''}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1


def parity(chk, visattn, work, label, model, cfg, shapes, seed):
    d = os.path.join(work, label)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.safetensors")
    export(model, path, model="backbone", config=cfg)
    for shape in shapes:
        torch.manual_seed(seed)
        x = torch.randn(*shape)
        with torch.no_grad():
            want = model(x).numpy()
        want_maps = {k: v.numpy() for k, v in backbone.maps(model).items()}
        tag = f"{label} {'x'.join(map(str, shape))}"
        mdir = os.path.join(d, "maps_" + "x".join(map(str, shape)))
        os.makedirs(mdir, exist_ok=True)
        for f in os.listdir(mdir):
            os.remove(os.path.join(mdir, f))
        np.save(os.path.join(d, "input.npy"), x.numpy())
        r = subprocess.run([visattn, "run", path, os.path.join(d, "input.npy"),
                            os.path.join(d, "output.npy"), "--maps", mdir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            chk.report(False, tag, r.stderr.strip())
            continue
        got = np.load(os.path.join(d, "output.npy"))
        errs = {"output": float(np.abs(got - want).max()) if got.shape == want.shape
                else float("inf")}
        got_names = sorted(f[:-4] for f in os.listdir(mdir))
        if got_names != sorted(want_maps):
            chk.report(False, tag, f"maps {got_names}, expected {sorted(want_maps)}")
            continue
        for k, v in want_maps.items():
            g = np.load(os.path.join(mdir, k + ".npy"))
            errs[k] = float(np.abs(g - v).max()) if g.shape == v.shape else float("inf")
        worst = max(errs, key=errs.get)
        tie = backbone.cam_tie_problem(want)
        chk.report(errs[worst] <= ATOL and not tie, tag,
                   tie or f"{len(want_maps)} maps, max abs err {errs[worst]:.2e} ({worst})")


def trained(chk, visattn, work):
    mdir = os.path.join(ROOT, "assets", "models")
    files = [n for n in NAMES if os.path.exists(os.path.join(mdir, f"{n}.safetensors"))]
    if not files:
        print("skip trained-model accuracy: no assets/models/*.safetensors")
        return
    if not os.path.isdir(fmnist.DEFAULT_DIR):
        print(f"skip trained-model accuracy: no {fmnist.DEFAULT_DIR}")
        return
    images, labels = fmnist.load("test")
    images, labels = images[:1000], labels[:1000]
    # The first 1000 test images as gzipped IDX files (the format Debian ships).
    os.makedirs(work, exist_ok=True)
    img_path = os.path.join(work, "images-1000.idx.gz")
    lab_path = os.path.join(work, "labels-1000.idx.gz")
    with gzip.open(img_path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([1000, 28, 28], ">u4").tobytes() + images.tobytes())
    with gzip.open(lab_path, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + np.array([1000], ">u4").tobytes() + labels.tobytes())
    for name in files:
        path = os.path.join(mdir, f"{name}.safetensors")
        tensors, meta = load_file(path)
        cfg = json.loads(meta["visattn.config"])
        model = backbone.build(cfg)
        state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}
        model.load_state_dict(state)
        model.eval()
        x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
        x = (x - cfg["mean"][0]) / cfg["std"][0]
        with torch.no_grad():
            logits = model(x).flatten(1)
        pred = logits.argmax(1).numpy()
        acc_torch = 100.0 * float((pred == labels).mean())
        # An image whose two largest logits nearly tie may be classified either way under another
        # summation order; each such image may move the accuracy by one image, no other may.
        ties = len(backbone.cam_near_ties(logits))
        r = subprocess.run([visattn, "eval", path, img_path, lab_path], capture_output=True,
                           text=True)
        if r.returncode != 0:
            chk.report(False, f"eval {name}", r.stderr.strip())
            continue
        acc_c = float(r.stdout.strip().split("accuracy ")[1].rstrip("%"))
        chk.report(abs(acc_c - acc_torch) <= 0.1 * ties + 1e-9,
                   f"eval {name} (first 1000 test images)",
                   f"PyTorch {acc_torch:.2f}%, C {acc_c:.2f}%, {ties} near ties")
    eval_folder(chk, visattn, work, os.path.join(mdir, f"{files[0]}.safetensors"), images,
                labels, img_path, lab_path)


def eval_folder(chk, visattn, work, model, images, labels, img_path, lab_path):
    """The same images as grey PNGs in class folders: `visattn eval MODEL FOLDER` must feed the
    model exactly what the IDX path feeds it (a grey pixel is its own luma), so every image gets
    the same top-1 both ways."""
    root = os.path.join(work, "fmnist_folder")
    shutil.rmtree(root, ignore_errors=True)
    n = 300
    for i in range(n):
        os.makedirs(os.path.join(root, f"class{labels[i]}"), exist_ok=True)
        with open(os.path.join(root, f"class{labels[i]}", f"{i:04d}.png"), "wb") as f:
            f.write(png_write(images[i]))
    preds = {}
    for kind, data in (("idx", [img_path, lab_path, "--limit", str(n)]), ("folder", [root])):
        csv = os.path.join(work, f"pred_{kind}.csv")
        r = subprocess.run([visattn, "eval", model, *data, "--batch", "1", "--predictions", csv],
                           capture_output=True, text=True)
        if r.returncode != 0:
            chk.report(False, f"eval {kind}", r.stderr.strip())
            return
        with open(csv) as f:
            rows = [line.strip().split(",") for line in f][1:]
        key = (lambda im: int(im)) if kind == "idx" else (lambda im: int(im[-8:-4]))
        preds[kind] = {key(im): (int(lab), int(top)) for im, lab, top in rows}
    same = preds["idx"] == preds["folder"]
    chk.report(same and len(preds["idx"]) == n, f"eval on a folder of {n} grey PNGs",
               "same labels and top-1 as from the IDX files" if same else
               f"{sum(preds['idx'][k] != preds['folder'].get(k) for k in preds['idx'])} differ")


def bad_configs(chk, visattn, work):
    base = backbone.model_config(None)
    cases = [
        ({"attention": "nope"}, "nope"),
        ({"attention": "se", "attention_args": {"input_channels": 8}}, "input_channels"),
        ({"widths": [8, 16], "depths": [1]}, "same length"),
        ({"strides": [2, 3, 2]}, "stride"),
        ({"mean": [0.1, 0.2]}, "mean"),
        ({"std": [0.0]}, "std"),
        ({"class_names": ["a", "b"]}, "class_names"),
        ({"widthz": [8]}, "widthz"),
        ({"attention": "irmb", "attention_args": {"dim_head": 48}}, "dim"),
    ]
    good = backbone.build(base).eval()
    d = os.path.join(work, "bad")
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "input.npy"), np.zeros((1, 1, 28, 28), np.float32))
    for i, (change, word) in enumerate(cases):
        cfg = dict(base, **change)
        path = os.path.join(d, f"bad{i}.safetensors")
        export(good, path, model="backbone", config=cfg)
        r = subprocess.run([visattn, "run", path, os.path.join(d, "input.npy"),
                            os.path.join(d, "out.npy")], capture_output=True, text=True)
        msg = r.stderr.strip()
        ok = r.returncode != 0 and word in msg and len(msg.splitlines()) == 1
        chk.report(ok, f"bad config {json.dumps(change)}", msg)


def eval_errors(chk, visattn, work):
    """`visattn eval` on bad IDX files: one line, non-zero exit."""
    d = os.path.join(work, "eval_errors")
    os.makedirs(d, exist_ok=True)
    model = os.path.join(d, "model.safetensors")
    m, cfg = backbone.random_model(None, seed=5)
    export(m, model, model="backbone", config=cfg)
    good_img = bytes([0, 0, 8, 3]) + np.array([2, 28, 28], ">u4").tobytes() + bytes(2 * 784)
    good_lab = bytes([0, 0, 8, 1]) + np.array([2], ">u4").tobytes() + bytes([1, 2])
    files = {
        "img.idx": good_img, "lab.idx": good_lab,
        "truncated.idx.gz": gzip.compress(good_img[:-100]),
        "text.idx": b"hello, this is not an IDX file\n",
        "huge.idx": bytes([0, 0, 8, 3]) + np.array([2, 100000, 100000], ">u4").tobytes(),
        "three.idx": bytes([0, 0, 8, 1]) + np.array([3], ">u4").tobytes() + bytes(3),
    }
    for k, v in files.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)
    cases = [("truncated.idx.gz", "lab.idx", "truncated"), ("text.idx", "lab.idx", "IDX"),
             ("huge.idx", "lab.idx", "100000"), ("img.idx", "three.idx", "labels"),
             ("missing.idx", "lab.idx", "cannot open")]
    for img, lab, word in cases:
        r = subprocess.run([visattn, "eval", model, os.path.join(d, img), os.path.join(d, lab)],
                           capture_output=True, text=True)
        msg = r.stderr.strip()
        chk.report(r.returncode != 0 and word in msg and len(msg.splitlines()) == 1,
                   f"eval error {img} {lab}", msg)
    r = subprocess.run([visattn, "eval", model, os.path.join(d, "img.idx"),
                        os.path.join(d, "lab.idx"), "--batch", "1"], capture_output=True, text=True)
    chk.report(r.returncode == 0 and "/2 correct" in r.stdout, "eval plain IDX, batch 1",
               r.stdout.strip() or r.stderr.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    chk = Checker()
    for i, name in enumerate(NAMES):
        att = None if name == "none" else name
        model, cfg = backbone.random_model(att, seed=i)
        parity(chk, args.visattn, args.workdir, name, model, cfg, SHAPES, seed=100 + i)
    model, cfg = backbone.random_model(
        "shuffle", seed=42, in_channels=3, stem_width=8, widths=[24, 40], depths=[2, 1],
        strides=[1, 2], num_classes=7, class_names=[], mean=[0.5, 0.4, 0.3], std=[0.2, 0.3, 0.4])
    parity(chk, args.visattn, args.workdir, "shuffle_3ch_depth2", model, cfg, [(2, 3, 13, 10)],
           seed=7)
    model, cfg = backbone.random_model("double_attention", seed=43, attention_residual=False,
                                       attention_reduction=8)
    parity(chk, args.visattn, args.workdir, "double_attention_noresidual", model, cfg,
           [(1, 1, 17, 30)], seed=8)
    bad_configs(chk, args.visattn, args.workdir)
    eval_errors(chk, args.visattn, args.workdir)
    trained(chk, args.visattn, os.path.join(args.workdir, "trained"))
    print(f"{chk.passed} passed, {chk.failed} failed")
    return 1 if chk.failed else 0


if __name__ == "__main__":
    sys.exit(main())
