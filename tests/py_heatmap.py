#!/usr/bin/python3
"""`visattn heatmap` end to end.

1. Preprocessing: the model input heatmap builds from a bundled image (--save-input) equals a Python
   re-implementation (PNG decoded here, BT.601 luma, F.interpolate bilinear, normalisation), and the
   8x-upscaled Fashion-MNIST sample recovers the original 28 x 28 test image exactly.
2. Maps: on that exact input, `visattn run --maps` gives the PyTorch model's attention maps, energy
   maps, CAM and logits within 1e-4.
3. Output: every overlay PNG has the input image's width and, below the image, a colour bar (so it
   is taller than the image); the image part of a gray, alpha-1 overlay is the normalised upsampled
   PyTorch map; with --block all (assets found through $VISATTN_ASSETS) a contact sheet is written;
   --cam prints the top-5.
4. Bad input: a missing file, a text file named .jpg, a truncated PNG, PNG headers claiming 0 x 0
   and 100000 x 100000, an unwritable --out: each gives exactly one stderr line naming the file
   and a non-zero exit; a 16-bit PNG is handled. No input file's bytes or mtime change.

The model is assets/models/cbam.safetensors if it exists, else an untrained export of
tools/backbone.py. Without the C backbone (issue 4, helper A) the model parts cannot run; the test
then says so and skips them rather than passing silently.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np

from pngio import png_chunk, png_read, png_size, png_write  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

IMAGES = os.path.join(ROOT, "assets", "images")
PHOTO = os.path.join(IMAGES, "chelsea.png")
FMNIST = os.path.join(IMAGES, "fmnist_0000_ankle_boot.png")
FMNIST_INDEX = 0
FMNIST_IDX = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

results = []


def check(label, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail else ''}")


# ---- Preprocessing as heatmap documents it ----------------------------------------------------

def preprocess(img, cfg):
    """img: H x W x C uint8 (C = 1 or 3 here) -> 1 x in_channels x h x w float32."""
    import torch
    import torch.nn.functional as F
    x = img.astype(np.float32)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    cin = cfg.get("in_channels", 1)
    if cin == 1:
        luma = (np.float32(0.299) * x[..., 0] + np.float32(0.587) * x[..., 1]
                + np.float32(0.114) * x[..., 2])
        grey = (x[..., 0] == x[..., 1]) & (x[..., 1] == x[..., 2])
        x = (np.where(grey, x[..., 0], luma) / np.float32(255))[None]
    else:
        x = x.transpose(2, 0, 1) / np.float32(255)
    h, w = cfg.get("input_size", [28, 28])
    t = F.interpolate(torch.from_numpy(np.ascontiguousarray(x))[None], size=(h, w),
                      mode="bilinear", align_corners=False)
    mean = np.array(cfg.get("mean", [0.2860]), np.float32).reshape(1, -1, 1, 1)
    std = np.array(cfg.get("std", [0.3530]), np.float32).reshape(1, -1, 1, 1)
    return (t.numpy() - mean) / std


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    exe, w = args.visattn, args.workdir
    os.makedirs(w, exist_ok=True)

    listing = run([exe, "list"]).stdout
    if "backbone" not in listing.split():
        print("SKIPPED: model 'backbone' is not registered in this build (backbone/backbone.c not "
              "there yet), so no heatmap can run; nothing was checked")
        return 0

    import torch
    import backbone
    from export import export
    from safetensors_io import load_file

    model = os.path.join(ROOT, "assets", "models", "cbam.safetensors")
    if not os.path.exists(model):
        model = os.path.join(w, "cbam.safetensors")
        m, cfg = backbone.random_model("cbam", seed=3)
        export(m, model, model="backbone", config=cfg)
        print(f"note: no trained assets/models/cbam.safetensors; using an untrained export")
    # An RGB model with a non-square input size exercises the other preprocessing path.
    rgb_model = os.path.join(w, "rgb_triplet.safetensors")
    m, c = backbone.random_model("triplet", seed=4, in_channels=3, mean=[0.5, 0.4, 0.3],
                                 std=[0.2, 0.25, 0.3], input_size=[32, 40])
    export(m, rgb_model, model="backbone", config=c)

    def torch_twin(path):
        weights, meta = load_file(path)
        cfg = json.loads(meta["visattn.config"])
        tm = backbone.build(cfg).eval()
        tm.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
        return cfg, tm

    cfg, torch_model = torch_twin(model)
    rgb_cfg, rgb_torch = torch_twin(rgb_model)
    # ---- 1-3: a photograph (RGB, non-integer scale) and a Fashion-MNIST sample --------------
    out = os.path.join(w, "out")
    for path, model_i, cfg_i, torch_i in ((PHOTO, model, cfg, torch_model),
                                          (FMNIST, model, cfg, torch_model),
                                          (PHOTO, rgb_model, rgb_cfg, rgb_torch)):
        stem = os.path.splitext(os.path.basename(path))[0]
        label = cfg_i.get("attention") or "none"
        r = run([exe, "heatmap", path, "--model", model_i, "--out", out, "--cam", "--save-input"])
        check(f"heatmap {stem} [{label}] runs", r.returncode == 0, r.stderr.strip())
        if r.returncode:
            continue
        check(f"{stem} [{label}]: --cam prints a top-5 line", "top-5:" in r.stdout, r.stdout.splitlines()[-1])
        img = png_read(path)
        x_c = np.load(os.path.join(out, f"{stem}_{label}_input.npy"))
        x_py = preprocess(img, cfg_i)
        err = float(np.abs(x_c - x_py).max())
        check(f"{stem} [{label}]: preprocessing = Python re-implementation", err <= 1e-5,
              f"max err {err:.2e}")
        if path == FMNIST and cfg_i is cfg and os.path.exists(FMNIST_IDX):
            with gzip.open(FMNIST_IDX, "rb") as f:
                data = f.read()
            orig = np.frombuffer(data, np.uint8, 784, 16 + 784 * FMNIST_INDEX).reshape(28, 28)
            want = ((orig.astype(np.float32) / 255 - cfg.get("mean", [0.2860])[0])
                    / cfg.get("std", [0.3530])[0])
            err = float(np.abs(x_c[0, 0] - want).max())
            check(f"{stem} [{label}]: input recovers Fashion-MNIST test image {FMNIST_INDEX}", err <= 1e-5,
                  f"max err {err:.2e}")
        # The maps on the exact input: C (visattn run --maps) against PyTorch.
        maps_dir = os.path.join(w, f"maps_{stem}_{label}")
        os.makedirs(maps_dir, exist_ok=True)
        inp = os.path.join(out, f"{stem}_{label}_input.npy")
        r2 = run([exe, "run", model_i, inp, os.path.join(w, f"logits_{stem}_{label}.npy"), "--maps",
                  maps_dir])
        check(f"{stem} [{label}]: visattn run --maps", r2.returncode == 0, r2.stderr.strip())
        with torch.no_grad():
            logits = torch_i(torch.from_numpy(x_c)).numpy()
        tmaps = {k: v.detach().numpy() for k, v in backbone.maps(torch_i).items()}
        worst = float(np.abs(np.load(os.path.join(w, f"logits_{stem}_{label}.npy")) - logits).max())
        missing = []
        for name, want in tmaps.items():
            p = os.path.join(maps_dir, f"{name}.npy")
            if not os.path.exists(p):
                missing.append(name)
                continue
            got = np.load(p)
            if got.shape != want.shape:
                missing.append(f"{name} {got.shape} vs {want.shape}")
                continue
            worst = max(worst, float(np.abs(got - want).max()))
        tie = backbone.cam_tie_problem(logits)
        check(f"{stem} [{label}]: C maps and logits = PyTorch ({len(tmaps)} maps)",
              not missing and worst <= 1e-4 and not tie, f"max abs err {worst:.2e}" +
              (f", missing/mismatched {missing}" if missing else "") + (f"; {tie}" if tie else ""))
        # Overlays at the input's size.
        written = [l.split(" ", 1)[1] for l in r.stdout.splitlines() if l.startswith("wrote ")]
        pngs = [p for p in written if p.endswith(".png")]
        sizes = {p: png_size(p) for p in pngs}
        want_w, img_h = img.shape[1], img.shape[0]
        ok_size = lambda s: s[0] == want_w and s[1] > img_h  # the image, then its colour bar
        check(f"{stem} [{label}]: {len(pngs)} overlays, all {want_w} wide and taller than "
              f"{img_h} (a colour bar under the image)",
              len(pngs) >= 2 and all(ok_size(s) for s in sizes.values()),
              ", ".join(f"{os.path.basename(p)} {s}" for p, s in sizes.items() if not ok_size(s)))
        stage1 = os.path.join(out, f"{stem}_{label}_stage1.png")
        dec = png_read(stage1)
        dec = dec[:img.shape[0]]  # the overlay above its colour bar
        check(f"{stem} [{label}]: stage-1 overlay decodes and differs from the image",
              dec.shape[:2] == img.shape[:2] and
              np.abs(dec.astype(int)[..., :3] - (img if img.shape[2] == 3 else
                                                  np.repeat(img, 3, 2)).astype(int)).max() > 10)

    # ---- The overlay itself: gray colour map at alpha 1 shows the normalised, upsampled map -----
    # PyTorch's map on the exact input, upsampled as F.interpolate does, min-max normalised, must
    # be what the overlay shows above its colour bar, within one grey level (--scale stretch is
    # the default).
    out_g = os.path.join(w, "out_gray")
    r = run([exe, "heatmap", FMNIST, "--model", model, "--out", out_g, "--stage", "3",
             "--colormap", "gray", "--alpha", "1", "--save-input"])
    check("heatmap --colormap gray --alpha 1", r.returncode == 0, r.stderr.strip())
    if r.returncode == 0:
        import torch.nn.functional as F
        label = cfg.get("attention") or "none"
        stem = "fmnist_0000_ankle_boot"
        x = np.load(os.path.join(out_g, f"{stem}_{label}_input.npy"))
        with torch.no_grad():
            torch_model(torch.from_numpy(x))
        tm = backbone.maps(torch_model)
        name = next((f"stage3.{n}" for n in ("spatial", "attention") if f"stage3.{n}" in tm and
                     tm[f"stage3.{n}"].shape[1] == 1), "stage3.energy")
        up = F.interpolate(tm[name][:1, :1], size=(224, 224), mode="bilinear",
                           align_corners=False)[0, 0].numpy().astype(np.float64)
        want = np.rint((up - up.min()) / (up.max() - up.min()) * 255)
        full = png_read(os.path.join(out_g, f"{stem}_{label}_stage3.png")).astype(np.float64)
        check("the gray overlay is the 224 x 224 image with a colour bar below",
              full.shape[1] == 224 and full.shape[0] > 224, f"{full.shape}")
        got = full[:224]
        grey = (got[..., 0] == got[..., 1]).all() and (got[..., 1] == got[..., 2]).all()
        err = float(np.abs(got[..., 0] - want).max())
        check(f"overlay = normalised upsampled {name} (gray, alpha 1)",
              grey and err <= 1 and got.min() == 0 and got.max() == 255,
              f"max diff {err:.0f} grey levels, range {got.min():.0f}..{got.max():.0f}")

    # ---- --block all through $VISATTN_ASSETS: a contact sheet, several images, progress -------
    assets = os.path.join(w, "assets")
    os.makedirs(os.path.join(assets, "models"), exist_ok=True)
    for att in (None, "se", "double_attention"):
        m, c = backbone.random_model(att, seed=5)
        export(m, os.path.join(assets, "models", f"{att or 'none'}.safetensors"), model="backbone",
               config=c)
    out2 = os.path.join(w, "out_all")
    env = dict(os.environ, VISATTN_ASSETS=assets)
    r = run([exe, "heatmap", PHOTO, FMNIST, "--out", out2, "--stage", "2"], env=env)
    check("--block all with VISATTN_ASSETS", r.returncode == 0, r.stderr.strip()[-300:])
    progress = [l for l in r.stderr.splitlines() if "[1/2]" in l or "[2/2]" in l]
    check("two images: a progress line each on stderr", len(progress) == 2, r.stderr.strip())
    for stem, size in (("chelsea", png_size(PHOTO)), ("fmnist_0000_ankle_boot", png_size(FMNIST))):
        want = [f"{stem}_{b}_stage2.png" for b in ("none", "se", "double_attention")]
        have = [f for f in want if os.path.exists(os.path.join(out2, f))]
        check(f"{stem}: one stage-2 overlay per model", have == want, f"{have}")
        check(f"{stem}: contact sheet written",
              os.path.exists(os.path.join(out2, f"{stem}_contact.png")))
        check(f"{stem}: no other stages written",
              not any("_stage1" in f or "_stage3" in f for f in os.listdir(out2)))

    # ---- 4: bad input --------------------------------------------------------------------
    bad = os.path.join(w, "bad")
    os.makedirs(bad, exist_ok=True)

    def put(name, data):
        p = os.path.join(bad, name)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (1_000_000_000, 1_000_000_000))
        return p

    photo_bytes = open(PHOTO, "rb").read()
    ihdr = lambda wd, ht: (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(
        ">IIBBBBB", wd, ht, 8, 2, 0, 0, 0)) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b""))
    regular = put("regular_file", b"not a directory\n")
    dirpng = os.path.join(bad, "dir.png")
    os.makedirs(dirpng, exist_ok=True)
    cases = [  # (label, image, out dir, text the one line must contain)
        ("missing file", os.path.join(bad, "nope.png"), out, "nope.png"),
        ("text file named .jpg", put("notes.jpg", b"just some text, not a JPEG\n" * 20), out,
         ("notes.jpg", "PNG, JPEG, BMP, GIF, PNM (and TGA, PSD, HDR, PIC with --all-formats)")),
        ("truncated PNG", put("trunc.png", photo_bytes[:5000]), out, "trunc.png"),
        ("PNG header claiming 0 x 0", put("zero.png", ihdr(0, 0)), out, ("zero.png", "0 x 0")),
        ("PNG header claiming 100000 x 100000", put("huge.png", ihdr(100000, 100000)), out,
         ("huge.png", "100000 x 100000", "limit")),
        ("unwritable --out (under a regular file)", FMNIST, os.path.join(regular, "sub"),
         "regular_file"),
        ("empty file", put("empty.png", b""), out, ("empty.png", "empty")),
        ("a directory named .png", dirpng, out, ("dir.png", "directory")),
    ]
    for label, image, outdir, needle in cases:
        before = (open(image, "rb").read(), os.stat(image).st_mtime_ns) if os.path.isfile(
            image) else None
        r = run([exe, "heatmap", image, "--model", model, "--out", outdir])
        lines = r.stderr.strip().splitlines()
        needles = (needle,) if isinstance(needle, str) else needle
        ok = 0 < r.returncode < 128 and len(lines) == 1 and all(n in lines[0] for n in needles)
        if before is not None:
            ok = ok and (open(image, "rb").read(), os.stat(image).st_mtime_ns) == before
        check(f"bad input: {label}", ok, f"exit {r.returncode}: {r.stderr.strip()!r}")
    # Inputs fuzzing found that made stb_image write out of bounds, shift by 33, read
    # uninitialised memory, overflow or allocate 2 GB (tests/fuzz/regressions/README.md): each is
    # refused with one line naming it (libjpeg, libspng or the PNM check says why); in the ASan +
    # UBSan build a sanitizer report fails the run.
    regress = os.path.join(ROOT, "tests", "fuzz", "regressions", "image")
    rout = os.path.join(w, "regress_out")
    for name in sorted(os.listdir(regress)):
        if name.startswith("."):
            continue
        r = run([exe, "heatmap", os.path.join(regress, name), "--model", model, "--out", rout])
        lines = r.stderr.strip().splitlines()
        clean = "runtime error" not in r.stderr and "Sanitizer" not in r.stderr
        refused = r.returncode == 1 and len(lines) == 1 and name in lines[0]
        check(f"fuzz regression refused with one line: {name}", clean and refused,
              f"exit {r.returncode}: {r.stderr.strip()!r}")
    check("the regular file under --out is untouched",
          open(regular, "rb").read() == b"not a directory\n")

    # An input whose name is another input's output name is never overwritten.
    lab = cfg.get("attention") or "none"
    fm = open(FMNIST, "rb").read()
    pa, pb = put("clash.png", fm), put(f"clash_{lab}_stage1.png", fm)
    r = run([exe, "heatmap", pa, pb, "--model", model, "--out", bad])
    errs = [l for l in r.stderr.splitlines() if "[" not in l]  # not the progress lines
    check("an input named like an output is not overwritten",
          r.returncode == 1 and len(errs) == 2 and "refusing to overwrite" in errs[0] and
          "2 images, 1 done, 1 failed" in errs[1] and
          open(pb, "rb").read() == fm and os.stat(pb).st_mtime_ns == 1_000_000_000 * 10**9,
          r.stderr.strip())

    # A 16-bit PNG is handled (reduced to 8 bits), at its full size.
    g16 = (np.arange(40 * 50, dtype=np.uint32).reshape(40, 50) * 30 % 65536).astype(np.uint16)
    p16 = put("deep16.png", png_write(g16, 16))
    before = (open(p16, "rb").read(), os.stat(p16).st_mtime_ns)
    r = run([exe, "heatmap", p16, "--model", model, "--out", out, "--stage", "1"])
    o16 = os.path.join(out, f"deep16_{cfg.get('attention') or 'none'}_stage1.png")
    # 50 pixels is narrower than the colour bar's numbers at the smallest font: the bar widens the
    # PNG; the image is its top-left 50 x 40 pixels.
    check("16-bit PNG handled", r.returncode == 0 and os.path.exists(o16) and
          png_size(o16)[0] >= 50 and png_size(o16)[1] > 40, r.stderr.strip())
    check("16-bit PNG input untouched",
          (open(p16, "rb").read(), os.stat(p16).st_mtime_ns) == before)
    # The limit is configurable: the 2000-pixel image is over a 1000-pixel limit.
    r = run([exe, "heatmap", p16, "--model", model, "--out", out, "--max-pixels", "1000"])
    check("--max-pixels refuses a larger image", r.returncode != 0 and
          len(r.stderr.strip().splitlines()) == 1 and "deep16.png" in r.stderr, r.stderr.strip())

    # ---- An EMO network: its stages' maps (the last attention iRMB's, else the energy) and CAM --
    import emo
    from visattn_ref.common import randomize_
    emo_cfg = {"num_classes": 10, "img_size": 96}
    emo_model = os.path.join(w, "emo_1m.safetensors")
    tm = randomize_(emo.build(emo_cfg, "EMO_1M"), 5)
    export(tm, emo_model, model="EMO_1M", config=emo_cfg)
    out_e = os.path.join(w, "out_emo")
    r = run([exe, "heatmap", PHOTO, "--model", emo_model, "--out", out_e, "--cam",
             "--save-input"])
    stem = os.path.splitext(os.path.basename(PHOTO))[0]
    want = [f"{stem}_EMO_1M_stage{k}.png" for k in range(1, 5)] + [f"{stem}_EMO_1M_cam.png"]
    written = sorted(os.path.basename(l.split(" ", 1)[1]) for l in r.stdout.splitlines()
                     if l.startswith("wrote ") and l.endswith(".png"))
    check("EMO_1M heatmap: 4 stage overlays and the CAM", r.returncode == 0 and
          written == sorted(want), f"exit {r.returncode}, wrote {written}; {r.stderr.strip()}")
    # Stage 3's overlay is its last attention iRMB's map (gray, alpha 1: the normalised map).
    r = run([exe, "heatmap", PHOTO, "--model", emo_model, "--out", out_e, "--stage", "3",
             "--colormap", "gray", "--alpha", "1", "--save-input"])
    if r.returncode == 0:
        import torch.nn.functional as F
        x = np.load(os.path.join(out_e, f"{stem}_EMO_1M_input.npy"))
        with torch.no_grad():
            tm(torch.from_numpy(x))
        amap = emo.maps(tm)[f"stage3.{len(tm.stage3) - 1}.attention"]
        img_h, img_w = png_size(PHOTO)[1], png_size(PHOTO)[0]
        up = F.interpolate(amap[:1, :1], size=(img_h, img_w), mode="bilinear",
                           align_corners=False)[0, 0].numpy().astype(np.float64)
        want_px = np.rint((up - up.min()) / (up.max() - up.min()) * 255)
        got = png_read(os.path.join(out_e, f"{stem}_EMO_1M_stage3.png")).astype(np.float64)
        got = got[:img_h]  # above the colour bar
        err = float(np.abs(got[..., 0] - want_px).max())
        check("EMO_1M stage 3 overlay = its last attention iRMB's map (gray, alpha 1)", err <= 1,
              f"max diff {err:.0f} grey levels")
    else:
        check("EMO_1M --stage 3 --colormap gray", False, r.stderr.strip())

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
